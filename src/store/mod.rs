//! Persistence: the audit trail, CDS Hooks feedback and its analytics.
//!
//! [`Store`] is PostgreSQL ([`Store::postgres`], when `DATABASE_URL` is set) or in memory
//! ([`Store::memory`]); both behave the same and run the same test cases (`tests/it/store.rs`).
//! Audit rows go through the bounded [`AuditQueue`] (off the request path); feedback is written
//! synchronously and acknowledged only after commit. Schema and operations: `docs/persistence.md`.
//!
//! Invariant: nothing here stores a request body, a token or a patient id (only
//! [`PatientHasher`] output).

mod audit;
mod hash;
mod memory;
mod model;
mod postgres;
mod replay;
mod summary;

use std::time::Duration;

use time::OffsetDateTime;

pub use audit::{
    AuditMode, AuditQueue, AuditQueueConfig, AuditReceiver, AuditStats, AuditWriter,
    AuditWriterMetrics, EnqueueError,
};
pub use hash::PatientHasher;
pub use memory::MemoryStore;
pub use model::{
    AuditCard, AuditRecord, AuditSuggestion, CardKindSummary, FeedbackEntry, FeedbackOutcome,
    FeedbackSaved, FeedbackSummary, OverrideReasonCount, PurgeReport, RecommendationSummary,
    StoreCounts, UnmatchedFeedback,
};
pub use postgres::{PgOptions, PgStore};

/// Errors of the store. Messages never contain the connection string, a patient id or a body.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Bad configuration (unparsable `DATABASE_URL`, pool settings).
    #[error("store configuration: {0}")]
    Config(String),
    /// The database cannot be reached (start-up deadline, pool timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A migration failed (or an applied one was edited: checksum mismatch).
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A query failed.
    #[error("database error: {}", error_chain(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A row the store wrote cannot be read back as written.
    #[error("unexpected data in the store: {0}")]
    Corrupt(String),
    /// A failure injected by [`MemoryStore::inject_audit_write_failures`] (tests only).
    #[error("injected store failure")]
    Injected,
}

/// `e` and its sources, `: `-separated (tokio-postgres puts the server's message in the source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}

/// The store: PostgreSQL or in memory. Cheap to clone (shared state inside).
#[derive(Debug, Clone)]
pub enum Store {
    /// In memory (no `DATABASE_URL`).
    Memory(MemoryStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

impl Store {
    /// An empty in-memory store.
    pub fn memory() -> Store {
        Store::Memory(MemoryStore::new())
    }

    /// Connects to PostgreSQL (retrying up to 15 s while it boots), then applies the embedded
    /// migrations (a no-op when the schema is current).
    pub async fn postgres(database_url: &str, pool_size: usize) -> Result<Store, StoreError> {
        let opts = PgOptions {
            pool_size,
            ..PgOptions::default()
        };
        Ok(Store::Postgres(PgStore::connect(database_url, opts).await?))
    }

    /// Same as [`Store::postgres`] with every option.
    pub async fn postgres_with(database_url: &str, opts: PgOptions) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PgStore::connect(database_url, opts).await?))
    }

    /// `DATABASE_URL` set → PostgreSQL, unset or empty → memory.
    pub async fn from_database_url(
        database_url: Option<&str>,
        pool_size: usize,
    ) -> Result<Store, StoreError> {
        match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Store::postgres(url, pool_size).await,
            None => Ok(Store::memory()),
        }
    }

    /// `"postgres"` or `"memory"` (for logs and the readiness answer).
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL store, if this is one.
    pub fn as_postgres(&self) -> Option<&PgStore> {
        match self {
            Store::Postgres(p) => Some(p),
            Store::Memory(_) => None,
        }
    }

    /// The in-memory store, if this is one.
    pub fn as_memory(&self) -> Option<&MemoryStore> {
        match self {
            Store::Memory(m) => Some(m),
            Store::Postgres(_) => None,
        }
    }

    /// Readiness: a round trip to the database (always `Ok` in memory).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Postgres(p) => p.ping().await,
        }
    }

    /// Writes audit rows directly, in one transaction. Request handlers use [`AuditQueue`] instead;
    /// this is for the CLI, tools and tests.
    pub async fn write_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.write_audit_batch(records, &mut None).await
    }

    pub(crate) async fn write_audit_batch(
        &self,
        records: &[AuditRecord],
        ids: &mut Option<postgres::BatchIds>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => m.write_audit(records),
            Store::Postgres(p) => p.write_audit(records, ids).await,
        }
    }

    /// Stores feedback entries; returns only after they are committed. Idempotent: an entry with the
    /// same identity as a stored one (see `docs/persistence.md`) is counted as a duplicate and not
    /// written again. Entries about unknown card uuids are stored and marked unmatched.
    pub async fn save_feedback(
        &self,
        entries: &[FeedbackEntry],
    ) -> Result<FeedbackSaved, StoreError> {
        match self {
            Store::Memory(m) => m.save_feedback(entries),
            Store::Postgres(p) => p.save_feedback(entries).await,
        }
    }

    /// Analytics over `[from, to)`.
    pub async fn feedback_summary(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<FeedbackSummary, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.feedback_summary(from, to)),
            Store::Postgres(p) => p.feedback_summary(from, to).await,
        }
    }

    /// Deletes audit events with `at < cutoff` (with their cards and suggestions) and feedback
    /// received before `cutoff`.
    pub async fn purge_before(&self, cutoff: OffsetDateTime) -> Result<PurgeReport, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.purge_before(cutoff)),
            Store::Postgres(p) => p.purge_before(cutoff).await,
        }
    }

    /// Retention: [`Store::purge_before`] with `now - days`.
    pub async fn purge_older_than(&self, days: u32) -> Result<PurgeReport, StoreError> {
        self.purge_before(OffsetDateTime::now_utc() - time::Duration::days(i64::from(days)))
            .await
    }

    /// JWT replay protection: records `(iss, jti)` until `expires_at`; `true` the first time,
    /// `false` for a replay. Only PostgreSQL (in memory, `http::auth::ReplayStore` keeps its own map).
    pub async fn remember_jti(
        &self,
        iss: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Memory(_) => Err(StoreError::Config(
                "the in-memory store keeps no jti; use http::auth::ReplayStore".into(),
            )),
            Store::Postgres(p) => p.remember_jti(iss, jti, expires_at).await,
        }
    }

    /// Deletes replay-store rows of expired tokens (PostgreSQL; 0 in memory).
    pub async fn purge_expired_jti(&self) -> Result<u64, StoreError> {
        match self {
            Store::Memory(_) => Ok(0),
            Store::Postgres(p) => p.purge_expired_jti().await,
        }
    }

    /// Row counts (tests, metrics).
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.counts()),
            Store::Postgres(p) => p.counts().await,
        }
    }
}

/// Spawns the retention task: purges rows older than `retention_days` now and then every `every`.
/// Errors are logged and retried at the next tick. Abort the handle on shutdown.
pub fn spawn_retention_task(
    store: Store,
    retention_days: u32,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.purge_older_than(retention_days).await {
                Ok(r) => tracing::info!(
                    audit_events = r.audit_events,
                    feedback = r.feedback,
                    retention_days,
                    "retention purge"
                ),
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
        }
    })
}
