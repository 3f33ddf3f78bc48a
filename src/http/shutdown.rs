//! Graceful shutdown that lets a load balancer drain this replica before it stops accepting.
//!
//! On the first SIGTERM (or SIGINT) `/readyz` answers 503 while every other route keeps serving for
//! `TRD_CDS_SHUTDOWN_DRAIN_MS`: health checks that watch `/readyz` (HAProxy, a Kubernetes readiness
//! probe) take the replica out of rotation without a failed call. Then actix stops accepting, lets
//! in-flight requests finish (its shutdown grace) and `Application::run_until_stopped` drains the
//! audit queue. A second signal during the drain skips the rest of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;

/// Set once shutdown has begun; read by `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Waits for SIGTERM or SIGINT, marks the replica draining, waits `drain` (or a second signal),
/// then stops the server gracefully.
pub(crate) async fn stop_on_signal(server: ServerHandle, draining: Draining, drain: Duration) {
    let mut signals = Signals::install();
    let which = signals.next().await;
    draining.begin();
    tracing::info!(
        signal = which,
        drain_ms = drain.as_millis() as u64,
        "shutdown requested: /readyz answers 503 while load balancers drain this replica"
    );
    tokio::select! {
        () = tokio::time::sleep(drain) => {}
        which = signals.next() => tracing::info!(signal = which, "second signal: drain cut short"),
    }
    tracing::info!("no longer accepting connections; in-flight requests finish");
    server.stop(true).await;
}

/// SIGTERM (what Kubernetes, Docker and systemd send) and SIGINT (Ctrl-C).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate())
                .inspect_err(|e| tracing::error!("cannot handle SIGTERM gracefully: {e}"))
                .ok();
            Signals { term }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some(term) = self.term.as_mut() {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
        }
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            // No signal can be received: never begin a shutdown from here.
            Err(_) => std::future::pending().await,
        }
    }
}
