//! Markdown for card `detail`, laid out for an EHR sidebar (~400 px): one status sentence, the
//! trials as one short line each (never a table), the next steps in plain words, "Other options"
//! in one line, what else is on record, data issues, and the evidence (FHIR references) last.
//! Every value that comes from the EHR is escaped, so record text cannot inject markdown or HTML
//! into the EHR's view. Clinician-facing text never shows internal codes or spec sections.

use std::fmt::Write;

use crate::clinical::{Assessment, AugmentationOutcome, Measurement, Outcome, Status, Trial};
use crate::knowledge::KnowledgeBase;

/// Escape markdown/HTML metacharacters in text that came from outside.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '<' | '>' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// The one formatter of scores and weeks on cards: at most one decimal, no trailing ".0"
/// (MGH-S 3, MGH-S 3.5; 13 weeks, 12.9 weeks), so a number never appears in two spellings.
pub fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    match s.strip_suffix(".0") {
        Some(whole) if whole != "-0" => whole.to_string(),
        Some(_) => "0".to_string(),
        None => s,
    }
}

/// A FHIR reference as inline code (backticks in it cannot close the span).
fn code_ref(r: &str) -> String {
    format!("`{}`", r.replace('`', "'"))
}

fn mg(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("{} mg/day", crate::clinical::trials::fmt_mg(v)),
        None => "dose unknown".into(),
    }
}

fn measurement_words(m: Measurement) -> &'static str {
    match m {
        Measurement::Response => "responded",
        Measurement::Partial => "partial response",
        Measurement::NonResponse => "no response",
        Measurement::Unmeasured => "response not measured",
    }
}

/// Why a trial that did not fail is not counted, in words; `None` for a failed trial.
fn outcome_words(o: Outcome) -> Option<&'static str> {
    match o {
        Outcome::Failed => None,
        Outcome::Intolerant => Some("stopped for side effects"),
        Outcome::Responded => Some("responded"),
        Outcome::Indeterminate => Some("not counted yet: dose unknown"),
        Outcome::Inadequate => Some("not counted: dose, duration or adherence not adequate"),
        Outcome::Ongoing => Some("ongoing, not yet adequate"),
    }
}

/// One line of a trial: drug, dose, weeks, response (and why it is not counted when it is not).
fn trial_line(s: &mut String, t: &Trial, kb: &KnowledgeBase) {
    let name = super::suggestions::drug_name(kb, &t.ingredient);
    let running = if t.end.is_none() { ", ongoing" } else { "" };
    let _ = write!(
        s,
        "- {} {} · {} weeks{running} · {}",
        md_escape(&name),
        mg(t.max_daily_dose_mg),
        num(t.weeks_at_adequate_dose),
        measurement_words(t.measurement)
    );
    if let Some(why) = outcome_words(t.outcome)
        && why != measurement_words(t.measurement)
    {
        let _ = write!(s, " — {why}");
    }
    s.push('\n');
}

fn trials(s: &mut String, a: &Assessment, kb: &KnowledgeBase) {
    if a.trials.is_empty() {
        return;
    }
    let heading = if a.trials.iter().all(|t| t.outcome == Outcome::Failed) {
        "Failed trials"
    } else {
        "Antidepressant trials"
    };
    let _ = writeln!(s, "**{heading}**\n");
    for t in &a.trials {
        trial_line(s, t, kb);
    }
    for g in &a.augmentations {
        let outcome = match g.outcome {
            AugmentationOutcome::Responded => "responded",
            AugmentationOutcome::Failed => "failed",
            AugmentationOutcome::Inadequate => "not adequate",
            AugmentationOutcome::Ongoing => "ongoing",
        };
        let _ = writeln!(
            s,
            "- {} added to {} · {} · {outcome}",
            md_escape(&super::suggestions::drug_name(kb, &g.agent)),
            md_escape(&super::suggestions::drug_name(kb, &g.trial_ingredient)),
            mg(g.max_daily_dose_mg)
        );
    }
    s.push('\n');
}

fn staging_words(a: &Assessment) -> String {
    let st = &a.staging;
    let maudsley = st.maudsley.as_ref().map_or_else(String::new, |m| {
        format!(", Maudsley {} ({})", m.score, md_escape(&m.band))
    });
    format!(
        "treatment step {}; Thase–Rush stage {}, MGH-S {}{maudsley}",
        st.treatment_step,
        st.thase_rush,
        num(st.mgh_s)
    )
}

fn episode_words(a: &Assessment) -> String {
    match a.episode.as_ref().and_then(|e| e.onset) {
        Some(onset) => format!(
            " in the current episode (since {})",
            crate::dates::format_day(onset)
        ),
        None => " in the current episode".into(),
    }
}

fn status_sentence(s: &mut String, a: &Assessment) {
    let n = a.failed_adequate_trials;
    let trials = if n == 1 { "trial" } else { "trials" };
    let _ = match a.status {
        Status::Met => writeln!(
            s,
            "**Criteria met:** {n} failed adequate antidepressant {trials}{} — {}.\n",
            episode_words(a),
            staging_words(a)
        ),
        _ => writeln!(
            s,
            "**Possible:** {n} failed adequate antidepressant {trials}{}; trials of unknown dose could reach the threshold — {}.\n",
            episode_words(a),
            staging_words(a)
        ),
    };
}

/// The next steps (numbered, in guideline order) and the rest on one line.
fn next_steps(s: &mut String, shown: &[String], others: &[&str]) {
    if !shown.is_empty() {
        s.push_str("**Next steps** (in guideline order)\n\n");
        for (i, step) in shown.iter().enumerate() {
            let _ = writeln!(s, "{}. {step}", i + 1);
        }
        s.push('\n');
    }
    if !others.is_empty() {
        let _ = writeln!(s, "Other options: {}.\n", others.join("; "));
    }
}

/// The flags' sentences (each names what raised it), under one heading.
fn also_on_record(s: &mut String, a: &Assessment) {
    if a.flags.is_empty() {
        return;
    }
    s.push_str("**Also on record**\n\n");
    for f in &a.flags {
        let _ = writeln!(s, "- {}", md_escape(&f.detail));
    }
    s.push('\n');
}

fn data_issues(s: &mut String, a: &Assessment) {
    if a.data_issues.is_empty() {
        return;
    }
    s.push_str("**Data not used** (the assessment may be incomplete)\n\n");
    for d in &a.data_issues {
        let _ = writeln!(
            s,
            "- {} {}: {}",
            code_ref(&d.resource),
            md_escape(&d.field),
            md_escape(&d.problem)
        );
    }
    s.push('\n');
}

/// The FHIR references behind the card, once each, in order of first use.
fn evidence_refs(a: &Assessment) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let all = a
        .episode
        .iter()
        .map(|e| e.condition.as_str())
        .chain(
            a.trials
                .iter()
                .flat_map(|t| t.evidence.iter().map(String::as_str)),
        )
        .chain(
            a.augmentations
                .iter()
                .flat_map(|g| g.evidence.iter().map(String::as_str)),
        )
        .chain(
            a.flags
                .iter()
                .flat_map(|f| f.evidence.iter().map(String::as_str)),
        );
    for r in all {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Evidence and provenance, last and compact.
fn footer(s: &mut String, a: &Assessment, kb: &KnowledgeBase, refs: &[&str]) {
    if !refs.is_empty() {
        let list: Vec<String> = refs.iter().map(|r| code_ref(r)).collect();
        let _ = writeln!(s, "Evidence: {}\n", list.join(", "));
    }
    let mut unreviewed: Vec<&str> = a
        .trials
        .iter()
        .filter_map(|t| kb.ingredient(&t.ingredient))
        .filter(|i| i.review_status != "reviewed")
        .map(|i| i.display.as_str())
        .collect();
    unreviewed.sort_unstable();
    unreviewed.dedup();
    let _ = write!(
        s,
        "_Knowledge base {}, assessed as of {}._",
        md_escape(kb.version()),
        crate::dates::format_day(a.as_of)
    );
    if !unreviewed.is_empty() {
        let _ = write!(
            s,
            " _Dose thresholds not yet clinically reviewed for {}: verify before acting._",
            md_escape(&unreviewed.join(", "))
        );
    }
    s.push('\n');
}

/// Detail of the TRD card. `shown`: the next steps' sentences; `others`: the rest, a few words each.
pub fn trd(a: &Assessment, kb: &KnowledgeBase, shown: &[String], others: &[&str]) -> String {
    let mut s = String::with_capacity(2048);
    status_sentence(&mut s, a);
    trials(&mut s, a, kb);
    next_steps(&mut s, shown, others);
    also_on_record(&mut s, a);
    data_issues(&mut s, a);
    footer(&mut s, a, kb, &evidence_refs(a));
    s
}

/// Detail of an urgent card: what to do, the findings behind it, and their evidence.
pub fn urgent(
    a: &Assessment,
    kb: &KnowledgeBase,
    step: &str,
    findings: &[&crate::clinical::Flag],
    ect_elsewhere: bool,
) -> String {
    let mut s = String::with_capacity(512);
    let _ = writeln!(s, "**{step}**\n");
    for f in findings {
        let _ = writeln!(s, "- {}", md_escape(&f.detail));
    }
    s.push('\n');
    if ect_elsewhere {
        s.push_str(
            "ECT is not offered at this site: refer externally. Urgent indications are never withheld.\n\n",
        );
    }
    let refs: Vec<&str> = findings
        .iter()
        .flat_map(|f| f.evidence.iter().map(String::as_str))
        .collect();
    footer(&mut s, a, kb, &refs);
    s
}

/// Detail of the bipolar warning card.
pub fn bipolar(a: &Assessment, kb: &KnowledgeBase, running: &[&Trial], steps: &[String]) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str(
        "**Antidepressant without a mood stabiliser or antipsychotic** in a patient with a bipolar-spectrum \
diagnosis: this risks a switch to mania or rapid cycling. The treatment-resistant depression assessment does not \
apply.\n\n**Running now**\n\n",
    );
    for t in running {
        trial_line(&mut s, t, kb);
    }
    s.push('\n');
    next_steps(&mut s, steps, &[]);
    also_on_record(&mut s, a);
    data_issues(&mut s, a);
    let refs: Vec<&str> = running
        .iter()
        .flat_map(|t| t.evidence.iter().map(String::as_str))
        .chain(
            a.flags
                .iter()
                .flat_map(|f| f.evidence.iter().map(String::as_str)),
        )
        .collect();
    footer(&mut s, a, kb, &refs);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_and_html() {
        assert_eq!(md_escape("<script>|*x*"), "\\<script\\>\\|\\*x\\*");
        assert_eq!(md_escape("a\nb"), "a b");
    }

    #[test]
    fn card_doses_keep_significant_digits() {
        // Liothyronine 25 µg was shown as "0.0 mg/day" by a second formatter.
        assert_eq!(mg(Some(0.025)), "0.025 mg/day");
        assert_eq!(mg(Some(0.0125)), "0.0125 mg/day");
        assert_eq!(mg(Some(37.5)), "37.5 mg/day");
        assert_eq!(mg(Some(300.0)), "300 mg/day");
        assert_eq!(mg(None), "dose unknown");
    }

    #[test]
    fn one_spelling_per_number() {
        // "MGH-S 3.0" and "MGH-S 3" appeared in one card.
        assert_eq!(num(3.0), "3");
        assert_eq!(num(3.5), "3.5");
        assert_eq!(num(12.94), "12.9");
        assert_eq!(num(12.96), "13");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.01), "0");
    }
}
