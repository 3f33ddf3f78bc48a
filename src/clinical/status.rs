//! Status (clinical-rules §6): `not-applicable` (no active MDD, or a bipolar-spectrum diagnosis on
//! record) → `met` (failed adequate trials ≥ `min_failed_trials`, spanning ≥ 2 classes when
//! `require_different_class`) → `possible` (distinct ingredients failed or indeterminate ≥
//! `min_failed_trials`) → `not-met`.
//!
//! Decision: classes are compared as the knowledge base writes them (a TCA and a tetracyclic are two
//! classes here; only Thase–Rush merges them, as §8 says).

use std::collections::BTreeSet;

use crate::knowledge::Params;

use super::model::{Outcome, Status};
use super::outcome::AssessedTrial;

pub fn status(active_mdd: bool, bipolar: bool, trials: &[AssessedTrial<'_>], p: &Params) -> Status {
    if !active_mdd || bipolar {
        return Status::NotApplicable;
    }
    let failed: BTreeSet<&str> = ingredients_with(trials, &[Outcome::Failed]);
    let classes: BTreeSet<_> = trials
        .iter()
        .filter(|t| t.trial.outcome == Outcome::Failed)
        .map(|t| t.course.ing.class)
        .collect();
    let enough = failed.len() >= p.min_failed_trials as usize;
    if enough && (!p.require_different_class || classes.len() >= p.min_classes_for_different_class)
    {
        return Status::Met;
    }
    if ingredients_with(trials, &[Outcome::Failed, Outcome::Indeterminate]).len()
        >= p.min_failed_trials as usize
    {
        Status::Possible
    } else {
        Status::NotMet
    }
}

pub fn ingredients_with<'t>(
    trials: &'t [AssessedTrial<'_>],
    outcomes: &[Outcome],
) -> BTreeSet<&'t str> {
    trials
        .iter()
        .filter(|t| outcomes.contains(&t.trial.outcome))
        .map(|t| t.trial.ingredient.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::clinical::model::Status;
    use crate::clinical::test_support::*;
    use crate::knowledge::ConditionCategory;

    #[test]
    fn met_with_two_failed_ingredients() {
        let a = met_patient().assess("2025-01-01");
        assert_eq!(a.failed_adequate_trials, 2);
        assert_eq!(a.status, Status::Met);
    }

    #[test]
    fn not_applicable_without_mdd_or_with_bipolar() {
        let mut r = met_patient();
        r.r.conditions.clear();
        assert_eq!(r.assess("2025-01-01").status, Status::NotApplicable);
        let mut r = met_patient();
        r.cond(&[ConditionCategory::Bipolar], Some(d("2010-01-01")))
            .clinical_status = crate::fhir::record::ClinicalStatus::Inactive;
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::NotApplicable);
        // Trials and staging are still computed.
        assert_eq!(a.failed_adequate_trials, 2);
        assert_eq!(a.staging.thase_rush, 2);
    }

    #[test]
    fn refuted_bipolar_does_not_exclude() {
        let mut r = met_patient();
        r.cond(&[ConditionCategory::Bipolar], None).refuted = true;
        assert_eq!(r.assess("2025-01-01").status, Status::Met);
    }

    #[test]
    fn possible_with_an_indeterminate_trial() {
        let r = possible_patient();
        let a = r.assess("2025-01-01");
        assert_eq!(a.failed_adequate_trials, 1);
        assert_eq!(a.status, Status::Possible);
    }

    #[test]
    fn not_met_with_one_failed_trial() {
        let mut r = rec();
        r.mdd("2024-01-01", "F332");
        r.ms(
            "sertraline",
            d("2024-02-01"),
            Some(dp("2024-02-01", 70)),
            Some(100.0),
        );
        assert_eq!(r.assess("2025-01-01").status, Status::NotMet);
    }

    #[test]
    fn require_different_class() {
        let mut r = rec();
        r.mdd("2024-01-01", "F332");
        r.ms(
            "sertraline",
            d("2024-02-01"),
            Some(dp("2024-02-01", 70)),
            Some(100.0),
        );
        r.ms(
            "citalopram",
            d("2024-06-01"),
            Some(dp("2024-06-01", 70)),
            Some(20.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(a.status, Status::Met);
        let trials: Vec<_> = {
            let kb = kb();
            let scores = super::super::measurement::Scores::default();
            let clipped = super::super::exposures::clip(
                &r.r.exposures,
                kb,
                super::super::exposures::day(d("2025-01-01")),
            );
            let courses = super::super::trials::build_courses(
                &clipped,
                crate::knowledge::DrugRole::Antidepressant,
                kb.params(),
                super::super::exposures::day(d("2025-01-01")),
            );
            let t: Vec<_> = courses
                .into_iter()
                .map(|c| super::super::outcome::assess_trial(c, &scores, kb.params()))
                .collect();
            let mut p = kb.params().clone();
            p.require_different_class = true;
            vec![super::status(true, false, &t, &p)]
        };
        assert_eq!(trials, vec![Status::Possible]);
    }
}
