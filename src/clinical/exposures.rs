//! Exposures on the clock (clinical-rules §2): ignore what starts after `as_of`, run open exposures
//! until `as_of`, clip ends after `as_of` to `as_of`.
//!
//! Decisions where the contract is silent:
//! - An exposure whose ingredient the knowledge base does not know is ignored (the reader only maps
//!   knowledge-base ingredients, so this is a guard, not a rule).
//! - An end before the start (a data error the reader reports) is treated as a zero-length exposure
//!   on its start day: it still counts as evidence, it adds no days.
//! - Days are handled as Julian day numbers; a period `[start, end)` lasts `end − start` days, so a
//!   gap is `next start − previous end` and two exposures that touch have a gap of 0.

use std::cmp::Ordering;

use time::Date;

use crate::fhir::record::{Exposure, PatientRecord};
use crate::knowledge::{DrugClass, DrugRole, Ingredient, KnowledgeBase};

/// Protects a bipolar patient from an antidepressant-induced switch: a mood stabiliser or an
/// antipsychotic augmentation agent (the patient-view bipolar card and the order hooks' bipolar rule).
pub fn protects_against_switch(i: &Ingredient) -> bool {
    i.mood_stabiliser || (i.class == DrugClass::Antipsychotic && i.role == DrugRole::Augmentation)
}

/// Is the patient on such an agent as of `as_of` (running, or stopped within `max_gap_days`)?
pub fn on_mood_stabiliser(record: &PatientRecord, kb: &KnowledgeBase, as_of: time::Date) -> bool {
    let gap = kb.params().max_gap_days;
    record.exposures.iter().any(|e| {
        kb.ingredient(&e.ingredient)
            .is_some_and(protects_against_switch)
            && e.start <= as_of
            && e.end
                .is_none_or(|end| crate::dates::days_between(end, as_of) <= gap)
    })
}

/// A calendar day as a Julian day number.
pub type Day = i64;

pub fn day(d: Date) -> Day {
    i64::from(d.to_julian_day())
}

pub fn date(d: Day) -> Date {
    let jd = d.clamp(
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    Date::from_julian_day(jd as i32).unwrap_or(Date::MIN)
}

/// One exposure with its ingredient row and its clock-applied period.
#[derive(Debug, Clone, Copy)]
pub struct Clipped<'a> {
    pub exp: &'a Exposure,
    pub ing: &'a Ingredient,
    pub start: Day,
    /// Clipped to `as_of`; open exposures end at `as_of`.
    pub end: Day,
    /// Position in the input: the last tie-breaker of [`chronological`], reached only by exposures
    /// of one resource (a combination product, several dosage entries), whose relative order no
    /// rewriting of the Bundle changes.
    pub index: usize,
}

/// The one order of exposures (clinical-rules §3 "Order of exposures"): start, end, strongest
/// `matched_by`, resource reference, then input position. Input order alone never decides, so
/// shuffling the Bundle or moving resources between prefetch keys cannot reorder a trial's
/// evidence or change its `matched_by`.
pub fn chronological(a: &Clipped<'_>, b: &Clipped<'_>) -> Ordering {
    a.start
        .cmp(&b.start)
        .then(a.end.cmp(&b.end))
        .then(a.exp.matched_by.cmp(&b.exp.matched_by))
        .then(a.exp.source.cmp(&b.exp.source))
        .then(a.index.cmp(&b.index))
}

/// Uninterrupted use of one ingredient: its exposures merged where they overlap or abut. A record
/// split in two contiguous ones, or one sent twice, is still one run, so the safety rules that read
/// runs (MAOI pairs, prior esketamine) give the same answer however the EHR cut the history.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub ing: &'a Ingredient,
    pub start: Day,
    /// Exclusive, as [`Clipped::end`]; a run of start-only records covers its start day.
    pub end: Day,
    /// The records merged into the run, in start order.
    pub sources: Vec<&'a str>,
}

/// Merge exposures into [`Run`]s per ingredient (sorted by ingredient, then start).
pub fn runs<'a>(exps: &[&Clipped<'a>]) -> Vec<Run<'a>> {
    let mut v: Vec<&Clipped<'a>> = exps.to_vec();
    v.sort_by(|a, b| a.ing.id.cmp(&b.ing.id).then(chronological(a, b)));
    let mut out: Vec<Run<'a>> = Vec::new();
    for c in v {
        let end = c.end.max(c.start + 1);
        match out.last_mut() {
            Some(r) if r.ing.id == c.ing.id && c.start <= r.end => {
                r.end = r.end.max(end);
                r.sources.push(&c.exp.source);
            }
            _ => out.push(Run {
                ing: c.ing,
                start: c.start,
                end,
                sources: vec![&c.exp.source],
            }),
        }
    }
    out
}

/// Apply the clock to every exposure of a known ingredient.
pub fn clip<'a>(exposures: &'a [Exposure], kb: &'a KnowledgeBase, as_of: Day) -> Vec<Clipped<'a>> {
    exposures
        .iter()
        .enumerate()
        .filter_map(|(index, exp)| {
            let start = day(exp.start);
            if start > as_of {
                return None;
            }
            let ing = kb.ingredient(&exp.ingredient)?;
            let end = exp.end.map(day).unwrap_or(as_of).min(as_of).max(start);
            Some(Clipped {
                exp,
                ing,
                start,
                end,
                index,
            })
        })
        .collect()
}
