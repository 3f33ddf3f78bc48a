//! Real shapes from real EHR exports, read by the FHIR reader: one fixture per shape under
//! `tests/fixtures/ehr-shapes/` (minimal Bundles modelled on Epic and Oracle Health (Cerner)
//! R4 exports, the FHIR R4 examples and US Core), each with the reading clinical-rules §1–§4
//! expects: the exposures (ingredient, start, end, mg/day), the scores and the data issues.
//!
//! Shapes covered: a MedicationRequest with `dosageInstruction.text` only; a dose in tablets
//! with the strength only in the (bundled or contained) Medication; Epic's `calculated` +
//! `admin-amount` doseAndRate pair; `courseOfTherapyType` and `reportedBoolean`; Cerner's
//! `tab(s)` unit and SNOMED frequency codes; status `unknown`; a MedicationStatement with
//! `informationSource`; PHQ-9 as `valueInteger`, `valueQuantity`, panel `component`s, an item-9
//! answer code, a flowsheet `valueString`, the adolescent code with a fractional value.

use std::sync::OnceLock;

use time::Date;
use time::macros::date;
use trd_cds::fhir::reader::read_bundle;
use trd_cds::fhir::record::{MatchedBy, PatientRecord};
use trd_cds::knowledge::{KnowledgeBase, ObservationKind};

fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::embedded().expect("embedded knowledge base"))
}

fn read(fixture: &str) -> PatientRecord {
    let path = format!(
        "{}/tests/fixtures/ehr-shapes/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    read_bundle(&text, kb()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(ingredient, start, end, mg/day, source)` of every exposure, in input order.
type Reading = (String, Date, Option<Date>, Option<f64>, String);

fn exposures(r: &PatientRecord) -> Vec<Reading> {
    r.exposures
        .iter()
        .map(|e| {
            (
                e.ingredient.clone(),
                e.start,
                e.end,
                e.daily_dose_mg,
                e.source.clone(),
            )
        })
        .collect()
}

fn exposure(
    ingredient: &str,
    start: Date,
    end: Option<Date>,
    mg: Option<f64>,
    source: &str,
) -> Reading {
    (ingredient.into(), start, end, mg, source.into())
}

fn issues(r: &PatientRecord) -> Vec<(String, String)> {
    r.data_issues
        .iter()
        .map(|d| (d.resource.clone(), d.field.clone()))
        .collect()
}

#[test]
fn epic_request_with_dosage_text_only_has_unknown_dose() {
    // Epic sends many orders with the sig as text only: the order counts (from the boundsPeriod
    // start, open while active) with an unknown dose — never zero, never a guessed number.
    let r = read("epic-medicationrequest-text-only");
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "sertraline",
            date!(2025 - 03 - 05),
            None,
            None,
            "MedicationRequest/eRx.text-only"
        )]
    );
    assert_eq!(r.exposures[0].matched_by, MatchedBy::RxnormProduct);
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn epic_request_in_tablets_takes_the_strength_from_the_medication() {
    // 2 tablets daily; the Medication (Epic's own code, text, ingredient strength 10 mg/tablet)
    // is the only place the strength is written. 90 days × (1 + 1 repeat) = 180 days of supply.
    let r = read("epic-medicationrequest-tablets-strength-in-medication");
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "escitalopram",
            date!(2025 - 01 - 10),
            Some(date!(2025 - 07 - 09)),
            Some(20.0),
            "MedicationRequest/eRx.escitalopram"
        )]
    );
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn epic_calculated_and_admin_amount_doses_read_once() {
    // Epic writes the dose twice: `calculated` 300 mg and `admin-amount` 2 tablets. One dose
    // (300 mg/day), not the sum.
    let r = read("epic-medicationrequest-calculated-and-admin-amount");
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "bupropion",
            date!(2024 - 09 - 02),
            Some(date!(2024 - 12 - 01)),
            Some(300.0),
            "MedicationRequest/eRx.bupropion"
        )]
    );
    assert_eq!(r.exposures[0].status, "stopped");
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn cerner_reported_request_in_tab_s_once_daily() {
    // `reportedBoolean: true` (patient-reported) and `courseOfTherapyType` change nothing; the
    // `tab(s)` unit with code `{tbl}` is a count of 50 mg tablets; SNOMED "once daily".
    let r = read("cerner-medicationrequest-tab-s-reported");
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "sertraline",
            date!(2025 - 02 - 01),
            None,
            Some(50.0),
            "MedicationRequest/313757847"
        )]
    );
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn cerner_twice_daily_snomed_code_is_two_administrations() {
    // timing.code SNOMED 229799001 "Twice a day" with text "2 times a day": 1 tablet of 50 mg
    // twice a day is 100 mg/day, not 50 (it was read as once daily: "timing without frequency").
    let r = read("cerner-medicationrequest-twice-daily-snomed");
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "sertraline",
            date!(2025 - 02 - 01),
            Some(date!(2025 - 04 - 01)),
            Some(100.0),
            "MedicationRequest/313757900"
        )]
    );
}

#[test]
fn request_with_status_unknown_is_not_an_exposure_but_is_reported() {
    // §2: a MedicationRequest counts when active, completed, stopped or on-hold; `unknown` is not
    // in the list. An antidepressant order in status unknown must not vanish without a word
    // (Nothing silent): it is a data issue on `status`. An unknown status of a drug the rules do
    // not know (lisinopril) is not.
    let r = read("medicationrequest-status-unknown");
    assert_eq!(exposures(&r), vec![]);
    assert_eq!(
        issues(&r),
        vec![(
            "MedicationRequest/eRx.unknown".to_string(),
            "status".to_string()
        )]
    );
    assert!(
        r.data_issues[0].problem.contains("unknown"),
        "{:?}",
        r.data_issues
    );
}

#[test]
fn statement_information_source_changes_nothing() {
    // Reported by a relative (RelatedPerson) or the patient: read like any statement. The
    // patient's "Zoloft?" names sertraline by brand; 1 tablet without a strength is unknown.
    let r = read("medicationstatement-information-source");
    assert_eq!(
        exposures(&r),
        vec![
            exposure(
                "venlafaxine",
                date!(2024 - 02 - 01),
                Some(date!(2024 - 05 - 01)),
                Some(150.0),
                "MedicationStatement/ms-family-reported"
            ),
            exposure(
                "sertraline",
                date!(2025 - 09 - 01),
                None,
                None,
                "MedicationStatement/ms-patient-reported"
            ),
        ]
    );
    assert_eq!(r.exposures[1].matched_by, MatchedBy::Text);
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn phq9_value_shapes() {
    let r = read("observation-phq9-shapes");
    let mut scores: Vec<(String, ObservationKind, Date, i64)> = r
        .scores
        .iter()
        .map(|s| (s.reference.clone(), s.kind, s.date, s.value))
        .collect();
    scores.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    let total = ObservationKind::Phq9Total;
    let item9 = ObservationKind::Phq9Item9;
    let s = |r: &str, k, d, v| (format!("Observation/{r}"), k, d, v);
    assert_eq!(
        scores,
        vec![
            // valueInteger, dateTime with an offset: the local day as written.
            s("phq-integer", total, date!(2025 - 01 - 10), 18),
            // item 9 as a LOINC answer code (LA6570-1 = 2), a separate Observation (US Core).
            s("phq-item9-answer", item9, date!(2025 - 03 - 01), 2),
            // valueQuantity {score}, status amended.
            s("phq-quantity", total, date!(2025 - 03 - 01), 14),
            // The panel (44249-1, not itself a score): its item-9 and total components.
            s("phq-panel", item9, date!(2025 - 05 - 02), 0),
            s("phq-panel", total, date!(2025 - 05 - 02), 9),
            // Epic flowsheet value as a string, coded with Epic's own code and LOINC.
            s("phq-flowsheet-string", total, date!(2025 - 07 - 01), 7),
            // Adolescent PHQ-9 (89204-2), 4.5 rounds half up to 5.
            s("phq-adolescent", total, date!(2025 - 08 - 01), 5),
        ]
    );
    assert_eq!(issues(&r), vec![]);
}

/// Paging overlap and prefetch + fetched pages: EHRs send the same resource twice (a searchset
/// page boundary moving under concurrent writes, or a key prefetched and also fetched). One
/// resource is one fact, whatever number of times it arrives (found by the metamorphic property
/// `duplicate_resource`: a duplicated statement added an MAOI "interacting pair").
#[test]
fn the_same_resource_twice_is_read_once() {
    use trd_cds::fhir::reader::{Document, read_all};
    let dispense = r#"{"resourceType":"MedicationDispense","id":"md1","status":"completed",
        "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"312941","display":"sertraline 50 MG Oral Tablet"}]},
        "subject":{"reference":"Patient/p1"},"whenHandedOver":"2025-01-02",
        "quantity":{"value":30,"unit":"tablet"},"daysSupply":{"value":30,"unit":"day"},
        "dosageInstruction":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}]}"#;
    let ect = r#"{"resourceType":"Procedure","id":"ect1","status":"completed","subject":{"reference":"Patient/p1"},
        "code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"90870"}]},"performedDateTime":"2025-02-03"}"#;
    let page = |resources: &[&str]| {
        let entries: Vec<String> = resources
            .iter()
            .map(|r| format!(r#"{{"resource":{r},"search":{{"mode":"match"}}}}"#))
            .collect();
        format!(
            r#"{{"resourceType":"Bundle","type":"searchset","entry":[{}]}}"#,
            entries.join(",")
        )
    };
    let first = page(&[dispense, ect]);
    let second = page(&[ect, dispense]);
    let r = read_all(&[Document::Json(&first), Document::Json(&second)], kb()).unwrap();
    assert_eq!(
        exposures(&r),
        vec![exposure(
            "sertraline",
            date!(2025 - 01 - 02),
            Some(date!(2025 - 02 - 01)),
            Some(50.0),
            "MedicationDispense/md1"
        )]
    );
    assert_eq!(r.procedures.len(), 1);
    assert_eq!(issues(&r), vec![]);

    // Two different versions under one id: the first is read and the conflict reported.
    let changed = dispense.replace(r#""value":30,"unit":"day""#, r#""value":90,"unit":"day""#);
    let second = page(&[&changed]);
    let r = read_all(&[Document::Json(&first), Document::Json(&second)], kb()).unwrap();
    assert_eq!(r.exposures.len(), 1);
    assert_eq!(r.exposures[0].end, Some(date!(2025 - 02 - 01)));
    assert_eq!(
        issues(&r),
        vec![("MedicationDispense/md1".to_string(), "id".to_string())]
    );
}
