//! `GET /metrics` over real HTTP: real hook calls (a 200 with cards, a 412, 401s, feedback), then a
//! scrape, parsed, asserting each series and its value; and no patient id or token in it.

use crate::common;

use std::collections::BTreeMap;

use common::app::{TestApp, patient_view, prefetch_with, spawn_app};
use common::fhir_server::{Stub, StubBehaviour};
use common::jwt::{self, BASE, claims, sign, token};
use serde_json::Value;

const SERVICE: &str = "/cds-services/trd-patient-view";
const FEEDBACK: &str = "/cds-services/trd-patient-view/feedback";

async fn app(env: &[(&str, &str)]) -> TestApp {
    let clients = jwt::clients_file("");
    let clients = clients.to_str().unwrap().to_string();
    let mut all = vec![
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_TRUSTED_CLIENTS", clients.as_str()),
        ("TRD_CDS_PUBLIC_BASE_URL", BASE),
    ];
    all.extend_from_slice(env);
    spawn_app(&all).await
}

/// One sample of the exposition: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a text exposition (comments skipped). Label values here never hold `,` or `"`.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let value: f64 = value.parse().expect("number");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').expect("k=v");
                            (k.to_string(), v.trim_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            (name, labels, value)
        })
        .collect()
}

/// The value of the series `name` with exactly `labels`, if present.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
}

fn must(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or_else(|| panic!("no series {name} {labels:?}"))
}

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200, "GET /metrics needs no token");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_scrape_after_real_calls_counts_them() {
    let app = app(&[]).await;
    let trd = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/patient-view-trd.json"
    ))
    .unwrap();

    // 200 with cards.
    let r = app.post_json_bearer(SERVICE, &trd, &token(SERVICE)).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let cards = answer["cards"].as_array().unwrap();
    assert!(!cards.is_empty(), "the TRD fixture gets cards");
    let mut by_indicator: BTreeMap<String, f64> = BTreeMap::new();
    for c in cards {
        *by_indicator
            .entry(c["indicator"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }

    // 412: the EHR's medicationRequests prefetch failed and there is no fhirServer to fetch from.
    let oo =
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]}"#;
    let body = patient_view("p-metrics", &prefetch_with(&[("medicationRequests", oo)]));
    let r = app.post_json_bearer(SERVICE, &body, &token(SERVICE)).await;
    assert_eq!(r.status(), 412);

    // 401 twice: no token, and an expired one.
    let r = app.post_json(SERVICE, &trd).await;
    assert_eq!(r.status(), 401);
    let mut old = claims(SERVICE);
    old["iat"] = (jwt::now() - 900).into();
    old["exp"] = (jwt::now() - 600).into();
    let r = app
        .post_json_bearer(SERVICE, &trd, &sign("es384", "es384-1", &old))
        .await;
    assert_eq!(r.status(), 401);

    // Feedback on the first card: overridden.
    let card = cards[0]["uuid"].as_str().unwrap();
    let fb = format!(
        r#"{{"feedback":[{{"card":"{card}","outcome":"overridden","outcomeTimestamp":"2026-01-02T03:04:05Z"}}]}}"#
    );
    let r = app.post_json_bearer(FEEDBACK, &fb, &token(FEEDBACK)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let kb: Value = app.get("/readyz").await.json().await.unwrap();
    let text = scrape(&app).await;
    for secret in ["p-trd-1", "p-metrics", "Bearer", "ehr.test.example", "eyJ"] {
        assert!(!text.contains(secret), "{secret} in the scrape");
    }
    let s = parse(&text);
    let pv = ("service", "trd-patient-view");

    // Hook calls and their cards.
    assert_eq!(
        must(&s, "trd_cds_hook_calls_total", &[pv, ("status", "200")]),
        1.0
    );
    assert_eq!(
        must(&s, "trd_cds_hook_calls_total", &[pv, ("status", "412")]),
        1.0
    );
    let total_cards: f64 = s
        .iter()
        .filter(|(n, _, _)| n == "trd_cds_hook_cards_total")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(total_cards, cards.len() as f64);
    for (indicator, n) in &by_indicator {
        let counted: f64 = s
            .iter()
            .filter(|(name, l, _)| {
                name == "trd_cds_hook_cards_total" && l["indicator"] == *indicator
            })
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(counted, *n, "{indicator} cards");
    }
    assert!(
        s.iter()
            .any(|(n, l, v)| n == "trd_cds_hook_cards_total" && l["kind"] == "trd" && *v == 1.0),
        "the TRD card is counted by kind"
    );

    // 412 by cause, and the prefetch keys of both calls.
    assert_eq!(
        must(
            &s,
            "trd_cds_hook_precondition_failed_total",
            &[pv, ("cause", "processing")]
        ),
        1.0
    );
    let key = |k: &str, state: &str| {
        value(
            &s,
            "trd_cds_prefetch_keys_total",
            &[pv, ("key", k), ("state", state)],
        )
    };
    assert_eq!(key("medicationRequests", "missing"), Some(1.0));
    assert_eq!(key("medicationRequests", "null"), Some(1.0));
    assert_eq!(key("medicationStatements", "prefetched"), Some(1.0));
    assert_eq!(key("medicationStatements", "null"), Some(1.0));
    assert_eq!(key("conditions", "prefetched"), Some(1.0));
    assert_eq!(key("conditions", "null"), Some(1.0));
    assert_eq!(key("conditions", "fetched"), None);

    // HTTP requests by route pattern and status class (never the raw path).
    let http = |method: &str, route: &str, class: &str| {
        value(
            &s,
            "trd_cds_http_request_duration_seconds_count",
            &[("method", method), ("route", route), ("status", class)],
        )
    };
    assert_eq!(http("POST", "/cds-services/{id}", "2xx"), Some(1.0));
    assert_eq!(http("POST", "/cds-services/{id}", "4xx"), Some(3.0));
    assert_eq!(
        http("POST", "/cds-services/{id}/feedback", "2xx"),
        Some(1.0)
    );
    assert_eq!(http("GET", "/readyz", "2xx"), Some(1.0));
    assert!(!text.contains("route=\"/cds-services/trd-patient-view\""));

    // JWT refusals by reason.
    let refused = |r: &str| value(&s, "trd_cds_jwt_refusals_total", &[("reason", r)]);
    assert_eq!(refused("missing_authorization"), Some(1.0));
    assert_eq!(refused("expired"), Some(1.0));

    // Feedback, audit (the 200 and the 412 are audited; sync mode: committed before the answer).
    assert_eq!(
        must(
            &s,
            "trd_cds_feedback_entries_total",
            &[pv, ("outcome", "overridden")]
        ),
        1.0
    );
    assert_eq!(must(&s, "trd_cds_audit_rows_written_total", &[]), 2.0);
    assert_eq!(must(&s, "trd_cds_audit_queue_depth", &[]), 0.0);
    assert_eq!(
        must(&s, "trd_cds_audit_enqueue_wait_seconds_count", &[]),
        2.0
    );
    assert_eq!(must(&s, "trd_cds_audit_queue_wait_seconds_count", &[]), 2.0);
    assert!(must(&s, "trd_cds_audit_commit_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(
        must(&s, "trd_cds_jwks_fetches_total", &[("outcome", "failed")]),
        0.0
    );

    // Knowledge base version.
    let version = kb["knowledge_base"].as_str().unwrap();
    assert_eq!(
        must(&s, "trd_cds_knowledge_info", &[("version", version)]),
        1.0
    );
}

#[tokio::test]
async fn metrics_off_is_not_served() {
    let app = app(&[("TRD_CDS_METRICS", "off")]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn a_bad_metrics_setting_refuses_to_start() {
    let Err(err) = trd_cds::config::Config::from_lookup(|k| {
        (k == "TRD_CDS_METRICS").then(|| "public".to_string())
    }) else {
        panic!("TRD_CDS_METRICS=public accepted");
    };
    assert!(err.to_string().contains("TRD_CDS_METRICS"), "{err}");
}

#[tokio::test]
async fn keys_fetched_from_fhir_server_are_counted_with_their_latency() {
    // An empty FHIR server: every search answers an empty searchset, the Patient read 404.
    let stub = Stub::start(StubBehaviour::default()).await;
    let app = spawn_app(&[
        ("TRD_CDS_FHIR_ALLOWED_SERVERS", stub.base.as_str()),
        ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
    ])
    .await;
    let body = serde_json::json!({
        "hook": "patient-view",
        "hookInstance": "5b0e7a52-3f53-4c55-8d52-7b9c3e0f4a11",
        "context": {"userId": "Practitioner/u1", "patientId": "p-fetch"},
        "fhirServer": stub.base,
        "fhirAuthorization": {"access_token": "secret-token-xyz", "token_type": "Bearer",
            "expires_in": 300, "scope": "user/*.read", "subject": "trd-cds"},
    });
    let r = app.post_json(SERVICE, &body.to_string()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let text = scrape(&app).await;
    for secret in ["p-fetch", "secret-token-xyz", "127.0.0.1"] {
        assert!(!text.contains(secret), "{secret} in the scrape");
    }
    let s = parse(&text);
    let pv = ("service", "trd-patient-view");
    let fetched: f64 = s
        .iter()
        .filter(|(n, l, _)| n == "trd_cds_prefetch_keys_total" && l["state"] == "fetched")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(fetched, 6.0, "the six searches");
    assert_eq!(
        value(
            &s,
            "trd_cds_prefetch_keys_total",
            &[pv, ("key", "conditions"), ("state", "fetched")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "trd_cds_prefetch_keys_total",
            &[pv, ("key", "patient"), ("state", "missing")]
        ),
        Some(1.0),
        "the optional Patient read answered 404"
    );
    let fetches = |outcome: &str| {
        value(
            &s,
            "trd_cds_fhir_fetch_duration_seconds_count",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(fetches("complete"), Some(6.0));
    assert_eq!(fetches("not-found"), Some(1.0));
    assert_eq!(
        must(&s, "trd_cds_hook_calls_total", &[pv, ("status", "200")]),
        1.0
    );
}
