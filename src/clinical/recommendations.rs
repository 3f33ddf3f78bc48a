//! Recommendations (clinical-rules §9): urgent first, then routine, each in table order (the order
//! of [`RecommendationCode`]). Referrals the site cannot offer are withheld and replaced by
//! `specialist-review`; urgent codes are never withheld; `not-applicable` patients get only the
//! urgent codes and `specialist-review`.
//!
//! Decisions where the contract is silent:
//! - The "current trial" is taken among the trials of the episode window, as
//!   [`super::model::current_trial`] defines it (also "the last trial" of `switch-class`).
//! - `optimize-dose` compares the dose the patient is on now (the latest dose period of the current
//!   trial) with `optimised_mg_day`; an ingredient without `optimised_mg_day` or a trial without a
//!   known dose gets no `optimize-dose`.
//! - `optimize-dose` is not raised for a current trial with `adherence_adequate` false: raising
//!   the dose of a drug the patient may not be taking is unsafe advice (stated in §9).
//! - `add-psychotherapy` reads only the `prior-psychotherapy` flag (sessions in the episode window);
//!   a session before the episode's onset does not stop it.
//! - `extend-trial` requires `dose_adequate == true` and compares the unrounded weeks.
//! - "A failed augmentation" includes failed combinations; "a failed antipsychotic / lithium
//!   augmentation" is an augmentation of that knowledge-base class with outcome failed.
//! - `specialist-review` appears once; its rationale lists every reason (bipolar spectrum, treatment
//!   step, referrals withheld because the site does not offer them).
//! - The escalation thresholds of §9 (`thase_rush ≥ 3`, `mgh_s ≥ 3`, `treatment_step ≥ 4`) are
//!   knowledge-base parameters (`escalation_thase_rush_min`, `escalation_mgh_s_min`,
//!   `specialist_treatment_step_min` in `knowledge/parameters.toml`).

use std::collections::BTreeSet;

use crate::knowledge::{DrugClass, Params};

use super::adherence::fmt_pct;
use super::augmentation::AssessedAugmentation;
use super::model::{
    AugmentationOutcome, FlagCode, Measurement, Priority, Recommendation, RecommendationCode,
    SiteConfig, Staging, Status,
};
use super::outcome::AssessedTrial;
use super::staging::StagingFacts;
use super::trials::fmt_mg;

pub struct RecInput<'r, 'a> {
    pub status: Status,
    pub flags: &'r BTreeSet<FlagCode>,
    pub trials: &'r [AssessedTrial<'a>],
    pub augmentations: &'r [AssessedAugmentation<'a>],
    pub failed_adequate_trials: u32,
    pub staging: &'r Staging,
    pub facts: &'r StagingFacts,
    pub site: &'r SiteConfig,
    pub params: &'r Params,
}

/// The current trial (§3), as [`super::model::current_trial`] defines it.
pub fn current_trial<'r, 'a>(trials: &'r [AssessedTrial<'a>]) -> Option<&'r AssessedTrial<'a>> {
    super::model::current_trial(trials, |t| &t.trial)
}

pub fn recommendations(i: &RecInput<'_, '_>) -> Vec<Recommendation> {
    use RecommendationCode as R;
    let p = i.params;
    let has = |f: FlagCode| i.flags.contains(&f);
    let met = i.status == Status::Met;
    let mut out: Vec<(R, String)> = Vec::new();
    let mut specialist: Vec<String> = Vec::new();

    if has(FlagCode::SuicideRisk) {
        out.push((
            R::UrgentSafetyAssessment,
            "Suicide risk flagged (PHQ-9 item 9 or a suicide-risk diagnosis): assess safety today."
                .into(),
        ));
    }
    if (has(FlagCode::PsychoticFeatures) || has(FlagCode::Catatonia))
        && i.status != Status::NotApplicable
    {
        let what = match (has(FlagCode::PsychoticFeatures), has(FlagCode::Catatonia)) {
            (true, true) => "psychotic features and catatonia",
            (true, false) => "psychotic features",
            _ => "catatonia",
        };
        let referral = if i.site.ect_available {
            ""
        } else {
            " ECT is not offered at this site: refer externally."
        };
        out.push((
            R::UrgentEctEvaluation,
            format!("Active major depression with {what}: evaluate urgently for ECT.{referral}"),
        ));
    }
    if has(FlagCode::BipolarSpectrum) {
        specialist.push("a bipolar-spectrum diagnosis is on record".into());
    }
    if i.staging.treatment_step >= p.specialist_treatment_step_min {
        specialist.push(format!(
            "treatment step {} (≥ {}): consider VNS or DBS",
            i.staging.treatment_step, p.specialist_treatment_step_min
        ));
    }

    let current = current_trial(i.trials);
    if let Some(c) = current.filter(|c| !c.course.ended) {
        let ing = c.course.ing;
        // §9: never advise raising the dose of a drug the dispensing record says the patient may
        // not be taking (`adherence_adequate` false); `verify-treatment-history` asks about it.
        if let (Some(dose), Some(opt)) = (c.course.latest_dose(), ing.optimised_mg_day)
            && dose < opt
            && c.trial.measurement != Measurement::Response
            && c.trial.adherence_adequate != Some(false)
        {
            out.push((
                R::OptimizeDose,
                format!(
                    "Current {} dose is {} mg/day, below the optimised {} mg/day, without a response ({}).",
                    ing.id,
                    fmt_mg(dose),
                    fmt_mg(opt),
                    measurement_str(c.trial.measurement)
                ),
            ));
        }
        if c.trial.dose_adequate == Some(true) && c.weeks_at_adequate < p.min_adequate_weeks {
            out.push((
                R::ExtendTrial,
                format!(
                    "Current {} trial has {:.1} weeks at an adequate dose, fewer than the {} weeks of an adequate trial.",
                    ing.id,
                    c.weeks_at_adequate,
                    fmt_mg(p.min_adequate_weeks)
                ),
            ));
        }
    }
    if i.status == Status::Possible {
        let counting = super::status::ingredients_with(
            i.trials,
            &[
                super::model::Outcome::Failed,
                super::model::Outcome::Indeterminate,
            ],
        )
        .len();
        out.push((
            R::VerifyTreatmentHistory,
            format!(
                "{} failed adequate trial(s); {} when trials of unknown dose are counted (threshold {}): verify their doses to confirm TRD.",
                i.failed_adequate_trials,
                counting,
                p.min_failed_trials
            ),
        ));
    } else if (has(FlagCode::DoseUnknown) || has(FlagCode::PossibleNonadherence)) && !met {
        let mut why = Vec::new();
        if has(FlagCode::DoseUnknown) {
            why.push("the daily dose of at least one trial in this episode is unknown".to_string());
        }
        if has(FlagCode::PossibleNonadherence) {
            why.push(format!(
                "the dispensed supply of at least one trial covered less than {} of days (non-adherence, not resistance, may explain a poor response)",
                fmt_pct(p.min_pdc)
            ));
        }
        let mut why = why.join("; and ");
        why[..1].make_ascii_uppercase();
        out.push((
            R::VerifyTreatmentHistory,
            format!("{why}: verify the treatment history."),
        ));
    }

    if matches!(i.status, Status::Met | Status::Possible) && !has(FlagCode::PriorPsychotherapy) {
        out.push((
            R::AddPsychotherapy,
            format!(
                "{}; no psychotherapy session is recorded in this episode. Guidelines (NICE NG222, CANMAT 2023) combine medication with an evidence-based psychological therapy such as CBT, behavioural activation or interpersonal therapy.",
                if met {
                    "Treatment-resistant depression criteria are met"
                } else {
                    "Treatment-resistant depression is possible"
                }
            ),
        ));
    }

    let failed_aug = |pred: &dyn Fn(&AssessedAugmentation<'_>) -> bool| {
        i.augmentations
            .iter()
            .any(|a| a.aug.outcome == AugmentationOutcome::Failed && pred(a))
    };
    let any_failed_aug = failed_aug(&|_| true);
    let met_why = format!(
        "TRD criteria met: {} failed adequate trials (threshold {})",
        i.failed_adequate_trials, p.min_failed_trials
    );
    if met {
        if !failed_aug(&|a| !a.is_combination && a.course.ing.class == DrugClass::Antipsychotic) {
            out.push((
                R::AugmentAntipsychotic,
                format!("{met_why}; no failed antipsychotic augmentation on record."),
            ));
        }
        if !failed_aug(&|a| !a.is_combination && a.course.ing.class == DrugClass::Lithium) {
            out.push((
                R::AugmentLithium,
                format!("{met_why}; no failed lithium augmentation on record."),
            ));
        }
        let m = current.map_or(Measurement::Unmeasured, |c| c.trial.measurement);
        if m != Measurement::Partial {
            out.push((
                R::SwitchClass,
                format!(
                    "{met_why}; the current trial's measurement is {} (not a partial response).",
                    measurement_str(m)
                ),
            ));
        }
        if !failed_aug(&|a| a.is_combination) {
            out.push((
                R::CombineAntidepressant,
                format!("{met_why}; no failed antidepressant combination on record."),
            ));
        }
        // §9: a treatment the site does not offer is never recommended; specialist-review instead.
        let mut offer = |available: bool, code: R, treatment: &str, why: String| {
            if available {
                out.push((code, why));
            } else {
                specialist.push(format!(
                    "{treatment} would be indicated but is not offered at this site"
                ));
            }
        };
        if !has(FlagCode::PriorTms) {
            offer(
                i.site.tms_available,
                R::ReferTms,
                "TMS",
                format!("{met_why}; no prior TMS in this episode."),
            );
        }
        let tr = i.staging.thase_rush;
        let mgh = i.staging.mgh_s;
        let escalate =
            any_failed_aug || tr >= p.escalation_thase_rush_min || mgh >= p.escalation_mgh_s_min;
        let esc_why = format!(
            "{met_why}; {}Thase–Rush stage {tr}, MGH-S {mgh}",
            if any_failed_aug {
                "a failed augmentation, "
            } else {
                ""
            }
        );
        if escalate && !has(FlagCode::PriorEsketamine) {
            offer(
                i.site.esketamine_available,
                R::ReferEsketamine,
                "esketamine",
                format!("{esc_why}; no prior esketamine in this episode."),
            );
        }
        if escalate && !i.facts.failed_ect_course {
            offer(
                i.site.ect_available,
                R::ReferEct,
                "ECT",
                format!("{esc_why}; no failed ECT course in this episode."),
            );
        }
    }
    if matches!(i.status, Status::Met | Status::Possible) {
        let comorbid: Vec<&str> = [
            (FlagCode::SubstanceUse, "substance use"),
            (FlagCode::ThyroidDisorder, "thyroid disorder"),
            (FlagCode::ComorbidPtsd, "PTSD"),
            (FlagCode::ComorbidAdhd, "ADHD"),
            (
                FlagCode::ComorbidPersonalityDisorder,
                "personality disorder",
            ),
            (FlagCode::ComorbidAnxiety, "anxiety disorder"),
        ]
        .into_iter()
        .filter(|(f, _)| has(*f))
        .map(|(_, s)| s)
        .collect();
        if !comorbid.is_empty() {
            out.push((
                R::ReassessDiagnosis,
                format!(
                    "Comorbidity that can mimic or sustain resistance: {}; reassess the diagnosis and treat it.",
                    comorbid.join(", ")
                ),
            ));
        }
    }
    if !specialist.is_empty() {
        let mut s = specialist.join("; ");
        if let Some(first) = s.get(..1) {
            s = first.to_uppercase() + &s[1..];
        }
        out.push((
            R::SpecialistReview,
            format!("{s}: refer for specialist review."),
        ));
    }

    let mut recs: Vec<Recommendation> = out
        .into_iter()
        .map(|(code, rationale)| Recommendation {
            code,
            priority: priority(code),
            rationale,
        })
        .filter(|r| {
            i.status != Status::NotApplicable
                || r.priority == Priority::Urgent
                || r.code == R::SpecialistReview
        })
        .collect();
    recs.sort_by_key(|r| (r.priority, r.code));
    recs
}

pub fn priority(code: RecommendationCode) -> Priority {
    match code {
        RecommendationCode::UrgentSafetyAssessment | RecommendationCode::UrgentEctEvaluation => {
            Priority::Urgent
        }
        _ => Priority::Routine,
    }
}

pub fn measurement_str(m: Measurement) -> &'static str {
    match m {
        Measurement::Response => "response",
        Measurement::Partial => "partial response",
        Measurement::NonResponse => "non-response",
        Measurement::Unmeasured => "unmeasured",
    }
}

#[cfg(test)]
mod tests {
    use crate::clinical::model::{Priority, RecommendationCode as R, SiteConfig, Status};
    use crate::clinical::test_support::*;
    use crate::knowledge::{ConditionCategory, ProcedureKind};

    #[test]
    fn met_patient_gets_the_routine_ladder_in_table_order() {
        let a = met_patient().assess("2025-01-01");
        assert_eq!(a.status, Status::Met);
        assert_eq!(
            rec_codes(&a),
            vec![
                R::AddPsychotherapy,
                R::AugmentAntipsychotic,
                R::AugmentLithium,
                R::SwitchClass,
                R::CombineAntidepressant,
                R::ReferTms
            ]
        );
        assert!(
            a.recommendations
                .iter()
                .all(|r| r.priority == Priority::Routine && !r.rationale.is_empty())
        );
        assert!(a.recommendations[0].rationale.contains('2'));
    }

    #[test]
    fn escalation_after_a_failed_augmentation() {
        let mut r = met_patient();
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        r.ms(
            "lithium",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(900.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(
            rec_codes(&a),
            vec![
                R::AddPsychotherapy,
                R::SwitchClass,
                R::CombineAntidepressant,
                R::ReferTms,
                R::ReferEsketamine,
                R::ReferEct
            ]
        );
        // Site without TMS, ECT and esketamine: withheld, specialist review instead.
        let site = SiteConfig {
            tms_available: false,
            ect_available: false,
            esketamine_available: false,
        };
        let a = r.assess_site("2025-01-01", site);
        assert_eq!(
            rec_codes(&a),
            vec![
                R::SpecialistReview,
                R::AddPsychotherapy,
                R::SwitchClass,
                R::CombineAntidepressant
            ]
        );
    }

    #[test]
    fn prior_treatments_suppress_referrals() {
        let mut r = met_patient();
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        r.procedure(ProcedureKind::Tms, d("2024-09-01"));
        r.procedure(ProcedureKind::Esketamine, d("2024-09-01"));
        for i in 0..kb().params().ect_course_min_procedures {
            r.procedure(ProcedureKind::Ect, dp("2024-10-01", i64::from(i)));
        }
        let codes = rec_codes(&r.assess("2025-01-01"));
        assert!(!codes.contains(&R::ReferTms));
        assert!(!codes.contains(&R::ReferEsketamine));
        assert!(!codes.contains(&R::ReferEct));
        assert!(!codes.contains(&R::AugmentAntipsychotic));
    }

    #[test]
    fn partial_response_does_not_switch() {
        let mut r = met_patient();
        r.ms("duloxetine", d("2024-10-01"), None, Some(60.0));
        r.phq9(d("2024-10-01"), 20);
        r.phq9(d("2024-12-15"), 12);
        let codes = rec_codes(&r.assess("2025-01-01"));
        assert!(!codes.contains(&R::SwitchClass));
    }

    #[test]
    fn urgent_codes_first_and_never_withheld() {
        let mut r = met_patient();
        r.r.conditions[0]
            .categories
            .insert(ConditionCategory::PsychoticFeatures);
        r.item9(d("2024-12-01"), 2);
        let site = SiteConfig {
            ect_available: false,
            ..SiteConfig::default()
        };
        let a = r.assess_site("2025-01-01", site);
        assert_eq!(
            &rec_codes(&a)[..2],
            &[R::UrgentSafetyAssessment, R::UrgentEctEvaluation]
        );
        assert!(a.recommendations[1].rationale.contains("externally"));
    }

    #[test]
    fn not_applicable_gets_only_urgent_and_specialist_review() {
        let mut r = met_patient();
        r.cond(&[ConditionCategory::Bipolar], None);
        r.item9(d("2024-12-01"), 1);
        r.cond(&[ConditionCategory::Catatonia], None);
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::NotApplicable);
        // Catatonia with a bipolar diagnosis: not an "active MDD" patient → no urgent-ect-evaluation.
        assert_eq!(
            rec_codes(&a),
            vec![R::UrgentSafetyAssessment, R::SpecialistReview]
        );
    }

    #[test]
    fn optimize_dose_and_extend_trial_for_the_current_trial() {
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.ms(
            "sertraline",
            d("2024-11-01"),
            None,
            Some(min_dose("sertraline")),
        );
        let a = r.assess("2024-12-01");
        assert_eq!(rec_codes(&a), vec![R::OptimizeDose, R::ExtendTrial]);
        // At the optimised dose for 6 weeks: nothing.
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.ms(
            "sertraline",
            d("2024-11-01"),
            None,
            Some(opt_dose("sertraline")),
        );
        assert!(rec_codes(&r.assess("2024-12-13")).is_empty());
        // Responding: no optimize-dose.
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.ms(
            "sertraline",
            d("2024-10-01"),
            None,
            Some(min_dose("sertraline")),
        );
        r.phq9(d("2024-11-15"), 3);
        assert!(
            rec_codes(&r.assess("2024-11-20"))
                .iter()
                .all(|c| *c != R::OptimizeDose)
        );
    }

    #[test]
    fn verify_treatment_history() {
        let r = possible_patient();
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::Possible);
        assert_eq!(
            rec_codes(&a),
            vec![R::VerifyTreatmentHistory, R::AddPsychotherapy]
        );
        // Dose unknown, not met.
        let mut r = rec();
        r.mdd("2024-01-01", "F332");
        r.ms(
            "venlafaxine",
            d("2024-06-01"),
            Some(dp("2024-06-01", 20)),
            None,
        );
        assert_eq!(
            rec_codes(&r.assess("2025-01-01")),
            vec![R::VerifyTreatmentHistory]
        );
    }

    #[test]
    fn reassess_diagnosis_with_comorbidity() {
        let mut r = met_patient();
        r.cond(&[ConditionCategory::Hypothyroidism], None);
        let codes = rec_codes(&r.assess("2025-01-01"));
        assert_eq!(codes.last(), Some(&R::ReassessDiagnosis));
    }

    #[test]
    fn specialist_review_from_treatment_step_4() {
        let mut r = met_patient();
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        for i in 0..kb().params().ect_course_min_procedures {
            r.procedure(ProcedureKind::Ect, dp("2024-10-01", i64::from(i)));
        }
        let a = r.assess("2024-12-31");
        assert_eq!(a.staging.treatment_step, 4);
        assert!(rec_codes(&a).contains(&R::SpecialistReview));
        assert!(!rec_codes(&a).contains(&R::ReferEct));
    }

    #[test]
    fn add_psychotherapy_when_met_or_possible_without_a_session_in_the_episode() {
        // Met, no psychotherapy: after verify-treatment-history, before the augmentations (§9 order).
        let a = met_patient().assess("2025-01-01");
        let codes = rec_codes(&a);
        assert_eq!(codes.first(), Some(&R::AddPsychotherapy));
        let rationale = &a.recommendations[0].rationale;
        assert!(
            rationale.contains("no psychotherapy session"),
            "{rationale}"
        );
        assert!(!rationale.contains('§') && !rationale.contains("add-psychotherapy"));
        // A session before the episode's onset does not count.
        let mut r = met_patient();
        r.procedure(ProcedureKind::Psychotherapy, d("2023-12-01"));
        assert!(rec_codes(&r.assess("2025-01-01")).contains(&R::AddPsychotherapy));
        // A session in the episode: no add-psychotherapy, the rest of the ladder unchanged.
        r.procedure(ProcedureKind::Psychotherapy, d("2024-04-01"));
        let a = r.assess("2025-01-01");
        assert!(!rec_codes(&a).contains(&R::AddPsychotherapy));
        assert_eq!(rec_codes(&a)[0], R::AugmentAntipsychotic);
        // Possible: after verify-treatment-history.
        let r = possible_patient();
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::Possible);
        assert_eq!(
            rec_codes(&a),
            vec![R::VerifyTreatmentHistory, R::AddPsychotherapy]
        );
        assert!(a.recommendations[1].rationale.contains("is possible"));
    }

    #[test]
    fn no_add_psychotherapy_when_not_met_or_not_applicable() {
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.ms(
            "sertraline",
            d("2024-02-01"),
            Some(dp("2024-02-01", 70)),
            Some(100.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::NotMet);
        assert!(!rec_codes(&a).contains(&R::AddPsychotherapy));
        let mut r = met_patient();
        r.cond(&[ConditionCategory::Bipolar], None);
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::NotApplicable);
        assert!(!rec_codes(&a).contains(&R::AddPsychotherapy));
    }

    #[test]
    fn no_optimize_dose_for_a_current_trial_the_patient_may_not_be_taking() {
        // Sertraline 100 mg (below the optimised dose) refilled two weeks late every month, still
        // running, non-response: raising the dose of a drug that may not be taken is unsafe advice.
        let mut r = rec();
        r.mdd("2025-01-01", "F331");
        for k in 0..4 {
            r.disp("sertraline", dp("2025-08-01", 44 * k), 30, Some(100.0));
        }
        r.phq9(d("2025-07-25"), 20);
        r.phq9(d("2025-12-15"), 19);
        let a = r.assess("2026-01-01");
        let t = trial(&a, "sertraline");
        assert_eq!((t.end, t.adherence_adequate), (None, Some(false)));
        assert_eq!(rec_codes(&a), vec![R::VerifyTreatmentHistory]);
        // The same supply taken as dispensed (every 30 days): optimize-dose as usual.
        let mut r = rec();
        r.mdd("2025-01-01", "F331");
        for k in 0..5 {
            r.disp("sertraline", dp("2025-08-01", 30 * k), 30, Some(100.0));
        }
        r.phq9(d("2025-07-25"), 20);
        r.phq9(d("2025-12-15"), 19);
        let a = r.assess("2026-01-01");
        assert_eq!(trial(&a, "sertraline").adherence_adequate, Some(true));
        assert!(rec_codes(&a).contains(&R::OptimizeDose));
    }
}
