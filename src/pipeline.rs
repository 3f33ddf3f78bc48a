//! One engine, three doors: the hook endpoints, the assessment API and the command line all go
//! through [`assess_documents`] (FHIR JSON → record → assessment).

use time::Date;

use crate::clinical::{self, Assessment, SiteConfig};
use crate::fhir::reader::{self, ReadError};
use crate::fhir::record::PatientRecord;
use crate::knowledge::KnowledgeBase;

/// Read FHIR documents (Bundles or resources) and assess the patient as of `as_of`.
/// `patient` (e.g. `Patient/p1` from the hook context) overrides what the data says.
pub fn assess_documents(
    docs: &[&str],
    patient: Option<&str>,
    kb: &KnowledgeBase,
    site: &SiteConfig,
    as_of: Date,
) -> Result<(PatientRecord, Assessment), ReadError> {
    let mut record = reader::read_documents(docs, kb)?;
    if let Some(p) = patient {
        record.patient = Some(p.to_string());
    }
    let assessment = clinical::assess(&record, kb, site, as_of);
    Ok((record, assessment))
}
