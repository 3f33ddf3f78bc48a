//! The assessment engine: exposures → trials → measurement → outcomes → status, flags, staging,
//! recommendations. Pure functions: no I/O, no clock, no environment. `as_of` comes in.

pub mod model;

use time::Date;

use crate::fhir::record::PatientRecord;
use crate::knowledge::KnowledgeBase;
pub use model::*;

/// Assess one patient as of `as_of` (clinical-rules §2–§9, output §13).
pub fn assess(_record: &PatientRecord, _kb: &KnowledgeBase, _site: &SiteConfig, _as_of: Date) -> Assessment {
    todo!("engine helper")
}
