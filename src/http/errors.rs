//! Every non-2xx answer is a FHIR OperationOutcome whose `diagnostics` says which field and why.
//! [`ApiError`] is what handlers return; [`outcome_for_errors`] is the safety net that turns
//! actix-web's own errors (unknown route, wrong method, oversize body) into OperationOutcomes too.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cds_hooks::WireError;

/// FHIR OperationOutcome (the subset we emit).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
    "diagnostics": "hookInstance: must be a UUID", "expression": ["hookInstance"]}]}))]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    #[schema(example = "OperationOutcome")]
    pub resource_type: &'static str,
    pub issue: Vec<Issue>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Issue {
    /// `error` or `fatal`.
    pub severity: &'static str,
    /// FHIR issue type: `invalid`, `not-found`, `not-supported`, `too-costly`, `processing`, `security`, `exception`, `transient`.
    pub code: &'static str,
    /// What went wrong, naming the field.
    pub diagnostics: String,
    /// Path(s) of the offending element(s).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// An error a handler answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> ApiError {
        ApiError {
            status,
            issues: vec![Issue {
                severity: "error",
                code,
                diagnostics: diagnostics.into(),
                expression: vec![],
            }],
        }
    }
    pub fn at(mut self, expression: impl Into<String>) -> ApiError {
        if let Some(i) = self.issues.last_mut() {
            i.expression.push(expression.into());
        }
        self
    }
    pub fn bad_request(e: WireError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string()).at(e.field)
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", what)
    }
    pub fn internal(what: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            issues: vec![Issue {
                severity: "fatal",
                code: "exception",
                diagnostics: what.into(),
                expression: vec![],
            }],
        }
    }
    pub fn outcome(&self) -> OperationOutcome {
        OperationOutcome {
            resource_type: "OperationOutcome",
            issue: self.issues.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d: Vec<&str> = self.issues.iter().map(|i| i.diagnostics.as_str()).collect();
        write!(f, "{}: {}", self.status.as_u16(), d.join("; "))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = outcome_response(self.status, &self.outcome());
        // Also here, not only in the middleware: an error that leaves the middleware chain as an
        // error (the request deadline) is turned into this response outside it.
        crate::http::headers::SecurityHeaders::default().apply(resp.headers_mut());
        // Every 503 here is transient (audit queue full, database briefly down): tell clients when to retry.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

pub fn outcome_response(status: StatusCode, outcome: &OperationOutcome) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json"),
        ))
        .json(outcome)
}

fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 | 403 => "security",
        404 => "not-found",
        405 | 415 => "not-supported",
        408 | 503 => "transient",
        413 => "too-costly",
        412 => "processing",
        _ => "exception",
    }
}

/// Safety net: any error response that is not already an OperationOutcome becomes one, so that
/// clients see the same error shape from every path (404 for an unknown route, 405, 413, ...).
pub async fn outcome_for_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    // An error page of the SMART app (`src/app/`) is HTML for the clinician's browser, on purpose.
    let is_outcome_or_page = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/fhir+json") || v.as_bytes().starts_with(b"text/html")
    });
    if status.is_success()
        || status.is_redirection()
        || status.is_informational()
        || is_outcome_or_page
    {
        return Ok(res.map_into_left_body());
    }
    let diagnostics = match res.response().error() {
        Some(e) => e.to_string(),
        // The raw path is never echoed: it could carry an identifier.
        None if status == StatusCode::NOT_FOUND => "no such endpoint".to_string(),
        None => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let err = ApiError::new(status, issue_code(status), diagnostics);
    let (req, old) = res.into_parts();
    let mut new = err.error_response();
    // Keep headers such as WWW-Authenticate, Allow and X-Request-Id.
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    Ok(ServiceResponse::new(req, new).map_into_right_body())
}
