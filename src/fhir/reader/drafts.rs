//! Draft orders of the order hooks (`context.draftOrders`, clinical-rules §11).
//!
//! The normal reader never makes an exposure of a `draft` MedicationRequest (§2); the order hooks
//! need exactly those. This module reads them with the same machinery as the reader: the same
//! Medication resolution (contained `#id`, `Medication/<id>`, `urn:uuid:` fullUrls of the
//! draftOrders Bundle), the same ingredient matching (§1, `matched_by`) and the same daily-dose
//! computation (§2), and keeps each draft's raw JSON so a card can propose an `update` of it.
//!
//! Decisions where the contract is silent:
//! - Every MedicationRequest in `draftOrders` is a draft, whatever its `intent`; one whose status
//!   says it is not going to be signed (`entered-in-error`, `cancelled`, `completed`, `stopped`,
//!   `revoked`) is skipped. Other resource types (ServiceRequest, NutritionOrder, ...) are ignored.
//! - A draft's daily dose is the highest dose of its dosage groups (a titration schedule is judged
//!   by the dose it reaches); unknown when no group has a known dose.
//! - Medications are resolved inside `draftOrders` only (a reference to a Medication elsewhere is
//!   reported as unresolved, as the reader does); a reference's `display` is never matched.
//! - A draft without an id is named by its entry's fullUrl, else `MedicationRequest/#<index>`.

use std::collections::HashSet;

use serde_json::Value;

use super::dosage::{self, DoseResult, Per};
use super::wire::{self, AnyResource, OptObj};
use super::{Cx, Item, MedSource, ReadError, index_medications, make_ref, patient_ref};
use crate::fhir::record::{DataIssue, MatchedBy, PatientRecord, ResourceRef, SourceKind};
use crate::knowledge::KnowledgeBase;

/// One ingredient of a draft order, as the reader maps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftIngredient {
    /// Knowledge-base ingredient id.
    pub ingredient: String,
    /// mg/day; `None` = unknown.
    pub daily_dose_mg: Option<f64>,
    pub matched_by: MatchedBy,
}

/// Where the dose of a single-entry, single-ingredient draft sits, to propose changing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoseEdit {
    /// Index in `dosageInstruction`.
    pub dosage_index: usize,
    /// Index in that entry's `doseAndRate` of the element carrying the dose.
    pub dose_and_rate_index: usize,
    /// Administrations per day of that entry (as the reader computes them).
    pub per_day: f64,
}

/// A draft MedicationRequest of `draftOrders`.
#[derive(Debug, Clone)]
pub struct DraftOrder {
    /// `MedicationRequest/<id>` (the `resourceId` of a delete action, cds-resp-2).
    pub resource_id: ResourceRef,
    /// The entry's fullUrl, when given (selections may use it).
    pub full_url: Option<String>,
    /// `Patient/<id>` of its subject, when comparable.
    pub subject: Option<String>,
    /// What the knowledge base knows of the medication; empty = nothing (an unknown drug).
    pub ingredients: Vec<DraftIngredient>,
    /// Set when the dose can be changed in place (one dosage entry, one ingredient, not transdermal).
    pub dose_edit: Option<DoseEdit>,
    pub assumptions: Vec<String>,
    pub data_issues: Vec<DataIssue>,
    /// The resource as sent, for an `update` action.
    pub raw: Value,
}

impl DraftOrder {
    /// Is this draft named by `reference` (its `Type/id` or its fullUrl)?
    pub fn is_named(&self, reference: &str) -> bool {
        let r = reference.trim();
        r == self.resource_id || self.full_url.as_deref() == Some(r)
    }
}

/// Resources of a Bundle (entries, nested Bundles flattened) or the single resource, in order,
/// with their fullUrls. Entries that are not resources are skipped.
fn collect(v: &Value, full_url: Option<&str>, out: &mut Vec<(Option<String>, Value)>) {
    let Some(obj) = v.as_object() else { return };
    match obj.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {
            for e in obj
                .get("entry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let url = e.get("fullUrl").and_then(Value::as_str);
                if let Some(res) = e.get("resource") {
                    collect(res, url, out);
                }
            }
        }
        Some(_) => out.push((full_url.map(str::to_owned), v.clone())),
        None => {}
    }
}

const NOT_TO_BE_SIGNED: &[&str] = &[
    "entered-in-error",
    "cancelled",
    "completed",
    "stopped",
    "revoked",
];

/// Read the draft MedicationRequests of a `draftOrders` Bundle (or a single resource).
pub fn read_draft_orders(json: &str, kb: &KnowledgeBase) -> Result<Vec<DraftOrder>, ReadError> {
    let root: Value = serde_json::from_str(json).map_err(|e| ReadError {
        field: "$".into(),
        problem: format!("not valid JSON: {e}"),
    })?;
    if root.get("resourceType").and_then(Value::as_str).is_none() {
        return Err(ReadError {
            field: "$".into(),
            problem: "expected a FHIR Bundle (missing resourceType)".into(),
        });
    }
    let mut resources = Vec::new();
    collect(&root, None, &mut resources);
    // Each resource is re-read by the reader's lean wire structs (borrowing from this text).
    let texts: Vec<String> = resources
        .iter()
        .map(|(_, v)| serde_json::to_string(v).unwrap_or_default())
        .collect();
    let parsed: Vec<Option<AnyResource<'_>>> =
        texts.iter().map(|t| wire::parse_document(t).ok()).collect();
    let items: Vec<Item<'_, '_>> = parsed
        .iter()
        .zip(&resources)
        .filter_map(|(p, (url, _))| {
            p.as_ref().map(|res| Item {
                res,
                full_url: url.as_deref(),
            })
        })
        .collect();
    let raws: Vec<&Value> = parsed
        .iter()
        .zip(&resources)
        .filter_map(|(p, (_, v))| p.as_ref().map(|_| v))
        .collect();
    let meds = index_medications(&items);
    let mut cx = Cx {
        kb,
        meds: &meds,
        rec: PatientRecord::default(),
        first_subject: None,
        patient_resource: None,
        home: None,
    };
    let mut out = Vec::new();
    for (order, (item, raw)) in items.iter().zip(raws).enumerate() {
        let AnyResource::MedicationRequest(m) = item.res else {
            continue;
        };
        let status = m.status.as_ref().and_then(wire::Prim::as_str);
        if status.is_some_and(|s| NOT_TO_BE_SIGNED.contains(&s)) {
            continue;
        }
        let reference = make_ref("MedicationRequest", m.id.get(), item.full_url, order);
        let subject = m
            .subject
            .get()
            .and_then(|r| r.reference.get())
            .and_then(patient_ref);
        let src = MedSource {
            kind: SourceKind::MedicationRequest,
            reference: reference.clone(),
            status: "draft",
            adverse_stop: false,
            cc: m.medication_codeable_concept.get(),
            med_ref: m.medication_reference.as_ref(),
            contained: &m.contained,
        };
        let matched = cx.medication(&src);
        let mut issues: Vec<DataIssue> = std::mem::take(&mut cx.rec.data_issues);
        let mut draft = DraftOrder {
            resource_id: reference.clone(),
            full_url: item.full_url.map(str::to_owned),
            subject,
            ingredients: Vec::new(),
            dose_edit: None,
            assumptions: Vec::new(),
            data_issues: Vec::new(),
            raw: raw.clone(),
        };
        if let Some((by, ings)) = matched {
            let field = "dosageInstruction";
            if let Some(kind) = m.dosage_instruction.wrong {
                issues.push(DataIssue {
                    resource: reference.clone(),
                    field: field.into(),
                    problem: format!("invalid {field} ({kind})"),
                });
            }
            let groups = Cx::groups(&m.dosage_instruction);
            let mut seen = HashSet::new();
            for mi in &ings {
                let mut best: Option<f64> = None;
                for (_, entries) in &groups {
                    let r: DoseResult = dosage::daily_dose(entries, field, mi.strength);
                    for i in r.issues {
                        let issue = DataIssue {
                            resource: reference.clone(),
                            field: i.field,
                            problem: i.problem,
                        };
                        if seen.insert((issue.field.clone(), issue.problem.clone())) {
                            issues.push(issue);
                        }
                    }
                    for a in r.assumptions {
                        if !draft.assumptions.contains(&a) {
                            draft.assumptions.push(a);
                        }
                    }
                    if let Some(v) = r.mg_per_day {
                        best = Some(best.map_or(v, |b: f64| b.max(v)));
                    }
                }
                draft.ingredients.push(DraftIngredient {
                    ingredient: mi.ingredient.id.clone(),
                    daily_dose_mg: best,
                    matched_by: by,
                });
            }
            // An in-place dose change is offered only where it is unambiguous.
            let entries: Vec<_> = m.dosage_instruction.items.iter().collect();
            if let ([only], [mi]) = (entries.as_slice(), ings.as_slice())
                && let Some(d) = only.ok()
                && mi.strength.is_none_or(|s| s.per != Per::Day)
                && draft.ingredients[0].daily_dose_mg.is_some()
                && let Some(j) = d.dose_and_rate.items.iter().position(|dr| {
                    dr.ok()
                        .is_some_and(|dr| dr.dose_quantity.is_some() || dr.dose_range.is_some())
                })
                && let Some(per_day) =
                    dosage::per_day(d, "dosageInstruction[0]", &mut DoseResult::default())
            {
                draft.dose_edit = Some(DoseEdit {
                    dosage_index: 0,
                    dose_and_rate_index: j,
                    per_day,
                });
            }
        }
        draft.data_issues = issues;
        out.push(draft);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::embedded().unwrap()
    }

    #[test]
    fn contained_referenced_and_urn_medications() {
        let bundle = r##"{"resourceType":"Bundle","type":"collection","entry":[
          {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Medication","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"4493"}]}}},
          {"resource":{"resourceType":"Medication","id":"m2","code":{"text":"Phenelzine 15 MG Oral Tablet"}}},
          {"resource":{"resourceType":"MedicationRequest","id":"a","status":"draft","intent":"order","subject":{"reference":"Patient/p1"},
             "contained":[{"resourceType":"Medication","id":"med","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"36437"}]}}],
             "medicationReference":{"reference":"#med"},
             "dosageInstruction":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":25,"unit":"mg"}}]}]}},
          {"resource":{"resourceType":"MedicationRequest","id":"b","status":"draft","intent":"order","medicationReference":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"},
             "dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"value":20,"unit":"mg"}}]}]}},
          {"resource":{"resourceType":"MedicationRequest","id":"c","status":"draft","intent":"order","medicationReference":{"reference":"Medication/m2"},
             "dosageInstruction":[{"timing":{"code":{"coding":[{"code":"TID"}]}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}]}},
          {"resource":{"resourceType":"MedicationRequest","id":"d","status":"draft","intent":"order","medicationReference":{"reference":"Medication/elsewhere"}}},
          {"resource":{"resourceType":"MedicationRequest","id":"e","status":"cancelled","intent":"order","medicationCodeableConcept":{"text":"sertraline"}}},
          {"resource":{"resourceType":"ServiceRequest","id":"s","status":"draft"}}
        ]}"##;
        let d = read_draft_orders(bundle, &kb()).unwrap();
        let ids: Vec<_> = d.iter().map(|x| x.resource_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "MedicationRequest/a",
                "MedicationRequest/b",
                "MedicationRequest/c",
                "MedicationRequest/d"
            ]
        );
        assert_eq!(d[0].ingredients[0].ingredient, "sertraline");
        assert_eq!(d[0].ingredients[0].daily_dose_mg, Some(25.0));
        assert_eq!(d[0].subject.as_deref(), Some("Patient/p1"));
        assert_eq!(
            d[0].dose_edit,
            Some(DoseEdit {
                dosage_index: 0,
                dose_and_rate_index: 0,
                per_day: 1.0
            })
        );
        assert_eq!(d[1].ingredients[0].ingredient, "fluoxetine");
        assert_eq!(d[1].assumptions, [dosage::ASSUME_ONCE_DAILY]);
        assert_eq!(d[2].ingredients[0].ingredient, "phenelzine");
        assert_eq!(d[2].ingredients[0].daily_dose_mg, Some(45.0));
        assert_eq!(d[2].ingredients[0].matched_by, MatchedBy::Text);
        assert!(d[3].ingredients.is_empty());
        assert_eq!(d[3].data_issues[0].field, "medicationReference");
        assert_eq!(d[0].raw["id"], "a");
        assert!(d[1].is_named("MedicationRequest/b"));
    }

    #[test]
    fn not_a_bundle_is_an_error() {
        assert!(read_draft_orders("[1]", &kb()).is_err());
        assert!(read_draft_orders("{", &kb()).is_err());
        assert!(
            read_draft_orders(r#"{"resourceType":"Bundle"}"#, &kb())
                .unwrap()
                .is_empty()
        );
    }
}
