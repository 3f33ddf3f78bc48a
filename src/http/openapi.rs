//! The OpenAPI 3.1 document (utoipa). `openapi/openapi.json` is generated from this and kept in
//! sync by `tests/openapi_sync.rs` (regenerate: `UPDATE_OPENAPI=1 cargo test --test openapi_sync`
//! or `cargo run -- print-openapi > openapi/openapi.json`).

use utoipa::OpenApi;

use crate::cds_hooks::card::{
    Action, Card, CdsResponse, Coding, Indicator, Link, OverrideReason, SelectionBehavior, Source,
    Suggestion, Suggestions, Summary,
};
use crate::cds_hooks::discovery::{DiscoveryResponse, ServiceDescriptor};
use crate::cds_hooks::feedback::{
    AcceptedSuggestion, FeedbackCoding, FeedbackItem, FeedbackOutcome, FeedbackRequest,
    OverrideReasonFeedback,
};
use crate::cds_hooks::request::{CdsRequest, FhirAuthorization, OrderContext, PatientViewContext};
use crate::clinical::model::*;
use crate::fhir::record::DataIssue;
use crate::http::errors::{Issue, OperationOutcome};
use crate::http::routes;

const DESCRIPTION: &str = "\
A [CDS Hooks](https://cds-hooks.hl7.org/) service that reads a patient's FHIR history and answers whether \
they meet the criteria for **treatment-resistant depression** (TRD: at least 2 failed adequate \
antidepressant trials in the current major depressive episode), stages it, flags pseudo-resistance and \
safety issues, and suggests next steps — with the evidence (FHIR references, doses, dates, scores) behind \
every claim.

**How an EHR uses it.** 1) `GET /cds-services` lists the services and, for each, the *prefetch \
templates*: FHIR queries the EHR runs before each call. 2) When a clinician opens a chart, the EHR \
`POST`s the hook context and the prefetched data to `/cds-services/trd-patient-view`. 3) The answer is a \
list of *cards* (often empty: the service is silent unless it has something worth a clinician's \
attention). 4) The EHR reports what the clinician did with a card to `/cds-services/{id}/feedback`.

**Errors** are FHIR `OperationOutcome`s whose `diagnostics` name the offending field. 412 means a \
required prefetch key was missing (or held an OperationOutcome) and the data could not be fetched.

The same engine answers `POST /api/v1/assessments` (a FHIR Bundle in, the full assessment out) for \
integration testing and analytics.";

#[derive(OpenApi)]
#[openapi(
    info(title = "trd-cds: treatment-resistant depression CDS Hooks service", description = DESCRIPTION, license(name = "Apache-2.0")),
    paths(
        routes::discovery::list_services,
        routes::service::call_service,
        routes::feedback::post_feedback,
        routes::assessments::assess,
        routes::feedback::summary,
        routes::health::healthz,
        routes::health::readyz,
    ),
    components(schemas(
        DiscoveryResponse, ServiceDescriptor, CdsRequest, FhirAuthorization, PatientViewContext, OrderContext,
        CdsResponse, Card, Summary, Indicator, Source, Coding, Suggestions, Suggestion, SelectionBehavior, Action, Link, OverrideReason,
        FeedbackRequest, FeedbackItem, FeedbackOutcome, AcceptedSuggestion, OverrideReasonFeedback, FeedbackCoding,
        routes::feedback::FeedbackAck, crate::store::FeedbackSummary,
        Assessment, KbVersion, Status, Episode, Trial, DoseSegment, Measurement, Outcome, Augmentation, AugmentationOutcome,
        Staging, Maudsley, Flag, FlagCode, Recommendation, RecommendationCode, Priority, DataIssue,
        OperationOutcome, Issue, routes::health::Health, routes::health::Readiness,
    )),
    tags(
        (name = "CDS Hooks", description = "The CDS Hooks 2.0 endpoints an EHR calls"),
        (name = "Assessment", description = "The engine behind the cards, for integration and testing"),
        (name = "Analytics", description = "What clinicians did with the cards"),
        (name = "Operations", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (what `openapi/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
