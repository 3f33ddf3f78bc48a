//! Graceful shutdown drains the replica first, over real HTTP and a real signal: the built
//! `trd-cds` binary is started on a loopback port, sent SIGTERM, and observed answering `/readyz`
//! with 503 while `/healthz` and a hook call still get 200, then stopping on its own.

use std::time::{Duration, Instant};

use crate::common::process::ServiceProcess;

/// The drain the child is started with: long enough to observe, short enough for CI.
const DRAIN: Duration = Duration::from_millis(2500);

/// Starts the binary (in-memory store, JWT checks off) and waits until it is ready.
async fn start() -> ServiceProcess {
    let drain = DRAIN.as_millis().to_string();
    let mut svc = ServiceProcess::spawn(&[
        ("TRD_CDS_SHUTDOWN_DRAIN_MS", drain.as_str()),
        ("RUST_LOG", "info"),
    ]);
    svc.wait_ready().await;
    svc
}

async fn status(client: &reqwest::Client, url: &str) -> Result<u16, reqwest::Error> {
    client.get(url).send().await.map(|r| r.status().as_u16())
}

#[tokio::test]
async fn sigterm_fails_readyz_first_keeps_serving_then_stops() {
    let mut svc = start().await;
    // No connection reuse: every probe is a new connection, as a load balancer's health check is.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let readyz = format!("{}/readyz", svc.base);
    let healthz = format!("{}/healthz", svc.base);
    assert_eq!(status(&client, &readyz).await.unwrap(), 200, "ready before");

    svc.sigterm();
    let signalled = Instant::now();

    // /readyz turns 503 (an OperationOutcome saying why) well within the drain...
    let answer = loop {
        let r = client.get(&readyz).send().await.expect("still accepting");
        if r.status().as_u16() == 503 {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(
            signalled.elapsed() < DRAIN / 2,
            "/readyz still answers {} after SIGTERM",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answer["resourceType"], "OperationOutcome");
    assert_eq!(answer["issue"][0]["code"], "transient");
    // ... while liveness and the service itself still answer.
    assert_eq!(status(&client, &healthz).await.unwrap(), 200);
    let body = std::fs::read_to_string("tests/fixtures/patient-view-trd.json").unwrap();
    let hook = client
        .post(format!("{}/cds-services/trd-patient-view", svc.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status().as_u16(), 200, "hook calls are still served");
    assert!(
        signalled.elapsed() < DRAIN,
        "the checks above ran within the drain"
    );
    assert!(svc.running(), "still running");

    // Then it stops by itself: no new connection is accepted, the process exits cleanly.
    let exit = svc.wait_exit(DRAIN + Duration::from_secs(20)).await;
    assert!(exit.success(), "clean exit, got {exit}");
    assert!(
        signalled.elapsed() >= DRAIN,
        "stopped after {:?}, before the drain of {DRAIN:?} was over",
        signalled.elapsed()
    );
    assert!(
        status(&client, &healthz).await.is_err(),
        "nothing listens any more"
    );
}
