//! FHIR at the edges: reading what the rules need from R4/R4B JSON, and (later) building the
//! resources we emit in suggestions.

pub mod emit;
pub mod reader;
pub mod record;
