//! Trial adequacy and outcome (clinical-rules §3 per-trial values, §5), evaluated in order:
//! intolerant → responded → failed → indeterminate → inadequate → ongoing.
//!
//! Decisions where the contract is silent:
//! - `intolerant` looks at every exposure of the trial: a statusReason with an adverse effect on any
//!   of them (usually the stopping statement) counts, provided the trial ended with
//!   `duration_adequate` false.
//! - `weeks_at_adequate_dose` is 0 when the dose is unknown (no day has a known dose ≥ the minimum);
//!   `duration_adequate` then uses the trial's total length, as the contract says.
//! - An ingredient without a `min_adequate_mg_day` (a knowledge-base gap) has an unknown
//!   `dose_adequate`, like an unknown dose.
//! - `matched_by` is the strongest method among the exposures in force on the trial's first day
//!   ([`Course::matched_by`]).

use crate::fhir::record::MatchedBy;
use crate::knowledge::Params;

use super::adherence::adherence;
use super::exposures::date;
use super::measurement::{Measured, Scores, measure};
use super::model::{DoseSegment, Measurement, Outcome, Trial};
use super::trials::{Course, round1};

/// A trial with the unrounded numbers the rules compare.
#[derive(Debug, Clone)]
pub struct AssessedTrial<'a> {
    pub course: Course<'a>,
    pub measured: Measured<'a>,
    /// Unrounded.
    pub weeks_at_adequate: f64,
    pub total_weeks: f64,
    pub trial: Trial,
}

/// The follow-up score at or below which the improvement from `baseline` reaches `response_pct`
/// (clinical-rules §4); `None` without a positive baseline (then improvement is undefined).
fn response_threshold(baseline: Option<i64>, p: &Params) -> Option<f64> {
    let b = baseline.filter(|&b| b > 0)? as f64;
    Some(b * (1.0 - p.response_pct / 100.0))
}

pub fn assess_trial<'a>(course: Course<'a>, scores: &Scores<'a>, p: &Params) -> AssessedTrial<'a> {
    let ing = course.ing;
    let max = course.max_daily_dose(p.dose_hold_days);
    let min = ing.min_adequate_mg_day;
    let weeks_at_adequate = match (max, min) {
        (Some(_), Some(min)) => course.days_at_or_above(min) as f64 / 7.0,
        _ => 0.0,
    };
    let total_weeks = course.length_days() as f64 / 7.0;
    let dose_adequate = match (max, min) {
        (Some(max), Some(min)) => Some(max >= min),
        _ => None,
    };
    let duration_adequate = match dose_adequate {
        Some(_) => weeks_at_adequate >= p.min_adequate_weeks,
        None => total_weeks >= p.min_adequate_weeks,
    };
    let (pdc, adherence_adequate) = adherence(&course, p);
    let measured = measure(scores, course.start, course.eff_end, p);
    let outcome = outcome(
        course.ended,
        course.adverse_stop(),
        dose_adequate,
        duration_adequate,
        adherence_adequate,
        measured.measurement,
    );
    let trial = Trial {
        ingredient: ing.id.clone(),
        rxnorm: ing.rxcui.clone(),
        class: ing.class.as_str().to_string(),
        start: date(course.start),
        end: course.ended.then(|| date(course.end)),
        max_daily_dose_mg: max,
        min_adequate_mg_day: ing.min_adequate_mg_day,
        optimised_mg_day: ing.optimised_mg_day,
        weeks_at_adequate_dose: round1(weeks_at_adequate),
        dose_adequate,
        duration_adequate,
        pdc,
        adherence_adequate,
        measurement: measured.measurement,
        phq9_baseline: measured.baseline.map(|b| b.value),
        phq9_response_threshold: response_threshold(measured.baseline.map(|b| b.value), p),
        outcome,
        matched_by: matched_by(course.matched_by().unwrap_or(MatchedBy::Text)).to_string(),
        dose_history: course
            .segs
            .iter()
            .map(|s| DoseSegment {
                start: date(s.start),
                end: date(s.end),
                daily_dose_mg: s.dose,
            })
            .collect(),
        assumptions: course.assumptions(),
        evidence: course.evidence(),
    };
    AssessedTrial {
        course,
        measured,
        weeks_at_adequate,
        total_weeks,
        trial,
    }
}

/// §5, in order. A non-adherent trial (`adherence_adequate == Some(false)`) is never failed or
/// indeterminate: ended, it is inadequate (pseudo-resistance); running, it is ongoing.
pub fn outcome(
    ended: bool,
    adverse_stop: bool,
    dose_adequate: Option<bool>,
    duration_adequate: bool,
    adherence_adequate: Option<bool>,
    measurement: Measurement,
) -> Outcome {
    let judged = ended || matches!(measurement, Measurement::NonResponse | Measurement::Partial);
    let adherent = adherence_adequate != Some(false);
    if ended && !duration_adequate && adverse_stop {
        Outcome::Intolerant
    } else if measurement == Measurement::Response {
        Outcome::Responded
    } else if duration_adequate && dose_adequate == Some(true) && adherent && judged {
        Outcome::Failed
    } else if duration_adequate && dose_adequate.is_none() && adherent && judged {
        Outcome::Indeterminate
    } else if ended && (dose_adequate == Some(false) || !duration_adequate || !adherent) {
        Outcome::Inadequate
    } else {
        Outcome::Ongoing
    }
}

pub fn matched_by(m: MatchedBy) -> &'static str {
    match m {
        MatchedBy::RxnormIngredient => "rxnorm-ingredient",
        MatchedBy::RxnormProduct => "rxnorm-product",
        MatchedBy::Atc => "atc",
        MatchedBy::Text => "text",
    }
}

/// Distinct ingredients with outcome failed (the failed adequate trials of §5).
pub fn failed_ingredients<'t, 'a>(trials: &'t [AssessedTrial<'a>]) -> Vec<&'t AssessedTrial<'a>> {
    let mut out: Vec<&AssessedTrial<'a>> = Vec::new();
    for t in trials.iter().filter(|t| t.trial.outcome == Outcome::Failed) {
        if !out.iter().any(|o| o.course.ing.id == t.course.ing.id) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::*;

    #[test]
    fn outcome_order() {
        use Measurement::*;
        assert_eq!(
            outcome(true, true, Some(true), false, None, NonResponse),
            Outcome::Intolerant
        );
        assert_eq!(
            outcome(true, true, Some(true), true, None, NonResponse),
            Outcome::Failed
        );
        assert_eq!(
            outcome(true, false, Some(true), false, None, Response),
            Outcome::Responded
        );
        assert_eq!(
            outcome(false, false, Some(true), true, None, Response),
            Outcome::Responded
        );
        assert_eq!(
            outcome(true, false, Some(true), true, None, Unmeasured),
            Outcome::Failed
        );
        assert_eq!(
            outcome(false, false, Some(true), true, None, Partial),
            Outcome::Failed
        );
        assert_eq!(
            outcome(false, false, Some(true), true, None, Unmeasured),
            Outcome::Ongoing
        );
        assert_eq!(
            outcome(true, false, None, true, None, Unmeasured),
            Outcome::Indeterminate
        );
        assert_eq!(
            outcome(false, false, None, true, None, NonResponse),
            Outcome::Indeterminate
        );
        assert_eq!(
            outcome(false, false, None, true, None, Unmeasured),
            Outcome::Ongoing
        );
        assert_eq!(
            outcome(true, false, Some(false), false, None, NonResponse),
            Outcome::Inadequate
        );
        assert_eq!(
            outcome(true, false, Some(true), false, None, NonResponse),
            Outcome::Inadequate
        );
        assert_eq!(
            outcome(false, false, Some(false), false, None, NonResponse),
            Outcome::Ongoing
        );
        // Not adherent: never failed or indeterminate; inadequate once ended, else ongoing.
        assert_eq!(
            outcome(true, false, Some(true), true, Some(false), NonResponse),
            Outcome::Inadequate
        );
        assert_eq!(
            outcome(true, false, None, true, Some(false), Unmeasured),
            Outcome::Inadequate
        );
        assert_eq!(
            outcome(false, false, Some(true), true, Some(false), NonResponse),
            Outcome::Ongoing
        );
        assert_eq!(
            outcome(false, false, None, true, Some(false), Partial),
            Outcome::Ongoing
        );
        assert_eq!(
            outcome(true, false, Some(true), true, Some(false), Response),
            Outcome::Responded
        );
        assert_eq!(
            outcome(true, false, Some(true), true, Some(true), NonResponse),
            Outcome::Failed
        );
    }

    #[test]
    fn intolerant_trial_from_an_adverse_stop() {
        let mut r = rec();
        let e = r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-01-20")),
            Some(100.0),
        );
        e.status = "stopped".into();
        e.adverse_stop = true;
        let a = r.assess("2025-06-01");
        assert_eq!(trial(&a, "sertraline").outcome, Outcome::Intolerant);
    }

    #[test]
    fn failed_adequate_trials_count_distinct_ingredients() {
        let mut r = met_patient();
        // A second failed sertraline trial later in the episode.
        r.ms(
            "sertraline",
            d("2024-10-01"),
            Some(dp("2024-10-01", 60)),
            Some(100.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(
            a.trials
                .iter()
                .filter(|t| t.outcome == Outcome::Failed)
                .count(),
            3
        );
        assert_eq!(a.failed_adequate_trials, 2);
    }
}
