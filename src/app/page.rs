//! The app's one page, server-rendered HTML without JavaScript: the timeline, the status and the
//! staging with their reasons, the next steps, and the data issues. Every value that comes from
//! the EHR is HTML-escaped. The style sheet is inline and allowed by its hash in the page's
//! Content-Security-Policy ([`csp`]), so the page loads nothing and runs nothing.

use std::fmt::Write;
use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::clinical::trials::fmt_mg;
use crate::clinical::{
    Assessment, AugmentationOutcome, Outcome, Priority, Status, Trial, current_trial,
};
use crate::dates::format_day;
use crate::knowledge::KnowledgeBase;

const STYLE: &str = include_str!("page.css");

/// The page's Content-Security-Policy: nothing but its own inline style sheet (by hash) and inline
/// SVG; no script, no framing, no form, no other origin.
pub fn csp() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'"
        )
    });
    &CSP
}

/// Escape text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body><main>\n{body}</main></body></html>\n",
        esc(title)
    )
}

/// A page that says what went wrong and what to do; `what` and `todo` are the service's own words.
pub fn error_page(title: &str, what: &str, todo: &str) -> String {
    document(
        title,
        &format!(
            "<h1>{}</h1>\n<p class=\"problem\">{}</p>\n<p>{}</p>\n",
            esc(title),
            esc(what),
            esc(todo)
        ),
    )
}

/// The assessment page. `timeline_svg` is inline SVG markup (trusted: rendered by this service).
pub fn assessment_page(a: &Assessment, kb: &KnowledgeBase, timeline_svg: &str) -> String {
    let mut b = String::with_capacity(16 * 1024);
    b.push_str("<h1>Treatment-resistant depression</h1>\n");
    let _ = writeln!(
        b,
        "<p class=\"meta\">Assessed as of {} with knowledge base {}.</p>",
        format_day(a.as_of),
        esc(kb.version())
    );
    status_section(&mut b, a);
    timeline_section(&mut b, a, kb, timeline_svg);
    staging_section(&mut b, a);
    next_steps_section(&mut b, a, kb);
    flags_section(&mut b, a);
    data_issues_section(&mut b, a);
    document("Treatment-resistant depression", &b)
}

fn status_words(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Met => ("met", "status-met"),
        Status::Possible => ("possible", "status-possible"),
        Status::NotMet => ("not met", "status-not-met"),
        Status::NotApplicable => ("not applicable", "status-na"),
    }
}

fn status_section(b: &mut String, a: &Assessment) {
    let (word, class) = status_words(a.status);
    let episode = match &a.episode {
        Some(e) => format!(
            " in the current depressive episode (since {})",
            e.onset
                .map_or_else(|| "an unknown onset".to_string(), format_day)
        ),
        None => " (no active major depressive disorder diagnosis was found)".to_string(),
    };
    let _ = writeln!(
        b,
        "<section aria-labelledby=\"status\"><h2 id=\"status\">Status: <span class=\"{class}\">{word}</span></h2>\n\
         <p>{} failed adequate antidepressant trial{}{}.</p>",
        a.failed_adequate_trials,
        if a.failed_adequate_trials == 1 {
            ""
        } else {
            "s"
        },
        esc(&episode)
    );
    let failed: Vec<&Trial> = a
        .trials
        .iter()
        .filter(|t| t.outcome == Outcome::Failed)
        .collect();
    if !failed.is_empty() {
        b.push_str("<p>Counted as failed:</p><ul>\n");
        for t in failed {
            let _ = writeln!(
                b,
                "<li>{} ({}), {} to {}, {:.1} weeks at an adequate dose</li>",
                esc(&t.ingredient),
                esc(&t.class),
                format_day(t.start),
                t.end.map_or_else(|| "now".to_string(), format_day),
                t.weeks_at_adequate_dose
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str("</section>\n");
}

fn outcome_words(o: Outcome) -> &'static str {
    match o {
        Outcome::Failed => "failed",
        Outcome::Responded => "responded",
        Outcome::Inadequate => "inadequate trial",
        Outcome::Intolerant => "not tolerated",
        Outcome::Ongoing => "ongoing",
        Outcome::Indeterminate => "response not measured",
    }
}

fn augmentation_words(o: AugmentationOutcome) -> String {
    crate::cards::wire_name(&o).replace('-', " ")
}

fn mg(x: Option<f64>) -> String {
    x.map_or_else(
        || "dose unknown".into(),
        |v| format!("{} mg/day", fmt_mg(v)),
    )
}

fn timeline_section(b: &mut String, a: &Assessment, kb: &KnowledgeBase, svg: &str) {
    b.push_str("<section aria-labelledby=\"history\"><h2 id=\"history\">Treatment history</h2>\n");
    if !svg.trim().is_empty() {
        let _ = writeln!(b, "<figure class=\"timeline\">{svg}</figure>");
    }
    if a.trials.is_empty() {
        b.push_str("<p>No antidepressant trial was found in the record.</p>\n");
    } else {
        b.push_str(
            "<div class=\"scroll\"><table><caption>Antidepressant trials</caption>\n<thead><tr>\
             <th scope=\"col\">Antidepressant</th><th scope=\"col\">Dates</th>\
             <th scope=\"col\">Highest sustained dose (minimum adequate)</th>\
             <th scope=\"col\">Weeks at adequate dose</th><th scope=\"col\">Outcome</th></tr></thead><tbody>\n",
        );
        for t in &a.trials {
            let min = kb
                .ingredient(&t.ingredient)
                .and_then(|i| i.min_adequate_mg_day);
            let _ = writeln!(
                b,
                "<tr><td data-label=\"Antidepressant\">{} <span class=\"class\">({})</span></td>\
                 <td data-label=\"Dates\">{} to {}</td>\
                 <td data-label=\"Highest sustained dose (minimum adequate)\">{} ({})</td>\
                 <td data-label=\"Weeks at adequate dose\">{:.1}</td><td data-label=\"Outcome\">{}</td></tr>",
                esc(&t.ingredient),
                esc(&t.class),
                format_day(t.start),
                t.end.map_or_else(|| "now".to_string(), format_day),
                mg(t.max_daily_dose_mg),
                min.map_or_else(
                    || "no threshold".into(),
                    |m| format!("{} mg/day", fmt_mg(m))
                ),
                t.weeks_at_adequate_dose,
                outcome_words(t.outcome)
            );
        }
        b.push_str("</tbody></table></div>\n");
    }
    if !a.augmentations.is_empty() {
        b.push_str("<h3>Augmentation and combination</h3><ul>\n");
        for g in &a.augmentations {
            let _ = writeln!(
                b,
                "<li>{} ({}) added to {}, {} to {}, {}: {}</li>",
                esc(&g.agent),
                esc(&g.class),
                esc(&g.trial_ingredient),
                format_day(g.start),
                g.end.map_or_else(|| "now".to_string(), format_day),
                mg(g.max_daily_dose_mg),
                augmentation_words(g.outcome)
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str("</section>\n");
}

fn staging_section(b: &mut String, a: &Assessment) {
    let st = &a.staging;
    let maudsley = st.maudsley.as_ref().map_or_else(
        || "not scored (severity unknown)".to_string(),
        |m| format!("{} ({})", m.score, esc(&m.band)),
    );
    let current = current_trial(&a.trials, |t| t)
        .map(|t| format!("{} ({})", esc(&t.ingredient), outcome_words(t.outcome)))
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(
        b,
        "<section aria-labelledby=\"staging\"><h2 id=\"staging\">Staging</h2>\n<dl>\
         <dt>Treatment step</dt><dd>{}</dd>\
         <dt>Thase–Rush stage</dt><dd>{}</dd>\
         <dt>MGH staging score</dt><dd>{:.1}</dd>\
         <dt>Maudsley staging</dt><dd>{maudsley}</dd></dl>\n\
         <p>From {} failed adequate trial{}, {} augmentation or combination trial{} and the \
         current trial: {current}.</p></section>",
        st.treatment_step,
        st.thase_rush,
        st.mgh_s,
        a.failed_adequate_trials,
        if a.failed_adequate_trials == 1 {
            ""
        } else {
            "s"
        },
        a.augmentations.len(),
        if a.augmentations.len() == 1 { "" } else { "s" },
    );
}

fn next_steps_section(b: &mut String, a: &Assessment, kb: &KnowledgeBase) {
    b.push_str("<section aria-labelledby=\"next\"><h2 id=\"next\">Next steps</h2>\n");
    if a.recommendations.is_empty() {
        b.push_str("<p>No next step is suggested.</p>\n");
    } else {
        b.push_str("<ol>\n");
        for r in &a.recommendations {
            let urgent = if r.priority == Priority::Urgent {
                "<strong class=\"urgent\">Urgent:</strong> "
            } else {
                ""
            };
            let _ = writeln!(
                b,
                "<li>{urgent}<strong>{}</strong><br>{}</li>",
                esc(&crate::cards::suggestions::plan(r.code, a, kb).sentence),
                esc(&r.rationale)
            );
        }
        b.push_str("</ol>\n");
    }
    b.push_str("</section>\n");
}

fn flags_section(b: &mut String, a: &Assessment) {
    if a.flags.is_empty() {
        return;
    }
    b.push_str("<section aria-labelledby=\"flags\"><h2 id=\"flags\">To consider</h2><ul>\n");
    for f in &a.flags {
        let _ = writeln!(b, "<li>{}</li>", esc(&f.detail));
    }
    b.push_str("</ul></section>\n");
}

fn data_issues_section(b: &mut String, a: &Assessment) {
    b.push_str("<section aria-labelledby=\"issues\"><h2 id=\"issues\">Data issues</h2>\n");
    if a.data_issues.is_empty() {
        b.push_str("<p>None: every value the rules read could be used.</p>\n");
    } else {
        b.push_str("<p>Values that could not be used; the assessment may be incomplete.</p><ul>\n");
        for d in &a.data_issues {
            let _ = writeln!(
                b,
                "<li><code>{}</code> <code>{}</code>: {}</li>",
                esc(&d.resource),
                esc(&d.field),
                esc(&d.problem)
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let p = error_page("Bad", "<img src=x>", "again");
        assert!(p.contains("&lt;img src=x&gt;") && !p.contains("<img"));
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style() {
        let c = csp();
        assert!(c.contains("style-src 'sha256-") && !c.contains("unsafe"));
        assert!(
            !c.contains("script-src"),
            "default-src 'none' forbids scripts"
        );
        let p = error_page("t", "w", "x");
        assert_eq!(p.matches("<style>").count(), 1);
        assert!(!p.contains("<script"));
    }
}
