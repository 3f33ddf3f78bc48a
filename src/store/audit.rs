//! The audit queue: request handlers enqueue; one background task batches rows into the store.
//! Bounded: when full, [`AuditQueue::enqueue`] waits up to `enqueue_wait` for room (back-pressure:
//! under overload calls slow down to what the database takes instead of failing), then gives up and
//! the HTTP layer answers 503 (no silent loss). On shutdown the writer drains every accepted row
//! before returning.
//!
//! Durability ([`AuditMode`]): by default (`Sync`) `enqueue` returns only once the row is
//! committed, so no call is answered 200 without its row surviving a crash. The writer commits
//! everything queued in one transaction and then wakes every waiter (group commit): a commit costs
//! one round trip for all the calls that arrived meanwhile, so throughput stays close to the
//! asynchronous mode's. `Async` (opt-in) returns once the row is queued; a crash loses what was
//! still queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Store;
use super::model::AuditRecord;

/// When [`AuditQueue::enqueue`] returns, relative to the commit of the row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditMode {
    /// After the transaction holding the row committed (group commit): an answered call always has
    /// its row, even after SIGKILL or power loss. If that commit fails, `enqueue` answers
    /// [`EnqueueError::NotCommitted`] (the HTTP layer answers 503) and the row is not retried.
    #[default]
    Sync,
    /// As soon as the row is queued; the writer commits it moments later and retries failures.
    /// Faster, but a crash loses the rows still queued (calls already answered).
    Async,
}

impl AuditMode {
    /// `sync` | `async`, as `TRD_CDS_AUDIT_MODE` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditMode::Sync => "sync",
            AuditMode::Async => "async",
        }
    }
}

/// Tuning of the audit queue and writer.
#[derive(Debug, Clone)]
pub struct AuditQueueConfig {
    /// Whether `enqueue` waits for the commit (default) or only for the queue.
    pub mode: AuditMode,
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
    /// Where the writer records queue wait and commit latency (`None`: nowhere).
    pub metrics: Option<AuditWriterMetrics>,
}

/// Histograms the writer observes (the HTTP layer's [`crate::http::metrics::Metrics`] owns them).
#[derive(Debug, Clone)]
pub struct AuditWriterMetrics {
    /// Per row: from `enqueue` to the writer taking it.
    pub queue_wait: prometheus::Histogram,
    /// Per batch write attempt (one transaction).
    pub commit: prometheus::Histogram,
}

impl Default for AuditQueueConfig {
    fn default() -> Self {
        AuditQueueConfig {
            mode: AuditMode::Sync,
            capacity: 10_000,
            enqueue_wait: Duration::ZERO,
            max_batch: 256,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            metrics: None,
        }
    }
}

/// Why a record was not accepted (or, in [`AuditMode::Sync`], not committed). Each means "answer
/// 503 (Retry-After)".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue is at capacity (the database is slow or down).
    #[error("audit queue is full")]
    Full,
    /// The writer is shutting down and takes no new rows.
    #[error("audit queue is closed")]
    Closed,
    /// Sync mode: the transaction holding the row failed (or the writer stopped before it). The
    /// row may exist only if the database committed but its acknowledgement was lost.
    #[error("audit row not committed")]
    NotCommitted,
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
    /// Failed batch write attempts (async rows are retried; sync rows are not, see below).
    pub write_errors: u64,
    /// Sync rows whose commit failed: their calls were answered 503.
    pub not_committed: u64,
    /// Rows waiting in the queue right now.
    pub queued: u64,
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    written: AtomicU64,
    rejected_full: AtomicU64,
    write_errors: AtomicU64,
    not_committed: AtomicU64,
    /// Set when a row is refused, cleared when one is accepted: one log line per episode of
    /// refusals, not one per refused call (thousands a second under overload).
    refusing: AtomicBool,
}

/// A queued row and, in sync mode, whom to tell whether it was committed.
#[derive(Debug)]
struct Queued {
    record: AuditRecord,
    committed: Option<oneshot::Sender<bool>>,
    /// When `enqueue` was called (the queue-wait metric).
    at: std::time::Instant,
}

/// Producer handle; cheap to clone; put it in the HTTP app data.
#[derive(Debug, Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<Queued>,
    counters: Arc<Counters>,
    enqueue_wait: Duration,
    mode: AuditMode,
}

/// The receiving end before a writer is started (see [`AuditQueue::channel`]).
#[derive(Debug)]
pub struct AuditReceiver {
    rx: mpsc::Receiver<Queued>,
    counters: Arc<Counters>,
}

impl AuditQueue {
    /// A queue and its receiving end, without a writer. Most callers want [`AuditWriter::start`];
    /// this split lets tests fill the queue before anything drains it. `enqueue` does not wait
    /// (neither for room nor for the commit: [`AuditMode::Async`]; see [`AuditQueue::with_mode`]).
    pub fn channel(capacity: usize) -> (AuditQueue, AuditReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        (
            AuditQueue {
                tx,
                counters: counters.clone(),
                enqueue_wait: Duration::ZERO,
                mode: AuditMode::Async,
            },
            AuditReceiver { rx, counters },
        )
    }

    /// The same queue, whose [`AuditQueue::enqueue`] waits up to `wait` for room.
    pub fn with_enqueue_wait(mut self, wait: Duration) -> Self {
        self.enqueue_wait = wait;
        self
    }

    /// The same queue, whose [`AuditQueue::enqueue`] waits for the commit (`Sync`) or not.
    pub fn with_mode(mut self, mode: AuditMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn mode(&self) -> AuditMode {
        self.mode
    }

    /// Hands a record to the writer; if the queue is full, waits up to the queue's `enqueue_wait`
    /// for room. In [`AuditMode::Sync`] then waits for the commit of the batch holding it.
    /// `Err` means the row was NOT taken (or not committed): answer 503.
    pub async fn enqueue(&self, record: AuditRecord) -> Result<(), EnqueueError> {
        let (committed, done) = match self.mode {
            AuditMode::Sync => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            AuditMode::Async => (None, None),
        };
        self.hand_over(Queued {
            record,
            committed,
            at: std::time::Instant::now(),
        })
        .await?;
        match done {
            None => Ok(()),
            // A dropped sender (writer aborted at a shutdown deadline) is "not committed" too.
            Some(rx) => match rx.await {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(EnqueueError::NotCommitted),
            },
        }
    }

    async fn hand_over(&self, item: Queued) -> Result<(), EnqueueError> {
        let item = match self.tx.try_send(item) {
            Ok(()) => {
                self.accepted();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(EnqueueError::Closed),
            Err(mpsc::error::TrySendError::Full(item)) => item,
        };
        if !self.enqueue_wait.is_zero() {
            match tokio::time::timeout(self.enqueue_wait, self.tx.send(item)).await {
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
            not_committed: c.not_committed.load(Ordering::Relaxed),
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
        let queue = queue
            .with_enqueue_wait(config.enqueue_wait)
            .with_mode(config.mode);
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
                    unwritten = s.enqueued - s.written - s.not_committed,
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
    let mut buf: Vec<Queued> = Vec::with_capacity(max_batch);
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
        if let Some(m) = &config.metrics {
            for q in &buf {
                m.queue_wait.observe(q.at.elapsed().as_secs_f64());
            }
        }
        // Group commit: everything queued (up to max_batch) in one transaction, then every waiter.
        let (records, waiters) = buf.drain(..).map(|q| (q.record, q.committed)).unzip();
        write_with_retry(&store, records, waiters, &counters, &config).await;
    }
}

/// Writes `batch`; tells each waiter (sync rows) whether it was committed. Async rows are retried
/// until written; sync rows are tried once: their calls answer 503 at once rather than wait on a
/// failing database, and a call answered 503 was not served, so its row is not written later.
async fn write_with_retry(
    store: &Store,
    mut batch: Vec<AuditRecord>,
    mut waiters: Vec<Option<oneshot::Sender<bool>>>,
    counters: &Counters,
    config: &AuditQueueConfig,
) {
    let mut ids = None;
    let mut backoff = config.initial_backoff;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let started = std::time::Instant::now();
        let written = store.write_audit_batch(&batch, &mut ids).await;
        if let Some(m) = &config.metrics {
            m.commit.observe(started.elapsed().as_secs_f64());
        }
        match written {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                for w in waiters.into_iter().flatten() {
                    // A waiter gone (client disconnected) is fine: the row is written.
                    let _ = w.send(true);
                }
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
                if waiters.iter().any(Option::is_some) {
                    let failed = waiters.iter().filter(|w| w.is_some()).count();
                    counters
                        .not_committed
                        .fetch_add(failed as u64, Ordering::Relaxed);
                    tracing::error!(
                        error = %e,
                        rows = failed,
                        "audit batch commit failed: answering 503 to the calls waiting for it"
                    );
                    let mut kept = Vec::new();
                    for (r, w) in batch.into_iter().zip(waiters) {
                        match w {
                            Some(w) => {
                                let _ = w.send(false);
                            }
                            None => kept.push(r),
                        }
                    }
                    // Only async rows remain (a queue mixes modes only in tests). New rows, new
                    // ids: the ids of the failed attempt belonged to a different batch.
                    batch = kept;
                    waiters = batch.iter().map(|_| None).collect();
                    ids = None;
                    if batch.is_empty() {
                        return;
                    }
                }
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
