//! Assessment → CDS Hooks cards (clinical-rules §10). Pure: no I/O, no clock.
//!
//! - one `critical` card per urgent recommendation;
//! - one TRD card when status is `met` (`warning`) or `possible` (`info`), with every counted trial,
//!   the staging, flags, data issues and knowledge-base version in its markdown detail, the routine
//!   recommendations as suggestions, and the full assessment under `extension."trd-assessment"`;
//! - a `warning` instead of the TRD card for a bipolar-spectrum patient on an antidepressant without
//!   a mood stabiliser or antipsychotic;
//! - nothing otherwise: silence is the default.
//!
//! Card and suggestion uuids are UUIDv5 of a fingerprint of the patient, the card kind, the
//! recommendation and the assessed data, so the same data gives the same uuids (feedback joins).

mod detail;
pub mod orders;
pub(crate) mod suggestions;

use uuid::Uuid;

use crate::cds_hooks::card::{Card, Indicator, OverrideReason, Source, Suggestions, Summary};
use crate::clinical::{Assessment, FlagCode, Priority, RecommendationCode, Status};
use crate::fhir::record::PatientRecord;
use crate::knowledge::KnowledgeBase;

pub use detail::md_escape;

/// Namespace of trd-cds card/suggestion uuids (UUIDv5 of the URL namespace and "urn:trd-cds:cards").
const UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_5b3e_2a4d_5e8f_9b10_7c3d_2e1f_4a5b);

/// What the renderer needs from the deployment.
#[derive(Debug, Clone, Default)]
pub struct CardContext<'a> {
    /// Where a clinician can read about the service (card `source.url`).
    pub source_url: Option<&'a str>,
}

/// The kind of a card, for audit and feedback analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKind {
    UrgentSafetyAssessment,
    UrgentEctEvaluation,
    Trd,
    BipolarAntidepressant,
    /// Order hooks (clinical-rules §11).
    OrderMaoiInteraction,
    OrderRepeatFailedClass,
    OrderBipolarMonotherapy,
    OrderDoseBelowMinimum,
}

impl CardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::UrgentSafetyAssessment => "urgent-safety-assessment",
            CardKind::UrgentEctEvaluation => "urgent-ect-evaluation",
            CardKind::Trd => "trd",
            CardKind::BipolarAntidepressant => "bipolar-antidepressant-monotherapy",
            CardKind::OrderMaoiInteraction => "order-maoi-interaction",
            CardKind::OrderRepeatFailedClass => "order-repeat-failed-class",
            CardKind::OrderBipolarMonotherapy => "order-bipolar-monotherapy",
            CardKind::OrderDoseBelowMinimum => "order-dose-below-minimum",
        }
    }
}

/// A card with what audit and analytics need to know about it.
#[derive(Debug, Clone)]
pub struct RenderedCard {
    pub kind: CardKind,
    pub card: Card,
    /// Each suggestion's uuid and the recommendation it carries.
    pub suggestions: Vec<(Uuid, RecommendationCode)>,
}

/// HL7 non-adherence reason codes (CDS Hooks 3.0 vocabulary) offered as override reasons.
const OVERRIDE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes";
const OVERRIDE_REASONS: &[(&str, &str)] = &[
    (
        "action-completed",
        "Recommended action was already completed",
    ),
    (
        "action-unsuccessful",
        "Recommended action was previously unsuccessful",
    ),
    (
        "patient-contraindication",
        "Patient has contraindication to recommended action",
    ),
    (
        "need-more-info",
        "Could not address recommended action due to need for more information/pending results/pending consult",
    ),
    (
        "prefers-alternative",
        "Patient prefers an alternative approach or treatment",
    ),
    (
        "patient-refuses",
        "Patient refuses/declines (no context given)",
    ),
    (
        "service-not-available",
        "Treatment or service is not practically available",
    ),
    (
        "does-not-align-latest-evidence",
        "Recommended action does not align with the latest evidence",
    ),
];

fn override_reasons() -> Vec<OverrideReason> {
    OVERRIDE_REASONS
        .iter()
        .filter_map(|(code, display)| OverrideReason::new(OVERRIDE_SYSTEM, code, display).ok())
        .collect()
}

/// Render the patient-view cards of an assessment.
pub fn patient_view(
    a: &Assessment,
    record: &PatientRecord,
    kb: &KnowledgeBase,
    ctx: &CardContext<'_>,
) -> Vec<RenderedCard> {
    let fp = Fingerprint::of(a);
    let source = source(kb, ctx);
    let mut out = Vec::new();

    for rec in a
        .recommendations
        .iter()
        .filter(|r| r.priority == Priority::Urgent)
    {
        let kind = match rec.code {
            RecommendationCode::UrgentSafetyAssessment => CardKind::UrgentSafetyAssessment,
            RecommendationCode::UrgentEctEvaluation => CardKind::UrgentEctEvaluation,
            _ => continue,
        };
        out.push(urgent_card(a, kb, kind, rec, &fp, &source));
    }

    let bipolar = a.flags.iter().any(|f| f.code == FlagCode::BipolarSpectrum);
    if bipolar {
        if let Some(card) = bipolar_card(a, record, kb, &fp, &source) {
            out.push(card);
        }
    } else if matches!(a.status, Status::Met | Status::Possible) {
        out.push(trd_card(a, kb, &fp, &source));
    }
    out
}

fn source(kb: &KnowledgeBase, ctx: &CardContext<'_>) -> Source {
    let label = format!("TRD CDS · knowledge base {}", kb.version());
    let s = Source::new(label).unwrap_or_else(|_| Source::new("TRD CDS").expect("static label"));
    match ctx.source_url {
        Some(u) => s.with_url(u),
        None => s,
    }
}

/// The contract's wire name of an enum value (its serde name: `met`, `failed`, `suicide-risk`), the
/// stable text card ids hash (never `Debug`, which follows Rust variant names).
pub(crate) fn wire_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The data a card's identity depends on, digested once into a base UUID from which each card's
/// and suggestion's UUID is derived (UUIDv5 of short names: one hash over the long fingerprint).
struct Fingerprint(Uuid);

impl Fingerprint {
    fn of(a: &Assessment) -> Fingerprint {
        use std::fmt::Write;
        let mut s = String::with_capacity(512);
        let _ = write!(
            s,
            "{}|{}|{}|",
            a.patient.as_deref().unwrap_or("-"),
            a.knowledge_base.version,
            wire_name(&a.status)
        );
        for t in &a.trials {
            let _ = write!(
                s,
                "t:{}:{}:{}:{}:{};",
                t.ingredient,
                t.start,
                t.max_daily_dose_mg
                    .map_or_else(|| "-".to_string(), |d| d.to_string()),
                wire_name(&t.outcome),
                t.evidence.join(",")
            );
        }
        for g in &a.augmentations {
            let _ = write!(s, "a:{}:{}:{};", g.agent, g.start, wire_name(&g.outcome));
        }
        for f in &a.flags {
            let _ = write!(s, "f:{}:{};", wire_name(&f.code), f.evidence.join(","));
        }
        Fingerprint(Uuid::new_v5(&UUID_NAMESPACE, s.as_bytes()))
    }
    fn card_uuid(&self, kind: CardKind) -> Uuid {
        Uuid::new_v5(&self.0, format!("card|{}", kind.as_str()).as_bytes())
    }
    fn suggestion_uuid(&self, kind: CardKind, code: RecommendationCode) -> Uuid {
        Uuid::new_v5(
            &self.0,
            format!("suggestion|{}|{}", kind.as_str(), code.as_str()).as_bytes(),
        )
    }
}

fn summary(text: String) -> Summary {
    // Summaries are built from short fixed phrases and small numbers; the fallback only guards the invariant.
    Summary::new(text).unwrap_or_else(|_| {
        Summary::new("Treatment-resistant depression assessment").expect("static summary")
    })
}

fn urgent_card(
    a: &Assessment,
    kb: &KnowledgeBase,
    kind: CardKind,
    rec: &crate::clinical::Recommendation,
    fp: &Fingerprint,
    source: &Source,
) -> RenderedCard {
    let (text, flags): (&str, &[FlagCode]) = match kind {
        CardKind::UrgentSafetyAssessment => (
            "Suicide risk documented: same-day safety assessment recommended",
            &[FlagCode::SuicideRisk],
        ),
        _ => (
            "Depression with psychotic features or catatonia: urgent ECT evaluation recommended",
            &[FlagCode::PsychoticFeatures, FlagCode::Catatonia],
        ),
    };
    let mut card = Card::new(
        fp.card_uuid(kind),
        summary(text.to_string()),
        Indicator::Critical,
        source.clone(),
    )
    .with_detail(detail::urgent(a, kb, rec, flags))
    .with_override_reasons(override_reasons());
    let mut sugg = Vec::new();
    if kind == CardKind::UrgentEctEvaluation
        && let Some(s) =
            suggestions::build(a, kb, kind, rec.code, fp.suggestion_uuid(kind, rec.code))
    {
        sugg.push((s.uuid(), rec.code));
        if let Ok(set) = Suggestions::any(vec![s]) {
            card = card.with_suggestions(set);
        }
    }
    RenderedCard {
        kind,
        card,
        suggestions: sugg,
    }
}

fn trd_card(a: &Assessment, kb: &KnowledgeBase, fp: &Fingerprint, source: &Source) -> RenderedCard {
    let kind = CardKind::Trd;
    let (indicator, text) = match a.status {
        Status::Met => (
            Indicator::Warning,
            format!(
                "Treatment-resistant depression: {} failed adequate antidepressant trials (treatment step {})",
                a.failed_adequate_trials, a.staging.treatment_step
            ),
        ),
        _ => (
            Indicator::Info,
            "Possible treatment-resistant depression: verify the antidepressant trial history"
                .to_string(),
        ),
    };
    let routine: Vec<_> = a
        .recommendations
        .iter()
        .filter(|r| r.priority == Priority::Routine)
        .collect();
    let mut items = Vec::new();
    let mut sugg = Vec::new();
    for rec in &routine {
        if let Some(s) =
            suggestions::build(a, kb, kind, rec.code, fp.suggestion_uuid(kind, rec.code))
        {
            sugg.push((s.uuid(), rec.code));
            items.push(s);
        }
    }
    let mut card = Card::new(fp.card_uuid(kind), summary(text), indicator, source.clone())
        .with_detail(detail::trd(a, kb))
        .with_override_reasons(override_reasons());
    if let Ok(set) = Suggestions::any(items) {
        card = card.with_suggestions(set);
    }
    card = card.with_extension("trd-assessment", a);
    RenderedCard {
        kind,
        card,
        suggestions: sugg,
    }
}

fn bipolar_card(
    a: &Assessment,
    record: &PatientRecord,
    kb: &KnowledgeBase,
    fp: &Fingerprint,
    source: &Source,
) -> Option<RenderedCard> {
    let running: Vec<_> = a.trials.iter().filter(|t| t.end.is_none()).collect();
    if running.is_empty() || crate::clinical::exposures::on_mood_stabiliser(record, kb, a.as_of) {
        return None;
    }
    let kind = CardKind::BipolarAntidepressant;
    let text =
        "Bipolar disorder on record: antidepressant without a mood stabiliser or antipsychotic"
            .to_string();
    let mut items = Vec::new();
    let mut sugg = Vec::new();
    if let Some(rec) = a
        .recommendations
        .iter()
        .find(|r| r.code == RecommendationCode::SpecialistReview)
        && let Some(s) =
            suggestions::build(a, kb, kind, rec.code, fp.suggestion_uuid(kind, rec.code))
    {
        sugg.push((s.uuid(), rec.code));
        items.push(s);
    }
    let mut card = Card::new(
        fp.card_uuid(kind),
        summary(text),
        Indicator::Warning,
        source.clone(),
    )
    .with_detail(detail::bipolar(a, kb, &running))
    .with_override_reasons(override_reasons());
    if let Ok(set) = Suggestions::any(items) {
        card = card.with_suggestions(set);
    }
    Some(RenderedCard {
        kind,
        card,
        suggestions: sugg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::{kb, met_patient};

    #[test]
    fn card_ids_are_pinned_to_wire_names() {
        // Card ids join feedback across calls: they hash the contract's wire names (serde), never Rust
        // `Debug` output, so renaming an enum variant cannot silently change them. If this fails, an
        // id changed: that breaks every stored feedback join, so it must be deliberate.
        let r = met_patient();
        let a = r.assess("2025-01-01");
        let cards = patient_view(&a, &r.r, kb(), &CardContext::default());
        let trd = cards
            .iter()
            .find(|c| c.kind == CardKind::Trd)
            .expect("TRD card");
        let v = serde_json::to_value(&trd.card).expect("card json");
        assert_eq!(v["uuid"], "cf68aa69-56c6-5954-a6d8-537f17191742");
    }
}
