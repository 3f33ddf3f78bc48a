//! Markdown for card `detail`: what was found and why, citing FHIR references. Every value that
//! comes from the EHR is escaped, so record text cannot inject markdown or HTML into the EHR's view.

use std::fmt::Write;

use crate::clinical::{Assessment, FlagCode, Priority, Recommendation, Trial};
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

fn refs(evidence: &[String]) -> String {
    if evidence.is_empty() {
        return "—".into();
    }
    evidence
        .iter()
        .map(|r| format!("`{}`", r.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mg(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("{} mg/day", crate::clinical::trials::fmt_mg(v)),
        None => "unknown".into(),
    }
}

fn status_word(a: &Assessment) -> &'static str {
    match a.status {
        crate::clinical::Status::Met => "met",
        crate::clinical::Status::Possible => "possible",
        crate::clinical::Status::NotMet => "not met",
        crate::clinical::Status::NotApplicable => "not applicable",
    }
}

fn trial_rows(s: &mut String, trials: &[&Trial], kb: &KnowledgeBase) {
    s.push_str("| Antidepressant | Dates | Max sustained dose (minimum adequate) | Weeks at adequate dose | Adherence (dispenses) | Response | Outcome | Evidence |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for t in trials {
        let min = kb
            .ingredient(&t.ingredient)
            .and_then(|i| i.min_adequate_mg_day);
        let end = t
            .end
            .map_or_else(|| "ongoing".to_string(), crate::dates::format_day);
        let _ = writeln!(
            s,
            "| {} ({}) | {} → {} | {} ({}) | {:.1} | {} | {} | {} | {} |",
            md_escape(&t.ingredient),
            md_escape(&t.class),
            crate::dates::format_day(t.start),
            end,
            mg(t.max_daily_dose_mg),
            mg(min),
            t.weeks_at_adequate_dose,
            adherence(t, kb),
            serde_plain(&t.measurement),
            serde_plain(&t.outcome),
            refs(&t.evidence)
        );
    }
}

/// The trial's PDC in plain words: "dispensed supply covered 77 % of days (below 80 %)"; "—" when the
/// trial has no PDC (not made only of dispenses).
fn adherence(t: &Trial, kb: &KnowledgeBase) -> String {
    use crate::clinical::adherence::fmt_pct;
    match (t.pdc, t.adherence_adequate) {
        (Some(pdc), Some(false)) => format!(
            "dispensed supply covered {} of days (below {})",
            fmt_pct(pdc),
            fmt_pct(kb.params().min_pdc)
        ),
        (Some(pdc), _) => format!("dispensed supply covered {} of days", fmt_pct(pdc)),
        _ => "—".into(),
    }
}

/// The contract's code for an enum value (`non-response`, `failed`, ...).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    super::wire_name(v)
}

fn staging(s: &mut String, a: &Assessment) {
    let st = &a.staging;
    let maudsley = st.maudsley.as_ref().map_or_else(
        || "not scored (severity unknown)".to_string(),
        |m| format!("{} ({})", m.score, m.band),
    );
    let _ = writeln!(
        s,
        "**Staging:** treatment step {} · Thase–Rush stage {} · MGH-S {:.1} · Maudsley {}\n",
        st.treatment_step, st.thase_rush, st.mgh_s, maudsley
    );
}

fn flags(s: &mut String, a: &Assessment, skip: &[FlagCode]) {
    let shown: Vec<_> = a.flags.iter().filter(|f| !skip.contains(&f.code)).collect();
    if shown.is_empty() {
        return;
    }
    s.push_str("**Flags:**\n\n");
    for f in shown {
        let _ = writeln!(
            s,
            "- **{}**: {} ({})",
            serde_plain(&f.code),
            md_escape(&f.detail),
            refs(&f.evidence)
        );
    }
    s.push('\n');
}

fn recommendations(s: &mut String, a: &Assessment) {
    let routine: Vec<_> = a
        .recommendations
        .iter()
        .filter(|r| r.priority == Priority::Routine)
        .collect();
    if routine.is_empty() {
        return;
    }
    s.push_str("**Suggested next steps:**\n\n");
    for r in routine {
        let _ = writeln!(s, "- **{}**: {}", r.code.as_str(), md_escape(&r.rationale));
    }
    s.push('\n');
}

fn data_issues(s: &mut String, a: &Assessment) {
    if a.data_issues.is_empty() {
        return;
    }
    s.push_str(
        "**Data issues** (values that could not be used; the assessment may be incomplete):\n\n",
    );
    for d in &a.data_issues {
        let _ = writeln!(
            s,
            "- `{}` `{}`: {}",
            d.resource.replace('`', "'"),
            d.field.replace('`', "'"),
            md_escape(&d.problem)
        );
    }
    s.push('\n');
}

fn provenance(s: &mut String, a: &Assessment, kb: &KnowledgeBase) {
    let mut unreviewed: Vec<&str> = a
        .trials
        .iter()
        .filter_map(|t| kb.ingredient(&t.ingredient))
        .filter(|i| i.review_status != "reviewed")
        .map(|i| i.id.as_str())
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
            " _Dose thresholds not yet clinically reviewed for: {}. Verify before acting._",
            md_escape(&unreviewed.join(", "))
        );
    }
    s.push('\n');
}

/// Detail of the TRD card.
pub fn trd(a: &Assessment, kb: &KnowledgeBase) -> String {
    let mut s = String::with_capacity(2048);
    let episode = match &a.episode {
        Some(e) => format!(
            " in the current episode (since {}, `{}`)",
            e.onset
                .map_or_else(|| "unknown onset".to_string(), crate::dates::format_day),
            e.condition.replace('`', "'")
        ),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "**TRD status: {}** — {} failed adequate antidepressant trial(s){}.\n",
        status_word(a),
        a.failed_adequate_trials,
        episode
    );
    let trials: Vec<&Trial> = a.trials.iter().collect();
    if !trials.is_empty() {
        trial_rows(&mut s, &trials, kb);
        s.push('\n');
    }
    if !a.augmentations.is_empty() {
        s.push_str("**Augmentations and combinations:**\n\n");
        for g in &a.augmentations {
            let end = g
                .end
                .map_or_else(|| "ongoing".to_string(), crate::dates::format_day);
            let _ = writeln!(
                s,
                "- {} ({}) added to {}: {} → {}, {}, {} ({})",
                md_escape(&g.agent),
                md_escape(&g.class),
                md_escape(&g.trial_ingredient),
                crate::dates::format_day(g.start),
                end,
                mg(g.max_daily_dose_mg),
                serde_plain(&g.outcome),
                refs(&g.evidence)
            );
        }
        s.push('\n');
    }
    staging(&mut s, a);
    flags(&mut s, a, &[]);
    recommendations(&mut s, a);
    data_issues(&mut s, a);
    provenance(&mut s, a, kb);
    s
}

/// Detail of an urgent card: the rationale and the evidence of the flags behind it.
pub fn urgent(
    a: &Assessment,
    kb: &KnowledgeBase,
    rec: &Recommendation,
    codes: &[FlagCode],
) -> String {
    let mut s = String::with_capacity(512);
    let _ = writeln!(s, "{}\n", md_escape(&rec.rationale));
    for f in a.flags.iter().filter(|f| codes.contains(&f.code)) {
        let _ = writeln!(
            s,
            "- **{}**: {} ({})",
            serde_plain(&f.code),
            md_escape(&f.detail),
            refs(&f.evidence)
        );
    }
    s.push('\n');
    if rec.code == crate::clinical::RecommendationCode::UrgentEctEvaluation {
        s.push_str("If ECT is not offered at this site, refer externally: urgent indications are never withheld.\n\n");
    }
    provenance(&mut s, a, kb);
    s
}

/// Detail of the bipolar warning card.
pub fn bipolar(a: &Assessment, kb: &KnowledgeBase, running: &[&Trial]) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str(
        "A bipolar-spectrum diagnosis is on record and an antidepressant is running without a mood stabiliser or \
antipsychotic. Antidepressant monotherapy risks a switch to mania or rapid cycling; the treatment-resistant \
depression assessment does not apply.\n\n",
    );
    trial_rows(&mut s, running, kb);
    s.push('\n');
    flags(&mut s, a, &[]);
    recommendations(&mut s, a);
    data_issues(&mut s, a);
    provenance(&mut s, a, kb);
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
        assert_eq!(mg(None), "unknown");
    }
}
