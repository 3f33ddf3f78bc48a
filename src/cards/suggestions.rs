//! One suggestion per routine recommendation. Referrals carry a draft `ServiceRequest`, augmentations
//! a draft `MedicationRequest`; the others are advice without an action (their uuid still lets the
//! EHR report whether the clinician took them up, for feedback analytics).

use uuid::Uuid;

use super::CardKind;
use crate::cds_hooks::card::{Action, Suggestion};
use crate::clinical::trials::fmt_mg;
use crate::clinical::{Assessment, RecommendationCode as R};
use crate::fhir::emit::{self, Concept, DraftPrescription, Referral};
use crate::knowledge::{DrugClass, DrugRole, Ingredient, KnowledgeBase, ProcedureKind, systems};

/// The plain-language title of a next step (the card suggestion and the SMART app page say the same).
pub(crate) fn label(code: R, a: &Assessment) -> String {
    let current = crate::clinical::current_trial(&a.trials, |t| t)
        .filter(|t| t.end.is_none())
        .map(|t| t.ingredient.as_str());
    match code {
        R::UrgentSafetyAssessment => "Same-day suicide risk assessment".into(),
        R::UrgentEctEvaluation => "Urgent referral for ECT evaluation".into(),
        R::SpecialistReview => "Refer for psychiatric specialist review".into(),
        R::OptimizeDose => format!(
            "Optimise the {} dose before calling it a failure",
            current.unwrap_or("current antidepressant")
        ),
        R::ExtendTrial => format!(
            "Continue {} at an adequate dose for the full trial",
            current.unwrap_or("the current antidepressant")
        ),
        R::VerifyTreatmentHistory => {
            "Verify doses, durations and adherence of past antidepressant trials".into()
        }
        R::AugmentAntipsychotic => "Augment with an antipsychotic".into(),
        R::AugmentLithium => "Augment with lithium".into(),
        R::SwitchClass => "Switch to an antidepressant of a different class".into(),
        R::CombineAntidepressant => {
            "Combine with a second antidepressant (e.g. bupropion or mirtazapine)".into()
        }
        R::ReferTms => "Refer for transcranial magnetic stimulation (TMS) evaluation".into(),
        R::ReferEsketamine => "Refer for esketamine evaluation (REMS-certified site)".into(),
        R::ReferEct => "Refer for electroconvulsive therapy (ECT) evaluation".into(),
        R::ReassessDiagnosis => "Reassess diagnosis and comorbidities before escalating".into(),
    }
}

/// The first augmentation agent of a class in the knowledge base's file order is the one proposed,
/// so the choice is data (reviewable in `knowledge/drugs.toml`), not code.
fn first_agent(kb: &KnowledgeBase, class: DrugClass) -> Option<&Ingredient> {
    kb.ingredients().iter().find(|i| {
        i.class == class && i.role == DrugRole::Augmentation && i.min_adjunct_mg_day.is_some()
    })
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
    kind: Option<ProcedureKind>,
    display: &str,
    urgent: bool,
) -> Option<Action> {
    let patient = a.patient.as_deref()?;
    let code = kind.and_then(|k| kb.procedure_codes(k).first().cloned());
    let reason = reason_text(a);
    let resource = emit::referral(&Referral {
        patient,
        what: Concept {
            system: code.as_ref().map(|c| c.system.as_str()),
            code: code.as_ref().map(|c| c.code.as_str()),
            display,
        },
        urgent,
        reason_text: &reason,
        reason_reference: a.episode.as_ref().map(|e| e.condition.as_str()),
    })
    .ok()?;
    Action::create_raw(format!("Create a draft referral: {display}"), resource).ok()
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
            "Create a draft prescription: {} {} mg daily",
            agent.display,
            fmt_mg(dose)
        ),
        resource,
    )
    .ok()
}

pub fn build(
    a: &Assessment,
    kb: &KnowledgeBase,
    kind: CardKind,
    code: R,
    uuid: Uuid,
) -> Option<Suggestion> {
    let urgent = kind == CardKind::UrgentEctEvaluation;
    let action = match code {
        R::SpecialistReview => referral_action(
            a,
            kb,
            None,
            "Psychiatric specialist review (treatment-resistant depression)",
            false,
        ),
        R::ReferTms => referral_action(
            a,
            kb,
            Some(ProcedureKind::Tms),
            "Transcranial magnetic stimulation evaluation",
            false,
        ),
        R::ReferEsketamine => referral_action(
            a,
            kb,
            Some(ProcedureKind::Esketamine),
            "Esketamine nasal spray evaluation",
            false,
        ),
        R::ReferEct | R::UrgentEctEvaluation => referral_action(
            a,
            kb,
            Some(ProcedureKind::Ect),
            "Electroconvulsive therapy evaluation",
            urgent,
        ),
        R::AugmentAntipsychotic => {
            first_agent(kb, DrugClass::Antipsychotic).and_then(|g| prescription_action(a, g))
        }
        R::AugmentLithium => {
            first_agent(kb, DrugClass::Lithium).and_then(|g| prescription_action(a, g))
        }
        _ => None,
    };
    let label = match (code, action.as_ref()) {
        (R::AugmentAntipsychotic | R::AugmentLithium, Some(Action::Create { description, .. })) => {
            format!(
                "{} ({})",
                label(code, a),
                description.trim_start_matches("Create a draft prescription: ")
            )
        }
        _ => label(code, a),
    };
    Suggestion::new(label, uuid, action.into_iter().collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::{d, rec};

    #[test]
    fn label_names_the_engines_current_trial_whatever_the_order() {
        let mut r = rec();
        r.ms("sertraline", d("2025-01-01"), None, Some(50.0));
        let mut a = r.assess("2025-03-01");
        let mut other = a.trials[0].clone();
        other.ingredient = "escitalopram".into();
        a.trials.push(other);
        let first = label(R::OptimizeDose, &a);
        a.trials.reverse();
        assert_eq!(label(R::OptimizeDose, &a), first);
        // The tie-break of clinical::current_trial: the alphabetically first ingredient.
        assert!(first.contains("escitalopram"), "{first}");
    }
}
