//! The store's behaviour, run twice: against the in-memory store (`memory::*`) and against a fresh
//! PostgreSQL database per test (`postgres::*`, see `tests/it/common/pg.rs`). Same cases, same
//! expectations: that is what "the memory store behaves like PostgreSQL" means.

use crate::common::pg;

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;
use trd_cds::store::{
    AuditCard, AuditMode, AuditQueue, AuditQueueConfig, AuditRecord, AuditSuggestion, AuditWriter,
    CardKindSummary, EnqueueError, FeedbackEntry, FeedbackOutcome, FeedbackSaved,
    OverrideReasonCount, PatientHasher, RecommendationSummary, Store, UnmatchedFeedback,
};

const T0: OffsetDateTime = datetime!(2025-01-15 12:00 UTC);

fn card(uuid: &str, kind: &str, suggestions: &[(&str, &str)]) -> AuditCard {
    AuditCard {
        uuid: uuid.into(),
        summary: format!("{kind} card"),
        kind: kind.into(),
        suggestions: suggestions
            .iter()
            .map(|(u, c)| AuditSuggestion {
                uuid: (*u).into(),
                recommendation_code: (*c).into(),
            })
            .collect(),
    }
}

fn record(at: OffsetDateTime, instance: &str, cards: Vec<AuditCard>) -> AuditRecord {
    AuditRecord {
        at,
        service_id: "trd-patient-view".into(),
        hook: "patient-view".into(),
        hook_instance: instance.into(),
        client_iss: Some("https://ehr.example.org".into()),
        patient_hash: Some(PatientHasher::new("test-secret").hash("Patient/123")),
        kb_version: "2025.01".into(),
        status: "met".into(),
        outcome_code: 200,
        latency: Duration::from_micros(12_345),
        cards,
    }
}

fn feedback(card_uuid: &str, outcome: FeedbackOutcome, at: OffsetDateTime) -> FeedbackEntry {
    FeedbackEntry {
        service_id: "trd-patient-view".into(),
        card_uuid: card_uuid.into(),
        outcome,
        accepted_suggestions: vec![],
        override_reason_code: None,
        override_reason_system: None,
        override_comment: None,
        outcome_timestamp: at,
        client_iss: Some("https://ehr.example.org".into()),
    }
}

fn accepted(card_uuid: &str, suggestions: &[&str], at: OffsetDateTime) -> FeedbackEntry {
    FeedbackEntry {
        accepted_suggestions: suggestions.iter().map(|s| (*s).into()).collect(),
        ..feedback(card_uuid, FeedbackOutcome::Accepted, at)
    }
}

fn overridden(
    card_uuid: &str,
    system: Option<&str>,
    code: &str,
    at: OffsetDateTime,
) -> FeedbackEntry {
    FeedbackEntry {
        override_reason_system: system.map(Into::into),
        override_reason_code: Some(code.into()),
        override_comment: Some("free text".into()),
        ..feedback(card_uuid, FeedbackOutcome::Overridden, at)
    }
}

/// Asynchronous mode: most cases here fill a queue before any writer runs.
fn small_queue() -> AuditQueueConfig {
    AuditQueueConfig {
        mode: AuditMode::Async,
        capacity: 100,
        enqueue_wait: Duration::ZERO,
        max_batch: 7,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        metrics: None,
    }
}

// ---------------------------------------------------------------- cases (backend-agnostic)

async fn kind_and_ping(store: Store) {
    assert!(matches!(store.kind(), "memory" | "postgres"));
    store.ping().await.expect("ping");
}

async fn audit_rows_written_via_queue(store: Store) {
    let (queue, writer) = AuditWriter::start(store.clone(), small_queue());
    for i in 0..3 {
        let cards = vec![
            card(
                &format!("c{i}a"),
                "trd",
                &[(&format!("s{i}1"), "trd-refer-psychiatry")],
            ),
            card(&format!("c{i}b"), "urgent-safety-assessment", &[]),
        ];
        queue
            .enqueue(record(T0, &format!("hi-{i}"), cards))
            .await
            .expect("accepted");
    }
    // A 412 answer: no cards, still one row.
    let mut no_cards = record(T0, "hi-412", vec![]);
    no_cards.outcome_code = 412;
    no_cards.status = "prefetch-missing".into();
    queue.enqueue(no_cards).await.expect("accepted");

    let stats = writer.shutdown().await;
    assert_eq!(stats.enqueued, 4);
    assert_eq!(stats.written, 4);
    assert_eq!(stats.queued, 0);
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.audit_events, 4);
    assert_eq!(counts.audit_cards, 6);
}

async fn shutdown_drains_every_accepted_row(store: Store) {
    let cfg = small_queue();
    let (queue, rx) = AuditQueue::channel(cfg.capacity);
    for i in 0..60 {
        queue
            .enqueue(record(
                T0,
                &format!("hi-{i}"),
                vec![card(&format!("c{i}"), "trd", &[])],
            ))
            .await
            .expect("accepted");
    }
    // Writer starts with 60 queued (batches of 7) and is told to stop at once: it must drain.
    let writer = AuditWriter::spawn(store.clone(), rx, queue.clone(), cfg);
    let stats = writer.shutdown().await;
    assert_eq!(stats.written, 60);
    assert_eq!(store.counts().await.unwrap().audit_events, 60);
    // After shutdown the queue refuses new rows (the HTTP layer answers 503), it does not lose them.
    assert_eq!(
        queue.enqueue(record(T0, "late", vec![])).await,
        Err(EnqueueError::Closed)
    );
    assert_eq!(store.counts().await.unwrap().audit_events, 60);
}

async fn full_queue_is_refused_not_dropped(store: Store) {
    let cfg = AuditQueueConfig {
        capacity: 2,
        ..small_queue()
    };
    let (queue, rx) = AuditQueue::channel(cfg.capacity);
    queue
        .enqueue(record(T0, "a", vec![]))
        .await
        .expect("1st fits");
    queue
        .enqueue(record(T0, "b", vec![]))
        .await
        .expect("2nd fits");
    assert_eq!(
        queue.enqueue(record(T0, "c", vec![])).await,
        Err(EnqueueError::Full)
    );
    let s = queue.stats();
    assert_eq!((s.enqueued, s.rejected_full, s.queued), (2, 1, 2));

    let writer = AuditWriter::spawn(store.clone(), rx, queue.clone(), cfg);
    let stats = writer.shutdown().await;
    assert_eq!(
        stats.written, 2,
        "every accepted row is written, the refused one was never accepted"
    );
    assert_eq!(store.counts().await.unwrap().audit_events, 2);
}

/// Back-pressure: a call that finds the queue full waits for the writer to make room (and is
/// accepted), and is refused only when no room comes within the wait.
async fn full_queue_waits_for_room_then_refuses(store: Store) {
    let wait = Duration::from_millis(300);
    let (queue, rx) = AuditQueue::channel(1);
    let queue = queue.with_enqueue_wait(wait);
    queue.enqueue(record(T0, "a", vec![])).await.expect("fits");

    // No writer: nothing makes room, so the call is refused, after the wait and not before.
    let started = std::time::Instant::now();
    assert_eq!(
        queue.enqueue(record(T0, "b", vec![])).await,
        Err(EnqueueError::Full)
    );
    assert!(
        started.elapsed() >= wait,
        "refused before the wait was over"
    );
    assert_eq!(queue.stats().rejected_full, 1);

    // A writer starting while the call waits drains the queue: the waiting call is accepted.
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.enqueue(record(T0, "c", vec![])).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let writer = AuditWriter::spawn(store.clone(), rx, queue.clone(), small_queue());
    assert_eq!(
        waiting.await.unwrap(),
        Ok(()),
        "accepted once room was made"
    );
    let stats = writer.shutdown().await;
    assert_eq!(
        (stats.enqueued, stats.rejected_full, stats.written),
        (2, 1, 2)
    );
    assert_eq!(store.counts().await.unwrap().audit_events, 2);
}

/// Sync mode (the default): `enqueue` returns only once the row is committed, so it is visible at
/// once; concurrent calls are committed together (group commit) and each learns its own outcome.
async fn sync_enqueue_returns_after_commit(store: Store) {
    assert_eq!(AuditQueueConfig::default().mode, AuditMode::Sync);
    let (queue, writer) = AuditWriter::start(
        store.clone(),
        AuditQueueConfig {
            mode: AuditMode::Sync,
            ..small_queue()
        },
    );
    assert_eq!(queue.mode(), AuditMode::Sync);
    for i in 0..3 {
        queue
            .enqueue(record(
                T0,
                &format!("sync-{i}"),
                vec![card(&format!("c{i}"), "trd", &[])],
            ))
            .await
            .expect("committed");
        assert_eq!(store.counts().await.unwrap().audit_events, i + 1);
    }
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let queue = queue.clone();
            tokio::spawn(async move {
                queue
                    .enqueue(record(T0, &format!("many-{i}"), vec![]))
                    .await
            })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), Ok(()));
    }
    assert_eq!(store.counts().await.unwrap().audit_events, 43);
    let stats = writer.shutdown().await;
    assert_eq!(
        (stats.enqueued, stats.written, stats.not_committed),
        (43, 43, 0)
    );
}

async fn feedback_is_idempotent(store: Store) {
    store
        .write_audit(&[record(
            T0,
            "hi",
            vec![card("c1", "trd", &[("s1", "r1"), ("s2", "r2")])],
        )])
        .await
        .unwrap();
    let at = T0 + time::Duration::minutes(5);
    let batch = vec![
        accepted("c1", &["s1", "s2"], at),
        overridden("c1", None, "not-now", at),
    ];

    let first = store.save_feedback(&batch).await.unwrap();
    assert_eq!(
        first,
        FeedbackSaved {
            stored: 2,
            duplicates: 0,
            unmatched: 0
        }
    );
    let again = store.save_feedback(&batch).await.unwrap();
    assert_eq!(
        again,
        FeedbackSaved {
            stored: 0,
            duplicates: 2,
            unmatched: 0
        }
    );

    // Same identity: suggestion order, a repeated id, another comment/reason, another offset for
    // the same instant → duplicates.
    let mut reordered = accepted(
        "c1",
        &["s2", "s1", "s2"],
        at.to_offset(time::macros::offset!(+02:00)),
    );
    reordered.override_comment = Some("different comment".into());
    let mut other_reason = overridden("c1", Some("http://x"), "other", at);
    other_reason.override_comment = None;
    let dup = store
        .save_feedback(&[reordered, other_reason])
        .await
        .unwrap();
    assert_eq!(dup.duplicates, 2);

    // Twice in one request → stored once.
    let later = at + time::Duration::seconds(1);
    let twice = store
        .save_feedback(&[
            accepted("c1", &["s1"], later),
            accepted("c1", &["s1"], later),
        ])
        .await
        .unwrap();
    assert_eq!(
        twice,
        FeedbackSaved {
            stored: 1,
            duplicates: 1,
            unmatched: 0
        }
    );

    // Different identity → new rows: other timestamp, other suggestions, other client.
    let mut other_client = accepted("c1", &["s1"], at);
    other_client.client_iss = Some("https://other-ehr.example.org".into());
    let new = store
        .save_feedback(&[
            accepted("c1", &["s1"], at + time::Duration::seconds(2)),
            accepted("c1", &["s1"], at),
            other_client,
        ])
        .await
        .unwrap();
    assert_eq!(new.stored, 3);
    assert_eq!(store.counts().await.unwrap().feedback, 6);
}

async fn unknown_cards_are_stored_unmatched(store: Store) {
    store
        .write_audit(&[record(T0, "hi", vec![card("known", "trd", &[])])])
        .await
        .unwrap();
    let at = T0 + time::Duration::minutes(1);
    let saved = store
        .save_feedback(&[
            overridden("unknown-card", None, "x", at),
            accepted("known", &[], at),
            accepted("also-unknown", &["s9"], at),
        ])
        .await
        .unwrap();
    assert_eq!(
        saved,
        FeedbackSaved {
            stored: 3,
            duplicates: 0,
            unmatched: 2
        }
    );
    let c = store.counts().await.unwrap();
    assert_eq!((c.feedback, c.feedback_unmatched), (3, 2));
    let s = store
        .feedback_summary(T0 - time::Duration::days(1), T0 + time::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        s.unmatched,
        UnmatchedFeedback {
            accepted: 1,
            overridden: 1
        }
    );
}

async fn summary_counts(store: Store) {
    let (queue, writer) = AuditWriter::start(store.clone(), small_queue());
    queue
        .enqueue(record(
            T0,
            "e1",
            vec![
                card(
                    "C1",
                    "trd",
                    &[
                        ("S1", "trd-refer-psychiatry"),
                        ("S2", "trd-augment-aripiprazole"),
                    ],
                ),
                card(
                    "C2",
                    "urgent-safety-assessment",
                    &[("S3", "safety-assessment")],
                ),
            ],
        ))
        .await
        .unwrap();
    queue
        .enqueue(record(
            T0 + time::Duration::hours(1),
            "e2",
            vec![card("C3", "trd", &[("S4", "trd-refer-psychiatry")])],
        ))
        .await
        .unwrap();
    // Shown before the range: not counted as shown, but its feedback (in range) counts.
    queue
        .enqueue(record(
            T0 - time::Duration::days(10),
            "e3",
            vec![card("C4", "trd", &[("S5", "trd-augment-aripiprazole")])],
        ))
        .await
        .unwrap();
    writer.shutdown().await;

    let at = T0 + time::Duration::hours(2);
    let saved = store
        .save_feedback(&[
            accepted("C1", &["S1", "unknown-suggestion"], at),
            overridden(
                "C3",
                Some("http://example.org/reasons"),
                "patient-declined",
                at,
            ),
            overridden("C2", None, "already-addressed", at),
            overridden(
                "C2",
                None,
                "already-addressed",
                at + time::Duration::minutes(1),
            ),
            accepted("C-unknown", &[], at),
            accepted("C4", &["S5"], at),
            // Outside the range: ignored by the summary.
            overridden("C1", None, "late", T0 + time::Duration::days(3)),
        ])
        .await
        .unwrap();
    assert_eq!(
        saved,
        FeedbackSaved {
            stored: 7,
            duplicates: 0,
            unmatched: 1
        }
    );

    let from = T0 - time::Duration::days(1);
    let to = T0 + time::Duration::days(1);
    let s = store.feedback_summary(from, to).await.unwrap();
    assert_eq!((s.from, s.to), (from, to));
    let reason = |system: Option<&str>, code: &str, count| OverrideReasonCount {
        system: system.map(Into::into),
        code: Some(code.into()),
        count,
    };
    assert_eq!(
        s.by_card_kind,
        vec![
            CardKindSummary {
                kind: "trd".into(),
                shown: 2,
                accepted: 2,
                overridden: 1,
                override_reasons: vec![reason(
                    Some("http://example.org/reasons"),
                    "patient-declined",
                    1
                )],
            },
            CardKindSummary {
                kind: "urgent-safety-assessment".into(),
                shown: 1,
                accepted: 0,
                overridden: 2,
                override_reasons: vec![reason(None, "already-addressed", 2)],
            },
        ]
    );
    assert_eq!(
        s.by_recommendation_code,
        vec![
            RecommendationSummary {
                code: "safety-assessment".into(),
                shown: 1,
                accepted: 0,
                overridden: 2,
                override_reasons: vec![reason(None, "already-addressed", 2)],
            },
            RecommendationSummary {
                code: "trd-augment-aripiprazole".into(),
                shown: 1,
                accepted: 1,
                overridden: 0,
                override_reasons: vec![],
            },
            RecommendationSummary {
                code: "trd-refer-psychiatry".into(),
                shown: 2,
                accepted: 1,
                overridden: 1,
                override_reasons: vec![reason(
                    Some("http://example.org/reasons"),
                    "patient-declined",
                    1
                )],
            },
        ]
    );
    assert_eq!(
        s.unmatched,
        UnmatchedFeedback {
            accepted: 1,
            overridden: 0
        }
    );

    // The range is half-open and an empty range is empty.
    let empty = store
        .feedback_summary(T0 + time::Duration::days(5), T0 + time::Duration::days(6))
        .await
        .unwrap();
    assert!(empty.by_card_kind.is_empty() && empty.by_recommendation_code.is_empty());
    let exact = store
        .feedback_summary(T0, T0 + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        exact.by_card_kind.iter().map(|k| k.shown).sum::<u64>(),
        2,
        "e1 in, e2 (at `to`) out"
    );

    // JSON shape for the API.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["from"], "2025-01-14T12:00:00Z");
    assert_eq!(
        json["by_card_kind"][0]["override_reasons"][0]["code"],
        "patient-declined"
    );
}

async fn retention_purge(store: Store) {
    let now = OffsetDateTime::now_utc();
    store
        .write_audit(&[
            record(
                now - time::Duration::days(100),
                "old",
                vec![card("old-card", "trd", &[("s", "r")])],
            ),
            record(
                now - time::Duration::days(1),
                "recent",
                vec![card("new-card", "trd", &[])],
            ),
        ])
        .await
        .unwrap();
    store
        .save_feedback(&[accepted("old-card", &["s"], now)])
        .await
        .unwrap();

    let r = store.purge_older_than(30).await.unwrap();
    assert_eq!((r.audit_events, r.feedback), (1, 0));
    let c = store.counts().await.unwrap();
    assert_eq!((c.audit_events, c.audit_cards, c.feedback), (1, 1, 1));

    // The feedback kept its resolved card kind after the audit rows went.
    let s = store
        .feedback_summary(now - time::Duration::days(1), now + time::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(s.by_card_kind[0].kind, "trd");
    assert_eq!(s.by_card_kind[0].accepted, 1);
    assert_eq!(s.by_recommendation_code[0].code, "r");

    let r = store
        .purge_before(now + time::Duration::days(1))
        .await
        .unwrap();
    assert_eq!((r.audit_events, r.feedback), (1, 1));
    assert_eq!(store.counts().await.unwrap().audit_events, 0);
    // A purged feedback identity can be stored again (it is no longer there).
    let again = store
        .save_feedback(&[accepted("old-card", &["s"], now)])
        .await
        .unwrap();
    assert_eq!(again.stored, 1);
}

macro_rules! store_cases {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(trd_cds::store::Store::memory()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::common::pg::TestDb::create().await else { return };
                    let store = trd_cds::store::Store::postgres(db.url(), 4)
                        .await
                        .expect("connect and migrate");
                    super::$case(store.clone()).await;
                    if let Some(p) = store.as_postgres() {
                        p.close();
                    }
                    drop(db);
                }
            )*
        }
    };
}

store_cases!(
    kind_and_ping,
    audit_rows_written_via_queue,
    shutdown_drains_every_accepted_row,
    full_queue_is_refused_not_dropped,
    full_queue_waits_for_room_then_refuses,
    sync_enqueue_returns_after_commit,
    feedback_is_idempotent,
    unknown_cards_are_stored_unmatched,
    summary_counts,
    retention_purge,
);

// ---------------------------------------------------------------- backend-specific

/// Memory only (a database failure cannot be provoked on demand): failed writes are retried and
/// the rows kept, never dropped.
#[tokio::test]
async fn memory_write_errors_are_retried_not_dropped() {
    let store = Store::memory();
    store.as_memory().unwrap().inject_audit_write_failures(3);
    let (queue, writer) = AuditWriter::start(store.clone(), small_queue());
    queue.enqueue(record(T0, "a", vec![])).await.unwrap();
    queue.enqueue(record(T0, "b", vec![])).await.unwrap();
    let stats = writer.shutdown().await;
    assert_eq!(stats.write_errors, 3);
    assert_eq!(stats.written, 2);
    assert_eq!(store.counts().await.unwrap().audit_events, 2);
}

/// Sync mode: a failed commit is reported to the waiting call (the HTTP layer answers 503), not
/// retried behind its back; the next call is committed normally.
#[tokio::test]
async fn memory_sync_commit_failure_is_not_committed() {
    let store = Store::memory();
    store.as_memory().unwrap().inject_audit_write_failures(1);
    let (queue, writer) = AuditWriter::start(
        store.clone(),
        AuditQueueConfig {
            mode: AuditMode::Sync,
            ..small_queue()
        },
    );
    assert_eq!(
        queue.enqueue(record(T0, "fails", vec![])).await,
        Err(EnqueueError::NotCommitted)
    );
    assert_eq!(store.counts().await.unwrap().audit_events, 0);
    queue
        .enqueue(record(T0, "ok", vec![]))
        .await
        .expect("committed");
    assert_eq!(store.counts().await.unwrap().audit_events, 1);
    let stats = writer.shutdown().await;
    assert_eq!(
        (stats.write_errors, stats.not_committed, stats.written),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn memory_from_unset_database_url() {
    let store = Store::from_database_url(None, 4).await.unwrap();
    assert_eq!(store.kind(), "memory");
    let store = Store::from_database_url(Some("  "), 4).await.unwrap();
    assert_eq!(store.kind(), "memory");
}

/// Starting twice on the same database: the second start applies nothing and the data survives.
#[tokio::test]
async fn postgres_migrations_are_idempotent() {
    let Some(db) = pg::TestDb::create().await else {
        return;
    };
    let first = Store::postgres(db.url(), 2).await.expect("first start");
    let applied = first.as_postgres().unwrap().migrations_applied_at_start();
    let embedded = trd_cds::store::PgStore::embedded_migrations();
    assert!(!embedded.is_empty());
    assert_eq!(
        applied,
        embedded.len(),
        "a new database gets every migration"
    );
    first
        .write_audit(&[record(T0, "x", vec![card("c", "trd", &[])])])
        .await
        .unwrap();

    let second = Store::postgres(db.url(), 2).await.expect("second start");
    assert_eq!(
        second.as_postgres().unwrap().migrations_applied_at_start(),
        0
    );
    assert_eq!(second.counts().await.unwrap().audit_events, 1);

    // Two replicas starting at once on a fresh database: the advisory lock serialises them.
    let Some(db2) = pg::TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(Store::postgres(db2.url(), 2), Store::postgres(db2.url(), 2));
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    let total = a.as_postgres().unwrap().migrations_applied_at_start()
        + b.as_postgres().unwrap().migrations_applied_at_start();
    assert_eq!(total, embedded.len());
    for s in [&first, &second, &a, &b] {
        s.as_postgres().unwrap().close();
    }
}

/// What lands in PostgreSQL: the patient hash, never the id; timestamps as timestamptz.
#[tokio::test]
async fn postgres_stores_only_the_patient_hash() {
    let Some(db) = pg::TestDb::create().await else {
        return;
    };
    let store = Store::postgres(db.url(), 2).await.unwrap();
    store.write_audit(&[record(T0, "x", vec![])]).await.unwrap();
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT patient_hash, at, latency_us, outcome_code FROM audit_event",
            &[],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert_eq!(hash, PatientHasher::new("test-secret").hash("Patient/123"));
    assert_eq!(hash.len(), 64);
    assert_eq!(row.get::<_, OffsetDateTime>(1), T0);
    assert_eq!(row.get::<_, i64>(2), 12_345);
    assert_eq!(row.get::<_, i16>(3), 200);
    store.as_postgres().unwrap().close();
}

#[tokio::test]
async fn postgres_unreachable_is_a_clear_error() {
    let err = trd_cds::store::Store::postgres_with(
        "postgres://postgres@127.0.0.1:1/none",
        trd_cds::store::PgOptions {
            pool_size: 1,
            connect_deadline: Duration::from_millis(300),
            acquire_timeout: Duration::from_millis(200),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not reachable"), "{err}");
    let err = Store::postgres("not a url", 1).await.unwrap_err();
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
}
