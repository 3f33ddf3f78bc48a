//! Staging (clinical-rules §8): Thase–Rush, MGH-S, Maudsley and the seed "treatment step", all over
//! the trials and augmentations of the episode window. Points and bands come from
//! `kb.staging()`.
//!
//! Decisions where the contract is silent:
//! - Thase–Rush, Maudsley and the treatment step count failed trials per distinct ingredient, like
//!   `failed_adequate_trials`; MGH-S counts every failed trial, a repeated trial of one ingredient
//!   included, and gives the optimised-dose bonus per failed trial whose max dose reached
//!   `optimised_mg_day` (§8).
//! - "Failed trials in ≥ 2 classes" (Thase–Rush 2, treatment step 2) compares knowledge-base classes;
//!   for Thase–Rush only, tetracyclics count as TCA (so a TCA + a tetracyclic are one class there).
//! - A "failed augmentation" includes failed combinations (§3: every combination is an
//!   augmentation), for MGH-S, the treatment step and the recommendations.
//! - A failed ECT course = ≥ `ect_course_min_procedures` completed ECT procedures in the episode
//!   while an MDD diagnosis is still active.
//! - Episode duration (Maudsley, treatment step 5) = `as_of` − onset; with no known onset, from the
//!   start of the earliest counted trial (as the reference's MSM mapping suggests); else 0 days.
//! - Maudsley severity: psychotic features first; else the highest ICD-10-CM F32/F33 4th-character
//!   severity among the active MDD Conditions; else the highest PHQ-9 total in the episode window;
//!   else unknown → `maudsley: null`.
//! - "Augmentation used" / "ECT used" (Maudsley) = any augmentation or combination in the episode /
//!   any completed ECT procedure in the episode, whatever its outcome.

use std::collections::BTreeSet;

use crate::fhir::record::{ConditionFact, ProcedureFact};
use crate::knowledge::{
    Band, ConditionCategory, DrugClass, Params, ProcedureKind, StagingTables, systems,
};

use super::augmentation::AssessedAugmentation;
use super::episode::active_with;
use super::exposures::Day;
use super::flags::procedures_in_episode;
use super::measurement::Scores;
use super::model::{AugmentationOutcome, Maudsley, Staging};
use super::outcome::{AssessedTrial, failed_ingredients};

pub struct StagingInput<'r, 'a> {
    pub trials: &'r [AssessedTrial<'a>],
    pub augmentations: &'r [AssessedAugmentation<'a>],
    pub conditions: &'a [ConditionFact],
    pub procedures: &'a [ProcedureFact],
    pub phq9: &'r Scores<'a>,
    pub active_mdd: bool,
    pub onset: Option<Day>,
    pub as_of: Day,
    pub params: &'r Params,
    pub tables: &'r StagingTables,
}

/// Facts shared with the recommendations.
#[derive(Debug, Clone, Copy, Default)]
pub struct StagingFacts {
    pub failed_ect_course: bool,
    pub failed_augmentation: bool,
    pub episode_days: i64,
}

pub fn staging(i: &StagingInput<'_, '_>) -> (Staging, StagingFacts) {
    let failed = failed_ingredients(i.trials);
    let ect = procedures_in_episode(i.procedures, ProcedureKind::Ect, i.onset, i.as_of);
    let failed_ect_course =
        i.active_mdd && ect.len() >= i.params.ect_course_min_procedures as usize;
    let failed_augs = i
        .augmentations
        .iter()
        .filter(|a| a.aug.outcome == AugmentationOutcome::Failed)
        .count();
    let episode_start = i
        .onset
        .or_else(|| i.trials.iter().map(|t| t.course.start).min());
    let episode_days = episode_start.map_or(0, |s| (i.as_of - s).max(0));

    // Thase–Rush.
    let tr_classes: BTreeSet<DrugClass> = failed
        .iter()
        .map(|t| match t.course.ing.class {
            DrugClass::Teca => DrugClass::Tca,
            c => c,
        })
        .collect();
    // Each rung requires the previous one (the numbers are the stages, not thresholds).
    let rungs = [
        !failed.is_empty(),
        tr_classes.len() >= i.params.min_classes_for_different_class,
        tr_classes.contains(&DrugClass::Tca),
        tr_classes.contains(&DrugClass::Maoi),
        failed_ect_course,
    ];
    let thase_rush = ladder(&rungs);

    // MGH-S: every failed trial, a repeated trial of one ingredient included (§8).
    let t = i.tables;
    let mut mgh_s = 0.0;
    for f in i
        .trials
        .iter()
        .filter(|x| x.trial.outcome == super::model::Outcome::Failed)
    {
        mgh_s += t.mgh_s_failed_trial;
        let optimised = f.course.ing.optimised_mg_day;
        if matches!((f.trial.max_daily_dose_mg, optimised), (Some(d), Some(o)) if d >= o) {
            mgh_s += t.mgh_s_optimised_bonus;
        }
    }
    mgh_s += failed_augs as f64 * t.mgh_s_failed_augmentation;
    if failed_ect_course {
        mgh_s += t.mgh_s_failed_ect_course;
    }

    // Maudsley.
    let maudsley = severity(i).map(|sev| {
        let score = points(&t.maudsley_duration, episode_days as f64)
            + sev
            + points(&t.maudsley_failed, failed.len() as f64)
            + if i.augmentations.is_empty() {
                0
            } else {
                t.maudsley_augmentation_used
            }
            + if ect.is_empty() {
                0
            } else {
                t.maudsley_ect_used
            };
        let band = t
            .maudsley_bands
            .iter()
            .find(|b| f64::from(score) <= b.max)
            .or(t.maudsley_bands.last())
            .map_or_else(String::new, |b| b.name.clone());
        Maudsley { score, band }
    });

    // Treatment step (seed ladder).
    let classes: BTreeSet<DrugClass> = failed.iter().map(|t| t.course.ing.class).collect();
    let step = ladder(&[
        !failed.is_empty(),
        classes.len() >= i.params.min_classes_for_different_class,
        failed_augs > 0,
        failed_ect_course,
        episode_days > i.params.long_episode_days,
    ]);
    (
        Staging {
            thase_rush,
            mgh_s,
            maudsley,
            treatment_step: step,
        },
        StagingFacts {
            failed_ect_course,
            failed_augmentation: failed_augs > 0,
            episode_days,
        },
    )
}

/// Maudsley severity points, or `None` when unknown.
fn severity(i: &StagingInput<'_, '_>) -> Option<u32> {
    let t = i.tables;
    if !active_with(i.conditions, ConditionCategory::PsychoticFeatures, i.as_of).is_empty() {
        return Some(t.maudsley_severity_psychotic);
    }
    let icd = active_with(i.conditions, ConditionCategory::Mdd, i.as_of)
        .into_iter()
        .flat_map(|c| c.codes.iter())
        .filter(|c| c.system == systems::ICD10CM)
        .filter_map(|c| {
            let code = c.code.replace('.', "").to_ascii_uppercase();
            if !(code.starts_with("F32") || code.starts_with("F33")) {
                return None;
            }
            let fourth = code.get(3..4)?;
            t.maudsley_severity_icd.get(fourth).copied()
        })
        .max();
    if icd.is_some() {
        return icd;
    }
    let lo = i.onset.unwrap_or(Day::MIN);
    let max = i.phq9.in_range(lo, i.as_of).map(|s| s.value).max()?;
    Some(points(&t.maudsley_severity_phq9, max as f64))
}

/// Points of the first band whose inclusive max is ≥ `value` (the open last band otherwise).
pub fn points(bands: &[Band], value: f64) -> u32 {
    bands
        .iter()
        .find(|b| b.max.is_none_or(|m| value <= m))
        .or(bands.last())
        .map_or(0, |b| b.points)
}

/// The stage of a ladder: the number of consecutive rungs reached from the bottom.
fn ladder(rungs: &[bool]) -> u8 {
    rungs.iter().take_while(|r| **r).count() as u8
}

#[cfg(test)]
mod tests {
    use crate::clinical::test_support::*;
    use crate::knowledge::{ConditionCategory, ProcedureKind};

    /// A failed 10-week trial starting `start` at `dose`, PHQ-9 20 → 19.
    fn failed(r: &mut Rec, ing: &str, start: &str, dose: f64) {
        r.ms(ing, d(start), Some(dp(start, 70)), Some(dose));
        r.phq9(d(start), 20);
        r.phq9(dp(start, 60), 19);
    }

    fn ect_course(r: &mut Rec, n: u32) {
        for i in 0..n {
            r.procedure(ProcedureKind::Ect, dp("2024-12-01", i64::from(i) * 2));
        }
    }

    #[test]
    fn thase_rush_ladder() {
        let mut r = rec();
        r.mdd("2023-01-01", "F332");
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 0);
        failed(&mut r, "sertraline", "2023-02-01", 100.0);
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 1);
        failed(&mut r, "citalopram", "2023-05-01", 20.0); // same class
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 1);
        failed(&mut r, "maprotiline", "2023-08-01", 150.0); // tetracyclic counts as TCA
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 3);
        failed(&mut r, "phenelzine", "2024-01-01", 60.0);
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 4);
        ect_course(&mut r, kb().params().ect_course_min_procedures - 1);
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 4);
        ect_course(&mut r, 1);
        assert_eq!(r.assess("2025-06-01").staging.thase_rush, 5);
    }

    #[test]
    fn thase_rush_two_classes_is_stage_two() {
        let a = met_patient().assess("2025-01-01");
        assert_eq!(a.staging.thase_rush, 2);
        assert_eq!(a.staging.treatment_step, 2);
    }

    #[test]
    fn mgh_s_points() {
        let mut r = rec();
        r.mdd("2024-01-01", "F332");
        failed(&mut r, "sertraline", "2024-02-01", opt_dose("sertraline"));
        failed(&mut r, "venlafaxine", "2024-06-01", min_dose("venlafaxine"));
        // Failed aripiprazole augmentation on venlafaxine.
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(a.staging.mgh_s, 1.0 + 0.5 + 1.0 + 0.5);
        ect_course(&mut r, kb().params().ect_course_min_procedures);
        assert_eq!(r.assess("2025-01-01").staging.mgh_s, 6.0);
    }

    #[test]
    fn maudsley_score_and_bands() {
        // Episode 1 year (1) + F33.2 severe (4) + 2 failed (1) + no augmentation/ECT = 6 mild.
        let a = met_patient().assess("2024-12-31");
        let m = a.staging.maudsley.expect("maudsley");
        assert_eq!((m.score, m.band.as_str()), (6, "mild"));
        // 366 days → duration 2: 7 moderate.
        let m = met_patient()
            .assess("2025-01-01")
            .staging
            .maudsley
            .expect("maudsley");
        assert_eq!((m.score, m.band.as_str()), (7, "moderate"));
        // > 730 days (3), psychotic features (5), augmentation (1), ECT (1), 2 failed (1) = 11 severe.
        let mut r = met_patient();
        r.r.conditions[0]
            .categories
            .insert(ConditionCategory::PsychoticFeatures);
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        r.procedure(ProcedureKind::Ect, d("2024-09-01"));
        let m = r.assess("2026-01-02").staging.maudsley.expect("maudsley");
        assert_eq!((m.score, m.band.as_str()), (11, "severe"));
    }

    #[test]
    fn maudsley_severity_from_phq9_else_null() {
        let mut r = rec();
        r.mdd("2024-01-01", "F329"); // unspecified severity
        assert!(r.assess("2024-06-01").staging.maudsley.is_none());
        r.phq9(d("2024-03-01"), 12); // moderate: 3
        r.phq9(d("2023-03-01"), 25); // before the episode: ignored
        let m = r.assess("2024-06-01").staging.maudsley.expect("maudsley");
        assert_eq!(m.score, 1 + 3);
    }

    #[test]
    fn treatment_step_ladder() {
        let mut r = met_patient();
        assert_eq!(r.assess("2025-01-01").staging.treatment_step, 2);
        r.ms(
            "aripiprazole",
            d("2024-06-10"),
            Some(d("2024-08-01")),
            Some(10.0),
        );
        assert_eq!(r.assess("2025-01-01").staging.treatment_step, 3);
        ect_course(&mut r, kb().params().ect_course_min_procedures);
        assert_eq!(r.assess("2024-12-31").staging.treatment_step, 4); // episode of 365 days
        assert_eq!(r.assess("2025-01-01").staging.treatment_step, 5); // 366 days
    }
}
