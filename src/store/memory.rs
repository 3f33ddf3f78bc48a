//! In-memory store: same behaviour as PostgreSQL, nothing survives a restart.
//! Used when `DATABASE_URL` is unset (development, demos, tests).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::StoreError;
use super::hash::{feedback_dedup_key, truncate_micros};
use super::model::{
    AuditRecord, FeedbackEntry, FeedbackSaved, FeedbackSummary, PurgeReport, StoreCounts,
};
use super::summary::{self, FeedbackFact, resolve_card};

/// In-memory store; cheap to clone (shared state). The audit log keeps the most recent
/// `audit_cap` calls (a demo store must not grow without bound under load); feedback is kept whole.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

/// Number of audit events the in-memory store keeps by default.
pub const DEFAULT_MEMORY_AUDIT_CAP: usize = 10_000;

#[derive(Debug, Default)]
struct Inner {
    events: VecDeque<AuditRecord>,
    /// 0 = the default cap.
    audit_cap: usize,
    /// Events dropped because of the cap (reported once in the log, and in `counts`).
    evicted: u64,
    feedback: Vec<StoredFeedback>,
    keys: HashSet<String>,
    fail_audit_writes: u32,
}

#[derive(Debug)]
struct StoredFeedback {
    key: String,
    received_at: OffsetDateTime,
    entry: FeedbackEntry,
    fact: FeedbackFact,
}

impl MemoryStore {
    /// An empty store keeping the default number of audit events.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping the most recent `audit_cap` audit events.
    pub fn with_audit_cap(audit_cap: usize) -> Self {
        let s = Self::default();
        s.lock().audit_cap = audit_cap.max(1);
        s
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a way that matters
        // more than losing the service; keep going with the data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Test hook: the next `n` audit batch writes fail as a database error would, so the writer's
    /// retry path can be exercised without a database.
    pub fn inject_audit_write_failures(&self, n: u32) {
        self.lock().fail_audit_writes = n;
    }

    pub(crate) fn write_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.fail_audit_writes > 0 {
            inner.fail_audit_writes -= 1;
            return Err(StoreError::Injected);
        }
        inner.events.extend(records.iter().cloned().map(|mut r| {
            r.at = truncate_micros(r.at);
            r
        }));
        let cap = if inner.audit_cap == 0 {
            DEFAULT_MEMORY_AUDIT_CAP
        } else {
            inner.audit_cap
        };
        if inner.events.len() > cap {
            let excess = inner.events.len() - cap;
            if inner.evicted == 0 {
                tracing::warn!(
                    cap,
                    "in-memory audit log is full: the oldest calls are dropped (set DATABASE_URL to keep them)"
                );
            }
            inner.events.drain(..excess);
            inner.evicted += excess as u64;
        }
        Ok(())
    }

    pub(crate) fn save_feedback(
        &self,
        entries: &[FeedbackEntry],
    ) -> Result<FeedbackSaved, StoreError> {
        let mut inner = self.lock();
        let mut saved = FeedbackSaved::default();
        for e in entries {
            let key = feedback_dedup_key(e);
            if inner.keys.contains(&key) {
                saved.duplicates += 1;
                continue;
            }
            // Latest audited card with this uuid.
            let card = inner
                .events
                .iter()
                .rev()
                .flat_map(|ev| ev.cards.iter().rev())
                .find(|c| c.uuid == e.card_uuid);
            let res = match card {
                Some(c) => {
                    let sugg: Vec<(String, String)> = c
                        .suggestions
                        .iter()
                        .map(|s| (s.uuid.clone(), s.recommendation_code.clone()))
                        .collect();
                    resolve_card(Some(c.kind.clone()), &sugg, &e.accepted_suggestions)
                }
                None => resolve_card(None, &[], &e.accepted_suggestions),
            };
            if !res.matched() {
                saved.unmatched += 1;
            }
            let mut entry = e.clone();
            entry.outcome_timestamp = truncate_micros(entry.outcome_timestamp);
            let fact = FeedbackFact {
                outcome: e.outcome,
                card_kind: res.kind,
                card_codes: res.card_codes,
                accepted_codes: res.accepted_codes,
                reason_system: e.override_reason_system.clone(),
                reason_code: e.override_reason_code.clone(),
            };
            inner.keys.insert(key.clone());
            inner.feedback.push(StoredFeedback {
                key,
                received_at: OffsetDateTime::now_utc(),
                entry,
                fact,
            });
            saved.stored += 1;
        }
        Ok(saved)
    }

    pub(crate) fn feedback_summary(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> FeedbackSummary {
        let inner = self.lock();
        let in_range = |t: OffsetDateTime| t >= from && t < to;
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
        for ev in inner.events.iter().filter(|ev| in_range(ev.at)) {
            for c in &ev.cards {
                *by_kind.entry(c.kind.clone()).or_default() += 1;
                for s in &c.suggestions {
                    *by_code.entry(s.recommendation_code.clone()).or_default() += 1;
                }
            }
        }
        let facts: Vec<FeedbackFact> = inner
            .feedback
            .iter()
            .filter(|f| in_range(f.entry.outcome_timestamp))
            .map(|f| f.fact.clone())
            .collect();
        summary::aggregate(from, to, by_kind, by_code, facts)
    }

    pub(crate) fn purge_before(&self, cutoff: OffsetDateTime) -> PurgeReport {
        let mut inner = self.lock();
        let before = (inner.events.len(), inner.feedback.len());
        inner.events.retain(|e| e.at >= cutoff);
        let mut removed_keys = Vec::new();
        inner.feedback.retain(|f| {
            let keep = f.received_at >= cutoff;
            if !keep {
                removed_keys.push(f.key.clone());
            }
            keep
        });
        for k in removed_keys {
            inner.keys.remove(&k);
        }
        PurgeReport {
            audit_events: (before.0 - inner.events.len()) as u64,
            feedback: (before.1 - inner.feedback.len()) as u64,
        }
    }

    pub(crate) fn counts(&self) -> StoreCounts {
        let inner = self.lock();
        StoreCounts {
            audit_events: inner.events.len() as u64,
            audit_cards: inner.events.iter().map(|e| e.cards.len() as u64).sum(),
            feedback: inner.feedback.len() as u64,
            feedback_unmatched: inner
                .feedback
                .iter()
                .filter(|f| f.fact.card_kind.is_none())
                .count() as u64,
        }
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;
    use std::time::Duration;

    fn record(i: usize) -> AuditRecord {
        AuditRecord {
            at: OffsetDateTime::now_utc(),
            service_id: "trd-patient-view".into(),
            hook: "patient-view".into(),
            hook_instance: format!("h{i}"),
            client_iss: None,
            patient_hash: None,
            kb_version: "test".into(),
            status: "met".into(),
            outcome_code: 200,
            latency: Duration::from_micros(1),
            cards: vec![],
        }
    }

    #[test]
    fn the_audit_log_keeps_the_most_recent_calls_only() {
        let m = MemoryStore::with_audit_cap(3);
        for i in 0..5 {
            m.write_audit(&[record(i)]).unwrap();
        }
        let kept: Vec<String> = m
            .lock()
            .events
            .iter()
            .map(|e| e.hook_instance.clone())
            .collect();
        assert_eq!(kept, ["h2", "h3", "h4"]);
        assert_eq!(m.lock().evicted, 2);
    }
}
