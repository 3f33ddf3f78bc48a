//! Order hooks (clinical-rules §11): draft antidepressant / augmentation orders against the history
//! exactly as the engine reads it. Pure: the draft is an exposure starting `as_of`, open-ended.
//!
//! Findings, per draft in scope and per knowledge-base ingredient of the draft:
//! - `MaoiInteraction`: the draft creates `maoi-serotonergic-interaction` (§7): an MAOI draft with a
//!   serotonergic or MAOI-contraindicated exposure that is current or ended 0–washout days ago, or
//!   such a draft with an MAOI exposure current or ended 0–washout days ago; other drafts count as
//!   current. Pairs and washouts come from [`super::interaction::washout_days`] (the flag's rule).
//! - `RepeatFailedClass`: status `met` and the draft starts another trial of an antidepressant class
//!   with ≥ `order_class_failed_trials` failed trials (distinct ingredients with outcome `failed`);
//!   the assessment's `possible-nonadherence` flag rides along as context (§7, issue 19).
//! - `BipolarMonotherapy`: `bipolar-spectrum` and a draft antidepressant without a mood stabiliser
//!   or antipsychotic among the current exposures or any draft (this one included: a combination
//!   product such as olanzapine/fluoxetine protects itself).
//! - `DoseBelowMinimum`: a draft antidepressant whose known daily dose is below its
//!   `min_adequate_mg_day`.
//!
//! Decisions where the contract is silent:
//! - "Current" exposure (MAOI rule): open, or ending after `as_of`; an exposure that ended on
//!   `as_of` ended 0 days ago. The first day a draft may start without the interaction is
//!   `end + washout + 1` (the washout range is inclusive, as in §7).
//! - An interaction between two drafts is reported once: on the MAOI draft when it is in scope,
//!   else on the serotonergic one.
//! - A draft of the ingredient of a running (not ended) trial renews that trial: no
//!   `RepeatFailedClass` finding.
//! - The alternatives of `RepeatFailedClass` are the engine's routine recommendations that are an
//!   augmentation or a referral (`augment-*`, `refer-*`, `specialist-review`), in §9 order.
//! - When another antidepressant is running (a trial not ended, another ingredient) the draft would
//!   be a combination (§3): its dose is then judged against `min_adjunct_mg_day` when the
//!   knowledge base lists one.
//! - The "mood stabiliser or antipsychotic" test is the one of the patient-view bipolar card: a
//!   mood stabiliser or an antipsychotic augmentation agent, started by `as_of` and not ended more
//!   than `max_gap_days` before it.
//! - Findings never contradict ([`without_contradictions`], the last step of [`evaluate`]): a draft
//!   that a finding says must be cancelled (the MAOI interaction, critical) gets no finding whose
//!   card would keep, raise or re-create it (the low-dose update). One rule, here, so every
//!   consumer of the findings (cards, audit) sees the same answer.

use std::collections::BTreeMap;

use time::Date;

use super::exposures::{self, day};
use super::model::{Assessment, Flag, FlagCode, Outcome, Priority, RecommendationCode, Status};
use crate::dates::{add_days, days_between};
use crate::fhir::reader::DraftOrder;
use crate::fhir::record::PatientRecord;
use crate::knowledge::{DrugRole, Ingredient, KnowledgeBase};

use super::exposures::{on_mood_stabiliser, protects_against_switch};

/// Which drafts to evaluate.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'s> {
    /// order-sign: every draft.
    All,
    /// order-select: only these references (`Type/id` or fullUrl); the other drafts are context.
    Selections(&'s [String]),
}

impl Scope<'_> {
    pub fn includes(&self, d: &DraftOrder) -> bool {
        match self {
            Scope::All => true,
            Scope::Selections(s) => s.iter().any(|r| d.is_named(r)),
        }
    }
}

/// One finding about one ingredient of one draft.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFinding {
    /// The draft's `MedicationRequest/<id>`.
    pub draft: String,
    /// Knowledge-base ingredient id of the draft concerned.
    pub ingredient: String,
    /// The draft's daily dose of that ingredient (mg/day), when known.
    pub daily_dose_mg: Option<f64>,
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FindingKind {
    MaoiInteraction {
        pairs: Vec<MaoiPair>,
    },
    RepeatFailedClass {
        class: String,
        failed: Vec<FailedTrial>,
        alternatives: Vec<RecommendationCode>,
        /// The assessment's `possible-nonadherence` flag, when raised: context for the warning
        /// (a poor response may be non-adherence, which another trial of the class would not fix).
        adherence: Option<Flag>,
    },
    BipolarMonotherapy {
        /// Evidence of the `bipolar-spectrum` flag.
        evidence: Vec<String>,
    },
    DoseBelowMinimum {
        daily_dose_mg: f64,
        /// The threshold used (`min_adequate_mg_day`, or `min_adjunct_mg_day` for a combination).
        minimum_mg_day: f64,
        combination: bool,
    },
}

impl FindingKind {
    /// Severity order: MAOI, repeat class, bipolar, dose.
    pub fn rank(&self) -> u8 {
        match self {
            FindingKind::MaoiInteraction { .. } => 0,
            FindingKind::RepeatFailedClass { .. } => 1,
            FindingKind::BipolarMonotherapy { .. } => 2,
            FindingKind::DoseBelowMinimum { .. } => 3,
        }
    }

    /// Its card tells the clinician not to sign the draft as it is (cancel it).
    pub fn cancels_draft(&self) -> bool {
        matches!(self, FindingKind::MaoiInteraction { .. })
    }

    /// Its card proposes to sign the draft (possibly changed): keep, raise or re-create it.
    pub fn keeps_draft(&self) -> bool {
        matches!(self, FindingKind::DoseBelowMinimum { .. })
    }
}

/// Drop every finding that would keep, raise or re-create a draft another finding cancels, so no
/// response both says "cancel this order" and "raise its dose" (issue 15). The cancelled draft's
/// other findings (the repeat-class alternatives, the bipolar review) replace it, so they stay.
pub fn without_contradictions(findings: Vec<OrderFinding>) -> Vec<OrderFinding> {
    let cancelled: Vec<String> = findings
        .iter()
        .filter(|f| f.kind.cancels_draft())
        .map(|f| f.draft.clone())
        .collect();
    findings
        .into_iter()
        .filter(|f| !(f.kind.keeps_draft() && cancelled.contains(&f.draft)))
        .collect()
}

/// The other side of an MAOI interaction the draft creates.
#[derive(Debug, Clone, PartialEq)]
pub struct MaoiPair {
    /// Ingredient id of the MAOI side and of the serotonergic side.
    pub maoi: String,
    pub serotonergic: String,
    /// The draft is the MAOI side.
    pub draft_is_maoi: bool,
    /// Ingredient id of the other side.
    pub other: String,
    /// FHIR references of the other side's interacting exposures (or the other draft).
    pub other_sources: Vec<String>,
    pub other_is_draft: bool,
    /// When the other side ended; `None` = current (or another draft).
    pub other_ended: Option<Date>,
    /// Days since it ended (0 = ended on `as_of`).
    pub days_since_end: Option<i64>,
    /// The washout that applies, in days.
    pub washout_days: i64,
    /// First day the draft could start without the interaction (when the other side has ended).
    pub safe_from: Option<Date>,
}

/// A failed trial behind `RepeatFailedClass`.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedTrial {
    pub ingredient: String,
    pub start: Date,
    pub end: Option<Date>,
    pub evidence: Vec<String>,
}

/// The alternatives offered instead of another trial of a failed class (augmentation, referral).
const ALTERNATIVES: &[RecommendationCode] = &[
    RecommendationCode::SpecialistReview,
    RecommendationCode::AugmentAntipsychotic,
    RecommendationCode::AugmentLithium,
    RecommendationCode::ReferTms,
    RecommendationCode::ReferEsketamine,
    RecommendationCode::ReferEct,
];

/// Evaluate the drafts in `scope` against the record and its assessment (clinical-rules §11).
pub fn evaluate(
    record: &PatientRecord,
    a: &Assessment,
    drafts: &[DraftOrder],
    kb: &KnowledgeBase,
    as_of: Date,
    scope: Scope<'_>,
) -> Vec<OrderFinding> {
    let mut out = Vec::new();
    for d in drafts.iter().filter(|d| scope.includes(d)) {
        for di in &d.ingredients {
            let Some(ing) = kb.ingredient(&di.ingredient) else {
                continue;
            };
            let mut push = |kind| {
                out.push(OrderFinding {
                    draft: d.resource_id.clone(),
                    ingredient: ing.id.clone(),
                    daily_dose_mg: di.daily_dose_mg,
                    kind,
                })
            };
            let pairs = maoi_pairs(record, d, ing, drafts, kb, as_of, scope);
            if !pairs.is_empty() {
                push(FindingKind::MaoiInteraction { pairs });
            }
            if ing.role != DrugRole::Antidepressant {
                continue;
            }
            if let Some(kind) = repeat_failed_class(a, ing, kb) {
                push(kind);
            }
            if let Some(kind) = bipolar_monotherapy(record, a, drafts, kb, as_of) {
                push(kind);
            }
            if let Some(kind) = dose_below_minimum(a, ing, di.daily_dose_mg) {
                push(kind);
            }
        }
    }
    without_contradictions(out)
}

/// The MAOI interactions the draft ingredient `ing` of draft `d` creates.
fn maoi_pairs(
    record: &PatientRecord,
    d: &DraftOrder,
    ing: &Ingredient,
    drafts: &[DraftOrder],
    kb: &KnowledgeBase,
    as_of: Date,
    scope: Scope<'_>,
) -> Vec<MaoiPair> {
    let p = kb.params();
    if !ing.maoi && !super::interaction::is_partner(ing) {
        return Vec::new();
    }
    // (other is MAOI?) → the washout before the draft may start (§7, one rule for flag and hooks).
    let interacts = |other: &Ingredient| -> Option<(bool, i64)> {
        super::interaction::washout_days(other, ing, p).map(|w| (other.maoi, w))
    };
    let pair = |other: &Ingredient, other_is_maoi: bool, washout: i64| MaoiPair {
        maoi: if other_is_maoi { &other.id } else { &ing.id }.clone(),
        serotonergic: if other_is_maoi { &ing.id } else { &other.id }.clone(),
        draft_is_maoi: !other_is_maoi,
        other: other.id.clone(),
        other_sources: Vec::new(),
        other_is_draft: false,
        other_ended: None,
        days_since_end: None,
        washout_days: washout,
        safe_from: None,
    };
    // One pair per other ingredient: the most recent (a current exposure beats an ended one).
    let mut by_other: BTreeMap<String, MaoiPair> = BTreeMap::new();
    let today = day(as_of);
    for e in exposures::clip(&record.exposures, kb, today) {
        let Some((other_is_maoi, washout)) = interacts(e.ing) else {
            continue;
        };
        let ended = e.exp.end.filter(|end| day(*end) <= today);
        let since = ended.map(|end| days_between(end, as_of));
        if since.is_some_and(|s| !(0..=washout).contains(&s)) {
            continue;
        }
        let entry = by_other
            .entry(e.ing.id.clone())
            .or_insert_with(|| pair(e.ing, other_is_maoi, washout));
        entry.other_sources.push(e.exp.source.clone());
        let later = match (entry.days_since_end, since) {
            (_, None) => true,
            (None, Some(_)) => entry.other_sources.len() == 1,
            (Some(a), Some(b)) => b < a,
        };
        if later {
            entry.other_ended = ended;
            entry.days_since_end = since;
            entry.safe_from = ended.map(|end| add_days(end, washout + 1));
        }
    }
    for o in drafts.iter().filter(|o| o.resource_id != d.resource_id) {
        for oi in &o.ingredients {
            let Some(other) = kb.ingredient(&oi.ingredient) else {
                continue;
            };
            let Some((other_is_maoi, washout)) = interacts(other) else {
                continue;
            };
            // Two drafts: reported on the MAOI draft when it is evaluated, else on this one.
            if other_is_maoi && scope.includes(o) {
                continue;
            }
            let entry = by_other
                .entry(other.id.clone())
                .or_insert_with(|| pair(other, other_is_maoi, washout));
            entry.other_sources.push(o.resource_id.clone());
            entry.other_is_draft = true;
            entry.other_ended = None;
            entry.days_since_end = None;
            entry.safe_from = None;
        }
    }
    let mut pairs: Vec<MaoiPair> = by_other.into_values().collect();
    for p in &mut pairs {
        p.other_sources.sort();
        p.other_sources.dedup();
    }
    // Current ones first, then the most recent end.
    pairs.sort_by_key(|p| {
        (
            p.days_since_end.is_some(),
            p.days_since_end,
            p.other.clone(),
        )
    });
    pairs
}

fn repeat_failed_class(
    a: &Assessment,
    ing: &Ingredient,
    kb: &KnowledgeBase,
) -> Option<FindingKind> {
    if a.status != Status::Met {
        return None;
    }
    // Renewing the running trial does not start another one.
    if a.trials
        .iter()
        .any(|t| t.ingredient == ing.id && t.end.is_none())
    {
        return None;
    }
    let class = ing.class.as_str();
    let failed: Vec<FailedTrial> = a
        .trials
        .iter()
        .filter(|t| t.outcome == Outcome::Failed && t.class == class)
        .map(|t| FailedTrial {
            ingredient: t.ingredient.clone(),
            start: t.start,
            end: t.end,
            evidence: t.evidence.clone(),
        })
        .collect();
    let mut distinct: Vec<&str> = failed.iter().map(|f| f.ingredient.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < kb.params().order_class_failed_trials as usize {
        return None;
    }
    let alternatives = a
        .recommendations
        .iter()
        .filter(|r| r.priority == Priority::Routine && ALTERNATIVES.contains(&r.code))
        .map(|r| r.code)
        .collect();
    let adherence = a
        .flags
        .iter()
        .find(|f| f.code == FlagCode::PossibleNonadherence)
        .cloned();
    Some(FindingKind::RepeatFailedClass {
        class: class.to_string(),
        failed,
        alternatives,
        adherence,
    })
}

fn bipolar_monotherapy(
    record: &PatientRecord,
    a: &Assessment,
    drafts: &[DraftOrder],
    kb: &KnowledgeBase,
    as_of: Date,
) -> Option<FindingKind> {
    let flag = a
        .flags
        .iter()
        .find(|f| f.code == FlagCode::BipolarSpectrum)?;
    let current = on_mood_stabiliser(record, kb, as_of);
    let drafted = drafts.iter().flat_map(|d| &d.ingredients).any(|i| {
        kb.ingredient(&i.ingredient)
            .is_some_and(protects_against_switch)
    });
    (!current && !drafted).then(|| FindingKind::BipolarMonotherapy {
        evidence: flag.evidence.clone(),
    })
}

fn dose_below_minimum(a: &Assessment, ing: &Ingredient, dose: Option<f64>) -> Option<FindingKind> {
    let dose = dose?;
    let combination = a
        .trials
        .iter()
        .any(|t| t.end.is_none() && t.ingredient != ing.id);
    let minimum = match (combination, ing.min_adjunct_mg_day) {
        (true, Some(m)) => m,
        _ => ing.min_adequate_mg_day?,
    };
    (dose < minimum).then_some(FindingKind::DoseBelowMinimum {
        daily_dose_mg: dose,
        minimum_mg_day: minimum,
        combination: combination && ing.min_adjunct_mg_day.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::{d, dp, kb, rec};
    use crate::fhir::reader::DraftIngredient;
    use crate::fhir::record::MatchedBy;

    fn draft(id: &str, ingredient: &str, mg: Option<f64>) -> DraftOrder {
        DraftOrder {
            resource_id: format!("MedicationRequest/{id}"),
            full_url: None,
            subject: None,
            ingredients: vec![DraftIngredient {
                ingredient: ingredient.into(),
                daily_dose_mg: mg,
                matched_by: MatchedBy::RxnormIngredient,
            }],
            dose_edit: None,
            assumptions: vec![],
            data_issues: vec![],
            raw: serde_json::json!({"resourceType": "MedicationRequest", "id": id}),
        }
    }

    fn maoi_after(first: &str, gap: i64) -> Vec<OrderFinding> {
        let mut r = rec();
        r.ms(first, d("2024-01-01"), Some(d("2024-03-01")), Some(20.0));
        let as_of = dp("2024-03-01", gap);
        let a = r.assess(&crate::dates::format_day(as_of));
        let drafts = [draft("m", "phenelzine", Some(45.0))];
        evaluate(&r.r, &a, &drafts, kb(), as_of, Scope::All)
    }

    fn has_maoi(f: &[OrderFinding]) -> bool {
        f.iter()
            .any(|f| matches!(f.kind, FindingKind::MaoiInteraction { .. }))
    }

    #[test]
    fn maoi_washout_boundaries_match_the_flag() {
        assert!(has_maoi(&maoi_after("sertraline", 13)));
        assert!(has_maoi(&maoi_after("sertraline", 14)));
        assert!(!has_maoi(&maoi_after("sertraline", 15)));
        assert!(has_maoi(&maoi_after("fluoxetine", 34)));
        assert!(has_maoi(&maoi_after("fluoxetine", 35)));
        assert!(!has_maoi(&maoi_after("fluoxetine", 36)));
        let f = maoi_after("fluoxetine", 20);
        let FindingKind::MaoiInteraction { pairs } = &f[0].kind else {
            panic!()
        };
        assert_eq!(pairs[0].other_ended, Some(d("2024-03-01")));
        assert_eq!(pairs[0].safe_from, Some(dp("2024-03-01", 36)));
        assert_eq!(pairs[0].washout_days, 35);
        assert!(pairs[0].draft_is_maoi);
    }

    #[test]
    fn a_cancelled_draft_is_never_raised() {
        // Phenelzine 15 mg/day (below its minimum) next to current venlafaxine: the critical card
        // cancels the draft, so no low-dose finding may propose raising it.
        let mut r = rec();
        let as_of = d("2025-01-01");
        r.ms("venlafaxine", d("2024-10-01"), None, Some(150.0));
        let a = r.assess(&crate::dates::format_day(as_of));
        let drafts = [draft("m", "phenelzine", Some(15.0))];
        let f = evaluate(&r.r, &a, &drafts, kb(), as_of, Scope::All);
        assert!(has_maoi(&f), "{f:?}");
        assert!(f.iter().all(|f| !f.kind.keeps_draft()), "{f:?}");
        // Without the interaction the same draft does get the low-dose finding.
        let r = rec();
        let a = r.assess(&crate::dates::format_day(as_of));
        let f = evaluate(&r.r, &a, &drafts, kb(), as_of, Scope::All);
        assert!(f.iter().any(|f| f.kind.keeps_draft()), "{f:?}");
    }

    #[test]
    fn two_drafts_interact_once() {
        let r = rec();
        let as_of = d("2025-01-01");
        let a = r.assess(&crate::dates::format_day(as_of));
        let drafts = [
            draft("s", "sertraline", Some(50.0)),
            draft("m", "phenelzine", Some(45.0)),
        ];
        let f = evaluate(&r.r, &a, &drafts, kb(), as_of, Scope::All);
        let maoi: Vec<_> = f
            .iter()
            .filter(|f| matches!(f.kind, FindingKind::MaoiInteraction { .. }))
            .collect();
        assert_eq!(maoi.len(), 1);
        assert_eq!(maoi[0].draft, "MedicationRequest/m");
        // order-select of the SSRI only: reported on it.
        let sel = ["MedicationRequest/s".to_string()];
        let f = evaluate(&r.r, &a, &drafts, kb(), as_of, Scope::Selections(&sel));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].draft, "MedicationRequest/s");
    }

    #[test]
    fn dose_below_minimum_uses_the_adjunct_dose_for_a_combination() {
        let mut r = rec();
        let as_of = d("2025-01-01");
        let a = r.assess(&crate::dates::format_day(as_of));
        let f = evaluate(
            &r.r,
            &a,
            &[draft("b", "bupropion", Some(150.0))],
            kb(),
            as_of,
            Scope::All,
        );
        assert!(matches!(
            f[0].kind,
            FindingKind::DoseBelowMinimum {
                combination: false,
                ..
            }
        ));
        r.ms("sertraline", d("2024-10-01"), None, Some(100.0));
        let a = r.assess(&crate::dates::format_day(as_of));
        let f = evaluate(
            &r.r,
            &a,
            &[draft("b", "bupropion", Some(150.0))],
            kb(),
            as_of,
            Scope::All,
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
