//! Plain data written to and read from the store. No request bodies, no tokens, no patient ids.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One audit row: one hook call or one assessment-API call.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the call was received.
    pub at: OffsetDateTime,
    /// CDS service id (`trd-patient-view`, ...) or `assessment-api` for `POST /api/v1/assessments`.
    pub service_id: String,
    /// Hook name (`patient-view`, `order-select`, ...); `assessment` for the assessment API.
    pub hook: String,
    /// `hookInstance` from the request (a client-generated uuid; not identifying).
    pub hook_instance: String,
    /// JWT `iss` of the calling client, once authentication is in place.
    pub client_iss: Option<String>,
    /// [`crate::store::PatientHasher`] output (hex HMAC-SHA256), never the id itself.
    pub patient_hash: Option<String>,
    /// Knowledge-base version the answer was computed with.
    pub kb_version: String,
    /// Assessment status (e.g. `met`, `not-met`, `insufficient-data`) or an error class.
    pub status: String,
    /// HTTP status code answered (200, 400, 412, ...).
    pub outcome_code: u16,
    /// Time from request received to response ready.
    pub latency: Duration,
    /// Cards returned (empty for non-200 answers and for "no guidance").
    pub cards: Vec<AuditCard>,
}

/// A card returned by an audited call.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditCard {
    /// Card `uuid` as sent to the client (feedback refers to it).
    pub uuid: String,
    /// Card `summary` (< 140 chars; contains no identifiers).
    pub summary: String,
    /// Card kind: `trd`, `urgent-safety-assessment`, `bipolar-antidepressant`, ...
    pub kind: String,
    /// Suggestions on the card.
    pub suggestions: Vec<AuditSuggestion>,
}

/// A suggestion on an audited card.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSuggestion {
    /// Suggestion `uuid` as sent (feedback `acceptedSuggestions` refers to it).
    pub uuid: String,
    /// The recommendation code the suggestion carries out (knowledge-base code).
    pub recommendation_code: String,
}

/// CDS Hooks feedback outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackOutcome {
    /// The user accepted the card (optionally some of its suggestions).
    Accepted,
    /// The user dismissed the card (optionally with an override reason).
    Overridden,
}

impl FeedbackOutcome {
    /// Wire / database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackOutcome::Accepted => "accepted",
            FeedbackOutcome::Overridden => "overridden",
        }
    }

    /// Parses the wire / database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(FeedbackOutcome::Accepted),
            "overridden" => Some(FeedbackOutcome::Overridden),
            _ => None,
        }
    }
}

/// One feedback entry from `POST /cds-services/{id}/feedback`, already parsed by the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackEntry {
    /// Service id from the URL path.
    pub service_id: String,
    /// `card` (the card uuid the feedback is about).
    pub card_uuid: String,
    /// `outcome`.
    pub outcome: FeedbackOutcome,
    /// `acceptedSuggestions[].id`.
    pub accepted_suggestions: Vec<String>,
    /// `overrideReason.reason.code`.
    pub override_reason_code: Option<String>,
    /// `overrideReason.reason.system`.
    pub override_reason_system: Option<String>,
    /// `overrideReason.userComment` (free text typed by a clinician; stored, never logged).
    pub override_comment: Option<String>,
    /// `outcomeTimestamp`.
    pub outcome_timestamp: OffsetDateTime,
    /// JWT `iss` of the client that sent the feedback.
    pub client_iss: Option<String>,
}

/// What [`crate::store::Store::save_feedback`] did with a batch of entries. Returned only after commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedbackSaved {
    /// Entries written by this call.
    pub stored: usize,
    /// Entries that were already stored (same idempotency key) and were not written again.
    pub duplicates: usize,
    /// Of the `stored` entries, those whose card uuid was not found in the audit trail.
    pub unmatched: usize,
}

/// Rows removed by a retention purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Audit events removed (their cards and suggestions go with them).
    pub audit_events: u64,
    /// Feedback rows removed.
    pub feedback: u64,
}

/// Row counts, for tests, metrics and readiness detail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Rows in `audit_event`.
    pub audit_events: u64,
    /// Rows in `audit_card`.
    pub audit_cards: u64,
    /// Rows in `feedback`.
    pub feedback: u64,
    /// Feedback rows whose card uuid was not found in the audit trail when written.
    pub feedback_unmatched: u64,
}

/// Feedback analytics over a time range, answer of `GET /api/v1/feedback/summary?from=&to=`.
///
/// `shown` counts cards / suggestions in audit events whose time is in `[from, to)`;
/// `accepted` / `overridden` count feedback entries whose `outcomeTimestamp` is in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedbackSummary {
    /// Start of the range (inclusive), RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: OffsetDateTime,
    /// End of the range (exclusive), RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: OffsetDateTime,
    /// One row per card kind (`trd`, `urgent-safety-assessment`, ...), sorted by kind.
    pub by_card_kind: Vec<CardKindSummary>,
    /// One row per recommendation code carried by suggestions, sorted by code.
    pub by_recommendation_code: Vec<RecommendationSummary>,
    /// Feedback in range about card uuids that were not in the audit trail when it arrived.
    pub unmatched: UnmatchedFeedback,
}

/// Counts for one card kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardKindSummary {
    /// Card kind.
    pub kind: String,
    /// Cards of this kind returned in the range.
    pub shown: u64,
    /// Feedback entries with outcome `accepted` on cards of this kind.
    pub accepted: u64,
    /// Feedback entries with outcome `overridden` on cards of this kind.
    pub overridden: u64,
    /// Override reasons given on those overrides, most frequent first.
    pub override_reasons: Vec<OverrideReasonCount>,
}

/// Counts for one recommendation code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecommendationSummary {
    /// Recommendation code (knowledge base).
    pub code: String,
    /// Suggestions carrying this code returned in the range.
    pub shown: u64,
    /// Accepted feedback entries whose `acceptedSuggestions` include a suggestion with this code.
    pub accepted: u64,
    /// Overridden feedback entries on cards that carried a suggestion with this code.
    pub overridden: u64,
    /// Override reasons given on those overrides, most frequent first.
    pub override_reasons: Vec<OverrideReasonCount>,
}

/// How often an override reason was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverrideReasonCount {
    /// Coding system of the reason, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Reason code; absent for overrides without a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Number of overrides with this reason.
    pub count: u64,
}

/// Feedback on unknown card uuids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnmatchedFeedback {
    /// Accepted entries on unknown cards.
    pub accepted: u64,
    /// Overridden entries on unknown cards.
    pub overridden: u64,
}
