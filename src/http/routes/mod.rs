//! HTTP handlers, one module per door. Each handler: parse (400 naming the field) → pure core →
//! response; nothing here knows clinical rules.

pub mod assessments;
pub mod discovery;
pub mod feedback;
pub mod health;
pub mod service;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;

use super::errors::ApiError;

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
