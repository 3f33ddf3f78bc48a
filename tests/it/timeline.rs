//! The treatment timeline (issue 17): golden SVG files of named scenarios, the property that every
//! trial, augmentation, PHQ-9 score, session and data issue of an assessment is in the picture
//! (over the whole scenario table and over generated assessments), XML well-formedness, and the
//! two doors (the assessment API's `image/svg+xml`, the CLI's `--timeline`).
//!
//! Golden files: `tests/fixtures/timeline/<name>.svg`. After an intended change of the picture,
//! regenerate them with `TRD_CDS_BLESS=1 cargo test --test it timeline::`, look at them, commit.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use time::Date;
use trd_cds::clinical::{
    Assessment, Augmentation, AugmentationOutcome, DoseSegment, Episode, KbVersion, Measurement,
    Outcome, Phq9Score, Phq9Series, ProcedureSession, SeverityBand, SiteConfig, Staging, Status,
    Trial,
};
use trd_cds::fhir::record::DataIssue;
use trd_cds::knowledge::{KnowledgeBase, ProcedureKind};
use trd_cds::timeline::{TimelineOptions, render_svg};

/// The named scenarios of the issue: (golden file, scenario bundle in `tests/scenarios/`, as_of, width).
const GOLDEN: &[(&str, &str, &str, u32)] = &[
    (
        "met-three-failed-lithium",
        "lithium-augmentation-failed",
        "2026-01-01",
        1200,
    ),
    (
        "met-three-failed-lithium-400",
        "lithium-augmentation-failed",
        "2026-01-01",
        400,
    ),
    (
        "partial-response",
        "partial-response-on-current-trial-no-switch",
        "2026-01-01",
        1200,
    ),
    (
        "ect-course",
        "ect-course-six-procedures",
        "2026-01-01",
        1200,
    ),
    (
        "data-issues",
        "malformed-date-is-a-data-issue",
        "2026-01-01",
        1200,
    ),
    (
        "dose-steps",
        "optimize-dose-after-reduction",
        "2025-08-31",
        1200,
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn day(s: &str) -> Date {
    trd_cds::dates::parse_day(s).unwrap_or_else(|| panic!("date {s}"))
}

fn assess(bundle: &Path, as_of: &str, kb: &KnowledgeBase) -> Assessment {
    let text = std::fs::read_to_string(bundle).unwrap_or_else(|e| panic!("{bundle:?}: {e}"));
    let (_, a) =
        trd_cds::pipeline::assess_documents(&[&text], None, kb, &SiteConfig::default(), day(as_of))
            .unwrap_or_else(|e| panic!("{bundle:?}: {e}"));
    a
}

fn svg(a: &Assessment, width: u32) -> String {
    render_svg(a, &TimelineOptions { width })
}

#[test]
fn golden_timelines_of_the_named_scenarios() {
    let kb = KnowledgeBase::embedded().unwrap();
    let bless = std::env::var_os("TRD_CDS_BLESS").is_some();
    let mut stale = vec![];
    for (name, scenario, as_of, width) in GOLDEN {
        let a = assess(
            &root().join(format!("tests/scenarios/{scenario}.json")),
            as_of,
            &kb,
        );
        let got = svg(&a, *width);
        let path = root().join(format!("tests/fixtures/timeline/{name}.svg"));
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(_) => stale.push(format!("{name}: differs from {path:?}")),
            Err(e) => stale.push(format!("{name}: {path:?}: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nIf the change is intended: TRD_CDS_BLESS=1 cargo test --test it timeline::, look at the files, commit.",
        stale.join("\n")
    );
}

#[test]
fn the_named_scenarios_show_what_the_issue_asks_for() {
    let kb = KnowledgeBase::embedded().unwrap();
    let met = assess(
        &root().join("tests/scenarios/lithium-augmentation-failed.json"),
        "2026-01-01",
        &kb,
    );
    assert_eq!(met.status, Status::Met);
    let failed = met
        .trials
        .iter()
        .filter(|t| t.outcome == Outcome::Failed)
        .count();
    assert_eq!(failed, 3, "the scenario has three failed trials");
    let doc = svg(&met, 1200);
    let xml = roxmltree::Document::parse(&doc).unwrap();
    let class_count = |c: &str| {
        xml.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .count()
    };
    assert_eq!(class_count("trial"), 3);
    assert_eq!(class_count("augmentation"), 1, "lithium");
    assert_eq!(
        class_count("response-threshold"),
        3,
        "one per failed trial with a baseline"
    );
    assert_eq!(
        class_count("severity-band"),
        kb.staging().phq9_severity.len()
    );
    assert!(doc.contains("failed"), "outcome labelled in words");
    assert_eq!(
        xml.descendants()
            .filter(|n| n.attribute("class") == Some("onset"))
            .count(),
        1
    );
    let root_el = xml.root_element();
    assert_eq!(root_el.attribute("role"), Some("img"));
    let title = root_el
        .children()
        .find(|n| n.has_tag_name("title"))
        .unwrap();
    assert!(title.text().unwrap().contains("Treatment timeline"));
    let desc = root_el.children().find(|n| n.has_tag_name("desc")).unwrap();
    assert!(
        desc.text().unwrap().contains("Sertraline"),
        "the desc says the picture in words"
    );

    let ect = assess(
        &root().join("tests/scenarios/ect-course-six-procedures.json"),
        "2026-01-01",
        &kb,
    );
    let doc = svg(&ect, 1200);
    let xml = roxmltree::Document::parse(&doc).unwrap();
    let sessions = xml
        .descendants()
        .filter(|n| n.attribute("data-procedure") == Some("ECT"))
        .count();
    assert_eq!(sessions, 6);

    let issues = assess(
        &root().join("tests/scenarios/malformed-date-is-a-data-issue.json"),
        "2026-01-01",
        &kb,
    );
    assert!(!issues.data_issues.is_empty());
    let doc = svg(&issues, 400);
    assert!(doc.contains("2025-02-30"), "the malformed value is shown");
}

/// What the picture must show of an assessment, as (attribute, value) keys.
fn expected_marks(a: &Assessment) -> Vec<String> {
    let mut v = vec![];
    for t in &a.trials {
        v.push(format!("trial {} {}", t.ingredient, t.start));
    }
    for g in &a.augmentations {
        v.push(format!("augmentation {} {}", g.agent, g.start));
    }
    for s in &a.phq9.scores {
        v.push(format!("score {} {}", s.date, s.value));
    }
    for p in &a.procedures {
        v.push(format!("session {} {}", p.date, p.evidence));
    }
    for d in &a.data_issues {
        v.push(format!("issue {} {}", d.resource, d.field));
    }
    v
}

/// What the picture shows, read back from the SVG (which must be well-formed XML).
fn drawn_marks(doc: &str) -> Result<BTreeSet<String>, String> {
    let xml = roxmltree::Document::parse(doc).map_err(|e| format!("not well-formed XML: {e}"))?;
    let mut v = BTreeSet::new();
    for n in xml.descendants().filter(|n| n.is_element()) {
        let a = |k: &str| n.attribute(k).unwrap_or("").to_string();
        match n.attribute("class") {
            Some("trial") => v.insert(format!(
                "trial {} {}",
                a("data-ingredient"),
                a("data-start")
            )),
            Some("augmentation" | "combination") => v.insert(format!(
                "augmentation {} {}",
                a("data-agent"),
                a("data-start")
            )),
            Some("phq9-score") => v.insert(format!("score {} {}", a("data-date"), a("data-score"))),
            Some("session") => {
                v.insert(format!("session {} {}", a("data-date"), a("data-evidence")))
            }
            Some("data-issue") => {
                v.insert(format!("issue {} {}", a("data-resource"), a("data-field")))
            }
            _ => false,
        };
    }
    Ok(v)
}

fn missing_marks(a: &Assessment, width: u32) -> Result<Vec<String>, String> {
    let drawn = drawn_marks(&svg(a, width))?;
    Ok(expected_marks(a)
        .into_iter()
        .filter(|m| !drawn.contains(m))
        .collect())
}

#[test]
fn every_scenario_of_the_table_is_drawn_completely() {
    let kb = KnowledgeBase::embedded().unwrap();
    let dir = root().join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 50, "the scenario table is there");
    let mut failures = vec![];
    for f in &files {
        let a = assess(f, "2026-01-01", &kb);
        for width in [400, 1200] {
            match missing_marks(&a, width) {
                Ok(m) if m.is_empty() => {}
                Ok(m) => failures.push(format!("{f:?} at {width}px misses {m:?}")),
                Err(e) => failures.push(format!("{f:?} at {width}px: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- generated assessments ----

fn date_strategy() -> impl Strategy<Value = Date> {
    // 2020-01-01 … 2026-12-31
    (0i64..2557).prop_map(|d| day("2020-01-01") + time::Duration::days(d))
}

fn text_strategy() -> impl Strategy<Value = String> {
    // Includes the XML specials and quotes that FHIR text may carry.
    proptest::string::string_regex("[a-z<>&\"' ]{1,12}").unwrap()
}

fn trial_strategy() -> impl Strategy<Value = Trial> {
    (
        "[a-z]{3,10}",
        date_strategy(),
        0i64..400,
        proptest::option::of(0.0f64..400.0),
        prop::collection::vec((0i64..120, proptest::option::of(0.0f64..400.0)), 0..4),
        prop::option::of(0.0f64..200.0),
        prop::option::of(0.0f64..400.0),
        prop::option::of(0i64..27),
        prop::sample::select(vec![
            Outcome::Intolerant,
            Outcome::Responded,
            Outcome::Failed,
            Outcome::Indeterminate,
            Outcome::Inadequate,
            Outcome::Ongoing,
        ]),
        prop::collection::vec(text_strategy(), 0..2),
        any::<bool>(),
    )
        .prop_map(
            |(
                ingredient,
                start,
                len,
                max,
                steps,
                min,
                opt,
                baseline,
                outcome,
                assumptions,
                open,
            )| {
                let mut at = start;
                let dose_history = steps
                    .into_iter()
                    .map(|(n, d)| {
                        let seg = DoseSegment {
                            start: at,
                            end: at + time::Duration::days(n),
                            daily_dose_mg: d,
                        };
                        at = seg.end;
                        seg
                    })
                    .collect();
                Trial {
                    ingredient,
                    rxnorm: None,
                    class: "SSRI".into(),
                    start,
                    end: (!open).then(|| start + time::Duration::days(len)),
                    max_daily_dose_mg: max,
                    min_adequate_mg_day: min,
                    optimised_mg_day: opt,
                    weeks_at_adequate_dose: len as f64 / 7.0,
                    dose_adequate: None,
                    duration_adequate: false,
                    pdc: None,
                    adherence_adequate: None,
                    measurement: Measurement::Unmeasured,
                    phq9_baseline: baseline,
                    phq9_response_threshold: baseline.map(|b| b as f64 / 2.0),
                    outcome,
                    matched_by: "text".into(),
                    dose_history,
                    assumptions,
                    evidence: vec![],
                }
            },
        )
}

fn augmentation_strategy() -> impl Strategy<Value = Augmentation> {
    (
        "[a-z]{3,10}",
        date_strategy(),
        prop::option::of(0i64..300),
        any::<bool>(),
    )
        .prop_map(|(agent, start, len, combination)| Augmentation {
            agent,
            class: if combination {
                "antidepressant-combination"
            } else {
                "lithium"
            }
            .into(),
            trial_ingredient: "sertraline".into(),
            start,
            end: len.map(|n| start + time::Duration::days(n)),
            max_daily_dose_mg: None,
            adequate: false,
            measurement: Measurement::Unmeasured,
            outcome: AugmentationOutcome::Ongoing,
            evidence: vec![],
        })
}

fn assessment_strategy() -> impl Strategy<Value = Assessment> {
    (
        prop::collection::vec(trial_strategy(), 0..6),
        prop::collection::vec(augmentation_strategy(), 0..4),
        prop::collection::btree_map(date_strategy(), 0i64..40, 0..30),
        prop::collection::vec((date_strategy(), 0u8..3), 0..12),
        prop::collection::vec((text_strategy(), text_strategy()), 0..4),
        prop::option::of(date_strategy()),
        300u32..1600,
    )
        .prop_map(
            |(trials, augmentations, scores, sessions, issues, onset, _)| {
                let as_of = day("2027-01-01");
                let bands = KnowledgeBase::embedded()
                    .unwrap()
                    .staging()
                    .phq9_severity
                    .clone();
                Assessment {
                    patient: None,
                    as_of,
                    knowledge_base: KbVersion {
                        version: "test".into(),
                    },
                    status: Status::NotMet,
                    episode: Some(Episode {
                        condition: "Condition/c1".into(),
                        onset,
                    }),
                    trials,
                    augmentations,
                    failed_adequate_trials: 0,
                    staging: Staging {
                        thase_rush: 0,
                        mgh_s: 0.0,
                        maudsley: None,
                        treatment_step: 0,
                    },
                    flags: vec![],
                    recommendations: vec![],
                    phq9: Phq9Series {
                        scores: scores
                            .into_iter()
                            .enumerate()
                            .map(|(i, (date, value))| Phq9Score {
                                date,
                                value,
                                severity: "x".into(),
                                evidence: format!("Observation/o{i}"),
                            })
                            .collect(),
                        severity_bands: bands
                            .iter()
                            .map(|b| SeverityBand {
                                max: b.max,
                                name: b.name.clone(),
                            })
                            .collect(),
                    },
                    procedures: sessions
                        .into_iter()
                        .enumerate()
                        .map(|(i, (date, k))| ProcedureSession {
                            kind: [
                                ProcedureKind::Ect,
                                ProcedureKind::Tms,
                                ProcedureKind::Esketamine,
                            ][usize::from(k)],
                            date,
                            evidence: format!("Procedure/p{i}"),
                        })
                        .collect(),
                    data_issues: issues
                        .into_iter()
                        .map(|(resource, field)| DataIssue {
                            resource,
                            field,
                            problem: "bad <value> & \"more\"".into(),
                        })
                        .collect(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_assessment_is_drawn_completely(a in assessment_strategy(), width in 300u32..1600) {
        let missing = missing_marks(&a, width).map_err(TestCaseError::fail)?;
        prop_assert!(missing.is_empty(), "missing {:?}", missing);
    }
}

// ---- the doors ----

use common::app::spawn_app;

fn bundle() -> String {
    std::fs::read_to_string(root().join("tests/scenarios/lithium-augmentation-failed.json"))
        .unwrap()
}

async fn post(app: &common::app::TestApp, query: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!(
            "{}/api/v1/assessments?as_of=2026-01-01{query}",
            app.base
        ))
        .header("content-type", "application/fhir+json")
        .body(bundle());
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.unwrap()
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_api_answers_svg_when_asked_and_json_otherwise() {
    let app = spawn_app(&[]).await;
    for (query, accept) in [
        ("", Some("image/svg+xml")),
        ("&format=svg", None),
        ("&format=svg", Some("application/json")),
        ("", Some("image/svg+xml, application/json;q=0.5")),
        ("&width=400", Some("image/*")),
    ] {
        let r = post(&app, query, accept).await;
        assert_eq!(r.status(), 200, "{query} {accept:?}");
        assert!(
            content_type(&r).starts_with("image/svg+xml"),
            "{query} {accept:?}"
        );
        let body = r.text().await.unwrap();
        let marks = drawn_marks(&body).unwrap();
        assert!(marks.contains("trial sertraline 2025-01-15"), "{marks:?}");
        if query.contains("width=400") {
            assert!(body.contains("width=\"400\""));
        }
    }
    for (query, accept) in [
        ("", None),
        ("", Some("*/*")),
        ("", Some("application/json")),
        ("", Some("application/json, image/svg+xml;q=0.5")),
        ("", Some("text/html")),
        ("", Some("not a media type;;;")),
        ("&format=json", Some("image/svg+xml")),
    ] {
        let r = post(&app, query, accept).await;
        assert_eq!(r.status(), 200, "{query} {accept:?}");
        assert!(content_type(&r).contains("json"), "{query} {accept:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "met");
        assert!(
            v["phq9"]["scores"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        );
    }
}

#[tokio::test]
async fn a_bad_format_or_width_is_a_400_naming_the_parameter() {
    let app = spawn_app(&[]).await;
    for (query, field) in [
        ("&format=png", "format"),
        ("&format=svg&width=10", "width"),
        ("&format=svg&width=wide", "width"),
    ] {
        let r = post(&app, query, None).await;
        assert_eq!(r.status(), 400, "{query}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["resourceType"], "OperationOutcome");
        assert_eq!(v["issue"][0]["expression"][0], field, "{v}");
    }
}

#[test]
fn the_cli_writes_the_timeline_beside_the_json() {
    let out = std::env::temp_dir().join(format!("trd-cds-timeline-{}.svg", std::process::id()));
    let bundle = root().join("tests/scenarios/lithium-augmentation-failed.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_trd-cds"))
        .arg("assess")
        .arg(&bundle)
        .args(["--as-of", "2026-01-01", "--timeline"])
        .arg(&out)
        .args(["--timeline-width", "400"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(json["status"], "met");
    let svg = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(
        drawn_marks(&svg)
            .unwrap()
            .contains("trial sertraline 2025-01-15")
    );
    assert!(svg.contains("width=\"400\""));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_trd-cds"))
        .arg("assess")
        .arg(&bundle)
        .arg("--timeline")
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a missing output file is a usage error"
    );
}
