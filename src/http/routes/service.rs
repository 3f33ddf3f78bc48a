//! `POST /cds-services/{id}`: a hook call.

use std::panic::{AssertUnwindSafe, catch_unwind};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::cards::{self, CardContext};
use crate::cds_hooks::card::CdsResponse;
use crate::cds_hooks::discovery::ServiceDef;
use crate::cds_hooks::request::{CdsRequest, OrderHook, parse_request, patient_view_context};
use crate::clinical;
use crate::fhir::reader;
use crate::http::AppState;
use crate::http::audit::{CallAudit, record_call};
use crate::http::errors::{ApiError, OperationOutcome};
use crate::http::limits::JsonBody;
use crate::http::prefetch::gather;
use crate::http::routes::{order_hooks, require_json};
use crate::pipeline;
use crate::telemetry;

/// Call a CDS Service.
///
/// The EHR posts the hook's context and the prefetched FHIR data; the service answers with cards.
/// `{"cards": []}` means "nothing to say" (the default: no noise). Every prefetch key except
/// `patient` is required. A key that is missing or holds an OperationOutcome (the EHR's prefetch
/// failed) is fetched from `fhirServer` with the `fhirAuthorization` token — all keys in parallel,
/// following `next` pages up to a cap, under one deadline — when that server is on the service's
/// allow-list. When the data can be neither prefetched nor fetched, the answer is **412** with an
/// OperationOutcome naming each key; a partial fetch gives cards plus a data issue saying what is
/// incomplete. `null` means "no such data" and is never fetched.
#[utoipa::path(
    post, path = "/cds-services/{id}", tag = "CDS Hooks",
    params(("id" = String, Path, description = "Service id from discovery, e.g. `trd-patient-view`")),
    request_body(content = CdsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Cards (possibly none)", body = CdsResponse),
        (status = 400, description = "Malformed request: the diagnostics name the field", body = OperationOutcome),
        (status = 404, description = "Unknown service id", body = OperationOutcome),
        (status = 412, description = "Required prefetch missing and the data cannot be fetched", body = OperationOutcome),
        (status = 413, description = "Body larger than TRD_CDS_MAX_BODY_BYTES", body = OperationOutcome),
        (status = 503, description = "Audit queue full: the call was not answered rather than left unaudited", body = OperationOutcome),
    )
)]
pub async fn call_service(
    state: web::Data<AppState>,
    id: web::Path<String>,
    http: HttpRequest,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    // Unknown ids are not counted: the label would be the caller's raw input.
    let service = super::service_or_404(&id)?;
    // The call's span in a trace: the service and hook (fixed names), never the patient or data.
    let span = tracing::info_span!("hook", cds.service = service.id, cds.hook = service.hook);
    let answered = answer_call(&state, service, &http, &body, started)
        .instrument(span.clone())
        .await;
    match &answered {
        Ok(cards) => span.set_attribute("cds.cards", cards.len() as i64),
        Err(e) => {
            span.set_attribute("cds.response.status", i64::from(e.status.as_u16()));
            if e.status.is_server_error() {
                telemetry::mark_failed(&span, "hook call failed");
            }
        }
    }
    drop(span);
    state.metrics.observe_hook(service.id, answered.as_deref());
    let cards = answered?;
    Ok(HttpResponse::Ok().json(CdsResponse {
        cards: cards.into_iter().map(|c| c.card).collect(),
    }))
}

/// The cards of a call to `service` (audited), or why not.
async fn answer_call(
    state: &AppState,
    service: &'static ServiceDef,
    http: &HttpRequest,
    body: &[u8],
    started: std::time::Instant,
) -> Result<Vec<cards::RenderedCard>, ApiError> {
    require_json(http)?;
    let req = parse_request(body).map_err(ApiError::bad_request)?;
    if req.hook != service.hook {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!(
                "hook: '{}' does not match service '{}', which answers '{}'",
                req.hook, service.id, service.hook
            ),
        )
        .at("hook"));
    }
    let base_url = super::how_it_decides::public_base_url(state.public_base_url.as_deref(), http);
    let outcome = match service.hook {
        "patient-view" => patient_view(state, service, &req, &base_url).await,
        "order-select" | "order-sign" => {
            let hook = if service.hook == "order-select" {
                OrderHook::OrderSelect
            } else {
                OrderHook::OrderSign
            };
            order_hooks::order_hook(state, service, &req, hook, &base_url)
                .await
                .map(|a| Answer {
                    patient: a.patient,
                    status: a.status,
                    cards: a.cards,
                })
        }
        other => Err(ApiError::internal(format!("no handler for hook '{other}'"))),
    };
    let audit = CallAudit {
        service_id: service.id,
        hook: service.hook,
        hook_instance: &req.hook_instance,
        started,
    };
    match outcome {
        Ok(answer) => {
            record_call(
                state,
                &audit,
                Some(&answer.patient),
                Some(answer.status),
                &answer.cards,
                200,
            )
            .await?;
            Ok(answer.cards)
        }
        Err(e) => {
            record_call(state, &audit, None, None, &[], e.status.as_u16()).await?;
            Err(e)
        }
    }
}

struct Answer {
    patient: String,
    status: clinical::Status,
    cards: Vec<cards::RenderedCard>,
}

async fn patient_view(
    state: &AppState,
    service: &ServiceDef,
    req: &CdsRequest<'_>,
    base_url: &str,
) -> Result<Answer, ApiError> {
    let ctx = patient_view_context(&req.context).map_err(ApiError::bad_request)?;
    let gathered = gather(state, service, req, &[("patientId", &ctx.patient_id)]).await?;
    let docs = gathered.documents();

    let as_of = OffsetDateTime::now_utc().date();
    let patient = format!("Patient/{}", ctx.patient_id);
    // The engine is pure and tested not to panic; this guard turns a bug into a 500 with an
    // OperationOutcome instead of a dropped connection.
    let computed = catch_unwind(AssertUnwindSafe(|| {
        let Some((record, assessment)) = pipeline::assess_for_patient(
            &docs,
            &patient,
            req.fhir_server.as_deref(),
            &gathered.notes,
            &state.kb,
            &state.site,
            as_of,
        )?
        else {
            return Ok(Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                "prefetch: holds resources of a patient other than context.patientId; refusing to assess",
            )
            .at("prefetch")));
        };
        let cards = tracing::info_span!("render").in_scope(|| {
            cards::patient_view(
                &assessment,
                &record,
                &state.kb,
                &CardContext {
                    base_url: Some(base_url),
                    app_link: state.app_link.as_ref(),
                },
            )
        });
        Ok::<_, reader::ReadError>(Ok((assessment.status, cards)))
    }));
    let (status, cards) = match computed {
        Ok(Ok(Ok(x))) => x,
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("prefetch: {e}"),
            )
            .at(format!("prefetch.{}", e.field)));
        }
        Err(_) => {
            return Err(ApiError::internal(
                "internal error while assessing the patient; the request id identifies it in the service log",
            ));
        }
    };
    Ok(Answer {
        patient,
        status,
        cards,
    })
}
