//! Adherence from dispenses (clinical-rules §3 `pdc`, `adherence_adequate`): the proportion of days
//! covered (PDC) by the Pharmacy Quality Alliance method, for a trial made only of
//! MedicationDispenses (at least `pdc_min_dispenses`). Non-adherence is the classic cause of
//! pseudo-resistance: §5 never counts such a trial as failed or indeterminate, §7 flags it.
//!
//! PQA method: dispenses in order of hand-over; a refill handed over before the previous supply ran
//! out starts the day it runs out (early refills stockpile, they are never counted twice); the days
//! covered are the days of the window inside some supply.
//!
//! Decisions where the contract is silent:
//! - The window is the trial's own period: from its first dispense to "the last supply's end", read
//!   as the latest end of any supply as handed over (`whenHandedOver + daysSupply`, not shifted),
//!   clipped to `as_of` — the trial's `end` for an ended trial. Shifted supply beyond the window is
//!   not counted (PQA truncates at the end of the measurement period). A trial sliced from a
//!   combination (§3) uses its slice, with the supplies of the dispenses that reach it.
//! - A dispense without `daysSupply` (the reader makes it a zero-day exposure, with an assumption)
//!   makes the PDC null: its supply is unknown, and counting it as nothing would call a patient
//!   non-adherent on missing data.
//! - A window of 0 days has no PDC.
//! - The output `pdc` is rounded **down** to 3 decimals and percentages to a whole number
//!   ([`fmt_pct`]), so a value below `min_pdc` never reads as `min_pdc`; `adherence_adequate`
//!   compares the unrounded proportion with `min_pdc`.

use crate::fhir::record::SourceKind;
use crate::knowledge::Params;

use super::exposures::{Day, day};
use super::trials::Course;

/// Days of the window covered by supply, and days in the window (> 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub covered: i64,
    pub days: i64,
}

impl Coverage {
    /// The proportion of days covered, capped at 1.
    pub fn ratio(self) -> f64 {
        (self.covered as f64 / self.days as f64).min(1.0)
    }
}

/// `pdc` (rounded down to 3 decimals) and `adherence_adequate` of a trial; both `None` when the
/// trial is not made only of dispenses with a known supply, or has too few of them.
pub fn adherence(course: &Course<'_>, p: &Params) -> (Option<f64>, Option<bool>) {
    match coverage(course, p) {
        Some(c) => (Some(round_down(c.ratio(), 3)), Some(c.ratio() >= p.min_pdc)),
        None => (None, None),
    }
}

/// The PQA coverage of a dispense-only course over its window (module doc).
pub fn coverage(course: &Course<'_>, p: &Params) -> Option<Coverage> {
    let members = &course.members;
    if members.len() < p.pdc_min_dispenses as usize
        || members
            .iter()
            .any(|m| m.exp.kind != SourceKind::MedicationDispense)
    {
        return None;
    }
    // (hand-over day, days of supply, input order): the supply as handed over, never clipped.
    let mut supplies: Vec<(Day, i64, usize)> = members
        .iter()
        .map(|m| {
            let start = day(m.exp.start);
            (start, m.exp.end.map_or(start, day) - start, m.index)
        })
        .collect();
    if supplies.iter().any(|&(_, len, _)| len <= 0) {
        return None;
    }
    supplies.sort_unstable();
    let (from, to) = (course.start, course.end);
    let days = to - from;
    if days <= 0 {
        return None;
    }
    let mut runs_out = Day::MIN;
    let mut covered = 0;
    for (handed_over, len, _) in supplies {
        let start = handed_over.max(runs_out);
        runs_out = start + len;
        covered += (runs_out.min(to) - start.max(from)).max(0);
    }
    Some(Coverage {
        covered: covered.min(days),
        days,
    })
}

/// `x` rounded down to `decimals` places, after rounding away binary noise below 1e-6
/// (`0.58 × 100` is 57.999…: it must read 58).
fn round_down(x: f64, decimals: i32) -> f64 {
    let micro = (x * 1e6).round();
    (micro / 10f64.powi(6 - decimals)).floor() / 10f64.powi(decimals)
}

/// A proportion as a whole percentage for sentences and cards, the one formatter: rounded down
/// (`0.797` → `"79 %"`, `0.8` → `"80 %"`), so a value below a threshold never reads as it.
pub fn fmt_pct(ratio: f64) -> String {
    format!("{:.0} %", round_down(ratio, 2) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::model::Outcome;
    use crate::clinical::test_support::*;

    fn pdc_of(r: &Rec, as_of: &str) -> (Option<f64>, Option<bool>) {
        let a = r.assess(as_of);
        let t = trial(&a, "sertraline");
        (t.pdc, t.adherence_adequate)
    }

    #[test]
    fn percentages_round_down_without_binary_noise() {
        assert_eq!(fmt_pct(0.8), "80 %");
        assert_eq!(fmt_pct(0.797), "79 %");
        assert_eq!(fmt_pct(0.58), "58 %");
        assert_eq!(fmt_pct(1.0), "100 %");
        assert_eq!(fmt_pct(0.0), "0 %");
        assert_eq!(round_down(0.9375, 3), 0.937);
        assert_eq!(round_down(56.0 / 70.0, 3), 0.8);
    }

    #[test]
    fn exactly_min_pdc_is_adequate_one_day_less_is_not() {
        // 28 d, 14-day gap, 28 d: 56 / 70.
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 28, Some(100.0));
        r.disp("sertraline", dp("2025-02-01", 42), 28, Some(100.0));
        assert_eq!(pdc_of(&r, "2025-12-01"), (Some(0.8), Some(true)));
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 28, Some(100.0));
        r.disp("sertraline", dp("2025-02-01", 42), 27, Some(100.0));
        assert_eq!(pdc_of(&r, "2025-12-01"), (Some(0.797), Some(false)));
    }

    #[test]
    fn an_early_refill_is_shifted_not_counted_twice() {
        // Two 30-day supplies handed over the same day, then nothing: the second runs from day 30
        // to day 60, all of it inside the window (which ends at the latest supply end as handed
        // over, day 30): 30 / 30, never 60 / 30.
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        assert_eq!(pdc_of(&r, "2025-12-01"), (Some(1.0), Some(true)));
        // The stockpile covers a later gap: [0,30) [30,60) then a refill on day 44 starts on day 60.
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        r.disp("sertraline", dp("2025-02-01", 0), 30, Some(100.0));
        r.disp("sertraline", dp("2025-02-01", 44), 30, Some(100.0));
        // Window [0, 74): covered [0, 74) entirely.
        assert_eq!(pdc_of(&r, "2025-12-01"), (Some(1.0), Some(true)));
    }

    #[test]
    fn no_pdc_unless_only_dispenses_with_known_supply() {
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 90, Some(100.0));
        assert_eq!(pdc_of(&r, "2025-12-01"), (None, None));
        r.ms(
            "sertraline",
            d("2025-05-01"),
            Some(d("2025-06-01")),
            Some(100.0),
        );
        assert_eq!(pdc_of(&r, "2025-12-01"), (None, None));
        // No daysSupply: a zero-day dispense; its supply is unknown.
        let mut r = rec();
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        r.disp("sertraline", d("2025-03-03"), 0, Some(100.0));
        assert_eq!(pdc_of(&r, "2025-12-01"), (None, None));
    }

    #[test]
    fn the_window_stops_at_as_of() {
        // Running: supplies 30 d every 44 d, the last clipped by as_of.
        let mut r = rec();
        for k in 0..3 {
            r.disp("sertraline", dp("2025-02-01", 44 * k), 30, Some(100.0));
        }
        // as_of = day 98: window [0, 98), covered 30 + 30 + 10.
        let as_of = crate::dates::format_day(dp("2025-02-01", 98));
        let a = r.assess(&as_of);
        let t = trial(&a, "sertraline");
        assert_eq!(t.end, None);
        assert_eq!(t.pdc, Some(round_down(70.0 / 98.0, 3)));
        assert_eq!(t.adherence_adequate, Some(false));
        assert_eq!(t.outcome, Outcome::Ongoing);
    }

    #[test]
    fn a_non_adherent_trial_is_never_failed() {
        let mut r = rec();
        for k in 0..4 {
            r.disp("sertraline", dp("2025-02-01", 44 * k), 30, Some(100.0));
        }
        r.phq9(d("2025-01-25"), 20);
        r.phq9(d("2025-06-01"), 19);
        let a = r.assess("2025-12-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.adherence_adequate, Some(false));
        assert_eq!(t.outcome, Outcome::Inadequate);
        let f = a
            .flags
            .iter()
            .find(|f| f.code == crate::clinical::FlagCode::PossibleNonadherence)
            .expect("flag");
        assert_eq!(f.evidence.len(), 4);
        assert!(f.detail.contains("covered 74 % of days"), "{}", f.detail);
    }
}
