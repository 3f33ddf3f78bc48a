//! Test FHIR servers, over real HTTP on 127.0.0.1:
//!
//! - [`RealFhirServer`]: sekmet-fhir (PyPI), started by `scripts/fhir-server.sh` on a free port with
//!   its simulator off and loaded with FHIR Bundles. It is not optional: when it cannot start, the
//!   test fails with the reason, unless `TRD_CDS_SKIP_FHIR_SERVER=1` says to skip it.
//! - [`Stub`]: a small actix-web FHIR server whose behaviour a test chooses (page size, delay,
//!   status), which records every request it sees.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use super::local_server;
use serde_json::{Value, json};

/// Set to `1` to skip the tests that need sekmet-fhir (they fail otherwise when it is missing).
pub const SKIP_VAR: &str = "TRD_CDS_SKIP_FHIR_SERVER";

/// sekmet-fhir, running until dropped.
pub struct RealFhirServer {
    /// FHIR base URL, e.g. `http://127.0.0.1:41157/fhir`.
    pub base: String,
    /// Loaded file name → server-assigned Patient id.
    pub patients: HashMap<String, String>,
    child: Child,
}

impl RealFhirServer {
    /// Start sekmet with `files` loaded; `token` makes it require `Authorization: Bearer <token>`.
    /// `None` only when the skip variable is set.
    pub fn start(token: Option<&str>, files: &[String]) -> Option<RealFhirServer> {
        if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
            eprintln!("{SKIP_VAR}=1: skipping the test against a real FHIR server");
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fhir-server.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script).arg("--watch-stdin");
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd.args(files)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        // The script bounds its own waits (start-up 30 s, each load 60 s) and always prints a line.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the FHIR server's first line");
        let Some(rest) = line.trim().strip_prefix("READY ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the real FHIR server (sekmet-fhir) did not start: {}\n\
                 Install it with `pip install sekmet-fhir` (.ci/run does), or set {SKIP_VAR}=1 to skip.",
                if line.trim().is_empty() {
                    "no output"
                } else {
                    line.trim()
                }
            );
        };
        let (base, ids) = rest.split_once(' ').expect("READY <base> <ids>");
        let patients: HashMap<String, String> =
            serde_json::from_str(ids).expect("patient ids as JSON");
        Some(RealFhirServer {
            base: base.to_string(),
            patients,
            child,
        })
    }

    /// The Patient id of a loaded file (by file name).
    pub fn patient(&self, file_name: &str) -> &str {
        &self.patients[file_name]
    }
}

impl Drop for RealFhirServer {
    fn drop(&mut self) {
        // Closing stdin tells the script to stop the server and remove its directory.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the stub does.
#[derive(Clone, Debug)]
pub struct StubBehaviour {
    /// Resources served (searches filter by type; reads by type and id).
    pub resources: Vec<Value>,
    /// Entries per searchset page (the stub ignores `_count`, as servers with a maximum do).
    pub page_size: usize,
    /// Wait this long before answering every request.
    pub delay: Duration,
    /// Answer every request with this status and an OperationOutcome.
    pub status: Option<u16>,
}

impl Default for StubBehaviour {
    fn default() -> Self {
        StubBehaviour {
            resources: Vec::new(),
            page_size: 50,
            delay: Duration::ZERO,
            status: None,
        }
    }
}

/// A request the stub saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Path and query, e.g. `/fhir/Condition?patient=p1&_count=100`.
    pub target: String,
    pub authorization: Option<String>,
    /// The W3C trace context the service sent along (traces on).
    pub traceparent: Option<String>,
}

struct StubState {
    behaviour: StubBehaviour,
    base: String,
    seen: Mutex<Vec<Seen>>,
}

/// A stub FHIR server on 127.0.0.1 (one worker), stopped when dropped.
pub struct Stub {
    /// FHIR base URL (`http://127.0.0.1:PORT/fhir`).
    pub base: String,
    state: Arc<StubState>,
    handle: actix_web::dev::ServerHandle,
}

impl Stub {
    pub async fn start(behaviour: StubBehaviour) -> Stub {
        let (listener, port) = local_server::bind();
        let base = format!("http://127.0.0.1:{port}/fhir");
        let state = Arc::new(StubState {
            behaviour,
            base: base.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(state.clone());
        let server = local_server::serve(listener, move |cfg| {
            cfg.app_data(data.clone()).default_service(web::to(handle));
        });
        Stub {
            base,
            state,
            handle: server,
        }
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        // Stop accepting; in-flight handlers are dropped with the runtime.
        let h = self.handle.clone();
        drop(h.stop(false));
    }
}

async fn handle(req: HttpRequest, state: web::Data<StubState>) -> HttpResponse {
    let target = req
        .uri()
        .path_and_query()
        .map_or(String::new(), |p| p.to_string());
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.seen.lock().unwrap().push(Seen {
        target: target.clone(),
        authorization,
        traceparent,
    });
    let b = &state.behaviour;
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    if let Some(code) = b.status {
        return fhir(
            code,
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "security", "diagnostics": format!("stub answers {code}")}]}),
        );
    }
    let path = req.path().strip_prefix("/fhir/").unwrap_or("");
    let query: HashMap<String, String> = req
        .query_string()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((rtype, id)) = path.split_once('/') {
        return match b
            .resources
            .iter()
            .find(|r| r["resourceType"] == rtype && r["id"] == id)
        {
            Some(r) => fhir(200, r.clone()),
            None => fhir(
                404,
                json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}),
            ),
        };
    }
    let matches: Vec<&Value> = b
        .resources
        .iter()
        .filter(|r| r["resourceType"] == path)
        .collect();
    let page: usize = query.get("_page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let start = (page - 1) * b.page_size;
    let entries: Vec<Value> = matches
        .iter()
        .skip(start)
        .take(b.page_size)
        .map(|r| json!({"resource": r}))
        .collect();
    let mut links = vec![
        json!({"relation": "self", "url": format!("{}/{}?{}", state.base, path, req.query_string())}),
    ];
    if start + b.page_size < matches.len() {
        let patient = query.get("patient").cloned().unwrap_or_default();
        links.push(json!({"relation": "next", "url": format!("{}/{path}?patient={patient}&_page={}", state.base, page + 1)}));
    }
    fhir(
        200,
        json!({"resourceType": "Bundle", "type": "searchset", "total": matches.len(), "link": links, "entry": entries}),
    )
}

fn fhir(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/fhir+json")
        .body(body.to_string())
}
