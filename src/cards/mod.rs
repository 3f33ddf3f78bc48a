//! Assessment → CDS Hooks cards (clinical-rules §10). Pure: no I/O, no clock.
//!
//! - one `critical` card per urgent recommendation;
//! - one TRD card when status is `met` (`warning`) or `possible` (`info`), laid out for an EHR
//!   sidebar: status sentence, one line per trial, the next steps in guideline order (the order of
//!   `knowledge/cards.toml`), "Other options", evidence last; at most [`MAX_SUGGESTIONS`] buttons,
//!   each creating a draft order; links to the guidance the steps rest on; the full assessment
//!   under `extension."trd-assessment"`;
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

use crate::cds_hooks::card::{
    Card, Coding, Indicator, Link, OverrideReason, Source, Suggestion, Suggestions, Summary,
};
use crate::clinical::{Assessment, FlagCode, Priority, Recommendation, RecommendationCode, Status};
use crate::fhir::record::PatientRecord;
use crate::knowledge::KnowledgeBase;

pub use detail::md_escape;

/// Namespace of trd-cds card/suggestion uuids (UUIDv5 of the URL namespace and "urn:trd-cds:cards").
const UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_5b3e_2a4d_5e8f_9b10_7c3d_2e1f_4a5b);

/// What the renderer needs from the deployment.
#[derive(Debug, Clone, Default)]
pub struct CardContext<'a> {
    /// The service's public base URL without a trailing slash (`TRD_CDS_PUBLIC_BASE_URL`, else
    /// `http://<Host>` of the request): card `source.url` is its [`HOW_IT_DECIDES_PATH`] page and
    /// `source.topic` codes live under [`TOPICS_PATH`].
    pub base_url: Option<&'a str>,
    /// The TRD card's `smart` link to the treatment-history app (`app::card_link`), when the app
    /// is configured.
    pub app_link: Option<&'a Link>,
}

/// The service's page about how it decides (served by `GET /how-it-decides`).
pub const HOW_IT_DECIDES_PATH: &str = "/how-it-decides";
/// The code system of `source.topic`, under the public base URL.
pub const TOPICS_PATH: &str = "/topics";
/// At most this many buttons per card: more is alert fatigue, not choice.
pub const MAX_SUGGESTIONS: usize = 4;
/// At most this many next steps in the detail; the rest go on the "Other options" line.
pub const MAX_NEXT_STEPS: usize = 4;

/// What a card is about (`source.topic`), coded in the service's own code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    TreatmentResistantDepression,
    SuicideRisk,
    UrgentEct,
    BipolarAntidepressant,
    MedicationOrderCheck,
}

impl Topic {
    fn code_display(self) -> (&'static str, &'static str) {
        match self {
            Topic::TreatmentResistantDepression => (
                "treatment-resistant-depression",
                "Treatment-resistant depression",
            ),
            Topic::SuicideRisk => ("suicide-risk", "Suicide risk"),
            Topic::UrgentEct => ("urgent-ect", "Urgent ECT evaluation"),
            Topic::BipolarAntidepressant => (
                "bipolar-antidepressant",
                "Antidepressant in bipolar disorder",
            ),
            Topic::MedicationOrderCheck => ("medication-order-check", "Medication order check"),
        }
    }
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
        out.push(urgent_card(a, kb, ctx, kind, rec, &fp));
    }

    let bipolar = a.flags.iter().any(|f| f.code == FlagCode::BipolarSpectrum);
    if bipolar {
        if let Some(card) = bipolar_card(a, record, kb, ctx, &fp) {
            out.push(card);
        }
    } else if matches!(a.status, Status::Met | Status::Possible) {
        out.push(trd_card(a, kb, ctx, &fp));
    }
    out
}

/// The source of the order hooks' cards.
fn source(kb: &KnowledgeBase, ctx: &CardContext<'_>) -> Source {
    source_for(kb, ctx, Topic::MedicationOrderCheck)
}

/// `source`: label with the knowledge-base version; url = the service's "how it decides" page;
/// topic coded in the service's code system. Without a base URL (unit tests) only the label.
pub(crate) fn source_for(kb: &KnowledgeBase, ctx: &CardContext<'_>, topic: Topic) -> Source {
    let label = format!("TRD CDS · knowledge base {}", kb.version());
    let s = Source::new(label).unwrap_or_else(|_| Source::new("TRD CDS").expect("static label"));
    let Some(base) = ctx.base_url else {
        return s;
    };
    let (code, display) = topic.code_display();
    s.with_url(format!("{base}{HOW_IT_DECIDES_PATH}"))
        .with_topic(Coding {
            system: format!("{base}{TOPICS_PATH}"),
            code: code.to_string(),
            display: Some(display.to_string()),
        })
}

/// The link to the app that shows the whole treatment history (a SMART launch): the one place
/// where it is added to the TRD card. None when the app is not configured.
fn app_link(ctx: &CardContext<'_>) -> Option<Link> {
    ctx.app_link.cloned()
}

/// The guidance the card's steps rest on (`knowledge/cards.toml`), each guideline once, in the
/// order the steps cite them; then the app link.
fn links(kb: &KnowledgeBase, ctx: &CardContext<'_>, recs: &[&Recommendation]) -> Vec<Link> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for r in recs {
        for g in kb.cards().step_guidelines(r.code.as_str()) {
            if seen.contains(&g.id.as_str()) {
                continue;
            }
            seen.push(&g.id);
            if let Ok(l) = Link::absolute(g.label.clone(), g.url.clone()) {
                out.push(l);
            }
        }
    }
    out.extend(app_link(ctx));
    out
}

/// The routine recommendations in the card order of `knowledge/cards.toml` (a code without a row
/// goes last, in engine order: the sort is stable).
fn in_card_order<'a>(a: &'a Assessment, kb: &KnowledgeBase) -> Vec<&'a Recommendation> {
    let mut recs: Vec<&Recommendation> = a
        .recommendations
        .iter()
        .filter(|r| r.priority == Priority::Routine)
        .collect();
    recs.sort_by_key(|r| kb.cards().step_rank(r.code.as_str()).unwrap_or(usize::MAX));
    recs
}

/// Up to [`MAX_SUGGESTIONS`] buttons, one per recommendation that is one order, in card order;
/// the first is the guideline-preferred one (`isRecommended`).
fn order_suggestions(
    a: &Assessment,
    kb: &KnowledgeBase,
    kind: CardKind,
    recs: &[&Recommendation],
    fp: &Fingerprint,
) -> (Vec<Suggestion>, Vec<(Uuid, RecommendationCode)>) {
    let mut items = Vec::new();
    let mut audit = Vec::new();
    for rec in recs {
        if items.len() == MAX_SUGGESTIONS {
            break;
        }
        let uuid = fp.suggestion_uuid(kind, rec.code);
        if let Some(s) = suggestions::build(a, kb, kind, rec.code, uuid) {
            let s = if items.is_empty() { s.recommended() } else { s };
            audit.push((uuid, rec.code));
            items.push(s);
        }
    }
    (items, audit)
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
    ctx: &CardContext<'_>,
    kind: CardKind,
    rec: &Recommendation,
    fp: &Fingerprint,
) -> RenderedCard {
    let (text, flags, topic): (&str, &[FlagCode], Topic) = match kind {
        CardKind::UrgentSafetyAssessment => (
            "Suicide risk documented: same-day safety assessment recommended",
            &[FlagCode::SuicideRisk],
            Topic::SuicideRisk,
        ),
        _ => (
            "Depression with psychotic features or catatonia: urgent ECT evaluation recommended",
            &[FlagCode::PsychoticFeatures, FlagCode::Catatonia],
            Topic::UrgentEct,
        ),
    };
    let step = suggestions::plan(rec.code, a, kb).sentence;
    let findings: Vec<_> = a.flags.iter().filter(|f| flags.contains(&f.code)).collect();
    // The engine says so in the rationale when the site does not offer ECT.
    let elsewhere = rec.code == RecommendationCode::UrgentEctEvaluation
        && rec.rationale.contains("refer externally");
    let mut card = Card::new(
        fp.card_uuid(kind),
        summary(text.to_string()),
        Indicator::Critical,
        source_for(kb, ctx, topic),
    )
    .with_detail(detail::urgent(a, kb, &step, &findings, elsewhere))
    .with_override_reasons(override_reasons());
    let (items, sugg) = order_suggestions(a, kb, kind, &[rec], fp);
    if let Ok(set) = Suggestions::any(items) {
        card = card.with_suggestions(set);
    }
    RenderedCard {
        kind,
        card,
        suggestions: sugg,
    }
}

fn trd_card(
    a: &Assessment,
    kb: &KnowledgeBase,
    ctx: &CardContext<'_>,
    fp: &Fingerprint,
) -> RenderedCard {
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
    let recs = in_card_order(a, kb);
    let plans: Vec<_> = recs
        .iter()
        .map(|r| suggestions::plan(r.code, a, kb))
        .collect();
    let shown: Vec<String> = plans
        .iter()
        .take(MAX_NEXT_STEPS)
        .map(|p| p.sentence.clone())
        .collect();
    let others: Vec<&str> = plans.iter().skip(MAX_NEXT_STEPS).map(|p| p.short).collect();
    let (items, sugg) = order_suggestions(a, kb, kind, &recs, fp);
    let mut card = Card::new(
        fp.card_uuid(kind),
        summary(text),
        indicator,
        source_for(kb, ctx, Topic::TreatmentResistantDepression),
    )
    .with_detail(detail::trd(a, kb, &shown, &others))
    .with_override_reasons(override_reasons())
    .with_links(links(kb, ctx, &recs));
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
    ctx: &CardContext<'_>,
    fp: &Fingerprint,
) -> Option<RenderedCard> {
    let running: Vec<_> = a.trials.iter().filter(|t| t.end.is_none()).collect();
    if running.is_empty() || crate::clinical::exposures::on_mood_stabiliser(record, kb, a.as_of) {
        return None;
    }
    let kind = CardKind::BipolarAntidepressant;
    let text =
        "Bipolar disorder on record: antidepressant without a mood stabiliser or antipsychotic"
            .to_string();
    let review: Vec<&Recommendation> = a
        .recommendations
        .iter()
        .filter(|r| r.code == RecommendationCode::SpecialistReview)
        .collect();
    let steps: Vec<String> = review
        .iter()
        .map(|r| suggestions::plan(r.code, a, kb).sentence)
        .collect();
    let (items, sugg) = order_suggestions(a, kb, kind, &review, fp);
    let mut card = Card::new(
        fp.card_uuid(kind),
        summary(text),
        Indicator::Warning,
        source_for(kb, ctx, Topic::BipolarAntidepressant),
    )
    .with_detail(detail::bipolar(a, kb, &running, &steps))
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
        // id changed: that breaks every stored feedback join, so it must be deliberate. The
        // knowledge-base version is part of the fingerprint (a card of another knowledge base is
        // another card): the pin moved with 2026.1 -> 2026.2.
        let r = met_patient();
        let a = r.assess("2025-01-01");
        let cards = patient_view(&a, &r.r, kb(), &CardContext::default());
        let trd = cards
            .iter()
            .find(|c| c.kind == CardKind::Trd)
            .expect("TRD card");
        let v = serde_json::to_value(&trd.card).expect("card json");
        assert_eq!(v["uuid"], "8fa7cf60-a949-5189-999a-ee6116dc90dd");
    }

    /// Every recommendation code. The match makes adding a code a compile error here until it is
    /// listed, so the next test covers it.
    fn all_codes() -> Vec<RecommendationCode> {
        use RecommendationCode as R;
        let all = vec![
            R::UrgentSafetyAssessment,
            R::UrgentEctEvaluation,
            R::SpecialistReview,
            R::OptimizeDose,
            R::ExtendTrial,
            R::VerifyTreatmentHistory,
            R::AddPsychotherapy,
            R::AugmentAntipsychotic,
            R::AugmentLithium,
            R::SwitchClass,
            R::CombineAntidepressant,
            R::ReferTms,
            R::ReferEsketamine,
            R::ReferEct,
            R::ReassessDiagnosis,
        ];
        for c in &all {
            match c {
                R::UrgentSafetyAssessment
                | R::UrgentEctEvaluation
                | R::SpecialistReview
                | R::OptimizeDose
                | R::ExtendTrial
                | R::VerifyTreatmentHistory
                | R::AddPsychotherapy
                | R::AugmentAntipsychotic
                | R::AugmentLithium
                | R::SwitchClass
                | R::CombineAntidepressant
                | R::ReferTms
                | R::ReferEsketamine
                | R::ReferEct
                | R::ReassessDiagnosis => {}
            }
        }
        all
    }

    #[test]
    fn every_routine_recommendation_has_a_place_in_the_card_order() {
        let cards = kb().cards();
        for code in all_codes() {
            let urgent = matches!(
                code,
                RecommendationCode::UrgentSafetyAssessment
                    | RecommendationCode::UrgentEctEvaluation
            );
            assert_eq!(
                cards.step_rank(code.as_str()).is_some(),
                !urgent,
                "knowledge/cards.toml [[step]] for {}",
                code.as_str()
            );
            if !urgent {
                assert!(cards.step_guidelines(code.as_str()).next().is_some());
            }
        }
    }

    fn trd_json(base: Option<&str>) -> serde_json::Value {
        let r = met_patient();
        let a = r.assess("2025-01-01");
        let cards = patient_view(
            &a,
            &r.r,
            kb(),
            &CardContext {
                base_url: base,
                ..Default::default()
            },
        );
        let trd = cards.iter().find(|c| c.kind == CardKind::Trd).expect("TRD");
        serde_json::to_value(&trd.card).expect("card json")
    }

    #[test]
    fn next_steps_follow_the_knowledge_order_and_buttons_are_capped() {
        let v = trd_json(None);
        let detail = v["detail"].as_str().unwrap();
        // Psychological therapy first when there was none (NICE NG222, CANMAT 2023), then
        // augmentation before switching (CANMAT 2023 adjunct line), neuromodulation after.
        let at = |s: &str| detail.find(s).unwrap_or_else(|| panic!("{s}: {detail}"));
        assert!(
            at("1. Add an evidence-based psychological therapy") < at("2. Add an antipsychotic")
        );
        assert!(at("2. Add an antipsychotic") < at("3. Switch to an antidepressant"));
        assert!(at("Other options:") > at("4. Add lithium"));
        let sugg = v["suggestions"].as_array().unwrap();
        assert!(sugg.len() <= MAX_SUGGESTIONS);
        assert_eq!(sugg[0]["isRecommended"], true);
        assert!(sugg[1..].iter().all(|s| s.get("isRecommended").is_none()));
        assert!(
            sugg.iter()
                .all(|s| s["actions"].as_array().is_some_and(|a| !a.is_empty()))
        );
        // Without a base URL (no request): no source url or topic, links still there.
        assert!(v["source"].get("url").is_none());
        assert!(!v["links"].as_array().unwrap().is_empty());
        assert!(app_link(&CardContext::default()).is_none());
    }

    #[test]
    fn source_has_the_how_it_decides_page_and_a_coded_topic() {
        let v = trd_json(Some("https://cds.example.org"));
        assert_eq!(v["source"]["url"], "https://cds.example.org/how-it-decides");
        assert_eq!(
            v["source"]["topic"]["system"],
            "https://cds.example.org/topics"
        );
        assert_eq!(
            v["source"]["topic"]["code"],
            "treatment-resistant-depression"
        );
    }
}
