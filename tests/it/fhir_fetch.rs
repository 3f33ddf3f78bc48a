//! The FHIR fetch fallback (issue 6), over real HTTP: what the EHR did not prefetch is fetched from
//! `fhirServer` — a real FHIR server (sekmet-fhir, loaded with Synthea patients from tests/data/) and
//! stub servers for pagination, the page cap, the deadline, 401, OperationOutcome and `null`
//! prefetch, the allow-list, and the token's absence from logs and answers.

use crate::common;

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use common::app::{TestApp, spawn_app};
use common::fhir_server::{RealFhirServer, Stub, StubBehaviour};
use serde_json::{Value, json};
use time::macros::date;
use trd_cds::cds_hooks::discovery::PATIENT_VIEW;
use trd_cds::cds_hooks::request::parse_request;
use trd_cds::clinical::SiteConfig;
use trd_cds::config::Config;
use trd_cds::fhir::client::FhirClient;
use trd_cds::http::prefetch::gather_with;
use trd_cds::knowledge::KnowledgeBase;

const PV: &str = "/cds-services/trd-patient-view";
/// Every access token in this file starts with this, so one search finds any leak.
const TOKEN_MARK: &str = "tok-SECRET-";
const TRD_PATIENT: &str = "p-trd-1";

/// Prefetch key → resource type of its template (patient-view).
const KEYS: &[(&str, &str)] = &[
    ("conditions", "Condition"),
    ("medicationStatements", "MedicationStatement"),
    ("medicationRequests", "MedicationRequest"),
    ("medicationDispenses", "MedicationDispense"),
    ("procedures", "Procedure"),
    ("observations", "Observation"),
];

// ---------------------------------------------------------------------------------------------
// Helpers

fn log_text() -> String {
    common::logs::text()
}

fn assert_no_token_logged() {
    let text = log_text();
    assert!(
        !text.contains(TOKEN_MARK),
        "an access token was logged:\n{}",
        text.lines()
            .filter(|l| l.contains(TOKEN_MARK))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn token(name: &str) -> String {
    format!("{TOKEN_MARK}{name}")
}

/// The TRD fixture patient's resources (`tests/fixtures/bundle-trd.json`).
fn trd_resources() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bundle-trd.json"
    ))
    .unwrap();
    let b: Value = serde_json::from_str(&text).unwrap();
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect()
}

/// Irrelevant Conditions (essential hypertension) to make a key span more pages.
fn filler_conditions(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"resourceType": "Condition", "id": format!("filler-{i}"),
                "subject": {"reference": format!("Patient/{TRD_PATIENT}")},
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
                "onsetDateTime": "2019-01-01"})
        })
        .collect()
}

fn searchset(resources: &[&Value]) -> Value {
    json!({"resourceType": "Bundle", "type": "searchset",
        "entry": resources.iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()})
}

/// The complete prefetch of a patient whose resources are `resources`.
fn full_prefetch(patient: &str, resources: &[Value]) -> Value {
    let mut p = serde_json::Map::new();
    let pat = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient" && r["id"] == patient);
    p.insert("patient".into(), pat.cloned().unwrap_or(Value::Null));
    for (key, rtype) in KEYS {
        let of: Vec<&Value> = resources
            .iter()
            .filter(|r| r["resourceType"] == *rtype)
            .collect();
        p.insert((*key).into(), searchset(&of));
    }
    Value::Object(p)
}

/// A patient-view request; `server` = (fhirServer, access token).
fn request(patient: &str, server: Option<(&str, Option<&str>)>, prefetch: Option<Value>) -> String {
    let mut r = json!({
        "hook": "patient-view",
        "hookInstance": uuid::Uuid::new_v4().to_string(),
        "context": {"userId": "Practitioner/u1", "patientId": patient},
    });
    if let Some((base, tok)) = server {
        r["fhirServer"] = json!(base);
        if let Some(t) = tok {
            r["fhirAuthorization"] = json!({"access_token": t, "token_type": "Bearer",
                "expires_in": 300, "scope": "user/*.read", "subject": "trd-cds"});
        }
    }
    if let Some(p) = prefetch {
        r["prefetch"] = p;
    }
    r.to_string()
}

/// Every key `null`, with `overrides`.
fn nulls_with(overrides: &[(&str, Value)]) -> Value {
    let mut p = serde_json::Map::new();
    p.insert("patient".into(), Value::Null);
    for (k, _) in KEYS {
        p.insert((*k).into(), Value::Null);
    }
    for (k, v) in overrides {
        p.insert((*k).into(), v.clone());
    }
    Value::Object(p)
}

async fn app_for(server: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("TRD_CDS_FHIR_ALLOWED_SERVERS", server),
        ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
    ];
    env.extend_from_slice(extra);
    spawn_app(&env).await
}

async fn call(app: &TestApp, body: &str) -> (u16, Value) {
    let resp = app.post_json(PV, body).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains(TOKEN_MARK),
        "the answer carries the token: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

fn data_issues(cards: &Value) -> Vec<Value> {
    cards["cards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["extension"]["trd-assessment"]["data_issues"].as_array())
        .flatten()
        .cloned()
        .collect()
}

fn expressions(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["expression"].as_array().unwrap().iter())
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Against a real FHIR server

/// Fetch a template completely from the server, independently of the service's client: one
/// request per page with `_count=1000`, entries merged into one searchset.
async fn fetch_all(http: &reqwest::Client, base: &str, tok: &str, rel: &str) -> Value {
    let sep = if rel.contains('?') { '&' } else { '?' };
    let mut url = if rel.contains('/') {
        format!("{base}/{rel}")
    } else {
        format!("{base}/{rel}{sep}_count=1000")
    };
    let mut entries = Vec::new();
    loop {
        let page: Value = http
            .get(&url)
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["resourceType"] != "Bundle" {
            return page; // a read
        }
        entries.extend(page["entry"].as_array().cloned().unwrap_or_default());
        match page["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        {
            Some(next) => url = next["url"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

#[tokio::test]
async fn without_prefetch_the_real_fhir_server_gives_the_same_assessment() {
    common::logs::captured();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-data");
    let files = [
        format!("{samples}/pysynthea-generated/mdd-gad-3ssri_Penni_Lubowitz_57e70413.json"),
        format!(
            "{samples}/synthea-smart-on-fhir/Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bundle-trd.json"
        )
        .to_string(),
    ];
    let tok = token("sekmet");
    let started = Instant::now();
    let t2 = tok.clone();
    let Some(server) =
        tokio::task::spawn_blocking(move || RealFhirServer::start(Some(&t2), &files))
            .await
            .unwrap()
    else {
        return;
    };
    eprintln!(
        "sekmet-fhir started and loaded in {} ms",
        started.elapsed().as_millis()
    );
    // A generous deadline: this test is about equality, the stubs below test the deadline.
    let env = [
        ("TRD_CDS_FHIR_ALLOWED_SERVERS", server.base.as_str()),
        ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
        ("TRD_CDS_FHIR_DEADLINE_MS", "20000"),
        ("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", "10000"),
    ];
    let app = spawn_app(&env).await;
    let m: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|k| m.get(k).cloned()).unwrap();
    let client = FhirClient::new(&config.fhir, config.max_body_bytes).unwrap();
    let kb = KnowledgeBase::embedded().unwrap();
    let http = reqwest::Client::new();

    let mut cards_seen = 0;
    for file in [
        "mdd-gad-3ssri_Penni_Lubowitz_57e70413.json",
        "Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json",
        "bundle-trd.json",
    ] {
        let id = server.patient(file);
        // The full prefetch, as an EHR would send it.
        let mut prefetch = serde_json::Map::new();
        for t in PATIENT_VIEW.prefetch {
            let rel = t.query.replace("{{context.patientId}}", id);
            prefetch.insert(
                t.key.into(),
                fetch_all(&http, &server.base, &tok, &rel).await,
            );
        }
        let with = request(id, None, Some(Value::Object(prefetch)));
        let without = request(id, Some((&server.base, Some(&tok))), None);

        // 1. Over HTTP: the same cards (each carries the whole assessment in `trd-assessment`).
        let (s1, full) = call(&app, &with).await;
        let (s2, fetched) = call(&app, &without).await;
        assert_eq!((s1, s2), (200, 200), "{file}: {full} / {fetched}");
        assert_eq!(full, fetched, "{file}: cards differ");
        cards_seen += full["cards"].as_array().unwrap().len();

        // 2. The assessment itself (also for the patients who get no card), through the same
        //    gathering code the route uses, at a fixed date.
        let mut assessments = Vec::new();
        for body in [&with, &without] {
            let req = parse_request(body.as_bytes()).unwrap();
            let g = gather_with(&client, None, &PATIENT_VIEW, &req, &[("patientId", id)])
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(g.notes.is_empty(), "{file}: {:?}", g.notes);
            let patient = format!("Patient/{id}");
            let (record, a) = trd_cds::pipeline::assess(
                &g.documents(),
                Some(&patient),
                &kb,
                &SiteConfig::default(),
                date!(2026 - 06 - 01),
            )
            .unwrap();
            assert!(
                record.subjects.iter().all(|s| s == &patient),
                "{file}: {:?}",
                record.subjects
            );
            assessments.push(serde_json::to_value(&a).unwrap());
        }
        assert_eq!(assessments[0], assessments[1], "{file}: assessments differ");
        assert_ne!(assessments[0]["status"], "not-applicable", "{file}");
    }
    assert!(cards_seen > 0, "the TRD patient gets a card");

    // A token the server does not accept: 412 naming the keys.
    let (status, outcome) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&server.base, Some(&token("wrong")))),
            None,
        ),
    )
    .await;
    assert_eq!(status, 412, "{outcome}");
    assert!(expressions(&outcome).contains(&"prefetch.conditions".to_string()));
    assert_no_token_logged();
}

/// How many resources the gathered documents of `key`'s type hold (prefetched first page + pages).
fn gathered_count(g: &trd_cds::http::prefetch::Gathered<'_>, first_page: usize) -> usize {
    first_page
        + g.docs
            .iter()
            .filter_map(|d| match d {
                trd_cds::http::prefetch::GatheredDoc::Fetched(text) => {
                    serde_json::from_str::<Value>(text).ok()
                }
                _ => None,
            })
            .map(|v| v["entry"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
}

/// Issue 15: the sandbox prefetches first pages of 20; with a cap of 10 pages, 250 procedures were
/// cut at 200 and the card said the data was incomplete. Against the real server, paging by 20:
/// every one of the 250 arrives under the default caps; the old page cap still cuts (it remains a
/// safety cap), and the resource cap cuts where it is set.
#[tokio::test]
async fn a_history_paged_by_20_arrives_whole_from_the_real_fhir_server() {
    common::logs::captured();
    const N: usize = 250;
    let patient = "p-many-procedures";
    let mut entries = vec![json!({"resource": {"resourceType": "Patient", "id": patient}})];
    entries.extend((0..N).map(|i| {
        json!({"resource": {"resourceType": "Procedure", "id": format!("proc-{i}"), "status": "completed",
            "subject": {"reference": format!("Patient/{patient}")},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90834"}]},
            "performedDateTime": "2024-01-01"}})
    }));
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
    let file =
        std::env::temp_dir().join(format!("trd-cds-{}-{}.json", patient, std::process::id()));
    std::fs::write(&file, bundle.to_string()).unwrap();
    let files = [file.to_string_lossy().into_owned()];
    let tok = token("paged-by-20");
    let t2 = tok.clone();
    let started = tokio::task::spawn_blocking(move || RealFhirServer::start(Some(&t2), &files))
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let Some(server) = started else {
        return;
    };
    let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
    let id = server.patient(&file_name).to_string();
    // The EHR's prefetch: the first page of 20, with its next link; everything else null.
    let first: Value = reqwest::Client::new()
        .get(format!("{}/Procedure?patient={id}&_count=20", server.base))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_page = first["entry"].as_array().map_or(0, Vec::len);
    assert_eq!(first_page, 20, "{first}");
    assert!(
        first["link"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["relation"] == "next")),
        "the server pages: {first}"
    );
    let body = request(
        &id,
        Some((&server.base, Some(&tok))),
        Some(nulls_with(&[("procedures", first)])),
    );
    let req = parse_request(body.as_bytes()).unwrap();
    let gather = |extra: &[(&'static str, &'static str)]| {
        let mut m: BTreeMap<String, String> = [
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", server.base.as_str()),
            ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
            // This test is about the caps; the deadline has its own tests below.
            ("TRD_CDS_FHIR_DEADLINE_MS", "30000"),
            ("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", "10000"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        m.entry("TRD_CDS_AUTH".into()).or_insert("off".into());
        let config = Config::from_lookup(|k| m.get(k).cloned()).unwrap();
        FhirClient::new(&config.fhir, config.max_body_bytes).unwrap()
    };
    let ctx = [("patientId", id.as_str())];

    let client = gather(&[]);
    let g = gather_with(&client, None, &PATIENT_VIEW, &req, &ctx)
        .await
        .unwrap();
    assert!(g.notes.is_empty(), "{:?}", g.notes);
    assert_eq!(gathered_count(&g, first_page), N, "all 250 procedures");

    // The old behaviour, still reachable through the deprecated page cap: cut at 10 pages = 200.
    let client = gather(&[("TRD_CDS_FHIR_MAX_PAGES", "10")]);
    let g = gather_with(&client, None, &PATIENT_VIEW, &req, &ctx)
        .await
        .unwrap();
    assert_eq!(gathered_count(&g, first_page), 200);
    assert!(
        g.notes
            .iter()
            .any(|n| n.field == "prefetch.procedures" && n.problem.contains("page cap")),
        "{:?}",
        g.notes
    );

    // The resource cap: pages are kept whole, so 100 → 100 (5 pages of 20), 110 → 120.
    for (cap, got) in [("100", 100), ("110", 120)] {
        let client = gather(&[("TRD_CDS_FHIR_MAX_RESOURCES", cap)]);
        let g = gather_with(&client, None, &PATIENT_VIEW, &req, &ctx)
            .await
            .unwrap();
        assert_eq!(gathered_count(&g, first_page), got, "cap {cap}");
        assert!(
            g.notes.iter().any(|n| n.field == "prefetch.procedures"
                && n.problem.contains("TRD_CDS_FHIR_MAX_RESOURCES")),
            "{:?}",
            g.notes
        );
    }
    assert_no_token_logged();
}

// ---------------------------------------------------------------------------------------------
// Against stubs

#[tokio::test]
async fn searchset_pages_are_followed_with_the_token() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        page_size: 1,
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let tok = token("pages");
    let (s, full) = call(
        &app,
        &request(
            TRD_PATIENT,
            None,
            Some(full_prefetch(TRD_PATIENT, &trd_resources())),
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert!(!full["cards"].as_array().unwrap().is_empty(), "{full}");
    let (s, fetched) = call(
        &app,
        &request(TRD_PATIENT, Some((&stub.base, Some(&tok))), None),
    )
    .await;
    assert_eq!(s, 200, "{fetched}");
    assert_eq!(full, fetched, "one resource per page, every page followed");

    let seen = stub.seen();
    // 1 read + 6 searches; 5 Observations and 3 MedicationStatements are 5 and 3 pages.
    assert!(
        seen.iter()
            .any(|r| r.target.starts_with("/fhir/Observation?") && r.target.contains("_page=5")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 1 + 1 + 3 + 1 + 1 + 1 + 5, "{seen:?}");
    for r in &seen {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {tok}").as_str())
        );
        assert!(r.target.contains(TRD_PATIENT), "{}", r.target);
    }
    // The first request of each search asks for large pages.
    assert!(
        seen.iter()
            .any(|r| r.target == "/fhir/Condition?patient=p-trd-1&_count=100"),
        "{seen:?}"
    );
    assert_no_token_logged();
}

#[tokio::test]
async fn the_page_cap_gives_cards_with_a_data_issue() {
    common::logs::captured();
    let mut resources = trd_resources();
    resources.extend(filler_conditions(10));
    let stub = Stub::start(StubBehaviour {
        resources,
        page_size: 10,
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[("TRD_CDS_FHIR_MAX_PAGES", "1")]).await;
    let (s, cards) = call(
        &app,
        &request(TRD_PATIENT, Some((&stub.base, Some(&token("cap")))), None),
    )
    .await;
    assert_eq!(s, 200, "{cards}");
    let issues = data_issues(&cards);
    assert!(
        issues.iter().any(|i| i["field"] == "prefetch.conditions"
            && i["problem"]
                .as_str()
                .unwrap()
                .contains("page cap of 1 pages")),
        "{cards}"
    );
    // The 11th Condition is on page 2, never requested.
    assert!(stub.seen().iter().all(|r| !r.target.contains("_page=2")));
    assert_no_token_logged();
}

#[tokio::test]
async fn a_slow_server_is_cut_at_the_deadline() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let app = app_for(
        &stub.base,
        &[
            ("TRD_CDS_FHIR_DEADLINE_MS", "400"),
            ("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let started = Instant::now();
    let (s, outcome) = call(
        &app,
        &request(TRD_PATIENT, Some((&stub.base, Some(&token("slow")))), None),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(s, 412, "{outcome}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1400),
        "answered in {took:?} with a 400 ms deadline"
    );
    let issues = outcome["issue"].as_array().unwrap();
    assert_eq!(issues.len(), 6, "one issue per required key: {outcome}");
    for i in issues {
        assert_eq!(i["code"], "timeout");
        assert!(
            i["diagnostics"]
                .as_str()
                .unwrap()
                .contains("deadline of 400 ms")
        );
    }
    // All keys were requested at once, not one after the other.
    assert_eq!(stub.seen().len(), 7);
    assert_no_token_logged();
}

#[tokio::test]
async fn refused_access_is_412_naming_the_keys() {
    common::logs::captured();
    for code in [401u16, 403, 404] {
        let stub = Stub::start(StubBehaviour {
            status: Some(code),
            ..Default::default()
        })
        .await;
        let app = app_for(&stub.base, &[]).await;
        let tok = token("refused");
        let (s, outcome) = call(
            &app,
            &request(TRD_PATIENT, Some((&stub.base, Some(&tok))), None),
        )
        .await;
        assert_eq!(s, 412, "{code}: {outcome}");
        let exprs = expressions(&outcome);
        for (key, _) in KEYS {
            assert!(
                exprs.contains(&format!("prefetch.{key}")),
                "{code}: {exprs:?}"
            );
        }
        let d = outcome["issue"][0]["diagnostics"].as_str().unwrap();
        assert!(
            d.contains("prefetch key 'conditions'") && d.contains(&format!("HTTP {code}")),
            "{d}"
        );
        assert!(!d.contains(&stub.base), "no URL in the diagnostics: {d}");
    }
    assert_no_token_logged();
}

#[tokio::test]
async fn an_operation_outcome_in_prefetch_is_fetched_again() {
    common::logs::captured();
    let resources = trd_resources();
    let stub = Stub::start(StubBehaviour {
        resources: resources.clone(),
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let full = full_prefetch(TRD_PATIENT, &resources);
    let mut failed = full.clone();
    failed["medicationStatements"] = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR prefetch timed out"}]});
    let (s, expected) = call(&app, &request(TRD_PATIENT, None, Some(full))).await;
    assert_eq!(s, 200);
    let (s, got) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&stub.base, Some(&token("oo")))),
            Some(failed),
        ),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(expected, got);
    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0]
            .target
            .starts_with("/fhir/MedicationStatement?patient=p-trd-1")
    );
    assert_no_token_logged();
}

#[tokio::test]
async fn null_prefetch_fetches_nothing() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let (s, v) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&stub.base, Some(&token("null")))),
            Some(nulls_with(&[])),
        ),
    )
    .await;
    assert_eq!((s, v), (200, json!({"cards": []})));
    assert!(stub.seen().is_empty(), "{:?}", stub.seen());
}

#[tokio::test]
async fn servers_off_the_allow_list_are_never_contacted() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        ..Default::default()
    })
    .await;
    let tok = token("ssrf");
    let req = request(TRD_PATIENT, Some((&stub.base, Some(&tok))), None);
    // Another server allowed; default configuration (none allowed); http while only https allowed.
    let other = "http://127.0.0.1:9/fhir";
    for app in [
        app_for(other, &[]).await,
        spawn_app(&[]).await,
        spawn_app(&[(
            "TRD_CDS_FHIR_ALLOWED_SERVERS",
            "https://ehr.example.org/fhir",
        )])
        .await,
    ] {
        let (s, outcome) = call(&app, &req).await;
        assert_eq!(s, 412, "{outcome}");
        let exprs = expressions(&outcome);
        assert!(exprs.contains(&"fhirServer".to_string()), "{exprs:?}");
        assert!(
            exprs.contains(&"prefetch.observations".to_string()),
            "{exprs:?}"
        );
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("fhirServer")
        );
    }
    // Allowed, but no fhirAuthorization and anonymous fetching off: no request either.
    let app = app_for(&stub.base, &[]).await;
    let (s, outcome) = call(&app, &request(TRD_PATIENT, Some((&stub.base, None)), None)).await;
    assert_eq!(s, 412, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("TRD_CDS_FHIR_ALLOW_ANONYMOUS")
    );
    assert!(stub.seen().is_empty(), "{:?}", stub.seen());

    // With anonymous fetching on, an open server is read without an Authorization header.
    let app = app_for(&stub.base, &[("TRD_CDS_FHIR_ALLOW_ANONYMOUS", "true")]).await;
    let (s, v) = call(&app, &request(TRD_PATIENT, Some((&stub.base, None)), None)).await;
    assert_eq!(s, 200, "{v}");
    assert!(!stub.seen().is_empty());
    assert!(stub.seen().iter().all(|r| r.authorization.is_none()));
}

#[tokio::test]
async fn a_paginated_prefetch_bundle_is_completed() {
    common::logs::captured();
    let resources = trd_resources();
    let stub = Stub::start(StubBehaviour {
        resources: resources.clone(),
        page_size: 1,
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let full = full_prefetch(TRD_PATIENT, &resources);
    let (s, expected) = call(&app, &request(TRD_PATIENT, None, Some(full.clone()))).await;
    assert_eq!(s, 200);

    // The EHR sends the first MedicationStatement and a next link to page 2 (3 pages in all).
    let statements: Vec<&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "MedicationStatement")
        .collect();
    assert_eq!(statements.len(), 3);
    let mut first = searchset(&statements[..1]);
    first["link"] = json!([{"relation": "next",
        "url": format!("{}/MedicationStatement?patient={TRD_PATIENT}&_page=2", stub.base)}]);
    let mut paged = full.clone();
    paged["medicationStatements"] = first.clone();
    let tok = token("paged");
    let (s, got) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&stub.base, Some(&tok))),
            Some(paged.clone()),
        ),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(expected, got, "pages 2 and 3 were fetched");
    let targets: Vec<String> = stub.seen().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/fhir/MedicationStatement?patient=p-trd-1&_page=2",
            "/fhir/MedicationStatement?patient=p-trd-1&_page=3"
        ]
    );

    // A next link outside fhirServer is not followed (the token would go there): the key is
    // incomplete, which the assessment says. (All three statements are on the first page, so the
    // patient still gets the card that shows the data issue.)
    let mut outside = searchset(&statements);
    outside["link"] = first["link"].clone();
    outside["link"][0]["url"] = json!("http://127.0.0.1:9/elsewhere/MedicationStatement?page=2");
    paged["medicationStatements"] = outside;
    let (s, got) = call(
        &app,
        &request(TRD_PATIENT, Some((&stub.base, Some(&tok))), Some(paged)),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(stub.seen().len(), 2, "no new request");
    let issues = data_issues(&got);
    assert!(
        issues
            .iter()
            .any(|i| i["field"] == "prefetch.medicationStatements"
                && i["problem"]
                    .as_str()
                    .unwrap()
                    .contains("outside fhirServer")),
        "{got}"
    );
    assert_no_token_logged();
}

#[tokio::test]
async fn fetching_is_logged_without_the_token() {
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        ..Default::default()
    })
    .await;
    common::logs::captured();
    let app = app_for(&stub.base, &[]).await;
    let (s, _) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&stub.base, Some(&token("logged")))),
            None,
        ),
    )
    .await;
    assert_eq!(s, 200);
    let text = log_text();
    assert!(
        text.contains("fetched from fhirServer"),
        "the fetch is logged:\n{text}"
    );
    // Nor the patient id (URLs hold it; the log says key names, kinds and counts).
    assert!(
        !text.contains(TRD_PATIENT),
        "a patient id was logged:\n{text}"
    );
    assert_no_token_logged();
}

// ---------------------------------------------------------------------------------------------
// Measurement (run by hand, release build):
//   cargo test --release --test it fhir_fetch::measure_added_latency -- --ignored --nocapture

/// Added latency of a patient-view call without prefetch (the service fetches everything from
/// sekmet-fhir on 127.0.0.1) against the same call with full prefetch, default fetch settings.
#[tokio::test]
#[ignore = "a measurement, run by hand in release mode"]
async fn measure_added_latency() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-data");
    let files = [
        format!("{samples}/pysynthea-generated/mdd-gad-3ssri_Penni_Lubowitz_57e70413.json"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bundle-trd.json"
        )
        .to_string(),
    ];
    let tok = token("measure");
    let t2 = tok.clone();
    let server = tokio::task::spawn_blocking(move || RealFhirServer::start(Some(&t2), &files))
        .await
        .unwrap()
        .expect("sekmet-fhir");
    let app = app_for(&server.base, &[]).await;
    let http = reqwest::Client::new();
    let n: usize = std::env::var("MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for file in [
        "mdd-gad-3ssri_Penni_Lubowitz_57e70413.json",
        "bundle-trd.json",
    ] {
        let id = server.patient(file);
        let mut prefetch = serde_json::Map::new();
        for t in PATIENT_VIEW.prefetch {
            let rel = t.query.replace("{{context.patientId}}", id);
            prefetch.insert(
                t.key.into(),
                fetch_all(&http, &server.base, &tok, &rel).await,
            );
        }
        let with = request(id, None, Some(Value::Object(prefetch)));
        let without = request(id, Some((&server.base, Some(&tok))), None);
        let (mut full, mut fetched) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..(n + 20) {
            // Alternate, so that both paths see the same machine load.
            for (body, out) in [(&with, &mut full), (&without, &mut fetched)] {
                let t = Instant::now();
                let resp = app.post_json(PV, body).await;
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap();
                if i >= 20 {
                    out.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
            (q(0.5), q(0.99))
        };
        let (fm, fp) = stats(&mut full);
        let (nm, np) = stats(&mut fetched);
        println!(
            "{file}: n={n} full prefetch median {fm:.1} ms p99 {fp:.1} ms | no prefetch median {nm:.1} ms p99 {np:.1} ms | added: median {:.1} ms, p99 {:.1} ms",
            nm - fm,
            np - fp
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile paths and references (issue 13 item 4)

/// A `next` link that a decoding proxy would send outside the base, in each spelling, is never
/// requested; the key is reported incomplete.
#[tokio::test]
async fn encoded_dot_segments_in_next_links_are_not_followed() {
    common::logs::captured();
    let resources = trd_resources();
    let stub = Stub::start(StubBehaviour {
        resources: resources.clone(),
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let tok = token("dots");
    let statements: Vec<&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "MedicationStatement")
        .collect();
    for next in [
        "/..%2fother/MedicationStatement?page=2",
        "/..%2Fother",
        "/%2e%2e%2fother",
        "/%252e%252e%252fother",
        "/MedicationStatement/..%5c..%5cother",
        "/",
    ] {
        let mut paged = full_prefetch(TRD_PATIENT, &resources);
        let mut first = searchset(&statements);
        first["link"] = json!([{"relation": "next", "url": format!("{}{next}", stub.base)}]);
        paged["medicationStatements"] = first;
        let (s, got) = call(
            &app,
            &request(TRD_PATIENT, Some((&stub.base, Some(&tok))), Some(paged)),
        )
        .await;
        assert_eq!(s, 200, "{next}: {got}");
        assert!(
            data_issues(&got)
                .iter()
                .any(|i| i["field"] == "prefetch.medicationStatements"
                    && i["problem"]
                        .as_str()
                        .unwrap()
                        .contains("outside fhirServer")),
            "{next}: {got}"
        );
        assert_eq!(stub.seen().len(), 0, "{next}: requested {:?}", stub.seen());
    }
    assert_no_token_logged();
}

/// `context.patientId` `..` made the service GET `{fhirServer}/` with the token: now a 400 naming
/// the field, before any request.
#[tokio::test]
async fn a_patient_id_that_is_not_a_fhir_id_is_400_before_any_fetch() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour {
        resources: trd_resources(),
        ..Default::default()
    })
    .await;
    let app = app_for(&stub.base, &[]).await;
    let tok = token("dotdot");
    for id in [
        "..",
        ".",
        "../Patient/p-trd-1",
        "p-trd-1/..",
        "%2e%2e",
        "p 1",
    ] {
        let (s, outcome) = call(&app, &request(id, Some((&stub.base, Some(&tok))), None)).await;
        assert_eq!(s, 400, "{id}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(expressions(&outcome), ["context.patientId"], "{id}");
    }
    assert_eq!(stub.seen().len(), 0, "requested {:?}", stub.seen());
    assert_no_token_logged();
}

/// A prefetched resource whose subject is an absolute reference to a patient with the context id
/// on another server is not taken as the context patient's: not used, and a data issue says so.
/// The same absolute reference under the call's fhirServer is the patient's.
#[tokio::test]
async fn a_subject_on_another_server_is_a_data_issue_not_the_patient() {
    common::logs::captured();
    let stub = Stub::start(StubBehaviour::default()).await;
    let app = app_for(&stub.base, &[]).await;
    let resources = trd_resources();
    let (s, baseline) = call(
        &app,
        &request(
            TRD_PATIENT,
            Some((&stub.base, None)),
            Some(full_prefetch(TRD_PATIENT, &resources)),
        ),
    )
    .await;
    assert_eq!(s, 200, "{baseline}");
    let statuses = |v: &Value| -> Vec<Value> {
        v["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["extension"]["trd-assessment"]["status"].clone())
            .collect()
    };

    // The current antidepressant's statement gets the subject under test (the two earlier
    // trials keep the patient's TRD card, which carries the data issues).
    let with_subject = |subject: &str| -> Vec<Value> {
        resources
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r["id"] == "ms-venlafaxine" {
                    r["subject"] = json!({"reference": subject});
                }
                r
            })
            .collect()
    };
    let trials = |v: &Value| v["cards"][0]["extension"]["trd-assessment"]["trials"].clone();
    let run = |resources: Vec<Value>| {
        let app = &app;
        let base = stub.base.clone();
        async move {
            call(
                app,
                &request(
                    TRD_PATIENT,
                    Some((&base, None)),
                    Some(full_prefetch(TRD_PATIENT, &resources)),
                ),
            )
            .await
        }
    };
    // Under the call's fhirServer: the same patient, the same assessment.
    let (s, got) = run(with_subject(&format!(
        "{}/Patient/{TRD_PATIENT}",
        stub.base
    )))
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(statuses(&got), statuses(&baseline));
    assert_eq!(trials(&got), trials(&baseline));
    assert!(
        !data_issues(&got)
            .iter()
            .any(|i| i["field"] == "subject.reference"),
        "{got}"
    );

    // Another server, same id: that statement is not this patient's; it is not used, and said so.
    let (s, got) = run(with_subject(&format!(
        "https://other.example.org/fhir/Patient/{TRD_PATIENT}"
    )))
    .await;
    assert_eq!(s, 200, "{got}");
    let flagged: Vec<Value> = data_issues(&got)
        .into_iter()
        .filter(|i| i["field"] == "subject.reference")
        .collect();
    assert_eq!(flagged.len(), 1, "{got}");
    assert_eq!(flagged[0]["resource"], "MedicationStatement/ms-venlafaxine");
    assert!(
        flagged[0]["problem"]
            .as_str()
            .unwrap()
            .contains("another FHIR server"),
        "{got}"
    );
    assert!(
        !trials(&got).to_string().contains("venlafaxine"),
        "the other server's statement was used: {got}"
    );
    assert!(trials(&baseline).to_string().contains("venlafaxine"));
    assert_eq!(stub.seen().len(), 0);
}
