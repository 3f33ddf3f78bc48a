//! Typed view of the knowledge base (the files under `knowledge/`).
//!
//! This module is the *interface* that the FHIR reader and the clinical engine program against.
//! Every clinical number the engine uses is a field here, loaded from a data file that carries its
//! source and review status; none is a literal in Rust.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Clinical class of a drug (`knowledge/drugs.toml`, field `class`). Used for "different class"
/// counting, Thase–Rush staging and augmentation kinds. Not the ATC 4th level (ATC lumps SNRIs,
/// bupropion, mirtazapine and trazodone together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DrugClass {
    #[serde(rename = "SSRI")]
    Ssri,
    #[serde(rename = "SNRI")]
    Snri,
    #[serde(rename = "NDRI")]
    Ndri,
    #[serde(rename = "NaSSA")]
    Nassa,
    #[serde(rename = "SARI")]
    Sari,
    #[serde(rename = "SPARI")]
    Spari,
    #[serde(rename = "multimodal")]
    Multimodal,
    #[serde(rename = "TCA")]
    Tca,
    /// Tetracyclics; count as TCA for Thase–Rush (clinical-rules §8).
    #[serde(rename = "TeCA")]
    Teca,
    #[serde(rename = "MAOI")]
    Maoi,
    /// NMDA antagonists (esketamine, dextromethorphan as in Auvelity).
    #[serde(rename = "NMDA")]
    Nmda,
    #[serde(rename = "5-HT1A-agonist")]
    Ht1aAgonist,
    // Augmentation agents.
    #[serde(rename = "antipsychotic")]
    Antipsychotic,
    #[serde(rename = "lithium")]
    Lithium,
    #[serde(rename = "thyroid-hormone")]
    ThyroidHormone,
    #[serde(rename = "buspirone")]
    Buspirone,
    #[serde(rename = "stimulant")]
    Stimulant,
    #[serde(rename = "anticonvulsant")]
    Anticonvulsant,
    /// Interaction-only drugs of no class above (opioids, triptans, St John's wort, ...).
    #[serde(rename = "other")]
    Other,
}

impl DrugClass {
    /// The class name as written in the knowledge base and in the Assessment JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DrugClass::Ssri => "SSRI",
            DrugClass::Snri => "SNRI",
            DrugClass::Ndri => "NDRI",
            DrugClass::Nassa => "NaSSA",
            DrugClass::Sari => "SARI",
            DrugClass::Spari => "SPARI",
            DrugClass::Multimodal => "multimodal",
            DrugClass::Tca => "TCA",
            DrugClass::Teca => "TeCA",
            DrugClass::Maoi => "MAOI",
            DrugClass::Nmda => "NMDA",
            DrugClass::Ht1aAgonist => "5-HT1A-agonist",
            DrugClass::Antipsychotic => "antipsychotic",
            DrugClass::Lithium => "lithium",
            DrugClass::ThyroidHormone => "thyroid-hormone",
            DrugClass::Buspirone => "buspirone",
            DrugClass::Stimulant => "stimulant",
            DrugClass::Anticonvulsant => "anticonvulsant",
            DrugClass::Other => "other",
        }
    }
}

/// What an ingredient is to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrugRole {
    /// Makes antidepressant trials (clinical-rules §3).
    Antidepressant,
    /// Augmentation agent (antipsychotic, lithium, thyroid hormone, buspirone, stimulant, ...).
    Augmentation,
    /// Known to the knowledge base but never a trial nor an augmentation: esketamine (it raises
    /// `prior-esketamine` through `counts_as_procedure`), mood stabilisers such as lamotrigine.
    Other,
    /// Read only for the MAOI interaction rule (clinical-rules §7): MAO inhibitors that are not
    /// antidepressant trials (oral selegiline, rasagiline, linezolid, methylene blue, ...) and the
    /// serotonergic or MAOI-contraindicated drugs the labels name (tramadol, triptans, ...).
    InteractionOnly,
}

/// One ingredient row of `knowledge/drugs.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ingredient {
    /// Stable lower-case id, e.g. `"sertraline"`; also the `ingredient`/`agent` in the Assessment JSON.
    pub id: String,
    /// Display name for cards, e.g. `"Sertraline"`.
    pub display: String,
    /// RxNorm ingredient RxCUI (TTY IN), e.g. `"36437"`. `None` only when not confirmed.
    pub rxcui: Option<String>,
    /// ATC codes, e.g. `["N06AB06"]`.
    pub atc: Vec<String>,
    pub class: DrugClass,
    pub role: DrugRole,
    /// Minimum adequate daily dose (antidepressant trials). Required for role antidepressant.
    pub min_adequate_mg_day: Option<f64>,
    /// "Optimised" daily dose (upper end where the reference gives a range).
    pub optimised_mg_day: Option<f64>,
    /// Minimum daily dose for an adequate augmentation / combination. Required for role augmentation.
    pub min_adjunct_mg_day: Option<f64>,
    pub serotonergic: bool,
    pub maoi: bool,
    /// Contraindicated with MAO inhibitors for a reason other than serotonin (hypertensive crisis:
    /// amphetamines, methylphenidate; carbamazepine): the MAOI rule treats it like a serotonergic drug.
    pub maoi_contraindicated: bool,
    /// Mood stabiliser (lithium, lamotrigine, valproate, ...): protects a bipolar patient on an antidepressant.
    pub mood_stabiliser: bool,
    /// Any exposure to this ingredient counts as this procedure (esketamine → `Esketamine`).
    pub counts_as_procedure: Option<ProcedureKind>,
    /// Washout in days after this drug ends before an MAOI may start; `None` = the default
    /// (`Params::maoi_washout_days`). Fluoxetine: 35.
    pub washout_before_maoi_days: Option<i64>,
    /// Brand names and synonyms matched as whole words in text (case-insensitive).
    pub brands: Vec<String>,
    /// Where the numbers come from (citation of an in-repository document).
    pub source: String,
    /// What the row's values were checked against (labels, tables; `docs/sources/knowledge-verification.md`).
    /// A source check, not a clinical review.
    pub checked_against: String,
    /// `"unreviewed"` until a clinician signs off; shown in card detail until then.
    pub review_status: String,
}

/// One RxNorm product (SCD/SBD/GPCK/BPCK) of `knowledge/products.json` (generated by
/// `scripts/gen_knowledge.py`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub rxcui: String,
    pub display: String,
    /// (ingredient id, strength in mg per unit when known). Combination products list each ingredient.
    pub ingredients: Vec<ProductIngredient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductIngredient {
    pub ingredient: String,
    /// mg per dose unit (tablet, capsule, mL for liquids, 24 h for transdermal patches).
    pub strength_mg: Option<f64>,
}

/// Condition categories of clinical-rules §6–§7, assigned by code (`knowledge/codes.toml` and the generated
/// `knowledge/conditions.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionCategory {
    /// Opens an MDD episode (F32.0–F32.3, F32.8x, F32.9, F32.A, F33.0–F33.3, F33.8, F33.9, SNOMED MDD set).
    Mdd,
    /// MDD in remission (F32.4, F32.5, F33.4x): never opens an episode.
    MddRemission,
    /// MDD with psychotic features (F32.3, F33.3, SNOMED psychotic-features codes).
    PsychoticFeatures,
    Catatonia,
    /// Bipolar Disorder value set, or cyclothymia F34.0.
    Bipolar,
    Psychosis,
    SubstanceUse,
    Hypothyroidism,
    Hyperthyroidism,
    Ptsd,
    Adhd,
    PersonalityDisorder,
    Anxiety,
    /// R45.851, T14.91 (any suffix), SNOMED 225444004 / suicide-attempt codes.
    SuicideRisk,
}

/// What a coded Observation is to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationKind {
    /// PHQ-9 total (LOINC 44261-6, 89204-2).
    Phq9Total,
    /// PHQ-9 item 9 (LOINC 44260-8).
    Phq9Item9,
}

/// What a coded Procedure is to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProcedureKind {
    Ect,
    Tms,
    Esketamine,
    /// A psychotherapy session (clinical-rules §1: the Psych Visit Psychotherapy value set, generated
    /// into `knowledge/procedures.json`, plus the add-on, family and group CPT codes of `codes.toml`).
    Psychotherapy,
}

/// Rule parameters (clinical-rules §12 and every other threshold the rules use), from
/// `knowledge/parameters.toml`. Field names are the parameter names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_failed_trials: u32,
    pub require_different_class: bool,
    pub min_adequate_weeks: f64,
    pub max_gap_days: i64,
    pub response_pct: f64,
    pub partial_response_pct: f64,
    pub min_augmentation_weeks: f64,
    /// Adherence: the proportion of days covered at or above which a dispense-only trial is adherent (§3: 0.8).
    pub min_pdc: f64,
    /// Adherence: dispenses a trial needs (and nothing else) to have a PDC (§3: 2).
    pub pdc_min_dispenses: u32,
    /// Days a dose must be held to count as the trial's max dose (§3: 14).
    pub dose_hold_days: i64,
    /// Combination vs switch: the first drug still running this many days after the second starts (§3: 28).
    pub combination_overlap_days: i64,
    /// Minimum overlap of an augmentation agent with a trial (§3: 14).
    pub min_augmentation_overlap_days: i64,
    /// Baseline score window relative to trial start (§4: −30 … +14).
    pub baseline_window_before_days: i64,
    pub baseline_window_after_days: i64,
    /// Follow-up scores count from this many days after the start (§4: 28).
    pub followup_min_days: i64,
    /// Remission: follow-up below this (§4: 5).
    pub remission_below: i64,
    /// Without a baseline, a follow-up at or above this is non-response (§4: 10).
    pub nonresponse_without_baseline_min: i64,
    /// PHQ-9 item-9 look-back for `suicide-risk` (§7: 90).
    pub suicide_item9_lookback_days: i64,
    /// PHQ-9 item-9 score at or above which `suicide-risk` is raised (§7: 1).
    pub suicide_item9_min: i64,
    /// MAOI washout after a serotonergic drug or after an MAOI (§7: 14).
    pub maoi_washout_days: i64,
    /// ECT procedures in the episode that make a course (§8: 6).
    pub ect_course_min_procedures: u32,
    /// Default end of a MedicationRequest without bounds or supply that is no longer active (§2: 30).
    pub request_default_days: i64,
    /// `subtherapeutic-dose`: trials of at least this many weeks (§7: 4).
    pub subtherapeutic_min_weeks: f64,
    /// Treatment step 5: episode longer than this many days (§8: 365).
    pub long_episode_days: i64,
    /// "Different classes": failed trials must span at least this many clinical classes (§6, §8: 2).
    pub min_classes_for_different_class: usize,
    /// `refer-esketamine` / `refer-ect`: escalation from this Thase–Rush stage (§9: 3).
    pub escalation_thase_rush_min: u8,
    /// `refer-esketamine` / `refer-ect`: escalation from this MGH-S score (§9: 3).
    pub escalation_mgh_s_min: f64,
    /// `specialist-review` (consider VNS/DBS) from this treatment step (§9: 4).
    pub specialist_treatment_step_min: u8,
    /// Order hooks: a draft antidepressant of a class with at least this many failed trials (distinct
    /// ingredients) gets the "class already failed" warning when status is `met` (§11: "failed twice", 2).
    pub order_class_failed_trials: u32,
}

/// Staging tables of clinical-rules §8 (`knowledge/staging.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagingTables {
    /// MGH-S points.
    pub mgh_s_failed_trial: f64,
    pub mgh_s_optimised_bonus: f64,
    pub mgh_s_failed_augmentation: f64,
    pub mgh_s_failed_ect_course: f64,
    /// Maudsley: episode duration bands as (max days inclusive, points); the last band has no max.
    pub maudsley_duration: Vec<Band>,
    /// Maudsley severity from the ICD-10-CM 4th character of F32/F33 (`"0"` → 2, ...).
    pub maudsley_severity_icd: HashMap<String, u32>,
    /// Maudsley severity from the highest PHQ-9 of the episode, as (max score inclusive, points).
    pub maudsley_severity_phq9: Vec<Band>,
    /// PHQ-9 severity bands (Kroenke 2001) as (max score inclusive, name); the last max is the
    /// scale's maximum. Labels the scores of the Assessment and the timeline's background.
    pub phq9_severity: Vec<NamedBand>,
    /// Severity points when psychotic features are present.
    pub maudsley_severity_psychotic: u32,
    /// Failed antidepressant count bands as (max count inclusive, points).
    pub maudsley_failed: Vec<Band>,
    pub maudsley_augmentation_used: u32,
    pub maudsley_ect_used: u32,
    /// Maudsley total → band name, as (max score inclusive, name).
    pub maudsley_bands: Vec<NamedBand>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Band {
    /// Inclusive upper bound; `None` on the last, open-ended band.
    pub max: Option<f64>,
    pub points: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedBand {
    pub max: f64,
    pub name: String,
}

/// A coding system + code, normalised (ICD-10-CM without the dot, upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Code {
    pub system: String,
    pub code: String,
}

/// A set of condition categories (small; at most a few per code).
pub type Categories = BTreeSet<ConditionCategory>;

/// Code system URIs (clinical-rules §1). Identifiers, not clinical numbers.
pub mod systems {
    pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
    pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    pub const SNOMED: &str = "http://snomed.info/sct";
    pub const LOINC: &str = "http://loinc.org";
    pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
    /// The official HCPCS code-system URI (HL7 terminology: `http://`, not `https://`).
    pub const HCPCS: &str = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
    /// The `https://` spelling some EHRs send; read as HCPCS, never emitted.
    pub const HCPCS_HTTPS: &str = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
    pub const ATC: &str = "http://www.whocc.no/atc";
}
