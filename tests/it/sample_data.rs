//! The sample data (`tests/data/sample-data/`, written by others: HL7's R4 examples,
//! pysynthea and Synthea bundles) through the whole pipeline: every FHIR file is read and assessed
//! without error or panic, `data_issues` are well-formed, patient-view cards render with summaries
//! under 140 characters, and where the data determines the status it is the one the contract
//! (docs/clinical-rules.md) implies, worked out by hand below.

use std::path::{Path, PathBuf};

use serde_json::Value;
use time::Date;
use time::macros::date;
use trd_cds::clinical::{Assessment, SiteConfig};
use trd_cds::fhir::record::PatientRecord;
use trd_cds::knowledge::KnowledgeBase;

const SAMPLE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-data");

/// A fixed evaluation date, so the expectations below stay true.
const AS_OF: Date = date!(2026 - 06 - 01);

/// Every JSON file under the sample-data directory that is a FHIR resource (has `resourceType`).
fn fhir_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(Path::new(SAMPLE_DATA), &mut all);
    all.into_iter()
        .filter(|p| {
            // A Synthea generator module (a state machine that made the MDD data), not FHIR.
            p.file_name()
                .is_some_and(|n| n != "major_depressive_disorder.module.json")
        })
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            v.get("resourceType").is_some_and(Value::is_string)
        })
        .collect()
}

fn sample(rel: &str) -> PathBuf {
    Path::new(SAMPLE_DATA).join(rel)
}

fn assess(path: &Path, kb: &KnowledgeBase) -> (PatientRecord, Assessment, Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let (record, a) =
        trd_cds::pipeline::assess_documents(&[&text], None, kb, &SiteConfig::default(), AS_OF)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v = serde_json::to_value(&a).unwrap();
    (record, a, v)
}

fn codes(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

fn kb() -> KnowledgeBase {
    KnowledgeBase::embedded().expect("embedded knowledge base")
}

#[test]
fn the_sample_data_is_all_there() {
    let files = fhir_files();
    // 33 official examples (minus the package.json.txt) + 3 pysynthea patients + Milan Beatty.
    assert!(
        files.len() >= 35,
        "found only {} FHIR files under {SAMPLE_DATA}",
        files.len()
    );
    assert!(
        !files
            .iter()
            .any(|p| p.ends_with("major_depressive_disorder.module.json")),
        "the generator module is not FHIR"
    );
}

#[test]
fn every_fhir_file_is_assessed_with_well_formed_data_issues() {
    let kb = kb();
    for path in fhir_files() {
        let name = path
            .strip_prefix(SAMPLE_DATA)
            .unwrap()
            .display()
            .to_string();
        let (_, a, v) = assess(&path, &kb);
        assert_eq!(a.as_of, AS_OF, "{name}");
        for key in [
            "status",
            "trials",
            "augmentations",
            "staging",
            "flags",
            "recommendations",
            "data_issues",
        ] {
            assert!(v.get(key).is_some(), "{name}: §13 field {key} missing");
        }
        for issue in &a.data_issues {
            let ok = |s: &str| !s.trim().is_empty() && s == s.trim();
            assert!(
                ok(&issue.resource) && !issue.resource.contains(char::is_whitespace),
                "{name}: data issue without a resource reference: {issue:?}"
            );
            assert!(
                ok(&issue.field),
                "{name}: data issue without a field: {issue:?}"
            );
            assert!(
                ok(&issue.problem),
                "{name}: data issue without a problem: {issue:?}"
            );
        }
        // Sorted and without duplicates, so the output is stable.
        let keys: Vec<_> = a
            .data_issues
            .iter()
            .map(|i| (&i.resource, &i.field, &i.problem))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{name}: data issues not sorted/deduplicated"
        );
        // A patient without an active MDD diagnosis is never assessed as TRD.
        if a.episode.is_none() {
            assert_eq!(v["status"], "not-applicable", "{name}");
        }
    }
}

#[test]
fn patient_view_cards_render_for_every_file() {
    let kb = kb();
    for path in fhir_files() {
        let name = path
            .strip_prefix(SAMPLE_DATA)
            .unwrap()
            .display()
            .to_string();
        let (record, a, v) = assess(&path, &kb);
        let cards = trd_cds::cards::patient_view(&a, &record, &kb, &Default::default());
        for c in &cards {
            let n = c.card.summary().chars().count();
            assert!(
                n > 0 && n < 140,
                "{name}: summary of {n} characters: {}",
                c.card.summary()
            );
            serde_json::to_value(&c.card)
                .unwrap_or_else(|e| panic!("{name}: card does not serialise: {e}"));
        }
        // Silence is the default (§10): no card when not-met / not-applicable and nothing urgent,
        // except the bipolar antidepressant-monotherapy warning.
        let urgent = a
            .recommendations
            .iter()
            .any(|r| matches!(r.priority, trd_cds::clinical::Priority::Urgent));
        let bipolar = codes(&v, "flags").iter().any(|f| f == "bipolar-spectrum");
        if matches!(v["status"].as_str(), Some("not-met" | "not-applicable")) && !urgent && !bipolar
        {
            assert!(
                cards.is_empty(),
                "{name}: {} card(s) for a silent assessment",
                cards.len()
            );
        }
    }
}

/// pysynthea: bipolar disorder (SNOMED 13746004, 9340000), lithium + quetiapine, no MDD Condition.
#[test]
fn bipolar_patient_is_not_applicable() {
    let (_, _, v) = assess(
        &sample("pysynthea-generated/bipolar-lithium-quetiapine_Jeff_Monahan_9641f238.json"),
        &kb(),
    );
    assert_eq!(v["status"], "not-applicable");
    let flags = codes(&v, "flags");
    assert!(flags.contains(&"bipolar-spectrum".to_string()), "{flags:?}");
    // No MDD Condition at all in this record.
    assert!(flags.contains(&"no-mdd-diagnosis".to_string()), "{flags:?}");
    // Not-applicable: only urgent codes and specialist-review (§9); bipolar → specialist-review.
    let recs = codes(&v, "recommendations");
    assert!(recs.contains(&"specialist-review".to_string()), "{recs:?}");
    assert!(
        recs.iter()
            .all(|r| r == "specialist-review" || r.starts_with("urgent-")),
        "{recs:?}"
    );
    // Lithium and quetiapine are augmentation agents, never antidepressant trials.
    assert_eq!(v["trials"].as_array().unwrap().len(), 0, "{}", v["trials"]);
}

/// pysynthea negative control: no depression diagnosis.
#[test]
fn no_depression_patient_is_not_applicable() {
    let (_, _, v) = assess(
        &sample("pysynthea-generated/no-depression_Melvina_Labadie_5189f169.json"),
        &kb(),
    );
    assert_eq!(v["status"], "not-applicable");
    assert_eq!(v["episode"], Value::Null);
    let flags = codes(&v, "flags");
    assert!(flags.contains(&"no-mdd-diagnosis".to_string()), "{flags:?}");
    assert!(
        !flags.contains(&"bipolar-spectrum".to_string()),
        "{flags:?}"
    );
    assert!(
        codes(&v, "recommendations")
            .iter()
            .all(|r| r.starts_with("urgent-")),
        "{}",
        v["recommendations"]
    );
}

/// pysynthea MDD + GAD patient, worked out from the contract as of 2026-06-01:
/// - MDD (SNOMED 370143000) active since 2024-05-08 → episode onset 2024-05-08; GAD (21897009) active
///   → `comorbid-anxiety`.
/// - Every antidepressant is a MedicationRequest `active` / `order` with an empty dosageInstruction
///   (`[{}]`) and no bounds or supply: each runs from authoredOn to `as_of` (§2) with an unknown dose.
///   escitalopram from 2020-10-06, sertraline from 2022-03-12, fluoxetine from 2025-08-09.
/// - Combination or switch (§3): sertraline starts while escitalopram runs, and escitalopram is still
///   running 28 days later (it never stops), so sertraline is a combination, not a trial; the same
///   for fluoxetine. The only trial is escitalopram; buspirone (also never stopped) is an augmentation.
/// - escitalopram: no PHQ-9 within 30 days before / 14 after 2020-10-06 → no baseline; the latest
///   follow-up is 23.68 (2024-05-08) → 24 ≥ 10 → `non-response`. Unknown dose, 5+ years long →
///   `duration_adequate`; judged by the non-response → `indeterminate` (§5 rule 4).
/// - Status: 0 failed, 1 failed-or-indeterminate ingredient < 2 → `not-met` (not `possible`).
/// - Flags: `dose-unknown` (the escitalopram trial), `comorbid-anxiety`.
/// - Recommendations: the current trial (escitalopram) is ongoing but its dose is unknown, so no
///   optimize-dose / extend-trial; `dose-unknown` with status not met → `verify-treatment-history`.
///
/// The README calls this patient "3 SSRIs": clinically the re-issued, never-stopped requests are
/// renewals, but the contract reads the record as written: one trial with two combinations.
#[test]
fn mdd_gad_three_ssri_patient_is_not_met_with_unknown_doses() {
    let (_, _, v) = assess(
        &sample("pysynthea-generated/mdd-gad-3ssri_Penni_Lubowitz_57e70413.json"),
        &kb(),
    );
    assert_eq!(v["status"], "not-met", "{v:#}");
    assert_eq!(v["episode"]["onset"], "2024-05-08");
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 1, "{}", v["trials"]);
    let t = &trials[0];
    assert_eq!(t["ingredient"], "escitalopram");
    assert_eq!(t["start"], "2020-10-06");
    assert_eq!(t["end"], Value::Null);
    assert_eq!(t["max_daily_dose_mg"], Value::Null);
    assert_eq!(t["measurement"], "non-response");
    assert_eq!(t["outcome"], "indeterminate");
    let augs: Vec<(String, String)> = v["augmentations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["agent"].as_str().unwrap().into(),
                a["class"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (agent, class) in [
        ("sertraline", "antidepressant-combination"),
        ("fluoxetine", "antidepressant-combination"),
        ("buspirone", "buspirone"),
    ] {
        assert!(
            augs.contains(&(agent.into(), class.into())),
            "{agent}: {augs:?}"
        );
    }
    assert_eq!(v["failed_adequate_trials"], 0);
    assert_eq!(codes(&v, "flags"), ["dose-unknown", "comorbid-anxiety"]);
    assert_eq!(codes(&v, "recommendations"), ["verify-treatment-history"]);
}

/// Synthea (Java) Milan Beatty, worked out from the contract as of 2026-06-01:
/// - MDD (SNOMED 370143000) active since 1993-01-09: the episode.
/// - fluoxetine "Fluoxetine 25MG" (RxCUI 406022, 25 mg per unit in the product table), 1 unit once a
///   day = 25 mg/day ≥ 20 → adequate dose. One request `stopped` (1993-01-09, no bounds/supply:
///   +30 days), one `active` from 1993-01-17 (runs to `as_of`): they overlap → one trial, not ended
///   (its last exposure is the active one, running to `as_of`).
/// - No PHQ Observations → `unmeasured`; not ended → outcome `ongoing` (§5 rule 6).
/// - Status `not-met`; no flags; the current trial is ongoing at 25 mg < optimised 40 mg without a
///   response → `optimize-dose` (the only recommendation). Not met and nothing urgent: no card.
#[test]
fn milan_beatty_is_not_met_on_ongoing_fluoxetine() {
    let kb = kb();
    let (record, a, v) = assess(
        &sample("synthea-smart-on-fhir/Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json"),
        &kb,
    );
    assert_eq!(v["status"], "not-met", "{v:#}");
    assert_eq!(v["episode"]["onset"], "1993-01-09");
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 1, "{}", v["trials"]);
    let t = &trials[0];
    assert_eq!(t["ingredient"], "fluoxetine");
    assert_eq!(t["start"], "1993-01-09");
    assert_eq!(t["end"], Value::Null);
    assert_eq!(t["max_daily_dose_mg"].as_f64(), Some(25.0));
    assert_eq!(t["dose_adequate"], true);
    assert_eq!(t["duration_adequate"], true);
    assert_eq!(t["measurement"], "unmeasured");
    assert_eq!(t["outcome"], "ongoing");
    assert_eq!(t["evidence"].as_array().unwrap().len(), 2);
    assert!(codes(&v, "flags").is_empty(), "{}", v["flags"]);
    assert_eq!(codes(&v, "recommendations"), ["optimize-dose"]);
    assert!(trd_cds::cards::patient_view(&a, &record, &kb, &Default::default()).is_empty());
}

/// The HL7 R4 examples are single resources, none of them an antidepressant or an MDD diagnosis:
/// nothing to assess, and never an error.
#[test]
fn official_r4_examples_are_not_applicable() {
    let kb = kb();
    let dir = sample("fhir-r4-official-examples");
    let files: Vec<PathBuf> = fhir_files()
        .into_iter()
        .filter(|p| p.starts_with(&dir))
        .collect();
    assert!(files.len() >= 30, "{} official examples", files.len());
    for path in files {
        let (_, _, v) = assess(&path, &kb);
        assert_eq!(v["status"], "not-applicable", "{}", path.display());
        assert!(
            v["trials"].as_array().unwrap().is_empty(),
            "{}: {}",
            path.display(),
            v["trials"]
        );
    }
}
