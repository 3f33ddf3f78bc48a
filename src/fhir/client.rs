//! The FHIR fetch fallback's HTTP client: reads what the EHR did not prefetch from its FHIR server
//! (`fhirServer`). The only module under `fhir` that does I/O, and bounded in every dimension:
//!
//! - **SSRF**: only servers on the allow-list (`TRD_CDS_FHIR_ALLOWED_SERVERS`, optionally narrowed by
//!   a per-client list) are contacted; `next` links are followed only below the same base URL;
//!   redirects are never followed; HTTPS unless `TRD_CDS_FHIR_ALLOW_HTTP` (local testing).
//! - **Time**: one overall deadline per call (`TRD_CDS_FHIR_DEADLINE_MS`) and a per-request timeout
//!   (`TRD_CDS_FHIR_REQUEST_TIMEOUT_MS`); each request gets the smaller of the two.
//! - **Size**: a resource cap per key (`TRD_CDS_FHIR_MAX_RESOURCES`, entries counted as pages
//!   arrive, the prefetched first page included), a byte cap per page (the request body limit,
//!   `TRD_CDS_MAX_BODY_BYTES`), and a high page cap (`TRD_CDS_FHIR_MAX_PAGES`) only against a server
//!   that loops on empty pages. The work is capped by resources and the deadline, never by the
//!   page size the EHR chose: an EHR paging by 20 must not cut a 250-procedure history at 200
//!   (issue 15).
//! - **Secrets**: the access token travels in one `Authorization` header marked sensitive. It is
//!   never logged, never put in an error message, and never sent outside the `fhirServer` base.
//!   Error texts never carry URLs either (they hold patient ids).

use std::borrow::Cow;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{Client, StatusCode, Url, redirect};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::config::FhirFetchConfig;

/// A pooled HTTP client for EHR FHIR servers, built once at start-up and shared by all requests.
#[derive(Clone)]
pub struct FhirClient {
    http: Client,
    cfg: FhirFetchConfig,
    allowed: Vec<Url>,
    max_page_bytes: usize,
}

impl std::fmt::Debug for FhirClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirClient")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// An allow-listed FHIR base URL (normalised: no trailing `/`).
#[derive(Debug, Clone)]
pub struct FhirBase(Url);

/// Why a request's `fhirServer` may not be contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute URL with a host, or it carries credentials, a query or a fragment.
    Invalid,
    /// `http://` while `TRD_CDS_FHIR_ALLOW_HTTP` is off.
    NotHttps,
    /// Not on the global allow-list (or not on the calling client's own list).
    NotAllowListed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Invalid => {
                "fhirServer is not a FHIR base URL this service can use (absolute, with a host, \
                 no credentials, query or fragment)"
            }
            Refusal::NotHttps => {
                "fhirServer is not https:// and this service only fetches over HTTPS \
                 (TRD_CDS_FHIR_ALLOW_HTTP is for local testing)"
            }
            Refusal::NotAllowListed => {
                "fhirServer is not on this service's list of FHIR servers it may fetch from \
                 (TRD_CDS_FHIR_ALLOWED_SERVERS)"
            }
        })
    }
}

/// Where a key's fetching starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// A rendered prefetch template, relative to the base (`Condition?patient=p1`); its token
    /// values must already be percent-encoded ([`encode_token`]).
    Template(String),
    /// The `next` link of a paginated prefetched Bundle; the client already sent its first page,
    /// holding `resources_done` entries (they count towards the caps).
    Next { url: String, resources_done: usize },
}

/// What fetching one key produced: the pages read (raw FHIR JSON), and why it stopped early if it did.
#[derive(Debug, Default)]
pub struct Fetched {
    pub pages: Vec<String>,
    pub stop: Option<Stop>,
    /// HTTP requests made.
    pub requests: usize,
}

impl Fetched {
    /// `complete`, or the short name of why it stopped (metrics label, trace attribute).
    pub fn outcome(&self) -> &'static str {
        self.stop.as_ref().map_or("complete", |s| s.kind.as_str())
    }
}

/// Why fetching a key stopped before its last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub kind: StopKind,
    /// For people: what happened. Never a URL, a token or a patient id.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// HTTP 401 or 403: the server refused the access token (or anonymous access).
    Denied,
    /// HTTP 404.
    NotFound,
    /// `TRD_CDS_FHIR_MAX_RESOURCES` resources were read and there are more.
    ResourceCap,
    /// `TRD_CDS_FHIR_MAX_PAGES` pages were read and there are more (a safety cap against loops).
    PageCap,
    /// The call's deadline expired.
    Deadline,
    /// Anything else: network error, per-request timeout, other status, not FHIR, page too large,
    /// an OperationOutcome instead of data, a `next` link outside the server.
    Failed,
}

impl StopKind {
    /// Short, stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            StopKind::Denied => "denied",
            StopKind::NotFound => "not-found",
            StopKind::ResourceCap => "resource-cap",
            StopKind::PageCap => "page-cap",
            StopKind::Deadline => "deadline",
            StopKind::Failed => "failed",
        }
    }
}

fn stop(kind: StopKind, detail: impl Into<String>) -> Stop {
    Stop {
        kind,
        detail: detail.into(),
    }
}

impl FhirClient {
    /// Build the pooled client. `max_page_bytes` bounds one page (the request body limit).
    pub fn new(cfg: &FhirFetchConfig, max_page_bytes: usize) -> Result<FhirClient, String> {
        let mut allowed = Vec::with_capacity(cfg.allowed_servers.len());
        for s in &cfg.allowed_servers {
            let url =
                normalise(s).ok_or_else(|| format!("allowed FHIR server {s:?} is not a URL"))?;
            allowed.push(url);
        }
        let http = Client::builder()
            .https_only(!cfg.allow_http)
            // A redirect could lead anywhere (SSRF) and would carry the token: never follow one.
            .redirect(redirect::Policy::none())
            .connect_timeout(Duration::from_millis(cfg.request_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(16)
            .tcp_nodelay(true)
            .user_agent(concat!("trd-cds/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the FHIR HTTP client: {e}"))?;
        Ok(FhirClient {
            http,
            cfg: cfg.clone(),
            allowed,
            max_page_bytes,
        })
    }

    pub fn config(&self) -> &FhirFetchConfig {
        &self.cfg
    }

    /// The overall fetch deadline of a call that starts now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.cfg.deadline_ms)
    }

    /// May this service contact `fhir_server`? It must be on the global allow-list and, when the
    /// calling client has its own list (`client_allowed`, e.g. from its trusted-client entry), on
    /// that one too: a client can narrow, never widen, where the service goes.
    pub fn check_server(
        &self,
        fhir_server: &str,
        client_allowed: Option<&[String]>,
    ) -> Result<FhirBase, Refusal> {
        let url = normalise(fhir_server).ok_or(Refusal::Invalid)?;
        if url.host_str().is_none()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(Refusal::Invalid);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.cfg.allow_http => {}
            "http" => return Err(Refusal::NotHttps),
            _ => return Err(Refusal::Invalid),
        }
        if !self.allowed.iter().any(|a| same_base(a, &url)) {
            return Err(Refusal::NotAllowListed);
        }
        if let Some(list) = client_allowed
            && !list
                .iter()
                .filter_map(|s| normalise(s))
                .any(|a| same_base(&a, &url))
        {
            return Err(Refusal::NotAllowListed);
        }
        Ok(FhirBase(url))
    }

    /// Read one key: the first page (or the given `next` link), then every `next` link below the
    /// same base, until the last page, the resource (or page) cap, an error or `deadline`. A page
    /// that crosses the resource cap is kept whole. `token` is the
    /// `fhirAuthorization` access token (`None`: an open server).
    pub async fn fetch(
        &self,
        base: &FhirBase,
        token: Option<&str>,
        start: Start,
        deadline: Instant,
    ) -> Fetched {
        let mut out = Fetched::default();
        let (mut url, mut pages_done, mut resources_done) = match start {
            Start::Template(rel) => (base.join(&with_page_size(&rel, self.cfg.page_size)), 0, 0),
            Start::Next {
                url,
                resources_done,
            } => (base.below(&url), 1, resources_done),
        };
        let per_request = Duration::from_millis(self.cfg.request_timeout_ms);
        loop {
            let Some(u) = url else {
                out.stop = Some(stop(
                    StopKind::Failed,
                    "a next link points outside fhirServer (not followed)",
                ));
                return out;
            };
            if resources_done >= self.cfg.max_resources {
                out.stop = Some(stop(
                    StopKind::ResourceCap,
                    format!(
                        "{resources_done} resources read, the cap of {} per query (TRD_CDS_FHIR_MAX_RESOURCES); later pages were not fetched",
                        self.cfg.max_resources
                    ),
                ));
                return out;
            }
            if pages_done >= self.cfg.max_pages {
                out.stop = Some(stop(
                    StopKind::PageCap,
                    format!(
                        "page cap of {} pages reached (TRD_CDS_FHIR_MAX_PAGES); later pages were not fetched",
                        self.cfg.max_pages
                    ),
                ));
                return out;
            }
            let now = Instant::now();
            let deadline_expired = || {
                stop(
                    StopKind::Deadline,
                    format!(
                        "the fetch deadline of {} ms expired (TRD_CDS_FHIR_DEADLINE_MS)",
                        self.cfg.deadline_ms
                    ),
                )
            };
            if now >= deadline {
                out.stop = Some(deadline_expired());
                return out;
            }
            let left = deadline - now;
            let budget = per_request.min(left);
            out.requests += 1;
            let page = match tokio::time::timeout(budget, self.get_page(&u, token)).await {
                Ok(r) => r,
                Err(_) if left <= per_request => Err(deadline_expired()),
                Err(_) => Err(stop(
                    StopKind::Failed,
                    format!(
                        "no answer within {} ms (TRD_CDS_FHIR_REQUEST_TIMEOUT_MS)",
                        self.cfg.request_timeout_ms
                    ),
                )),
            };
            let (body, next, entries) = match page {
                Ok(x) => x,
                Err(s) => {
                    out.stop = Some(s);
                    return out;
                }
            };
            out.pages.push(body);
            pages_done += 1;
            resources_done += entries;
            match next {
                None => return out,
                Some(n) => url = base.below(&n),
            }
        }
    }

    /// GET one page; returns its text, its `next` link and how many resources it holds. Traced as
    /// a client span of its own (method and status; never the URL, which holds the patient id).
    #[tracing::instrument(
        name = "fhir.request",
        level = "info",
        skip_all,
        fields(otel.kind = "client", otel.name = "GET", http.request.method = "GET")
    )]
    async fn get_page(
        &self,
        url: &Url,
        token: Option<&str>,
    ) -> Result<(String, Option<String>, usize), Stop> {
        let mut req = self.http.get(url.clone()).header(
            ACCEPT,
            HeaderValue::from_static("application/fhir+json, application/json;q=0.9"),
        );
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                stop(
                    StopKind::Failed,
                    "the access token cannot be sent in an HTTP header",
                )
            })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        // The trace context of this request's span (W3C traceparent; nothing when traces are off).
        let mut trace = reqwest::header::HeaderMap::new();
        crate::telemetry::propagate(&mut trace);
        let mut resp = req.headers(trace).send().await.map_err(transport)?;
        let status = resp.status();
        tracing_opentelemetry::OpenTelemetrySpanExt::set_attribute(
            &tracing::Span::current(),
            "http.response.status_code",
            i64::from(status.as_u16()),
        );
        if !status.is_success() {
            let code = status.as_u16();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => stop(
                    StopKind::Denied,
                    format!("fhirServer answered HTTP {code} (access refused)"),
                ),
                StatusCode::NOT_FOUND => stop(
                    StopKind::NotFound,
                    "fhirServer answered HTTP 404 (not found)",
                ),
                s if s.is_redirection() => stop(
                    StopKind::Failed,
                    format!("fhirServer answered HTTP {code} (redirects are not followed)"),
                ),
                _ => stop(StopKind::Failed, format!("fhirServer answered HTTP {code}")),
            });
        }
        let too_large = || {
            stop(
                StopKind::Failed,
                format!(
                    "a page is larger than {} bytes (TRD_CDS_MAX_BODY_BYTES)",
                    self.max_page_bytes
                ),
            )
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_page_bytes as u64)
        {
            return Err(too_large());
        }
        let mut buf = Vec::with_capacity(resp.content_length().unwrap_or(16 * 1024) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if buf.len() + chunk.len() > self.max_page_bytes {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(buf).map_err(|_| {
            stop(
                StopKind::Failed,
                "fhirServer answered text that is not UTF-8",
            )
        })?;
        let (next, entries) = match page_head(&text) {
            Ok(PageHead::Data { next, entries }) => (next, entries),
            Ok(PageHead::OperationOutcome(why)) => {
                return Err(stop(
                    StopKind::Failed,
                    format!("fhirServer answered an OperationOutcome ({why})"),
                ));
            }
            Err(e) => return Err(stop(StopKind::Failed, format!("fhirServer answered {e}"))),
        };
        Ok((text, next, entries))
    }
}

/// A transport error, without its URL (it holds the patient id).
fn transport(e: reqwest::Error) -> Stop {
    let detail = if e.is_timeout() {
        "the request to fhirServer timed out".to_string()
    } else if e.is_connect() {
        "cannot connect to fhirServer".to_string()
    } else {
        format!("the request to fhirServer failed: {}", e.without_url())
    };
    stop(StopKind::Failed, detail)
}

impl FhirBase {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// `base/relative`, when it stays below the base. The relative path is checked before it is
    /// parsed, because parsing resolves dot segments: `Patient/..` would become the base itself.
    fn join(&self, relative: &str) -> Option<Url> {
        let rel = relative.trim_start_matches('/');
        let rel_path = rel.split(['?', '#']).next().unwrap_or(rel);
        plain_path(rel_path)?;
        let joined = format!("{}/{rel}", self.0.as_str());
        self.below(&joined)
    }

    /// `url` parsed, when it is below this base (same scheme, host and port; path strictly under
    /// the base's path). A `next` link elsewhere is never followed: it would carry the token there.
    /// The path is judged as a server or a proxy in front of it may read it: percent-decoded
    /// (`..%2fother` is `../other` to a proxy that decodes `%2F`), with `\` as a separator too;
    /// any dot segment refuses the link (a real next link has none).
    fn below(&self, url: &str) -> Option<Url> {
        let u = Url::parse(url).ok()?;
        let b = &self.0;
        let same_origin = u.scheme() == b.scheme()
            && u.host_str() == b.host_str()
            && u.port_or_known_default() == b.port_or_known_default()
            && u.username().is_empty()
            && u.password().is_none();
        let path = plain_path(u.path())?;
        let base_path = plain_path(b.path())?;
        let under = path
            .strip_prefix(base_path.trim_end_matches('/'))
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'));
        (same_origin && under).then_some(u)
    }
}

/// `path` percent-decoded until nothing changes (double encoding included), when no segment of it
/// (split on `/` and `\`) is `.` or `..` and it has no control character; `None` otherwise.
fn plain_path(path: &str) -> Option<String> {
    let mut decoded = path.to_string();
    for _ in 0..4 {
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8()
            .ok()?
            .into_owned();
        if next == decoded {
            let dot = decoded
                .split(['/', '\\'])
                .any(|seg| seg == "." || seg == "..");
            return (!dot && !decoded.chars().any(char::is_control)).then_some(decoded);
        }
        decoded = next;
    }
    None // still changing after four decodings: nothing legitimate is encoded that deep
}

/// Parse and drop the trailing `/` of the path (`https://h/fhir/` and `https://h/fhir` are one base).
fn normalise(s: &str) -> Option<Url> {
    let mut url = Url::parse(s.trim()).ok()?;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Some(url)
}

fn same_base(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// Add `_count=page_size` to a search (not a read) that sets no `_count`; the result set is the
/// same, only the paging differs.
pub fn with_page_size(relative: &str, page_size: usize) -> String {
    if page_size == 0 {
        return relative.to_string();
    }
    let (path, query) = match relative.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (relative, None),
    };
    if path.contains('/') {
        return relative.to_string(); // a read: Patient/p1
    }
    match query {
        Some(q) if q.split('&').any(|kv| kv.starts_with("_count=")) => relative.to_string(),
        Some("") => format!("{path}?_count={page_size}"),
        Some(_) => format!("{relative}&_count={page_size}"),
        None => format!("{path}?_count={page_size}"),
    }
}

/// Percent-encode a context value for a template token, so that an id can never add query
/// parameters or path segments (`p1&_include=*` stays one value).
pub fn encode_token(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a page is, from its head.
#[derive(Debug, PartialEq, Eq)]
pub enum PageHead {
    /// A resource or Bundle; `next` is the Bundle's `next` link, if any; `entries` the Bundle's
    /// entry count (1 for a single resource).
    Data {
        next: Option<String>,
        entries: usize,
    },
    /// An OperationOutcome, with its diagnostics.
    OperationOutcome(String),
}

/// Read the head of a FHIR JSON document: its resource type and (for a Bundle) its `next` link.
/// Also used on prefetched Bundles: a paginated prefetch must be completed.
pub fn page_head(json: &str) -> Result<PageHead, String> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "resourceType", borrow)]
        resource_type: Option<Cow<'a, str>>,
        // Raw until the type is known: `Patient.link` is not `Bundle.link`.
        #[serde(default, borrow)]
        link: Option<&'a RawValue>,
        #[serde(default, borrow)]
        issue: Option<&'a RawValue>,
        #[serde(default, borrow)]
        entry: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Link {
        #[serde(default)]
        relation: Option<String>,
        #[serde(default)]
        url: Option<String>,
    }
    #[derive(Deserialize)]
    struct Issue {
        #[serde(default)]
        diagnostics: Option<String>,
    }
    let head: Head = serde_json::from_str(json).map_err(|_| "something that is not FHIR JSON")?;
    match head.resource_type.as_deref() {
        None | Some("") => Err("JSON without a resourceType".into()),
        Some("OperationOutcome") => {
            let issues: Vec<Issue> = match head.issue {
                Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
                None => Vec::new(),
            };
            Ok(PageHead::OperationOutcome(
                issues
                    .into_iter()
                    .filter_map(|i| i.diagnostics)
                    .collect::<Vec<_>>()
                    .join("; "),
            ))
        }
        Some("Bundle") => {
            let links: Vec<Link> = match head.link {
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|_| "a Bundle whose link is not a list of links")?,
                None => Vec::new(),
            };
            // Counted, not parsed: the reader parses the entries later, once.
            let entries = match head.entry {
                Some(raw) => serde_json::from_str::<Vec<serde::de::IgnoredAny>>(raw.get())
                    .map_err(|_| "a Bundle whose entry is not a list")?
                    .len(),
                None => 0,
            };
            Ok(PageHead::Data {
                next: links
                    .into_iter()
                    .find(|l| l.relation.as_deref() == Some("next"))
                    .and_then(|l| l.url)
                    .filter(|u| !u.trim().is_empty()),
                entries,
            })
        }
        Some(_) => Ok(PageHead::Data {
            next: None,
            entries: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(servers: &[&str], allow_http: bool) -> FhirClient {
        FhirClient::new(
            &FhirFetchConfig {
                allowed_servers: servers.iter().map(|s| s.to_string()).collect(),
                allow_http,
                allow_anonymous: false,
                deadline_ms: 1500,
                request_timeout_ms: 1000,
                max_resources: 5000,
                max_pages: 1000,
                max_pages_set: false,
                page_size: 100,
            },
            1024 * 1024,
        )
        .unwrap()
    }

    #[test]
    fn only_allow_listed_servers_are_contacted() {
        let c = client(&["https://ehr.example.org/fhir"], false);
        assert!(c.check_server("https://ehr.example.org/fhir", None).is_ok());
        assert!(
            c.check_server("https://EHR.example.org/fhir/", None)
                .is_ok()
        );
        assert!(
            c.check_server("https://ehr.example.org:443/fhir", None)
                .is_ok()
        );
        for (s, why) in [
            ("https://ehr.example.org/fhir2", Refusal::NotAllowListed),
            (
                "https://ehr.example.org/fhir/Patient",
                Refusal::NotAllowListed,
            ),
            (
                "https://ehr.example.org.evil.test/fhir",
                Refusal::NotAllowListed,
            ),
            ("https://169.254.169.254/fhir", Refusal::NotAllowListed),
            ("https://ehr.example.org:8443/fhir", Refusal::NotAllowListed),
            ("http://ehr.example.org/fhir", Refusal::NotHttps),
            ("https://u:p@ehr.example.org/fhir", Refusal::Invalid),
            ("https://ehr.example.org/fhir?x=1", Refusal::Invalid),
            ("file:///etc/passwd", Refusal::Invalid),
            ("not a url", Refusal::Invalid),
        ] {
            assert_eq!(c.check_server(s, None).unwrap_err(), why, "{s}");
        }
        // A client's own list narrows, never widens.
        let own = ["https://other.example.org/fhir".to_string()];
        assert_eq!(
            c.check_server("https://ehr.example.org/fhir", Some(&own))
                .unwrap_err(),
            Refusal::NotAllowListed
        );
        assert!(
            c.check_server(
                "https://ehr.example.org/fhir",
                Some(&["https://ehr.example.org/fhir/".to_string()])
            )
            .is_ok()
        );
    }

    #[test]
    fn next_links_are_followed_only_below_the_base() {
        let c = client(&["http://127.0.0.1:9/fhir"], true);
        let base = c.check_server("http://127.0.0.1:9/fhir", None).unwrap();
        assert!(
            base.below("http://127.0.0.1:9/fhir/Condition?_offset=20")
                .is_some()
        );
        for bad in [
            "http://127.0.0.1:9/fhirx/Condition",
            "http://127.0.0.1:10/fhir/Condition",
            "https://127.0.0.1:9/fhir/Condition",
            "http://evil.test/fhir/Condition",
            "http://u@127.0.0.1:9/fhir/Condition",
            "/fhir/Condition",
            // Dot segments a decoding proxy would see (issue 13 item 4), and the base itself.
            "http://127.0.0.1:9/fhir/..%2fother",
            "http://127.0.0.1:9/fhir/..%2Fother/Condition",
            "http://127.0.0.1:9/fhir/%2e%2e%2fother",
            "http://127.0.0.1:9/fhir/%252e%252e%252fother",
            "http://127.0.0.1:9/fhir/Condition/..%5c..%5cother",
            "http://127.0.0.1:9/fhir/.%2fCondition",
            "http://127.0.0.1:9/fhir/Condition%00",
            "http://127.0.0.1:9/fhir/%25252525252e",
            "http://127.0.0.1:9/fhir/",
            "http://127.0.0.1:9/fhir",
        ] {
            assert!(base.below(bad).is_none(), "{bad}");
        }
        assert!(
            base.below("http://127.0.0.1:9/fhir/Condition?x=..%2f")
                .is_some()
        );
        for rel in [
            "Patient/..",
            "Patient/.",
            "Patient/%2e%2e",
            "Patient/..%2f",
            "..",
            "",
        ] {
            assert!(base.join(rel).is_none(), "{rel}");
        }
        assert_eq!(
            base.join("Condition?patient=p1").unwrap().as_str(),
            "http://127.0.0.1:9/fhir/Condition?patient=p1"
        );
        // An encoded token cannot climb out of the base, not even through a proxy that decodes
        // `%2F` (`Patient/..%2F..%2Fadmin`): it is refused.
        let rel = format!("Patient/{}", encode_token("../../admin"));
        assert!(base.join(&rel).is_none(), "{rel}");
        let rel = format!("Patient/{}", encode_token("p1/x"));
        assert!(
            base.join(&rel)
                .is_some_and(|u| u.path() == "/fhir/Patient/p1%2Fx")
        );
    }

    #[test]
    fn page_size_and_tokens() {
        assert_eq!(
            with_page_size("Condition?patient=p1", 100),
            "Condition?patient=p1&_count=100"
        );
        assert_eq!(
            with_page_size("Condition?patient=p1&_count=5", 100),
            "Condition?patient=p1&_count=5"
        );
        assert_eq!(with_page_size("Patient/p1", 100), "Patient/p1");
        assert_eq!(with_page_size("Condition", 100), "Condition?_count=100");
        assert_eq!(
            with_page_size("Condition?patient=p1", 0),
            "Condition?patient=p1"
        );
        assert_eq!(encode_token("p-1.a_b~"), "p-1.a_b~");
        assert_eq!(encode_token("p1&_include=*"), "p1%26_include%3D%2A");
        assert_eq!(encode_token("é/"), "%C3%A9%2F");
    }

    #[test]
    fn page_heads() {
        assert_eq!(
            page_head(
                r#"{"resourceType":"Bundle","link":[{"relation":"self","url":"a"},{"relation":"next","url":"b"}],"entry":[]}"#
            ),
            Ok(PageHead::Data {
                next: Some("b".into()),
                entries: 0
            })
        );
        assert_eq!(
            page_head(r#"{"resourceType":"Patient","id":"p1","link":[{"other":{}}]}"#),
            Ok(PageHead::Data {
                next: None,
                entries: 1
            })
        );
        assert_eq!(
            page_head(r#"{"resourceType":"Basic","link":"not a list"}"#),
            Ok(PageHead::Data {
                next: None,
                entries: 1
            })
        );
        assert_eq!(
            page_head(r#"{"resourceType":"OperationOutcome","issue":[{"diagnostics":"x"}]}"#),
            Ok(PageHead::OperationOutcome("x".into()))
        );
        assert_eq!(
            page_head(r#"{"resourceType":"Bundle","entry":[{"resource":{}},{"resource":{}}]}"#),
            Ok(PageHead::Data {
                next: None,
                entries: 2
            })
        );
        assert!(page_head(r#"{"resourceType":"Bundle","entry":{}}"#).is_err());
        assert!(page_head("<html>").is_err());
        assert!(page_head(r#"{"id":"x"}"#).is_err());
    }
}
