//! Card quality over the hooks (issue 15): what a clinician sees in an EHR sidebar, checked on the
//! real service over HTTP for each kind of scenario — TRD met, possible, pseudo-resistance, bipolar,
//! suicide risk (patient-view), an MAOI and a third SSRI (order-sign).
//!
//! The rules, on every card of every response:
//! - at most [`MAX_SUGGESTIONS`] suggestions, and each one does something (≥ 1 action);
//! - clinician text (summary, detail, labels) carries no internal code (the kebab-case flag and
//!   recommendation ids of docs/clinical-rules.md §7 and §9) and no "§" / "clinical-rules";
//! - no markdown table wider than [`MAX_TABLE_COLUMNS`] columns (a sidebar is ~400 px);
//! - every resource an action carries is valid FHIR R4 by the FHIR R4 JSON Schema
//!   (`tests/data/fhir-r4-schema/`, validated with the `jsonschema` crate): structure, cardinality,
//!   types and lexical forms; not the value sets of required bindings, which that copy of the
//!   schema does not list;
//! - no contradiction between the cards of one response: a draft a critical card cancels is never
//!   updated (kept, raised) or re-created (a MedicationRequest for the same medication) by a card;
//! - TRD cards carry `links`; `source.url` is absolute.
//!
//! Scenario inputs are the project's own: `tests/scenarios/*.json` (assessment bundles, dates shifted
//! so their `as_of` is today, since hook calls are evaluated as of today) and
//! `tests/order_scenarios/*.json` (relative dates, `@T-n`).

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use common::app::{TestApp, spawn_app};
use serde_json::{Value, json};
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

const PV: &str = "/cds-services/trd-patient-view";
const SIGN: &str = "/cds-services/trd-order-sign";

/// Buttons a sidebar card can show legibly (issue 15).
const MAX_SUGGESTIONS: usize = 4;
/// Columns a markdown table may have at sidebar width.
const MAX_TABLE_COLUMNS: usize = 4;

/// The `as_of` of `tests/it/scenarios.rs` rows (its `BASE`).
const SCENARIO_AS_OF: Date = time::macros::date!(2026 - 01 - 01);

/// Internal codes that are also plain clinical English compounds (a clinician reads "bipolar-spectrum
/// diagnosis" or "suicide-risk" as words): not flagged. Every other §7/§9 id (`augment-antipsychotic`,
/// `refer-ect`, `comorbid-ptsd`, …) reads as a code and must not reach a clinician.
const ENGLISH_COMPOUNDS: &[&str] = &[
    "bipolar-spectrum",
    "suicide-risk",
    "substance-use",
    "not-applicable",
    "psychotic-features",
    "thyroid-disorder",
];

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// `tests/scenarios/<name>.json` as a patient-view request (patient `p1`), every full date
/// (`YYYY-MM-DD…`) shifted by today − [`SCENARIO_AS_OF`].
fn patient_view_request(name: &str) -> Value {
    let path = format!("{}/tests/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    shift_dates(&mut bundle, today() - SCENARIO_AS_OF);
    if WITH_CURRENT_SERTRALINE.contains(&name) {
        let start = (today() - Duration::days(30)).to_string();
        bundle["entry"].as_array_mut().unwrap().push(json!({"resource": {
            "resourceType": "MedicationStatement", "id": "ms-current-sertraline", "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "36437"}]},
            "effectivePeriod": {"start": start},
            "dosage": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]}}));
    }
    let keys = [
        ("Condition", "conditions"),
        ("MedicationStatement", "medicationStatements"),
        ("MedicationRequest", "medicationRequests"),
        ("MedicationDispense", "medicationDispenses"),
        ("Procedure", "procedures"),
        ("Observation", "observations"),
    ];
    let mut prefetch = serde_json::Map::new();
    prefetch.insert("patient".into(), Value::Null);
    let mut entries: HashMap<&str, Vec<Value>> = HashMap::new();
    for e in bundle["entry"].as_array().unwrap() {
        let r = &e["resource"];
        let t = r["resourceType"].as_str().unwrap_or("");
        if t == "Patient" {
            prefetch.insert("patient".into(), r.clone());
        } else if let Some((_, key)) = keys.iter().find(|(rt, _)| *rt == t) {
            entries.entry(key).or_default().push(e.clone());
        }
    }
    for (_, key) in keys {
        let v = entries.remove(key).map_or(
            Value::Null,
            |e| json!({"resourceType": "Bundle", "type": "searchset", "entry": e}),
        );
        prefetch.insert(key.into(), v);
    }
    json!({
        "hook": "patient-view",
        "hookInstance": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string(),
        "context": {"userId": "Practitioner/u1", "patientId": "p1"},
        "prefetch": prefetch,
    })
}

/// Scenarios given a current sertraline 100 mg (started 30 days ago): the bipolar card is about an
/// antidepressant running without a mood stabiliser, and the scenario's trials have all ended.
const WITH_CURRENT_SERTRALINE: &[&str] = &["not-applicable-bipolar"];

fn shift_dates(v: &mut Value, by: Duration) {
    let fmt = format_description!("[year]-[month]-[day]");
    match v {
        Value::String(s) if s.len() >= 10 && s.as_bytes()[4] == b'-' => {
            if let Ok(d) = Date::parse(&s[..10], &fmt) {
                *s = format!("{}{}", (d + by).format(&fmt).unwrap(), &s[10..]);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| shift_dates(x, by)),
        Value::Object(o) => o.values_mut().for_each(|x| shift_dates(x, by)),
        _ => {}
    }
}

/// `tests/order_scenarios/<name>.json` with every `@T-n` / `@T+n` replaced by today ∓ n days.
fn order_request(name: &str) -> Value {
    let path = format!(
        "{}/tests/order_scenarios/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("@T") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let sign = after.chars().next();
        let digits: String = after
            .chars()
            .skip(1)
            .take_while(char::is_ascii_digit)
            .collect();
        match (sign, digits.parse::<i64>()) {
            (Some(c @ ('+' | '-')), Ok(n)) => {
                let n = if c == '-' { -n } else { n };
                out.push_str(&(today() + Duration::days(n)).to_string());
                rest = &after[1 + digits.len()..];
            }
            _ => {
                out.push_str("@T");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap()
}

async fn call(app: &TestApp, path: &str, req: &Value) -> Value {
    let resp = app.post_json(path, &req.to_string()).await;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Patient-view scenarios, one per kind the issue names.
const PATIENT_VIEW: &[(&str, &str)] = &[
    ("met", "met-two-failed-ssris"),
    ("possible", "possible-failed-plus-unknown-dose"),
    ("pseudo-resistance", "substance-use"),
    ("bipolar", "not-applicable-bipolar"),
    ("suicide risk", "suicide-item9-number"),
];

/// Order-sign scenarios: the MAOI and third-SSRI kinds, and the shapes that once went wrong.
const ORDER_SIGN: &[(&str, &str)] = &[
    ("MAOI", "maoi-while-ssri-current"),
    (
        "MAOI below its minimum dose",
        "maoi-low-dose-while-venlafaxine-current",
    ),
    (
        "MAOI and SSRI drafted together",
        "order-sign-maoi-and-ssri-drafts",
    ),
    ("third SSRI", "repeat-failed-ssri-class"),
    ("bipolar", "bipolar-antidepressant-monotherapy"),
    (
        "dose update",
        "low-dose-update-keeps-timing-drops-invalid-fields",
    ),
];

/// Every response of `scenarios` (kind, file, request, response); each must hold ≥ 1 card.
async fn responses(
    app: &TestApp,
    path: &str,
    scenarios: &[(&'static str, &'static str)],
    request: fn(&str) -> Value,
) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (kind, file) in scenarios {
        let req = request(file);
        let resp = call(app, path, &req).await;
        assert!(
            resp["cards"].as_array().is_some_and(|c| !c.is_empty()),
            "{kind} ({file}): no card, nothing to check: {resp}"
        );
        out.push((format!("{kind} ({file})"), req, resp));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// FHIR R4 validation

/// One validator per resource type, against the FHIR R4 JSON Schema's definition of that type.
fn validator(resource_type: &str) -> Result<Arc<jsonschema::Validator>, String> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fhir-r4-schema/fhir.schema.json"
        );
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    });
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(resource_type) {
        return Ok(v.clone());
    }
    if schema["definitions"].get(resource_type).is_none() {
        return Err(format!("'{resource_type}' is not an R4 resource type"));
    }
    // The schema's root is a oneOf over every resource; validate against the one type instead.
    let mut s = schema.clone();
    s["oneOf"] = json!([{"$ref": format!("#/definitions/{resource_type}")}]);
    // Medplum's copy types `contained` items as `#/definitions/Resource` and refers to an
    // `integer64` it does not define; HL7's R4 schema has `ResourceList` there and no integer64
    // (an R5 type). Define both as HL7's R4 means them (tests/data/README.md).
    s["definitions"]["Resource"] = json!({"$ref": "#/definitions/ResourceList"});
    s["definitions"]["integer64"] = json!({"type": "string", "pattern": "^[0]|[-+]?[1-9][0-9]*$"});
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft6)
        .build(&s)
        .map_err(|e| format!("schema: {e}"))?;
    let v = Arc::new(v);
    cache
        .lock()
        .unwrap()
        .insert(resource_type.to_string(), v.clone());
    Ok(v)
}

/// Why `resource` is not valid FHIR R4 (empty: valid).
fn fhir_r4_errors(resource: &Value) -> Vec<String> {
    let Some(t) = resource["resourceType"].as_str() else {
        return vec!["no resourceType".into()];
    };
    match validator(t) {
        Err(e) => vec![e],
        Ok(v) => v
            .iter_errors(resource)
            .take(5)
            .map(|e| format!("{} at '{}'", e, e.instance_path()))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// The rules, each a list of violations for one card (or one response)

fn suggestions(card: &Value) -> &[Value] {
    card["suggestions"].as_array().map_or(&[], Vec::as_slice)
}

fn actions(card: &Value) -> impl Iterator<Item = &Value> {
    suggestions(card)
        .iter()
        .flat_map(|s| s["actions"].as_array().map_or(&[][..], Vec::as_slice))
}

fn few_suggestions_that_act(card: &Value) -> Vec<String> {
    let s = suggestions(card);
    let mut errs = Vec::new();
    if s.len() > MAX_SUGGESTIONS {
        errs.push(format!(
            "{} suggestions (at most {MAX_SUGGESTIONS})",
            s.len()
        ));
    }
    for sug in s {
        if sug["actions"].as_array().is_none_or(Vec::is_empty) {
            errs.push(format!("suggestion '{}' has no action", sug["label"]));
        }
    }
    errs
}

/// The kebab-case ids of flags (§7) and recommendations (§9) in docs/clinical-rules.md.
fn internal_codes() -> &'static BTreeSet<String> {
    static CODES: OnceLock<BTreeSet<String>> = OnceLock::new();
    CODES.get_or_init(|| {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/clinical-rules.md");
        let text = std::fs::read_to_string(p).unwrap();
        let start = text.find("\n## 7.").expect("§7");
        let end = text.find("\n## 10.").expect("§10");
        let mut codes = BTreeSet::new();
        for quoted in text[start..end].split('`').skip(1).step_by(2) {
            let kebab = quoted.contains('-')
                && quoted
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !quoted.starts_with('-')
                && !quoted.ends_with('-');
            if kebab && !ENGLISH_COMPOUNDS.contains(&quoted) {
                codes.insert(quoted.to_string());
            }
        }
        assert!(codes.len() >= 20, "codes read from §7/§9: {codes:?}");
        codes
    })
}

/// The texts a clinician reads: summary, detail, suggestion and link labels, source label.
fn clinician_texts(card: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["summary", "detail"] {
        if let Some(t) = card[key].as_str() {
            out.push((key.to_string(), t.to_string()));
        }
    }
    for (i, s) in suggestions(card).iter().enumerate() {
        if let Some(t) = s["label"].as_str() {
            out.push((format!("suggestions[{i}].label"), t.to_string()));
        }
    }
    for (i, l) in card["links"].as_array().into_iter().flatten().enumerate() {
        if let Some(t) = l["label"].as_str() {
            out.push((format!("links[{i}].label"), t.to_string()));
        }
    }
    if let Some(t) = card["source"]["label"].as_str() {
        out.push(("source.label".into(), t.to_string()));
    }
    out
}

fn contains_token(text: &str, token: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(token).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + token.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn plain_clinical_language(card: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for (field, text) in clinician_texts(card) {
        for code in internal_codes() {
            if contains_token(&text, code) {
                errs.push(format!("{field} shows the internal code '{code}'"));
            }
        }
        for spec in ["§", "clinical-rules"] {
            if text.contains(spec) {
                errs.push(format!("{field} cites the spec ('{spec}')"));
            }
        }
    }
    errs
}

fn narrow_tables(card: &Value) -> Vec<String> {
    let detail = card["detail"].as_str().unwrap_or("");
    detail
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            // `| a | b |` has 2 columns: cells between the outer pipes (escaped `\|` is not one).
            let cells = l.replace("\\|", "").matches('|').count().saturating_sub(1);
            (cells > MAX_TABLE_COLUMNS)
                .then(|| format!("a {cells}-column table (at most {MAX_TABLE_COLUMNS}): {l}"))
        })
        .collect()
}

fn valid_fhir_r4_actions(card: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for a in actions(card) {
        if let Some(r) = a.get("resource") {
            for e in fhir_r4_errors(r) {
                errs.push(format!(
                    "{} action '{}': {} not valid FHIR R4: {e}",
                    a["type"], a["description"], r["resourceType"]
                ));
            }
        }
    }
    errs
}

fn links_on_trd_cards(card: &Value) -> Vec<String> {
    let trd = card["extension"].get("trd-assessment").is_some();
    let links = card["links"].as_array().is_some_and(|l| !l.is_empty());
    let absolute = card["links"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|l| l["url"].as_str().is_some_and(is_absolute));
    match (trd, links, absolute) {
        (true, false, _) => vec!["a TRD card without links".into()],
        (true, true, false) => vec!["a TRD card with a relative link".into()],
        _ => vec![],
    }
}

fn is_absolute(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn absolute_source_url(card: &Value) -> Vec<String> {
    match card["source"]["url"].as_str() {
        Some(u) if is_absolute(u) => vec![],
        other => vec![format!("source.url is {other:?}, not an absolute URL")],
    }
}

/// The medication codes of each draft of an order request, by `MedicationRequest/<id>`.
fn draft_medications(req: &Value) -> HashMap<String, BTreeSet<String>> {
    let mut out = HashMap::new();
    for e in req["context"]["draftOrders"]["entry"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let r = &e["resource"];
        if r["resourceType"] == "MedicationRequest"
            && let Some(id) = r["id"].as_str()
        {
            out.insert(format!("MedicationRequest/{id}"), medication_codes(r));
        }
    }
    out
}

fn medication_codes(r: &Value) -> BTreeSet<String> {
    r["medicationCodeableConcept"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some(format!("{}|{}", c["system"].as_str()?, c["code"].as_str()?)))
        .collect()
}

/// A draft that a critical card cancels is never updated or re-created by any card.
fn no_contradiction(req: &Value, resp: &Value) -> Vec<String> {
    let cards = resp["cards"].as_array().map_or(&[][..], Vec::as_slice);
    let cancelled: BTreeSet<String> = cards
        .iter()
        .filter(|c| c["indicator"] == "critical")
        .flat_map(actions)
        .filter(|a| a["type"] == "delete")
        .filter_map(|a| a["resourceId"].as_str().map(str::to_owned))
        .collect();
    let meds = draft_medications(req);
    let mut errs = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        for a in actions(card) {
            let r = &a["resource"];
            let id = r["id"]
                .as_str()
                .map(|id| format!("{}/{id}", r["resourceType"].as_str().unwrap_or("")));
            if a["type"] == "update" && id.as_ref().is_some_and(|id| cancelled.contains(id)) {
                errs.push(format!(
                    "card {i} updates {} which a critical card cancels",
                    id.unwrap()
                ));
            }
            if a["type"] == "create" && r["resourceType"] == "MedicationRequest" {
                let codes = medication_codes(r);
                for c in &cancelled {
                    if meds.get(c).is_some_and(|m| !m.is_disjoint(&codes)) {
                        errs.push(format!(
                            "card {i} re-creates {c} which a critical card cancels"
                        ));
                    }
                }
            }
        }
    }
    errs
}

type CardRule = fn(&Value) -> Vec<String>;

/// Apply `rules` to every card of every response, and the contradiction rule to each response.
fn violations(all: &[(String, Value, Value)], rules: &[(&str, CardRule)]) -> Vec<String> {
    let mut errs = Vec::new();
    for (what, req, resp) in all {
        for (i, card) in resp["cards"].as_array().unwrap().iter().enumerate() {
            for (rule, check) in rules {
                for e in check(card) {
                    errs.push(format!("{what} card {i} [{rule}]: {e}"));
                }
            }
        }
        for e in no_contradiction(req, resp) {
            errs.push(format!("{what} [no contradiction]: {e}"));
        }
    }
    errs
}

const STRUCTURE: &[(&str, CardRule)] = &[
    ("≤ 4 suggestions, each acts", few_suggestions_that_act),
    ("plain clinical language", plain_clinical_language),
    ("narrow tables", narrow_tables),
    ("valid FHIR R4", valid_fhir_r4_actions),
];

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn order_sign_cards_meet_the_card_rules() {
    let app = spawn_app(&[]).await;
    let all = responses(&app, SIGN, ORDER_SIGN, order_request).await;
    let errs = violations(&all, STRUCTURE);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[tokio::test]
async fn patient_view_actions_are_valid_fhir_r4_and_never_contradict() {
    let app = spawn_app(&[]).await;
    let all = responses(&app, PV, PATIENT_VIEW, patient_view_request).await;
    let errs = violations(&all, &[("valid FHIR R4", valid_fhir_r4_actions)]);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[tokio::test]
async fn patient_view_cards_fit_a_sidebar() {
    let app = spawn_app(&[]).await;
    let all = responses(&app, PV, PATIENT_VIEW, patient_view_request).await;
    let mut rules = STRUCTURE.to_vec();
    rules.push(("links on TRD cards", links_on_trd_cards));
    let errs = violations(&all, &rules);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[tokio::test]
async fn every_card_has_an_absolute_source_url() {
    let app = spawn_app(&[]).await;
    let mut all = responses(&app, PV, PATIENT_VIEW, patient_view_request).await;
    all.extend(responses(&app, SIGN, ORDER_SIGN, order_request).await);
    let errs = violations(&all, &[("absolute source.url", absolute_source_url)]);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

/// The checks themselves catch what they are for (a rule that never fails proves nothing).
#[test]
fn the_checks_catch_what_they_should() {
    let mr = |extra: Value| {
        let mut r = json!({"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8123"}]}});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    assert!(fhir_r4_errors(&mr(json!({}))).is_empty(), "a valid draft");
    // The reference client's invalid category, copied into an update (issue 15).
    assert!(!fhir_r4_errors(&mr(json!({"category": {"text": "outpatient"}}))).is_empty());
    // Medplum's schema checks a code's lexical form, not its required value set (HL7's lists the
    // enums): " draft" fails, "drafted" would pass. The draft update checks its codes itself
    // (src/cards/orders/draft_update.rs).
    assert!(!fhir_r4_errors(&mr(json!({"status": " draft"}))).is_empty());
    assert!(!fhir_r4_errors(&mr(json!({"authoredOn": "2026-13-01"}))).is_empty());
    assert!(
        !fhir_r4_errors(
            &json!({"resourceType": "ServiceRequest", "status": "draft", "intent": "order"})
        )
        .is_empty(),
        "no subject"
    );
    assert!(!fhir_r4_errors(&json!({"resourceType": "Referral"})).is_empty());

    let sug =
        |label: &str, actions: Value| json!({"label": label, "uuid": "u", "actions": actions});
    let create =
        json!([{"type": "create", "description": "x", "resource": mr(json!({"id": "new"}))}]);
    let card = json!({"summary": "s", "detail": "augment-antipsychotic: rationale (clinical-rules §3)\n\n| a | b | c | d | e |\n|---|---|---|---|---|",
        "suggestions": [sug("1", create.clone()), sug("2", create.clone()), sug("3", create.clone()),
                        sug("4", create.clone()), sug("5", json!([]))],
        "source": {"label": "x"}, "extension": {"trd-assessment": {}}});
    assert_eq!(
        few_suggestions_that_act(&card).len(),
        2,
        "5 > 4, and one without action"
    );
    let lang = plain_clinical_language(&card);
    assert!(
        lang.iter().any(|e| e.contains("augment-antipsychotic")),
        "{lang:?}"
    );
    assert!(lang.iter().any(|e| e.contains("§")), "{lang:?}");
    assert_eq!(
        narrow_tables(&card).len(),
        2,
        "header and rule rows of 5 columns"
    );
    assert_eq!(links_on_trd_cards(&card).len(), 1);
    assert_eq!(absolute_source_url(&card).len(), 1);
    // English compounds and words containing a code are not codes.
    let fine = json!({"summary": "Bipolar-spectrum diagnosis; a pre-refer-ect-ion", "detail": ""});
    assert!(plain_clinical_language(&fine).is_empty());

    // "Cancel the phenelzine" next to "raise phenelzine" / "order phenelzine" again.
    let req = json!({"context": {"draftOrders": {"entry": [{"resource": mr(json!({}))}]}}});
    let cancel = json!({"indicator": "critical", "suggestions": [sug("Cancel", json!([
        {"type": "delete", "description": "x", "resourceId": "MedicationRequest/d1"}]))]});
    let raise = json!({"indicator": "info", "suggestions": [sug("Raise", json!([
        {"type": "update", "description": "x", "resource": mr(json!({}))}]))]});
    let again = json!({"indicator": "warning", "suggestions": [sug("Again", create)]});
    assert_eq!(
        no_contradiction(&req, &json!({"cards": [cancel, raise, again]})).len(),
        2
    );
    assert!(no_contradiction(&req, &json!({"cards": [cancel]})).is_empty());
}
