//! "No 200 without its audit row" (issue 13 item 5), proved over HTTP against the built binary:
//! start `trd-cds serve` on a fresh PostgreSQL database, drive concurrent `patient-view` calls,
//! SIGKILL the process mid-load, then check that every call answered 200 has its `audit_event`
//! row. Calls are correlated by their `hookInstance` (a fresh UUID per call, stored in the row).
//!
//! - `sync_mode_keeps_every_answered_call_under_sigkill`: the default mode, plain load.
//! - `sync_mode_with_a_stalled_commit`: the audit table is locked (a database that does not
//!   commit) while calls arrive; SIGKILL while they wait. No call may have been answered 200.
//! - `async_mode_loses_answered_calls_with_a_stalled_commit`: the same with
//!   `TRD_CDS_AUDIT_MODE=async` loses rows of calls answered 200, deterministically — the opt-in's
//!   documented risk, and proof that the check above has teeth.
//! - `a_failed_commit_is_503_not_200`: with the audit table gone, the call answers 503 with an
//!   OperationOutcome (in process, `tests/it/common/app.rs`).
//! - `async_mode_under_plain_load` (ignored: whether rows are lost depends on timing): run it a
//!   few times with `--ignored` to see the asynchronous mode lose rows without any lock.

use crate::common::app;
use crate::common::pg;
use crate::common::process::ServiceProcess;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::NoTls;

const CONNECTIONS: usize = 16;

/// The binary (`common::process`; `TRD_CDS_TEST_BIN` runs these checks against another build, e.g.
/// an older release, to see it lose rows) on `db_url` in audit `mode`, ready on PostgreSQL.
async fn start(db_url: &str, mode: &str) -> ServiceProcess {
    let mut svc = ServiceProcess::spawn(&[
        ("DATABASE_URL", db_url),
        ("TRD_CDS_WORKERS", "2"),
        ("TRD_CDS_AUDIT_MODE", mode),
        (
            "TRD_CDS_PATIENT_HASH_SECRET",
            "audit-durability-test-secret",
        ),
        ("RUST_LOG", "error"),
    ]);
    let ready = svc.wait_ready().await;
    assert_eq!(ready["store"], "postgres", "not on PostgreSQL: {ready}");
    svc
}

fn request_body(hook_instance: &str) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/patient-view-trd.json"
    ))
    .expect("fixture");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    v["hookInstance"] = hook_instance.into();
    v.to_string()
}

/// Hook calls on `CONNECTIONS` connections until `stop`; returns the hookInstances answered 200.
fn drive(base: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<HashSet<String>> {
    let url = format!("{base}/cds-services/trd-patient-view");
    tokio::spawn(async move {
        let ok = Arc::new(Mutex::new(HashSet::new()));
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (url, stop, ok) = (url.clone(), stop.clone(), ok.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        let id = uuid::Uuid::new_v4().to_string();
                        let sent = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(request_body(&id))
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status() == 200 => {
                                // Only a complete 200 answer counts as "the EHR saw it answered".
                                if r.bytes().await.is_ok() {
                                    ok.lock().await.insert(id);
                                }
                            }
                            Ok(_) => {}
                            // The service is gone (SIGKILL): stop this connection.
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(ok).expect("tasks done").into_inner()
    })
}

async fn audited(db_url: &str) -> HashSet<String> {
    let (client, conn) = tokio_postgres::connect(db_url, NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .query("SELECT hook_instance FROM audit_event", &[])
        .await
        .expect("query audit_event")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// Answered-200 calls without an audit row.
fn missing(answered: &HashSet<String>, rows: &HashSet<String>) -> usize {
    answered.difference(rows).count()
}

/// Plain load, SIGKILL after `load_for`; returns (answered 200, missing rows).
async fn kill_under_load(mode: &str, load_for: Duration) -> Option<(usize, usize)> {
    let db = pg::TestDb::create().await?;
    let mut svc = start(db.url(), mode).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = drive(&svc.base, stop.clone());
    tokio::time::sleep(load_for).await;
    svc.sigkill();
    stop.store(true, Ordering::Relaxed);
    let answered = load.await.expect("load task");
    let rows = audited(db.url()).await;
    Some((answered.len(), missing(&answered, &rows)))
}

/// The audit table locked (the writer's INSERT blocks: a database that does not commit) while
/// calls arrive, then SIGKILL; returns (answered 200 in total, missing rows).
async fn kill_with_stalled_commit(mode: &str) -> Option<(usize, usize)> {
    let db = pg::TestDb::create().await?;
    let mut svc = start(db.url(), mode).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = drive(&svc.base, stop.clone());
    // Let some calls through first, so that the run is not vacuous in either mode.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (locker, conn) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    locker
        .batch_execute("BEGIN; LOCK TABLE audit_event IN EXCLUSIVE MODE")
        .await
        .expect("lock audit_event");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    svc.sigkill();
    stop.store(true, Ordering::Relaxed);
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let answered = load.await.expect("load task");
    let rows = audited(db.url()).await;
    Some((answered.len(), missing(&answered, &rows)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_mode_keeps_every_answered_call_under_sigkill() {
    let Some((answered, missing)) = kill_under_load("sync", Duration::from_millis(2500)).await
    else {
        return;
    };
    assert!(
        answered > 20,
        "too few calls answered to prove anything: {answered}"
    );
    assert_eq!(
        missing, 0,
        "{missing} of {answered} calls answered 200 have no audit row after SIGKILL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_mode_with_a_stalled_commit() {
    let Some((answered, missing)) = kill_with_stalled_commit("sync").await else {
        return;
    };
    assert!(answered > 5, "too few calls answered: {answered}");
    assert_eq!(
        missing, 0,
        "{missing} of {answered} calls answered 200 have no audit row after SIGKILL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_mode_loses_answered_calls_with_a_stalled_commit() {
    let Some((answered, missing)) = kill_with_stalled_commit("async").await else {
        return;
    };
    assert!(
        missing > 0,
        "async mode answered {answered} calls and lost none: the stalled-commit check has no teeth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "timing-dependent: shows async mode losing rows under plain load; run a few times by hand"]
async fn async_mode_under_plain_load() {
    let Some((answered, missing)) = kill_under_load("async", Duration::from_millis(2500)).await
    else {
        return;
    };
    eprintln!("async, plain load: {answered} answered 200, {missing} without an audit row");
    assert_eq!(missing, 0, "{missing} of {answered} answered calls lost");
}

/// The audit table renamed away (every commit fails): the call is answered 503 with an
/// OperationOutcome, not 200 without its row; back in place, the next call is 200 and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_503_not_200() {
    let Some(db) = pg::TestDb::create().await else {
        return;
    };
    let app = app::spawn_app(&[("DATABASE_URL", db.url())]).await;
    let (sql, conn) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let path = "/cds-services/trd-patient-view";

    sql.batch_execute("ALTER TABLE audit_event RENAME TO audit_event_away")
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let r = app.post_json(path, &request_body(&id)).await;
    assert_eq!(r.status(), 503);
    let outcome: serde_json::Value = r.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert!(outcome.to_string().contains("audit record"), "{outcome}");

    sql.batch_execute("ALTER TABLE audit_event_away RENAME TO audit_event")
        .await
        .unwrap();
    let id2 = uuid::Uuid::new_v4().to_string();
    let r = app.post_json(path, &request_body(&id2)).await;
    assert_eq!(r.status(), 200);
    let rows = audited(db.url()).await;
    assert!(rows.contains(&id2));
    assert!(
        !rows.contains(&id),
        "a call answered 503 was not served: no row"
    );
}
