//! Combination or switch (clinical-rules §3): when a second antidepressant starts while a first is
//! running, it is a **combination** if the first is still running `combination_overlap_days` after
//! the second's start (or at `as_of`, if that comes sooner); otherwise a cross-taper **switch** (two
//! trials). When the first of a combination stops and the added drug continues, the added drug's
//! exposure from that day on is a trial of its own.
//!
//! Decisions where the contract is silent:
//! - Courses are taken in order of start (then, for the rest of a combination drug that outlived
//!   its base, the one added first; then the one that stops first; then the one dosed highest
//!   relative to its minimum adequate dose; then ingredient id); a course that starts on the same
//!   day as another is "added" to the one taken first. So of two drugs started together, the one
//!   that stops first is the base and the survivor's own trial starts the day it stops (its weeks
//!   never count the period given together, §3); several add-ons outliving their base: the one
//!   added first is the trial from that day, the others combinations on it (§3); a fixed-dose
//!   product (Auvelity: dextromethorphan 90 mg + bupropion 210 mg a day, starting and stopping
//!   together) is a dextromethorphan trial with a bupropion combination, not an under-dosed
//!   bupropion trial.
//! - "Running at the second's start" uses effective ends (a not-ended trial runs until `as_of`):
//!   the first is running when it started on or before the second and its effective end is after
//!   the second's start day (touching periods are a switch).
//! - When several trials are running, the added drug is combined with the one running longest.
//! - Only trials are "firsts": a drug added to a running combination is combined with the trial.
//! - The combination itself lasts while both drugs run: from the added drug's start to the earlier
//!   of the two effective ends; it has ended when either drug has ended.

use crate::knowledge::{Ingredient, Params};

use super::exposures::Day;
use super::trials::Course;

/// An antidepressant added to a running trial.
#[derive(Debug, Clone)]
pub struct Combination<'a> {
    /// The added drug, restricted to the combination period.
    pub added: Course<'a>,
    /// The trial it was added to.
    pub base: &'a Ingredient,
}

/// Split antidepressant courses into trials and combinations.
pub fn separate<'a>(
    courses: Vec<Course<'a>>,
    p: &Params,
    as_of: Day,
) -> (Vec<Course<'a>>, Vec<Combination<'a>>) {
    // Pending courses sorted so that `pop` yields the next one to consider.
    let mut pending = courses;
    pending.sort_by(|a, b| order(b, a));
    let mut trials: Vec<Course<'a>> = Vec::new();
    let mut combos = Vec::new();
    while let Some(b) = pending.pop() {
        let first = trials
            .iter()
            .filter(|a| a.start <= b.start && a.eff_end > b.start)
            .max_by(|x, y| x.eff_end.cmp(&y.eff_end).then(y.start.cmp(&x.start)));
        let Some(a) = first else {
            trials.push(b);
            continue;
        };
        let check = (b.start + p.combination_overlap_days).min(as_of);
        if a.eff_end < check {
            trials.push(b); // cross-taper switch
            continue;
        }
        let combo_end = a.eff_end.min(b.eff_end);
        let combo_ended = a.ended || b.ended;
        let added = b.slice(b.start, combo_end, combo_ended, as_of);
        if b.eff_end > a.eff_end {
            let rest = b.slice(a.eff_end, b.end.max(a.eff_end), b.ended, as_of);
            let pos = pending.partition_point(|x| order(x, &rest) == std::cmp::Ordering::Greater);
            pending.insert(pos, rest);
        }
        combos.push(Combination { added, base: a.ing });
    }
    trials.sort_by(order);
    (trials, combos)
}

fn order(a: &Course<'_>, b: &Course<'_>) -> std::cmp::Ordering {
    a.start
        .cmp(&b.start)
        .then(a.first_start.cmp(&b.first_start))
        .then(a.eff_end.cmp(&b.eff_end))
        .then(dose_ratio(b).total_cmp(&dose_ratio(a)))
        .then(a.ing.id.cmp(&b.ing.id))
}

/// Highest daily dose relative to the minimum adequate dose (0 when unknown): among courses that
/// start and end together (a fixed-dose product such as dextromethorphan/bupropion), the one dosed
/// as an antidepressant is the trial and the other its combination partner.
fn dose_ratio(c: &Course<'_>) -> f64 {
    let max = c.segs.iter().filter_map(|s| s.dose).fold(0.0, f64::max);
    c.ing
        .min_adequate_mg_day
        .filter(|m| *m > 0.0)
        .map_or(0.0, |m| max / m)
}

#[cfg(test)]
mod tests {
    use crate::clinical::test_support::*;

    fn with_first_ending_on(day: i64) -> crate::clinical::model::Assessment {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(dp("2025-02-01", day)),
            Some(100.0),
        );
        r.ms(
            "bupropion",
            d("2025-02-01"),
            Some(d("2025-06-01")),
            Some(300.0),
        );
        r.assess("2025-08-01")
    }

    #[test]
    fn first_still_running_on_day_28_is_a_combination() {
        let a = with_first_ending_on(28);
        assert_eq!(a.augmentations.len(), 1);
        let c = &a.augmentations[0];
        assert_eq!(c.class, "antidepressant-combination");
        assert_eq!(c.agent, "bupropion");
        assert_eq!(c.trial_ingredient, "sertraline");
        assert_eq!(c.end, Some(dp("2025-02-01", 28)));
        // The added drug continues: a trial of its own from the day the first stopped.
        let t = trial(&a, "bupropion");
        assert_eq!(t.start, dp("2025-02-01", 28));
        assert_eq!(a.trials.len(), 2);
    }

    #[test]
    fn first_ending_on_day_27_is_a_cross_taper_switch() {
        let a = with_first_ending_on(27);
        assert!(a.augmentations.is_empty());
        assert_eq!(trial(&a, "bupropion").start, d("2025-02-01"));
        assert_eq!(a.trials.len(), 2);
    }

    #[test]
    fn running_first_at_as_of_before_day_28_is_a_combination() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(100.0));
        r.ms("mirtazapine", d("2025-02-01"), None, Some(15.0));
        let a = r.assess("2025-02-10");
        assert_eq!(a.trials.len(), 1);
        assert_eq!(a.augmentations.len(), 1);
        assert_eq!(a.augmentations[0].end, None);
    }

    #[test]
    fn first_trial_keeps_its_follow_up_through_the_combination() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(100.0));
        r.ms("mirtazapine", d("2025-02-01"), None, Some(15.0));
        r.phq9(d("2025-01-01"), 20);
        r.phq9(d("2025-04-01"), 18);
        let a = r.assess("2025-04-02");
        assert_eq!(
            trial(&a, "sertraline").measurement,
            crate::clinical::model::Measurement::NonResponse
        );
    }

    #[test]
    fn fixed_dose_product_is_one_trial_with_a_partner() {
        let mut r = rec();
        r.ms("dextromethorphan", d("2025-01-01"), None, Some(90.0));
        r.ms("bupropion", d("2025-01-01"), None, Some(210.0));
        let a = r.assess("2025-04-01");
        assert_eq!(a.trials.len(), 1);
        assert_eq!(a.trials[0].ingredient, "dextromethorphan");
        assert_eq!(a.augmentations[0].agent, "bupropion");
    }
}
