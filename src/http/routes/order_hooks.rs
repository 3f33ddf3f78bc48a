//! The order hooks (`order-select`, `order-sign`; clinical-rules §11): the history from prefetch as
//! for patient-view (same templates, same 412 semantics), the draft MedicationRequests from
//! `context.draftOrders`, the pure evaluation, the cards. Called by `service::call_service`, which
//! audits the call.
//!
//! Decision: a draft the service evaluates (a knowledge-base drug) whose subject is another patient
//! than `context.patientId` makes the call fail with 400, as wrong-patient prefetch does; drafts the
//! service ignores (other drugs, other order types) are not checked.

use std::panic::{AssertUnwindSafe, catch_unwind};

use actix_web::http::StatusCode;
use time::OffsetDateTime;

use crate::cards::{self, CardContext};
use crate::cds_hooks::discovery::ServiceDef;
use crate::cds_hooks::request::{CdsRequest, OrderHook, order_context};
use crate::clinical::{self, orders::Scope};
use crate::fhir::reader;
use crate::http::AppState;
use crate::http::errors::ApiError;
use crate::http::prefetch::gather;
use crate::pipeline;

/// What the call answers, for the response and the audit row.
pub struct OrderAnswer {
    pub patient: String,
    pub status: clinical::Status,
    pub cards: Vec<cards::RenderedCard>,
}

fn bad(field: impl Into<String>, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", msg.into()).at(field.into())
}

/// Answer an order-select or order-sign call.
pub async fn order_hook(
    state: &AppState,
    service: &ServiceDef,
    req: &CdsRequest<'_>,
    hook: OrderHook,
    base_url: &str,
) -> Result<OrderAnswer, ApiError> {
    let ctx = order_context(&req.context, hook).map_err(ApiError::bad_request)?;
    let gathered = gather(state, service, req, &[("patientId", &ctx.patient_id)]).await?;
    let docs = gathered.documents();

    let as_of = OffsetDateTime::now_utc().date();
    let patient = format!("Patient/{}", ctx.patient_id);
    let scope = match (hook, ctx.selections.as_deref()) {
        (OrderHook::OrderSelect, Some(sel)) => Scope::Selections(sel),
        _ => Scope::All,
    };
    // The engine is pure and tested not to panic; this guard turns a bug into a 500.
    let computed = catch_unwind(AssertUnwindSafe(|| -> Result<_, ApiError> {
        let Some((record, assessment)) = pipeline::assess_for_patient(
            &docs,
            &patient,
            req.fhir_server.as_deref(),
            &gathered.notes,
            &state.kb,
            &state.site,
            as_of,
        )
        .map_err(|e| bad(format!("prefetch.{}", e.field), format!("prefetch: {e}")))?
        else {
            return Err(bad(
                "prefetch",
                "prefetch: holds resources of a patient other than context.patientId; refusing to assess",
            ));
        };
        let drafts = reader::read_draft_orders(ctx.draft_orders.get(), &state.kb)
            .map_err(|e| bad("context.draftOrders", format!("context.draftOrders: {e}")))?;
        if drafts
            .iter()
            .any(|d| !d.ingredients.is_empty() && d.subject.as_ref().is_some_and(|s| s != &patient))
        {
            return Err(bad(
                "context.draftOrders",
                "context.draftOrders: a draft medication order is for a patient other than context.patientId; refusing to assess",
            ));
        }
        let findings = tracing::info_span!("orders.evaluate").in_scope(|| {
            clinical::orders::evaluate(&record, &assessment, &drafts, &state.kb, as_of, scope)
        });
        let cards = tracing::info_span!("render").in_scope(|| {
            cards::orders::order_cards(
                &assessment,
                &findings,
                &drafts,
                &state.kb,
                &CardContext {
                    base_url: Some(base_url),
                    app_link: state.app_link.as_ref(),
                },
            )
        });
        Ok((assessment.status, cards))
    }));
    let (status, cards) = match computed {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::internal(
                "internal error while evaluating the draft orders; the request id identifies it in the service log",
            ));
        }
    };
    Ok(OrderAnswer {
        patient,
        status,
        cards,
    })
}
