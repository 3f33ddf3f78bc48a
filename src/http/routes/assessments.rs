//! `POST /api/v1/assessments`: a FHIR Bundle in, the Assessment JSON out, or its treatment
//! timeline as SVG when asked (`Accept: image/svg+xml` or `?format=svg`).

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
use crate::timeline::{self, TimelineOptions};

/// Assess one patient from a FHIR Bundle.
///
/// The body is a FHIR R4 (or R4B) Bundle of any type (searchset, collection, transaction) holding one
/// patient's Conditions, MedicationStatements/Requests/Dispenses (with contained or bundled
/// Medications), PHQ-9 Observations and Procedures. The answer is the full assessment of
/// clinical-rules §13: trials with dose and duration adequacy and outcomes, status, flags, staging,
/// recommendations, and every value that could not be used (`data_issues`). `as_of` (YYYY-MM-DD,
/// default today UTC) makes results reproducible.
///
/// The same assessment as a picture: with `Accept: image/svg+xml` (preferred over JSON) or
/// `?format=svg`, the answer is the treatment timeline of the episode as an SVG document (trials
/// with their doses and outcomes, augmentations, ECT/TMS/esketamine sessions, PHQ-9 scores, data
/// issues), `width` px wide. JSON stays the default, for any other `Accept`.
#[utoipa::path(
    post, path = "/api/v1/assessments", tag = "Assessment",
    params(
        ("as_of" = Option<String>, Query, description = "Evaluation date, YYYY-MM-DD; default today (UTC)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `svg` (the treatment timeline); overrides `Accept`"),
        ("width" = Option<u32>, Query, description = "Timeline width in px, 320 to 4000 (default 1200); SVG only"),
    ),
    request_body(content = Object, content_type = "application/fhir+json", description = "A FHIR Bundle with one patient's resources"),
    responses(
        (status = 200, description = "The assessment (JSON), or its treatment timeline (SVG) when asked",
            content(
                (Assessment = "application/json"),
                (String = "image/svg+xml", example = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">…</svg>"),
            )),
        (status = 400, description = "Not a FHIR Bundle, or a bad as_of, format or width", body = OperationOutcome),
        (status = 413, description = "Body larger than TRD_CDS_MAX_BODY_BYTES", body = OperationOutcome),
    )
)]
pub async fn assess(
    state: web::Data<AppState>,
    http: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let q = query_params(&http, &["as_of", "format", "width"])?;
    let representation = representation(&http, &q)?;
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
        assess_documents(&[text], None, &state.kb, &state.site, as_of).map(|(record, a)| {
            let svg = match representation {
                Representation::Svg(opts) => Some(timeline::render_svg(&a, &opts)),
                Representation::Json => None,
            };
            (record, a, svg)
        })
    }));
    let (assessment, svg) = match result {
        Ok(Ok((record, _, _))) if record.subjects.len() > 1 => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("entry: the Bundle holds resources of {} different patients; send one patient's resources", record.subjects.len()),
            )
            .at("entry"));
        }
        Ok(Ok((_, a, svg))) => (a, svg),
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
    Ok(match svg {
        Some(svg) => HttpResponse::Ok()
            .content_type("image/svg+xml; charset=utf-8")
            .body(svg),
        None => HttpResponse::Ok().json(assessment),
    })
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy)]
enum Representation {
    Json,
    Svg(TimelineOptions),
}

/// `format` wins over `Accept`; `Accept` picks SVG when `image/svg+xml` (or `image/*`) ranks above
/// every JSON type; anything else, a malformed `Accept` included, is JSON (the API's default).
fn representation(
    http: &HttpRequest,
    q: &std::collections::HashMap<String, String>,
) -> Result<Representation, ApiError> {
    let svg = match q.get("format").map(String::as_str) {
        Some("svg") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("format: '{other}' is not supported (expected json or svg)"),
            )
            .at("format"));
        }
        None => accept_prefers_svg(http),
    };
    let mut opts = TimelineOptions::default();
    if let Some(w) = q.get("width") {
        opts.width = w
            .parse::<u32>()
            .ok()
            .filter(|w| (timeline::MIN_WIDTH..=timeline::MAX_WIDTH).contains(w))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!(
                        "width: '{w}' is not a width in px from {} to {}",
                        timeline::MIN_WIDTH,
                        timeline::MAX_WIDTH
                    ),
                )
                .at("width")
            })?;
    }
    Ok(if svg {
        Representation::Svg(opts)
    } else {
        Representation::Json
    })
}

fn accept_prefers_svg(http: &HttpRequest) -> bool {
    use actix_web::http::header::{Accept, Header};
    let Ok(accept) = Accept::parse(http) else {
        return false;
    };
    for mime in accept.ranked() {
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("image", "svg" | "*") if mime.suffix().is_none_or(|s| s == "xml") => return true,
            ("application", "json" | "fhir" | "*") | ("*", "*") => return false,
            _ => {}
        }
    }
    false
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
