//! FHIR resources the service puts into card suggestions, built with fhir-sdk's typed R4B models
//! (so a missing required element or an invalid code cannot be emitted), then serialised once.

use std::num::NonZeroU32;

use fhir_sdk::r4b::codes::{RequestIntent, RequestPriority, RequestStatus};
use fhir_sdk::r4b::resources::{MedicationRequest, MedicationRequestMedication, ServiceRequest};
use fhir_sdk::r4b::types::{
    CodeableConcept, Coding, Dosage, DosageDoseAndRate, DosageDoseAndRateDose, Quantity, Reference,
    Timing, TimingRepeat,
};

use crate::cds_hooks::card::RawJson;

/// Error building a resource (a required element was missing): a bug, reported as such.
#[derive(Debug, thiserror::Error)]
#[error("building FHIR {resource}: {message}")]
pub struct EmitError {
    pub resource: &'static str,
    pub message: String,
}

fn err(resource: &'static str) -> impl Fn(fhir_sdk::BuilderError) -> EmitError {
    move |e| EmitError {
        resource,
        message: e.to_string(),
    }
}

/// A code for what is requested or prescribed.
#[derive(Debug, Clone)]
pub struct Concept<'a> {
    pub system: Option<&'a str>,
    pub code: Option<&'a str>,
    pub display: &'a str,
}

fn concept(c: &Concept<'_>, resource: &'static str) -> Result<CodeableConcept, EmitError> {
    concept_with_text(c, c.display, resource)
}

/// A CodeableConcept whose `text` may say more than the coding's display (a referral to psychiatry
/// *for ECT evaluation*): the coding keeps the code's own display.
fn concept_with_text(
    c: &Concept<'_>,
    text: &str,
    resource: &'static str,
) -> Result<CodeableConcept, EmitError> {
    let mut codings = Vec::new();
    if let (Some(system), Some(code)) = (c.system, c.code) {
        let coding = Coding::builder()
            .system(system.to_string())
            .code(code.to_string())
            .display(c.display.to_string())
            .build()
            .map_err(err(resource))?;
        codings.push(Some(coding));
    }
    CodeableConcept::builder()
        .coding(codings)
        .text(text.to_string())
        .build()
        .map_err(err(resource))
}

fn reference(r: &str, resource: &'static str) -> Result<Reference, EmitError> {
    Reference::builder()
        .reference(r.to_string())
        .build()
        .map_err(err(resource))
}

/// A proposed referral (`ServiceRequest`, status draft, intent proposal).
pub struct Referral<'a> {
    pub patient: &'a str,
    /// The referral procedure (SNOMED CT "Referral to …"), with the code's own display.
    pub what: Concept<'a>,
    /// What the referral is for, in words (the `code.text`): "Electroconvulsive therapy (ECT) evaluation".
    pub text: &'a str,
    pub urgent: bool,
    /// Why: free text (e.g. "Treatment-resistant depression: 2 failed adequate trials").
    pub reason_text: &'a str,
    /// The episode's Condition, when known.
    pub reason_reference: Option<&'a str>,
}

pub fn referral(r: &Referral<'_>) -> Result<RawJson, EmitError> {
    const RES: &str = "ServiceRequest";
    let mut reason_reference = Vec::new();
    if let Some(c) = r.reason_reference {
        reason_reference.push(Some(reference(c, RES)?));
    }
    let reason = CodeableConcept::builder()
        .text(r.reason_text.to_string())
        .build()
        .map_err(err(RES))?;
    let sr = ServiceRequest::builder()
        .status(RequestStatus::Draft)
        .intent(RequestIntent::Proposal)
        .priority(if r.urgent {
            RequestPriority::Urgent
        } else {
            RequestPriority::Routine
        })
        .code(concept_with_text(&r.what, r.text, RES)?)
        .subject(reference(r.patient, RES)?)
        .reason_code(vec![Some(reason)])
        .reason_reference(reason_reference)
        .build()
        .map_err(err(RES))?;
    RawJson::of(&sr).map_err(|e| EmitError {
        resource: RES,
        message: e.to_string(),
    })
}

/// A proposed prescription (`MedicationRequest`, status draft, intent proposal), once daily.
pub struct DraftPrescription<'a> {
    pub patient: &'a str,
    pub medication: Concept<'a>,
    pub daily_dose_mg: f64,
    pub instructions: &'a str,
    pub reason_text: &'a str,
}

pub fn draft_prescription(p: &DraftPrescription<'_>) -> Result<RawJson, EmitError> {
    const RES: &str = "MedicationRequest";
    let dose = Quantity::builder()
        .value(p.daily_dose_mg)
        .unit("mg".to_string())
        .system("http://unitsofmeasure.org".to_string())
        .code("mg".to_string())
        .build()
        .map_err(err(RES))?;
    let once = NonZeroU32::MIN;
    let repeat = TimingRepeat::builder()
        .frequency(once)
        .period(1.0)
        .period_unit("d".to_string())
        .build()
        .map_err(err(RES))?;
    let timing = Timing::builder().repeat(repeat).build().map_err(err(RES))?;
    let dose_and_rate = DosageDoseAndRate::builder()
        .dose(DosageDoseAndRateDose::Quantity(dose))
        .build()
        .map_err(err(RES))?;
    let dosage = Dosage::builder()
        .text(p.instructions.to_string())
        .timing(timing)
        .dose_and_rate(vec![Some(dose_and_rate)])
        .build()
        .map_err(err(RES))?;
    let reason = CodeableConcept::builder()
        .text(p.reason_text.to_string())
        .build()
        .map_err(err(RES))?;
    let mr = MedicationRequest::builder()
        .status("draft".to_string())
        .intent("proposal".to_string())
        .medication(MedicationRequestMedication::CodeableConcept(concept(
            &p.medication,
            RES,
        )?))
        .subject(reference(p.patient, RES)?)
        .reason_code(vec![Some(reason)])
        .dosage_instruction(vec![Some(dosage)])
        .build()
        .map_err(err(RES))?;
    RawJson::of(&mr).map_err(|e| EmitError {
        resource: RES,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_is_a_draft_proposal_service_request() {
        let v = referral(&Referral {
            patient: "Patient/p1",
            what: Concept {
                system: Some("http://snomed.info/sct"),
                code: Some("183524004"),
                display: "Referral to psychiatry service",
            },
            text: "Transcranial magnetic stimulation (TMS) evaluation",
            urgent: false,
            reason_text: "TRD",
            reason_reference: Some("Condition/c1"),
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(v.as_str()).unwrap();
        assert_eq!(v["resourceType"], "ServiceRequest");
        assert_eq!(v["status"], "draft");
        assert_eq!(v["intent"], "proposal");
        assert_eq!(v["priority"], "routine");
        assert_eq!(v["subject"]["reference"], "Patient/p1");
        assert_eq!(v["code"]["coding"][0]["code"], "183524004");
        assert_eq!(
            v["code"]["coding"][0]["display"],
            "Referral to psychiatry service"
        );
        assert_eq!(
            v["code"]["text"],
            "Transcranial magnetic stimulation (TMS) evaluation"
        );
        assert_eq!(v["reasonReference"][0]["reference"], "Condition/c1");
    }

    #[test]
    fn draft_prescription_is_a_draft_medication_request() {
        let v = draft_prescription(&DraftPrescription {
            patient: "Patient/p1",
            medication: Concept {
                system: Some("http://www.nlm.nih.gov/research/umls/rxnorm"),
                code: Some("89013"),
                display: "aripiprazole",
            },
            daily_dose_mg: 5.0,
            instructions: "aripiprazole 5 mg once daily",
            reason_text: "TRD augmentation",
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(v.as_str()).unwrap();
        assert_eq!(v["resourceType"], "MedicationRequest");
        assert_eq!(v["status"], "draft");
        assert_eq!(v["intent"], "proposal");
        assert_eq!(v["medicationCodeableConcept"]["coding"][0]["code"], "89013");
        assert_eq!(
            v["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"],
            5.0
        );
        assert_eq!(
            v["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"],
            "d"
        );
    }
}
