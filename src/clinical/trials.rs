//! Courses of one ingredient (clinical-rules §3): exposures merged when the gap is ≤ `max_gap_days`,
//! a per-day dose history (the higher dose on overlapping days, never the sum; gap days carry no
//! dose; unknown days filled from the nearest earlier known exposure, else the nearest later one),
//! `max_daily_dose_mg` (held ≥ `dose_hold_days`), days at a dose, and `ended`.
//!
//! The same machinery serves antidepressant trials, combinations and augmentation agents.
//!
//! Decisions where the contract is silent:
//! - The dose history is computed by a sweep over the exposures' boundaries (no per-day vectors).
//! - The days between the end of the last supply and `as_of` of a trial that has not ended belong to
//!   the trial (it "runs until `as_of`") but carry no dose, like gap days: they lengthen the trial
//!   and its follow-up window, never `weeks_at_adequate_dose`.
//! - "Total weeks" (used for `duration_adequate` when the dose is unknown, and for the
//!   `subtherapeutic-dose` flag) is the trial's length: effective end − start, gaps included.
//! - The "last exposure" deciding `ended` is the one with the latest end, then the last in the
//!   order of exposures ([`chronological`]).
//! - Filling an unknown dose is recorded in the trial's `assumptions`.

use std::cmp::Ordering;

use crate::fhir::record::{MatchedBy, SourceKind};
use crate::knowledge::{DrugRole, Ingredient, Params};

use super::exposures::{Clipped, Day, chronological, date};

/// One period of constant daily dose (`None` only when the whole course has no known dose).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seg {
    pub start: Day,
    pub end: Day,
    pub dose: Option<f64>,
}

impl Seg {
    pub fn days(&self) -> i64 {
        self.end - self.start
    }
}

/// A merged run of exposures of one ingredient.
#[derive(Debug, Clone)]
pub struct Course<'a> {
    pub ing: &'a Ingredient,
    /// Sorted by [`chronological`].
    pub members: Vec<&'a Clipped<'a>>,
    pub start: Day,
    /// End of the last supply (max member end), or the end of a slice.
    pub end: Day,
    pub ended: bool,
    /// `end` when ended, else `as_of`.
    pub eff_end: Day,
    /// Start of the whole course this one was sliced from (= `start` unless sliced): a combination
    /// drug that outlives its base keeps the day it was added (§3: the earlier-started one becomes
    /// the trial).
    pub first_start: Day,
    /// Dose history: gaps omitted, adjacent equal doses merged.
    pub segs: Vec<Seg>,
    /// The dose history before unknown doses were filled (a slice fills from its own days only).
    pub raw: Vec<Seg>,
    /// Assumptions made while building the dose history.
    pub notes: Vec<String>,
}

impl<'a> Course<'a> {
    pub fn dose_known(&self) -> bool {
        self.segs.iter().any(|s| s.dose.is_some())
    }

    /// Length in days (effective end − start).
    pub fn length_days(&self) -> i64 {
        self.eff_end - self.start
    }

    /// Days with a known daily dose ≥ `mg`.
    pub fn days_at_or_above(&self, mg: f64) -> i64 {
        self.segs
            .iter()
            .filter(|s| s.dose.is_some_and(|d| d >= mg))
            .map(Seg::days)
            .sum()
    }

    /// Days with any known dose.
    pub fn days_with_known_dose(&self) -> i64 {
        self.segs
            .iter()
            .filter(|s| s.dose.is_some())
            .map(Seg::days)
            .sum()
    }

    /// The highest D held ≥ `hold_days` days (not necessarily consecutive); else the highest dose.
    pub fn max_daily_dose(&self, hold_days: i64) -> Option<f64> {
        let mut doses: Vec<(f64, i64)> = self
            .segs
            .iter()
            .filter_map(|s| s.dose.map(|d| (d, s.days())))
            .collect();
        if doses.is_empty() {
            return None;
        }
        doses.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut held = 0;
        for &(d, days) in &doses {
            held += days;
            if held >= hold_days {
                return Some(d);
            }
        }
        Some(doses[0].0)
    }

    /// The dose of the latest dose period (the dose the patient is on now for a running course).
    pub fn latest_dose(&self) -> Option<f64> {
        self.segs.iter().rev().find_map(|s| s.dose)
    }

    /// The part of this course from `from` to `to`, with the given `ended`. Its unknown doses are
    /// filled from its own days only (§3: a slice's dose counts from its start, never from before).
    pub fn slice(&self, from: Day, to: Day, ended: bool, as_of: Day) -> Course<'a> {
        let raw: Vec<Seg> = self
            .raw
            .iter()
            .filter(|s| {
                (s.end > from && s.start < to) || (s.days() == 0 && s.start >= from && s.start < to)
            })
            .map(|s| Seg {
                start: s.start.max(from),
                end: s.end.min(to),
                dose: s.dose,
            })
            .filter(|s| s.end > s.start || s.dose.is_some())
            .collect();
        let (segs, notes) = fill(&raw);
        let members = self
            .members
            .iter()
            .copied()
            .filter(|m| {
                (m.start < to && m.end > from)
                    || (m.start == m.end && m.start >= from && m.start < to.max(from + 1))
            })
            .collect();
        Course {
            ing: self.ing,
            members,
            start: from,
            end: to,
            ended,
            eff_end: if ended { to } else { as_of },
            first_start: self.first_start,
            segs,
            raw,
            notes,
        }
    }

    /// How the trial's medication was mapped (`matched_by`, clinical-rules §3 "Order of exposures"):
    /// the strongest method among the members in force on the course's first day. Reading the
    /// first day rather than the first member keeps the answer when a statement is split in two
    /// or two records start the same day.
    pub fn matched_by(&self) -> Option<MatchedBy> {
        let first_day = self.start;
        self.members
            .iter()
            .filter(|m| m.start <= first_day && (m.end > first_day || m.start == first_day))
            .map(|m| m.exp.matched_by)
            .min()
            .or_else(|| self.members.iter().map(|m| m.exp.matched_by).min())
    }

    /// FHIR references of the member exposures, chronological, without duplicates.
    pub fn evidence(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.members {
            if !out.iter().any(|r| r == &m.exp.source) {
                out.push(m.exp.source.clone());
            }
        }
        out
    }

    /// Exposure assumptions then dose-history assumptions, without duplicates.
    pub fn assumptions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self
            .members
            .iter()
            .flat_map(|m| m.exp.assumptions.iter())
            .chain(self.notes.iter())
        {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    /// Some member was stopped for an adverse effect (§5 rule 1).
    pub fn adverse_stop(&self) -> bool {
        self.members.iter().any(|m| m.exp.adverse_stop)
    }
}

/// Build the courses of every ingredient with the given role, sorted by (start, ingredient).
pub fn build_courses<'a>(
    clipped: &'a [Clipped<'a>],
    role: DrugRole,
    params: &Params,
    as_of: Day,
) -> Vec<Course<'a>> {
    let mut items: Vec<&'a Clipped<'a>> = clipped.iter().filter(|c| c.ing.role == role).collect();
    items.sort_by(|a, b| a.ing.id.cmp(&b.ing.id).then(chronological(a, b)));
    let mut courses = Vec::new();
    let mut group: Vec<&'a Clipped<'a>> = Vec::new();
    let mut group_end = Day::MIN;
    for item in items {
        let same = group.first().is_some_and(|g| g.ing.id == item.ing.id);
        if same && item.start - group_end <= params.max_gap_days {
            group_end = group_end.max(item.end);
            group.push(item);
        } else {
            if !group.is_empty() {
                courses.push(course_of(std::mem::take(&mut group), params, as_of));
            }
            group_end = item.end;
            group.push(item);
        }
    }
    if !group.is_empty() {
        courses.push(course_of(group, params, as_of));
    }
    courses.sort_by(|a, b| a.start.cmp(&b.start).then(a.ing.id.cmp(&b.ing.id)));
    courses
}

/// One course from a non-empty group of exposures of one ingredient, sorted by start.
fn course_of<'a>(members: Vec<&'a Clipped<'a>>, params: &Params, as_of: Day) -> Course<'a> {
    let start = members.iter().map(|m| m.start).min().unwrap_or(as_of);
    let end = members.iter().map(|m| m.end).max().unwrap_or(start);
    let last = members
        .iter()
        .max_by(|a, b| a.end.cmp(&b.end).then(chronological(a, b)));
    let stopped = last.is_some_and(|m| {
        matches!(
            m.exp.kind,
            SourceKind::MedicationStatement | SourceKind::MedicationRequest
        ) && matches!(m.exp.status.as_str(), "completed" | "stopped")
    });
    let ended = stopped || as_of - end > params.max_gap_days;
    let raw = dose_history(&members);
    let (segs, notes) = fill(&raw);
    Course {
        ing: members[0].ing,
        members,
        start,
        end,
        ended,
        eff_end: if ended { end } else { as_of },
        first_start: start,
        segs,
        raw,
        notes,
    }
}

/// Sweep over the exposures' boundaries: for each elementary period, the highest known dose of the
/// exposures covering it (unknown when all covering exposures are unknown; no segment when none).
/// A zero-length exposure (end = start, §3 "Zero-length exposures") covers no day but keeps its
/// dose: it becomes a segment of 0 days at its place in the history, so it counts as a known dose
/// (the trial's highest dose when none is held `dose_hold_days`, the nearest known dose for filling)
/// and adds no day to any count.
fn dose_history(members: &[&Clipped<'_>]) -> Vec<Seg> {
    let mut bounds: Vec<Day> = members.iter().flat_map(|m| [m.start, m.end]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut segs: Vec<Seg> = Vec::new();
    for (k, &a) in bounds.iter().enumerate() {
        let instant = members
            .iter()
            .filter(|m| m.start == a && m.end == a)
            .filter_map(|m| m.exp.daily_dose_mg)
            .fold(None, |acc: Option<f64>, d| {
                Some(acc.map_or(d, |x| x.max(d)))
            });
        if let Some(dose) = instant {
            push_seg(
                &mut segs,
                Seg {
                    start: a,
                    end: a,
                    dose: Some(dose),
                },
            );
        }
        let Some(&b) = bounds.get(k + 1) else {
            break;
        };
        let mut covered = false;
        let mut dose: Option<f64> = None;
        for m in members.iter().filter(|m| m.start <= a && m.end > a) {
            covered = true;
            if let Some(d) = m.exp.daily_dose_mg {
                dose = Some(dose.map_or(d, |x: f64| x.max(d)));
            }
        }
        if covered {
            push_seg(
                &mut segs,
                Seg {
                    start: a,
                    end: b,
                    dose,
                },
            );
        }
    }
    segs
}

/// Fill unknown doses from the nearest earlier known segment, else the nearest later one (§3), with
/// a note per filled period. A history with no known dose stays unknown.
fn fill(raw: &[Seg]) -> (Vec<Seg>, Vec<String>) {
    let mut segs = raw.to_vec();
    let mut notes = Vec::new();
    if segs.iter().any(|s| s.dose.is_some()) && segs.iter().any(|s| s.dose.is_none()) {
        let filled: Vec<Option<f64>> = (0..segs.len())
            .map(|i| {
                segs[i].dose.or_else(|| {
                    segs[..i]
                        .iter()
                        .rev()
                        .find_map(|s| s.dose)
                        .or_else(|| segs[i + 1..].iter().find_map(|s| s.dose))
                })
            })
            .collect();
        for (i, s) in segs.iter().enumerate() {
            if s.dose.is_none()
                && let Some(d) = filled[i]
            {
                let side = if segs[..i].iter().any(|s| s.dose.is_some()) {
                    "earlier"
                } else {
                    "later"
                };
                notes.push(format!(
                    "dose unknown from {} to {}: {} mg/day of the nearest {side} exposure with a known dose assumed",
                    crate::dates::format_day(date(s.start)),
                    crate::dates::format_day(date(s.end)),
                    fmt_mg(d),
                ));
            }
        }
        let mut merged: Vec<Seg> = Vec::with_capacity(segs.len());
        for (s, d) in segs.iter().zip(filled) {
            push_seg(&mut merged, Seg { dose: d, ..*s });
        }
        segs = merged;
    }
    (segs, notes)
}

fn push_seg(segs: &mut Vec<Seg>, s: Seg) {
    if let Some(last) = segs.last_mut()
        && last.end == s.start
        && same_dose(last.dose, s.dose)
    {
        last.end = s.end;
        return;
    }
    segs.push(s);
}

fn same_dose(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y) == Ordering::Equal,
        (None, None) => true,
        _ => false,
    }
}

/// A dose (or any small number) for sentences and cards, the one formatter: 4 significant digits,
/// trailing zeros dropped (`300`, `37.5`, `0.025` for liothyronine 25 µg, `0.0125`).
pub fn fmt_mg(d: f64) -> String {
    if !d.is_finite() || d == 0.0 {
        return format!("{d}");
    }
    let magnitude = d.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 9) as usize;
    let s = format!("{d:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Weeks rounded to one decimal for output (12.857 → 12.9).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::round1;
    use crate::clinical::model::{Assessment, Outcome};
    use crate::clinical::test_support::*;
    use crate::fhir::record::MatchedBy;

    /// The assessment of `r`, and of `r` with its exposures in reverse input order.
    fn both_orders(r: &Rec, as_of: &str) -> (Assessment, Assessment) {
        let mut reversed = rec();
        reversed.r = r.r.clone();
        reversed.r.exposures.reverse();
        (r.assess(as_of), reversed.assess(as_of))
    }

    /// Metamorphic `reorder_entries` (seed 2026): a statement mapped by text and a dispense mapped
    /// by product code, same start and end; `matched_by` followed the input order.
    #[test]
    fn reorder_entries_same_day_statement_and_dispense_keep_matched_by() {
        let mut r = rec();
        r.mdd("2025-01-01", "F331");
        r.ms(
            "sertraline",
            d("2025-02-01"),
            Some(dp("2025-02-01", 30)),
            Some(100.0),
        )
        .matched_by = MatchedBy::Text;
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        let (a, b) = both_orders(&r, "2025-06-01");
        assert_eq!(trial(&a, "sertraline").matched_by, "rxnorm-product");
        assert_eq!(trial(&b, "sertraline").matched_by, "rxnorm-product");
    }

    /// Metamorphic `hook_prefetch_vs_bundle` (seed 2026): two dispenses handed over the same day
    /// were cited in input order, so the prefetch and the Bundle gave different evidence lists
    /// (and card suggestion ids).
    #[test]
    fn hook_prefetch_vs_bundle_same_day_dispenses_cite_evidence_in_one_order() {
        let mut r = rec();
        r.mdd("2025-01-01", "F331");
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        r.disp("sertraline", d("2025-02-01"), 30, Some(100.0));
        r.disp("sertraline", d("2025-03-03"), 30, Some(100.0));
        let (a, b) = both_orders(&r, "2025-06-01");
        let expected = [
            "MedicationDispense/md2",
            "MedicationDispense/md3",
            "MedicationDispense/md4",
        ];
        assert_eq!(trial(&a, "sertraline").evidence, expected);
        assert_eq!(trial(&b, "sertraline").evidence, expected);
    }

    /// Metamorphic `split_statement` (seed 2026): splitting a text-mapped statement into two
    /// contiguous ones put its first half before a shorter, code-mapped dispense of the same start,
    /// and `matched_by` changed.
    #[test]
    fn split_statement_keeps_matched_by() {
        let whole = |split: bool| {
            let mut r = rec();
            r.mdd("2025-01-01", "F331");
            let start = d("2025-02-01");
            if split {
                r.ms("sertraline", start, Some(dp("2025-02-01", 20)), Some(100.0))
                    .matched_by = MatchedBy::Text;
                r.ms(
                    "sertraline",
                    dp("2025-02-01", 20),
                    Some(dp("2025-02-01", 90)),
                    Some(100.0),
                )
                .matched_by = MatchedBy::Text;
            } else {
                r.ms("sertraline", start, Some(dp("2025-02-01", 90)), Some(100.0))
                    .matched_by = MatchedBy::Text;
            }
            r.disp("sertraline", start, 30, Some(100.0));
            r.assess("2025-06-01")
        };
        assert_eq!(
            trial(&whole(false), "sertraline").matched_by,
            "rxnorm-product"
        );
        assert_eq!(
            trial(&whole(true), "sertraline").matched_by,
            "rxnorm-product"
        );
    }

    #[test]
    fn period_of_42_days_is_6_weeks_at_minimum_dose() {
        let min = min_dose("sertraline");
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-02-12")),
            Some(min),
        );
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.weeks_at_adequate_dose, 6.0);
        assert_eq!(t.dose_adequate, Some(true));
        assert!(t.duration_adequate);
        assert_eq!(t.end, Some(d("2025-02-12")));
    }

    #[test]
    fn forty_one_days_is_not_adequate_duration() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-02-11")),
            Some(min_dose("sertraline")),
        );
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert!(!t.duration_adequate);
        assert_eq!(t.outcome, Outcome::Inadequate);
    }

    #[test]
    fn one_mg_below_minimum_is_not_adequate_dose() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-03-01")),
            Some(min_dose("sertraline") - 1.0),
        );
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.dose_adequate, Some(false));
        assert_eq!(t.weeks_at_adequate_dose, 0.0);
        assert!(!t.duration_adequate);
    }

    #[test]
    fn gap_of_14_days_merges_15_does_not() {
        for (gap, n) in [(14, 1), (15, 2)] {
            let mut r = rec();
            r.disp("sertraline", d("2025-01-01"), 30, Some(100.0));
            r.disp("sertraline", dp("2025-01-01", 30 + gap), 30, Some(100.0));
            let a = r.assess("2025-06-01");
            assert_eq!(a.trials.len(), n, "gap {gap}");
        }
    }

    #[test]
    fn overlapping_exposures_take_the_higher_dose_not_the_sum() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-03-01")),
            Some(100.0),
        );
        r.disp("sertraline", d("2025-01-15"), 30, Some(50.0));
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.max_daily_dose_mg, Some(100.0));
        assert_eq!(t.dose_history.len(), 1);
        assert_eq!(t.evidence.len(), 2);
    }

    #[test]
    fn unknown_dose_takes_nearest_earlier_known_else_later() {
        let mut r = rec();
        r.disp("sertraline", d("2025-01-01"), 30, Some(150.0));
        r.disp("sertraline", d("2025-01-31"), 30, None);
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.dose_history.len(), 1);
        assert_eq!(t.dose_history[0].daily_dose_mg, Some(150.0));
        assert!(t.assumptions.iter().any(|s| s.contains("earlier")));

        let mut r = rec();
        r.disp("sertraline", d("2025-01-01"), 30, None);
        r.disp("sertraline", d("2025-01-31"), 30, Some(75.0));
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.dose_history[0].daily_dose_mg, Some(75.0));
        assert!(t.assumptions.iter().any(|s| s.contains("later")));
    }

    #[test]
    fn all_unknown_dose_uses_total_weeks() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), Some(d("2025-02-12")), None);
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.max_daily_dose_mg, None);
        assert_eq!(t.dose_adequate, None);
        assert!(t.duration_adequate);
        assert_eq!(t.outcome, Outcome::Indeterminate);
    }

    #[test]
    fn max_dose_is_the_dose_held_14_days() {
        for (days_high, expect) in [(13, 100.0), (14, 200.0)] {
            let mut r = rec();
            r.ms(
                "sertraline",
                d("2025-01-01"),
                Some(d("2025-03-01")),
                Some(100.0),
            );
            r.ms(
                "sertraline",
                d("2025-03-01"),
                Some(dp("2025-03-01", days_high)),
                Some(200.0),
            );
            let a = r.assess("2025-06-01");
            assert_eq!(
                trial(&a, "sertraline").max_daily_dose_mg,
                Some(expect),
                "{days_high} days"
            );
        }
        // Never held 14 days at all: the highest dose.
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-01-06")),
            Some(50.0),
        );
        r.ms(
            "sertraline",
            d("2025-01-06"),
            Some(d("2025-01-11")),
            Some(100.0),
        );
        assert_eq!(
            trial(&r.assess("2025-06-01"), "sertraline").max_daily_dose_mg,
            Some(100.0)
        );
    }

    #[test]
    fn weeks_round_to_one_decimal() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(dp("2025-01-01", 90)),
            Some(100.0),
        );
        assert_eq!(
            trial(&r.assess("2025-06-01"), "sertraline").weeks_at_adequate_dose,
            12.9
        );
    }

    #[test]
    fn dispense_only_trial_ends_more_than_max_gap_before_as_of() {
        let mut r = rec();
        r.disp("sertraline", d("2025-01-01"), 30, Some(100.0)); // ends 2025-01-31
        let a = r.assess("2025-02-14"); // 14 days later: still running
        assert_eq!(trial(&a, "sertraline").end, None);
        let a = r.assess("2025-02-15"); // 15 days: ended
        assert_eq!(trial(&a, "sertraline").end, Some(d("2025-01-31")));
    }

    #[test]
    fn not_ended_trial_runs_until_as_of() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-03-01")),
            Some(100.0),
        )
        .status = "active".into();
        r.phq9(d("2025-01-01"), 20);
        r.phq9(d("2025-03-05"), 8); // after the supply's end, before as_of
        let a = r.assess("2025-03-10");
        let t = trial(&a, "sertraline");
        assert_eq!(t.end, None);
        assert_eq!(t.measurement, crate::clinical::model::Measurement::Response);
    }

    #[test]
    fn clock_ignores_later_starts_and_clips_ends() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-12-31")),
            Some(100.0),
        )
        .status = "active".into();
        r.ms("venlafaxine", d("2025-07-01"), None, Some(150.0));
        let a = r.assess("2025-03-01");
        assert_eq!(a.trials.len(), 1);
        let t = trial(&a, "sertraline");
        assert_eq!(t.end, None);
        assert_eq!(t.dose_history[0].end, d("2025-03-01"));
        assert_eq!(t.weeks_at_adequate_dose, 8.4);
    }

    #[test]
    fn zero_length_exposures_keep_their_dose() {
        // Only zero-length statements: the highest dose, 0 weeks, insufficient duration.
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-01-01")),
            Some(50.0),
        );
        r.ms(
            "sertraline",
            d("2025-01-10"),
            Some(d("2025-01-10")),
            Some(150.0),
        );
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.max_daily_dose_mg, Some(150.0));
        assert_eq!(t.weeks_at_adequate_dose, 0.0);
        assert_eq!(t.dose_adequate, Some(true));
        assert_eq!(t.outcome, Outcome::Inadequate);
        // Inside a course of unknown dose, it is the nearest known dose for filling; it adds no day.
        let mut r = rec();
        r.disp("sertraline", d("2025-01-01"), 60, None);
        r.ms(
            "sertraline",
            d("2025-01-20"),
            Some(d("2025-01-20")),
            Some(100.0),
        );
        let a = r.assess("2025-06-01");
        let t = trial(&a, "sertraline");
        assert_eq!(t.max_daily_dose_mg, Some(100.0));
        assert_eq!(t.weeks_at_adequate_dose, round1(60.0 / 7.0));
        // Under a longer exposure, a higher zero-length dose is never "held".
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-03-01")),
            Some(100.0),
        );
        r.ms(
            "sertraline",
            d("2025-02-01"),
            Some(d("2025-02-01")),
            Some(200.0),
        );
        assert_eq!(
            trial(&r.assess("2025-06-01"), "sertraline").max_daily_dose_mg,
            Some(100.0)
        );
    }

    #[test]
    fn doses_keep_their_significant_digits() {
        use super::fmt_mg;
        assert_eq!(fmt_mg(0.025), "0.025");
        assert_eq!(fmt_mg(0.0125), "0.0125");
        assert_eq!(fmt_mg(37.5), "37.5");
        assert_eq!(fmt_mg(300.0), "300");
        assert_eq!(fmt_mg(112.5), "112.5");
        assert_eq!(fmt_mg(2.0 / 3.0), "0.6667");
    }

    #[test]
    fn stopped_statement_ends_the_trial() {
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2025-01-01"),
            Some(d("2025-02-01")),
            Some(100.0),
        )
        .status = "stopped".into();
        let a = r.assess("2025-02-05");
        assert_eq!(trial(&a, "sertraline").end, Some(d("2025-02-01")));
    }
}
