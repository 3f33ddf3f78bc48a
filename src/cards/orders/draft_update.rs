//! The draft MedicationRequest an `update` action sends back (the low-dose card's "raise the dose").
//!
//! An update *replaces* the EHR's draft, so whatever it carries is signed. It is therefore rebuilt
//! from the draft's fields one by one, each kept only when its JSON shape is what FHIR R4 allows
//! (strings where strings go, codes from their required value set, references as `{reference}`),
//! never copied verbatim: a client that sent an invalid `category` must not get it back inside our
//! suggestion (issue 15). What is dropped is a field the draft could not carry validly anyway;
//! the dose is the only field changed on purpose. Fields outside the list below are dropped too (a
//! CDS service has no business echoing fields it does not understand into an order).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dates::parse_day;
use crate::fhir::reader::DoseEdit;

const UCUM: &str = "http://unitsofmeasure.org";

/// MedicationRequest.intent (required binding, FHIR R4 `medicationrequest-intent`).
const INTENTS: &[&str] = &[
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
];
/// MedicationRequest.priority (required binding, `request-priority`).
const PRIORITIES: &[&str] = &["routine", "urgent", "asap", "stat"];
/// Timing.repeat.periodUnit / durationUnit (required binding, `units-of-time`).
const TIME_UNITS: &[&str] = &["s", "min", "h", "d", "wk", "mo", "a"];

fn string(v: Option<&Value>) -> Option<Value> {
    v.and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|s| Value::String(s.to_string()))
}

fn code_in(v: Option<&Value>, allowed: &[&str]) -> Option<Value> {
    v.and_then(Value::as_str)
        .filter(|s| allowed.contains(s))
        .map(|s| Value::String(s.to_string()))
}

fn number(v: Option<&Value>) -> Option<Value> {
    v.filter(|n| n.as_f64().is_some_and(f64::is_finite))
        .cloned()
}

fn positive_int(v: Option<&Value>) -> Option<Value> {
    v.and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map(Value::from)
}

fn unsigned_int(v: Option<&Value>) -> Option<Value> {
    v.and_then(Value::as_u64).map(Value::from)
}

/// A FHIR `dateTime` (a date, or date-time with a zone).
fn date_time(v: Option<&Value>) -> Option<Value> {
    let s = v?.as_str()?;
    let ok =
        (s.len() == 10 && parse_day(s).is_some()) || OffsetDateTime::parse(s, &Rfc3339).is_ok();
    ok.then(|| Value::String(s.to_string()))
}

/// Put `value` under `key` when there is one (FHIR forbids nulls and empty objects/arrays).
fn put(out: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    let empty = match &value {
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
        None => true,
    };
    if !empty && let Some(v) = value {
        out.insert(key.to_string(), v);
    }
}

fn object(fields: Vec<(&str, Option<Value>)>) -> Option<Value> {
    let mut m = Map::new();
    for (k, v) in fields {
        put(&mut m, k, v);
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn coding(v: &Value) -> Option<Value> {
    object(vec![
        ("system", string(v.get("system"))),
        ("version", string(v.get("version"))),
        ("code", string(v.get("code"))),
        ("display", string(v.get("display"))),
    ])
}

fn codeable_concept(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    let codings: Vec<Value> = v
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(coding)
        .collect();
    object(vec![
        ("coding", Some(Value::Array(codings))),
        ("text", string(v.get("text"))),
    ])
}

fn codeable_concepts(v: Option<&Value>) -> Option<Value> {
    let list: Vec<Value> = v?
        .as_array()?
        .iter()
        .filter_map(|c| codeable_concept(Some(c)))
        .collect();
    Some(Value::Array(list))
}

fn reference(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    string(v.get("reference"))?;
    object(vec![
        ("reference", string(v.get("reference"))),
        ("display", string(v.get("display"))),
    ])
}

fn quantity(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    number(v.get("value"))?;
    object(vec![
        ("value", number(v.get("value"))),
        ("unit", string(v.get("unit"))),
        ("system", string(v.get("system"))),
        ("code", string(v.get("code"))),
    ])
}

fn period(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    object(vec![
        ("start", date_time(v.get("start"))),
        ("end", date_time(v.get("end"))),
    ])
}

fn strings(v: Option<&Value>) -> Option<Value> {
    let list: Vec<Value> = v?
        .as_array()?
        .iter()
        .filter_map(|s| string(Some(s)))
        .collect();
    Some(Value::Array(list))
}

/// Timing: the fields the reader reads to count administrations a day, and the schedule ones.
fn timing(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    let repeat = v.get("repeat").and_then(|r| {
        object(vec![
            ("boundsPeriod", period(r.get("boundsPeriod"))),
            ("boundsDuration", quantity(r.get("boundsDuration"))),
            ("count", positive_int(r.get("count"))),
            ("countMax", positive_int(r.get("countMax"))),
            ("duration", number(r.get("duration"))),
            ("durationMax", number(r.get("durationMax"))),
            ("durationUnit", code_in(r.get("durationUnit"), TIME_UNITS)),
            ("frequency", positive_int(r.get("frequency"))),
            ("frequencyMax", positive_int(r.get("frequencyMax"))),
            ("period", number(r.get("period"))),
            ("periodMax", number(r.get("periodMax"))),
            ("periodUnit", code_in(r.get("periodUnit"), TIME_UNITS)),
            ("dayOfWeek", strings(r.get("dayOfWeek"))),
            ("timeOfDay", strings(r.get("timeOfDay"))),
            ("when", strings(r.get("when"))),
            ("offset", unsigned_int(r.get("offset"))),
        ])
    });
    object(vec![
        ("event", strings(v.get("event"))),
        ("repeat", repeat),
        ("code", codeable_concept(v.get("code"))),
    ])
}

fn notes(v: Option<&Value>) -> Option<Value> {
    let list: Vec<Value> = v?
        .as_array()?
        .iter()
        .filter_map(|n| object(vec![("text", string(n.get("text")))]))
        .filter(|n| n.get("text").is_some())
        .collect();
    Some(Value::Array(list))
}

fn dispense_request(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    object(vec![
        ("validityPeriod", period(v.get("validityPeriod"))),
        (
            "numberOfRepeatsAllowed",
            unsigned_int(v.get("numberOfRepeatsAllowed")),
        ),
        ("quantity", quantity(v.get("quantity"))),
        (
            "expectedSupplyDuration",
            quantity(v.get("expectedSupplyDuration")),
        ),
    ])
}

/// The contained Medications a `#id` medicationReference needs (the reader resolved the drug there).
fn contained(raw: &Value) -> Option<Value> {
    let target = raw
        .pointer("/medicationReference/reference")
        .and_then(Value::as_str)?
        .strip_prefix('#')?;
    let list: Vec<Value> = raw
        .get("contained")?
        .as_array()?
        .iter()
        .filter(|c| {
            c.get("resourceType").and_then(Value::as_str) == Some("Medication")
                && c.get("id").and_then(Value::as_str) == Some(target)
        })
        .cloned()
        .collect();
    Some(Value::Array(list))
}

/// A FHIR id: 1–64 of `[A-Za-z0-9-.]`.
fn fhir_id(v: Option<&Value>) -> Option<Value> {
    let s = v?.as_str()?;
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| Value::String(s.to_string()))
}

/// The draft rebuilt from its valid fields with the dose per administration of dosage entry
/// `edit.dosage_index` set to `per_admin` mg (its timing kept: the daily dose rises through the
/// dose, never through the schedule). `None` when the draft has no valid id (an update must name
/// the resource it replaces) or the edited dosage entry is gone.
pub fn with_dose(raw: &Value, edit: &DoseEdit, per_admin: f64, note: &str) -> Option<Value> {
    let id = fhir_id(raw.get("id"))?;
    let dosage = raw.get("dosageInstruction")?.get(edit.dosage_index)?;
    let dose_and_rate = dosage.get("doseAndRate")?.get(edit.dose_and_rate_index)?;
    let text = match dosage.get("text").and_then(Value::as_str) {
        Some(old) => format!("{note}; was: {old}"),
        None => note.to_string(),
    };
    let new_dosage = object(vec![
        ("sequence", positive_int(dosage.get("sequence"))),
        ("text", Some(Value::String(text))),
        (
            "patientInstruction",
            string(dosage.get("patientInstruction")),
        ),
        ("timing", timing(dosage.get("timing"))),
        (
            "asNeededBoolean",
            dosage
                .get("asNeededBoolean")
                .filter(|b| b.is_boolean())
                .cloned(),
        ),
        ("route", codeable_concept(dosage.get("route"))),
        (
            "doseAndRate",
            Some(json!([object(vec![
                ("type", codeable_concept(dose_and_rate.get("type"))),
                (
                    "doseQuantity",
                    Some(json!({"value": per_admin, "unit": "mg", "system": UCUM, "code": "mg"})),
                ),
            ])])),
        ),
    ]);
    let mut out = Map::new();
    out.insert("resourceType".into(), json!("MedicationRequest"));
    put(&mut out, "id", Some(id));
    put(&mut out, "contained", contained(raw));
    // A draft stays a draft: the clinician signs it in the EHR.
    put(&mut out, "status", Some(json!("draft")));
    put(
        &mut out,
        "intent",
        code_in(raw.get("intent"), INTENTS).or(Some(json!("order"))),
    );
    put(&mut out, "category", codeable_concepts(raw.get("category")));
    put(
        &mut out,
        "priority",
        code_in(raw.get("priority"), PRIORITIES),
    );
    put(
        &mut out,
        "medicationCodeableConcept",
        codeable_concept(raw.get("medicationCodeableConcept")),
    );
    put(
        &mut out,
        "medicationReference",
        reference(raw.get("medicationReference")),
    );
    put(&mut out, "subject", reference(raw.get("subject")));
    put(&mut out, "encounter", reference(raw.get("encounter")));
    put(&mut out, "authoredOn", date_time(raw.get("authoredOn")));
    put(&mut out, "requester", reference(raw.get("requester")));
    put(&mut out, "recorder", reference(raw.get("recorder")));
    put(
        &mut out,
        "reasonCode",
        codeable_concepts(raw.get("reasonCode")),
    );
    put(&mut out, "note", notes(raw.get("note")));
    put(
        &mut out,
        "dosageInstruction",
        new_dosage.map(|d| Value::Array(vec![d])),
    );
    put(
        &mut out,
        "dispenseRequest",
        dispense_request(raw.get("dispenseRequest")),
    );
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit() -> DoseEdit {
        DoseEdit {
            dosage_index: 0,
            dose_and_rate_index: 0,
            per_day: 2.0,
        }
    }

    #[test]
    fn invalid_fields_are_not_echoed_and_the_timing_is_kept() {
        // The reference client's draft: `category` an object (R4: an array), a null, an
        // unknown field, a second dosage entry's worth of junk.
        let raw = json!({"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
            "intent": "order", "category": {"coding": [{"code": "outpatient"}]},
            "priority": "whenever", "doNotPerform": null, "madeUp": 1,
            "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-12-03",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "36437", "display": "sertraline", "userSelected": "yes"}]},
            "dosageInstruction": [{"text": "25 mg twice daily",
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 12.5, "unit": "mg"}}]}]});
        let v = with_dose(&raw, &edit(), 25.0, "25 mg per administration").unwrap();
        for gone in ["category", "priority", "doNotPerform", "madeUp"] {
            assert!(v.get(gone).is_none(), "{gone}: {v}");
        }
        assert!(
            v.pointer("/medicationCodeableConcept/coding/0/userSelected")
                .is_none()
        );
        assert_eq!(v["status"], "draft");
        assert_eq!(v["id"], "d1");
        assert_eq!(v["authoredOn"], "2026-12-03");
        let d = &v["dosageInstruction"][0];
        assert_eq!(d["timing"]["repeat"]["frequency"], 2);
        assert_eq!(d["doseAndRate"][0]["doseQuantity"]["value"], 25.0);
        assert!(
            d["text"]
                .as_str()
                .unwrap()
                .ends_with("was: 25 mg twice daily")
        );
    }

    #[test]
    fn a_valid_category_and_contained_medication_are_kept() {
        let raw = json!({"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
            "intent": "order", "category": [{"coding": [{"system":
                "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}]}],
            "contained": [{"resourceType": "Medication", "id": "med"}, {"resourceType": "Medication", "id": "unused"}],
            "medicationReference": {"reference": "#med"}, "subject": {"reference": "Patient/p1"},
            "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]});
        let v = with_dose(&raw, &edit(), 50.0, "50 mg").unwrap();
        assert_eq!(v["category"][0]["coding"][0]["code"], "outpatient");
        assert_eq!(v["contained"].as_array().unwrap().len(), 1);
        assert_eq!(v["medicationReference"]["reference"], "#med");
    }

    #[test]
    fn no_valid_id_no_update() {
        let raw = json!({"resourceType": "MedicationRequest", "id": "bad id!",
            "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1}}]}]});
        assert!(with_dose(&raw, &edit(), 50.0, "x").is_none());
    }
}
