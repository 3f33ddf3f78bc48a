//! The order hooks over HTTP (issue 7; clinical-rules §11, cards §10).
//!
//! - The CDS Hooks hook-library and implementation examples must parse and give no card.
//! - ONE table of draft-order scenarios: `tests/order_scenarios/<file>.json` (full requests, generated
//!   by `scripts/gen_order_scenarios.py`) and the cards each must produce, worked out by hand from the
//!   contract. Dates in the files and in the expectations are relative to today (`@T-13` = 13 days
//!   ago), because hook calls are evaluated as of the service's today.
//!
//! Reading a row: `cards` lists `(indicator, summary)` of every card, in order (the summary must
//! contain the text); `checks` are `(pointer, expected)` on the response JSON: `expected` is JSON,
//! or `~text` for "a string containing text", or `-` for "absent"; a pointer starting with `#` checks
//! an array length.

use crate::common;

use std::path::Path;

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use common::app::{TestApp, spawn_app};

const SIGN: &str = "/cds-services/trd-order-sign";
const SELECT: &str = "/cds-services/trd-order-select";

/// Replace every `@T-<n>` / `@T+<n>` with today ∓ n days (`YYYY-MM-DD`).
fn dates(s: &str, today: Date) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
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
                out.push_str(&(today + Duration::days(n)).to_string());
                rest = &after[1 + digits.len()..];
            }
            _ => {
                out.push_str("@T");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn null_prefetch() -> Value {
    json!({"patient": null, "conditions": null, "medicationStatements": null, "medicationRequests": null,
           "medicationDispenses": null, "procedures": null, "observations": null})
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let resp = app.post_json(path, &body.to_string()).await;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

// ---------------------------------------------------------------------------------------------
// Hook-library and implementation examples: they parse, and say nothing.
// ---------------------------------------------------------------------------------------------

/// A full request around an example's context (null prefetch). Legacy `medication-prescribe`
/// requests (`user`, `context.medications`) are mapped to the order-sign context.
fn wrap(file: &str, example: &Value) -> (String, Value) {
    let mut ctx = example["context"].clone();
    if let Some(meds) = ctx.as_object_mut().and_then(|c| c.remove("medications")) {
        ctx["draftOrders"] = meds;
    }
    if ctx.get("userId").is_none() {
        ctx["userId"] = example
            .get("user")
            .cloned()
            .unwrap_or(json!("Practitioner/example"));
    }
    let hook = if ctx.get("selections").is_some() {
        "order-select"
    } else {
        "order-sign"
    };
    let mut req = json!({
        "hook": hook,
        "hookInstance": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, file.as_bytes()).to_string(),
        "context": ctx,
        "prefetch": null_prefetch(),
    });
    for k in ["fhirServer", "fhirAuthorization"] {
        if let Some(v) = example.get(k).filter(|v| !v.is_null()) {
            req[k] = v.clone();
        }
    }
    let path = if hook == "order-select" { SELECT } else { SIGN };
    (path.to_string(), req)
}

#[tokio::test]
async fn hook_library_and_implementation_examples_parse_and_give_no_card() {
    let app = spawn_app(&[]).await;
    let files = [
        "cds-hooks-spec/hook-examples/order-select-context-r4.json",
        "cds-hooks-spec/hook-examples/order-sign-context-r4.json",
        "cds-hooks-spec/implementations/inferno-crd-test-kit/fixture-order_select_hook_request.json",
        "cds-hooks-spec/implementations/inferno-crd-test-kit/fixture-order_sign_hook_request.json",
        "cds-hooks-spec/implementations/davinci-crd-ri/order-sign-requestWithHydratedPrefetchBundle.json",
        "cds-hooks-spec/implementations/davinci-crd-ri/order-sign-medicationRequestPrefetch.json",
        "cds-hooks-spec/implementations/davinci-crd-ri/order-sign-medicationRequestNoPrefetch.json",
        "cds-hooks-spec/spec-examples/v3ballot-order-sign-context-epic-style-ids.json",
        "cds-hooks-spec/spec-examples/v3ballot-request-order-sign-paginated-prefetch.json",
    ];
    let mut failures = Vec::new();
    for f in files {
        let example: Value = serde_json::from_str(&common::app::shared(f)).unwrap();
        let (path, req) = wrap(f, &example);
        let (status, v) = post(&app, &path, &req).await;
        if status != 200 || v != json!({"cards": []}) {
            failures.push(format!("{f}: {status} {v}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The scenario table.
// ---------------------------------------------------------------------------------------------

struct Row {
    file: &'static str,
    why: &'static str,
    cards: &'static [(&'static str, &'static str)],
    checks: &'static [(&'static str, &'static str)],
}

const MAOI: &str = "critical";

const ROWS: &[Row] = &[
    Row {
        file: "maoi-after-sertraline-13-days",
        why: "MAOI 13 days after an SSRI ended: inside the 14-day washout",
        cards: &[(
            MAOI,
            "Serotonin-syndrome risk: MAOI Phenelzine ordered 13 days after Sertraline stopped (washout 14 days)",
        )],
        checks: &[
            ("/cards/0/detail", "~stopped @T-13"),
            ("/cards/0/detail", "~An MAOI may start from @T+2."),
            ("/cards/0/detail", "~`MedicationStatement/ms-sertraline`"),
            ("/cards/0/suggestions/0/actions/0/type", "\"delete\""),
            (
                "/cards/0/suggestions/0/actions/0/resourceId",
                "\"MedicationRequest/draft-phenelzine\"",
            ),
        ],
    },
    Row {
        file: "maoi-after-sertraline-14-days",
        why: "MAOI 14 days after an SSRI ended: the washout is inclusive",
        cards: &[(
            MAOI,
            "ordered 14 days after Sertraline stopped (washout 14 days)",
        )],
        checks: &[("/cards/0/detail", "~An MAOI may start from @T+1.")],
    },
    Row {
        file: "maoi-after-sertraline-15-days",
        why: "MAOI 15 days after an SSRI ended: washout complete",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "maoi-after-fluoxetine-34-days",
        why: "fluoxetine needs 35 days before an MAOI",
        cards: &[(
            MAOI,
            "ordered 34 days after Fluoxetine stopped (washout 35 days)",
        )],
        checks: &[("/cards/0/detail", "~An MAOI may start from @T+2.")],
    },
    Row {
        file: "maoi-after-fluoxetine-35-days",
        why: "fluoxetine washout is inclusive",
        cards: &[(
            MAOI,
            "ordered 35 days after Fluoxetine stopped (washout 35 days)",
        )],
        checks: &[("/cards/0/detail", "~An MAOI may start from @T+1.")],
    },
    Row {
        file: "maoi-after-fluoxetine-36-days",
        why: "fluoxetine washout complete",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "maoi-after-fluoxetine-20-days",
        why: "the sample case: fluoxetine stopped 20 days ago, phenelzine drafted",
        cards: &[(
            MAOI,
            "MAOI Phenelzine ordered 20 days after Fluoxetine stopped (washout 35 days)",
        )],
        checks: &[
            (
                "/cards/0/detail",
                "~**Fluoxetine** (serotonergic) stopped @T-20",
            ),
            ("/cards/0/detail", "~An MAOI may start from @T+16."),
            ("/cards/0/selectionBehavior", "\"at-most-one\""),
            ("#/cards/0/overrideReasons", "8"),
            ("/cards/0/source/label", "~knowledge base"),
        ],
    },
    Row {
        file: "ssri-after-maoi-13-days",
        why: "serotonergic drug 13 days after an MAOI ended",
        cards: &[(
            MAOI,
            "Sertraline ordered 13 days after the MAOI Phenelzine stopped (washout 14 days)",
        )],
        checks: &[(
            "/cards/0/detail",
            "~A serotonergic drug may start from @T+2.",
        )],
    },
    Row {
        file: "ssri-after-maoi-14-days",
        why: "serotonergic drug 14 days after an MAOI ended: inclusive",
        cards: &[(MAOI, "ordered 14 days after the MAOI Phenelzine stopped")],
        checks: &[],
    },
    Row {
        file: "ssri-after-maoi-15-days",
        why: "serotonergic drug 15 days after an MAOI ended: washout complete",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "maoi-while-ssri-current",
        why: "MAOI drafted while an SSRI is running",
        cards: &[(
            MAOI,
            "Tranylcypromine ordered while Sertraline is current (MAOI and serotonergic drug)",
        )],
        checks: &[(
            "/cards/0/detail",
            "~is current (`MedicationStatement/ms-sertraline`)",
        )],
    },
    Row {
        file: "maoi-low-dose-while-venlafaxine-current",
        why: "phenelzine 15 mg/day drafted while venlafaxine is current: cancel it, never also raise it (issue 15)",
        cards: &[(
            MAOI,
            "Serotonin-syndrome risk: Phenelzine ordered while Venlafaxine is current",
        )],
        checks: &[
            ("#/cards", "1"),
            ("/cards/0/suggestions/0/actions/0/type", "\"delete\""),
            (
                "/cards/0/suggestions/0/actions/0/resourceId",
                "\"MedicationRequest/draft-phenelzine\"",
            ),
        ],
    },
    Row {
        file: "maoi-contained-medication",
        why: "contained Medication (#med) with a per-tablet strength: 1 tablet TID = 45 mg/day",
        cards: &[(MAOI, "ordered 10 days after Sertraline stopped")],
        checks: &[(
            "/cards/0/detail",
            "~`MedicationRequest/draft-phenelzine` — Phenelzine (45 mg/day)",
        )],
    },
    Row {
        file: "low-dose-bundle-medication",
        why: "Medication referenced by urn:uuid in draftOrders: 1 × 25 mg tablet daily",
        cards: &[(
            "info",
            "Sertraline 25 mg/day is below the minimum adequate dose (50 mg/day)",
        )],
        checks: &[
            ("/cards/0/suggestions/0/actions/0/type", "\"update\""),
            (
                "/cards/0/suggestions/0/actions/0/resource/dosageInstruction/0/doseAndRate/0/doseQuantity",
                r#"{"value": 50.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}"#,
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/medicationReference/reference",
                "\"urn:uuid:6c1b0f7e-0d7e-4f38-9d0a-2f3b1c4d5e6f\"",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/id",
                "\"draft-sertraline\"",
            ),
        ],
    },
    Row {
        file: "low-dose-update",
        why: "sertraline 25 mg daily: info with the draft raised to 50 mg",
        cards: &[(
            "info",
            "Sertraline 25 mg/day is below the minimum adequate dose",
        )],
        checks: &[
            (
                "/cards/0/suggestions/0/label",
                "\"Raise Sertraline to 50 mg/day (50 mg per administration)\"",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/dosageInstruction/0/doseAndRate/0/doseQuantity/value",
                "50.0",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/dosageInstruction/0/timing/repeat/frequency",
                "1",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/status",
                "\"draft\"",
            ),
        ],
    },
    Row {
        file: "low-dose-update-keeps-timing-drops-invalid-fields",
        why: "sertraline 12.5 mg twice daily with an invalid category (an object): raised per administration, the invalid field not echoed (issue 15)",
        cards: &[(
            "info",
            "Sertraline 25 mg/day is below the minimum adequate dose",
        )],
        checks: &[
            (
                "/cards/0/suggestions/0/label",
                "\"Raise Sertraline to 50 mg/day (25 mg per administration)\"",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/dosageInstruction/0/timing/repeat/frequency",
                "2",
            ),
            (
                "/cards/0/suggestions/0/actions/0/resource/dosageInstruction/0/doseAndRate/0/doseQuantity/value",
                "25.0",
            ),
            ("/cards/0/suggestions/0/actions/0/resource/category", "-"),
            ("/cards/0/suggestions/0/actions/0/resource/madeUp", "-"),
            (
                "/cards/0/suggestions/0/actions/0/resource/subject/reference",
                "\"Patient/p1\"",
            ),
        ],
    },
    Row {
        file: "dose-at-minimum-silent",
        why: "sertraline 50 mg: exactly the minimum",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "combination-dose-uses-adjunct-minimum",
        why: "bupropion 150 added to running sertraline: a combination, judged at min_adjunct_mg_day",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "repeat-failed-ssri-class",
        why: "TRD met with two failed SSRIs; a third SSRI drafted",
        cards: &[(
            "warning",
            "2 SSRI trials already failed: consider augmentation or referral instead of Escitalopram",
        )],
        checks: &[
            ("/cards/0/selectionBehavior", "\"at-most-one\""),
            ("#/cards/0/suggestions", "3"),
            // Create before delete: applied one by one and stopped half-way, the draft is still
            // there to cancel; the alternative is never lost (issue 15).
            ("/cards/0/suggestions/0/actions/0/type", "\"create\""),
            (
                "/cards/0/suggestions/0/actions/0/resource/resourceType",
                "\"MedicationRequest\"",
            ),
            ("/cards/0/suggestions/0/actions/1/type", "\"delete\""),
            (
                "/cards/0/suggestions/0/actions/1/resourceId",
                "\"MedicationRequest/draft-escitalopram\"",
            ),
            (
                "/cards/0/suggestions/0/label",
                "~Draft prescription: Aripiprazole",
            ),
            (
                "/cards/0/suggestions/1/label",
                "~Draft prescription: Lithium",
            ),
            (
                "/cards/0/suggestions/2/actions/0/resource/resourceType",
                "\"ServiceRequest\"",
            ),
            ("/cards/0/detail", "~`MedicationStatement/ms-citalopram`"),
            ("/cards/0/detail", "~`MedicationStatement/ms-sertraline`"),
        ],
    },
    Row {
        file: "repeat-failed-ssri-class-after-nonadherent-fluoxetine",
        why: "TRD met with two failed SSRIs and a non-adherent fluoxetine trial (PDC 0.762); a third SSRI drafted: the warning names the adherence problem",
        cards: &[(
            "warning",
            "2 SSRI trials already failed: consider augmentation or referral instead of Escitalopram",
        )],
        checks: &[
            ("/cards/0/detail", "~**Adherence:** Possible non-adherence"),
            ("/cards/0/detail", "~dispensed supply covered 76 % of days"),
            ("/cards/0/detail", "~`MedicationDispense/md-fluoxetine-3`"),
            ("/cards/0/detail", "~review adherence first"),
            ("#/cards/0/suggestions", "3"),
        ],
    },
    Row {
        file: "repeat-class-other-class-silent",
        why: "TRD met with two failed SSRIs; an SNRI at an adequate dose is a class switch",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "repeat-class-renewal-silent",
        why: "TRD met; the draft renews the running escitalopram trial (not another trial)",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "bipolar-antidepressant-monotherapy",
        why: "bipolar disorder, sertraline drafted with nothing protective",
        cards: &[(
            "warning",
            "Bipolar disorder on record: Sertraline ordered without a mood stabiliser or antipsychotic",
        )],
        checks: &[
            ("/cards/0/detail", "~`Condition/c-bipolar`"),
            ("/cards/0/selectionBehavior", "\"any\""),
            (
                "/cards/0/suggestions/0/actions/0/resource/resourceType",
                "\"ServiceRequest\"",
            ),
        ],
    },
    Row {
        file: "bipolar-lithium-in-other-draft-silent",
        why: "bipolar disorder, sertraline drafted together with lithium",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "bipolar-current-quetiapine-silent",
        why: "bipolar disorder, sertraline drafted while quetiapine is current",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "maoi-ssri-draft-while-rasagiline-current",
        why: "SSRI drafted while rasagiline (MAO-B inhibitor, interaction-only) is current",
        cards: &[(
            MAOI,
            "Sertraline ordered while Rasagiline is current (MAOI and serotonergic drug)",
        )],
        checks: &[(
            "/cards/0/detail",
            "~is current (`MedicationStatement/ms-rasagiline`)",
        )],
    },
    Row {
        file: "maoi-tramadol-draft-10-days-after-phenelzine",
        why: "tramadol (serotonergic opioid) drafted 10 days after phenelzine stopped: inside the 14-day washout",
        cards: &[(
            MAOI,
            "Tramadol ordered 10 days after the MAOI Phenelzine stopped (washout 14 days)",
        )],
        checks: &[],
    },
    Row {
        file: "maoi-methylphenidate-draft-while-tranylcypromine-current",
        why: "methylphenidate (MAOI-contraindicated: hypertensive crisis) drafted while tranylcypromine is current",
        cards: &[(
            MAOI,
            "Hypertensive-crisis risk: Methylphenidate ordered while Tranylcypromine is current (MAOI and a drug contraindicated with it)",
        )],
        checks: &[(
            "/cards/0/detail",
            "~is contraindicated with MAOIs and would start",
        )],
    },
    Row {
        file: "unknown-drug-silent",
        why: "a drug the knowledge base does not know (amoxicillin), days after an SSRI",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "non-medication-orders-ignored",
        why: "ServiceRequest and NutritionOrder drafts for a bipolar patient: not medication orders",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "order-select-unselected-draft-silent",
        why: "order-select: the low-dose sertraline draft is not a selection",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "order-select-selected-draft",
        why: "order-select: only the selected sertraline is evaluated, not the escitalopram draft",
        cards: &[
            ("warning", "Bipolar disorder on record: Sertraline ordered"),
            (
                "info",
                "Sertraline 25 mg/day is below the minimum adequate dose",
            ),
        ],
        checks: &[],
    },
    Row {
        file: "order-select-other-draft-is-context",
        why: "order-select: the unselected lithium draft protects the selected sertraline",
        cards: &[],
        checks: &[],
    },
    Row {
        file: "order-sign-all-drafts",
        why: "order-sign: every draft is evaluated",
        cards: &[
            (
                "info",
                "Sertraline 25 mg/day is below the minimum adequate dose (50 mg/day)",
            ),
            (
                "info",
                "Fluoxetine 10 mg/day is below the minimum adequate dose (20 mg/day)",
            ),
        ],
        checks: &[],
    },
    Row {
        file: "order-sign-maoi-and-ssri-drafts",
        why: "order-sign: an MAOI and an SSRI drafted together: one card, on the MAOI",
        cards: &[(
            MAOI,
            "Serotonin-syndrome risk: Phenelzine ordered together with Sertraline (MAOI and serotonergic drug)",
        )],
        checks: &[
            (
                "/cards/0/suggestions/0/actions/0/resourceId",
                "\"MedicationRequest/draft-phenelzine\"",
            ),
            ("/cards/0/detail", "~`MedicationRequest/draft-sertraline`"),
        ],
    },
];

fn scenario_request(file: &str, today: Date) -> (String, Value) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/order_scenarios")
        .join(format!("{file}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&dates(&text, today)).unwrap();
    let path = if v["hook"] == "order-select" {
        SELECT
    } else {
        SIGN
    };
    (path.to_string(), v)
}

/// Posts a scenario dated as of today. The service evaluates it as of *its* today, so if the UTC
/// date turned while the call ran (a run across midnight) the dates no longer agree: post again
/// with the new date. Returns the date the response was computed for.
async fn post_scenario(app: &TestApp, file: &str) -> (Date, u16, Value) {
    loop {
        let day = today();
        let (path, req) = scenario_request(file, day);
        let (status, v) = post(app, &path, &req).await;
        if today() == day {
            return (day, status, v);
        }
    }
}

fn check_row(row: &Row, status: u16, v: &Value, today: Date) -> Vec<String> {
    let mut errs = Vec::new();
    if status != 200 {
        return vec![format!("status {status}: {v}")];
    }
    let cards = v["cards"].as_array().cloned().unwrap_or_default();
    if cards.len() != row.cards.len() {
        errs.push(format!(
            "expected {} card(s), got {}: {:?}",
            row.cards.len(),
            cards.len(),
            cards.iter().map(|c| &c["summary"]).collect::<Vec<_>>()
        ));
    }
    for (i, (c, (indicator, summary))) in cards.iter().zip(row.cards).enumerate() {
        let s = c["summary"].as_str().unwrap_or("");
        if c["indicator"] != *indicator || !s.contains(&dates(summary, today)) {
            errs.push(format!(
                "card {i}: expected {indicator} '{summary}', got {} '{s}'",
                c["indicator"]
            ));
        }
        // §10 invariants on every card.
        if s.chars().count() >= 140 {
            errs.push(format!("card {i}: summary of {} chars", s.chars().count()));
        }
        if c["uuid"]
            .as_str()
            .is_none_or(|u| uuid::Uuid::parse_str(u).is_err())
        {
            errs.push(format!("card {i}: no uuid"));
        }
        if c["detail"]
            .as_str()
            .is_none_or(|d| !d.contains("Knowledge base"))
        {
            errs.push(format!("card {i}: detail without provenance"));
        }
        if c["overrideReasons"].as_array().is_none_or(Vec::is_empty) {
            errs.push(format!("card {i}: no override reasons"));
        }
    }
    for (pointer, expected) in row.checks {
        let expected = dates(expected, today);
        if let Some(p) = pointer.strip_prefix('#') {
            let n = v.pointer(p).and_then(Value::as_array).map(Vec::len);
            if n.map(|n| n.to_string()) != Some(expected.clone()) {
                errs.push(format!("{pointer}: length {n:?}, expected {expected}"));
            }
            continue;
        }
        let got = v.pointer(pointer);
        if expected == "-" {
            if got.is_some() {
                errs.push(format!("{pointer}: got {got:?}, expected it absent"));
            }
            continue;
        }
        let ok = match expected.strip_prefix('~') {
            Some(text) => got
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains(text)),
            None => {
                let want: Value = serde_json::from_str(&expected).unwrap();
                match (got, &want) {
                    (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
                    (Some(g), w) => g == w,
                    _ => false,
                }
            }
        };
        if !ok {
            errs.push(format!("{pointer}: got {got:?}, expected {expected}"));
        }
    }
    errs
}

#[tokio::test]
async fn draft_order_scenarios() {
    let app = spawn_app(&[]).await;
    let mut failures = Vec::new();
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/order_scenarios"))
            .unwrap()
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
    files.sort();
    let listed: Vec<&str> = ROWS.iter().map(|r| r.file).collect();
    for f in &files {
        if !listed.contains(&f.as_str()) {
            failures.push(format!("{f}: scenario file without a row"));
        }
    }
    for row in ROWS {
        let (day, status, v) = post_scenario(&app, row.file).await;
        let errs = check_row(row, status, &v, day);
        if !errs.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}",
                row.file,
                row.why,
                errs.join("\n  ")
            ));
        }
        // The same call gives the same card and suggestion uuids (feedback joins across calls).
        let (day_again, _, again) = post_scenario(&app, row.file).await;
        let ids = |v: &Value| {
            v["cards"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (c["uuid"].clone(), c["suggestions"].clone()))
                .collect::<Vec<_>>()
        };
        if day_again == day && ids(&v) != ids(&again) {
            failures.push(format!(
                "{}: uuids differ between identical calls",
                row.file
            ));
        }
    }
    assert!(ROWS.len() >= 15);
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn sample_order_sign_maoi_response() {
    // Prints the sample response (`cargo test --test it order_hooks::sample -- --nocapture`).
    let app = spawn_app(&[]).await;
    let (_, status, v) = post_scenario(&app, "maoi-after-fluoxetine-20-days").await;
    assert_eq!(status, 200);
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert_eq!(v["cards"][0]["indicator"], "critical");
}

#[tokio::test]
async fn order_calls_are_audited_with_their_card_kinds() {
    let app = spawn_app(&[]).await;
    for f in ["maoi-after-fluoxetine-20-days", "repeat-failed-ssri-class"] {
        assert_eq!(post_scenario(&app, f).await.1, 200);
    }
    // The audit writer runs off the request path: poll briefly.
    let mut kinds = Value::Null;
    for _ in 0..50 {
        let v: Value = app
            .get("/api/v1/feedback/summary?from=2020-01-01&to=2100-01-01")
            .await
            .json()
            .await
            .unwrap();
        kinds = v["by_card_kind"].clone();
        if kinds.as_array().is_some_and(|k| k.len() >= 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shown = |kind: &str| {
        kinds
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["kind"] == kind)
            .map(|k| k["shown"].clone())
    };
    assert_eq!(shown("order-maoi-interaction"), Some(json!(1)), "{kinds}");
    assert_eq!(
        shown("order-repeat-failed-class"),
        Some(json!(1)),
        "{kinds}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn diagnostics(v: &Value) -> String {
    v["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn order_hook_errors_name_the_field() {
    let app = spawn_app(&[]).await;
    let today = today();
    let (_, base) = scenario_request("order-select-selected-draft", today);

    // order-select without selections.
    let mut r = base.clone();
    r["context"].as_object_mut().unwrap().remove("selections");
    let (status, v) = post(&app, SELECT, &r).await;
    assert_eq!(status, 400, "{v}");
    assert!(diagnostics(&v).contains("context.selections"), "{v}");

    // draftOrders not a Bundle.
    let mut r = base.clone();
    r["context"]["draftOrders"] = json!([1, 2]);
    let (status, v) = post(&app, SELECT, &r).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["issue"][0]["expression"][0], "context.draftOrders", "{v}");

    // Wrong hook for the service.
    let mut r = base.clone();
    r["hook"] = json!("order-select");
    let (status, _) = post(&app, SIGN, &r).await;
    assert_eq!(status, 400);

    // A required prefetch key missing: 412, as for patient-view.
    let mut r = base.clone();
    r["prefetch"].as_object_mut().unwrap().remove("conditions");
    let (status, v) = post(&app, SELECT, &r).await;
    assert_eq!(status, 412, "{v}");
    assert!(diagnostics(&v).contains("conditions"), "{v}");

    // A draft antidepressant for another patient: refused.
    let (_, mut r) = scenario_request("low-dose-update", today);
    r["context"]["draftOrders"]["entry"][0]["resource"]["subject"]["reference"] =
        json!("Patient/other");
    let (status, v) = post(&app, SIGN, &r).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        diagnostics(&v).contains("another patient") || diagnostics(&v).contains("other than"),
        "{v}"
    );
}

#[test]
fn relative_dates() {
    let d = time::macros::date!(2026 - 03 - 01);
    assert_eq!(dates("from @T+16.", d), "from 2026-03-17.");
    assert_eq!(
        dates("\"@T-0\" @T-1 @Tx", d),
        "\"2026-03-01\" 2026-02-28 @Tx"
    );
}
