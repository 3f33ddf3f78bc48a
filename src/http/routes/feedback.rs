//! Feedback: what the clinician did with a card, and the analytics over it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::cds_hooks::feedback::{FeedbackOutcome, FeedbackRequest, parse_feedback};
use crate::http::AppState;
use crate::http::errors::{ApiError, OperationOutcome};
use crate::http::limits::JsonBody;
use crate::http::routes::{query_params, require_json};
use crate::store::{self, FeedbackEntry, FeedbackSummary};

/// Acknowledgement: every entry is durably stored (or was already).
#[derive(Serialize, ToSchema)]
pub struct FeedbackAck {
    /// Entries newly stored.
    pub stored: usize,
    /// Entries identical to ones already stored (the same feedback sent again).
    pub duplicates: usize,
    /// Entries about card uuids this service has no audit record of (kept, marked unmatched).
    pub unmatched: usize,
}

/// Report what happened to cards.
///
/// The EHR tells the service whether the clinician accepted a card's suggestions or overrode it
/// (and why). The answer comes only after the entries are committed; sending the same feedback twice
/// stores it once. Feedback about a card the service does not know (e.g. issued before a restart of
/// the in-memory mode) is accepted and marked unmatched.
#[utoipa::path(
    post, path = "/cds-services/{id}/feedback", tag = "CDS Hooks",
    params(("id" = String, Path, description = "Service id the cards came from")),
    request_body(content = FeedbackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = FeedbackAck),
        (status = 400, description = "Invalid feedback (cds-fb-1..3, timestamps)", body = OperationOutcome),
        (status = 404, description = "Unknown service id", body = OperationOutcome),
        (status = 503, description = "Not stored (database unavailable); retry", body = OperationOutcome),
    )
)]
pub async fn post_feedback(
    state: web::Data<AppState>,
    id: web::Path<String>,
    http: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let service = super::service_or_404(&id)?;
    require_json(&http)?;
    let items = parse_feedback(&body).map_err(ApiError::bad_request)?;
    let client_iss = crate::http::auth::client_iss(&http);
    let entries: Vec<FeedbackEntry> = items
        .into_iter()
        .map(|f| FeedbackEntry {
            service_id: service.id.to_string(),
            card_uuid: f.card,
            outcome: match f.outcome {
                FeedbackOutcome::Accepted => store::FeedbackOutcome::Accepted,
                FeedbackOutcome::Overridden => store::FeedbackOutcome::Overridden,
            },
            accepted_suggestions: f.accepted_suggestions,
            override_reason_code: f.override_reason.as_ref().map(|r| r.code.clone()),
            override_reason_system: f.override_reason.as_ref().map(|r| r.system.clone()),
            override_comment: f.override_comment,
            outcome_timestamp: f.outcome_timestamp,
            client_iss: client_iss.clone(),
        })
        .collect();
    let saved = state.store.save_feedback(&entries).await.map_err(|e| {
        tracing::error!(error = %e, "feedback not stored");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "feedback could not be stored; it was not acknowledged; retry",
        )
    })?;
    for e in &entries {
        let outcome = match e.outcome {
            store::FeedbackOutcome::Accepted => "accepted",
            store::FeedbackOutcome::Overridden => "overridden",
        };
        state.metrics.feedback(service.id, outcome);
    }
    tracing::info!(
        stored = saved.stored,
        duplicates = saved.duplicates,
        unmatched = saved.unmatched,
        "feedback"
    );
    Ok(HttpResponse::Ok().json(FeedbackAck {
        stored: saved.stored,
        duplicates: saved.duplicates,
        unmatched: saved.unmatched,
    }))
}

/// The instants the summary accepts, in UTC: years 1 to 9999, what RFC 3339 (the answer echoes
/// `from` and `to`) and the store can represent.
const EARLIEST: OffsetDateTime = time::macros::datetime!(0001-01-01 0:00 UTC);
const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC);

/// `v` as an instant in UTC within [`EARLIEST`, `LATEST`], else 400 naming `name`.
fn parse_instant(name: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    let bad = |why: &str| {
        // The value is the caller's: shown bounded, with control characters escaped.
        let shown: String = v.chars().take(40).collect();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("{name}: {shown:?} {why}"),
        )
        .at(name)
    };
    let t = OffsetDateTime::parse(v, &Rfc3339)
        .ok()
        .or_else(|| crate::dates::parse_day(v).map(|d| d.midnight().assume_utc()))
        .ok_or_else(|| bad("is neither YYYY-MM-DD nor an RFC 3339 timestamp"))?;
    t.checked_to_offset(time::UtcOffset::UTC)
        .filter(|t| (EARLIEST..=LATEST).contains(t))
        .ok_or_else(|| bad("is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"))
}

/// Feedback analytics.
///
/// Per card kind and per recommendation code: how often it was shown, accepted and overridden,
/// with override reasons and their counts, over `[from, to)`. `from`/`to` are `YYYY-MM-DD` or RFC
/// 3339, between 0001-01-01 and 9999-12-31 in UTC; defaults: the last 30 days.
#[utoipa::path(
    get, path = "/api/v1/feedback/summary", tag = "Analytics",
    params(
        ("from" = Option<String>, Query, description = "Start (inclusive), YYYY-MM-DD or RFC 3339"),
        ("to" = Option<String>, Query, description = "End (exclusive), YYYY-MM-DD or RFC 3339"),
    ),
    responses(
        (status = 200, body = FeedbackSummary),
        (status = 400, description = "Bad parameter", body = OperationOutcome),
        (status = 503, description = "Database unavailable", body = OperationOutcome),
    )
)]
pub async fn summary(
    state: web::Data<AppState>,
    http: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query_params(&http, &["from", "to"])?;
    let now = OffsetDateTime::now_utc();
    let to = q
        .get("to")
        .map(|v| parse_instant("to", v))
        .transpose()?
        .unwrap_or(now);
    let from = q
        .get("from")
        .map(|v| parse_instant("from", v))
        .transpose()?
        .unwrap_or_else(|| {
            to.checked_sub(time::Duration::days(30))
                .map_or(EARLIEST, |f| f.max(EARLIEST))
        });
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "from: must be before to",
        )
        .at("from"));
    }
    let s = state.store.feedback_summary(from, to).await.map_err(|e| {
        tracing::error!(error = %e, "feedback summary failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the database did not answer; retry",
        )
    })?;
    Ok(HttpResponse::Ok().json(s))
}
