//! Prometheus metrics: `GET /metrics` (text exposition format 0.0.4) and the series the shell
//! records. One [`Metrics`] per application (its own registry, no global state: two apps in one
//! process, as in the tests, do not mix their numbers).
//!
//! Every label value is bounded and chosen by the service: route *patterns* (never raw paths),
//! status classes, service ids and prefetch keys from discovery, card indicators and kinds, fixed
//! reason names. Never a patient id, token, `iss`, URL or anything else the caller wrote.
//! The functional core (`clinical`, `cards`) records nothing: handlers record what it returned.

use std::sync::Mutex;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::cards::RenderedCard;
use crate::http::errors::ApiError;
use crate::http::prefetch::KeyState;
use crate::store::AuditStats;

/// Whether `GET /metrics` is served (`TRD_CDS_METRICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Served without authentication, like `/healthz` (default): the series carry no patient data;
    /// restrict who can reach the port at the network level (deploy/k8s/networkpolicy.yaml).
    #[default]
    Open,
    /// Not served (404).
    Off,
}

/// Latency buckets (seconds) for the HTTP, FHIR-fetch and audit histograms: 1 ms to 10 s, where
/// the CDS Hooks budget (about 500 ms for a hook answer) sits in the middle.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The series of one application.
pub struct Metrics {
    registry: Registry,
    http_seconds: HistogramVec,
    hook_calls: IntCounterVec,
    hook_cards: IntCounterVec,
    hook_precondition_failed: IntCounterVec,
    prefetch_keys: IntCounterVec,
    fhir_fetch_seconds: HistogramVec,
    audit_enqueue_seconds: Histogram,
    /// Handed to the audit writer ([`crate::store::AuditQueueConfig`]).
    pub audit_queue_wait_seconds: Histogram,
    /// Handed to the audit writer ([`crate::store::AuditQueueConfig`]).
    pub audit_commit_seconds: Histogram,
    audit_queue_depth: IntGauge,
    audit_rows_written: IntCounter,
    audit_rows_refused: IntCounter,
    audit_rows_not_committed: IntCounter,
    jwt_refusals: IntCounterVec,
    jwks_fetches: IntCounterVec,
    feedback_entries: IntCounterVec,
    /// Counters copied from the components' own atomics at scrape time; one scrape at a time.
    sync: Mutex<()>,
}

/// Counters kept by other components as plain atomics, read at scrape time.
pub struct Snapshot {
    pub audit: AuditStats,
    /// JWK Set fetches `(succeeded, failed)` since start.
    pub jwks: (u64, u64),
}

fn latency(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
}

/// Registers `c` and returns it (a name registered twice is an error).
fn reg<C: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    c: C,
) -> prometheus::Result<C> {
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// The registry with every series; `kb_version` goes into `trd_cds_knowledge_info`.
    pub fn new(kb_version: &str) -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let knowledge = reg(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "trd_cds_knowledge_info",
                    "Knowledge base loaded (value 1; the version is the label)",
                ),
                &["version"],
            )?,
        )?;
        knowledge.with_label_values(&[kb_version]).set(1);
        let build = reg(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "trd_cds_build_info",
                    "Service build (value 1; the version is the label)",
                ),
                &["version"],
            )?,
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Ok(Metrics {
            http_seconds: reg(
                &r,
                HistogramVec::new(
                    latency(
                        "trd_cds_http_request_duration_seconds",
                        "HTTP request duration by route pattern, method and status class",
                    ),
                    &["route", "method", "status"],
                )?,
            )?,
            hook_calls: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_hook_calls_total",
                        "Hook calls by service and HTTP status",
                    ),
                    &["service", "status"],
                )?,
            )?,
            hook_cards: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_hook_cards_total",
                        "Cards returned by service, indicator and card kind",
                    ),
                    &["service", "indicator", "kind"],
                )?,
            )?,
            hook_precondition_failed: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_hook_precondition_failed_total",
                        "Unsatisfied required prefetch keys of 412 answers, by service and cause (OperationOutcome issue code)",
                    ),
                    &["service", "cause"],
                )?,
            )?,
            prefetch_keys: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_prefetch_keys_total",
                        "Prefetch keys of hook calls by state: prefetched, null, fetched, incomplete, missing",
                    ),
                    &["service", "key", "state"],
                )?,
            )?,
            fhir_fetch_seconds: reg(
                &r,
                HistogramVec::new(
                    latency(
                        "trd_cds_fhir_fetch_duration_seconds",
                        "Fetch of one prefetch key from fhirServer (all its pages), by outcome",
                    ),
                    &["outcome"],
                )?,
            )?,
            audit_enqueue_seconds: reg(
                &r,
                Histogram::with_opts(latency(
                    "trd_cds_audit_enqueue_wait_seconds",
                    "How long a call waited for its audit row: queue room, and in sync mode the commit",
                ))?,
            )?,
            audit_queue_wait_seconds: reg(
                &r,
                Histogram::with_opts(latency(
                    "trd_cds_audit_queue_wait_seconds",
                    "Time an audit row spent in the queue before the writer took it",
                ))?,
            )?,
            audit_commit_seconds: reg(
                &r,
                Histogram::with_opts(latency(
                    "trd_cds_audit_commit_duration_seconds",
                    "Audit batch write (one transaction), successful or not",
                ))?,
            )?,
            audit_queue_depth: reg(
                &r,
                IntGauge::new(
                    "trd_cds_audit_queue_depth",
                    "Audit rows waiting in the queue",
                )?,
            )?,
            audit_rows_written: reg(
                &r,
                IntCounter::new("trd_cds_audit_rows_written_total", "Audit rows committed")?,
            )?,
            audit_rows_refused: reg(
                &r,
                IntCounter::new(
                    "trd_cds_audit_rows_refused_total",
                    "Audit rows refused because the queue was full (the call was answered 503)",
                )?,
            )?,
            audit_rows_not_committed: reg(
                &r,
                IntCounter::new(
                    "trd_cds_audit_rows_not_committed_total",
                    "Sync-mode audit rows whose commit failed (the call was answered 503)",
                )?,
            )?,
            jwt_refusals: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_jwt_refusals_total",
                        "Client JWTs refused (401) by reason",
                    ),
                    &["reason"],
                )?,
            )?,
            jwks_fetches: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_jwks_fetches_total",
                        "JWK Set fetches from client jku/jwks_url by outcome (ok, failed)",
                    ),
                    &["outcome"],
                )?,
            )?,
            feedback_entries: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "trd_cds_feedback_entries_total",
                        "Feedback entries acknowledged, by service and outcome (accepted, overridden)",
                    ),
                    &["service", "outcome"],
                )?,
            )?,
            registry: r,
            sync: Mutex::new(()),
        })
    }

    /// One HTTP request, by route pattern (`None`: no route matched).
    pub fn observe_request(
        &self,
        route: Option<&str>,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let method = match method {
            "GET" | "POST" | "OPTIONS" | "HEAD" | "PUT" | "DELETE" | "PATCH" => method,
            _ => "other",
        };
        self.http_seconds
            .with_label_values(&[route.unwrap_or("unmatched"), method, status_class(status)])
            .observe(elapsed.as_secs_f64());
    }

    /// A hook call and what it answered: its cards, or for a 412 each unsatisfied key.
    pub fn observe_hook(&self, service: &str, outcome: Result<&[RenderedCard], &ApiError>) {
        let status = match outcome {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        };
        self.hook_calls
            .with_label_values(&[service, status_label(status)])
            .inc();
        match outcome {
            Ok(cards) => {
                for c in cards {
                    let indicator = match c.card.indicator() {
                        crate::cds_hooks::card::Indicator::Info => "info",
                        crate::cds_hooks::card::Indicator::Warning => "warning",
                        crate::cds_hooks::card::Indicator::Critical => "critical",
                    };
                    self.hook_cards
                        .with_label_values(&[service, indicator, c.kind.as_str()])
                        .inc();
                }
            }
            Err(e) if status == 412 => {
                for issue in &e.issues {
                    self.hook_precondition_failed
                        .with_label_values(&[service, issue.code])
                        .inc();
                }
            }
            Err(_) => {}
        }
    }

    /// The state of each prefetch key of a hook call.
    pub fn observe_prefetch(&self, service: &str, keys: &[(&'static str, KeyState)]) {
        for (key, state) in keys {
            self.prefetch_keys
                .with_label_values(&[service, key, state.as_str()])
                .inc();
        }
    }

    /// The fetch of one key from fhirServer; `outcome` is `complete` or why it stopped.
    pub fn observe_fhir_fetch(&self, outcome: &'static str, elapsed: Duration) {
        self.fhir_fetch_seconds
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// How long a call waited to hand over (and, in sync mode, commit) its audit row.
    pub fn observe_audit_enqueue(&self, elapsed: Duration) {
        self.audit_enqueue_seconds.observe(elapsed.as_secs_f64());
    }

    /// A refused client JWT; `reason` is a fixed name ([`crate::http::auth::Reject::label`]).
    pub fn jwt_refused(&self, reason: &'static str) {
        self.jwt_refusals.with_label_values(&[reason]).inc();
    }

    /// One acknowledged feedback entry.
    pub fn feedback(&self, service: &str, outcome: &'static str) {
        self.feedback_entries
            .with_label_values(&[service, outcome])
            .inc();
    }

    /// The text exposition of every series, after copying in the components' counters.
    pub fn render(&self, snapshot: Snapshot) -> Result<String, String> {
        let _one_at_a_time = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let a = snapshot.audit;
        self.audit_queue_depth
            .set(i64::try_from(a.queued).unwrap_or(i64::MAX));
        catch_up(&self.audit_rows_written, a.written);
        catch_up(&self.audit_rows_refused, a.rejected_full);
        catch_up(&self.audit_rows_not_committed, a.not_committed);
        catch_up(
            &self.jwks_fetches.with_label_values(&["ok"]),
            snapshot.jwks.0,
        );
        catch_up(
            &self.jwks_fetches.with_label_values(&["failed"]),
            snapshot.jwks.1,
        );
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

/// Advance counter `c` to `total` (a monotonic count kept elsewhere).
fn catch_up(c: &IntCounter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The status codes a hook call answers, as labels (anything else is its class).
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        404 => "404",
        412 => "412",
        413 => "413",
        415 => "415",
        500 => "500",
        503 => "503",
        s => status_class(s),
    }
}

/// Prometheus metrics.
///
/// The text exposition format (series and labels: README "Metrics"); no patient data, no caller
/// input in a label. Open like the probes (restrict who reaches the port); not served at all (404)
/// when the service runs with `TRD_CDS_METRICS=off`.
#[utoipa::path(get, path = "/metrics", tag = "Operations", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
))]
pub async fn scrape(
    metrics: web::Data<Metrics>,
    state: web::Data<crate::http::AppState>,
    auth: web::Data<crate::http::auth::Auth>,
) -> Result<HttpResponse, ApiError> {
    let text = metrics
        .render(Snapshot {
            audit: state.audit.stats(),
            jwks: auth.jwks_fetches(),
        })
        .map_err(|e| ApiError::internal(format!("metrics could not be rendered: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_labels_are_bounded() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(412), "4xx");
        assert_eq!(status_class(999), "5xx");
        assert_eq!(status_label(412), "412");
        assert_eq!(status_label(418), "4xx");
    }

    #[test]
    fn scrape_time_counters_follow_their_source_and_never_go_back() {
        let m = Metrics::new("kb-1").unwrap();
        let snap = |written| Snapshot {
            audit: AuditStats {
                written,
                queued: 3,
                ..AuditStats::default()
            },
            jwks: (1, 2),
        };
        let text = m.render(snap(5)).unwrap();
        assert!(
            text.contains("trd_cds_audit_rows_written_total 5\n"),
            "{text}"
        );
        assert!(text.contains("trd_cds_audit_queue_depth 3\n"), "{text}");
        assert!(text.contains("trd_cds_jwks_fetches_total{outcome=\"failed\"} 2\n"));
        assert!(text.contains("trd_cds_knowledge_info{version=\"kb-1\"} 1\n"));
        let text = m.render(snap(4)).unwrap();
        assert!(
            text.contains("trd_cds_audit_rows_written_total 5\n"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_method_is_one_label() {
        let m = Metrics::new("kb").unwrap();
        m.observe_request(None, "BREW", 404, Duration::from_millis(1));
        let text = m
            .render(Snapshot {
                audit: AuditStats::default(),
                jwks: (0, 0),
            })
            .unwrap();
        assert!(text.contains(
            "trd_cds_http_request_duration_seconds_count{method=\"other\",route=\"unmatched\",status=\"4xx\"} 1"
        ), "{text}");
    }
}
