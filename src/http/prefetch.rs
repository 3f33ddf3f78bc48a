//! Gathering the FHIR data a hook call needs: what the client prefetched, completed by what the
//! service fetches itself from `fhirServer` (CDS Hooks §Prefetch: "programmatically retrieve any
//! additional necessary data", else 412).
//!
//! - A key that is missing or holds an OperationOutcome is fetched by running its template against
//!   `fhirServer`; a prefetched searchset Bundle with a `next` link is completed from that link.
//!   `null` means "no such data": nothing is fetched.
//! - All keys are fetched in parallel under one deadline (`TRD_CDS_FHIR_DEADLINE_MS`), following
//!   `next` links up to `TRD_CDS_FHIR_MAX_RESOURCES` resources per key (see [`crate::fhir::client`]).
//! - A required key that is still unsatisfied (no fhirServer, server not allow-listed, no token and
//!   anonymous fetching off, 401/403/404, deadline, other error before the first page) makes the
//!   call fail with **412** and an OperationOutcome with one issue per such key. A 401/403 on any
//!   page counts as unsatisfied: the server refuses this token.
//! - A key with some but not all of its pages (resource cap, deadline or error after the first page)
//!   is used, and a data issue (`prefetch.<key>`) tells the clinician what is incomplete. So does an
//!   optional key (`patient`) that could not be fetched.

use std::time::{Duration, Instant as StdInstant};

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::cds_hooks::discovery::ServiceDef;
use crate::cds_hooks::prefetch::{PrefetchValue, Template, classify, render};
use crate::cds_hooks::request::CdsRequest;
use crate::fhir::client::{
    Fetched, FhirBase, FhirClient, Refusal, Start, Stop, StopKind, encode_token,
};
use crate::fhir::reader::Document;
use crate::fhir::reader::wire::AnyResource;
use crate::fhir::record::DataIssue;
use crate::http::AppState;
use crate::http::errors::{ApiError, Issue};

/// The FHIR documents (Bundles or resources) to read, and what could not be obtained completely
/// but did not stop the assessment (reported to the clinician as data issues).
#[derive(Debug, Default)]
pub struct Gathered<'a> {
    pub docs: Vec<GatheredDoc<'a>>,
    pub notes: Vec<DataIssue>,
}

/// A prefetched document (parsed with the request) or a page the service fetched (JSON text).
#[derive(Debug)]
pub enum GatheredDoc<'a> {
    Prefetched(&'a AnyResource<'a>),
    Fetched(String),
}

impl Gathered<'_> {
    /// The documents for the reader, in gathering order.
    pub fn documents(&self) -> Vec<Document<'_>> {
        self.docs
            .iter()
            .map(|d| match d {
                GatheredDoc::Prefetched(r) => Document::Parsed(r),
                GatheredDoc::Fetched(text) => Document::Json(text),
            })
            .collect()
    }
}

/// What became of one prefetch key (metrics: `trd_cds_prefetch_keys_total{state}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Sent by the client, complete.
    Prefetched,
    /// Sent as `null`: the client says there is no such data.
    Null,
    /// Fetched from fhirServer (all of it), or the rest of a paginated prefetch fetched.
    Fetched,
    /// Used with some pages missing (page cap, deadline, error after the first page).
    Incomplete,
    /// Neither sent nor fetched (a required one makes the call 412).
    Missing,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Prefetched => "prefetched",
            KeyState::Null => "null",
            KeyState::Fetched => "fetched",
            KeyState::Incomplete => "incomplete",
            KeyState::Missing => "missing",
        }
    }
}

/// What gathering did, for metrics; filled whether the call goes on or gets its 412.
#[derive(Debug, Default)]
pub struct GatherReport {
    /// Each prefetch key of the service and what became of it.
    pub keys: Vec<(&'static str, KeyState)>,
    /// Each fetch from fhirServer (one per key, all its pages): `complete` or why it stopped, and
    /// how long it took.
    pub fetches: Vec<(&'static str, Duration)>,
}

/// Collect the documents for `service` from the request, fetching what is missing; `tokens` fill
/// `{{context.*}}` in the templates. Records the prefetch and fetch metrics.
pub async fn gather<'a>(
    state: &AppState,
    service: &ServiceDef,
    req: &'a CdsRequest<'a>,
    tokens: &[(&str, &str)],
) -> Result<Gathered<'a>, ApiError> {
    let mut report = GatherReport::default();
    // HOOK(auth): when the authenticated client has its own list of FHIR servers (trusted-client
    // entry), pass it here instead of `None`; it narrows the global TRD_CDS_FHIR_ALLOWED_SERVERS.
    let gathered = gather_reporting(&state.fhir, None, service, req, tokens, &mut report).await;
    state.metrics.observe_prefetch(service.id, &report.keys);
    for (outcome, elapsed) in &report.fetches {
        state.metrics.observe_fhir_fetch(outcome, *elapsed);
    }
    gathered
}

/// Why a key needs fetching.
enum Need {
    /// Missing or an OperationOutcome: run the template. `problem` says what the client sent.
    Template { problem: String },
    /// A prefetched Bundle with a `next` link: fetch the rest. `first_page` = its entry count.
    Rest { next: String, first_page: usize },
}

/// [`gather`] with an explicit client and per-client allow-list, without metrics (tests call this
/// directly).
pub async fn gather_with<'a>(
    fhir: &FhirClient,
    client_allowed: Option<&[String]>,
    service: &ServiceDef,
    req: &'a CdsRequest<'a>,
    tokens: &[(&str, &str)],
) -> Result<Gathered<'a>, ApiError> {
    let mut report = GatherReport::default();
    gather_reporting(fhir, client_allowed, service, req, tokens, &mut report).await
}

/// [`gather_with`], telling `report` what became of each key and each fetch. Traced as the
/// `prefetch` span, with a `fhir.fetch` span per key fetched.
#[tracing::instrument(name = "prefetch", level = "info", skip_all, fields(cds.prefetch.keys = service.prefetch.len()))]
pub async fn gather_reporting<'a>(
    fhir: &FhirClient,
    client_allowed: Option<&[String]>,
    service: &ServiceDef,
    req: &'a CdsRequest<'a>,
    tokens: &[(&str, &str)],
    report: &mut GatherReport,
) -> Result<Gathered<'a>, ApiError> {
    let prefetch = req.prefetch.as_ref();
    let mut out = Gathered {
        docs: Vec::with_capacity(service.prefetch.len()),
        notes: Vec::new(),
    };
    // Classify every key before fetching anything: a malformed value is a 400 without a request.
    let mut needs: Vec<(&Template, Need)> = Vec::new();
    for t in service.prefetch {
        match classify(prefetch, t.key).map_err(ApiError::bad_request)? {
            PrefetchValue::Present(doc) => {
                out.docs.push(GatheredDoc::Prefetched(doc));
                if let AnyResource::Bundle(b) = doc
                    && let Some(next) = b.next_url()
                {
                    needs.push((
                        t,
                        Need::Rest {
                            next: next.to_string(),
                            first_page: b.entry.items.len(),
                        },
                    ));
                } else {
                    report.keys.push((t.key, KeyState::Prefetched));
                }
            }
            PrefetchValue::Null => report.keys.push((t.key, KeyState::Null)),
            PrefetchValue::Missing => needs.push((
                t,
                Need::Template {
                    problem: "was not sent".into(),
                },
            )),
            PrefetchValue::OperationOutcome(why) => needs.push((
                t,
                Need::Template {
                    problem: format!(
                        "holds an OperationOutcome ({})",
                        if why.is_empty() {
                            "no diagnostics"
                        } else {
                            why.as_str()
                        }
                    ),
                },
            )),
        }
    }
    if needs.is_empty() {
        return Ok(out);
    }

    let shown = |t: &Template| render(t.query, tokens);
    let mut unsatisfied: Vec<Issue> = Vec::new();
    match access(fhir, client_allowed, req) {
        Err(no) => {
            // Nothing can be fetched: the pre-fetch-era behaviour, with the reason.
            for (t, need) in &needs {
                let state = match need {
                    Need::Template { .. } => KeyState::Missing,
                    Need::Rest { .. } => KeyState::Incomplete,
                };
                report.keys.push((t.key, state));
                match need {
                    Need::Template { problem } if t.required => unsatisfied.push(Issue {
                        severity: "error",
                        code: no.code,
                        diagnostics: format!(
                            "prefetch key '{}' ({}) {problem} and the service cannot fetch it: {}",
                            t.key,
                            shown(t),
                            no.why
                        ),
                        expression: no.expression(t.key),
                    }),
                    // An optional key the client chose not to send: nothing to say (as before).
                    Need::Template { .. } => {}
                    Need::Rest { .. } => out.notes.push(note(
                        t,
                        &shown(t),
                        format!(
                            "incomplete: the prefetched Bundle has more pages, which the service cannot fetch: {}",
                            no.why
                        ),
                    )),
                }
            }
        }
        Ok((base, token)) => {
            let started = StdInstant::now();
            let deadline = fhir.deadline();
            let enc = encoded(tokens);
            let enc: Vec<(&str, &str)> = enc.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let timed_results: Vec<(Fetched, Duration)> =
                join_all(needs.iter().map(|(t, need)| {
                    let start = match need {
                        Need::Template { .. } => Start::Template(render(t.query, &enc)),
                        Need::Rest { next, first_page } => Start::Next {
                            url: next.clone(),
                            resources_done: *first_page,
                        },
                    };
                    fetch_key(fhir, &base, token, start, deadline, t.key)
                }))
                .await;
            let results: Vec<Fetched> = timed_results
                .into_iter()
                .map(|(fetched, elapsed)| {
                    report.fetches.push((fetched.outcome(), elapsed));
                    fetched
                })
                .collect();
            let requests: usize = results.iter().map(|r| r.requests).sum();
            let mut incomplete = 0usize;
            for ((t, need), fetched) in needs.iter().zip(results) {
                if let Some(s) = &fetched.stop {
                    incomplete += 1;
                    // Key name and kind only: never URLs (patient ids) or tokens.
                    tracing::warn!(
                        key = t.key,
                        stop = s.kind.as_str(),
                        pages = fetched.pages.len(),
                        "FHIR fetch stopped early"
                    );
                }
                let have_some = !fetched.pages.is_empty() || matches!(need, Need::Rest { .. });
                let denied = fetched
                    .stop
                    .as_ref()
                    .is_some_and(|s| s.kind == StopKind::Denied);
                report.keys.push((
                    t.key,
                    match (&fetched.stop, have_some && !denied) {
                        (None, _) => KeyState::Fetched,
                        (Some(_), true) => KeyState::Incomplete,
                        (Some(_), false) => KeyState::Missing,
                    },
                ));
                out.docs
                    .extend(fetched.pages.into_iter().map(GatheredDoc::Fetched));
                match (&fetched.stop, have_some && !denied) {
                    (None, _) => {}
                    (Some(s), true) => {
                        out.notes
                            .push(note(t, &shown(t), format!("incomplete: {}", s.detail)))
                    }
                    (Some(s), false) => {
                        let problem = match need {
                            Need::Template { problem } => problem.as_str(),
                            Need::Rest { .. } => "was sent with more pages",
                        };
                        if t.required {
                            unsatisfied.push(Issue {
                                severity: "error",
                                code: issue_code(s),
                                diagnostics: format!(
                                    "prefetch key '{}' ({}) {problem} and fetching it from fhirServer failed: {}",
                                    t.key,
                                    shown(t),
                                    s.detail
                                ),
                                expression: vec![format!("prefetch.{}", t.key)],
                            });
                        } else {
                            out.notes.push(note(
                                t,
                                &shown(t),
                                format!("not available: {}", s.detail),
                            ));
                        }
                    }
                }
            }
            tracing::info!(
                keys = needs.len(),
                requests,
                incomplete,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "fetched from fhirServer"
            );
        }
    }
    if !unsatisfied.is_empty() {
        return Err(ApiError {
            status: StatusCode::PRECONDITION_FAILED,
            issues: unsatisfied,
        });
    }
    Ok(out)
}

/// One key's fetch (all its pages) and how long it took, in its own `fhir.fetch` span: the key
/// name, request and page counts and the outcome, never the URL (it holds the patient id).
async fn fetch_key(
    fhir: &FhirClient,
    base: &FhirBase,
    token: Option<&str>,
    start: Start,
    deadline: tokio::time::Instant,
    key: &'static str,
) -> (Fetched, Duration) {
    let span = tracing::info_span!("fhir.fetch", cds.prefetch.key = key);
    let (fetched, elapsed) = timed(fhir.fetch(base, token, start, deadline))
        .instrument(span.clone())
        .await;
    span.set_attribute("fhir.requests", fetched.requests as i64);
    span.set_attribute("fhir.pages", fetched.pages.len() as i64);
    span.set_attribute("fhir.outcome", fetched.outcome());
    if fetched.stop.is_some() {
        crate::telemetry::mark_failed(&span, "FHIR fetch stopped early");
    }
    (fetched, elapsed)
}

/// `fut`'s output and how long it took.
async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = StdInstant::now();
    let out = fut.await;
    (out, started.elapsed())
}

/// Why nothing can be fetched for this request.
struct NoAccess {
    why: String,
    code: &'static str,
    /// The request's `fhirServer` is the reason (named in the issue's expression).
    server: bool,
}

impl NoAccess {
    fn expression(&self, key: &str) -> Vec<String> {
        let mut e = vec![format!("prefetch.{key}")];
        if self.server {
            e.push("fhirServer".into());
        }
        e
    }
}

/// The allow-listed base and the token to fetch with, or why the service may not fetch.
fn access<'r>(
    fhir: &FhirClient,
    client_allowed: Option<&[String]>,
    req: &'r CdsRequest<'_>,
) -> Result<(FhirBase, Option<&'r str>), NoAccess> {
    let Some(server) = req.fhir_server.as_deref() else {
        return Err(NoAccess {
            why: "the request has no fhirServer".into(),
            code: "processing",
            server: false,
        });
    };
    let base = fhir
        .check_server(server, client_allowed)
        .map_err(|r| NoAccess {
            why: r.to_string(),
            code: match r {
                Refusal::Invalid => "invalid",
                Refusal::NotHttps | Refusal::NotAllowListed => "security",
            },
            server: true,
        })?;
    let token = match &req.fhir_authorization {
        Some(a) => Some(a.access_token.as_str()),
        None if fhir.config().allow_anonymous => None,
        None => {
            return Err(NoAccess {
                why: "the request has no fhirAuthorization and this service does not fetch \
                      anonymously (TRD_CDS_FHIR_ALLOW_ANONYMOUS)"
                    .into(),
                code: "security",
                server: false,
            });
        }
    };
    Ok((base, token))
}

fn issue_code(s: &Stop) -> &'static str {
    match s.kind {
        StopKind::Denied => "security",
        StopKind::NotFound => "not-found",
        StopKind::Deadline => "timeout",
        StopKind::ResourceCap | StopKind::PageCap => "too-costly",
        StopKind::Failed => "transient",
    }
}

/// Token values percent-encoded for a request URL.
fn encoded<'t>(tokens: &[(&'t str, &str)]) -> Vec<(&'t str, String)> {
    tokens.iter().map(|(k, v)| (*k, encode_token(v))).collect()
}

fn note(t: &Template, query: &str, problem: String) -> DataIssue {
    DataIssue {
        resource: query.to_string(),
        field: format!("prefetch.{}", t.key),
        problem,
    }
}
