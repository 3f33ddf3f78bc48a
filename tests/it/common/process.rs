//! The built `trd-cds` binary as a separate process (`serve` on a free loopback port): for what
//! only the real process shows — its start-up wiring from the environment, signals, shutdown.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `trd-cds serve`, killed when dropped. Its stdout and stderr go to a temp file.
pub struct ServiceProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
}

/// The binary under test: `TRD_CDS_TEST_BIN` runs the process tests against another build (e.g.
/// an older release, to see it fail them), else this build's.
fn binary() -> String {
    std::env::var("TRD_CDS_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_trd-cds").to_string())
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl ServiceProcess {
    /// Starts the binary with only `env` (plus its address, an in-memory store, JWT checks off,
    /// one worker); none of the caller's environment leaks in.
    pub fn spawn(env: &[(&str, &str)]) -> ServiceProcess {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "trd-cds-process-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary())
            .arg("serve")
            .env_clear()
            .env("TRD_CDS_ADDR", format!("127.0.0.1:{port}"))
            .env("TRD_CDS_AUTH", "off")
            .env("TRD_CDS_WORKERS", "1")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("the trd-cds binary starts");
        ServiceProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (≤ 30 s) for `/readyz` to answer 200 and returns its body (e.g. `store`); panics with
    /// the log if the process exits.
    pub async fn wait_ready(&mut self) -> serde_json::Value {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "trd-cds exited during start-up ({status}); log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return r.json().await.expect("readiness JSON");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "trd-cds not ready within 30 s; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends SIGTERM (graceful shutdown) without waiting.
    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: sends a signal to the child this helper started and still owns.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Sends SIGTERM and waits (≤ `within`) for the process to exit by itself.
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.sigterm();
        self.wait_exit(within).await
    }

    /// `kill -9`: no graceful shutdown, no drain, nothing flushed.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }

    /// Waits (≤ `within`) for the process to exit (e.g. refusing its configuration).
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("child status") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "trd-cds still running after {within:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("trd-cds log kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
