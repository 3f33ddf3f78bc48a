//! The measurements and sessions the Assessment carries beside the trials (clinical-rules §13
//! `phq9`, `procedures`): the PHQ-9 totals that count (one per day, §4) and the ECT / TMS /
//! esketamine / psychotherapy Procedures, over the period the listed trials and the episode cover, so that a
//! picture of the episode (src/timeline) needs nothing but the Assessment.

use time::Date;

use crate::fhir::record::ProcedureFact;
use crate::knowledge::{NamedBand, Params};

use super::exposures::{Day, date, day};
use super::measurement::Scores;
use super::model::{Augmentation, Phq9Score, Phq9Series, ProcedureSession, SeverityBand, Trial};

/// The first day the series covers: the episode onset, or a baseline window before the first
/// listed trial, or the first augmentation, whichever is earliest; `None` (everything) when there
/// is neither an onset nor a treatment.
pub fn series_start(
    onset: Option<Day>,
    trials: &[Trial],
    augmentations: &[Augmentation],
    p: &Params,
) -> Option<Day> {
    let first_trial = trials
        .iter()
        .map(|t| day(t.start) - p.baseline_window_before_days);
    let first_aug = augmentations.iter().map(|a| day(a.start));
    onset.into_iter().chain(first_trial).chain(first_aug).min()
}

/// PHQ-9 totals from `from` (inclusive) to `as_of`, the last of each day, labelled by severity.
pub fn phq9_series(scores: &Scores<'_>, from: Option<Day>, bands: &[NamedBand]) -> Phq9Series {
    let mut out: Vec<Phq9Score> = Vec::new();
    // `sorted` puts the score that counts last within its day.
    for s in scores
        .sorted
        .iter()
        .filter(|s| from.is_none_or(|f| s.day >= f))
    {
        let score = Phq9Score {
            date: date(s.day),
            value: s.value,
            severity: severity_name(s.value, bands),
            evidence: s.fact.reference.clone(),
        };
        match out.last_mut() {
            Some(last) if last.date == score.date => *last = score,
            _ => out.push(score),
        }
    }
    Phq9Series {
        scores: out,
        severity_bands: bands
            .iter()
            .map(|b| SeverityBand {
                max: b.max,
                name: b.name.clone(),
            })
            .collect(),
    }
}

/// The band a score falls in; a value above the last band (not a valid PHQ-9) takes the last.
fn severity_name(value: i64, bands: &[NamedBand]) -> String {
    bands
        .iter()
        .find(|b| value as f64 <= b.max)
        .or(bands.last())
        .map(|b| b.name.clone())
        .unwrap_or_default()
}

/// Procedures from `from` to `as_of`, by date.
pub fn sessions(procs: &[ProcedureFact], from: Option<Day>, as_of: Date) -> Vec<ProcedureSession> {
    let mut v: Vec<ProcedureSession> = procs
        .iter()
        .filter(|f| f.date <= as_of && from.is_none_or(|d| day(f.date) >= d))
        .map(|f| ProcedureSession {
            kind: f.kind,
            date: f.date,
            evidence: f.reference.clone(),
        })
        .collect();
    v.sort_by(|a, b| (a.date, &a.evidence).cmp(&(b.date, &b.evidence)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::*;

    #[test]
    fn scores_are_labelled_by_the_knowledge_base_bands() {
        let bands = &kb().staging().phq9_severity;
        let last = bands.last().unwrap();
        assert_eq!(severity_name(0, bands), bands[0].name);
        assert_eq!(severity_name(bands[0].max as i64, bands), bands[0].name);
        assert_eq!(severity_name(bands[0].max as i64 + 1, bands), bands[1].name);
        assert_eq!(severity_name(last.max as i64 + 5, bands), last.name);
    }
}
