//! Conditions on the clock and the current episode window (clinical-rules §3 "Episode window", §6).
//!
//! Decisions where the contract is silent:
//! - A Condition whose onset is after `as_of` is ignored everywhere (the clock rule of §1).
//! - "Active" = clinicalStatus active/recurrence/relapse/absent and verificationStatus not refuted.
//! - The episode condition is the active MDD Condition with the earliest known onset (ties: the
//!   smallest reference). When no active MDD Condition has an onset, the episode is the first active
//!   MDD Condition by reference, with a `null` onset, and every trial counts.
//! - A trial (or augmentation, or procedure) is in the episode when its effective end is on or after
//!   the onset day.

use crate::fhir::record::{ClinicalStatus, ConditionFact};
use crate::knowledge::ConditionCategory;

use super::exposures::{Day, date, day};
use super::model::Episode;

/// Known by `as_of`.
pub fn on_record(c: &ConditionFact, as_of: Day) -> bool {
    c.onset.is_none_or(|o| day(o) <= as_of)
}

/// Active, not refuted, known by `as_of`.
pub fn is_active(c: &ConditionFact, as_of: Day) -> bool {
    c.clinical_status == ClinicalStatus::Active && !c.refuted && on_record(c, as_of)
}

/// Active conditions carrying `cat`, sorted by reference.
pub fn active_with(
    conds: &[ConditionFact],
    cat: ConditionCategory,
    as_of: Day,
) -> Vec<&ConditionFact> {
    let mut v: Vec<&ConditionFact> = conds
        .iter()
        .filter(|c| c.categories.contains(&cat) && is_active(c, as_of))
        .collect();
    v.sort_by(|a, b| a.reference.cmp(&b.reference));
    v
}

/// Bipolar-spectrum conditions: any clinical status, not refuted (§7 `bipolar-spectrum`, §6).
pub fn bipolar(conds: &[ConditionFact], as_of: Day) -> Vec<&ConditionFact> {
    let mut v: Vec<&ConditionFact> = conds
        .iter()
        .filter(|c| {
            c.categories.contains(&ConditionCategory::Bipolar) && !c.refuted && on_record(c, as_of)
        })
        .collect();
    v.sort_by(|a, b| a.reference.cmp(&b.reference));
    v
}

/// The current episode: condition reference and onset day.
#[derive(Debug, Clone)]
pub struct EpisodeWindow<'a> {
    pub condition: &'a ConditionFact,
    pub onset: Option<Day>,
}

impl EpisodeWindow<'_> {
    pub fn output(&self) -> Episode {
        Episode {
            condition: self.condition.reference.clone(),
            onset: self.onset.map(date),
        }
    }
}

/// The episode of the earliest active MDD condition, if any.
pub fn episode(conds: &[ConditionFact], as_of: Day) -> Option<EpisodeWindow<'_>> {
    let mdd = active_with(conds, ConditionCategory::Mdd, as_of);
    let with_onset = mdd
        .iter()
        .filter_map(|c| c.onset.map(|o| (day(o), *c)))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.reference.cmp(&b.1.reference)));
    match with_onset {
        Some((onset, c)) => Some(EpisodeWindow {
            condition: c,
            onset: Some(onset),
        }),
        None => mdd.first().map(|c| EpisodeWindow {
            condition: c,
            onset: None,
        }),
    }
}

/// Onset of the window (None = unbounded).
pub fn window_onset(ep: Option<&EpisodeWindow<'_>>) -> Option<Day> {
    ep.and_then(|e| e.onset)
}

/// Something ending on `end` overlaps the episode window starting at `onset`.
pub fn in_window(onset: Option<Day>, end: Day) -> bool {
    onset.is_none_or(|o| end >= o)
}

#[cfg(test)]
mod tests {
    use crate::clinical::test_support::*;
    use crate::knowledge::ConditionCategory;

    #[test]
    fn only_trials_overlapping_the_episode_count() {
        let mut r = rec();
        r.mdd("2024-06-01", "F331");
        r.ms(
            "citalopram",
            d("2023-01-01"),
            Some(d("2023-06-01")),
            Some(20.0),
        );
        r.ms(
            "sertraline",
            d("2024-03-01"),
            Some(d("2024-06-01")),
            Some(100.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(a.trials.len(), 1);
        assert_eq!(a.trials[0].ingredient, "sertraline");
        let ep = a.episode.expect("episode");
        assert_eq!(ep.onset, Some(d("2024-06-01")));
    }

    #[test]
    fn earliest_active_mdd_is_the_episode_and_remission_does_not_open_one() {
        let mut r = rec();
        r.cond(&[ConditionCategory::MddRemission], Some(d("2020-01-01")));
        r.mdd("2024-06-01", "F331");
        let c = r.mdd("2024-02-01", "F332");
        c.clinical_status = crate::fhir::record::ClinicalStatus::Inactive;
        r.mdd("2024-03-01", "F33.9");
        let a = r.assess("2025-01-01");
        assert_eq!(a.episode.expect("episode").onset, Some(d("2024-03-01")));
    }

    #[test]
    fn no_known_onset_counts_every_trial() {
        let mut r = rec();
        r.cond(&[ConditionCategory::Mdd], None);
        r.ms(
            "citalopram",
            d("2015-01-01"),
            Some(d("2015-06-01")),
            Some(20.0),
        );
        let a = r.assess("2025-01-01");
        assert_eq!(a.trials.len(), 1);
        assert_eq!(a.episode.expect("episode").onset, None);
    }
}
