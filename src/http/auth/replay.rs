//! `jti` replay protection: a token id is accepted once per issuer while the token could still be
//! valid (until `exp` + clock skew). PostgreSQL when the service has a database (shared by every
//! replica), else in memory (one process).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// In-memory entries are purged when the map reaches this size (and on every 1024th insert).
const MEMORY_PURGE_AT: usize = 100_000;

pub enum ReplayStore {
    Memory(Mutex<MemoryReplay>),
    Postgres { store: Store, inserts: AtomicU64 },
}

#[derive(Default)]
pub struct MemoryReplay {
    seen: HashMap<(String, String), i64>,
    inserts: u64,
}

impl ReplayStore {
    /// Memory unless `store` is PostgreSQL.
    pub fn for_store(store: &Store) -> ReplayStore {
        match store {
            Store::Postgres(_) => ReplayStore::Postgres {
                store: store.clone(),
                inserts: AtomicU64::new(0),
            },
            Store::Memory(_) => ReplayStore::Memory(Mutex::new(MemoryReplay::default())),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ReplayStore::Memory(_) => "memory",
            ReplayStore::Postgres { .. } => "postgres",
        }
    }

    /// Record `(iss, jti)` until `expires_at` (unix seconds). `Ok(true)` = first time seen,
    /// `Ok(false)` = replay.
    pub async fn first_use(
        &self,
        iss: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        match self {
            ReplayStore::Memory(m) => {
                let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
                m.inserts += 1;
                if m.seen.len() >= MEMORY_PURGE_AT || m.inserts % 1024 == 0 {
                    m.seen.retain(|_, exp| *exp >= now);
                }
                let key = (iss.to_string(), jti.to_string());
                match m.seen.get(&key) {
                    Some(exp) if *exp >= now => Ok(false),
                    _ => {
                        m.seen.insert(key, expires_at);
                        Ok(true)
                    }
                }
            }
            ReplayStore::Postgres { store, inserts } => {
                if inserts.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
                    match store.purge_expired_jti().await {
                        Ok(n) => tracing::debug!(deleted = n, "expired jti rows purged"),
                        Err(e) => tracing::warn!(error = %e, "jti purge failed"),
                    }
                }
                let at = OffsetDateTime::from_unix_timestamp(expires_at)
                    .unwrap_or(OffsetDateTime::now_utc());
                store.remember_jti(iss, jti, at).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_replay() {
        let r = ReplayStore::for_store(&Store::memory());
        assert_eq!(r.kind(), "memory");
        assert!(r.first_use("a", "1", 100, 10).await.unwrap());
        assert!(!r.first_use("a", "1", 100, 20).await.unwrap(), "replay");
        assert!(r.first_use("b", "1", 100, 20).await.unwrap(), "per issuer");
        assert!(
            r.first_use("a", "1", 300, 101).await.unwrap(),
            "expired entry"
        );
    }
}
