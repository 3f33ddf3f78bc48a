//! The Assessment: the engine's output, in the exact shape of clinical-rules §13. Codes serialise to
//! the strings of the contract; enums are declared in table order so sorting follows the tables.

use serde::Serialize;
use time::Date;
use utoipa::ToSchema;

use crate::fhir::record::DataIssue;
use crate::knowledge::ProcedureKind;

/// Site configuration the recommendations depend on (clinical-rules §9). Not clinical knowledge:
/// what this site can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteConfig {
    pub tms_available: bool,
    pub ect_available: bool,
    pub esketamine_available: bool,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            tms_available: true,
            ect_available: true,
            esketamine_available: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Assessment {
    /// `"Patient/p1"`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date, example = "2026-03-01")]
    pub as_of: Date,
    pub knowledge_base: KbVersion,
    pub status: Status,
    /// The current MDD episode; `null` when there is no active MDD diagnosis.
    pub episode: Option<Episode>,
    pub trials: Vec<Trial>,
    pub augmentations: Vec<Augmentation>,
    pub failed_adequate_trials: u32,
    pub staging: Staging,
    pub flags: Vec<Flag>,
    pub recommendations: Vec<Recommendation>,
    /// The PHQ-9 totals of the period the trials cover, with the severity bands they read against
    /// (clinical-rules §13): what the timeline draws.
    pub phq9: Phq9Series,
    /// ECT, TMS and esketamine Procedures of the same period, one per session.
    pub procedures: Vec<ProcedureSession>,
    pub data_issues: Vec<DataIssue>,
}

/// PHQ-9 totals, oldest first, one per day (the one that counts, clinical-rules §4).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Phq9Series {
    pub scores: Vec<Phq9Score>,
    /// The knowledge base's severity bands, lowest first (Kroenke 2001).
    pub severity_bands: Vec<SeverityBand>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Phq9Score {
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub value: i64,
    /// The name of the severity band the value falls in (`mild`, `moderate`, ...).
    pub severity: String,
    /// The Observation, e.g. `"Observation/o1"`.
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeverityBand {
    /// Inclusive upper bound of the band's scores; the last band's is the scale's maximum.
    pub max: f64,
    pub name: String,
}

/// One neuromodulation or esketamine session (a completed Procedure).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcedureSession {
    pub kind: ProcedureKind,
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// The Procedure, e.g. `"Procedure/ect1"`.
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KbVersion {
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    NotApplicable,
    Met,
    Possible,
    NotMet,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Episode {
    /// The earliest active MDD Condition, e.g. `"Condition/c1"`.
    pub condition: String,
    /// `null` when no onset is known (then every trial counts).
    #[serde(with = "crate::dates::serde_opt_day")]
    #[schema(value_type = Option<String>, format = Date)]
    pub onset: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Measurement {
    Response,
    Partial,
    NonResponse,
    Unmeasured,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Intolerant,
    Responded,
    Failed,
    Indeterminate,
    Inadequate,
    Ongoing,
}

/// One period of a trial's dose history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoseSegment {
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub end: Date,
    /// `null` when unknown.
    pub daily_dose_mg: Option<f64>,
}

/// The current trial (clinical-rules §3), the one definition for the engine and the cards: the
/// not-ended trial with the latest start, else the ended trial with the latest end (then the latest
/// start); remaining ties go to the alphabetically first ingredient, so the answer never depends on
/// the order of the list. `trial` reads the [`Trial`] of an item.
pub fn current_trial<T>(items: &[T], trial: impl Fn(&T) -> &Trial) -> Option<&T> {
    let key = |t: &Trial| {
        (
            t.end.is_none(),
            t.end,
            t.start,
            std::cmp::Reverse(t.ingredient.clone()),
        )
    };
    items
        .iter()
        .max_by(|a, b| key(trial(a)).cmp(&key(trial(b))))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trial {
    pub ingredient: String,
    /// RxNorm ingredient RxCUI.
    pub rxnorm: Option<String>,
    /// Clinical class (`SSRI`, `SNRI`, `TCA`, ...).
    pub class: String,
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    /// `null` while the trial has not ended (it runs until `as_of`).
    #[serde(with = "crate::dates::serde_opt_day")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end: Option<Date>,
    pub max_daily_dose_mg: Option<f64>,
    /// The ingredient's minimum adequate daily dose (knowledge base), for reading the dose history.
    pub min_adequate_mg_day: Option<f64>,
    /// The ingredient's optimised daily dose (knowledge base).
    pub optimised_mg_day: Option<f64>,
    pub weeks_at_adequate_dose: f64,
    /// `null` when the dose is unknown.
    pub dose_adequate: Option<bool>,
    pub duration_adequate: bool,
    /// Proportion of days covered by the dispensed supply (PQA method, rounded down to 3 decimals);
    /// `null` unless the trial is made only of MedicationDispenses (at least 2).
    pub pdc: Option<f64>,
    /// `pdc` ≥ `min_pdc`; `null` when `pdc` is null. A non-adherent trial is never failed.
    pub adherence_adequate: Option<bool>,
    pub measurement: Measurement,
    /// The baseline PHQ-9 total of the measurement (clinical-rules §4), when there is one.
    pub phq9_baseline: Option<i64>,
    /// The follow-up PHQ-9 total at or below which the trial counts as a response
    /// (baseline × (1 − `response_pct`/100)); `null` without a baseline above 0.
    pub phq9_response_threshold: Option<f64>,
    pub outcome: Outcome,
    /// How the medication was mapped to its ingredient (`rxnorm-ingredient`, `rxnorm-product`, `atc`, `text`).
    pub matched_by: String,
    pub dose_history: Vec<DoseSegment>,
    pub assumptions: Vec<String>,
    /// FHIR references of the resources that make the trial.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentationOutcome {
    Responded,
    Failed,
    Inadequate,
    Ongoing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Augmentation {
    pub agent: String,
    /// `antipsychotic`, `lithium`, `thyroid-hormone`, `buspirone`, `stimulant`, or `antidepressant-combination`.
    pub class: String,
    /// The antidepressant trial it was added to.
    pub trial_ingredient: String,
    #[serde(with = "crate::dates::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    #[serde(with = "crate::dates::serde_opt_day")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end: Option<Date>,
    pub max_daily_dose_mg: Option<f64>,
    pub adequate: bool,
    pub measurement: Measurement,
    pub outcome: AugmentationOutcome,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Staging {
    /// Thase–Rush stage 0–5.
    pub thase_rush: u8,
    /// Massachusetts General Hospital staging score.
    pub mgh_s: f64,
    /// Maudsley Staging Method; `null` when severity is unknown.
    pub maudsley: Option<Maudsley>,
    /// Treatment step 0–5 (the seed ladder shown to clinicians as "treatment step").
    pub treatment_step: u8,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Maudsley {
    pub score: u32,
    /// `mild`, `moderate`, `severe`.
    pub band: String,
}

/// Flag codes, in the order of clinical-rules §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FlagCode {
    BipolarSpectrum,
    NoMddDiagnosis,
    PsychoticFeatures,
    Catatonia,
    SuicideRisk,
    SubtherapeuticDose,
    InsufficientDuration,
    DoseUnknown,
    PossibleNonadherence,
    SubstanceUse,
    ThyroidDisorder,
    ComorbidPtsd,
    ComorbidAdhd,
    ComorbidPersonalityDisorder,
    ComorbidAnxiety,
    MaoiSerotonergicInteraction,
    PriorPsychotherapy,
    PriorEct,
    PriorTms,
    PriorEsketamine,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Flag {
    pub code: FlagCode,
    /// FHIR references that raised the flag.
    pub evidence: Vec<String>,
    pub detail: String,
}

/// Recommendation codes, in the order of clinical-rules §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendationCode {
    UrgentSafetyAssessment,
    UrgentEctEvaluation,
    SpecialistReview,
    OptimizeDose,
    ExtendTrial,
    VerifyTreatmentHistory,
    AddPsychotherapy,
    AugmentAntipsychotic,
    AugmentLithium,
    SwitchClass,
    CombineAntidepressant,
    ReferTms,
    ReferEsketamine,
    ReferEct,
    ReassessDiagnosis,
}

impl RecommendationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendationCode::UrgentSafetyAssessment => "urgent-safety-assessment",
            RecommendationCode::UrgentEctEvaluation => "urgent-ect-evaluation",
            RecommendationCode::SpecialistReview => "specialist-review",
            RecommendationCode::OptimizeDose => "optimize-dose",
            RecommendationCode::ExtendTrial => "extend-trial",
            RecommendationCode::VerifyTreatmentHistory => "verify-treatment-history",
            RecommendationCode::AddPsychotherapy => "add-psychotherapy",
            RecommendationCode::AugmentAntipsychotic => "augment-antipsychotic",
            RecommendationCode::AugmentLithium => "augment-lithium",
            RecommendationCode::SwitchClass => "switch-class",
            RecommendationCode::CombineAntidepressant => "combine-antidepressant",
            RecommendationCode::ReferTms => "refer-tms",
            RecommendationCode::ReferEsketamine => "refer-esketamine",
            RecommendationCode::ReferEct => "refer-ect",
            RecommendationCode::ReassessDiagnosis => "reassess-diagnosis",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    Urgent,
    Routine,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendation {
    pub code: RecommendationCode,
    pub priority: Priority,
    pub rationale: String,
}
