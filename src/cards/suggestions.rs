//! What each recommendation becomes on a card: one plain sentence for the detail and at most one
//! order (a draft `ServiceRequest` or `MedicationRequest`). A strategy that is not one order
//! (switch, combine, optimise) is only a sentence — never a button that does nothing.
//!
//! [`plan`] is the one mapping recommendation → (sentence, order); a new recommendation (e.g.
//! `add-psychotherapy`: a referral to [`ReferralService::PsychologicalTherapy`]) is one match arm
//! there plus its `[[step]]` row in `knowledge/cards.toml`.

use uuid::Uuid;

use super::CardKind;
use super::detail::num;
use crate::cds_hooks::card::{Action, Suggestion};
use crate::clinical::trials::fmt_mg;
use crate::clinical::{Assessment, FlagCode, RecommendationCode as R, Trial};
use crate::fhir::emit::{self, Concept, DraftPrescription, Referral};
use crate::knowledge::cards::ReferralService;
use crate::knowledge::{DrugClass, DrugRole, Ingredient, KnowledgeBase, systems};

/// An order a suggestion creates.
#[derive(Debug, Clone)]
pub enum Order<'k> {
    /// A draft referral (`ServiceRequest`): to `service`, for `what` (the ServiceRequest's text).
    Referral {
        service: ReferralService,
        what: &'static str,
    },
    /// A draft prescription of an augmentation agent at its minimum adjunct dose.
    Prescription(&'k Ingredient),
}

/// A recommendation as the card shows it.
#[derive(Debug, Clone)]
pub struct StepPlan<'k> {
    /// One sentence in plain clinical words (markdown-escaped where it quotes record data).
    pub sentence: String,
    /// A few words for the "Other options" line.
    pub short: &'static str,
    pub order: Option<Order<'k>>,
}

/// The current trial when it is still running.
fn running_trial(a: &Assessment) -> Option<&Trial> {
    crate::clinical::current_trial(&a.trials, |t| t).filter(|t| t.end.is_none())
}

/// The ingredient's display name (the knowledge base's, else the assessment's id).
pub(super) fn drug_name(kb: &KnowledgeBase, id: &str) -> String {
    kb.ingredient(id)
        .map_or_else(|| id.to_string(), |i| i.display.clone())
}

/// The first augmentation agent of a class in the knowledge base's file order is the one proposed,
/// so the choice is data (reviewable in `knowledge/drugs.toml`), not code.
fn first_agent(kb: &KnowledgeBase, class: DrugClass) -> Option<&Ingredient> {
    kb.ingredients().iter().find(|i| {
        i.class == class && i.role == DrugRole::Augmentation && i.min_adjunct_mg_day.is_some()
    })
}

fn agent_dose(agent: &Ingredient) -> String {
    agent
        .min_adjunct_mg_day
        .map_or_else(String::new, |d| format!(" {} mg once daily", fmt_mg(d)))
}

/// Never "before calling it a failure": the current trial may already count as failed (§5) while
/// §9 still suggests optimising it, and the card must not say both.
fn optimise_sentence(a: &Assessment, kb: &KnowledgeBase) -> String {
    let Some(t) = running_trial(a) else {
        return "Raise the current antidepressant to its optimised dose.".into();
    };
    let name = super::detail::md_escape(&drug_name(kb, &t.ingredient).to_lowercase());
    let now = t.dose_history.last().and_then(|d| d.daily_dose_mg);
    let target = kb
        .ingredient(&t.ingredient)
        .and_then(|i| i.optimised_mg_day);
    match (now, target) {
        (Some(now), Some(target)) => format!(
            "Raise {name} from {} to {} mg/day, its optimised dose.",
            fmt_mg(now),
            fmt_mg(target)
        ),
        _ => format!("Raise {name} to its optimised dose."),
    }
}

fn extend_sentence(a: &Assessment, kb: &KnowledgeBase) -> String {
    let min = num(kb.params().min_adequate_weeks);
    match running_trial(a) {
        Some(t) => format!(
            "Continue {} at an adequate dose: {} of {min} weeks so far.",
            super::detail::md_escape(&drug_name(kb, &t.ingredient).to_lowercase()),
            num(t.weeks_at_adequate_dose)
        ),
        None => format!("Continue the current antidepressant for {min} weeks at an adequate dose."),
    }
}

fn reassess_sentence(a: &Assessment) -> String {
    let found: Vec<&str> = a
        .flags
        .iter()
        .filter_map(|f| match f.code {
            FlagCode::SubstanceUse => Some("substance use"),
            FlagCode::ThyroidDisorder => Some("thyroid disease"),
            FlagCode::ComorbidPtsd => Some("PTSD"),
            FlagCode::ComorbidAdhd => Some("ADHD"),
            FlagCode::ComorbidPersonalityDisorder => Some("a personality disorder"),
            FlagCode::ComorbidAnxiety => Some("an anxiety disorder"),
            _ => None,
        })
        .collect();
    if found.is_empty() {
        "Reassess the diagnosis and comorbidities before escalating.".into()
    } else {
        format!(
            "Reassess the diagnosis and treat {} before escalating.",
            found.join(", ")
        )
    }
}

fn specialist_sentence(a: &Assessment, kb: &KnowledgeBase) -> String {
    if a.flags.iter().any(|f| f.code == FlagCode::BipolarSpectrum) {
        "Refer for psychiatric review of the bipolar-spectrum diagnosis and its treatment.".into()
    } else if a.staging.treatment_step >= kb.params().specialist_treatment_step_min {
        "Refer for psychiatric specialist review (vagus nerve or deep brain stimulation may be considered)."
            .into()
    } else {
        "Refer for psychiatric specialist review (a treatment this site does not offer may be indicated)."
            .into()
    }
}

/// The one mapping recommendation → what the card says and orders. Exhaustive on purpose: a new
/// recommendation code does not compile until it says what it becomes on a card.
pub fn plan<'k>(code: R, a: &Assessment, kb: &'k KnowledgeBase) -> StepPlan<'k> {
    let referral = |service, what| Some(Order::Referral { service, what });
    let (sentence, short, order) = match code {
        R::UrgentSafetyAssessment => (
            "Assess suicide risk today and agree a safety plan.".to_string(),
            "same-day safety assessment",
            None,
        ),
        R::UrgentEctEvaluation => (
            "Refer urgently for electroconvulsive therapy (ECT) evaluation.".to_string(),
            "urgent ECT evaluation",
            referral(
                ReferralService::Psychiatry,
                "Urgent electroconvulsive therapy (ECT) evaluation",
            ),
        ),
        R::SpecialistReview => (
            specialist_sentence(a, kb),
            "psychiatric specialist review",
            referral(
                ReferralService::Psychiatry,
                "Psychiatric specialist review of difficult-to-treat depression",
            ),
        ),
        R::OptimizeDose => (optimise_sentence(a, kb), "optimise the dose", None),
        R::ExtendTrial => (extend_sentence(a, kb), "complete the current trial", None),
        R::VerifyTreatmentHistory => (
            "Confirm the doses, durations and adherence of past antidepressant trials: the count of failed trials depends on them."
                .to_string(),
            "verify the trial history",
            None,
        ),
        R::AddPsychotherapy => (
            "Add an evidence-based psychological therapy (CBT, behavioural activation or interpersonal therapy) to medication."
                .to_string(),
            "psychological therapy",
            referral(
                ReferralService::PsychologicalTherapy,
                "Psychological therapy (CBT, behavioural activation or interpersonal therapy)",
            ),
        ),
        R::AugmentAntipsychotic => {
            let agent = first_agent(kb, DrugClass::Antipsychotic);
            let example = agent.map_or_else(String::new, |g| {
                format!(": {}{}", g.display.to_lowercase(), agent_dose(g))
            });
            (
                format!("Add an antipsychotic{example}."),
                "add an antipsychotic",
                agent.map(Order::Prescription),
            )
        }
        R::AugmentLithium => {
            let agent = first_agent(kb, DrugClass::Lithium);
            let example = agent.map_or_else(String::new, agent_dose);
            (
                format!("Add lithium{example}, with serum level monitoring."),
                "add lithium",
                agent.map(Order::Prescription),
            )
        }
        R::SwitchClass => (
            "Switch to an antidepressant of a different class.".to_string(),
            "switch class",
            None,
        ),
        R::CombineAntidepressant => (
            "Combine with a second antidepressant of another mechanism (e.g. mirtazapine or bupropion)."
                .to_string(),
            "combine antidepressants",
            None,
        ),
        R::ReferTms => (
            "Refer for repetitive transcranial magnetic stimulation (rTMS).".to_string(),
            "rTMS",
            referral(
                ReferralService::Psychiatry,
                "Transcranial magnetic stimulation (TMS) evaluation",
            ),
        ),
        R::ReferEsketamine => (
            "Refer for esketamine nasal spray at a certified treatment centre.".to_string(),
            "esketamine",
            referral(
                ReferralService::Psychiatry,
                "Esketamine nasal spray evaluation (certified treatment centre)",
            ),
        ),
        R::ReferEct => (
            "Refer for electroconvulsive therapy (ECT) evaluation.".to_string(),
            "ECT",
            referral(
                ReferralService::Psychiatry,
                "Electroconvulsive therapy (ECT) evaluation",
            ),
        ),
        R::ReassessDiagnosis => (reassess_sentence(a), "reassess the diagnosis", None),
    };
    StepPlan {
        sentence,
        short,
        order,
    }
}

fn reason_text(a: &Assessment) -> String {
    format!(
        "Treatment-resistant depression assessment: {} failed adequate antidepressant trial(s)",
        a.failed_adequate_trials
    )
}

fn referral_action(
    a: &Assessment,
    kb: &KnowledgeBase,
    service: ReferralService,
    what: &str,
    urgent: bool,
) -> Option<Action> {
    let patient = a.patient.as_deref()?;
    // Only a verified SNOMED CT referral procedure is coded; without one the referral is text only.
    let code = kb.cards().referral(service);
    let display = code.map_or(what, |c| c.display.as_str());
    let reason = reason_text(a);
    let resource = emit::referral(&Referral {
        patient,
        what: Concept {
            system: code.map(|c| c.system.as_str()),
            code: code.map(|c| c.code.as_str()),
            display,
        },
        text: what,
        urgent,
        reason_text: &reason,
        reason_reference: a.episode.as_ref().map(|e| e.condition.as_str()),
    })
    .ok()?;
    Action::create_raw(format!("Create a draft referral: {what}"), resource).ok()
}

fn prescription_action(a: &Assessment, agent: &Ingredient) -> Option<Action> {
    let patient = a.patient.as_deref()?;
    let dose = agent.min_adjunct_mg_day?;
    let instructions = format!(
        "{} {} mg once daily: the knowledge base's minimum adjunct dose; adjust per local protocol and monitoring",
        agent.display,
        fmt_mg(dose)
    );
    let reason = reason_text(a);
    let resource = emit::draft_prescription(&DraftPrescription {
        patient,
        medication: Concept {
            system: agent.rxcui.as_ref().map(|_| systems::RXNORM),
            code: agent.rxcui.as_deref(),
            display: &agent.display,
        },
        daily_dose_mg: dose,
        instructions: &instructions,
        reason_text: &reason,
    })
    .ok()?;
    Action::create_raw(
        format!(
            "Create a draft prescription: {} {} mg once daily",
            agent.display,
            fmt_mg(dose)
        ),
        resource,
    )
    .ok()
}

/// The button label of an order: what clicking it creates.
fn order_label(order: &Order<'_>) -> String {
    match order {
        Order::Referral { what, .. } => format!("Draft referral: {what}"),
        Order::Prescription(agent) => {
            format!("Draft prescription: {}{}", agent.display, agent_dose(agent))
        }
    }
}

/// The suggestion of a recommendation: `None` when it is not one order (a sentence in the detail
/// instead) or when the order cannot be built (no patient reference, no dose in the knowledge base).
pub fn build(
    a: &Assessment,
    kb: &KnowledgeBase,
    kind: CardKind,
    code: R,
    uuid: Uuid,
) -> Option<Suggestion> {
    let order = plan(code, a, kb).order?;
    let action = match &order {
        Order::Referral { service, what } => {
            referral_action(a, kb, *service, what, kind == CardKind::UrgentEctEvaluation)
        }
        Order::Prescription(agent) => prescription_action(a, agent),
    }?;
    Suggestion::new(order_label(&order), uuid, vec![action]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::{d, kb, met_patient, rec};

    #[test]
    fn optimise_names_the_engines_current_trial_whatever_the_order() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(50.0));
        let mut a = r.assess("2025-03-01");
        let mut other = a.trials[0].clone();
        other.ingredient = "escitalopram".into();
        a.trials.push(other);
        let first = plan(R::OptimizeDose, &a, kb()).sentence;
        a.trials.reverse();
        assert_eq!(plan(R::OptimizeDose, &a, kb()).sentence, first);
        // The tie-break of clinical::current_trial: the alphabetically first ingredient.
        assert!(first.contains("escitalopram"), "{first}");
    }

    #[test]
    fn strategies_that_are_not_one_order_have_no_button() {
        let r = met_patient();
        let a = r.assess("2025-01-01");
        for code in [R::SwitchClass, R::CombineAntidepressant, R::OptimizeDose] {
            assert!(plan(code, &a, kb()).order.is_none(), "{code:?}");
            let uuid = Uuid::nil();
            assert!(build(&a, kb(), CardKind::Trd, code, uuid).is_none());
        }
    }

    #[test]
    fn referrals_carry_a_snomed_referral_procedure_not_the_treatment() {
        let r = met_patient();
        let a = r.assess("2025-01-01");
        for code in [R::ReferEct, R::ReferTms, R::ReferEsketamine] {
            let s = build(&a, kb(), CardKind::Trd, code, Uuid::nil()).expect("referral");
            let v = serde_json::to_value(&s).unwrap();
            let res = &v["actions"][0]["resource"];
            assert_eq!(res["resourceType"], "ServiceRequest");
            let coding = &res["code"]["coding"][0];
            assert_eq!(coding["system"], "http://snomed.info/sct");
            assert_eq!(coding["code"], "183524004");
            assert_eq!(coding["display"], "Referral to psychiatry service");
            // The treatment to evaluate is the request's text, never a display of another code.
            let text = res["code"]["text"].as_str().unwrap();
            assert!(text.contains("evaluation"), "{text}");
            assert!(!res.to_string().contains("HCPCS"), "{res}");
        }
    }
}
