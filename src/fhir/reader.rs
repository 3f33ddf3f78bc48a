//! FHIR R4 / R4B JSON → [`PatientRecord`]. Lean, strict structs for the fields the rules read;
//! tolerant of everything else; every malformed rule-critical value becomes a `DataIssue`.

use crate::fhir::record::PatientRecord;
use crate::knowledge::KnowledgeBase;

/// The input is not FHIR JSON the reader can use at all (not JSON, not an object, no `resourceType`).
/// Malformed *values* inside resources are never errors: they become `data_issues`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReadError {
    /// JSON path of the offending element, e.g. `entry[3].resource`.
    pub field: String,
    pub problem: String,
}

/// Read one FHIR document: a Bundle (any type) or a single resource.
pub fn read_bundle(json: &str, kb: &KnowledgeBase) -> Result<PatientRecord, ReadError> {
    read_documents(&[json], kb)
}

/// Read several FHIR documents (e.g. the prefetch values of a hook call) into one record.
/// Medications referenced across documents (`Medication/x`, `urn:uuid:` fullUrls) are resolved.
pub fn read_documents(_docs: &[&str], _kb: &KnowledgeBase) -> Result<PatientRecord, ReadError> {
    todo!("reader helper")
}
