//! Parsing and validation of the knowledge files. Every error names the file and the row.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;

use super::codes::{CodeTable, ConditionIndex, Sys};
use super::model::*;
use super::text_match::TextIndex;
use super::{KbError, KnowledgeBase};

/// File names, as they appear in error messages and under a knowledge directory.
pub const MANIFEST: &str = "manifest.toml";
pub const DRUGS: &str = "drugs.toml";
pub const PARAMETERS: &str = "parameters.toml";
pub const STAGING: &str = "staging.toml";
pub const CODES: &str = "codes.toml";
pub const CONDITIONS: &str = "conditions.json";
pub const PROCEDURES: &str = "procedures.json";
pub const PRODUCTS: &str = "products.json";
pub const CARDS: &str = super::cards::CARDS;

/// The text of every knowledge file; [`KnowledgeBase::from_sources`] parses and validates them together.
#[derive(Debug, Clone, Copy)]
pub struct KnowledgeSources<'a> {
    pub manifest: &'a str,
    pub drugs: &'a str,
    pub parameters: &'a str,
    pub staging: &'a str,
    pub codes: &'a str,
    pub conditions: &'a str,
    pub procedures: &'a str,
    pub products: &'a str,
    /// `cards.toml`: next-step order, guideline links, referral codes.
    pub cards: &'a str,
}

impl KnowledgeSources<'static> {
    /// The files compiled into the binary.
    pub fn embedded() -> KnowledgeSources<'static> {
        KnowledgeSources {
            manifest: include_str!("../../knowledge/manifest.toml"),
            drugs: include_str!("../../knowledge/drugs.toml"),
            parameters: include_str!("../../knowledge/parameters.toml"),
            staging: include_str!("../../knowledge/staging.toml"),
            codes: include_str!("../../knowledge/codes.toml"),
            conditions: include_str!("../../knowledge/conditions.json"),
            procedures: include_str!("../../knowledge/procedures.json"),
            products: include_str!("../../knowledge/products.json"),
            cards: include_str!("../../knowledge/cards.toml"),
        }
    }
}

fn err(file: &str, msg: impl std::fmt::Display) -> KbError {
    KbError(format!("{file}: {msg}"))
}

fn toml_file<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, KbError> {
    toml::from_str(text).map_err(|e| err(file, e.to_string().trim_end()))
}

fn json_file<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, KbError> {
    serde_json::from_str(text).map_err(|e| err(file, e))
}

fn system(file: &str, row: &str, uri: &str) -> Result<Sys, KbError> {
    Sys::parse(uri).ok_or_else(|| err(file, format!("{row}: unknown code system '{uri}'")))
}

// ------------------------------------------------------------------------------------------------------------
// File shapes

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // provenance for reviewers; not used by the rules
struct Meta {
    #[serde(default)]
    source: String,
    #[serde(default)]
    review_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // provenance fields are validated as present but not used by the rules
struct ManifestFile {
    version: String,
    #[serde(default)]
    rxnorm_release: String,
    #[serde(default)]
    vsac_expansion: String,
    #[serde(default)]
    review_status: String,
    #[serde(default)]
    reviewed_by: String,
    #[serde(default)]
    reviewed_on: String,
    #[serde(default)]
    source: Vec<ManifestSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read for validation and kept for tooling; not used by the rules
struct ManifestSource {
    id: String,
    citation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrugsFile {
    #[serde(default)]
    ingredient: Vec<IngredientRow>,
}

/// One `[[ingredient]]` row: the [`Ingredient`] fields plus loader-only fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngredientRow {
    id: String,
    display: String,
    #[serde(default)]
    rxcui: Option<String>,
    /// Further RxCUIs meaning this ingredient (e.g. lithium carbonate / citrate precise ingredients).
    #[serde(default)]
    extra_rxcuis: Vec<String>,
    #[serde(default)]
    atc: Vec<String>,
    class: DrugClass,
    role: DrugRole,
    #[serde(default)]
    min_adequate_mg_day: Option<f64>,
    #[serde(default)]
    optimised_mg_day: Option<f64>,
    #[serde(default)]
    min_adjunct_mg_day: Option<f64>,
    serotonergic: bool,
    maoi: bool,
    #[serde(default)]
    maoi_contraindicated: bool,
    #[serde(default)]
    mood_stabiliser: bool,
    #[serde(default)]
    counts_as_procedure: Option<ProcedureKind>,
    #[serde(default)]
    washout_before_maoi_days: Option<i64>,
    #[serde(default)]
    brands: Vec<String>,
    /// Words that veto a text match of this ingredient (oral selegiline).
    #[serde(default)]
    text_exclude: Vec<String>,
    /// Words of which one must be present for a text match of this ingredient (oral selegiline:
    /// "tablet", "capsule", ...).
    #[serde(default)]
    text_require: Vec<String>,
    source: String,
    /// What the values were checked against (required; a source check is not a clinical review).
    #[serde(default)]
    checked_against: String,
    review_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsFile {
    #[serde(default)]
    #[allow(dead_code)]
    meta: Option<Meta>,
    params: Params,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StagingFile {
    #[serde(default)]
    #[allow(dead_code)]
    meta: Option<Meta>,
    staging: StagingTables,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesFile {
    #[serde(default)]
    #[allow(dead_code)]
    meta: Option<Meta>,
    #[serde(default)]
    condition: Vec<ConditionRow>,
    #[serde(default)]
    observation: Vec<KindRow<ObservationKind>>,
    #[serde(default)]
    procedure: Vec<KindRow<ProcedureKind>>,
    #[serde(default)]
    answer: Vec<AnswerRow>,
    adverse_reason: AdverseRow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionRow {
    system: String,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    categories: Vec<ConditionCategory>,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindRow<K> {
    system: String,
    codes: Vec<String>,
    kind: K,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRow {
    system: String,
    code: String,
    score: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdverseRow {
    system: String,
    codes: Vec<String>,
    text_fragments: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
struct ConditionsFile {
    codes: Vec<GeneratedCondition>,
}

#[derive(Debug, Deserialize)]
struct GeneratedCondition {
    system: String,
    code: String,
    categories: Vec<ConditionCategory>,
}

#[derive(Debug, Deserialize)]
struct ProceduresFile {
    codes: Vec<GeneratedProcedure>,
}

#[derive(Debug, Deserialize)]
struct GeneratedProcedure {
    system: String,
    code: String,
    kind: ProcedureKind,
}

#[derive(Debug, Deserialize)]
struct ProductsFile {
    products: Vec<Product>,
}

// ------------------------------------------------------------------------------------------------------------
// Indexes built at load

/// Everything the lookups need, built once by [`build`].
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) ingredients: Vec<Ingredient>,
    pub(crate) by_id: HashMap<String, usize>,
    pub(crate) by_rxcui: HashMap<String, usize>,
    pub(crate) by_atc: HashMap<String, usize>,
    pub(crate) products: HashMap<String, Product>,
    pub(crate) text: TextIndex,
    pub(crate) conditions: ConditionIndex,
    pub(crate) observations: CodeTable<ObservationKind>,
    pub(crate) procedures: CodeTable<ProcedureKind>,
    /// Codes of each procedure kind, in file order (for referrals).
    pub(crate) procedure_codes: HashMap<ProcedureKind, Vec<Code>>,
    pub(crate) answers: CodeTable<i64>,
    pub(crate) adverse_codes: CodeTable<()>,
    /// Lower-case fragments.
    pub(crate) adverse_fragments: Vec<String>,
    pub(crate) rxnorm_release: String,
    pub(crate) review_status: String,
}

pub(crate) fn build(src: &KnowledgeSources<'_>) -> Result<KnowledgeBase, KbError> {
    // manifest
    let manifest: ManifestFile = toml_file(MANIFEST, src.manifest)?;
    if manifest.version.trim().is_empty() {
        return Err(err(MANIFEST, "empty version"));
    }
    for (i, s) in manifest.source.iter().enumerate() {
        if s.id.trim().is_empty() || s.citation.trim().is_empty() {
            return Err(err(
                MANIFEST,
                format!("source row {}: empty id or citation", i + 1),
            ));
        }
    }

    let mut idx = Index {
        rxnorm_release: manifest.rxnorm_release.clone(),
        review_status: manifest.review_status.clone(),
        ..Index::default()
    };

    load_drugs(src.drugs, &mut idx)?;

    let params: ParamsFile = toml_file(PARAMETERS, src.parameters)?;
    validate_params(&params.params)?;
    let staging: StagingFile = toml_file(STAGING, src.staging)?;
    validate_staging(&staging.staging)?;

    load_codes(src.codes, &mut idx)?;
    load_conditions(src.conditions, &mut idx)?;
    load_procedures(src.procedures, &mut idx)?;
    load_products(src.products, &mut idx)?;
    let cards = super::cards::load(src.cards)?;
    referrals_are_not_sessions(&cards, &idx)?;

    Ok(KnowledgeBase {
        version: manifest.version.trim().to_string(),
        params: params.params,
        staging: staging.staging,
        cards,
        idx,
    })
}

/// A referral is not a session: a draft referral's code (`cards.toml`) must never be a procedure
/// code of `codes.toml` / `procedures.json`, or the referral, once performed and recorded, would
/// count as a treatment session.
fn referrals_are_not_sessions(
    cards: &super::cards::CardKnowledge,
    idx: &Index,
) -> Result<(), KbError> {
    for r in &cards.referrals {
        let sys = system(CARDS, "referral", &r.system)?;
        if idx.procedures.get_sys(sys, r.code.trim()).is_some() {
            return Err(err(
                CARDS,
                format!(
                    "referral {}: also a procedure code (a referral is never a session)",
                    r.code
                ),
            ));
        }
    }
    Ok(())
}

fn positive(file: &str, row: &str, field: &str, v: Option<f64>) -> Result<(), KbError> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(err(
            file,
            format!("{row}: {field} must be positive, got {x}"),
        )),
        _ => Ok(()),
    }
}

fn load_drugs(text: &str, idx: &mut Index) -> Result<(), KbError> {
    let file: DrugsFile = toml_file(DRUGS, text)?;
    if file.ingredient.is_empty() {
        return Err(err(DRUGS, "no [[ingredient]] rows"));
    }
    for (n, row) in file.ingredient.into_iter().enumerate() {
        let i = idx.ingredients.len();
        let id = row.id.trim().to_string();
        let label = format!("ingredient '{}' (row {})", id, n + 1);
        if id.is_empty() || id != id.to_lowercase() {
            return Err(err(
                DRUGS,
                format!("{label}: id must be non-empty lower case"),
            ));
        }
        if idx.by_id.insert(id.clone(), i).is_some() {
            return Err(err(DRUGS, format!("{label}: duplicate ingredient id")));
        }
        if row.display.trim().is_empty() {
            return Err(err(DRUGS, format!("{label}: empty display")));
        }
        if row.source.trim().is_empty() || row.review_status.trim().is_empty() {
            return Err(err(
                DRUGS,
                format!("{label}: source and review_status are required"),
            ));
        }
        if row.checked_against.trim().is_empty() {
            return Err(err(DRUGS, format!("{label}: checked_against is required")));
        }
        for (field, text) in [
            ("source", &row.source),
            ("checked_against", &row.checked_against),
        ] {
            if let Some(bad) = outside_reference(text) {
                return Err(err(
                    DRUGS,
                    format!(
                        "{label}: {field} cites '{bad}', outside the repository (cite docs/sources/… or docs/clinical-rules.md)"
                    ),
                ));
            }
        }
        positive(
            DRUGS,
            &label,
            "min_adequate_mg_day",
            row.min_adequate_mg_day,
        )?;
        positive(DRUGS, &label, "optimised_mg_day", row.optimised_mg_day)?;
        positive(DRUGS, &label, "min_adjunct_mg_day", row.min_adjunct_mg_day)?;
        match row.role {
            DrugRole::Antidepressant => {
                if row.min_adequate_mg_day.is_none() {
                    return Err(err(
                        DRUGS,
                        format!("{label}: antidepressant without min_adequate_mg_day"),
                    ));
                }
                if row.optimised_mg_day.is_none() {
                    return Err(err(
                        DRUGS,
                        format!("{label}: antidepressant without optimised_mg_day"),
                    ));
                }
            }
            DrugRole::Augmentation => {
                if row.min_adjunct_mg_day.is_none() {
                    return Err(err(
                        DRUGS,
                        format!("{label}: augmentation agent without min_adjunct_mg_day"),
                    ));
                }
            }
            DrugRole::Other => {}
            DrugRole::InteractionOnly => {
                if !(row.maoi || row.serotonergic || row.maoi_contraindicated) {
                    return Err(err(
                        DRUGS,
                        format!(
                            "{label}: interaction-only row without maoi, serotonergic or maoi_contraindicated"
                        ),
                    ));
                }
            }
        }
        if let (Some(min), Some(opt)) = (row.min_adequate_mg_day, row.optimised_mg_day)
            && opt < min
        {
            return Err(err(
                DRUGS,
                format!("{label}: optimised_mg_day {opt} < min_adequate_mg_day {min}"),
            ));
        }
        if let Some(w) = row.washout_before_maoi_days
            && w < 0
        {
            return Err(err(
                DRUGS,
                format!("{label}: negative washout_before_maoi_days"),
            ));
        }
        let rxcui = row
            .rxcui
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        for code in rxcui.iter().chain(row.extra_rxcuis.iter()) {
            let code = code.trim();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(DRUGS, format!("{label}: invalid RxCUI '{code}'")));
            }
            if let Some(prev) = idx.by_rxcui.insert(code.to_string(), i) {
                return Err(err(
                    DRUGS,
                    format!(
                        "{label}: duplicate RxCUI {code} (also ingredient '{}')",
                        idx.ingredients[prev].id
                    ),
                ));
            }
        }
        let atc: Vec<String> = row
            .atc
            .iter()
            .map(|a| a.trim().to_ascii_uppercase())
            .collect();
        for code in &atc {
            if code.is_empty() {
                return Err(err(DRUGS, format!("{label}: empty ATC code")));
            }
            if let Some(prev) = idx.by_atc.insert(code.clone(), i) {
                return Err(err(
                    DRUGS,
                    format!(
                        "{label}: duplicate ATC {code} (also ingredient '{}')",
                        idx.ingredients[prev].id
                    ),
                ));
            }
        }
        idx.text.add_name(&id, i);
        idx.text.add_name(&row.display, i);
        for b in &row.brands {
            if b.trim().is_empty() {
                return Err(err(DRUGS, format!("{label}: empty brand")));
            }
            idx.text.add_name(b, i);
        }
        for w in &row.text_exclude {
            idx.text.add_exclusion(i, w);
        }
        for w in &row.text_require {
            idx.text.add_requirement(i, w);
        }
        idx.ingredients.push(Ingredient {
            id,
            display: row.display,
            rxcui,
            atc,
            class: row.class,
            role: row.role,
            min_adequate_mg_day: row.min_adequate_mg_day,
            optimised_mg_day: row.optimised_mg_day,
            min_adjunct_mg_day: row.min_adjunct_mg_day,
            serotonergic: row.serotonergic,
            maoi: row.maoi,
            maoi_contraindicated: row.maoi_contraindicated,
            mood_stabiliser: row.mood_stabiliser,
            counts_as_procedure: row.counts_as_procedure,
            washout_before_maoi_days: row.washout_before_maoi_days,
            brands: row.brands,
            source: row.source,
            checked_against: row.checked_against,
            review_status: row.review_status,
        });
    }
    Ok(())
}

/// A citation of a document outside the repository (`../…`, `reference/…`, `design/…`), if any:
/// every citation must be readable from the repository itself.
fn outside_reference(text: &str) -> Option<&str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ';' | ',' | '`'))
        .find(|w| w.starts_with("../") || w.starts_with("reference/") || w.starts_with("design/"))
}

fn validate_params(p: &Params) -> Result<(), KbError> {
    let bad = |m: &str| Err(err(PARAMETERS, m));
    if p.min_failed_trials == 0 {
        return bad("min_failed_trials must be at least 1");
    }
    if !(p.response_pct > 0.0 && p.response_pct <= 100.0) {
        return bad("response_pct must be in (0, 100]");
    }
    if !(p.partial_response_pct > 0.0 && p.partial_response_pct < p.response_pct) {
        return bad("partial_response_pct must be in (0, response_pct)");
    }
    if !(p.min_pdc > 0.0 && p.min_pdc <= 1.0) {
        return bad("min_pdc must be in (0, 1]");
    }
    if p.pdc_min_dispenses == 0 {
        return bad("pdc_min_dispenses must be at least 1");
    }
    let non_neg_f = [
        ("min_adequate_weeks", p.min_adequate_weeks),
        ("min_augmentation_weeks", p.min_augmentation_weeks),
        ("subtherapeutic_min_weeks", p.subtherapeutic_min_weeks),
    ];
    for (name, v) in non_neg_f {
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(
                PARAMETERS,
                format!("{name} must be a non-negative number"),
            ));
        }
    }
    let non_neg_i = [
        ("max_gap_days", p.max_gap_days),
        ("dose_hold_days", p.dose_hold_days),
        ("combination_overlap_days", p.combination_overlap_days),
        (
            "min_augmentation_overlap_days",
            p.min_augmentation_overlap_days,
        ),
        ("baseline_window_before_days", p.baseline_window_before_days),
        ("baseline_window_after_days", p.baseline_window_after_days),
        ("followup_min_days", p.followup_min_days),
        ("remission_below", p.remission_below),
        (
            "nonresponse_without_baseline_min",
            p.nonresponse_without_baseline_min,
        ),
        ("suicide_item9_lookback_days", p.suicide_item9_lookback_days),
        ("suicide_item9_min", p.suicide_item9_min),
        ("maoi_washout_days", p.maoi_washout_days),
        ("request_default_days", p.request_default_days),
        ("long_episode_days", p.long_episode_days),
    ];
    for (name, v) in non_neg_i {
        if v < 0 {
            return Err(err(PARAMETERS, format!("{name} must not be negative")));
        }
    }
    Ok(())
}

fn validate_bands(name: &str, bands: &[Band]) -> Result<(), KbError> {
    let Some((last, init)) = bands.split_last() else {
        return Err(err(STAGING, format!("{name}: no bands")));
    };
    if last.max.is_some() {
        return Err(err(
            STAGING,
            format!("{name}: the last band must have no max (open-ended)"),
        ));
    }
    let mut prev: Option<f64> = None;
    for (i, b) in init.iter().enumerate() {
        let Some(max) = b.max else {
            return Err(err(
                STAGING,
                format!("{name}: band {} has no max but is not the last", i + 1),
            ));
        };
        if prev.is_some_and(|p| max <= p) {
            return Err(err(
                STAGING,
                format!("{name}: band {} max {max} is not increasing", i + 1),
            ));
        }
        prev = Some(max);
    }
    Ok(())
}

fn validate_named_bands(what: &str, bands: &[NamedBand]) -> Result<(), KbError> {
    if bands.is_empty() {
        return Err(err(STAGING, format!("{what}: no bands")));
    }
    let mut prev: Option<f64> = None;
    for (i, b) in bands.iter().enumerate() {
        if prev.is_some_and(|p| b.max <= p) || b.name.trim().is_empty() {
            return Err(err(
                STAGING,
                format!(
                    "{what}: band {} must have a name and an increasing max",
                    i + 1
                ),
            ));
        }
        prev = Some(b.max);
    }
    Ok(())
}

fn validate_staging(s: &StagingTables) -> Result<(), KbError> {
    validate_bands("maudsley_duration", &s.maudsley_duration)?;
    validate_bands("maudsley_severity_phq9", &s.maudsley_severity_phq9)?;
    validate_bands("maudsley_failed", &s.maudsley_failed)?;
    validate_named_bands("maudsley_bands", &s.maudsley_bands)?;
    validate_named_bands("phq9_severity", &s.phq9_severity)?;
    for k in s.maudsley_severity_icd.keys() {
        if k.chars().count() != 1 {
            return Err(err(
                STAGING,
                format!("maudsley_severity_icd: key '{k}' must be one character"),
            ));
        }
    }
    Ok(())
}

fn load_codes(text: &str, idx: &mut Index) -> Result<(), KbError> {
    let file: CodesFile = toml_file(CODES, text)?;
    for (n, row) in file.condition.iter().enumerate() {
        let label = format!("condition row {}", n + 1);
        let sys = system(CODES, &label, &row.system)?;
        if row.categories.is_empty() || (row.codes.is_empty() && row.prefixes.is_empty()) {
            return Err(err(
                CODES,
                format!("{label}: needs categories and codes or prefixes"),
            ));
        }
        let cats: Categories = row.categories.iter().copied().collect();
        for c in &row.codes {
            if c.trim().is_empty() {
                return Err(err(CODES, format!("{label}: empty code")));
            }
            idx.conditions.add_exact(sys, c, &cats);
        }
        if !row.prefixes.is_empty() && sys != Sys::Icd10cm {
            return Err(err(
                CODES,
                format!("{label}: prefixes are supported for ICD-10-CM only"),
            ));
        }
        for p in &row.prefixes {
            if p.trim().is_empty() {
                return Err(err(CODES, format!("{label}: empty prefix")));
            }
            idx.conditions.add_icd_prefix(p, &cats);
        }
    }
    for (n, row) in file.observation.iter().enumerate() {
        let label = format!("observation row {}", n + 1);
        let sys = system(CODES, &label, &row.system)?;
        for c in &row.codes {
            if idx.observations.insert(sys, c, row.kind).is_some() {
                return Err(err(
                    CODES,
                    format!("{label}: duplicate observation code {c}"),
                ));
            }
        }
    }
    for (n, row) in file.procedure.iter().enumerate() {
        let label = format!("procedure row {}", n + 1);
        let sys = system(CODES, &label, &row.system)?;
        for c in &row.codes {
            if idx.procedures.insert(sys, c, row.kind).is_some() {
                return Err(err(CODES, format!("{label}: duplicate procedure code {c}")));
            }
            idx.procedure_codes.entry(row.kind).or_default().push(Code {
                system: row.system.trim().to_string(),
                code: c.trim().to_string(),
            });
        }
    }
    for (n, row) in file.answer.iter().enumerate() {
        let label = format!("answer row {}", n + 1);
        let sys = system(CODES, &label, &row.system)?;
        if idx.answers.insert(sys, &row.code, row.score).is_some() {
            return Err(err(
                CODES,
                format!("{label}: duplicate answer code {}", row.code),
            ));
        }
    }
    let ar = &file.adverse_reason;
    let sys = system(CODES, "adverse_reason", &ar.system)?;
    for c in &ar.codes {
        idx.adverse_codes.insert(sys, c, ());
    }
    for f in &ar.text_fragments {
        let f = f.trim().to_lowercase();
        if f.is_empty() {
            return Err(err(CODES, "adverse_reason: empty text fragment"));
        }
        idx.adverse_fragments.push(f);
    }
    Ok(())
}

fn load_conditions(text: &str, idx: &mut Index) -> Result<(), KbError> {
    let file: ConditionsFile = json_file(CONDITIONS, text)?;
    for (n, row) in file.codes.iter().enumerate() {
        let label = format!("code {} '{}' (row {})", row.system, row.code, n + 1);
        let sys = system(CONDITIONS, &label, &row.system)?;
        if row.categories.is_empty() || row.code.trim().is_empty() {
            return Err(err(
                CONDITIONS,
                format!("{label}: empty code or categories"),
            ));
        }
        let cats: Categories = row.categories.iter().copied().collect();
        idx.conditions.add_exact(sys, &row.code, &cats);
    }
    Ok(())
}

/// `procedures.json` (generated from the procedure value sets): every code joins the procedure
/// table of `codes.toml`; a code already there (hand-authored) or listed twice is an error, so a
/// value-set update can never silently change what a hand row says.
fn load_procedures(text: &str, idx: &mut Index) -> Result<(), KbError> {
    let file: ProceduresFile = json_file(PROCEDURES, text)?;
    for (n, row) in file.codes.iter().enumerate() {
        let label = format!("code {} '{}' (row {})", row.system, row.code, n + 1);
        let sys = system(PROCEDURES, &label, &row.system)?;
        let code = row.code.trim();
        if code.is_empty() {
            return Err(err(PROCEDURES, format!("{label}: empty code")));
        }
        if idx.procedures.insert(sys, code, row.kind).is_some() {
            return Err(err(
                PROCEDURES,
                format!("{label}: duplicate procedure code (also in codes.toml or listed twice)"),
            ));
        }
        idx.procedure_codes.entry(row.kind).or_default().push(Code {
            system: row.system.trim().to_string(),
            code: code.to_string(),
        });
    }
    Ok(())
}

fn load_products(text: &str, idx: &mut Index) -> Result<(), KbError> {
    let file: ProductsFile = json_file(PRODUCTS, text)?;
    for (n, mut p) in file.products.into_iter().enumerate() {
        p.rxcui = p.rxcui.trim().to_string();
        let label = format!("product {} (row {})", p.rxcui, n + 1);
        if p.rxcui.is_empty() || !p.rxcui.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(PRODUCTS, format!("{label}: invalid RxCUI")));
        }
        if p.ingredients.is_empty() {
            return Err(err(PRODUCTS, format!("{label}: no ingredients")));
        }
        let mut seen = BTreeSet::new();
        for pi in &p.ingredients {
            if !idx.by_id.contains_key(&pi.ingredient) {
                return Err(err(
                    PRODUCTS,
                    format!("{label}: unknown ingredient '{}'", pi.ingredient),
                ));
            }
            if !seen.insert(pi.ingredient.as_str()) {
                return Err(err(
                    PRODUCTS,
                    format!("{label}: ingredient '{}' listed twice", pi.ingredient),
                ));
            }
            positive(PRODUCTS, &label, "strength_mg", pi.strength_mg)?;
        }
        if idx.products.contains_key(&p.rxcui) {
            return Err(err(PRODUCTS, format!("{label}: duplicate product RxCUI")));
        }
        idx.products.insert(p.rxcui.clone(), p);
    }
    Ok(())
}
