//! Metamorphic properties of the whole pipeline over generated, realistically messy patient
//! histories (`histories.rs`): rewriting the input in a way that means the same thing clinically must
//! not change the assessment — status, trials, augmentations, flags, staging, recommendations,
//! data issues — beyond the rewrite itself.
//!
//! | property | rewrite | expected |
//! |---|---|---|
//! | `shift_dates` | every date and `as_of` moved by N days (partial dates by whole 28-year calendar cycles) | the same, every date moved by N |
//! | `reorder_entries` | Bundle entries shuffled | the same |
//! | `duplicate_resource` | one resource sent twice (same id) | the same |
//! | `split_statement` | a MedicationStatement split into two contiguous ones, same dose | the same (the new statement cited with the old) |
//! | `add_unrelated` | a resource the rules never read (blood pressure, PHQ-2, diabetes, lisinopril, Encounter, AllergyIntolerance, colonoscopy) | the same |
//! | `hook_prefetch_vs_bundle` | the Bundle sent as a patient-view hook's prefetch (resources spread over the keys, some in the wrong key, Medications as `include` entries) | the same assessment and the same cards as the assessment API on the Bundle |
//!
//! Each runs through the real pipeline (`pipeline::assess_documents`, as the assessment API and
//! the CLI do; the hook through `http::prefetch::gather_with` and `pipeline::assess`, as the
//! patient-view handler does) with a fixed `as_of` (2026-01-01).
//!
//! **Cases.** 200 per property by default (a few seconds each in the dev profile). For long runs
//! set `TRD_CDS_PROPTEST_CASES`, e.g. `TRD_CDS_PROPTEST_CASES=50000 cargo test --test it metamorphic::
//! -- --nocapture`; `TRD_CDS_PROPTEST_SEED=<u64>` changes the (otherwise fixed) seed so another run
//! explores other histories.
//!
//! **Failures.** Proptest shrinks the history (fewer elements, other seeds); the minimal failing
//! input is written to `target/metamorphic-failures/<property>.json` (the original Bundle, the
//! rewritten input, both assessments and the difference) and `<property>-input.json` (the Bundle
//! alone: `cargo run -- assess target/metamorphic-failures/<property>-input.json --as-of 2026-01-01`),
//! and the panic message names them.
//!
//! **Coverage.** `coverage` renders as many histories and prints how many hit each status, flag,
//! recommendation, outcome, staging value and data-issue field (written to
//! `target/metamorphic-coverage.txt` too), so the generator's blind spots show; it fails when a
//! status is never reached.

mod coverage;
mod histories;
mod transform;

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};
use trd_cds::cards::{self, CardContext};
use trd_cds::cds_hooks::discovery::PATIENT_VIEW;
use trd_cds::cds_hooks::request::parse_request;
use trd_cds::clinical::SiteConfig;
use trd_cds::config::Config as AppConfig;
use trd_cds::fhir::client::FhirClient;
use trd_cds::http::prefetch::gather_with;
use trd_cds::knowledge::KnowledgeBase;
use trd_cds::pipeline::{assess, assess_documents};

use histories::{AS_OF, Catalog, History, KINDS};
use transform::CALENDAR_CYCLE_DAYS;

fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::embedded().expect("embedded knowledge base"))
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::new(kb()))
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: expected a whole number")),
    )
}

/// Cases per property: `TRD_CDS_PROPTEST_CASES`, default 200.
fn cases() -> u32 {
    env_number("TRD_CDS_PROPTEST_CASES").map_or(200, |n| n as u32)
}

fn runner() -> TestRunner {
    let seed = env_number("TRD_CDS_PROPTEST_SEED").unwrap_or(0x7D_C0DE);
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (seed.rotate_left(i as u32 * 8) & 0xFF) as u8 ^ i as u8;
    }
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// A history: a header seed and 0–7 elements, each a kind (by weight) and a seed.
fn history() -> impl Strategy<Value = History> {
    let kinds: Vec<usize> = KINDS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, w))| std::iter::repeat_n(i, *w as usize))
        .collect();
    (
        any::<u64>(),
        prop::collection::vec((prop::sample::select(kinds), any::<u64>()), 0..8),
    )
        .prop_map(|(header, elements)| History { header, elements })
}

/// The §13 assessment JSON of a Bundle through the assessment API's path.
fn assess_bundle(bundle: &Value, as_of: time::Date) -> Value {
    let text = bundle.to_string();
    let (_, a) = assess_documents(&[&text], None, kb(), &SiteConfig::default(), as_of)
        .expect("a generated Bundle is readable");
    serde_json::to_value(&a).unwrap()
}

/// No renaming: the rewrite introduced no reference.
fn same(s: &str) -> String {
    s.to_string()
}

/// What one case hands to the failure report.
struct Violation {
    original: Value,
    rewritten: Value,
    expected: Value,
    actual: Value,
    what: String,
}

fn compare(
    what: String,
    original: &Value,
    rewritten: &Value,
    expected: &Value,
    actual: &Value,
    rename: &dyn Fn(&str) -> String,
) -> Result<(), Box<Violation>> {
    let e = transform::canonical(expected, &same);
    let a = transform::canonical(actual, rename);
    if e == a {
        return Ok(());
    }
    let d = transform::diff(&e, &a);
    Err(Box::new(Violation {
        original: original.clone(),
        rewritten: rewritten.clone(),
        expected: e,
        actual: a,
        what: format!("{what}\n  {}", d.join("\n  ")),
    }))
}

/// Run one property; on failure write the shrunk case under target/ and panic naming it.
fn check<P: Strategy>(
    name: &str,
    params: P,
    property: impl Fn(&History, &P::Value) -> Result<(), Box<Violation>>,
) where
    P::Value: std::fmt::Debug + Clone,
{
    let mut runner = runner();
    let strategy = (history(), params);
    let result = runner.run(&strategy, |(h, p)| {
        property(&h, &p).map_err(|v| TestCaseError::fail(v.what.clone()))
    });
    let Err(err) = result else { return };
    let (reason, (h, p)) = match err {
        TestError::Fail(reason, value) => (reason, value),
        TestError::Abort(reason) => panic!("{name}: aborted: {reason}"),
    };
    let v = property(&h, &p).expect_err("the shrunk case fails again");
    let dir = format!("{}/target/metamorphic-failures", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let report = json!({
        "property": name,
        "as_of": "2026-01-01",
        "history": {"header": h.header, "elements": h.elements},
        "parameters": format!("{p:?}"),
        "difference": v.what,
        "original": v.original,
        "rewritten": v.rewritten,
        "expected_assessment": v.expected,
        "actual_assessment": v.actual,
    });
    let path = format!("{dir}/{name}.json");
    let input = format!("{dir}/{name}-input.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    std::fs::write(&input, serde_json::to_string_pretty(&v.original).unwrap()).unwrap();
    panic!(
        "metamorphic property `{name}` violated (shrunk): {reason}\n\
         minimal case written to {path}\n\
         original Bundle: {input} (cargo run -- assess {input} --as-of 2026-01-01)\n\
         history {h:?}, parameters {p:?}"
    );
}

fn render(h: &History) -> histories::Rendered {
    histories::render(catalog(), h)
}

#[test]
fn shift_dates() {
    // N = k whole calendar cycles (partial dates keep their meaning) plus, when the history has no
    // partial date, any number of days.
    let params = (prop_oneof![Just(-1i64), Just(0), Just(1)], -2000i64..2000);
    check("shift_dates", params, |h, (k, d)| {
        let r = render(h);
        let days = if transform::has_partial_dates(&r.bundle) {
            CALENDAR_CYCLE_DAYS * if *k == 0 { 1 } else { *k }
        } else {
            CALENDAR_CYCLE_DAYS * k + d
        };
        let mut shifted = r.bundle.clone();
        transform::shift_dates(&mut shifted, days);
        let expected = assess_bundle(&r.bundle, AS_OF);
        let mut actual = assess_bundle(&shifted, AS_OF + time::Duration::days(days));
        transform::shift_dates_in_text(&mut actual, -days);
        compare(
            format!("every date shifted by {days} days"),
            &r.bundle,
            &shifted,
            &expected,
            &actual,
            &same,
        )
    });
}

#[test]
fn reorder_entries() {
    check("reorder_entries", any::<u64>(), |h, seed| {
        let r = render(h);
        let mut shuffled = r.bundle.clone();
        transform::reorder(&mut shuffled, *seed);
        let expected = assess_bundle(&r.bundle, AS_OF);
        let actual = assess_bundle(&shuffled, AS_OF);
        compare(
            "entries reordered".into(),
            &r.bundle,
            &shuffled,
            &expected,
            &actual,
            &same,
        )
    });
}

#[test]
fn duplicate_resource() {
    check(
        "duplicate_resource",
        (any::<usize>(), any::<usize>()),
        |h, (pick, at)| {
            let r = render(h);
            let mut doubled = r.bundle.clone();
            let Some(what) = transform::duplicate(&mut doubled, *pick, *at) else {
                return Ok(());
            };
            let expected = assess_bundle(&r.bundle, AS_OF);
            let actual = assess_bundle(&doubled, AS_OF);
            compare(
                format!("{what} sent twice"),
                &r.bundle,
                &doubled,
                &expected,
                &actual,
                &same,
            )
        },
    );
}

#[test]
fn split_statement() {
    check(
        "split_statement",
        (any::<usize>(), any::<u64>()),
        |h, (pick, cut)| {
            let r = render(h);
            let mut split = r.bundle.clone();
            let Some(what) = transform::split_statement(&mut split, *pick, *cut) else {
                return Ok(());
            };
            let expected = assess_bundle(&r.bundle, AS_OF);
            let actual = assess_bundle(&split, AS_OF);
            let new_ref = format!("{what}-split");
            let rename = move |s: &str| {
                if s == new_ref {
                    what.clone()
                } else {
                    s.to_string()
                }
            };
            compare(
                "a statement split in two contiguous ones".into(),
                &r.bundle,
                &split,
                &expected,
                &actual,
                &rename,
            )
        },
    );
}

#[test]
fn add_unrelated() {
    let params = (0..histories::UNRELATED_KINDS, -900i64..0, any::<usize>());
    check("add_unrelated", params, |h, (kind, day, at)| {
        let r = render(h);
        let mut more = r.bundle.clone();
        let what = transform::add_unrelated(&mut more, &r.patient, *kind, *day, *at);
        let expected = assess_bundle(&r.bundle, AS_OF);
        let actual = assess_bundle(&more, AS_OF);
        compare(
            format!("{what} added"),
            &r.bundle,
            &more,
            &expected,
            &actual,
            &same,
        )
    });
}

/// The patient-view handler's path: parse the request, gather the prefetch (nothing to fetch),
/// assess with the context's patient, render the cards.
fn hook_path(request: &Value, patient: &str) -> (Value, Value) {
    static CLIENT: OnceLock<FhirClient> = OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        let config = AppConfig::from_lookup(|_| None).expect("default configuration");
        FhirClient::new(&config.fhir, config.max_body_bytes).expect("FHIR client")
    });
    let body = request.to_string();
    let req = parse_request(body.as_bytes()).expect("a valid hook request");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gathered = rt
        .block_on(gather_with(
            client,
            None,
            &PATIENT_VIEW,
            &req,
            &[("patientId", patient)],
        ))
        .expect("every key prefetched");
    assert!(gathered.notes.is_empty(), "{:?}", gathered.notes);
    let reference = format!("Patient/{patient}");
    let (record, a) = assess(
        &gathered.documents(),
        Some(&reference),
        kb(),
        &SiteConfig::default(),
        AS_OF,
    )
    .expect("prefetch readable");
    let cards = cards::patient_view(&a, &record, kb(), &CardContext::default());
    (serde_json::to_value(&a).unwrap(), cards_json(&cards))
}

fn cards_json(cards: &[cards::RenderedCard]) -> Value {
    Value::Array(
        cards
            .iter()
            .map(|c| serde_json::to_value(&c.card).unwrap())
            .collect(),
    )
}

fn api_path(bundle: &Value) -> (Value, Value) {
    let text = bundle.to_string();
    let (record, a) = assess_documents(&[&text], None, kb(), &SiteConfig::default(), AS_OF)
        .expect("a generated Bundle is readable");
    let cards = cards::patient_view(&a, &record, kb(), &CardContext::default());
    (serde_json::to_value(&a).unwrap(), cards_json(&cards))
}

#[test]
fn hook_prefetch_vs_bundle() {
    check("hook_prefetch_vs_bundle", any::<u64>(), |h, seed| {
        let r = render(h);
        let request = transform::to_hook_request(&r.bundle, &r.patient, *seed);
        let (expected, expected_cards) = api_path(&r.bundle);
        let (actual, actual_cards) = hook_path(&request, &r.patient);
        compare(
            "the Bundle sent as patient-view prefetch".into(),
            &r.bundle,
            &request,
            &expected,
            &actual,
            &same,
        )?;
        compare(
            "the cards of the Bundle sent as patient-view prefetch".into(),
            &r.bundle,
            &request,
            &json!({"cards": expected_cards}),
            &json!({"cards": actual_cards}),
            &same,
        )
    });
}

#[test]
fn coverage() {
    let n = cases().max(200) as u64;
    let seed = env_number("TRD_CDS_PROPTEST_SEED").unwrap_or(0x7D_C0DE);
    let mut cov = coverage::Coverage::default();
    let mut rng = histories::Rng::new(seed);
    let weights: Vec<u32> = KINDS.iter().map(|(_, w)| *w).collect();
    for _ in 0..n {
        let count = rng.range(0, 7) as usize;
        let h = History {
            header: rng.next(),
            elements: (0..count)
                .map(|_| (rng.weighted(&weights), rng.next()))
                .collect(),
        };
        let r = render(&h);
        let a = assess_bundle(&r.bundle, AS_OF);
        cov.add(&h, &r.bundle, &a);
    }
    let table = cov.table();
    let path = format!(
        "{}/target/metamorphic-coverage.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let _ = std::fs::write(&path, &table);
    // Written to stderr directly: the test harness captures `println!`, not the stream.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{table}\n(also in {path})");
    for status in ["met", "possible", "not-met", "not-applicable"] {
        assert!(
            cov.count("status", status) > 0,
            "no generated patient reached status {status}: the generator has a blind spot\n{table}"
        );
    }
}
