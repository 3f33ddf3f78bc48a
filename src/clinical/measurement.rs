//! Response measurement (clinical-rules §4): baseline = the latest PHQ-9 total from
//! `baseline_window_before_days` before the start to `baseline_window_after_days` after; follow-up =
//! the latest from `followup_min_days` after the start to the end (or `as_of`).
//!
//! Decisions where the contract is silent:
//! - Scores dated after `as_of` are ignored (the clock rule of §1).
//! - Several scores on one day: the one with the latest `issued` wins; a score without `issued`
//!   ranks before one with it; equal or absent `issued` → the last in the input. (A total order, so
//!   sorting is deterministic.)
//! - The improvement percentage is compared unrounded.

use crate::fhir::record::ScoreFact;
use crate::knowledge::{ObservationKind, Params};

use super::exposures::{Day, day};
use super::model::Measurement;

/// One score on the clock.
#[derive(Debug, Clone, Copy)]
pub struct Score<'a> {
    pub day: Day,
    pub value: i64,
    pub fact: &'a ScoreFact,
}

/// PHQ-9 scores of one kind, sorted so that the last of a day is the one that counts.
#[derive(Debug, Clone, Default)]
pub struct Scores<'a> {
    pub sorted: Vec<Score<'a>>,
}

impl<'a> Scores<'a> {
    pub fn of_kind(facts: &'a [ScoreFact], kind: ObservationKind, as_of: Day) -> Scores<'a> {
        let mut sorted: Vec<Score<'a>> = facts
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| Score {
                day: day(f.date),
                value: f.value,
                fact: f,
            })
            .filter(|s| s.day <= as_of)
            .collect();
        sorted.sort_by_key(|s| (s.day, s.fact.issued.unwrap_or(i64::MIN), s.fact.order));
        Scores { sorted }
    }

    /// The score that counts for the latest day in `[lo, hi]`.
    pub fn latest_in(&self, lo: Day, hi: Day) -> Option<Score<'a>> {
        if hi < lo {
            return None;
        }
        let n = self.sorted.partition_point(|s| s.day <= hi);
        let s = *self.sorted.get(n.checked_sub(1)?)?;
        (s.day >= lo).then_some(s)
    }

    /// All scores in `[lo, hi]`.
    pub fn in_range(&self, lo: Day, hi: Day) -> impl Iterator<Item = &Score<'a>> {
        self.sorted
            .iter()
            .filter(move |s| s.day >= lo && s.day <= hi)
    }
}

/// Baseline and follow-up of a treatment started on `start` and observed until `end`.
#[derive(Debug, Clone, Copy)]
pub struct Measured<'a> {
    pub baseline: Option<Score<'a>>,
    pub followup: Option<Score<'a>>,
    pub measurement: Measurement,
}

pub fn measure<'a>(scores: &Scores<'a>, start: Day, end: Day, p: &Params) -> Measured<'a> {
    let baseline = scores.latest_in(
        start - p.baseline_window_before_days,
        start + p.baseline_window_after_days,
    );
    let followup = scores.latest_in(start + p.followup_min_days, end);
    Measured {
        baseline,
        followup,
        measurement: classify(baseline.map(|s| s.value), followup.map(|s| s.value), p),
    }
}

/// §4 classification from the two scores.
pub fn classify(baseline: Option<i64>, followup: Option<i64>, p: &Params) -> Measurement {
    let Some(f) = followup else {
        return Measurement::Unmeasured;
    };
    if f < p.remission_below {
        return Measurement::Response;
    }
    let Some(b) = baseline else {
        return if f >= p.nonresponse_without_baseline_min {
            Measurement::NonResponse
        } else {
            Measurement::Unmeasured
        };
    };
    if b <= 0 {
        return Measurement::Unmeasured;
    }
    let improvement_pct = (b - f) as f64 * 100.0 / b as f64;
    if improvement_pct >= p.response_pct {
        Measurement::Response
    } else if improvement_pct >= p.partial_response_pct {
        Measurement::Partial
    } else {
        Measurement::NonResponse
    }
}

/// Improvement in percent, for sentences.
pub fn improvement_pct(m: &Measured<'_>) -> Option<f64> {
    let (b, f) = (m.baseline?.value, m.followup?.value);
    (b > 0).then(|| (b - f) as f64 * 100.0 / b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::*;

    fn c(b: Option<i64>, f: Option<i64>) -> Measurement {
        classify(b, f, kb().params())
    }

    #[test]
    fn improvement_thresholds() {
        assert_eq!(c(Some(20), Some(16)), Measurement::NonResponse); // 20 %
        assert_eq!(c(Some(100), Some(76)), Measurement::NonResponse); // 24 %
        assert_eq!(c(Some(100), Some(75)), Measurement::Partial); // 25 %
        assert_eq!(c(Some(100), Some(51)), Measurement::Partial); // 49 %
        assert_eq!(c(Some(100), Some(50)), Measurement::Response); // 50 %
        assert_eq!(c(Some(20), Some(12)), Measurement::Partial); // 40 %
        assert_eq!(c(Some(10), Some(12)), Measurement::NonResponse); // worse
    }

    #[test]
    fn remission_is_response_whatever_the_baseline() {
        assert_eq!(c(None, Some(4)), Measurement::Response);
        assert_eq!(c(Some(5), Some(4)), Measurement::Response);
        assert_eq!(c(Some(0), Some(4)), Measurement::Response);
    }

    #[test]
    fn without_baseline() {
        assert_eq!(c(None, Some(5)), Measurement::Unmeasured);
        assert_eq!(c(None, Some(9)), Measurement::Unmeasured);
        assert_eq!(c(None, Some(10)), Measurement::NonResponse);
        assert_eq!(c(None, None), Measurement::Unmeasured);
        assert_eq!(c(Some(20), None), Measurement::Unmeasured);
    }

    #[test]
    fn baseline_zero_is_unmeasured() {
        assert_eq!(c(Some(0), Some(6)), Measurement::Unmeasured);
    }

    fn windows(base_offset: i64, follow_offset: i64) -> Measurement {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-04-01")),
            Some(100.0),
        );
        r.phq9(dp("2025-01-01", base_offset), 20);
        r.phq9(dp("2025-01-01", follow_offset), 15);
        trial(&r.assess("2025-06-01"), "sertraline").measurement
    }

    #[test]
    fn baseline_and_follow_up_windows() {
        assert_eq!(windows(-30, 28), Measurement::Partial);
        assert_eq!(windows(14, 28), Measurement::Partial);
        // Baseline outside the window: follow-up 15 without baseline → non-response (≥ 10).
        assert_eq!(windows(-31, 28), Measurement::NonResponse);
        assert_eq!(windows(15, 28), Measurement::NonResponse);
        // Follow-up before day 28 → none.
        assert_eq!(windows(0, 27), Measurement::Unmeasured);
        // Follow-up on the end day counts, after it does not.
        assert_eq!(windows(0, 90), Measurement::Partial);
        assert_eq!(windows(0, 91), Measurement::Unmeasured);
    }

    #[test]
    fn several_scores_on_one_day_last_issued_else_last_in_input() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-04-01")),
            Some(100.0),
        );
        r.phq9(d("2025-01-01"), 20);
        r.phq9(d("2025-03-01"), 4).issued = Some(200);
        r.phq9(d("2025-03-01"), 18).issued = Some(100);
        assert_eq!(
            trial(&r.assess("2025-06-01"), "sertraline").measurement,
            Measurement::Response
        );

        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-04-01")),
            Some(100.0),
        );
        r.phq9(d("2025-01-01"), 20);
        r.phq9(d("2025-03-01"), 4);
        r.phq9(d("2025-03-01"), 18);
        assert_eq!(
            trial(&r.assess("2025-06-01"), "sertraline").measurement,
            Measurement::NonResponse
        );
    }

    #[test]
    fn scores_after_as_of_are_ignored() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(100.0));
        r.phq9(d("2025-01-01"), 20);
        r.phq9(d("2025-03-01"), 2);
        let a = r.assess("2025-02-27");
        assert_eq!(trial(&a, "sertraline").measurement, Measurement::Unmeasured);
    }
}
