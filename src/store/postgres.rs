//! PostgreSQL store: deadpool-postgres pool, embedded refinery migrations.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

use super::hash::{feedback_dedup_key, truncate_micros};
use super::model::{
    AuditRecord, FeedbackEntry, FeedbackOutcome, FeedbackSaved, FeedbackSummary, PurgeReport,
    StoreCounts,
};
use super::summary::{self, FeedbackFact, resolve_card};
use super::{StoreError, error_chain};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Arbitrary constant for `pg_advisory_lock`: serialises migrations when several replicas start at once.
const MIGRATION_LOCK_KEY: i64 = 0x7472_645f_6364_7331; // "trd_cds1"

/// Rows deleted per statement by the retention purge (keeps locks and WAL bursts short).
const PURGE_CHUNK: i64 = 5_000;

/// Connection options for [`PgStore::connect`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Maximum pooled connections.
    pub pool_size: usize,
    /// How long start-up keeps retrying the first connection (the database may still be booting).
    pub connect_deadline: Duration,
    /// Deadline for getting a connection from the pool during normal operation.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            connect_deadline: Duration::from_secs(15),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// PostgreSQL store; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    migrations_applied_at_start: usize,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the connection string (it may hold a password).
        let s = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &s.size)
            .field("pool_max", &s.max_size)
            .finish()
    }
}

impl PgStore {
    /// Creates the pool, waits (up to `connect_deadline`) for the database, runs the embedded
    /// migrations under an advisory lock.
    pub async fn connect(database_url: &str, opts: PgOptions) -> Result<PgStore, StoreError> {
        let mut pg = tokio_postgres::Config::from_str(database_url).map_err(|e| {
            StoreError::Config(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
        })?;
        if pg.get_application_name().is_none() {
            pg.application_name("trd-cds");
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(opts.acquire_timeout);
        }
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.acquire_timeout))
            .create_timeout(Some(opts.acquire_timeout))
            .recycle_timeout(Some(opts.acquire_timeout))
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the connection pool: {e}")))?;

        // Start-up: retry until the deadline (docker-compose may start us a moment before PG accepts).
        let deadline = tokio::time::Instant::now() + opts.connect_deadline;
        let mut client = loop {
            match pool.get().await {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %error_chain(&e), "database not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(StoreError::Unavailable(format!(
                        "database not reachable within {:?}: {}",
                        opts.connect_deadline,
                        error_chain(&e)
                    )));
                }
            }
        };

        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await?;
        let report = embedded::migrations::runner()
            .run_async(&mut **client)
            .await;
        // Unlock even when the migration failed (the session lock would go with the connection anyway).
        let unlock = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .await;
        let report = report.map_err(|e| StoreError::Migration(e.to_string()))?;
        unlock?;
        let applied = report.applied_migrations().len();
        tracing::info!(applied, "database migrations checked");
        Ok(PgStore {
            pool,
            migrations_applied_at_start: applied,
        })
    }

    /// Number of migrations this instance applied at start-up (0 when the schema was current).
    pub fn migrations_applied_at_start(&self) -> usize {
        self.migrations_applied_at_start
    }

    /// Names of the migrations embedded in the binary, in order (`V1__audit_and_feedback`, ...).
    pub fn embedded_migrations() -> Vec<String> {
        embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect()
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!("no database connection: {}", error_chain(&e)))
        })
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Writes a batch in one transaction. Ids are allocated once per batch and kept in `ids`, and
    /// the insert is `ON CONFLICT (id) DO NOTHING`: if a commit succeeded but its acknowledgement was
    /// lost, the retry finds the rows and writes nothing twice.
    pub(crate) async fn write_audit(
        &self,
        records: &[AuditRecord],
        ids: &mut Option<BatchIds>,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        if ids.is_none() {
            let n_cards: usize = records.iter().map(|r| r.cards.len()).sum();
            let ev = allocate(&client, "audit_event_id_seq", records.len()).await?;
            let cd = allocate(&client, "audit_card_id_seq", n_cards).await?;
            *ids = Some(BatchIds {
                events: ev,
                cards: cd,
            });
        }
        let ids = ids.as_ref().expect("allocated above");

        let mut e_id = Vec::with_capacity(records.len());
        let mut e_at = Vec::with_capacity(records.len());
        let mut e_service = Vec::with_capacity(records.len());
        let mut e_hook = Vec::with_capacity(records.len());
        let mut e_instance = Vec::with_capacity(records.len());
        let mut e_iss: Vec<Option<&str>> = Vec::with_capacity(records.len());
        let mut e_patient: Vec<Option<&str>> = Vec::with_capacity(records.len());
        let mut e_kb = Vec::with_capacity(records.len());
        let mut e_status = Vec::with_capacity(records.len());
        let mut e_code: Vec<i16> = Vec::with_capacity(records.len());
        let mut e_latency: Vec<i64> = Vec::with_capacity(records.len());
        let (mut c_id, mut c_event, mut c_uuid, mut c_summary, mut c_kind) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut s_card, mut s_uuid, mut s_code) = (Vec::new(), Vec::new(), Vec::new());
        let mut card_ids = ids.cards.iter().copied();
        for (r, &eid) in records.iter().zip(&ids.events) {
            e_id.push(eid);
            e_at.push(r.at);
            e_service.push(r.service_id.as_str());
            e_hook.push(r.hook.as_str());
            e_instance.push(r.hook_instance.as_str());
            e_iss.push(r.client_iss.as_deref());
            e_patient.push(r.patient_hash.as_deref());
            e_kb.push(r.kb_version.as_str());
            e_status.push(r.status.as_str());
            e_code.push(i16::try_from(r.outcome_code).unwrap_or(i16::MAX));
            e_latency.push(i64::try_from(r.latency.as_micros()).unwrap_or(i64::MAX));
            for c in &r.cards {
                let cid = card_ids.next().expect("one id per card");
                c_id.push(cid);
                c_event.push(eid);
                c_uuid.push(c.uuid.as_str());
                c_summary.push(c.summary.as_str());
                c_kind.push(c.kind.as_str());
                for s in &c.suggestions {
                    s_card.push(cid);
                    s_uuid.push(s.uuid.as_str());
                    s_code.push(s.recommendation_code.as_str());
                }
            }
        }

        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO audit_event (id, at, service_id, hook, hook_instance, client_iss, \
                 patient_hash, kb_version, status, outcome_code, latency_us) \
                 SELECT * FROM unnest($1::int8[], $2::timestamptz[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int2[], $11::int8[]) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &e_id, &e_at, &e_service, &e_hook, &e_instance, &e_iss, &e_patient, &e_kb,
                    &e_status, &e_code, &e_latency,
                ],
            )
            .await?;
        if inserted == 0 {
            // The whole batch was committed by an earlier attempt (one transaction: all or nothing).
            tx.commit().await?;
            return Ok(());
        }
        if !c_id.is_empty() {
            tx.execute(
                "INSERT INTO audit_card (id, event_id, card_uuid, summary, kind) \
                 SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[])",
                &[&c_id, &c_event, &c_uuid, &c_summary, &c_kind],
            )
            .await?;
        }
        if !s_card.is_empty() {
            tx.execute(
                "INSERT INTO audit_suggestion (card_id, suggestion_uuid, recommendation_code) \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[])",
                &[&s_card, &s_uuid, &s_code],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn save_feedback(
        &self,
        entries: &[FeedbackEntry],
    ) -> Result<FeedbackSaved, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let find_card = tx
            .prepare(
                "SELECT id, kind FROM audit_card WHERE card_uuid = $1 ORDER BY id DESC LIMIT 1",
            )
            .await?;
        let card_suggestions = tx
            .prepare("SELECT suggestion_uuid, recommendation_code FROM audit_suggestion WHERE card_id = $1")
            .await?;
        let insert = tx
            .prepare(
                "INSERT INTO feedback (dedup_key, service_id, card_uuid, outcome, accepted_suggestions, \
                 override_reason_system, override_reason_code, override_comment, outcome_timestamp, \
                 client_iss, matched, card_kind, card_codes, accepted_codes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .await?;
        let mut saved = FeedbackSaved::default();
        for e in entries {
            let res = match tx.query_opt(&find_card, &[&e.card_uuid]).await? {
                Some(row) => {
                    let card_id: i64 = row.get(0);
                    let kind: String = row.get(1);
                    let sugg: Vec<(String, String)> = tx
                        .query(&card_suggestions, &[&card_id])
                        .await?
                        .into_iter()
                        .map(|r| (r.get(0), r.get(1)))
                        .collect();
                    resolve_card(Some(kind), &sugg, &e.accepted_suggestions)
                }
                None => resolve_card(None, &[], &e.accepted_suggestions),
            };
            let key = feedback_dedup_key(e);
            let n = tx
                .execute(
                    &insert,
                    &[
                        &key,
                        &e.service_id,
                        &e.card_uuid,
                        &e.outcome.as_str(),
                        &e.accepted_suggestions,
                        &e.override_reason_system,
                        &e.override_reason_code,
                        &e.override_comment,
                        &truncate_micros(e.outcome_timestamp),
                        &e.client_iss,
                        &res.matched(),
                        &res.kind,
                        &res.card_codes,
                        &res.accepted_codes,
                    ],
                )
                .await?;
            if n == 0 {
                saved.duplicates += 1;
            } else {
                saved.stored += 1;
                if !res.matched() {
                    saved.unmatched += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(saved)
    }

    pub(crate) async fn feedback_summary(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<FeedbackSummary, StoreError> {
        let client = self.client().await?;
        let by_kind: BTreeMap<String, u64> = client
            .query(
                "SELECT c.kind, count(*) FROM audit_card c JOIN audit_event e ON e.id = c.event_id \
                 WHERE e.at >= $1 AND e.at < $2 GROUP BY c.kind",
                &[&from, &to],
            )
            .await?
            .into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect();
        let by_code: BTreeMap<String, u64> = client
            .query(
                "SELECT s.recommendation_code, count(*) FROM audit_suggestion s \
                 JOIN audit_card c ON c.id = s.card_id JOIN audit_event e ON e.id = c.event_id \
                 WHERE e.at >= $1 AND e.at < $2 GROUP BY s.recommendation_code",
                &[&from, &to],
            )
            .await?
            .into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect();
        let rows = client
            .query(
                "SELECT outcome, card_kind, card_codes, accepted_codes, override_reason_system, \
                 override_reason_code FROM feedback \
                 WHERE outcome_timestamp >= $1 AND outcome_timestamp < $2",
                &[&from, &to],
            )
            .await?;
        let mut facts = Vec::with_capacity(rows.len());
        for r in rows {
            let outcome: String = r.get(0);
            let outcome = FeedbackOutcome::parse(&outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("feedback.outcome = {outcome:?}")))?;
            facts.push(FeedbackFact {
                outcome,
                card_kind: r.get(1),
                card_codes: r.get(2),
                accepted_codes: r.get(3),
                reason_system: r.get(4),
                reason_code: r.get(5),
            });
        }
        Ok(summary::aggregate(from, to, by_kind, by_code, facts))
    }

    pub(crate) async fn purge_before(
        &self,
        cutoff: OffsetDateTime,
    ) -> Result<PurgeReport, StoreError> {
        let client = self.client().await?;
        let mut report = PurgeReport::default();
        loop {
            let n = client
                .execute(
                    "DELETE FROM audit_event WHERE id IN \
                     (SELECT id FROM audit_event WHERE at < $1 LIMIT $2)",
                    &[&cutoff, &PURGE_CHUNK],
                )
                .await?;
            report.audit_events += n;
            if n < PURGE_CHUNK as u64 {
                break;
            }
        }
        loop {
            let n = client
                .execute(
                    "DELETE FROM feedback WHERE id IN \
                     (SELECT id FROM feedback WHERE received_at < $1 LIMIT $2)",
                    &[&cutoff, &PURGE_CHUNK],
                )
                .await?;
            report.feedback += n;
            if n < PURGE_CHUNK as u64 {
                break;
            }
        }
        Ok(report)
    }

    pub(crate) async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "SELECT (SELECT count(*) FROM audit_event), (SELECT count(*) FROM audit_card), \
                 (SELECT count(*) FROM feedback), (SELECT count(*) FROM feedback WHERE NOT matched)",
                &[],
            )
            .await?;
        Ok(StoreCounts {
            audit_events: r.get::<_, i64>(0) as u64,
            audit_cards: r.get::<_, i64>(1) as u64,
            feedback: r.get::<_, i64>(2) as u64,
            feedback_unmatched: r.get::<_, i64>(3) as u64,
        })
    }

    /// Closes the pool (idle connections are dropped, new `get`s fail).
    pub fn close(&self) {
        self.pool.close();
    }
}

/// Ids pre-allocated for one audit batch (kept across retries of the same batch).
#[derive(Debug, Clone)]
pub(crate) struct BatchIds {
    events: Vec<i64>,
    cards: Vec<i64>,
}

async fn allocate(
    client: &deadpool_postgres::Object,
    sequence: &str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = i32::try_from(n).map_err(|_| StoreError::Config("audit batch too large".into()))?;
    let rows = client
        .query(
            "SELECT nextval($1::text::regclass) FROM generate_series(1, $2::int4)",
            &[&sequence, &n],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get::<_, i64>(0)).collect())
}
