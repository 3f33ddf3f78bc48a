//! Augmentations and combinations (clinical-rules §3 "Augmentation"): an augmentation agent
//! overlapping an antidepressant trial for ≥ `min_augmentation_overlap_days`, adequate at ≥ its
//! `min_adjunct_mg_day` for ≥ `min_augmentation_weeks`; every combination is an augmentation too
//! (adequate at the added drug's `min_adjunct_mg_day`, else its `min_adequate_mg_day`).
//! Outcome: `responded` when its own measurement (§4, from its start) is a response; `failed` when
//! adequate and (ended, or measured non-response / partial); `inadequate` when ended otherwise;
//! else `ongoing`.
//!
//! Decisions where the contract is silent:
//! - Exposures of one augmentation agent are merged like trials (gap ≤ `max_gap_days`), and end like
//!   trials.
//! - An agent overlapping several trials is attached to the one it overlaps longest (ties: the
//!   earlier trial).
//! - An augmentation with an unknown dose is not adequate (adequacy cannot be shown), so it is
//!   never `failed`; an agent without any minimum dose in the knowledge base is adequate on the
//!   days with a known dose.
//! - The days counted for adequacy are the augmentation's own days (not only those overlapping the
//!   trial).

use crate::knowledge::Params;

use super::combination::Combination;
use super::exposures::{Day, date};
use super::measurement::{Measured, Scores, measure};
use super::model::{Augmentation, AugmentationOutcome, Measurement};
use super::trials::Course;

/// The combination class of §3.
pub const COMBINATION_CLASS: &str = "antidepressant-combination";

#[derive(Debug, Clone)]
pub struct AssessedAugmentation<'a> {
    pub course: Course<'a>,
    pub measured: Measured<'a>,
    pub is_combination: bool,
    pub aug: Augmentation,
}

/// Augmentation-agent courses attached to trials, plus every combination; sorted by start, agent.
pub fn assess_augmentations<'a>(
    agents: Vec<Course<'a>>,
    combos: Vec<Combination<'a>>,
    trials: &[Course<'a>],
    scores: &Scores<'a>,
    p: &Params,
) -> Vec<AssessedAugmentation<'a>> {
    let mut out = Vec::new();
    for agent in agents {
        let best = trials
            .iter()
            .map(|t| (overlap(&agent, t), t))
            .filter(|(ov, _)| *ov >= p.min_augmentation_overlap_days)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.start.cmp(&a.1.start)));
        if let Some((_, t)) = best {
            let threshold = agent.ing.min_adjunct_mg_day;
            let base = t.ing.id.clone();
            out.push(assess_one(agent, base, threshold, false, scores, p));
        }
    }
    for c in combos {
        let threshold = c
            .added
            .ing
            .min_adjunct_mg_day
            .or(c.added.ing.min_adequate_mg_day);
        out.push(assess_one(
            c.added,
            c.base.id.clone(),
            threshold,
            true,
            scores,
            p,
        ));
    }
    out.sort_by(|a, b| {
        a.course
            .start
            .cmp(&b.course.start)
            .then(a.aug.agent.cmp(&b.aug.agent))
    });
    out
}

fn overlap(a: &Course<'_>, b: &Course<'_>) -> Day {
    a.eff_end.min(b.eff_end) - a.start.max(b.start)
}

fn assess_one<'a>(
    course: Course<'a>,
    trial_ingredient: String,
    threshold: Option<f64>,
    is_combination: bool,
    scores: &Scores<'a>,
    p: &Params,
) -> AssessedAugmentation<'a> {
    let days = match threshold {
        Some(min) => course.days_at_or_above(min),
        None => course.days_with_known_dose(),
    };
    let adequate = days as f64 / 7.0 >= p.min_augmentation_weeks;
    let measured = measure(scores, course.start, course.eff_end, p);
    let outcome = augmentation_outcome(course.ended, adequate, measured.measurement);
    let aug = Augmentation {
        agent: course.ing.id.clone(),
        class: if is_combination {
            COMBINATION_CLASS.to_string()
        } else {
            course.ing.class.as_str().to_string()
        },
        trial_ingredient,
        start: date(course.start),
        end: course.ended.then(|| date(course.end)),
        max_daily_dose_mg: course.max_daily_dose(p.dose_hold_days),
        adequate,
        measurement: measured.measurement,
        outcome,
        evidence: course.evidence(),
    };
    AssessedAugmentation {
        course,
        measured,
        is_combination,
        aug,
    }
}

pub fn augmentation_outcome(ended: bool, adequate: bool, m: Measurement) -> AugmentationOutcome {
    if m == Measurement::Response {
        AugmentationOutcome::Responded
    } else if adequate && (ended || matches!(m, Measurement::NonResponse | Measurement::Partial)) {
        AugmentationOutcome::Failed
    } else if ended {
        AugmentationOutcome::Inadequate
    } else {
        AugmentationOutcome::Ongoing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::*;

    fn with_aripiprazole(days: i64, dose: f64, ended: bool) -> crate::clinical::model::Assessment {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(100.0));
        r.ms(
            "aripiprazole",
            d("2025-03-01"),
            Some(dp("2025-03-01", days)),
            Some(dose),
        )
        .status = if ended { "completed" } else { "active" }.into();
        r.assess("2025-08-01")
    }

    #[test]
    fn overlap_of_14_days_makes_an_augmentation_13_does_not() {
        assert!(with_aripiprazole(13, 5.0, true).augmentations.is_empty());
        let a = with_aripiprazole(14, 5.0, true);
        assert_eq!(a.augmentations.len(), 1);
        assert_eq!(a.augmentations[0].class, "antipsychotic");
        assert_eq!(a.augmentations[0].trial_ingredient, "sertraline");
        assert!(!a.augmentations[0].adequate);
        assert_eq!(a.augmentations[0].outcome, AugmentationOutcome::Inadequate);
    }

    #[test]
    fn adequate_ended_unmeasured_augmentation_failed() {
        let a = with_aripiprazole(28, 5.0, true);
        assert!(a.augmentations[0].adequate);
        assert_eq!(a.augmentations[0].outcome, AugmentationOutcome::Failed);
        let a = with_aripiprazole(28, 4.0, true);
        assert!(!a.augmentations[0].adequate);
    }

    #[test]
    fn running_augmentation_fails_only_once_measured() {
        assert_eq!(
            augmentation_outcome(false, true, Measurement::Unmeasured),
            AugmentationOutcome::Ongoing
        );
        assert_eq!(
            augmentation_outcome(false, true, Measurement::Partial),
            AugmentationOutcome::Failed
        );
        assert_eq!(
            augmentation_outcome(false, true, Measurement::NonResponse),
            AugmentationOutcome::Failed
        );
        assert_eq!(
            augmentation_outcome(true, true, Measurement::Response),
            AugmentationOutcome::Responded
        );
        assert_eq!(
            augmentation_outcome(false, false, Measurement::NonResponse),
            AugmentationOutcome::Ongoing
        );
    }

    #[test]
    fn combination_adequacy_uses_adjunct_dose() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(100.0));
        let adj = kb()
            .ingredient("bupropion")
            .and_then(|i| i.min_adjunct_mg_day)
            .expect("adjunct");
        r.ms(
            "bupropion",
            d("2025-02-01"),
            Some(d("2025-04-01")),
            Some(adj),
        );
        let a = r.assess("2025-08-01");
        assert_eq!(a.augmentations[0].class, COMBINATION_CLASS);
        assert!(a.augmentations[0].adequate);
        assert_eq!(a.augmentations[0].outcome, AugmentationOutcome::Failed);
    }
}
