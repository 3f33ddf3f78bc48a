//! The OpenAPI 3.1 document (utoipa). `openapi/openapi.json` is generated from this and kept in
//! sync by `tests/it/openapi_sync.rs` (regenerate: `UPDATE_OPENAPI=1 cargo test --test it openapi_sync::`
//! or `cargo run -- print-openapi > openapi/openapi.json`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi};

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
        crate::http::metrics::scrape,
        routes::how_it_decides::how_it_decides,
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
    modifiers(&ClientJwt),
    tags(
        (name = "CDS Hooks", description = "The CDS Hooks 2.0 endpoints an EHR calls"),
        (name = "Assessment", description = "The engine behind the cards, for integration and testing"),
        (name = "Analytics", description = "What clinicians did with the cards"),
        (name = "Operations", description = "Liveness and readiness probes, Prometheus metrics, and the page card sources link to"),
    )
)]
pub struct ApiDoc;

/// The 415 of every operation with a body.
const UNSUPPORTED_BODY: &str = "Content-Type is not JSON, or the body is compressed (any Content-Encoding but identity; the answer carries Accept-Encoding: identity)";

/// Paths open without a client JWT (probes); every other operation requires one.
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/how-it-decides", "/metrics"];

/// Declares the CDS Hooks client JWT (bearer) on every protected operation, with the answers the
/// middleware gives before a handler runs: 401 (any JWT failure, no detail), 413 and 431 (limits),
/// and for operations with a body 408 (body too slow) and 415 (not JSON, or compressed).
struct ClientJwt;

impl Modify for ClientJwt {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "clientJwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed by a trusted EHR (ES384 or RS384; `iss` on the allow-list, `aud` = the exact URL \
called, `exp`, `iat`, a fresh `jti`), as the CDS Hooks specification requires. Not needed when the service \
runs with TRD_CDS_AUTH=off (local demos).",
                    ))
                    .build(),
            ),
        );
        let outcome = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/fhir+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("OperationOutcome")))
                        .build(),
                )
                .build()
        };
        for (path, item) in api.paths.paths.iter_mut() {
            if OPEN_PATHS.contains(&path.as_str()) {
                continue;
            }
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                op.security = Some(vec![SecurityRequirement::new(
                    "clientJwt",
                    Vec::<String>::new(),
                )]);
                let r = &mut op.responses.responses;
                r.entry("401".into())
                    .or_insert_with(|| outcome("No valid client JWT (no detail is given; the reason is in the service log)").into());
                r.entry("413".into()).or_insert_with(|| {
                    outcome("Body, prefetch keys or Bundle entries over the limits").into()
                });
                r.entry("431".into()).or_insert_with(|| {
                    outcome("Request headers larger than TRD_CDS_MAX_HEADER_BYTES").into()
                });
            }
            if let Some(op) = &mut item.post {
                let r = &mut op.responses.responses;
                r.entry("408".into()).or_insert_with(|| {
                    outcome("The body did not arrive within TRD_CDS_REQUEST_TIMEOUT_SECS (client too slow)").into()
                });
                r.entry("415".into())
                    .or_insert_with(|| outcome(UNSUPPORTED_BODY).into());
            }
        }
    }
}

/// The OpenAPI document as pretty JSON (what `openapi/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
