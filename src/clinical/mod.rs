//! The assessment engine: exposures → trials → measurement → outcomes → status, flags, staging,
//! recommendations. Pure functions: no I/O, no clock, no environment. `as_of` comes in.
//!
//! Pipeline (clinical-rules §2–§9; each step a module):
//! 1. [`exposures`]: the clock (§2): drop what starts after `as_of`, clip ends to `as_of`.
//! 2. [`trials`]: merge exposures of one ingredient into courses, dose history, `ended` (§3).
//! 3. [`combination`]: combination vs cross-taper switch (§3).
//! 4. [`augmentation`]: augmentation agents and combinations, adequacy, outcome (§3, §4).
//! 5. [`episode`]: the episode window; only trials (and augmentations) reaching it count (§3).
//! 6. [`measurement`], [`adherence`], [`outcome`]: baseline / follow-up, response, adherence from
//!    dispenses (PDC), trial outcome (§3, §4, §5).
//! 7. [`status`], [`flags`], [`staging`], [`recommendations`] (§6–§9).
//! 8. [`series`]: the PHQ-9 totals and neuromodulation sessions of the period (§13), for pictures.
//!
//! The output lists only the trials and augmentations of the episode window (all of them when the
//! onset is unknown or there is no episode): the list is what counts, and what cards show.

pub mod adherence;
pub mod augmentation;
pub mod combination;
pub mod episode;
pub mod exposures;
pub mod flags;
pub mod interaction;
pub mod measurement;
pub mod model;
pub mod orders;
pub mod outcome;
pub mod recommendations;
pub mod series;
pub mod staging;
pub mod status;
pub mod trials;

#[cfg(test)]
pub(crate) mod test_support;

use std::collections::BTreeSet;

use time::Date;

use crate::fhir::record::PatientRecord;
use crate::knowledge::{DrugRole, KnowledgeBase, ObservationKind};
pub use model::*;

use exposures::day;

/// Assess one patient as of `as_of` (clinical-rules §2–§9, output §13).
pub fn assess(
    record: &PatientRecord,
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Assessment {
    let p = kb.params();
    let today = day(as_of);

    // §2–§3: exposures, courses, combinations.
    let clipped = exposures::clip(&record.exposures, kb, today);
    let ad = trials::build_courses(&clipped, DrugRole::Antidepressant, p, today);
    let agents = trials::build_courses(&clipped, DrugRole::Augmentation, p, today);
    let (trial_courses, combos) = combination::separate(ad, p, today);

    // §3 episode window.
    let ep = episode::episode(&record.conditions, today);
    let onset = episode::window_onset(ep.as_ref());
    let active_mdd = ep.is_some();

    // §4 scores.
    let phq9 = measurement::Scores::of_kind(&record.scores, ObservationKind::Phq9Total, today);
    let item9 = measurement::Scores::of_kind(&record.scores, ObservationKind::Phq9Item9, today);

    // §3 augmentations, against every trial, then kept when in the episode window.
    let augs: Vec<_> = augmentation::assess_augmentations(agents, combos, &trial_courses, &phq9, p)
        .into_iter()
        .filter(|a| episode::in_window(onset, a.course.eff_end))
        .collect();

    // §4–§5 trials of the episode window.
    let trials: Vec<_> = trial_courses
        .into_iter()
        .filter(|c| episode::in_window(onset, c.eff_end))
        .map(|c| outcome::assess_trial(c, &phq9, p))
        .collect();
    let failed_adequate_trials = outcome::failed_ingredients(&trials).len() as u32;

    // §6 status.
    let bipolar = !episode::bipolar(&record.conditions, today).is_empty();
    let status = status::status(active_mdd, bipolar, &trials, p);

    // §7 flags.
    let flags = flags::flags(&flags::FlagInput {
        conditions: &record.conditions,
        active_mdd,
        onset,
        item9: &item9,
        trials: &trials,
        exposures: &clipped,
        procedures: &record.procedures,
        params: p,
        as_of: today,
    });
    let flag_codes: BTreeSet<FlagCode> = flags.iter().map(|f| f.code).collect();

    // §8 staging.
    let (staging, facts) = staging::staging(&staging::StagingInput {
        trials: &trials,
        augmentations: &augs,
        conditions: &record.conditions,
        procedures: &record.procedures,
        phq9: &phq9,
        active_mdd,
        onset,
        as_of: today,
        params: p,
        tables: kb.staging(),
    });

    // §9 recommendations.
    let recommendations = recommendations::recommendations(&recommendations::RecInput {
        status,
        flags: &flag_codes,
        trials: &trials,
        augmentations: &augs,
        failed_adequate_trials,
        staging: &staging,
        facts: &facts,
        site,
        params: p,
    });

    let mut data_issues = record.data_issues.clone();
    data_issues.sort_by(|a, b| {
        (&a.resource, &a.field, &a.problem).cmp(&(&b.resource, &b.field, &b.problem))
    });
    data_issues.dedup();

    let trials: Vec<Trial> = trials.into_iter().map(|t| t.trial).collect();
    let augmentations: Vec<Augmentation> = augs.into_iter().map(|a| a.aug).collect();
    let from = series::series_start(onset, &trials, &augmentations, p);

    Assessment {
        patient: record.patient.clone(),
        as_of,
        knowledge_base: KbVersion {
            version: kb.version().to_string(),
        },
        status,
        episode: ep.as_ref().map(|e| e.output()),
        trials,
        augmentations,
        failed_adequate_trials,
        staging,
        flags,
        recommendations,
        phq9: series::phq9_series(&phq9, from, &kb.staging().phq9_severity),
        procedures: series::sessions(&record.procedures, from, as_of),
        data_issues,
    }
}
