//! FHIR at the edges: reading what the rules need from R4/R4B JSON, and (later) building the
//! resources we emit in suggestions. `client` is the one I/O module here: the fetch fallback's
//! HTTP client for the EHR's FHIR server.

pub mod client;
pub mod emit;
pub mod reader;
pub mod record;
