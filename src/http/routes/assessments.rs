//! `POST /api/v1/assessments`: a FHIR Bundle in, the Assessment JSON out.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;

use crate::clinical::Assessment;
use crate::http::AppState;
use crate::http::audit::{CallAudit, record_call};
use crate::http::errors::{ApiError, OperationOutcome};
use crate::http::limits::JsonBody;
use crate::http::routes::{query_params, require_json};
use crate::pipeline::assess_documents;

/// Assess one patient from a FHIR Bundle.
///
/// The body is a FHIR R4 (or R4B) Bundle of any type (searchset, collection, transaction) holding one
/// patient's Conditions, MedicationStatements/Requests/Dispenses (with contained or bundled
/// Medications), PHQ-9 Observations and Procedures. The answer is the full assessment of
/// clinical-rules §13: trials with dose and duration adequacy and outcomes, status, flags, staging,
/// recommendations, and every value that could not be used (`data_issues`). `as_of` (YYYY-MM-DD,
/// default today UTC) makes results reproducible.
#[utoipa::path(
    post, path = "/api/v1/assessments", tag = "Assessment",
    params(("as_of" = Option<String>, Query, description = "Evaluation date, YYYY-MM-DD; default today (UTC)")),
    request_body(content = Object, content_type = "application/fhir+json", description = "A FHIR Bundle with one patient's resources"),
    responses(
        (status = 200, body = Assessment),
        (status = 400, description = "Not a FHIR Bundle, or a bad as_of", body = OperationOutcome),
        (status = 413, description = "Body larger than TRD_CDS_MAX_BODY_BYTES", body = OperationOutcome),
    )
)]
pub async fn assess(
    state: web::Data<AppState>,
    http: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let q = query_params(&http, &["as_of"])?;
    let as_of = match q.get("as_of") {
        None => OffsetDateTime::now_utc().date(),
        Some(v) => crate::dates::parse_day(v).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("as_of: '{v}' is not a date (YYYY-MM-DD)"),
            )
            .at("as_of")
        })?,
    };
    require_json(&http)?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("body: not UTF-8: {e}"),
        )
    })?;
    check_is_bundle(text)?;
    let result = catch_unwind(AssertUnwindSafe(|| {
        assess_documents(&[text], None, &state.kb, &state.site, as_of)
    }));
    let assessment = match result {
        Ok(Ok((record, _))) if record.subjects.len() > 1 => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("entry: the Bundle holds resources of {} different patients; send one patient's resources", record.subjects.len()),
            )
            .at("entry"));
        }
        Ok(Ok((_, a))) => a,
        Ok(Err(e)) => {
            return Err(
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string()).at(e.field),
            );
        }
        Err(_) => {
            return Err(ApiError::internal(
                "internal error while assessing; the request id identifies it in the service log",
            ));
        }
    };
    let call = CallAudit {
        service_id: "assessment-api",
        hook: "assessment-api",
        hook_instance: "",
        started,
    };
    record_call(
        &state,
        &call,
        assessment.patient.as_deref(),
        Some(assessment.status),
        &[],
        200,
    )
    .await?;
    Ok(HttpResponse::Ok().json(assessment))
}

fn check_is_bundle(text: &str) -> Result<(), ApiError> {
    // The common case without a second full parse (the reader parses the body next).
    if crate::cds_hooks::prefetch::leading_resource_type(text.trim_start()) == Some("Bundle") {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "resourceType", borrow)]
        resource_type: Option<&'a str>,
    }
    let head: Head = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("body: not a JSON object: {e}"),
        )
        .at("$")
    })?;
    match head.resource_type {
        Some("Bundle") => Ok(()),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("resourceType: expected Bundle, got '{other}'"),
        )
        .at("resourceType")),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "resourceType: missing; expected a FHIR Bundle",
        )
        .at("resourceType")),
    }
}
