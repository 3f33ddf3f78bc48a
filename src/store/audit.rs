//! The audit queue: request handlers enqueue; one background task batches rows into the store.
//! Bounded: when full, [`AuditQueue::enqueue`] waits up to `enqueue_wait` for room (back-pressure:
//! under overload calls slow down to what the database takes instead of failing), then gives up and
//! the HTTP layer answers 503 (no silent loss). On shutdown the writer drains every accepted row
//! before returning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Store;
use super::model::AuditRecord;

/// Tuning of the audit queue and writer.
#[derive(Debug, Clone)]
pub struct AuditQueueConfig {
    /// Rows that can wait in the queue; beyond that, enqueueing waits or answers `Full`.
    pub capacity: usize,
    /// How long [`AuditQueue::enqueue`] waits for room in a full queue before answering `Full`.
    pub enqueue_wait: Duration,
    /// Most rows written in one transaction.
    pub max_batch: usize,
    /// First retry delay after a failed write (doubles up to `max_backoff`).
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for AuditQueueConfig {
    fn default() -> Self {
        AuditQueueConfig {
            capacity: 10_000,
            enqueue_wait: Duration::ZERO,
            max_batch: 256,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Why a record was not accepted. Both mean "answer 503 (Retry-After)".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue is at capacity (the database is slow or down).
    #[error("audit queue is full")]
    Full,
    /// The writer is shutting down and takes no new rows.
    #[error("audit queue is closed")]
    Closed,
}

/// Counters of the queue (monotonic since start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Rows accepted by `enqueue`.
    pub enqueued: u64,
    /// Rows committed to the store.
    pub written: u64,
    /// Rows refused because the queue was full.
    pub rejected_full: u64,
    /// Failed batch write attempts (each retried).
    pub write_errors: u64,
    /// Rows waiting in the queue right now.
    pub queued: u64,
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    written: AtomicU64,
    rejected_full: AtomicU64,
    write_errors: AtomicU64,
    /// Set when a row is refused, cleared when one is accepted: one log line per episode of
    /// refusals, not one per refused call (thousands a second under overload).
    refusing: AtomicBool,
}

/// Producer handle; cheap to clone; put it in the HTTP app data.
#[derive(Debug, Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<AuditRecord>,
    counters: Arc<Counters>,
    enqueue_wait: Duration,
}

/// The receiving end before a writer is started (see [`AuditQueue::channel`]).
#[derive(Debug)]
pub struct AuditReceiver {
    rx: mpsc::Receiver<AuditRecord>,
    counters: Arc<Counters>,
}

impl AuditQueue {
    /// A queue and its receiving end, without a writer. Most callers want [`AuditWriter::start`];
    /// this split lets tests fill the queue before anything drains it. `enqueue` does not wait.
    pub fn channel(capacity: usize) -> (AuditQueue, AuditReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        (
            AuditQueue {
                tx,
                counters: counters.clone(),
                enqueue_wait: Duration::ZERO,
            },
            AuditReceiver { rx, counters },
        )
    }

    /// The same queue, whose [`AuditQueue::enqueue`] waits up to `wait` for room.
    pub fn with_enqueue_wait(mut self, wait: Duration) -> Self {
        self.enqueue_wait = wait;
        self
    }

    /// Hands a record to the writer; if the queue is full, waits up to the queue's `enqueue_wait`
    /// for room. `Err` means the row was NOT taken: answer 503.
    pub async fn enqueue(&self, record: AuditRecord) -> Result<(), EnqueueError> {
        let record = match self.tx.try_send(record) {
            Ok(()) => {
                self.accepted();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(EnqueueError::Closed),
            Err(mpsc::error::TrySendError::Full(record)) => record,
        };
        if !self.enqueue_wait.is_zero() {
            match tokio::time::timeout(self.enqueue_wait, self.tx.send(record)).await {
                Ok(Ok(())) => {
                    self.accepted();
                    return Ok(());
                }
                Ok(Err(_)) => return Err(EnqueueError::Closed),
                Err(_elapsed) => {}
            }
        }
        Err(self.refused())
    }

    fn accepted(&self) {
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        if self.counters.refusing.load(Ordering::Relaxed) {
            self.counters.refusing.store(false, Ordering::Relaxed);
        }
    }

    fn refused(&self) -> EnqueueError {
        let total = self.counters.rejected_full.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.counters.refusing.swap(true, Ordering::Relaxed) {
            tracing::error!(
                refused_since_start = total,
                wait_ms = self.enqueue_wait.as_millis() as u64,
                "audit queue full: refusing calls (503) until the writer catches up"
            );
        }
        EnqueueError::Full
    }

    /// Counters, for metrics and tests.
    pub fn stats(&self) -> AuditStats {
        let c = &self.counters;
        AuditStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            rejected_full: c.rejected_full.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            queued: (self.tx.max_capacity() - self.tx.capacity()) as u64,
        }
    }
}

/// The background writer. Keep it and call [`AuditWriter::shutdown`] after the HTTP server stopped.
#[derive(Debug)]
pub struct AuditWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    queue: AuditQueue,
}

impl AuditWriter {
    /// Creates the queue and spawns its writer on the current tokio runtime.
    pub fn start(store: Store, config: AuditQueueConfig) -> (AuditQueue, AuditWriter) {
        let (queue, rx) = AuditQueue::channel(config.capacity);
        let queue = queue.with_enqueue_wait(config.enqueue_wait);
        let writer = AuditWriter::spawn(store, rx, queue.clone(), config);
        (queue, writer)
    }

    /// Spawns a writer on a receiver from [`AuditQueue::channel`].
    pub fn spawn(
        store: Store,
        receiver: AuditReceiver,
        queue: AuditQueue,
        config: AuditQueueConfig,
    ) -> AuditWriter {
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(store, receiver, stop_rx, config));
        AuditWriter { stop, task, queue }
    }

    /// Counters (same as [`AuditQueue::stats`]).
    pub fn stats(&self) -> AuditStats {
        self.queue.stats()
    }

    /// Stops taking new rows (`enqueue` → `Closed`), writes everything already accepted, and
    /// returns the final counters. Retries database errors until done: wrap it in a timeout if the
    /// process must exit regardless (see [`AuditWriter::shutdown_within`]).
    pub async fn shutdown(self) -> AuditStats {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "audit writer task failed");
        }
        self.queue.stats()
    }

    /// Like [`AuditWriter::shutdown`], but gives up after `deadline`; rows still unwritten are then
    /// lost, and the error says how many (also logged at error level).
    pub async fn shutdown_within(self, deadline: Duration) -> Result<AuditStats, AuditStats> {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(deadline, &mut task).await {
            Ok(_) => Ok(self.queue.stats()),
            Err(_) => {
                task.abort();
                let s = self.queue.stats();
                tracing::error!(
                    unwritten = s.enqueued - s.written,
                    "audit writer did not drain before the shutdown deadline; rows lost"
                );
                Err(s)
            }
        }
    }
}

async fn run(
    store: Store,
    receiver: AuditReceiver,
    mut stop: oneshot::Receiver<()>,
    config: AuditQueueConfig,
) {
    let AuditReceiver { mut rx, counters } = receiver;
    let max_batch = config.max_batch.max(1);
    let mut buf: Vec<AuditRecord> = Vec::with_capacity(max_batch);
    let mut stopping = false;
    loop {
        let n = if stopping {
            rx.recv_many(&mut buf, max_batch).await
        } else {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    // Also fires if the AuditWriter was dropped without shutdown: drain either way.
                    stopping = true;
                    rx.close();
                    continue;
                }
                n = rx.recv_many(&mut buf, max_batch) => n,
            }
        };
        if n == 0 {
            // Closed and empty: every accepted row is written.
            break;
        }
        write_with_retry(&store, &buf, &counters, &config).await;
        buf.clear();
    }
}

async fn write_with_retry(
    store: &Store,
    batch: &[AuditRecord],
    counters: &Counters,
    config: &AuditQueueConfig,
) {
    let mut ids = None;
    let mut backoff = config.initial_backoff;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let started = std::time::Instant::now();
        match store.write_audit_batch(batch, &mut ids).await {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::debug!(
                    rows = batch.len(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "audit batch written"
                );
                if attempt > 1 {
                    tracing::info!(
                        rows = batch.len(),
                        attempt,
                        "audit batch written after retry"
                    );
                }
                return;
            }
            Err(e) => {
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    error = %e,
                    rows = batch.len(),
                    attempt,
                    retry_in_ms = backoff.as_millis() as u64,
                    "audit batch write failed; keeping the rows and retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}
