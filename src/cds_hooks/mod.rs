//! The CDS Hooks 2.0 wire model (accepting 3.0-ballot additions): discovery, requests and their
//! contexts, prefetch values, cards and feedback. Output types make invalid CDS Hooks unrepresentable
//! (see each constructor); input types are parsed strictly with errors that name the field.

pub mod card;
pub mod discovery;
pub mod feedback;
pub mod prefetch;
pub mod request;

/// An input that breaks the CDS Hooks wire rules; `field` is the JSON path, `problem` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct WireError {
    pub field: String,
    pub problem: String,
}

impl WireError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        WireError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
