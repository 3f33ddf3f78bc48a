//! Flags (clinical-rules §7), each with the FHIR references that raised it and a `detail` sentence,
//! in the order of the table (the order of [`FlagCode`]).
//!
//! Decisions where the contract is silent:
//! - Flags about trials receive only the trials of the episode window (the caller filters).
//! - `possible-nonadherence` is one flag for every non-adherent trial of the window; its evidence is
//!   their dispenses, its detail each trial's PDC.
//! - `no-mdd-diagnosis` has no evidence (it is raised by an absence).
//! - A Condition in the bipolar category raises only `bipolar-spectrum`, never a `comorbid-*` flag
//!   (§7: cyclothymia raises only `bipolar-spectrum`).
//! - `suicide-risk` counts every item-9 score ≥ `suicide_item9_min` in `as_of − lookback … as_of`
//!   (both ends inclusive), not only the latest.
//! - `maoi-serotonergic-interaction` looks at single exposures (their own clipped ends, not the
//!   trial's), over the whole record (a safety finding is not limited to the episode), every
//!   knowledge-base ingredient included (interaction-only rows such as linezolid or tramadol), and
//!   never pairs an ingredient with itself. The pairs and washouts are [`super::interaction`]'s.
//! - `prior-psychotherapy`: completed psychotherapy procedures dated in the episode window (onset …
//!   `as_of`), like the procedure half of `prior-ect`; sessions are counted as distinct Procedures.
//! - `prior-ect` / `prior-tms` / `prior-esketamine`: completed procedures dated in the episode
//!   window (onset … `as_of`), and exposures of an ingredient that `counts_as_procedure` whose
//!   period reaches the episode window.

use std::collections::BTreeSet;

use crate::fhir::record::{ConditionFact, ProcedureFact};
use crate::knowledge::{ConditionCategory, Params, ProcedureKind};

use super::adherence::fmt_pct;
use super::episode::{active_with, bipolar, in_window};
use super::exposures::{Clipped, Day, Run, date, day, runs};
use super::measurement::Scores;
use super::model::{Flag, FlagCode, Outcome};
use super::outcome::AssessedTrial;
use super::trials::fmt_mg;

/// Everything the flags read.
pub struct FlagInput<'r, 'a> {
    pub conditions: &'a [ConditionFact],
    pub active_mdd: bool,
    pub onset: Option<Day>,
    pub item9: &'r Scores<'a>,
    /// Trials of the episode window.
    pub trials: &'r [AssessedTrial<'a>],
    pub exposures: &'r [Clipped<'a>],
    pub procedures: &'a [ProcedureFact],
    pub params: &'r Params,
    pub as_of: Day,
}

pub fn flags(input: &FlagInput<'_, '_>) -> Vec<Flag> {
    let FlagInput {
        conditions,
        active_mdd,
        as_of,
        params: p,
        ..
    } = *input;
    let mut out: Vec<Flag> = Vec::new();
    let mut push = |code: FlagCode, evidence: Vec<String>, detail: String| {
        let mut evidence = evidence;
        evidence.sort();
        evidence.dedup();
        out.push(Flag {
            code,
            evidence,
            detail,
        });
    };
    let refs = |v: &[&ConditionFact]| v.iter().map(|c| c.reference.clone()).collect::<Vec<_>>();
    let active =
        |cat: ConditionCategory| -> Vec<&ConditionFact> { active_with(conditions, cat, as_of) };

    let bip = bipolar(conditions, as_of);
    if !bip.is_empty() {
        push(
            FlagCode::BipolarSpectrum,
            refs(&bip),
            format!(
                "Bipolar-spectrum diagnosis on record ({}): TRD-of-MDD rules do not apply and antidepressant monotherapy is not recommended.",
                join(&refs(&bip))
            ),
        );
    }
    if !active_mdd {
        push(
            FlagCode::NoMddDiagnosis,
            Vec::new(),
            "No active major depressive disorder diagnosis on record: TRD cannot be assessed."
                .to_string(),
        );
    }
    let psy = active(ConditionCategory::PsychoticFeatures);
    if !psy.is_empty() {
        push(
            FlagCode::PsychoticFeatures,
            refs(&psy),
            format!(
                "Active depression with psychotic features ({}).",
                join(&refs(&psy))
            ),
        );
    }
    let cat = active(ConditionCategory::Catatonia);
    if !cat.is_empty() {
        push(
            FlagCode::Catatonia,
            refs(&cat),
            format!("Active catatonia ({}).", join(&refs(&cat))),
        );
    }

    // Suicide risk.
    let lo = as_of - p.suicide_item9_lookback_days;
    let high: Vec<_> = input
        .item9
        .in_range(lo, as_of)
        .filter(|s| s.value >= p.suicide_item9_min)
        .collect();
    let sr = active(ConditionCategory::SuicideRisk);
    if !high.is_empty() || !sr.is_empty() {
        let mut parts = Vec::new();
        if let Some(max) = high.iter().max_by_key(|s| (s.value, s.day)) {
            parts.push(format!(
                "PHQ-9 item 9 (thoughts of self-harm) scored {} on {} ({} score(s) ≥ {} in the last {} days)",
                max.value,
                crate::dates::format_day(date(max.day)),
                high.len(),
                p.suicide_item9_min,
                p.suicide_item9_lookback_days
            ));
        }
        if !sr.is_empty() {
            parts.push(format!(
                "active suicide-risk condition ({})",
                join(&refs(&sr))
            ));
        }
        let mut ev: Vec<String> = high.iter().map(|s| s.fact.reference.clone()).collect();
        ev.extend(refs(&sr));
        push(
            FlagCode::SuicideRisk,
            ev,
            format!("Suicide risk: {}.", parts.join("; ")),
        );
    }

    // Trial flags (episode trials only).
    let sub: Vec<&AssessedTrial<'_>> = input
        .trials
        .iter()
        .filter(|t| {
            t.total_weeks >= p.subtherapeutic_min_weeks && t.trial.dose_adequate == Some(false)
        })
        .collect();
    if !sub.is_empty() {
        let desc: Vec<String> = sub
            .iter()
            .map(|t| {
                format!(
                    "{} {} mg/day for {:.1} weeks (minimum adequate {} mg/day)",
                    t.trial.ingredient,
                    t.trial.max_daily_dose_mg.map_or_else(|| "?".into(), fmt_mg),
                    t.total_weeks,
                    t.course
                        .ing
                        .min_adequate_mg_day
                        .map_or_else(|| "?".into(), fmt_mg)
                )
            })
            .collect();
        push(
            FlagCode::SubtherapeuticDose,
            sub.iter().flat_map(|t| t.trial.evidence.clone()).collect(),
            format!("Sub-therapeutic dose: {}.", desc.join("; ")),
        );
    }
    let short: Vec<&AssessedTrial<'_>> = input
        .trials
        .iter()
        .filter(|t| {
            t.course.ended
                && t.trial.dose_adequate == Some(true)
                && t.weeks_at_adequate < p.min_adequate_weeks
                && t.trial.outcome != Outcome::Intolerant
        })
        .collect();
    if !short.is_empty() {
        let desc: Vec<String> = short
            .iter()
            .map(|t| {
                format!(
                    "{} {:.1} weeks at an adequate dose",
                    t.trial.ingredient, t.weeks_at_adequate
                )
            })
            .collect();
        push(
            FlagCode::InsufficientDuration,
            short
                .iter()
                .flat_map(|t| t.trial.evidence.clone())
                .collect(),
            format!(
                "Trial(s) stopped before {} weeks at an adequate dose: {}.",
                fmt_mg(p.min_adequate_weeks),
                desc.join("; ")
            ),
        );
    }
    let unknown: Vec<&AssessedTrial<'_>> = input
        .trials
        .iter()
        .filter(|t| t.trial.max_daily_dose_mg.is_none())
        .collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|t| t.trial.ingredient.clone()).collect();
        push(
            FlagCode::DoseUnknown,
            unknown
                .iter()
                .flat_map(|t| t.trial.evidence.clone())
                .collect(),
            format!(
                "Daily dose unknown for {}: adequacy of the trial cannot be confirmed.",
                join(&names)
            ),
        );
    }

    let nonadherent: Vec<&AssessedTrial<'_>> = input
        .trials
        .iter()
        .filter(|t| t.trial.adherence_adequate == Some(false))
        .collect();
    if !nonadherent.is_empty() {
        let desc: Vec<String> = nonadherent
            .iter()
            .map(|t| {
                format!(
                    "{} from {}: dispensed supply covered {} of days",
                    t.trial.ingredient,
                    crate::dates::format_day(t.trial.start),
                    t.trial.pdc.map_or_else(|| "?".into(), fmt_pct),
                )
            })
            .collect();
        push(
            FlagCode::PossibleNonadherence,
            nonadherent
                .iter()
                .flat_map(|t| t.trial.evidence.clone())
                .collect(),
            format!(
                "Possible non-adherence (below {} of days covered): {}.",
                fmt_pct(p.min_pdc),
                desc.join("; ")
            ),
        );
    }

    // Comorbidities.
    let su = active(ConditionCategory::SubstanceUse);
    if !su.is_empty() {
        push(
            FlagCode::SubstanceUse,
            refs(&su),
            format!("Active substance use disorder ({}).", join(&refs(&su))),
        );
    }
    let mut thy = active(ConditionCategory::Hypothyroidism);
    thy.extend(active(ConditionCategory::Hyperthyroidism));
    if !thy.is_empty() {
        push(
            FlagCode::ThyroidDisorder,
            refs(&thy),
            format!(
                "Active thyroid disorder ({}): a treatable cause of depressive symptoms.",
                join(&refs(&thy))
            ),
        );
    }
    for (cat, code, what) in [
        (
            ConditionCategory::Ptsd,
            FlagCode::ComorbidPtsd,
            "post-traumatic stress disorder",
        ),
        (
            ConditionCategory::Adhd,
            FlagCode::ComorbidAdhd,
            "attention-deficit/hyperactivity disorder",
        ),
        (
            ConditionCategory::PersonalityDisorder,
            FlagCode::ComorbidPersonalityDisorder,
            "personality disorder",
        ),
        (
            ConditionCategory::Anxiety,
            FlagCode::ComorbidAnxiety,
            "anxiety disorder",
        ),
    ] {
        let v: Vec<&ConditionFact> = active(cat)
            .into_iter()
            .filter(|c| !c.categories.contains(&ConditionCategory::Bipolar))
            .collect();
        if !v.is_empty() {
            push(
                code,
                refs(&v),
                format!("Active comorbid {what} ({}).", join(&refs(&v))),
            );
        }
    }

    if let Some((ev, detail)) = maoi_interaction(input.exposures, p) {
        push(FlagCode::MaoiSerotonergicInteraction, ev, detail);
    }

    if let Some((ev, detail)) = prior_psychotherapy(input.procedures, input.onset, as_of) {
        push(FlagCode::PriorPsychotherapy, ev, detail);
    }

    for (kind, code, what) in [
        (
            ProcedureKind::Ect,
            FlagCode::PriorEct,
            "electroconvulsive therapy",
        ),
        (
            ProcedureKind::Tms,
            FlagCode::PriorTms,
            "transcranial magnetic stimulation",
        ),
        (
            ProcedureKind::Esketamine,
            FlagCode::PriorEsketamine,
            "esketamine",
        ),
    ] {
        let procs = procedures_in_episode(input.procedures, kind, input.onset, as_of);
        let mut ev: Vec<String> = procs.iter().map(|p| p.reference.clone()).collect();
        let exps: Vec<&Clipped<'_>> = input
            .exposures
            .iter()
            .filter(|e| e.ing.counts_as_procedure == Some(kind) && in_window(input.onset, e.end))
            .collect();
        ev.extend(exps.iter().map(|e| e.exp.source.clone()));
        if !ev.is_empty() {
            // Sessions are procedure records; medication records count as courses of continuous
            // use, so a statement split in two is still one course.
            let sessions = procs
                .iter()
                .map(|p| &p.reference)
                .collect::<BTreeSet<_>>()
                .len();
            let courses = runs(&exps).len();
            push(code, ev, prior_detail(what, sessions, courses));
        }
    }
    out.sort_by_key(|f| f.code);
    out
}

/// `prior-psychotherapy` (§7): completed psychotherapy sessions dated in the episode window;
/// evidence = those Procedures, detail = how many and the latest date. A session before the
/// episode's onset does not count: the add-psychotherapy advice is about the current episode.
fn prior_psychotherapy(
    procs: &[ProcedureFact],
    onset: Option<Day>,
    as_of: Day,
) -> Option<(Vec<String>, String)> {
    let sessions = procedures_in_episode(procs, ProcedureKind::Psychotherapy, onset, as_of);
    let latest = sessions.last()?.date;
    let evidence: Vec<String> = sessions.iter().map(|p| p.reference.clone()).collect();
    let count = evidence.iter().collect::<BTreeSet<_>>().len();
    let detail = format!(
        "Psychotherapy in the current episode: {count} recorded {}, the latest on {}.",
        if count == 1 { "session" } else { "sessions" },
        crate::dates::format_day(latest)
    );
    Some((evidence, detail))
}

/// Completed procedures of `kind` dated in the episode window (onset … `as_of`).
pub fn procedures_in_episode(
    procs: &[ProcedureFact],
    kind: ProcedureKind,
    onset: Option<Day>,
    as_of: Day,
) -> Vec<&ProcedureFact> {
    let mut v: Vec<&ProcedureFact> = procs
        .iter()
        .filter(|p| p.kind == kind && day(p.date) <= as_of && in_window(onset, day(p.date)))
        .collect();
    v.sort_by(|a, b| a.date.cmp(&b.date).then(a.reference.cmp(&b.reference)));
    v
}

/// MAOI with a serotonergic or MAOI-contraindicated drug (§7, [`super::interaction`]): overlapping,
/// or one started within the washout after the other ended. Pairs are made of [`runs`] (continuous
/// use of one drug), not of single records. Evidence: every record of every interacting run;
/// detail: the first pair.
pub fn maoi_interaction(exps: &[Clipped<'_>], p: &Params) -> Option<(Vec<String>, String)> {
    use super::interaction::{overlap, partner_word, washout_days};
    let all: Vec<&Clipped<'_>> = exps.iter().collect();
    let runs = runs(&all);
    let mut pairs: Vec<(Day, String, &Run<'_>, &Run<'_>)> = Vec::new();
    for m in runs.iter().filter(|r| r.ing.maoi) {
        for s in runs.iter().filter(|r| r.ing.id != m.ing.id) {
            let (Some(before), Some(after)) =
                (washout_days(s.ing, m.ing, p), washout_days(m.ing, s.ing, p))
            else {
                continue;
            };
            let (mname, sname, what) = (&m.ing.id, &s.ing.id, partner_word(s.ing));
            let text = if overlap((m.start, m.end), (s.start, s.end)) {
                format!("{mname} (MAOI) and {sname} ({what}) were taken at the same time")
            } else if (0..=before).contains(&(m.start - s.end)) {
                format!(
                    "{mname} (MAOI) started {} days after {sname} ({what}) ended ({}); a washout of {before} days is required",
                    m.start - s.end,
                    crate::dates::format_day(date(s.end))
                )
            } else if (0..=after).contains(&(s.start - m.end)) {
                format!(
                    "{sname} ({what}) started {} days after {mname} (MAOI) ended ({}); a washout of {after} days is required",
                    s.start - m.end,
                    crate::dates::format_day(date(m.end)),
                )
            } else {
                continue;
            };
            pairs.push((m.start.max(s.start), text, m, s));
        }
    }
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut ev: Vec<String> = pairs
        .iter()
        .flat_map(|(_, _, m, s)| m.sources.iter().chain(&s.sources))
        .map(|r| r.to_string())
        .collect();
    ev.sort();
    ev.dedup();
    let more = if pairs.len() > 1 {
        format!(" ({} interacting pairs in all)", pairs.len())
    } else {
        String::new()
    };
    Some((
        ev,
        format!(
            "MAO inhibitor interaction (serotonin syndrome or hypertensive crisis): {}{more}.",
            pairs[0].1
        ),
    ))
}

/// "Prior ECT in the current episode: 6 sessions." (and/or "1 course of medication").
fn prior_detail(what: &str, sessions: usize, courses: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let parts: Vec<String> = [
        (sessions > 0).then(|| plural(sessions, "recorded session", "recorded sessions")),
        (courses > 0).then(|| plural(courses, "course of medication", "courses of medication")),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!(
        "Prior {what} in the current episode: {}.",
        parts.join(" and ")
    )
}

fn join(v: &[String]) -> String {
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::clinical::model::FlagCode;
    use crate::clinical::test_support::*;
    use crate::fhir::record::ClinicalStatus;
    use crate::knowledge::{ConditionCategory as C, ProcedureKind};

    fn has(r: &Rec, f: FlagCode) -> bool {
        flag_codes(&r.assess("2025-01-01")).contains(&f)
    }

    #[test]
    fn condition_flags() {
        let mut r = rec();
        assert!(has(&r, FlagCode::NoMddDiagnosis));
        r.mdd("2024-01-01", "F333")
            .categories
            .insert(C::PsychoticFeatures);
        assert!(!has(&r, FlagCode::NoMddDiagnosis));
        assert!(has(&r, FlagCode::PsychoticFeatures));
        for (cat, flag) in [
            (C::Catatonia, FlagCode::Catatonia),
            (C::SubstanceUse, FlagCode::SubstanceUse),
            (C::Hypothyroidism, FlagCode::ThyroidDisorder),
            (C::Hyperthyroidism, FlagCode::ThyroidDisorder),
            (C::Ptsd, FlagCode::ComorbidPtsd),
            (C::Adhd, FlagCode::ComorbidAdhd),
            (
                C::PersonalityDisorder,
                FlagCode::ComorbidPersonalityDisorder,
            ),
            (C::Anxiety, FlagCode::ComorbidAnxiety),
            (C::SuicideRisk, FlagCode::SuicideRisk),
        ] {
            let mut r2 = rec();
            r2.mdd("2024-01-01", "F331");
            r2.cond(&[cat], None).clinical_status = ClinicalStatus::Inactive;
            assert!(!has(&r2, flag), "{flag:?} from an inactive condition");
            r2.cond(&[cat], Some(d("2024-05-01")));
            let a = r2.assess("2025-01-01");
            let f = a
                .flags
                .iter()
                .find(|f| f.code == flag)
                .unwrap_or_else(|| panic!("{flag:?}"));
            assert_eq!(f.evidence.len(), 1);
            assert!(!f.detail.is_empty());
        }
    }

    #[test]
    fn bipolar_any_status_and_cyclothymia_only_bipolar() {
        let mut r = rec();
        r.cond(&[C::Bipolar, C::Anxiety], None).clinical_status = ClinicalStatus::Inactive;
        r.cond(&[C::Bipolar, C::Anxiety], None);
        let a = r.assess("2025-01-01");
        assert_eq!(
            flag_codes(&a),
            vec![FlagCode::BipolarSpectrum, FlagCode::NoMddDiagnosis]
        );
        assert_eq!(a.flags[0].evidence.len(), 2);
    }

    #[test]
    fn suicide_risk_from_item_9_in_the_look_back() {
        let lookback = kb().params().suicide_item9_lookback_days;
        let mut r = rec();
        r.item9(dp("2025-01-01", -lookback - 1), 2);
        assert!(!has(&r, FlagCode::SuicideRisk));
        r.item9(dp("2025-01-01", -lookback), 0);
        assert!(!has(&r, FlagCode::SuicideRisk));
        r.item9(dp("2025-01-01", -lookback), 1);
        assert!(has(&r, FlagCode::SuicideRisk));
    }

    #[test]
    fn trial_flags() {
        let min = min_dose("sertraline");
        // Sub-therapeutic: 4 weeks below the minimum; 27 days does not count.
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2024-01-01"),
            Some(dp("2024-01-01", 28)),
            Some(min - 1.0),
        );
        assert!(has(&r, FlagCode::SubtherapeuticDose));
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2024-01-01"),
            Some(dp("2024-01-01", 27)),
            Some(min - 1.0),
        );
        assert!(!has(&r, FlagCode::SubtherapeuticDose));
        // Insufficient duration: ended, adequate dose, 41 days; not for intolerance.
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2024-01-01"),
            Some(dp("2024-01-01", 41)),
            Some(min),
        );
        assert!(has(&r, FlagCode::InsufficientDuration));
        r.r.exposures[0].adverse_stop = true;
        assert!(!has(&r, FlagCode::InsufficientDuration));
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2024-01-01"),
            Some(dp("2024-01-01", 42)),
            Some(min),
        );
        assert!(!has(&r, FlagCode::InsufficientDuration));
        // Dose unknown.
        let mut r = rec();
        r.ms(
            "sertraline",
            d("2024-01-01"),
            Some(dp("2024-01-01", 42)),
            None,
        );
        assert!(has(&r, FlagCode::DoseUnknown));
        // Outside the episode window: no trial flag.
        r.mdd("2024-06-01", "F331");
        assert!(!has(&r, FlagCode::DoseUnknown));
    }

    fn maoi_after(first: &str, gap: i64) -> bool {
        let mut r = rec();
        r.ms(first, d("2024-01-01"), Some(d("2024-03-01")), Some(20.0));
        r.ms("phenelzine", dp("2024-03-01", gap), None, Some(45.0));
        has(&r, FlagCode::MaoiSerotonergicInteraction)
    }

    #[test]
    fn maoi_washout_after_serotonergic_drug() {
        assert!(maoi_after("sertraline", -10)); // overlap
        assert!(maoi_after("sertraline", 0));
        assert!(maoi_after("sertraline", 13));
        assert!(maoi_after("sertraline", 14));
        assert!(!maoi_after("sertraline", 15));
        assert!(maoi_after("fluoxetine", 34));
        assert!(maoi_after("fluoxetine", 35));
        assert!(!maoi_after("fluoxetine", 36));
    }

    #[test]
    fn serotonergic_drug_after_an_maoi() {
        for (gap, expect) in [(14, true), (15, false)] {
            let mut r = rec();
            r.ms(
                "phenelzine",
                d("2024-01-01"),
                Some(d("2024-03-01")),
                Some(45.0),
            );
            r.ms("sertraline", dp("2024-03-01", gap), None, Some(50.0));
            let a = r.assess("2025-01-01");
            let f = a
                .flags
                .iter()
                .find(|f| f.code == FlagCode::MaoiSerotonergicInteraction);
            assert_eq!(f.is_some(), expect, "gap {gap}");
            if let Some(f) = f {
                assert_eq!(f.evidence.len(), 2);
            }
        }
    }

    #[test]
    fn prior_procedures_in_the_episode() {
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.procedure(ProcedureKind::Ect, d("2023-06-01"));
        r.procedure(ProcedureKind::Tms, d("2024-06-01"));
        r.ms(
            "esketamine",
            d("2024-07-01"),
            Some(d("2024-08-01")),
            Some(56.0),
        );
        let a = r.assess("2025-01-01");
        let codes = flag_codes(&a);
        assert!(!codes.contains(&FlagCode::PriorEct));
        assert!(codes.contains(&FlagCode::PriorTms));
        assert!(codes.contains(&FlagCode::PriorEsketamine));
        // Esketamine is not a trial.
        assert!(a.trials.is_empty());
        r.procedure(ProcedureKind::Ect, d("2024-02-01"));
        assert!(has(&r, FlagCode::PriorEct));
    }

    #[test]
    fn prior_psychotherapy_counts_sessions_in_the_episode_with_the_latest_date() {
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        // Before the episode's onset: not this episode's therapy.
        r.procedure(ProcedureKind::Psychotherapy, d("2023-11-15"));
        assert!(!has(&r, FlagCode::PriorPsychotherapy));
        r.procedure(ProcedureKind::Psychotherapy, d("2024-03-05"));
        r.procedure(ProcedureKind::Psychotherapy, d("2024-02-20"));
        // After as_of: ignored.
        r.procedure(ProcedureKind::Psychotherapy, d("2025-02-01"));
        let a = r.assess("2025-01-01");
        let f = a
            .flags
            .iter()
            .find(|f| f.code == FlagCode::PriorPsychotherapy)
            .expect("prior-psychotherapy");
        assert_eq!(f.evidence, ["Procedure/pr3", "Procedure/pr4"]);
        assert_eq!(
            f.detail,
            "Psychotherapy in the current episode: 2 recorded sessions, the latest on 2024-03-05."
        );
        // Psychotherapy is never ECT or TMS, and ECT is never psychotherapy.
        let codes = flag_codes(&a);
        assert!(!codes.contains(&FlagCode::PriorEct) && !codes.contains(&FlagCode::PriorTms));
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.procedure(ProcedureKind::Ect, d("2024-03-05"));
        assert!(!has(&r, FlagCode::PriorPsychotherapy));
    }

    #[test]
    fn one_session_reads_in_the_singular() {
        let mut r = rec();
        r.mdd("2024-01-01", "F331");
        r.procedure(ProcedureKind::Psychotherapy, d("2024-01-01"));
        let a = r.assess("2025-01-01");
        let f = a
            .flags
            .iter()
            .find(|f| f.code == FlagCode::PriorPsychotherapy)
            .expect("a session on the onset day is in the episode");
        assert!(
            f.detail
                .contains("1 recorded session, the latest on 2024-01-01"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn flags_are_in_table_order() {
        let mut r = rec();
        r.cond(&[C::Anxiety], None);
        r.cond(&[C::Bipolar], None);
        r.item9(d("2024-12-01"), 3);
        let codes = flag_codes(&r.assess("2025-01-01"));
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted);
        assert_eq!(codes[0], FlagCode::BipolarSpectrum);
    }
}
