//! The typed patient record: exactly the facts the rules read, extracted from FHIR JSON by
//! [`crate::fhir::reader`]. Nothing here depends on `as_of`: the engine applies the clock.

use serde::Serialize;
use time::Date;

use crate::knowledge::{Categories, Code, ObservationKind, ProcedureKind};

/// `"MedicationStatement/ms1"`: the resource type and id, as cited in evidence.
pub type ResourceRef = String;

#[derive(Debug, Clone, Default)]
pub struct PatientRecord {
    /// `"Patient/p1"` when a Patient (or a subject reference) was seen.
    pub patient: Option<ResourceRef>,
    /// Every distinct patient the input's resources are about, as `Patient/<id>` (from Patient
    /// resources and `subject`/`patient` references of that form; `urn:uuid:` references are not
    /// comparable and are left out). More than one means the input mixes patients.
    pub subjects: std::collections::BTreeSet<ResourceRef>,
    pub exposures: Vec<Exposure>,
    pub conditions: Vec<ConditionFact>,
    pub scores: Vec<ScoreFact>,
    pub procedures: Vec<ProcedureFact>,
    /// Every malformed rule-critical value, never silently dropped (clinical-rules §1).
    pub data_issues: Vec<DataIssue>,
}

/// Which resource type produced an exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SourceKind {
    MedicationStatement,
    MedicationRequest,
    MedicationDispense,
}

/// How a medication was mapped to its ingredient (clinical-rules §1, `matched_by`). Declared
/// strongest first, the order of §1, so `Ord` ranks a code match before text (§3 "Order of exposures").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    RxnormIngredient,
    RxnormProduct,
    Atc,
    Text,
}

/// One ingredient taken over one period at one daily dose (clinical-rules §2). A resource with a
/// combination product, or several dosage periods, yields several exposures.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// Knowledge-base ingredient id.
    pub ingredient: String,
    pub start: Date,
    /// `None` = open: runs until `as_of` (active statement / request without an end).
    pub end: Option<Date>,
    /// mg/day; `None` = unknown (never zero for unknown).
    pub daily_dose_mg: Option<f64>,
    pub source: ResourceRef,
    pub kind: SourceKind,
    /// FHIR status as written (`"active"`, `"completed"`, `"stopped"`, ...).
    pub status: String,
    /// `statusReason` is an adverse-effect reason (§5 rule 1).
    pub adverse_stop: bool,
    pub matched_by: MatchedBy,
    /// Human-readable assumptions made for this exposure (e.g. "no timing: once daily assumed").
    pub assumptions: Vec<String>,
}

/// FHIR Condition.clinicalStatus, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClinicalStatus {
    /// active, recurrence, relapse, or absent (absent counts as active, §6).
    Active,
    /// inactive, remission, resolved.
    Inactive,
}

#[derive(Debug, Clone)]
pub struct ConditionFact {
    pub reference: ResourceRef,
    /// Normalised codes (ICD-10-CM without dot, upper case).
    pub codes: Vec<Code>,
    /// Union of the knowledge-base categories of all codes.
    pub categories: Categories,
    pub clinical_status: ClinicalStatus,
    /// verificationStatus refuted.
    pub refuted: bool,
    /// `onsetDateTime`, `onsetPeriod.start`, else `recordedDate` (partial dates widened to the start).
    pub onset: Option<Date>,
}

/// A PHQ-9 total or item-9 score (clinical-rules §4, §7).
#[derive(Debug, Clone)]
pub struct ScoreFact {
    pub reference: ResourceRef,
    pub kind: ObservationKind,
    /// `effectiveDateTime` / `effectivePeriod.start` / `effectiveInstant`, else `issued`, as a calendar day.
    pub date: Date,
    /// Rounded half up to an integer (§4).
    pub value: i64,
    /// `issued` as Unix seconds, to order several scores on one day (last issued wins).
    pub issued: Option<i64>,
    /// Position in the input, the tie-breaker when `issued` is absent.
    pub order: usize,
}

#[derive(Debug, Clone)]
pub struct ProcedureFact {
    pub reference: ResourceRef,
    pub kind: ProcedureKind,
    /// `performedDateTime` / `performedPeriod.start`.
    pub date: Date,
}

/// A malformed or unusable rule-critical value (§13 `data_issues`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DataIssue {
    /// `"MedicationStatement/ms7"`.
    pub resource: ResourceRef,
    /// FHIR path of the field, e.g. `"effectivePeriod.start"`.
    pub field: String,
    /// What is wrong, e.g. `"invalid date '2023-02-30'"`.
    pub problem: String,
}
