//! The persistence guarantees (docs/persistence.md), proved black-box: real HTTP, a real PostgreSQL
//! database per test (`tests/it/common/pg.rs`), and — where a crash or a signal matters — the real
//! binary as a child process.
//!
//! - acknowledged feedback survives `kill -9`; a restart re-applies no migration;
//! - a full audit queue answers 503 (never a 200 without its audit row);
//! - what an audit row holds, and that the patient id is stored nowhere (only its keyed hash);
//! - feedback joins the audited card, and the summary counts it;
//! - SIGTERM drains the audit queue before the process exits.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::app::{TestApp, spawn_app};
use common::pg::TestDb;
use common::process::ServiceProcess;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};
use trd_cds::store::{PatientHasher, PgStore};

const PV: &str = "/cds-services/trd-patient-view";
const FB: &str = "/cds-services/trd-patient-view/feedback";
const SECRET: &str = "persistence-http-test-secret-0123456789";
const PATIENT_ID: &str = "p-trd-1";
const REASONS: &str = "http://example.org/cds/override-reason";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn new_instance() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `tests/fixtures/patient-view-trd.json` (patient `p-trd-1`, gets a TRD card) with its own hookInstance.
fn hook_body(instance: &str) -> String {
    let mut v: Value = serde_json::from_str(&fixture("patient-view-trd.json")).unwrap();
    v["hookInstance"] = json!(instance);
    v.to_string()
}

/// The same call without a required prefetch key: 412.
fn hook_body_412(instance: &str) -> String {
    let mut v: Value = serde_json::from_str(&hook_body(instance)).unwrap();
    v["prefetch"].as_object_mut().unwrap().remove("conditions");
    v.to_string()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn accepted(card: &str, suggestions: &[&str], at: &str) -> String {
    let ids: Vec<Value> = suggestions.iter().map(|s| json!({ "id": s })).collect();
    json!({"feedback": [{"card": card, "outcome": "accepted", "acceptedSuggestions": ids, "outcomeTimestamp": at}]})
        .to_string()
}

fn overridden(card: &str, reason: &str, comment: Option<&str>, at: &str) -> String {
    let mut o = json!({"reason": {"system": REASONS, "code": reason}});
    if let Some(c) = comment {
        o["userComment"] = json!(c);
    }
    json!({"feedback": [{"card": card, "outcome": "overridden", "overrideReason": o, "outcomeTimestamp": at}]})
        .to_string()
}

async fn post(http: &reqwest::Client, base: &str, path: &str, body: &str) -> reqwest::Response {
    http.post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

/// Asserts the answer is `status` with an OperationOutcome body; returns the body.
async fn outcome(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/fhir+json"), "content type {ct}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resourceType"], "OperationOutcome", "{v}");
    assert!(
        !v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{v}"
    );
    v
}

/// The acknowledgement of a feedback post: `(stored, duplicates, unmatched)`.
async fn ack(resp: reqwest::Response) -> (u64, u64, u64) {
    assert_eq!(resp.status(), 200, "feedback not acknowledged");
    let v: Value = resp.json().await.unwrap();
    (
        v["stored"].as_u64().unwrap(),
        v["duplicates"].as_u64().unwrap(),
        v["unmatched"].as_u64().unwrap(),
    )
}

/// The summary over the last/next hour (everything these tests write).
async fn summary(http: &reqwest::Client, base: &str) -> Value {
    let now = OffsetDateTime::now_utc();
    let url = format!(
        "{base}/api/v1/feedback/summary?from={}&to={}",
        rfc3339(now - time::Duration::hours(1)),
        rfc3339(now + time::Duration::hours(1))
    );
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// `(shown, accepted, overridden)` of one entry of `by_card_kind` (key `kind`) or
/// `by_recommendation_code` (key `code`); zeros when absent.
fn counts_of(list: &Value, key: &str, name: &str) -> (u64, u64, u64) {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == name)
        .map(|e| {
            (
                e["shown"].as_u64().unwrap(),
                e["accepted"].as_u64().unwrap(),
                e["overridden"].as_u64().unwrap(),
            )
        })
        .unwrap_or((0, 0, 0))
}

/// `{(system, code): count}` of an entry's override reasons.
fn reasons_of(list: &Value, key: &str, name: &str) -> BTreeMap<String, u64> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == name)
        .map(|e| {
            e["override_reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        format!(
                            "{}|{}",
                            r["system"].as_str().unwrap_or(""),
                            r["code"].as_str().unwrap_or("")
                        ),
                        r["count"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A direct connection to the test database (what an auditor would look at).
async fn sql(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client
}

async fn count(db: &Client, query: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    db.query_one(query, params)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .get(0)
}

/// Polls `query` (a count) until it equals `expected`; panics after `timeout` with the last value.
async fn wait_count(
    db: &Client,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
    expected: i64,
    timeout: Duration,
) {
    let start = Instant::now();
    loop {
        let n = count(db, query, params).await;
        if n == expected {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{query}: {n} after {timeout:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `refinery_schema_history`, every column, as text.
async fn migration_history(db: &Client) -> Vec<String> {
    db.query("SELECT version::text || '|' || name || '|' || applied_on || '|' || checksum FROM refinery_schema_history ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Takes an ACCESS EXCLUSIVE lock on `audit_event` in an open transaction on `db`: the audit writer's
/// INSERT blocks until `COMMIT`. (Counting on this same connection still works.)
async fn lock_audit_table(db: &Client) {
    db.batch_execute("BEGIN; LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
}

/// The real binary as a child process (`common::process`) on this test's database, JWT checks off
/// (these tests are about persistence; tests/it/auth.rs covers client trust).
fn start_service(database_url: &str, extra: &[(&str, &str)]) -> ServiceProcess {
    let mut env = vec![
        ("DATABASE_URL", database_url),
        ("TRD_CDS_DB_POOL_SIZE", "4"),
        ("TRD_CDS_PATIENT_HASH_SECRET", SECRET),
        ("RUST_LOG", "info,actix_server=warn"),
    ];
    env.extend_from_slice(extra);
    ServiceProcess::spawn(&env)
}

/// Waits for `/readyz`, then checks the service runs on PostgreSQL, not the in-memory store.
async fn wait_ready_on_postgres(svc: &mut ServiceProcess) {
    let v = svc.wait_ready().await;
    assert_eq!(v["store"], "postgres", "{v}");
}

/// The first card of a 200 patient-view answer: `(card uuid, [suggestion uuids])`.
async fn first_card(resp: reqwest::Response) -> (String, Vec<String>) {
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let card = &v["cards"][0];
    let uuid = card["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("the TRD fixture gets a card: {v}"))
        .to_string();
    let sugg: Vec<String> = card["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uuid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        sugg.len() >= 4,
        "the TRD card carries several suggestions: {card}"
    );
    (uuid, sugg)
}

/// suggestion uuid → recommendation code, as audited.
async fn suggestion_codes(db: &Client) -> BTreeMap<String, String> {
    db.query(
        "SELECT suggestion_uuid, recommendation_code FROM audit_suggestion",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// SIGKILL durability
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_feedback_survives_sigkill_and_restart_reapplies_no_migration() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let http = reqwest::Client::new();
    let mut svc = start_service(db.url(), &[]);
    wait_ready_on_postgres(&mut svc).await;
    let pg = sql(db.url()).await;
    let history = migration_history(&pg).await;
    assert_eq!(
        history.len(),
        PgStore::embedded_migrations().len(),
        "{history:?}"
    );

    let (card, s) = first_card(post(&http, &svc.base, PV, &hook_body(&new_instance())).await).await;
    // The feedback must find its card: wait for the (asynchronous) audit row.
    wait_count(
        &pg,
        "SELECT count(*) FROM audit_card WHERE card_uuid = $1",
        &[&card],
        1,
        Duration::from_secs(5),
    )
    .await;

    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::minutes(10);
    let at =
        |i: i64| rfc3339(t0 + time::Duration::seconds(i) + time::Duration::microseconds(123_456));
    let bodies = [
        ("accepted", at(1), accepted(&card, &[&s[0]], &at(1))),
        (
            "overridden",
            at(2),
            overridden(&card, "patient-declined", None, &at(2)),
        ),
        ("accepted", at(3), accepted(&card, &[&s[1], &s[2]], &at(3))),
        (
            "overridden",
            at(4),
            overridden(
                &card,
                "not-appropriate",
                Some("discussed with the team"),
                &at(4),
            ),
        ),
        ("accepted", at(5), accepted(&card, &[&s[3]], &at(5))),
        (
            "overridden",
            at(6),
            overridden(&card, "patient-declined", None, &at(6)),
        ),
    ];
    let mut acked: Vec<(&str, String)> = Vec::new();
    for (o, t, body) in &bodies[..4] {
        assert_eq!(ack(post(&http, &svc.base, FB, body).await).await, (1, 0, 0));
        acked.push((*o, t.clone()));
    }
    // The last two concurrently, and kill -9 the moment both are acknowledged: a store that answered
    // before its commit would lose them here.
    let (a, b) = tokio::join!(
        post(&http, &svc.base, FB, &bodies[4].2),
        post(&http, &svc.base, FB, &bodies[5].2)
    );
    let (a, b) = (a.status(), b.status());
    svc.sigkill();
    assert_eq!((a.as_u16(), b.as_u16()), (200, 200));
    for (o, t, _) in &bodies[4..] {
        acked.push((*o, t.clone()));
    }

    // Every acknowledged row is in the database, exactly once.
    for (o, t) in &acked {
        let n = count(
            &pg,
            "SELECT count(*) FROM feedback WHERE card_uuid = $1 AND outcome = $2 AND outcome_timestamp = $3::text::timestamptz AND matched",
            &[&card, o, t],
        )
        .await;
        assert_eq!(
            n, 1,
            "acknowledged {o} feedback at {t} missing after kill -9"
        );
    }
    assert_eq!(
        count(&pg, "SELECT count(*) FROM feedback", &[]).await,
        acked.len() as i64
    );

    // Restart on the same database: nothing re-applied, everything still served.
    let mut svc = start_service(db.url(), &[]);
    wait_ready_on_postgres(&mut svc).await;
    assert_eq!(
        migration_history(&pg).await,
        history,
        "restart must not re-apply (or re-record) a migration"
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM feedback", &[]).await,
        acked.len() as i64
    );

    let codes = suggestion_codes(&pg).await;
    let sum = summary(&http, &svc.base).await;
    assert_eq!(
        counts_of(&sum["by_card_kind"], "kind", "trd"),
        (1, 3, 3),
        "{sum}"
    );
    let trd_reasons = reasons_of(&sum["by_card_kind"], "kind", "trd");
    assert_eq!(
        trd_reasons,
        BTreeMap::from([
            (format!("{REASONS}|patient-declined"), 2),
            (format!("{REASONS}|not-appropriate"), 1)
        ])
    );
    for (i, su) in s.iter().enumerate() {
        let expected_accepted = u64::from(i <= 3);
        assert_eq!(
            counts_of(&sum["by_recommendation_code"], "code", &codes[su]),
            (1, expected_accepted, 3),
            "{}: {sum}",
            codes[su]
        );
    }
    assert_eq!(sum["unmatched"], json!({"accepted": 0, "overridden": 0}));

    // The dedup key survived too: the EHR's retry after the crash is a duplicate, not a new row.
    assert_eq!(
        ack(post(&http, &svc.base, FB, &bodies[5].2).await).await,
        (0, 1, 0)
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM feedback", &[]).await,
        acked.len() as i64
    );
}

// ---------------------------------------------------------------------------------------------
// Full audit queue → 503
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_queue_answers_503_and_every_200_has_its_audit_row() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // The opt-in asynchronous mode: calls are answered once their row is queued, so a blocked
    // writer shows up as a full queue. (Sync mode, the default, answers no call while its commit
    // is blocked: tests/it/audit_durability.rs.)
    let app = spawn_app(&[
        ("DATABASE_URL", db.url()),
        ("TRD_CDS_AUDIT_MODE", "async"),
        ("TRD_CDS_AUDIT_QUEUE", "1"),
        ("TRD_CDS_PATIENT_HASH_SECRET", SECRET),
    ])
    .await;
    let pg = sql(db.url()).await;
    // The database stops taking audit rows: the writer blocks in its INSERT with one batch in hand.
    lock_audit_table(&pg).await;

    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let instance = new_instance();
        let resp = app.post_json(PV, &hook_body(&instance)).await;
        match resp.status().as_u16() {
            200 => ok.push(instance),
            503 => {
                assert_eq!(
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                    Some("1"),
                    "a 503 tells the client when to retry"
                );
                let v = outcome(resp, 503).await;
                assert_eq!(v["issue"][0]["code"], "transient", "{v}");
                assert!(
                    v["issue"][0]["diagnostics"]
                        .as_str()
                        .unwrap()
                        .contains("audit queue"),
                    "{v}"
                );
                refused.push(instance);
                if refused.len() == 3 {
                    break;
                }
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(!ok.is_empty(), "calls before the queue filled are served");
    assert_eq!(
        refused.len(),
        3,
        "a blocked database must turn into 503s (got {} × 200 and no 503)",
        ok.len()
    );
    // Capacity 1 (+ the batch in the writer's hands): at most 2 calls can be accepted.
    assert!(
        ok.len() <= 2,
        "{} calls served while the audit writer was blocked",
        ok.len()
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM audit_event", &[]).await,
        0,
        "nothing written while locked"
    );

    pg.batch_execute("COMMIT").await.unwrap();
    wait_count(
        &pg,
        "SELECT count(*) FROM audit_event",
        &[],
        ok.len() as i64,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // nothing else shows up late
    let audited: BTreeSet<String> = pg
        .query("SELECT hook_instance FROM audit_event", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        audited,
        ok.iter().cloned().collect::<BTreeSet<_>>(),
        "exactly the 200s are audited, none of the 503s"
    );
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM audit_event WHERE outcome_code = 200",
            &[]
        )
        .await,
        ok.len() as i64
    );

    // The queue recovers once the database does.
    let instance = new_instance();
    assert_eq!(app.post_json(PV, &hook_body(&instance)).await.status(), 200);
    wait_count(
        &pg,
        "SELECT count(*) FROM audit_event WHERE hook_instance = $1",
        &[&instance],
        1,
        Duration::from_secs(5),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Audit content; no patient id anywhere
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_hold_the_call_and_its_cards_and_never_the_patient_id() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app = spawn_app(&[
        ("DATABASE_URL", db.url()),
        ("TRD_CDS_PATIENT_HASH_SECRET", SECRET),
    ])
    .await;
    let pg = sql(db.url()).await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    let kb_version = ready["knowledge_base"].as_str().unwrap().to_string();
    let patient_hash = PatientHasher::new(SECRET).hash(&format!("Patient/{PATIENT_ID}"));

    // A hook call with cards.
    let instance = new_instance();
    let resp = app.post_json(PV, &hook_body(&instance)).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let cards = answer["cards"].as_array().unwrap().clone();
    assert!(!cards.is_empty());
    // A 412 (required prefetch missing).
    let instance_412 = new_instance();
    outcome(app.post_json(PV, &hook_body_412(&instance_412)).await, 412).await;
    // An assessment-API call.
    let resp = app
        .client
        .post(format!("{}/api/v1/assessments?as_of=2026-03-01", app.base))
        .header("content-type", "application/fhir+json")
        .body(fixture("bundle-trd.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Feedback with a free-text comment (stored, but it is not an identifier).
    wait_count(
        &pg,
        "SELECT count(*) FROM audit_event",
        &[],
        3,
        Duration::from_secs(5),
    )
    .await;
    let card0 = cards[0]["uuid"].as_str().unwrap();
    let now = rfc3339(OffsetDateTime::now_utc());
    assert_eq!(
        ack(app
            .post_json(
                FB,
                &overridden(
                    card0,
                    "not-appropriate",
                    Some("will revisit next visit"),
                    &now
                )
            )
            .await)
        .await,
        (1, 0, 0)
    );

    // The hook call's row.
    let r = pg
        .query_one(
            "SELECT id, service_id, hook, hook_instance, kb_version, status, outcome_code, latency_us, patient_hash, client_iss \
             FROM audit_event WHERE hook_instance = $1",
            &[&instance],
        )
        .await
        .unwrap();
    let event_id: i64 = r.get(0);
    assert_eq!(r.get::<_, String>(1), "trd-patient-view");
    assert_eq!(r.get::<_, String>(2), "patient-view");
    assert_eq!(r.get::<_, String>(4), kb_version);
    assert_eq!(
        r.get::<_, String>(5),
        "met",
        "TRD criteria met for the fixture patient"
    );
    assert_eq!(r.get::<_, i16>(6), 200);
    let latency: i64 = r.get(7);
    assert!(
        latency > 0 && latency < 10_000_000,
        "latency_us = {latency}"
    );
    assert_eq!(
        r.get::<_, Option<String>>(8).as_deref(),
        Some(patient_hash.as_str())
    );
    assert_eq!(r.get::<_, Option<String>>(9), None);

    // Its cards: the uuids and summaries returned, in order, each with its suggestions.
    let rows = pg
        .query(
            "SELECT id, card_uuid, summary, kind FROM audit_card WHERE event_id = $1 ORDER BY id",
            &[&event_id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), cards.len());
    for (row, card) in rows.iter().zip(&cards) {
        assert_eq!(row.get::<_, String>(1), card["uuid"].as_str().unwrap());
        assert_eq!(row.get::<_, String>(2), card["summary"].as_str().unwrap());
        assert!(!row.get::<_, String>(3).is_empty());
        let audited: BTreeSet<String> = pg
            .query(
                "SELECT suggestion_uuid FROM audit_suggestion WHERE card_id = $1",
                &[&row.get::<_, i64>(0)],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let returned: BTreeSet<String> = card["suggestions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["uuid"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(audited, returned);
    }

    // The 412: audited with its outcome, no patient hash, no cards.
    let r = pg.query_one("SELECT id, outcome_code, patient_hash, status FROM audit_event WHERE hook_instance = $1", &[&instance_412]).await.unwrap();
    assert_eq!(r.get::<_, i16>(1), 412);
    assert_eq!(r.get::<_, Option<String>>(2), None);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM audit_card WHERE event_id = $1",
            &[&r.get::<_, i64>(0)]
        )
        .await,
        0
    );

    // The assessment-API call: audited, same patient hash (same reference form as the hook).
    let r = pg
        .query_one("SELECT hook, outcome_code, patient_hash, kb_version, status FROM audit_event WHERE service_id = 'assessment-api'", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "assessment-api");
    assert_eq!(r.get::<_, i16>(1), 200);
    assert_eq!(
        r.get::<_, Option<String>>(2).as_deref(),
        Some(patient_hash.as_str())
    );
    assert_eq!(r.get::<_, String>(3), kb_version);
    assert!(!r.get::<_, String>(4).is_empty());

    // No identifier anywhere: every text-like column of every table in the schema.
    let columns = pg
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND (data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') \
             OR (data_type = 'ARRAY' AND udt_name IN ('_text', '_varchar')))",
            &[],
        )
        .await
        .unwrap();
    let columns: Vec<(String, String)> = columns.iter().map(|r| (r.get(0), r.get(1))).collect();
    for must in [
        ("audit_event", "patient_hash"),
        ("audit_event", "hook_instance"),
        ("audit_card", "summary"),
        ("feedback", "override_comment"),
        ("feedback", "card_codes"),
    ] {
        assert!(
            columns.iter().any(|(t, c)| t == must.0 && c == must.1),
            "column scan misses {must:?}: {columns:?}"
        );
    }
    let hits = |needle: String| {
        let pg = &pg;
        let columns = &columns;
        async move {
            let mut found = Vec::new();
            for (t, c) in columns {
                let q = format!(
                    "SELECT count(*) FROM \"{t}\" WHERE \"{c}\"::text ILIKE '%' || $1 || '%'"
                );
                if count(pg, &q, &[&needle]).await > 0 {
                    found.push(format!("{t}.{c}"));
                }
            }
            found
        }
    };
    // The scan itself works (it finds what is there) ...
    assert_eq!(
        hits(patient_hash.clone()).await,
        ["audit_event.patient_hash"]
    );
    assert!(
        hits("will revisit".into())
            .await
            .contains(&"feedback.override_comment".to_string())
    );
    // ... and finds no patient id, patient reference, birth date or user id.
    for needle in [PATIENT_ID, "1980-04-02", "Practitioner/example"] {
        assert_eq!(
            hits(needle.to_string()).await,
            Vec::<String>::new(),
            "'{needle}' is stored"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Feedback joins the audited card; the summary counts it
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_an_audited_card_is_matched_and_summarised() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app: TestApp = spawn_app(&[
        ("DATABASE_URL", db.url()),
        ("TRD_CDS_PATIENT_HASH_SECRET", SECRET),
    ])
    .await;
    let pg = sql(db.url()).await;

    // The same patient seen twice: the card (same uuid: same data) is shown twice.
    let (card, s) = first_card(app.post_json(PV, &hook_body(&new_instance())).await).await;
    let (again, _) = first_card(app.post_json(PV, &hook_body(&new_instance())).await).await;
    assert_eq!(card, again);
    wait_count(
        &pg,
        "SELECT count(*) FROM audit_card WHERE card_uuid = $1",
        &[&card],
        2,
        Duration::from_secs(5),
    )
    .await;
    let codes = suggestion_codes(&pg).await;
    let kind: String = pg
        .query_one(
            "SELECT kind FROM audit_card WHERE card_uuid = $1 LIMIT 1",
            &[&card],
        )
        .await
        .unwrap()
        .get(0);
    let all_codes: BTreeSet<String> = s.iter().map(|u| codes[u].clone()).collect();

    let t = |secs: i64| rfc3339(OffsetDateTime::now_utc() - time::Duration::seconds(secs));
    assert_eq!(
        ack(app
            .post_json(FB, &accepted(&card, &[&s[1], &s[2]], &t(30)))
            .await)
        .await,
        (1, 0, 0)
    );
    assert_eq!(
        ack(app
            .post_json(FB, &overridden(&card, "patient-declined", None, &t(20)))
            .await)
        .await,
        (1, 0, 0)
    );
    assert_eq!(
        ack(app
            .post_json(
                FB,
                &overridden(&card, "patient-declined", Some("prefers therapy"), &t(10))
            )
            .await)
        .await,
        (1, 0, 0)
    );
    // A card this service never issued: kept, but unmatched.
    let stranger = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        ack(app.post_json(FB, &accepted(&stranger, &["x"], &t(5))).await).await,
        (1, 0, 1)
    );

    // In the table: matched, with the card's kind and codes copied from the audit trail.
    let rows = pg
        .query("SELECT outcome, matched, card_kind, card_codes, accepted_codes FROM feedback WHERE card_uuid = $1 ORDER BY outcome_timestamp", &[&card])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(
            r.get::<_, bool>(1),
            "feedback on an audited card must be matched"
        );
        assert_eq!(
            r.get::<_, Option<String>>(2).as_deref(),
            Some(kind.as_str())
        );
        assert_eq!(
            r.get::<_, Vec<String>>(3)
                .into_iter()
                .collect::<BTreeSet<_>>(),
            all_codes
        );
    }
    let accepted_codes: BTreeSet<String> = rows[0].get::<_, Vec<String>>(4).into_iter().collect();
    assert_eq!(
        accepted_codes,
        BTreeSet::from([codes[&s[1]].clone(), codes[&s[2]].clone()])
    );
    let r = pg
        .query_one(
            "SELECT matched, card_kind FROM feedback WHERE card_uuid = $1",
            &[&stranger],
        )
        .await
        .unwrap();
    assert!(!r.get::<_, bool>(0));
    assert_eq!(r.get::<_, Option<String>>(1), None);

    // The summary over HTTP.
    let sum = summary(&app.client, &app.base).await;
    assert_eq!(
        counts_of(&sum["by_card_kind"], "kind", &kind),
        (2, 1, 2),
        "{sum}"
    );
    assert_eq!(
        reasons_of(&sum["by_card_kind"], "kind", &kind),
        BTreeMap::from([(format!("{REASONS}|patient-declined"), 2)])
    );
    for u in &s {
        let code = &codes[u];
        let acc = u64::from(u == &s[1] || u == &s[2]);
        assert_eq!(
            counts_of(&sum["by_recommendation_code"], "code", code),
            (2, acc, 2),
            "{code}: {sum}"
        );
        assert_eq!(
            reasons_of(&sum["by_recommendation_code"], "code", code),
            BTreeMap::from([(format!("{REASONS}|patient-declined"), 2)])
        );
    }
    assert_eq!(sum["unmatched"], json!({"accepted": 1, "overridden": 0}));
}

// ---------------------------------------------------------------------------------------------
// SIGTERM drains the audit queue
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_every_accepted_audit_row_before_exit() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Async mode (opt-in), so that rows can still be queued, unwritten, behind answered calls when
    // the signal arrives; in sync mode no call is answered before its row is committed.
    let mut svc = start_service(db.url(), &[("TRD_CDS_AUDIT_MODE", "async")]);
    let http = reqwest::Client::new();
    wait_ready_on_postgres(&mut svc).await;
    let pg = sql(db.url()).await;
    // Hold the writer back so that the rows are still queued when the signal arrives.
    lock_audit_table(&pg).await;
    let mut expected: BTreeMap<String, i16> = BTreeMap::new();
    for i in 0..6 {
        let instance = new_instance();
        if i % 3 == 2 {
            outcome(
                post(&http, &svc.base, PV, &hook_body_412(&instance)).await,
                412,
            )
            .await;
            expected.insert(instance, 412);
        } else {
            assert_eq!(
                post(&http, &svc.base, PV, &hook_body(&instance))
                    .await
                    .status(),
                200
            );
            expected.insert(instance, 200);
        }
    }
    // A 400 is not a served call: it is not audited.
    outcome(post(&http, &svc.base, PV, "{not json").await, 400).await;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM audit_event", &[]).await,
        0,
        "rows still pending at SIGTERM"
    );
    drop(http); // no idle keep-alive connection to wait for

    svc.sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        svc.running(),
        "the process must wait for its audit rows, not exit; log:\n{}",
        svc.log_text()
    );
    pg.batch_execute("COMMIT").await.unwrap();
    let status = svc.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        svc.log_text()
    );

    let audited: BTreeMap<String, i16> = pg
        .query("SELECT hook_instance, outcome_code FROM audit_event", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        audited, expected,
        "every 200/412 answered before SIGTERM is audited after exit"
    );
}
