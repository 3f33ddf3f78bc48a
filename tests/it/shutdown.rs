//! Graceful shutdown drains the replica first, over real HTTP and a real signal: the built
//! `trd-cds` binary is started on a loopback port, sent SIGTERM, and observed answering `/readyz`
//! with 503 while `/healthz` and a hook call still get 200, then stopping on its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The drain the child is started with: long enough to observe, short enough for CI.
const DRAIN: Duration = Duration::from_millis(2500);

struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on 127.0.0.1:0 (in-memory store, JWT checks off) and reads the port it
/// bound from its JSON start-up log line.
fn start() -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trd-cds"))
        .arg("serve")
        .env_clear()
        .env("TRD_CDS_ADDR", "127.0.0.1:0")
        .env("TRD_CDS_AUTH", "off")
        .env("TRD_CDS_WORKERS", "1")
        .env("TRD_CDS_LOG_FORMAT", "json")
        .env("TRD_CDS_SHUTDOWN_DRAIN_MS", DRAIN.as_millis().to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the trd-cds binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the service logs that it listens")
            .expect("log line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if let Some(p) = v["port"].as_u64() {
            break p;
        }
    };
    // Keep reading the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Service {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn status(client: &reqwest::Client, url: &str) -> Result<u16, reqwest::Error> {
    client.get(url).send().await.map(|r| r.status().as_u16())
}

#[tokio::test]
async fn sigterm_fails_readyz_first_keeps_serving_then_stops() {
    let mut svc = start();
    // No connection reuse: every probe is a new connection, as a load balancer's health check is.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let readyz = format!("{}/readyz", svc.base);
    let healthz = format!("{}/healthz", svc.base);
    assert_eq!(status(&client, &readyz).await.unwrap(), 200, "ready before");

    let pid = libc::pid_t::try_from(svc.child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
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
    assert!(svc.child.try_wait().unwrap().is_none(), "still running");

    // Then it stops by itself: no new connection is accepted, the process exits cleanly.
    let deadline = Instant::now() + DRAIN + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = svc.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
