//! Order-hook findings → cards (clinical-rules §10–§11). Pure.
//!
//! One card per finding (draft × ingredient × kind), most severe first:
//! - `critical` MAOI interaction: the washout dates, and a suggestion to cancel the draft (delete);
//! - `warning` another trial of a class that already failed: the engine's augmentation / referral
//!   alternatives, each a `delete` of the draft plus a `create` of the alternative, `at-most-one`;
//! - `warning` antidepressant without a mood stabiliser or antipsychotic in bipolar disorder;
//! - `info` daily dose below the minimum: an `update` of the draft with the dose raised.
//!
//! Uuids are UUIDv5 of the card kind, the draft, its ingredient and dose, and the assessment's
//! fingerprint (the same approach as patient-view), so the same order on the same data gives the
//! same uuids.

use std::fmt::Write;

use serde_json::Value;
use uuid::Uuid;

mod draft_update;

use super::{
    CardContext, CardKind, Fingerprint, RenderedCard, UUID_NAMESPACE, md_escape, override_reasons,
    source, suggestions, summary,
};
use crate::cds_hooks::card::{Action, Card, Indicator, Source, Suggestion, Suggestions};
use crate::clinical::orders::{FindingKind, MaoiPair, OrderFinding};
use crate::clinical::trials::fmt_mg;
use crate::clinical::{Assessment, RecommendationCode, Status};
use crate::dates::format_day;
use crate::fhir::reader::{DoseEdit, DraftOrder};
use crate::knowledge::KnowledgeBase;

/// At most this many suggestions on one card: a sidebar shows four buttons legibly (issue 15).
const MAX_SUGGESTIONS: usize = 4;

fn kind_of(f: &FindingKind) -> CardKind {
    match f {
        FindingKind::MaoiInteraction { .. } => CardKind::OrderMaoiInteraction,
        FindingKind::RepeatFailedClass { .. } => CardKind::OrderRepeatFailedClass,
        FindingKind::BipolarMonotherapy { .. } => CardKind::OrderBipolarMonotherapy,
        FindingKind::DoseBelowMinimum { .. } => CardKind::OrderDoseBelowMinimum,
    }
}

struct Ids<'f> {
    fp: &'f Fingerprint,
    key: String,
}

impl Ids<'_> {
    fn card(&self) -> Uuid {
        Uuid::new_v5(
            &UUID_NAMESPACE,
            format!("order-card|{}|{}", self.key, self.fp.0).as_bytes(),
        )
    }
    fn suggestion(&self, what: &str) -> Uuid {
        Uuid::new_v5(
            &UUID_NAMESPACE,
            format!("order-suggestion|{}|{what}|{}", self.key, self.fp.0).as_bytes(),
        )
    }
}

/// Render the cards of the order-hook findings.
pub fn order_cards(
    a: &Assessment,
    findings: &[OrderFinding],
    drafts: &[DraftOrder],
    kb: &KnowledgeBase,
    ctx: &CardContext<'_>,
) -> Vec<RenderedCard> {
    let fp = Fingerprint::of(a);
    let src = source(kb, ctx);
    let position = |id: &str| drafts.iter().position(|d| d.resource_id == id);
    let mut sorted: Vec<&OrderFinding> = findings.iter().collect();
    sorted.sort_by_key(|f| (f.kind.rank(), position(&f.draft), f.ingredient.clone()));
    let mut out = Vec::new();
    for f in sorted {
        let Some(draft) = drafts.iter().find(|d| d.resource_id == f.draft) else {
            continue;
        };
        let kind = kind_of(&f.kind);
        let ids = Ids {
            fp: &fp,
            key: format!(
                "{}|{}|{}|{}",
                kind.as_str(),
                f.draft,
                f.ingredient,
                f.daily_dose_mg
                    .map_or_else(|| "-".to_string(), |d| d.to_string())
            ),
        };
        let cx = Cx {
            a,
            kb,
            f,
            draft,
            ids: &ids,
            source: &src,
        };
        let card = match &f.kind {
            FindingKind::MaoiInteraction { pairs } => cx.maoi(pairs),
            FindingKind::RepeatFailedClass {
                class,
                failed,
                alternatives,
                adherence,
            } => cx.repeat_class(class, failed, alternatives, adherence.as_ref()),
            FindingKind::BipolarMonotherapy { evidence } => cx.bipolar(evidence),
            FindingKind::DoseBelowMinimum {
                daily_dose_mg,
                minimum_mg_day,
                combination,
            } => cx.low_dose(*daily_dose_mg, *minimum_mg_day, *combination),
        };
        out.push(card);
    }
    out
}

fn refs(v: &[String]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|r| format!("`{}`", r.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Cx<'c> {
    a: &'c Assessment,
    kb: &'c KnowledgeBase,
    f: &'c OrderFinding,
    draft: &'c DraftOrder,
    ids: &'c Ids<'c>,
    source: &'c Source,
}

impl Cx<'_> {
    fn name(&self, id: &str) -> String {
        self.kb
            .ingredient(id)
            .map_or_else(|| id.to_string(), |i| i.display.clone())
    }

    fn dose_text(&self) -> String {
        self.f.daily_dose_mg.map_or_else(
            || "dose unknown".into(),
            |d| format!("{} mg/day", fmt_mg(d)),
        )
    }

    /// The draft line, its data issues and assumptions, and the provenance line.
    fn footer(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "**Draft order:** {} — {} ({}).\n",
            refs(std::slice::from_ref(&self.draft.resource_id)),
            md_escape(&self.name(&self.f.ingredient)),
            self.dose_text()
        );
        if !self.draft.assumptions.is_empty() {
            let _ = writeln!(
                s,
                "Assumptions: {}.\n",
                md_escape(&self.draft.assumptions.join("; "))
            );
        }
        if !self.draft.data_issues.is_empty() || !self.a.data_issues.is_empty() {
            s.push_str("**Data issues** (values that could not be used):\n\n");
            for d in self.draft.data_issues.iter().chain(&self.a.data_issues) {
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
        let _ = write!(
            s,
            "_Knowledge base {}, evaluated as of {}._",
            md_escape(self.kb.version()),
            format_day(self.a.as_of)
        );
        if self
            .kb
            .ingredient(&self.f.ingredient)
            .is_some_and(|i| i.review_status != "reviewed")
        {
            let _ = write!(
                s,
                " _The knowledge-base row for {} is not yet clinically reviewed. Verify before acting._",
                md_escape(&self.f.ingredient)
            );
        }
        s.push('\n');
    }

    fn card(
        &self,
        text: String,
        indicator: Indicator,
        detail: String,
        sugg: Option<Suggestions>,
    ) -> Card {
        let mut card = Card::new(
            self.ids.card(),
            summary(text),
            indicator,
            self.source.clone(),
        )
        .with_detail(detail)
        .with_override_reasons(override_reasons());
        if let Some(s) = sugg {
            card = card.with_suggestions(s);
        }
        card
    }

    fn delete_draft(&self) -> Option<Action> {
        Action::delete(
            format!("Remove the draft {} order", self.name(&self.f.ingredient)),
            self.draft.resource_id.clone(),
        )
        .ok()
    }

    /// The partner (non-MAOI) side of a pair is serotonergic (serotonin syndrome), or contraindicated
    /// with MAOIs for another reason (amphetamines, methylphenidate, carbamazepine: hypertensive crisis).
    fn partner_is_serotonergic(&self, p: &MaoiPair) -> bool {
        self.kb
            .ingredient(&p.serotonergic)
            .is_none_or(|i| i.serotonergic)
    }

    fn maoi(&self, pairs: &[MaoiPair]) -> RenderedCard {
        let drug = self.name(&self.f.ingredient);
        let first = &pairs[0];
        let other = self.name(&first.other);
        let (risk, pair) = if self.partner_is_serotonergic(first) {
            ("Serotonin-syndrome risk", "MAOI and serotonergic drug")
        } else {
            (
                "Hypertensive-crisis risk",
                "MAOI and a drug contraindicated with it",
            )
        };
        let text = match (first.other_is_draft, first.days_since_end) {
            (true, _) => format!("{risk}: {drug} ordered together with {other} ({pair})"),
            (false, None) => format!("{risk}: {drug} ordered while {other} is current ({pair})"),
            (false, Some(n)) if first.draft_is_maoi => format!(
                "{risk}: MAOI {drug} ordered {n} days after {other} stopped (washout {} days)",
                first.washout_days
            ),
            (false, Some(n)) => format!(
                "{risk}: {drug} ordered {n} days after the MAOI {other} stopped (washout {} days)",
                first.washout_days
            ),
        };
        let mut s = String::with_capacity(1024);
        let _ = writeln!(
            s,
            "**{}** is {} and would start on {} (the draft is read as starting today). It interacts with:\n",
            md_escape(&drug),
            if first.draft_is_maoi {
                "an MAOI"
            } else if self.partner_is_serotonergic(first) {
                "serotonergic"
            } else {
                "contraindicated with MAOIs"
            },
            format_day(self.a.as_of)
        );
        for p in pairs {
            let other = md_escape(&self.name(&p.other));
            let what = match (p.draft_is_maoi, self.partner_is_serotonergic(p)) {
                (false, _) => "MAOI",
                (true, true) => "serotonergic",
                (true, false) => "contraindicated with MAOIs",
            };
            let line = match (p.other_is_draft, p.other_ended, p.safe_from) {
                (true, _, _) => format!(
                    "**{other}** ({what}) is ordered in the same session ({}): an MAOI and a serotonergic drug are never started together.",
                    refs(&p.other_sources)
                ),
                (false, Some(end), Some(from)) if p.draft_is_maoi => format!(
                    "**{other}** ({what}) stopped {} ({}); washout before an MAOI: {} days. **An MAOI may start from {}.**",
                    format_day(end),
                    refs(&p.other_sources),
                    p.washout_days,
                    format_day(from)
                ),
                (false, Some(end), Some(from)) => format!(
                    "**{other}** ({what}) stopped {} ({}); washout after an MAOI: {} days. **A serotonergic drug may start from {}.**",
                    format_day(end),
                    refs(&p.other_sources),
                    p.washout_days,
                    format_day(from)
                ),
                _ => format!(
                    "**{other}** ({what}) is current ({}): it must be stopped first, then a washout of {} days observed.",
                    refs(&p.other_sources),
                    p.washout_days
                ),
            };
            let _ = writeln!(s, "- {line}");
        }
        s.push('\n');
        self.footer(&mut s);
        let kind = CardKind::OrderMaoiInteraction;
        let sugg = self
            .delete_draft()
            .and_then(|del| {
                Suggestion::new(
                    format!("Cancel the draft {drug} order"),
                    self.ids.suggestion("cancel"),
                    vec![del],
                )
                .ok()
            })
            .and_then(|s| Suggestions::at_most_one(vec![s]).ok());
        RenderedCard {
            kind,
            card: self.card(text, Indicator::Critical, s, sugg),
            suggestions: Vec::new(),
        }
    }

    fn repeat_class(
        &self,
        class: &str,
        failed: &[crate::clinical::orders::FailedTrial],
        alternatives: &[RecommendationCode],
        adherence: Option<&crate::clinical::Flag>,
    ) -> RenderedCard {
        let kind = CardKind::OrderRepeatFailedClass;
        let drug = self.name(&self.f.ingredient);
        let mut distinct: Vec<&str> = failed.iter().map(|t| t.ingredient.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let text = format!(
            "{} {class} trials already failed: consider augmentation or referral instead of {drug}",
            distinct.len()
        );
        let mut s = String::with_capacity(1024);
        let _ = writeln!(
            s,
            "**TRD status: {}** — {} failed adequate antidepressant trial(s); {} of them {} ({}). The draft starts another {} trial.\n",
            if self.a.status == Status::Met {
                "met"
            } else {
                "not met"
            },
            self.a.failed_adequate_trials,
            distinct.len(),
            md_escape(class),
            md_escape(&distinct.join(", ")),
            md_escape(class)
        );
        s.push_str("| Failed trial | Dates | Evidence |\n|---|---|---|\n");
        for t in failed {
            let _ = writeln!(
                s,
                "| {} | {} → {} | {} |",
                md_escape(&self.name(&t.ingredient)),
                format_day(t.start),
                t.end.map_or_else(|| "ongoing".to_string(), format_day),
                refs(&t.evidence)
            );
        }
        if let Some(f) = adherence {
            let _ = writeln!(
                s,
                "\n**Adherence:** {} ({}). Non-adherence, not resistance, may explain a poor response, and another {} trial would not address it: review adherence first.",
                md_escape(&f.detail),
                refs(&f.evidence),
                md_escape(class)
            );
        }
        let st = &self.a.staging;
        let _ = writeln!(
            s,
            "\n**Staging:** treatment step {} · Thase–Rush stage {} · MGH-S {}\n",
            st.treatment_step,
            st.thase_rush,
            fmt_mg(st.mgh_s)
        );
        let mut items = Vec::new();
        let mut audit = Vec::new();
        let mut others = Vec::new();
        for code in alternatives {
            let uuid = self.ids.suggestion(code.as_str());
            let Some(alt) = suggestions::build(self.a, self.kb, kind, *code, uuid) else {
                continue;
            };
            let rationale = self
                .a
                .recommendations
                .iter()
                .find(|r| r.code == *code)
                .map(|r| r.rationale.clone());
            let line = match rationale {
                Some(r) => format!("**{}**: {}", md_escape(alt.label()), md_escape(&r)),
                None => format!("**{}**", md_escape(alt.label())),
            };
            if alt.actions().is_empty() || items.len() == MAX_SUGGESTIONS {
                others.push(line);
                continue;
            }
            let Some(del) = self.delete_draft() else {
                continue;
            };
            // Create first, delete last: a client that applies the actions one at a time and
            // stops half-way leaves the patient with the alternative *and* the draft (visible,
            // to be cancelled by hand), never with neither (issue 15: the reference client
            // applied the delete and dropped the create).
            let mut actions: Vec<Action> = alt.actions().to_vec();
            actions.push(del);
            if let Ok(sug) =
                Suggestion::new(format!("Instead of {drug}: {}", alt.label()), uuid, actions)
            {
                audit.push((uuid, *code));
                let _ = writeln!(s, "- {line}");
                items.push(sug);
            }
        }
        if !items.is_empty() {
            s.push('\n');
        }
        if !others.is_empty() {
            let _ = writeln!(s, "Other options: {}.\n", others.join("; "));
        }
        self.footer(&mut s);
        let sugg = Suggestions::at_most_one(items).ok();
        RenderedCard {
            kind,
            card: self.card(text, Indicator::Warning, s, sugg),
            suggestions: audit,
        }
    }

    fn bipolar(&self, evidence: &[String]) -> RenderedCard {
        let kind = CardKind::OrderBipolarMonotherapy;
        let drug = self.name(&self.f.ingredient);
        let text = format!(
            "Bipolar disorder on record: {drug} ordered without a mood stabiliser or antipsychotic"
        );
        let mut s = String::with_capacity(1024);
        let _ = writeln!(
            s,
            "A bipolar-spectrum diagnosis is on record ({}) and **{}** is ordered with no mood stabiliser or \
antipsychotic among the current medications or the other draft orders. Antidepressant monotherapy risks a \
switch to mania or rapid cycling.\n",
            refs(evidence),
            md_escape(&drug)
        );
        self.footer(&mut s);
        let mut items = Vec::new();
        let mut audit = Vec::new();
        let code = RecommendationCode::SpecialistReview;
        if self.a.recommendations.iter().any(|r| r.code == code) {
            let uuid = self.ids.suggestion(code.as_str());
            if let Some(sug) = suggestions::build(self.a, self.kb, kind, code, uuid) {
                audit.push((uuid, code));
                items.push(sug);
            }
        }
        RenderedCard {
            kind,
            card: self.card(text, Indicator::Warning, s, Suggestions::any(items).ok()),
            suggestions: audit,
        }
    }

    fn low_dose(&self, dose: f64, minimum: f64, combination: bool) -> RenderedCard {
        let kind = CardKind::OrderDoseBelowMinimum;
        let drug = self.name(&self.f.ingredient);
        let what = if combination {
            "minimum dose as an added antidepressant"
        } else {
            "minimum adequate dose"
        };
        let text = format!(
            "{drug} {} mg/day is below the {what} ({} mg/day)",
            fmt_mg(dose),
            fmt_mg(minimum)
        );
        let mut s = String::with_capacity(512);
        let _ = writeln!(
            s,
            "The draft's daily dose of **{}** is {} mg/day; the knowledge base's {what} is {} mg/day. A trial held \
below it does not count as an adequate trial. If this is a titration start, plan the increase.\n",
            md_escape(&drug),
            fmt_mg(dose),
            fmt_mg(minimum)
        );
        self.footer(&mut s);
        let mut items = Vec::new();
        let mut audit = Vec::new();
        let code = RecommendationCode::OptimizeDose;
        if let Some(edit) = self.draft.dose_edit
            && let Some((resource, per_admin)) = raised(&self.draft.raw, &edit, minimum)
        {
            let label = format!(
                "Raise {drug} to {} mg/day ({} mg per administration)",
                fmt_mg(minimum),
                fmt_mg(per_admin)
            );
            let uuid = self.ids.suggestion(code.as_str());
            if let Ok(action) = Action::update(
                format!(
                    "Change the draft {drug} order to {} mg/day",
                    fmt_mg(minimum)
                ),
                resource,
            ) && let Ok(sug) = Suggestion::new(label, uuid, vec![action])
            {
                audit.push((uuid, code));
                items.push(sug);
            }
        }
        RenderedCard {
            kind,
            card: self.card(text, Indicator::Info, s, Suggestions::any(items).ok()),
            suggestions: audit,
        }
    }
}

/// The draft, rebuilt from its valid fields ([`draft_update`]), with its dose per administration
/// raised so the daily dose is `minimum` mg at the draft's own timing; the dose per administration
/// is rounded up to a thousandth of a mg (never below the minimum).
fn raised(raw: &Value, edit: &DoseEdit, minimum: f64) -> Option<(Value, f64)> {
    if !(edit.per_day.is_finite() && edit.per_day > 0.0) {
        return None;
    }
    let per_admin = (minimum / edit.per_day * 1000.0).ceil() / 1000.0;
    let note = format!(
        "{} mg per administration, {} mg/day (raised to the minimum daily dose)",
        fmt_mg(per_admin),
        fmt_mg(minimum)
    );
    let v = draft_update::with_dose(raw, edit, per_admin, &note)?;
    Some((v, per_admin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raised_changes_only_the_dose() {
        let raw = json!({"resourceType": "MedicationRequest", "id": "d1", "status": "draft",
            "dosageInstruction": [{"text": "25 mg daily", "timing": {"code": {"text": "BID"}},
                "doseAndRate": [{"type": {"text": "ordered"}, "doseRange": {"high": {"value": 12.5, "unit": "mg"}}}]}]});
        let edit = DoseEdit {
            dosage_index: 0,
            dose_and_rate_index: 0,
            per_day: 2.0,
        };
        let (v, per) = raised(&raw, &edit, 50.0).unwrap();
        assert_eq!(per, 25.0);
        let dr = &v["dosageInstruction"][0]["doseAndRate"][0];
        assert_eq!(dr["doseQuantity"]["value"], 25.0);
        assert_eq!(dr["type"]["text"], "ordered");
        assert!(dr.get("doseRange").is_none());
        assert!(
            v["dosageInstruction"][0]["text"]
                .as_str()
                .unwrap()
                .ends_with("was: 25 mg daily")
        );
        assert_eq!(v["id"], "d1");
        // Thirds round up, never below the minimum.
        let edit = DoseEdit {
            per_day: 3.0,
            ..edit
        };
        let (_, per) = raised(&raw, &edit, 50.0).unwrap();
        assert!(per * 3.0 >= 50.0);
    }
}
