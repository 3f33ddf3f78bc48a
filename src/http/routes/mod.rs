//! HTTP handlers, one module per door. Each handler: parse (400 naming the field) → pure core →
//! response; nothing here knows clinical rules.

pub mod assessments;
pub mod discovery;
pub mod feedback;
pub mod health;
pub mod how_it_decides;
pub mod order_hooks;
pub mod service;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse};

use super::errors::ApiError;

/// The service `id` names, else 404. The id is not echoed: it is the caller's raw input (it could
/// be markup, a path or an identifier), and the list of ids is one GET away.
pub fn service_or_404(
    id: &str,
) -> Result<&'static crate::cds_hooks::discovery::ServiceDef, ApiError> {
    crate::cds_hooks::discovery::find_service(id).ok_or_else(|| {
        ApiError::not_found("no CDS Service with this id; GET /cds-services lists them").at("id")
    })
}

/// Query parameters, refusing any name not in `allowed` (400 naming it).
pub fn query_params(
    req: &HttpRequest,
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let q = actix_web::web::Query::<std::collections::HashMap<String, String>>::from_query(
        req.query_string(),
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("query string: {e}"),
        )
    })?
    .into_inner();
    if let Some(k) = q.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("{k}: unknown parameter (expected {})", allowed.join(", ")),
        )
        .at(k.clone()));
    }
    Ok(q)
}

/// Require a JSON body (`application/json` or `application/fhir+json`, any parameters).
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime == "application/fhir+json" {
        Ok(())
    } else {
        let got = if ct.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!("Content-Type '{ct}'")
        };
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!("{got}; expected application/json or application/fhir+json"),
        )
        .at("Content-Type"))
    }
}

/// The endpoints and their methods, to tell "wrong method" (405) from "no such endpoint" (404).
const ENDPOINTS: &[(&[&str], &str)] = &[
    (&["cds-services"], "GET"),
    (&["cds-services", "*"], "POST"),
    (&["cds-services", "*", "feedback"], "POST"),
    (&["api", "v1", "assessments"], "POST"),
    (&["api", "v1", "feedback", "summary"], "GET"),
    (&["healthz"], "GET"),
    (&["readyz"], "GET"),
    (&["how-it-decides"], "GET"),
];

/// The segments of a path as the router saw it: `/a/b` → `["a", "b"]`, `/a/` → `["a", ""]` (no
/// trimming: `//a` or `/a/` is not `/a`).
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

fn allowed_method(path: &str) -> Option<&'static str> {
    let segs = segments(path);
    ENDPOINTS.iter().find_map(|(pattern, method)| {
        let same = pattern.len() == segs.len()
            && pattern.iter().zip(&segs).all(|(p, s)| *p == "*" || p == s);
        same.then_some(*method)
    })
}

/// Answer for requests no route took: 405 with `Allow` for a known path, else 404. The path is the
/// one the router matched on (percent-decoded), so this agrees with the routes.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.match_info().as_str();
    match allowed_method(path) {
        Some(m) if req.method() == actix_web::http::Method::OPTIONS => {
            Ok(HttpResponse::NoContent()
                .insert_header(("Allow", m))
                .finish())
        }
        Some(m) => {
            let err = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                format!(
                    "method {} is not allowed on {}; use {m}",
                    req.method(),
                    route_label(path)
                ),
            );
            let mut resp = actix_web::ResponseError::error_response(&err);
            resp.headers_mut().insert(
                actix_web::http::header::ALLOW,
                actix_web::http::header::HeaderValue::from_static(m),
            );
            Ok(resp)
        }
        None => Err(ApiError::not_found(
            "no such endpoint; see GET /cds-services and /swagger-ui/",
        )),
    }
}

/// The route pattern of a known path (the raw path could carry identifiers; never echo it).
fn route_label(path: &str) -> &'static str {
    match segments(path).as_slice() {
        ["cds-services"] => "/cds-services",
        ["cds-services", _] => "/cds-services/{id}",
        ["cds-services", _, "feedback"] => "/cds-services/{id}/feedback",
        ["api", "v1", "assessments"] => "/api/v1/assessments",
        ["api", "v1", "feedback", "summary"] => "/api/v1/feedback/summary",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["how-it-decides"] => "/how-it-decides",
        _ => "this path",
    }
}
