//! Logs and traces of the `serve` command: the one `tracing` subscriber, and the OpenTelemetry
//! trace export behind it.
//!
//! Logs go to stdout (text or JSON), filtered by `RUST_LOG`. Traces are **off** unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; then the service's
//! own spans — `request`, `hook`, `prefetch`, `fhir.fetch` and its page requests, `assess`,
//! `render`, `audit` — are
//! exported in batches over OTLP/HTTP protobuf, configured by the standard `OTEL_*` variables
//! (README "Traces"). An incoming W3C `traceparent` is continued, and the FHIR fetches carry it on.
//!
//! What leaves the process is a whitelist: only spans whose target is this crate, never log events
//! (their messages are free text), and each span's fields are chosen where it is opened to hold no
//! patient id, URL, token or body — route patterns, service ids, prefetch key names, counts and
//! outcome names. `tests/it/traces.rs` receives a real export and checks it.

use std::time::Duration;

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{Bytes, HeaderInjector, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, filter};

/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
const SERVICE_NAME: &str = "trd-cds";
/// The OTLP default (`OTEL_EXPORTER_OTLP_TIMEOUT`), per export request.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// How long stopping waits for the last batch to reach the collector.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// Whether and how spans are exported, decided from the `OTEL_*` environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceExport {
    Off,
    /// OTLP/HTTP protobuf to the endpoint the exporter resolves from the same variables.
    Otlp {
        timeout: Duration,
    },
}

/// Reads the `OTEL_*` settings this service honours itself (the exporter and SDK read the rest:
/// endpoint paths, headers, compression, sampler, resource, batch sizes). A setting this build
/// cannot honour is an error, not a silent fallback: an operator who asked for gRPC gets told.
pub fn trace_export(get: impl Fn(&str) -> Option<String>) -> Result<TraceExport, String> {
    let get = |k: &str| {
        get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(TraceExport::Off);
    }
    match get("OTEL_TRACES_EXPORTER").as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(TraceExport::Off),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER: '{other}' is not supported; expected otlp or none"
            ));
        }
    }
    // Each exporter setting has a traces-only variable that wins over the general one.
    let setting = |name: &str| {
        [
            format!("OTEL_EXPORTER_OTLP_TRACES_{name}"),
            format!("OTEL_EXPORTER_OTLP_{name}"),
        ]
        .into_iter()
        .find_map(|var| get(&var).map(|v| (var, v)))
    };
    let Some((var, endpoint)) = setting("ENDPOINT") else {
        return Ok(TraceExport::Off);
    };
    match url::Url::parse(&endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        _ => {
            return Err(format!(
                "{var}: expected an http(s) URL such as http://otel-collector:4318"
            ));
        }
    }
    if let Some((var, p)) = setting("PROTOCOL")
        && p != "http/protobuf"
    {
        return Err(format!(
            "{var}: '{p}' is not supported; this build exports http/protobuf only (the collector's port 4318)"
        ));
    }
    let timeout = match setting("TIMEOUT") {
        None => DEFAULT_EXPORT_TIMEOUT,
        Some((var, t)) => match t.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => return Err(format!("{var}: expected milliseconds (a positive integer)")),
        },
    };
    Ok(TraceExport::Otlp { timeout })
}

/// Set once [`init`] has installed the span exporter.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process exports spans (span fields only a trace backend reads are then added).
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The installed subscriber; [`Telemetry::shutdown`] flushes the spans still batched.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Export what is still batched (bounded wait). Call while the runtime is still alive: the
    /// exporter's requests run on it.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown_with_timeout(SHUTDOWN_FLUSH)
        {
            tracing::warn!(error = %e, "trace export did not finish at shutdown");
        }
    }
}

/// Install the process's subscriber: logs always, span export when the environment asks for it.
/// `runtime` runs the exporter's HTTP requests (the batch processor has a thread of its own).
pub fn init(log_json: bool, runtime: tokio::runtime::Handle) -> Result<Telemetry, String> {
    let export = trace_export(|k| std::env::var(k).ok())?;
    let env_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let logs = if log_json {
        fmt.json()
            .flatten_event(true)
            .with_filter(env_filter)
            .boxed()
    } else {
        fmt.with_filter(env_filter).boxed()
    };
    let provider = match export {
        TraceExport::Off => None,
        TraceExport::Otlp { timeout } => Some(provider(timeout, runtime)?),
    };
    let spans = provider.as_ref().map(|p| {
        // The span name says which step it is: source location, thread, target and busy/idle
        // times would add about as many bytes again to every span for little (measured with
        // `TRACES=1 bash scripts/load.sh`, README "Performance").
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("trd-cds"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(filter::filter_fn(|m| {
                m.is_span() && m.target().starts_with("trd_cds")
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

fn provider(
    timeout: Duration,
    runtime: tokio::runtime::Handle,
) -> Result<SdkTracerProvider, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("trace export: cannot build the HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_timeout(timeout)
        .with_http_client(OnRuntime { client, runtime })
        .build()
        .map_err(|e| format!("trace export (OTEL_EXPORTER_OTLP_*): {e}"))?;
    // The SDK's own default would be "unknown_service:trd-cds".
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim().starts_with("service.name="))
        });
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The exporter's HTTP client: the service's reqwest, its requests run on the service's tokio
/// runtime. The batch processor calls it from a thread of its own, outside any runtime, where
/// reqwest alone cannot run; the blocking reqwest client the exporter defaults to would be a
/// second HTTP stack.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

/// Make `span` continue the caller's trace when `headers` carry a W3C `traceparent`, and record
/// the trace id in its `trace_id` field, so that log lines and traces can be joined. A no-op when
/// traces are off.
pub fn continue_trace(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !exporting() {
        return;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&IncomingHeaders(headers)));
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// actix-web's header map (its own type, not the `http` crate's) as a propagation source.
struct IncomingHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for IncomingHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Add the current span's `traceparent` to an outgoing request's `headers` (nothing when traces are
/// off or the current span is not sampled).
pub fn propagate(headers: &mut reqwest::header::HeaderMap) {
    if !exporting() {
        return;
    }
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// Mark `span` as failed for the trace backend (status ERROR with a fixed description; never the
/// error text, which may quote input).
pub fn mark_failed(span: &tracing::Span, what: &'static str) {
    span.set_status(opentelemetry::trace::Status::error(what));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<TraceExport, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        trace_export(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(with(&[]), Ok(TraceExport::Off));
        assert_eq!(
            with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]),
            Ok(TraceExport::Off)
        );
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(
            with(&[ep, ("OTEL_SDK_DISABLED", "TRUE")]),
            Ok(TraceExport::Off)
        );
        assert_eq!(
            with(&[ep, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(TraceExport::Off)
        );
    }

    #[test]
    fn on_with_either_endpoint_and_the_standard_timeout() {
        let on = Ok(TraceExport::Otlp {
            timeout: DEFAULT_EXPORT_TIMEOUT,
        });
        assert_eq!(
            with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            on
        );
        assert_eq!(
            with(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/v1/traces")]),
            on
        );
        assert_eq!(
            with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "750"),
            ]),
            Ok(TraceExport::Otlp {
                timeout: Duration::from_millis(750)
            })
        );
    }

    #[test]
    fn what_this_build_cannot_honour_is_refused_naming_the_variable() {
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        for (vars, named) in [
            (
                vec![ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![ep, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")],
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![ep, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
            (
                vec![ep, ("OTEL_TRACES_EXPORTER", "zipkin")],
                "OTEL_TRACES_EXPORTER",
            ),
        ] {
            let e = with(&vars).unwrap_err();
            assert!(e.starts_with(named), "{vars:?}: {e}");
        }
    }
}
