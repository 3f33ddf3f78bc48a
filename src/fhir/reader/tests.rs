use std::sync::OnceLock;

use time::macros::date;

use super::*;
use crate::knowledge::ConditionCategory;

/// Several FHIR JSON texts read into one record.
fn read_documents(docs: &[&str], kb: &KnowledgeBase) -> Result<PatientRecord, ReadError> {
    let docs: Vec<Document<'_>> = docs.iter().map(|d| Document::Json(d)).collect();
    read_all(&docs, kb)
}

fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::embedded().expect("embedded knowledge base"))
}

fn read(json: &str) -> PatientRecord {
    read_bundle(json, kb()).expect("readable")
}

fn bundle(resources: &[&str]) -> String {
    let entries: Vec<String> = resources
        .iter()
        .map(|r| format!(r#"{{"resource":{r}}}"#))
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[{}]}}"#,
        entries.join(",")
    )
}

const SERTRALINE_IN: &str = r#"{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"36437","display":"sertraline"}]}"#;
const SERTRALINE_100_TAB: &str = r#"{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"312938","display":"sertraline 100 MG Oral Tablet"}]}"#;
const ONE_TAB_DAILY: &str = r#"[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}]"#;

fn issue(resource: &str, field: &str, problem: &str) -> DataIssue {
    DataIssue {
        resource: resource.into(),
        field: field.into(),
        problem: problem.into(),
    }
}

// --- MedicationStatement ----------------------------------------------------------------------

#[test]
fn statement_active_open_with_dose() {
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"ms1","status":"active","medicationCodeableConcept":{SERTRALINE_IN},
            "subject":{{"reference":"Patient/p1"}},"effectivePeriod":{{"start":"2025-03"}},
            "dosage":[{{"timing":{{"code":{{"coding":[{{"code":"BID"}}]}}}},"doseAndRate":[{{"doseQuantity":{{"value":50,"unit":"mg"}}}}]}}]}}"#
    ));
    assert_eq!(r.exposures.len(), 1, "{r:?}");
    let e = &r.exposures[0];
    assert_eq!(e.ingredient, "sertraline");
    assert_eq!(e.start, date!(2025 - 03 - 01));
    assert_eq!(e.end, None);
    assert_eq!(e.daily_dose_mg, Some(100.0));
    assert_eq!(e.source, "MedicationStatement/ms1");
    assert_eq!(e.kind, SourceKind::MedicationStatement);
    assert_eq!(e.status, "active");
    assert_eq!(e.matched_by, MatchedBy::RxnormIngredient);
    assert!(!e.adverse_stop);
    assert!(e.assumptions.is_empty());
    assert!(r.data_issues.is_empty());
    assert_eq!(r.patient.as_deref(), Some("Patient/p1"));
}

#[test]
fn statement_end_rules() {
    let ms = |status: &str, extra: &str| {
        read(&format!(
            r#"{{"resourceType":"MedicationStatement","id":"m","status":"{status}","medicationCodeableConcept":{SERTRALINE_IN},{extra}}}"#
        ))
    };
    // Period end, widened to the end of the month.
    let r = ms(
        "completed",
        r#""effectivePeriod":{"start":"2025-01-10","end":"2025-03"}"#,
    );
    assert_eq!(r.exposures[0].end, Some(date!(2025 - 03 - 31)));
    // completed without end: dateAsserted.
    let r = ms(
        "completed",
        r#""effectiveDateTime":"2025-01-10T08:00:00-05:00","dateAsserted":"2025-02-20""#,
    );
    assert_eq!(
        (r.exposures[0].start, r.exposures[0].end),
        (date!(2025 - 01 - 10), Some(date!(2025 - 02 - 20)))
    );
    // stopped without end or dateAsserted: the start.
    let r = ms("stopped", r#""effectiveDateTime":"2025-01-10""#);
    assert_eq!(r.exposures[0].end, Some(date!(2025 - 01 - 10)));
    // on-hold / unknown: open.
    for s in ["on-hold", "unknown", "active"] {
        let r = ms(
            s,
            r#""effectiveDateTime":"2025-01-10","dateAsserted":"2025-02-20""#,
        );
        assert_eq!(r.exposures[0].end, None, "{s}");
    }
    // No dosage: unknown dose, no assumption about timing.
    assert_eq!(r.exposures[0].daily_dose_mg, None);
}

#[test]
fn statement_statuses_that_never_count() {
    for s in ["not-taken", "intended", "entered-in-error"] {
        let r = ms_with_status(s);
        assert!(
            r.exposures.is_empty() && r.data_issues.is_empty(),
            "{s}: {r:?}"
        );
    }
}

fn ms_with_status(s: &str) -> PatientRecord {
    read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"m","status":"{s}","medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"2025-01-10"}}"#
    ))
}

#[test]
fn statement_malformed_dates_are_issues_not_exposures() {
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"ms7","status":"active","medicationCodeableConcept":{SERTRALINE_IN},"effectivePeriod":{{"start":"2023-02-30"}}}}"#
    ));
    assert!(r.exposures.is_empty());
    assert_eq!(
        r.data_issues,
        vec![issue(
            "MedicationStatement/ms7",
            "effectivePeriod.start",
            "invalid date '2023-02-30'"
        )]
    );

    for (eff, field, problem) in [
        (
            r#""effectiveDateTime":"yesterday""#,
            "effectiveDateTime",
            "invalid date 'yesterday'",
        ),
        (
            r#""effectiveDateTime":20230101"#,
            "effectiveDateTime",
            "invalid date 20230101",
        ),
        (
            r#""effectivePeriod":{"start":"2023-01-01","end":"2023-13"}"#,
            "effectivePeriod.end",
            "invalid date '2023-13'",
        ),
        ("\"x\":1", "effective[x]", "missing effective[x]"),
        (
            r#""effectivePeriod":{"end":"2023-01-01"}"#,
            "effectivePeriod.start",
            "missing effectivePeriod.start",
        ),
    ] {
        let r = read(&format!(
            r#"{{"resourceType":"MedicationStatement","id":"ms7","status":"active","medicationCodeableConcept":{SERTRALINE_IN},{eff}}}"#
        ));
        assert!(r.exposures.is_empty(), "{eff}");
        assert_eq!(
            r.data_issues,
            vec![issue("MedicationStatement/ms7", field, problem)],
            "{eff}"
        );
    }
}

#[test]
fn unknown_medications_produce_nothing() {
    let r = read(
        r#"{"resourceType":"MedicationStatement","id":"m","status":"active","medicationCodeableConcept":{"text":"Little Pink Pill"},"effectiveDateTime":"not a date"}"#,
    );
    assert!(r.exposures.is_empty() && r.data_issues.is_empty(), "{r:?}");
}

#[test]
fn statement_adverse_status_reason() {
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"m","status":"stopped","statusReason":[{{"text":"Stopped: side effects (nausea)"}}],
            "medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"2025-01-10"}}"#
    ));
    assert!(r.exposures[0].adverse_stop);
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"m","status":"stopped","statusReason":[{{"coding":[{{"system":"http://snomed.info/sct","code":"166643006"}}]}}],
            "medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"2025-01-10"}}"#
    ));
    assert!(!r.exposures[0].adverse_stop);
}

#[test]
fn malformed_dose_is_reported_and_unknown() {
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"m","status":"active","medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"2025-01-10",
            "dosage":[{{"doseAndRate":[{{"doseQuantity":{{"value":"100","unit":"mg"}}}}]}}]}}"#
    ));
    assert_eq!(r.exposures.len(), 1);
    assert_eq!(r.exposures[0].daily_dose_mg, None);
    assert_eq!(
        r.data_issues,
        vec![issue(
            "MedicationStatement/m",
            "dosage[0].doseAndRate[0].doseQuantity.value",
            "invalid dose '100'"
        )]
    );
}

#[test]
fn no_timing_assumption_recorded() {
    let r = read(&format!(
        r#"{{"resourceType":"MedicationStatement","id":"m","status":"active","medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"2025-01-10",
            "dosage":[{{"doseAndRate":[{{"doseQuantity":{{"value":150,"unit":"mg"}}}}]}}]}}"#
    ));
    assert_eq!(r.exposures[0].daily_dose_mg, Some(150.0));
    assert_eq!(
        r.exposures[0].assumptions,
        vec!["no timing: once daily assumed".to_string()]
    );
}

// --- MedicationRequest ------------------------------------------------------------------------

fn mr(status: &str, extra: &str) -> PatientRecord {
    read(&format!(
        r#"{{"resourceType":"MedicationRequest","id":"mr1","status":"{status}","intent":"order","medicationCodeableConcept":{SERTRALINE_100_TAB},
            "authoredOn":"2025-01-01T10:00:00Z"{extra}}}"#
    ))
}

#[test]
fn request_product_strength_and_end_rules() {
    let r = mr(
        "active",
        &format!(r#","dosageInstruction":{ONE_TAB_DAILY}"#),
    );
    let e = &r.exposures[0];
    assert_eq!(
        (e.ingredient.as_str(), e.matched_by),
        ("sertraline", MatchedBy::RxnormProduct)
    );
    assert_eq!(e.daily_dose_mg, Some(100.0));
    assert_eq!((e.start, e.end), (date!(2025 - 01 - 01), None));
    assert_eq!(e.kind, SourceKind::MedicationRequest);

    let supply = r#","dispenseRequest":{"numberOfRepeatsAllowed":2,"expectedSupplyDuration":{"value":30,"unit":"days","code":"d"}}"#;
    assert_eq!(
        mr("active", supply).exposures[0].end,
        Some(date!(2025 - 04 - 01))
    );
    let weeks = r#","dispenseRequest":{"expectedSupplyDuration":{"value":2,"code":"wk"}}"#;
    assert_eq!(
        mr("stopped", weeks).exposures[0].end,
        Some(date!(2025 - 01 - 15))
    );
    let default_days = kb().params().request_default_days;
    assert_eq!(
        mr("completed", "").exposures[0].end,
        Some(add_days(date!(2025 - 01 - 01), default_days))
    );
    assert_eq!(
        mr("on-hold", "").exposures[0].end,
        Some(add_days(date!(2025 - 01 - 01), default_days))
    );
    for s in ["draft", "cancelled", "entered-in-error", "unknown"] {
        assert!(mr(s, "").exposures.is_empty(), "{s}");
    }
}

#[test]
fn request_intents() {
    for (intent, n) in [
        ("order", 1),
        ("original-order", 1),
        ("reflex-order", 1),
        ("filler-order", 1),
        ("instance-order", 1),
        ("plan", 1),
        ("proposal", 0),
        ("option", 0),
    ] {
        let r = read(&format!(
            r#"{{"resourceType":"MedicationRequest","id":"x","status":"active","intent":"{intent}","medicationCodeableConcept":{SERTRALINE_IN},"authoredOn":"2025-01-01"}}"#
        ));
        assert_eq!(r.exposures.len(), n, "{intent}");
    }
}

#[test]
fn request_bounds_periods_make_segments() {
    let r = mr(
        "active",
        r#","dosageInstruction":[
            {"timing":{"repeat":{"boundsPeriod":{"start":"2025-01-01","end":"2025-01-31"},"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":50,"unit":"mg"}}]},
            {"timing":{"repeat":{"boundsPeriod":{"start":"2025-02-01"},"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]},
            {"timing":{"repeat":{"boundsPeriod":{"start":"2025-02-01"},"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":50,"unit":"mg"}}]}]"#,
    );
    let segs: Vec<_> = r
        .exposures
        .iter()
        .map(|e| (e.start, e.end, e.daily_dose_mg))
        .collect();
    assert_eq!(
        segs,
        vec![
            (
                date!(2025 - 01 - 01),
                Some(date!(2025 - 01 - 31)),
                Some(50.0)
            ),
            (date!(2025 - 02 - 01), None, Some(150.0))
        ]
    );
}

#[test]
fn request_adverse_status_reason_single_concept() {
    let r = mr(
        "stopped",
        r#","statusReason":{"coding":[{"system":"http://snomed.info/sct","code":"281647001"}]}"#,
    );
    assert!(r.exposures[0].adverse_stop);
}

#[test]
fn request_bad_authored_on() {
    let r = mr("active", "").exposures.len();
    assert_eq!(r, 1);
    let r = read(&format!(
        r#"{{"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order","medicationCodeableConcept":{SERTRALINE_IN},"authoredOn":"2025-02-30"}}"#
    ));
    assert!(r.exposures.is_empty());
    assert_eq!(
        r.data_issues,
        vec![issue(
            "MedicationRequest/mr1",
            "authoredOn",
            "invalid date '2025-02-30'"
        )]
    );
}

// --- MedicationDispense -----------------------------------------------------------------------

#[test]
fn dispense_supply_and_fallback() {
    let md = |status: &str, extra: &str| {
        read(&format!(
            r#"{{"resourceType":"MedicationDispense","id":"md1","status":"{status}","medicationCodeableConcept":{SERTRALINE_100_TAB},
                "whenPrepared":"2025-01-01","whenHandedOver":"2025-01-02","quantity":{{"value":60,"unit":"TAB"}},
                "daysSupply":{{"value":30,"unit":"days","code":"d"}}{extra}}}"#
        ))
    };
    let r = md(
        "completed",
        &format!(r#","dosageInstruction":{ONE_TAB_DAILY}"#),
    );
    let e = &r.exposures[0];
    assert_eq!(
        (e.start, e.end, e.daily_dose_mg),
        (
            date!(2025 - 01 - 02),
            Some(date!(2025 - 02 - 01)),
            Some(100.0)
        )
    );
    assert_eq!(e.kind, SourceKind::MedicationDispense);
    let r = md("completed", "");
    let e = &r.exposures[0];
    assert_eq!(e.daily_dose_mg, Some(200.0));
    assert_eq!(
        e.assumptions,
        vec!["no usable dosage: daily dose = strength × quantity / daysSupply".to_string()]
    );
    for s in [
        "in-progress",
        "preparation",
        "cancelled",
        "entered-in-error",
        "declined",
    ] {
        assert!(md(s, "").exposures.is_empty(), "{s}");
    }
}

// --- Medication resolution --------------------------------------------------------------------

#[test]
fn contained_medication() {
    let r = read(
        r##"{"resourceType":"MedicationStatement","id":"ms","status":"active",
            "contained":[{"resourceType":"Medication","id":"med1","code":{"coding":[{"system":"http://hl7.org/fhir/sid/ndc","code":"0000"}],"text":"Zoloft 50 mg tablets"}}],
            "medicationReference":{"reference":"#med1"},"effectiveDateTime":"2025-01-01",
            "dosage":[{"timing":{"code":{"coding":[{"code":"QD"}]}},"doseAndRate":[{"doseQuantity":{"value":2,"unit":"tablet"}}]}]}"##,
    );
    let e = &r.exposures[0];
    assert_eq!(
        (e.ingredient.as_str(), e.matched_by, e.daily_dose_mg),
        ("sertraline", MatchedBy::Text, Some(100.0))
    );
}

#[test]
fn urn_uuid_and_cross_document_references() {
    let b = r#"{"resourceType":"Bundle","type":"transaction","entry":[
        {"fullUrl":"urn:uuid:aaa","resource":{"resourceType":"MedicationRequest","status":"active","intent":"order",
           "medicationReference":{"reference":"urn:uuid:med-1"},"authoredOn":"2025-01-01"}},
        {"fullUrl":"urn:uuid:med-1","resource":{"resourceType":"Medication","code":{"coding":[{"system":"http://www.whocc.no/atc","code":"N06AB10"}]}}}]}"#;
    let r = read(b);
    assert_eq!(r.exposures.len(), 1);
    assert_eq!(r.exposures[0].ingredient, "escitalopram");
    assert_eq!(r.exposures[0].matched_by, MatchedBy::Atc);
    assert_eq!(r.exposures[0].source, "urn:uuid:aaa");

    let req = r#"{"resourceType":"MedicationRequest","id":"r","status":"active","intent":"order","medicationReference":{"reference":"https://ehr.example/fhir/Medication/m9/_history/2"},"authoredOn":"2025-01-01"}"#;
    let med = format!(r#"{{"resourceType":"Medication","id":"m9","code":{SERTRALINE_100_TAB}}}"#);
    let r = read_documents(&[req, &med], kb()).unwrap();
    assert_eq!(r.exposures.len(), 1);
    assert_eq!(r.exposures[0].ingredient, "sertraline");

    let r = read(req);
    assert!(r.exposures.is_empty());
    assert_eq!(
        r.data_issues,
        vec![issue(
            "MedicationRequest/r",
            "medicationReference",
            "unresolved reference 'https://ehr.example/fhir/Medication/m9/_history/2'"
        )]
    );
}

#[test]
fn combination_products_map_to_every_ingredient() {
    let r = read(
        r#"{"resourceType":"MedicationRequest","id":"c","status":"active","intent":"order",
            "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"403969"}]},"authoredOn":"2025-01-01",
            "dosageInstruction":[{"timing":{"code":{"coding":[{"code":"QPM"}]}},"doseAndRate":[{"doseQuantity":{"value":1,"code":"{capsule}"}}]}]}"#,
    );
    let mut got: Vec<_> = r
        .exposures
        .iter()
        .map(|e| (e.ingredient.clone(), e.daily_dose_mg))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("fluoxetine".into(), Some(25.0)),
            ("olanzapine".into(), Some(6.0))
        ]
    );
}

#[test]
fn medication_ingredient_strength_ratio() {
    let r = read(
        r##"{"resourceType":"MedicationStatement","id":"ms","status":"active",
            "contained":[{"resourceType":"Medication","id":"m","code":{"text":"house formulary item"},
              "ingredient":[{"itemCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"321988"}]},
                "strength":{"numerator":{"value":10,"code":"mg"},"denominator":{"value":1,"code":"TAB"}}}]}],
            "medicationReference":{"reference":"#m"},"effectiveDateTime":"2025-01-01",
            "dosage":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":2,"unit":"TAB"}}]}]}"##,
    );
    let e = &r.exposures[0];
    assert_eq!(
        (e.ingredient.as_str(), e.daily_dose_mg),
        ("escitalopram", Some(20.0))
    );
}

#[test]
fn transdermal_selegiline() {
    let r = read(
        r#"{"resourceType":"MedicationStatement","id":"s","status":"active",
            "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"865206","display":"24 HR selegiline 0.25 MG/HR Transdermal System"}]},
            "effectiveDateTime":"2025-01-01",
            "dosage":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"patch"}}]}]}"#,
    );
    assert_eq!(r.exposures[0].daily_dose_mg, Some(6.0));
}

// --- Conditions -------------------------------------------------------------------------------

fn condition(body: &str) -> PatientRecord {
    read(&format!(
        r#"{{"resourceType":"Condition","id":"c1",{body}}}"#
    ))
}

#[test]
fn condition_codes_statuses_onset() {
    let r = condition(
        r#""code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"f33.1"}]},"onsetDateTime":"2024-05","recordedDate":"2024-06-01""#,
    );
    let c = &r.conditions[0];
    assert_eq!(
        c.codes,
        vec![Code {
            system: systems::ICD10CM.into(),
            code: "F331".into()
        }]
    );
    assert!(c.categories.contains(&ConditionCategory::Mdd));
    assert_eq!(c.clinical_status, ClinicalStatus::Active);
    assert!(!c.refuted);
    assert_eq!(c.onset, Some(date!(2024 - 05 - 01)));

    let r = condition(
        r#""clinicalStatus":{"coding":[{"code":"resolved"}]},"verificationStatus":{"coding":[{"code":"refuted"}]},
           "code":{"coding":[{"system":"http://snomed.info/sct","code":"370143000"}]},"onsetPeriod":{"start":"2020"}"#,
    );
    let c = &r.conditions[0];
    assert_eq!(
        (c.clinical_status, c.refuted, c.onset),
        (ClinicalStatus::Inactive, true, Some(date!(2020 - 01 - 01)))
    );

    for s in ["recurrence", "relapse"] {
        let r = condition(&format!(
            r#""clinicalStatus":{{"coding":[{{"code":"{s}"}}]}},"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"370143000"}}]}}"#
        ));
        assert_eq!(r.conditions[0].clinical_status, ClinicalStatus::Active);
        assert_eq!(r.conditions[0].onset, None);
    }
}

#[test]
fn condition_bad_onset_falls_back_to_recorded_date() {
    let r = condition(
        r#""code":{"coding":[{"system":"http://snomed.info/sct","code":"370143000"}]},"onsetDateTime":"2024-02-30","recordedDate":"2024-03-05T10:00:00Z""#,
    );
    assert_eq!(r.conditions[0].onset, Some(date!(2024 - 03 - 05)));
    assert_eq!(
        r.data_issues,
        vec![issue(
            "Condition/c1",
            "onsetDateTime",
            "invalid date '2024-02-30'"
        )]
    );
}

#[test]
fn conditions_skipped() {
    // entered-in-error, no category, text only.
    for body in [
        r#""verificationStatus":{"coding":[{"code":"entered-in-error"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"370143000"}]}"#,
        r#""code":{"coding":[{"system":"http://snomed.info/sct","code":"312824007"}]}"#,
        r#""code":{"text":"depression"}"#,
    ] {
        let r = condition(body);
        assert!(
            r.conditions.is_empty() && r.data_issues.is_empty(),
            "{body}"
        );
    }
}

#[test]
fn who_icd10_read_as_icd10cm() {
    let r = condition(
        r#""code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"F34.0"}]}"#,
    );
    assert!(
        r.conditions[0]
            .categories
            .contains(&ConditionCategory::Bipolar)
    );
}

// --- Observations -----------------------------------------------------------------------------

fn obs(body: &str) -> PatientRecord {
    read(&format!(
        r#"{{"resourceType":"Observation","id":"o1","status":"final",{body}}}"#
    ))
}

const PHQ9: &str = r#""code":{"coding":[{"system":"http://loinc.org","code":"44261-6"}]}"#;
const ITEM9: &str = r#""code":{"coding":[{"system":"http://loinc.org","code":"44260-8"}]}"#;

#[test]
fn score_values() {
    for (value, want) in [
        (r#""valueInteger":17"#, 17),
        (r#""valueQuantity":{"value":23.68,"unit":"{score}"}"#, 24),
        (r#""valueQuantity":{"value":23.5}"#, 24),
        (r#""valueQuantity":{"value":23.49}"#, 23),
        (r#""valueString":" 12 ""#, 12),
    ] {
        let r = obs(&format!(
            r#"{PHQ9},"effectiveDateTime":"2025-01-05T09:00:00+02:00",{value}"#
        ));
        assert_eq!(r.scores.len(), 1, "{value}");
        let s = &r.scores[0];
        assert_eq!(
            (s.kind, s.value, s.date),
            (ObservationKind::Phq9Total, want, date!(2025 - 01 - 05)),
            "{value}"
        );
    }
}

#[test]
fn score_value_problems() {
    for (value, field, problem) in [
        (
            r#""valueString":"twelve""#,
            "valueString",
            "invalid score 'twelve'",
        ),
        (r#""valueInteger":-3"#, "valueInteger", "invalid score -3"),
        (
            r#""valueQuantity":{"value":"9"}"#,
            "valueQuantity.value",
            "invalid score '9'",
        ),
        (
            r#""valueBoolean":true"#,
            "valueBoolean",
            "invalid score true",
        ),
    ] {
        let r = obs(&format!(
            r#"{PHQ9},"effectiveDateTime":"2025-01-05",{value}"#
        ));
        assert!(r.scores.is_empty(), "{value}");
        assert_eq!(
            r.data_issues,
            vec![issue("Observation/o1", field, problem)],
            "{value}"
        );
    }
    // No value at all (dataAbsentReason): nothing, silently.
    let r = obs(&format!(
        r#"{PHQ9},"effectiveDateTime":"2025-01-05","dataAbsentReason":{{"text":"asked but declined"}}"#
    ));
    assert!(r.scores.is_empty() && r.data_issues.is_empty());
}

#[test]
fn score_statuses_dates_and_order() {
    for s in ["preliminary", "registered", "cancelled", "entered-in-error"] {
        let r = read(&format!(
            r#"{{"resourceType":"Observation","id":"o","status":"{s}",{PHQ9},"effectiveDateTime":"2025-01-05","valueInteger":5}}"#
        ));
        assert!(r.scores.is_empty(), "{s}");
    }
    for s in ["amended", "corrected"] {
        let r = read(&format!(
            r#"{{"resourceType":"Observation","id":"o","status":"{s}",{PHQ9},"effectivePeriod":{{"start":"2025-01-05"}},"valueInteger":5}}"#
        ));
        assert_eq!(r.scores[0].date, date!(2025 - 01 - 05), "{s}");
    }
    let r = read(&bundle(&[
        r#"{"resourceType":"Patient","id":"p"}"#,
        &format!(
            r#"{{"resourceType":"Observation","id":"a","status":"final",{PHQ9},"issued":"2025-01-06T10:00:00Z","valueInteger":5}}"#
        ),
        &format!(
            r#"{{"resourceType":"Observation","id":"b","status":"final",{PHQ9},"effectiveInstant":"2025-01-07T10:00:00Z","valueInteger":6}}"#
        ),
        &format!(
            r#"{{"resourceType":"Observation","id":"c","status":"final",{PHQ9},"effectiveDateTime":"2025-01-32","valueInteger":6}}"#
        ),
        &format!(
            r#"{{"resourceType":"Observation","id":"d","status":"final",{PHQ9},"valueInteger":6}}"#
        ),
    ]));
    let got: Vec<_> = r
        .scores
        .iter()
        .map(|s| (s.reference.as_str(), s.date, s.issued, s.order))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "Observation/a",
                date!(2025 - 01 - 06),
                Some(1_736_157_600),
                1
            ),
            ("Observation/b", date!(2025 - 01 - 07), None, 2),
        ]
    );
    assert_eq!(
        r.data_issues,
        vec![
            issue(
                "Observation/c",
                "effectiveDateTime",
                "invalid date '2025-01-32'"
            ),
            issue("Observation/d", "effective[x]", "missing effective[x]"),
        ]
    );
}

#[test]
fn item9_answer_codes_and_components() {
    let r = obs(&format!(
        r#"{ITEM9},"effectiveDateTime":"2025-01-05","valueCodeableConcept":{{"coding":[{{"system":"http://loinc.org","code":"LA6570-1","display":"More than half the days"}}]}}"#
    ));
    assert_eq!(
        (r.scores[0].kind, r.scores[0].value),
        (ObservationKind::Phq9Item9, 2)
    );

    let r = obs(
        r#""code":{"coding":[{"system":"http://loinc.org","code":"44249-1"}]},"effectiveDateTime":"2025-01-05",
           "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"44250-9"}]},"valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"LA6571-9"}]}},
                        {"code":{"coding":[{"system":"http://loinc.org","code":"44260-8"}]},"valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"LA6569-3"}]}},
                        {"code":{"coding":[{"system":"http://loinc.org","code":"44261-6"}]},"valueInteger":19}]"#,
    );
    let got: Vec<_> = r.scores.iter().map(|s| (s.kind, s.value)).collect();
    assert_eq!(
        got,
        vec![
            (ObservationKind::Phq9Item9, 1),
            (ObservationKind::Phq9Total, 19)
        ]
    );
    assert!(r.data_issues.is_empty());
}

#[test]
fn phq2_is_not_phq9() {
    let r = obs(
        r#""code":{"coding":[{"system":"http://loinc.org","code":"55758-7"}]},"effectiveDateTime":"2025-01-05","valueInteger":6"#,
    );
    assert!(r.scores.is_empty());
}

// --- Procedures -------------------------------------------------------------------------------

#[test]
fn procedures() {
    let p = |status: &str, date: &str| {
        read(&format!(
            r#"{{"resourceType":"Procedure","id":"p1","status":"{status}","code":{{"coding":[{{"system":"http://www.ama-assn.org/go/cpt","code":"90870"}}]}},{date}}}"#
        ))
    };
    let r = p("completed", r#""performedDateTime":"2025-02-03T08:00:00Z""#);
    assert_eq!(r.procedures.len(), 1);
    assert_eq!(
        (r.procedures[0].kind, r.procedures[0].date),
        (crate::knowledge::ProcedureKind::Ect, date!(2025 - 02 - 03))
    );
    let r = p("completed", r#""performedPeriod":{"start":"2025-02-04"}"#);
    assert_eq!(r.procedures[0].date, date!(2025 - 02 - 04));
    assert!(
        p("in-progress", r#""performedDateTime":"2025-02-03""#)
            .procedures
            .is_empty()
    );
    let r = p("completed", r#""performedDateTime":"2025-02-30""#);
    assert!(r.procedures.is_empty());
    assert_eq!(
        r.data_issues,
        vec![issue(
            "Procedure/p1",
            "performedDateTime",
            "invalid date '2025-02-30'"
        )]
    );
}

// --- Documents, references, patient ------------------------------------------------------------

#[test]
fn read_errors_only_for_unusable_documents() {
    let e = read_bundle("not json", kb()).unwrap_err();
    assert_eq!(e.field, "$");
    assert!(e.problem.starts_with("not valid JSON"), "{e}");
    assert_eq!(
        read_bundle("[1,2]", kb()).unwrap_err().problem,
        "expected a FHIR resource, found an array"
    );
    assert_eq!(
        read_bundle(r#"{"id":"x"}"#, kb()).unwrap_err().problem,
        "missing resourceType"
    );
    let e = read_documents(&[r#"{"resourceType":"Patient"}"#, "{}"], kb()).unwrap_err();
    assert_eq!(e.field, "documents[1]");
}

#[test]
fn bad_entries_are_issues_unknown_types_skipped() {
    let r = read(
        r#"{"resourceType":"Bundle","type":"searchset","entry":[
            {"fullUrl":"urn:uuid:1","resource":"oops"},
            {"resource":{"id":"x"}},
            {"resource":{"resourceType":"Claim","status":["weird"]}},
            {"request":{"method":"DELETE","url":"Patient/1"}},
            {"resource":{"resourceType":"OperationOutcome","issue":[]},"search":{"mode":"outcome"}}]}"#,
    );
    assert_eq!(
        r.data_issues,
        vec![
            issue(
                "urn:uuid:1",
                "entry[0].resource",
                "resource is a string, not an object"
            ),
            issue(
                "entry[1]",
                "entry[1].resource",
                "resource has no resourceType"
            ),
        ]
    );
}

#[test]
fn references_without_id() {
    let r = read(
        r#"{"resourceType":"Bundle","entry":[
            {"resource":{"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"370143000"}]}}},
            {"fullUrl":"urn:uuid:c2","resource":{"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"370143000"}]}}}]}"#,
    );
    let refs: Vec<_> = r.conditions.iter().map(|c| c.reference.as_str()).collect();
    assert_eq!(refs, vec!["Condition/#0", "urn:uuid:c2"]);
}

#[test]
fn patient_reference() {
    let cond = r#"{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/from-subject"},"code":{"text":"x"}}"#;
    let r = read(&bundle(&[cond, r#"{"resourceType":"Patient","id":"p9"}"#]));
    assert_eq!(r.patient.as_deref(), Some("Patient/p9"));
    let r = read(&bundle(&[cond]));
    assert_eq!(r.patient.as_deref(), Some("Patient/from-subject"));
    assert_eq!(read(r#"{"resourceType":"Bundle"}"#).patient, None);
}

#[test]
fn entered_in_error_ignored_everywhere() {
    let r = read(&bundle(&[
        &format!(
            r#"{{"resourceType":"MedicationRequest","id":"a","status":"entered-in-error","intent":"order","medicationCodeableConcept":{SERTRALINE_IN},"authoredOn":"bad"}}"#
        ),
        &format!(
            r#"{{"resourceType":"MedicationDispense","id":"b","status":"entered-in-error","medicationCodeableConcept":{SERTRALINE_IN}}}"#
        ),
        &format!(
            r#"{{"resourceType":"Observation","id":"c","status":"entered-in-error",{PHQ9},"valueInteger":3,"effectiveDateTime":"2025-01-01"}}"#
        ),
        r#"{"resourceType":"Procedure","id":"d","status":"entered-in-error","code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"90870"}]},"performedDateTime":"2025-01-01"}"#,
        r#"{"resourceType":"MedicationRequest","id":"e","status":"active","intent":"order","medicationReference":{"reference":"Medication/gone"},"authoredOn":"2025-01-01"}"#,
        r#"{"resourceType":"Medication","id":"gone","status":"entered-in-error","code":{"text":"sertraline"}}"#,
    ]));
    assert!(
        r.exposures.is_empty()
            && r.scores.is_empty()
            && r.procedures.is_empty()
            && r.data_issues.is_empty(),
        "{r:?}"
    );
}

// --- Sample data ------------------------------------------------------------------------------

/// Third-party FHIR samples in the repository (`tests/data/README.md`); a missing one fails.
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-data");

fn sample(rel: &str) -> String {
    let p = format!("{SAMPLES}/{rel}");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn json_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_sample_file_reads() {
    let mut files = Vec::new();
    json_files(std::path::Path::new(SAMPLES), &mut files);
    // 32 official examples, 3 pysynthea patients and their generator module, Milan Beatty.
    assert!(
        files.len() >= 37,
        "only {} files under {SAMPLES}",
        files.len()
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // The Synthea generator module is JSON but not FHIR (no resourceType): the only expected error.
        let r = read_bundle(&text, kb());
        if f.ends_with("major_depressive_disorder.module.json") {
            assert!(r.is_err());
            continue;
        }
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // No sample has malformed rule-critical values in what the rules read. medrx002 references
        // a Medication that lives in another file (read together below).
        if f.ends_with("MedicationRequest-medrx002.json") {
            assert_eq!(
                r.data_issues,
                vec![issue(
                    "MedicationRequest/medrx002",
                    "medicationReference",
                    "unresolved reference 'Medication/med0316'"
                )]
            );
            continue;
        }
        assert!(
            r.data_issues.is_empty(),
            "{}: {:?}",
            f.display(),
            r.data_issues
        );
    }
}

#[test]
fn sample_reference_resolved_across_documents() {
    let req = sample("fhir-r4-official-examples/MedicationRequest-medrx002.json");
    let med = sample("fhir-r4-official-examples/Medication-med0316.json");
    let r = read_documents(&[&req, &med], kb()).unwrap();
    assert!(r.data_issues.is_empty(), "{:?}", r.data_issues);
}

#[test]
fn sample_official_statement_with_contained_medication() {
    let text = sample("fhir-r4-official-examples/MedicationStatement-example001.json");
    let r = read(&text);
    // Tylenol PM (contained, NDC + acetaminophen/diphenhydramine): resolved, not an antidepressant.
    assert!(r.exposures.is_empty() && r.data_issues.is_empty());
    assert_eq!(r.patient.as_deref(), Some("Patient/pat1"));
}

#[test]
fn sample_pysynthea_mdd() {
    let text = sample("pysynthea-generated/mdd-gad-3ssri_Penni_Lubowitz_57e70413.json");
    let r = read(&text);
    for ing in ["sertraline", "escitalopram", "fluoxetine"] {
        assert!(r.exposures.iter().any(|e| e.ingredient == ing), "{ing}");
    }
    let fluox = r
        .exposures
        .iter()
        .find(|e| e.ingredient == "fluoxetine")
        .unwrap();
    assert_eq!(fluox.matched_by, MatchedBy::RxnormProduct);
    assert_eq!(fluox.kind, SourceKind::MedicationRequest);
    assert_eq!(fluox.start, date!(2025 - 08 - 09));
    assert!(
        r.patient
            .as_deref()
            .is_some_and(|p| p.starts_with("Patient/"))
    );
    let s = r
        .scores
        .iter()
        .find(|s| s.kind == ObservationKind::Phq9Total && s.date == date!(2024 - 05 - 08))
        .expect("PHQ-9 on 2024-05-08");
    assert_eq!(s.value, 24);
    let mdd = r
        .conditions
        .iter()
        .find(|c| c.categories.contains(&ConditionCategory::Mdd))
        .expect("MDD");
    assert_eq!(mdd.onset, Some(date!(2024 - 05 - 08)));
}

#[test]
fn sample_milan_beatty_fluoxetine() {
    let text =
        sample("synthea-smart-on-fhir/Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json");
    let r = read(&text);
    let fl: Vec<_> = r
        .exposures
        .iter()
        .filter(|e| e.ingredient == "fluoxetine")
        .collect();
    assert_eq!(fl.len(), 2);
    assert!(fl.iter().all(|e| e.daily_dose_mg == Some(25.0)));
    let mut statuses: Vec<_> = fl.iter().map(|e| e.status.as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, vec!["active", "stopped"]);
    assert!(
        r.conditions
            .iter()
            .any(|c| c.categories.contains(&ConditionCategory::Mdd))
    );
}

#[test]
fn sample_bipolar() {
    let text = sample("pysynthea-generated/bipolar-lithium-quetiapine_Jeff_Monahan_9641f238.json");
    let r = read(&text);
    assert!(
        r.conditions
            .iter()
            .any(|c| c.categories.contains(&ConditionCategory::Bipolar))
    );
    assert!(r.exposures.iter().any(|e| e.ingredient == "lithium"));
    assert!(r.exposures.iter().any(|e| e.ingredient == "quetiapine"));
}

// --- Performance (debug build: indicative only) ------------------------------------------------

/// A ~50 KB, 60-resource patient like a hook prefetch.
fn sixty_resource_patient() -> String {
    let mut rs: Vec<String> = vec![r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Test","given":["A"]}],"gender":"female","birthDate":"1980-01-01"}"#.into()];
    for i in 0..15 {
        rs.push(format!(
            r#"{{"resourceType":"MedicationRequest","id":"mr{i}","meta":{{"lastUpdated":"2025-01-01T00:00:00Z","profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest"]}},
               "status":"completed","intent":"order","medicationCodeableConcept":{SERTRALINE_100_TAB},"subject":{{"reference":"Patient/p1"}},
               "encounter":{{"reference":"Encounter/e{i}"}},"authoredOn":"2024-0{m}-01T10:00:00Z","requester":{{"reference":"Practitioner/x","display":"Dr X"}},
               "dosageInstruction":[{{"sequence":1,"text":"one tablet daily","timing":{{"repeat":{{"frequency":1,"period":1,"periodUnit":"d"}}}},
               "route":{{"coding":[{{"system":"http://snomed.info/sct","code":"26643006","display":"Oral route"}}]}},
               "doseAndRate":[{{"type":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/dose-rate-type","code":"ordered"}}]}},"doseQuantity":{{"value":1,"unit":"tablet","system":"http://unitsofmeasure.org","code":"{{tbl}}"}}}}]}}],
               "dispenseRequest":{{"numberOfRepeatsAllowed":1,"quantity":{{"value":30,"unit":"tablet"}},"expectedSupplyDuration":{{"value":30,"unit":"days","system":"http://unitsofmeasure.org","code":"d"}}}}}}"#,
            m = i % 9 + 1
        ));
    }
    for i in 0..24 {
        rs.push(format!(
            r#"{{"resourceType":"Observation","id":"o{i}","meta":{{"lastUpdated":"2025-01-01T00:00:00Z"}},"status":"final",
               "category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey","display":"Survey"}}]}}],
               {PHQ9},"subject":{{"reference":"Patient/p1"}},"encounter":{{"reference":"Encounter/e{i}"}},
               "effectiveDateTime":"2024-0{m}-15T09:30:00+01:00","issued":"2024-0{m}-15T10:00:00.000+01:00","valueQuantity":{{"value":{v},"unit":"{{score}}","system":"http://unitsofmeasure.org","code":"{{score}}"}},
               "text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">PHQ-9 total score {v} recorded during a follow-up visit for depression; see the questionnaire response for the item scores.</div>"}}}}"#,
            m = i % 9 + 1,
            v = 5 + i % 20
        ));
    }
    for i in 0..20 {
        rs.push(format!(
            r#"{{"resourceType":"Condition","id":"c{i}","meta":{{"lastUpdated":"2025-01-01T00:00:00Z"}},
               "clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}}]}},
               "verificationStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}}]}},
               "category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}}]}}],
               "code":{{"coding":[{{"system":"http://snomed.info/sct","code":"{code}","display":"Some diagnosis text"}},{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F33.1"}}],"text":"Some diagnosis"}},
               "subject":{{"reference":"Patient/p1"}},"onsetDateTime":"2024-01-0{d}T00:00:00Z","recordedDate":"2024-01-0{d}"}}"#,
            code = if i % 2 == 0 { "370143000" } else { "38341003" },
            d = i % 9 + 1
        ));
    }
    let refs: Vec<&str> = rs.iter().map(String::as_str).collect();
    bundle(&refs)
}

#[test]
fn parse_time_indicative() {
    let doc = sixty_resource_patient();
    let r = read(&doc);
    assert_eq!(r.exposures.len(), 15);
    assert_eq!(r.scores.len(), 24);
    let n = 200;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(read_bundle(std::hint::black_box(&doc), kb()).unwrap());
    }
    let per = t.elapsed() / n;
    eprintln!(
        "parse of {} bytes, 60 resources: {per:?} per call (debug build unless --release)",
        doc.len()
    );
}

#[test]
fn subjects_collects_every_patient_the_input_is_about() {
    let rec = read(&bundle(&[
        r#"{"resourceType":"Patient","id":"p1"}"#,
        r#"{"resourceType":"Condition","id":"c1","subject":{"reference":"https://ehr.example.org/fhir/Patient/p1/_history/3"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F33.1"}]}}"#,
        r#"{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p2"},"code":{"coding":[{"system":"http://loinc.org","code":"44261-6"}]},"effectiveDateTime":"2025-01-01","valueInteger":12}"#,
        r#"{"resourceType":"Procedure","id":"x1","status":"completed","subject":{"reference":"urn:uuid:5f0c"},"code":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"90868"}]},"performedDateTime":"2025-01-01"}"#,
    ]));
    let subjects: Vec<&str> = rec.subjects.iter().map(String::as_str).collect();
    assert_eq!(subjects, ["Patient/p1", "Patient/p2"]);
    assert_eq!(super::patient_ref("Group/g1"), None);
    assert_eq!(super::patient_ref("RelatedPatient/x"), None);
    assert_eq!(super::patient_ref("Patient/"), None);
}

/// Multi-byte characters inside the time of a date-time (issue 13 item 3) panicked at a fixed
/// byte offset; in every rule-critical date field they are now an "invalid date" data issue naming
/// the resource and the field, like any other malformed date.
#[test]
fn multi_byte_characters_in_date_times_are_data_issues() {
    const PHQ9: &str = r#"{"coding":[{"system":"http://loinc.org","code":"44261-6"}]}"#;
    const MDD: &str =
        r#"{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F33.1"}]}"#;
    /// (resource, field, resource JSON with the date `d` in that field)
    type Case = (&'static str, &'static str, fn(&str) -> String);
    let cases: [Case; 7] = [
        ("MedicationStatement/s", "effectivePeriod.start", |d| {
            format!(
                r#"{{"resourceType":"MedicationStatement","id":"s","status":"active","medicationCodeableConcept":{SERTRALINE_IN},"effectivePeriod":{{"start":"{d}"}}}}"#
            )
        }),
        ("MedicationStatement/s", "effectiveDateTime", |d| {
            format!(
                r#"{{"resourceType":"MedicationStatement","id":"s","status":"active","medicationCodeableConcept":{SERTRALINE_IN},"effectiveDateTime":"{d}"}}"#
            )
        }),
        ("MedicationRequest/r", "authoredOn", |d| {
            format!(
                r#"{{"resourceType":"MedicationRequest","id":"r","status":"active","intent":"order","medicationCodeableConcept":{SERTRALINE_IN},"authoredOn":"{d}"}}"#
            )
        }),
        ("MedicationDispense/d", "whenHandedOver", |d| {
            format!(
                r#"{{"resourceType":"MedicationDispense","id":"d","status":"completed","medicationCodeableConcept":{SERTRALINE_100_TAB},"whenHandedOver":"{d}","quantity":{{"value":30,"unit":"TAB"}},"daysSupply":{{"value":30}}}}"#
            )
        }),
        ("Observation/o", "effectiveDateTime", |d| {
            format!(
                r#"{{"resourceType":"Observation","id":"o","status":"final","code":{PHQ9},"effectiveDateTime":"{d}","valueInteger":12}}"#
            )
        }),
        ("Observation/o", "issued", |d| {
            format!(
                r#"{{"resourceType":"Observation","id":"o","status":"final","code":{PHQ9},"effectiveDateTime":"2025-01-01","issued":"{d}","valueInteger":12}}"#
            )
        }),
        ("Condition/c", "onsetDateTime", |d| {
            format!(
                r#"{{"resourceType":"Condition","id":"c","clinicalStatus":{{"coding":[{{"code":"active"}}]}},"code":{MDD},"onsetDateTime":"{d}"}}"#
            )
        }),
    ];
    for bad in [
        "2025-01-01T12:€0:00",
        "2025-01-01T12:00:€0",
        "2025-01-01T12:0€",
        "2025-01-01T12:00+1€0",
        "2025-01-01T12:00:00+1€0",
    ] {
        for (resource, field, make) in &cases {
            let r = read(&bundle(&[&make(bad)]));
            assert!(
                r.data_issues.iter().any(|i| i.resource == *resource
                    && i.field == *field
                    && i.problem.contains(bad)),
                "{resource} {field} = {bad}: {:?}",
                r.data_issues
            );
        }
    }
}
