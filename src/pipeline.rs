//! One engine, four doors: the hook endpoints, the assessment API, the command line and the SMART app all go
//! through [`assess`] (FHIR JSON → record → assessment).

use time::Date;

use crate::clinical::{self, Assessment, SiteConfig};
use crate::fhir::reader::{self, Document, ReadError};
use crate::fhir::record::{DataIssue, PatientRecord};
use crate::knowledge::KnowledgeBase;

/// Read FHIR JSON documents (Bundles or resources) and assess the patient as of `as_of`.
/// `patient` (e.g. `Patient/p1` from the hook context) overrides what the data says.
pub fn assess_documents(
    docs: &[&str],
    patient: Option<&str>,
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Result<(PatientRecord, Assessment), ReadError> {
    let docs: Vec<Document<'_>> = docs.iter().map(|d| Document::Json(d)).collect();
    assess(&docs, patient, kb, site, as_of)
}

/// [`assess_documents`] for documents that may already be parsed (a hook's prefetch).
pub fn assess(
    docs: &[Document<'_>],
    patient: Option<&str>,
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Result<(PatientRecord, Assessment), ReadError> {
    assess_from(docs, patient, None, kb, site, as_of)
}

/// [`assess`] for documents from the FHIR server `fhir_server` (a hook call's `fhirServer`): a
/// resource about a patient on another server is not used (see [`reader::read_all_from`]).
pub fn assess_from(
    docs: &[Document<'_>],
    patient: Option<&str>,
    fhir_server: Option<&str>,
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Result<(PatientRecord, Assessment), ReadError> {
    let mut record = reader::read_all_from(docs, kb, fhir_server)?;
    if let Some(p) = patient {
        record.patient = Some(p.to_string());
    }
    let assessment = clinical::assess(&record, kb, site, as_of);
    Ok((record, assessment))
}

/// One patient's gathered documents (a hook call's prefetch and fetches, or the SMART app's
/// fetch) assessed as [`assess_from`] does, with the gathering's `notes` joining the data issues.
/// `Ok(None)` when the documents hold resources of another patient than `patient`: wrong-patient
/// data must never produce advice, and each door refuses it in its own words.
/// Traced as the `assess` span (no fields: what it reads and finds is patient data).
#[tracing::instrument(name = "assess", level = "info", skip_all)]
pub fn assess_for_patient(
    docs: &[Document<'_>],
    patient: &str,
    fhir_server: Option<&str>,
    notes: &[DataIssue],
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Result<Option<(PatientRecord, Assessment)>, ReadError> {
    let (record, mut assessment) = assess_from(docs, Some(patient), fhir_server, kb, site, as_of)?;
    if record.subjects.iter().any(|s| s != patient) {
        return Ok(None);
    }
    assessment.data_issues.extend(notes.iter().cloned());
    Ok(Some((record, assessment)))
}
