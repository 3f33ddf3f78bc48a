//! What the HTTP layer tells the audit trail about each call. By default (`TRD_CDS_AUDIT_MODE=sync`)
//! the call waits for its row's commit (group commit), so no 200 goes out without its row; a queue
//! that stays full past its wait, or a failed commit, turns the answer into 503 rather than an
//! unaudited response.

use std::time::Instant;

use actix_web::http::StatusCode;
use time::OffsetDateTime;

use crate::cards::RenderedCard;
use crate::clinical::Status;
use crate::http::AppState;
use crate::http::errors::ApiError;
use crate::store::{AuditCard, AuditRecord, AuditSuggestion, EnqueueError};

/// The identity of one call, for its audit row.
pub struct CallAudit<'a> {
    pub service_id: &'a str,
    pub hook: &'a str,
    pub hook_instance: &'a str,
    pub started: Instant,
}

fn status_code(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Record the audit row of a call (committed, in sync mode). `Err` (503) when the queue cannot take
/// it in time or, in sync mode, its commit failed. Traced as the `audit` span.
#[tracing::instrument(name = "audit", level = "info", skip_all, fields(cds.response.status = outcome_code))]
pub async fn record_call(
    state: &AppState,
    call: &CallAudit<'_>,
    patient: Option<&str>,
    status: Option<Status>,
    cards: &[RenderedCard],
    outcome_code: u16,
) -> Result<(), ApiError> {
    let record = AuditRecord {
        at: OffsetDateTime::now_utc(),
        service_id: call.service_id.to_string(),
        hook: call.hook.to_string(),
        hook_instance: call.hook_instance.to_string(),
        // Set by the auth middleware around the handler (None when TRD_CDS_AUTH=off).
        client_iss: crate::http::auth::current_client_iss(),
        patient_hash: patient.map(|p| state.hasher.hash(p)),
        kb_version: state.kb.version().to_string(),
        status: status.map(status_code).unwrap_or_default(),
        outcome_code,
        latency: call.started.elapsed(),
        cards: cards
            .iter()
            .map(|c| AuditCard {
                uuid: c.card.uuid().to_string(),
                summary: c.card.summary().to_string(),
                kind: c.kind.as_str().to_string(),
                suggestions: c
                    .suggestions
                    .iter()
                    .map(|(uuid, code)| AuditSuggestion {
                        uuid: uuid.to_string(),
                        recommendation_code: code.as_str().to_string(),
                    })
                    .collect(),
            })
            .collect(),
    };
    // The queue logs refusals (once per episode, not per call).
    let waited = Instant::now();
    let queued = state.audit.enqueue(record).await;
    state.metrics.observe_audit_enqueue(waited.elapsed());
    queued.map_err(|e| {
        let why = match e {
            EnqueueError::Full => {
                "the audit queue is full (the database is slow or down); retry shortly"
            }
            EnqueueError::Closed => {
                tracing::warn!("audit queue closed (shutting down): answering 503");
                "the service is shutting down; retry shortly"
            }
            // The writer logged the database error (once per batch).
            EnqueueError::NotCommitted => {
                "the audit record of this call could not be stored (database error); retry shortly"
            }
        };
        crate::telemetry::mark_failed(&tracing::Span::current(), "audit row not stored");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "transient", why)
    })
}
