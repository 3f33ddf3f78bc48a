//! One tracing span per request, carrying a request id (from a well-formed `X-Request-Id` header,
//! else a new UUID) that is echoed back. Logged: method, route *pattern* (never the raw path or
//! query, which could carry identifiers), status and latency. Never bodies, tokens or patient ids.
//! The span is also the root of the call's trace when traces are exported (`telemetry`): it
//! continues the caller's `traceparent` and carries method, route pattern and status.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::http::metrics::Metrics;
use crate::telemetry;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| v.to_string())
}

pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    let span = if telemetry::exporting() {
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %method,
            // The trace's span name: the route pattern is known only after routing, when the span
            // has already started (OpenTelemetry HTTP conventions: then the method alone).
            otel.name = %method,
            otel.kind = "server",
            // Set by `continue_trace`: log lines name the trace they belong to.
            trace_id = tracing::field::Empty,
        )
    } else {
        // Without traces the log lines need neither field.
        tracing::info_span!("request", request_id = %id, method = %method)
    };
    telemetry::continue_trace(&span, req.headers());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _enter = span.enter();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut res) => {
            let pattern = res.request().match_pattern();
            let status = res.status().as_u16();
            if let Some(m) = &metrics {
                m.observe_request(
                    pattern.as_deref(),
                    method.as_str(),
                    status,
                    started.elapsed(),
                );
            }
            let route = pattern.unwrap_or_else(|| "<unmatched>".into());
            if status >= 500 {
                tracing::error!(route, status, latency_ms = ms, "request failed");
                telemetry::mark_failed(&span, "server error");
            } else {
                tracing::info!(route, status, latency_ms = ms, "request");
            }
            // The trace's view (OpenTelemetry HTTP conventions); logs already have route and status.
            span.set_attribute("http.route", route);
            span.set_attribute("http.response.status_code", i64::from(status));
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID, v);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::error!(latency_ms = ms, error = %e, "request error");
            telemetry::mark_failed(&span, "request error");
            if let Some(m) = &metrics {
                let status = e.as_response_error().status_code().as_u16();
                m.observe_request(None, method.as_str(), status, started.elapsed());
            }
            Err(e)
        }
    }
}
