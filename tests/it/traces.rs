//! OpenTelemetry traces, end to end: the built binary, started with the standard `OTEL_*`
//! variables, exports over OTLP/HTTP to a receiver in this test (a real HTTP server that decodes
//! the protobuf with the OTLP types), while a hook call fetches a key from a stub FHIR server.
//! Checked: the span tree of one call continues the caller's `traceparent`; the FHIR request
//! carries it on; no span holds a patient id, a URL or a log message; the last batch is flushed
//! at shutdown; `OTEL_SDK_DISABLED` turns export off; an unsupported protocol refuses to start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::common::fhir_server::{Stub, StubBehaviour};
use crate::common::local_server;
use crate::common::process::ServiceProcess;

const PATIENT: &str = "p-trd-1";
/// The caller's trace (W3C trace context): the hook call's spans must join it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// One export request the receiver got.
struct Export {
    content_type: String,
    body: ExportTraceServiceRequest,
}

/// An OTLP/HTTP trace receiver on 127.0.0.1 (`POST /v1/traces`), stopped when dropped.
struct Receiver {
    endpoint: String,
    got: Arc<Mutex<Vec<Export>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        let (listener, port) = local_server::bind();
        let got: Arc<Mutex<Vec<Export>>> = Arc::default();
        let data = web::Data::from(got.clone());
        let handle = local_server::serve(listener, move |cfg| {
            cfg.app_data(data.clone())
                .route("/v1/traces", web::post().to(receive));
        });
        Receiver {
            endpoint: format!("http://127.0.0.1:{port}"),
            got,
            handle,
        }
    }

    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let got = self.got.lock().unwrap();
        got.iter()
            .flat_map(|e| &e.body.resource_spans)
            .flat_map(|rs| {
                let resource = rs.resource.clone().unwrap_or_default().attributes;
                rs.scope_spans
                    .iter()
                    .flat_map(|ss| ss.spans.clone())
                    .map(move |s| (resource.clone(), s))
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    got: web::Data<Mutex<Vec<Export>>>,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(decoded) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return HttpResponse::BadRequest().finish();
    };
    got.lock().unwrap().push(Export {
        content_type,
        body: decoded,
    });
    // An empty ExportTraceServiceResponse: full success.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: &Option<AnyValue>) -> Option<String> {
    match v.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(&kv.value))
}

/// The README fixture's hook call.
fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/patient-view-trd.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture with its `conditions` key left out, so the service fetches it from `fhir`.
fn call_fetching_conditions(fhir: &str) -> Value {
    let mut call = fixture();
    call["prefetch"]
        .as_object_mut()
        .unwrap()
        .remove("conditions");
    call["fhirServer"] = json!(fhir);
    call
}

/// The resources of the fixture's `conditions` key, which the stub FHIR server serves.
fn conditions() -> Vec<Value> {
    fixture()["prefetch"]["conditions"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect()
}

/// A receiver, a stub FHIR server serving the fixture's conditions, and the service with traces on
/// (batches only at shutdown: the flush is part of what is tested) and `extra` settings, ready.
async fn traced_service(extra: &[(&str, &str)]) -> (Receiver, Stub, ServiceProcess) {
    let receiver = Receiver::start().await;
    let fhir = Stub::start(StubBehaviour {
        resources: conditions(),
        ..StubBehaviour::default()
    })
    .await;
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ("TRD_CDS_FHIR_ALLOWED_SERVERS", fhir.base.as_str()),
        ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
        ("TRD_CDS_FHIR_ALLOW_ANONYMOUS", "true"),
        ("TRD_CDS_SHUTDOWN_DRAIN_MS", "0"),
        // Logs off: span export must not depend on the log filter.
        ("RUST_LOG", "error"),
    ];
    env.extend_from_slice(extra);
    let mut svc = ServiceProcess::spawn(&env);
    svc.wait_ready().await;
    (receiver, fhir, svc)
}

async fn hook_call(base: &str, call: &Value, traceparent: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/cds-services/trd-patient-view"))
        .json(call);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_hook_call_is_one_trace_joined_to_the_callers_and_carried_to_the_fhir_server() {
    // Only the request log lines: they must name the trace; every other span is off for the logs.
    let (receiver, fhir, mut svc) = traced_service(&[
        ("RUST_LOG", "error,trd_cds::http::request_log=info"),
        ("TRD_CDS_LOG_FORMAT", "json"),
    ])
    .await;
    let answer = hook_call(
        &svc.base,
        &call_fetching_conditions(&fhir.base),
        Some(&format!("00-{TRACE_ID}-{CALLER_SPAN}-01")),
    )
    .await;
    assert!(
        answer["cards"].as_array().is_some_and(|c| !c.is_empty()),
        "the fetched conditions make the TRD card: {answer}"
    );
    assert!(
        receiver.spans().is_empty(),
        "nothing exported before the batch is due"
    );
    assert!(svc.terminate(Duration::from_secs(30)).await.success());

    // The last batch was flushed at shutdown, as OTLP/HTTP protobuf.
    {
        let got = receiver.got.lock().unwrap();
        assert!(
            !got.is_empty(),
            "no export at shutdown; log:\n{}",
            svc.log_text()
        );
        assert!(
            got.iter()
                .all(|e| e.content_type == "application/x-protobuf")
        );
    }
    let spans = receiver.spans();
    let call: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    let by_name: HashMap<&str, &Span> = call.iter().map(|s| (s.name.as_str(), *s)).collect();
    let names = |n: &str| call.iter().filter(|s| s.name == n).count();
    let span = |n: &str| -> &Span {
        by_name
            .get(n)
            .unwrap_or_else(|| panic!("no '{n}' span in {:?}", by_name.keys()))
    };
    let id = |s: &Span| hex(&s.span_id);
    let parent = |s: &Span| hex(&s.parent_span_id);

    // The tree: caller → request → hook → {prefetch → fhir.fetch → GET, assess, render, audit}.
    let request = span("POST");
    assert_eq!(
        parent(request),
        CALLER_SPAN,
        "continues the caller's traceparent"
    );
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        attr(request, "http.route").as_deref(),
        Some("/cds-services/{id}")
    );
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    let hook = span("hook");
    assert_eq!(parent(hook), id(request));
    assert_eq!(
        attr(hook, "cds.service").as_deref(),
        Some("trd-patient-view")
    );
    assert_eq!(attr(hook, "cds.hook").as_deref(), Some("patient-view"));
    let prefetch = span("prefetch");
    assert_eq!(parent(prefetch), id(hook));
    let fetch = span("fhir.fetch");
    assert_eq!(names("fhir.fetch"), 1, "one key was fetched");
    assert_eq!(parent(fetch), id(prefetch));
    assert_eq!(fetch.kind, SpanKind::Internal as i32);
    assert_eq!(
        attr(fetch, "cds.prefetch.key").as_deref(),
        Some("conditions")
    );
    assert_eq!(attr(fetch, "fhir.outcome").as_deref(), Some("complete"));
    assert_eq!(attr(fetch, "fhir.requests").as_deref(), Some("1"));
    let request_to_fhir = span("GET");
    assert_eq!(
        parent(request_to_fhir),
        id(fetch),
        "each page request is a span of the fetch"
    );
    assert_eq!(request_to_fhir.kind, SpanKind::Client as i32);
    assert_eq!(
        attr(request_to_fhir, "http.response.status_code").as_deref(),
        Some("200")
    );
    for n in ["assess", "render", "audit"] {
        assert_eq!(parent(span(n)), id(hook), "{n} is a step of the hook call");
    }
    assert_eq!(
        attr(span("audit"), "cds.response.status").as_deref(),
        Some("200")
    );
    for s in &call {
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano, "{}", s.name);
    }

    // The request's log line names the trace (logs and traces can be joined).
    let log = svc.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("\"route\":\"/cds-services/{id}\"")
                && l.contains(&format!("\"trace_id\":\"{TRACE_ID}\""))),
        "no request log line with the trace id:\n{log}"
    );

    // The FHIR server got the trace context of the fetch span.
    let seen = fhir.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].traceparent.as_deref(),
        Some(format!("00-{TRACE_ID}-{}-01", id(request_to_fhir)).as_str()),
        "the fetch carries the trace on"
    );

    // The resource names the service; nothing exported names the patient, a URL or a message.
    let (resource, _) = &spans[0];
    let service_name = resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| text(&kv.value));
    assert_eq!(service_name.as_deref(), Some("trd-cds"));
    for (resource, s) in &spans {
        assert!(
            s.events.is_empty(),
            "{}: log events are never exported: {:?}",
            s.name,
            s.events
        );
        for kv in s.attributes.iter().chain(resource) {
            let v = text(&kv.value).unwrap_or_default();
            for forbidden in [PATIENT, "http://", "https://", "127.0.0.1", "Condition?"] {
                assert!(
                    !v.contains(forbidden),
                    "{}: attribute {} = {v:?} holds {forbidden:?}",
                    s.name,
                    kv.key
                );
            }
        }
    }
}

#[tokio::test]
async fn otel_sdk_disabled_exports_nothing() {
    let (receiver, fhir, mut svc) = traced_service(&[("OTEL_SDK_DISABLED", "true")]).await;
    hook_call(&svc.base, &call_fetching_conditions(&fhir.base), None).await;
    assert!(svc.terminate(Duration::from_secs(30)).await.success());
    assert!(receiver.got.lock().unwrap().is_empty());
    let seen = fhir.seen();
    assert_eq!(seen.len(), 1, "the fetch itself still happens");
    assert_eq!(seen[0].traceparent, None, "no trace context without traces");
}

#[tokio::test]
async fn an_unsupported_otlp_protocol_refuses_to_start_naming_the_variable() {
    let mut svc = ServiceProcess::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let status = svc.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(2), "log:\n{}", svc.log_text());
    let log = svc.log_text();
    assert!(
        log.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && log.contains("http/protobuf"),
        "{log}"
    );
}
