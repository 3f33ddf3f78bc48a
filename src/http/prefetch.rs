//! Gathering the FHIR data a hook call needs: what the client prefetched, and (not yet) what the
//! service must fetch itself from `fhirServer`. A required key that is neither prefetched nor
//! fetchable makes the call fail with 412 and an OperationOutcome naming every such key.

use std::borrow::Cow;

use actix_web::http::StatusCode;

use crate::cds_hooks::discovery::ServiceDef;
use crate::cds_hooks::prefetch::{PrefetchValue, classify, render};
use crate::cds_hooks::request::CdsRequest;
use crate::fhir::record::DataIssue;
use crate::http::AppState;
use crate::http::errors::{ApiError, Issue};

/// The FHIR documents (Bundles or resources) to read, and what could not be obtained but was not
/// required (reported to the clinician as data issues).
#[derive(Debug, Default)]
pub struct Gathered<'a> {
    pub docs: Vec<Cow<'a, str>>,
    pub notes: Vec<DataIssue>,
}

impl Gathered<'_> {
    pub fn as_strs(&self) -> Vec<&str> {
        self.docs.iter().map(|d| d.as_ref()).collect()
    }
}

/// Collect the documents for `service` from the request; `tokens` fill `{{context.*}}` in the
/// templates (for messages and for fetching).
pub async fn gather<'a>(
    _state: &AppState,
    service: &ServiceDef,
    req: &'a CdsRequest,
    tokens: &[(&str, &str)],
) -> Result<Gathered<'a>, ApiError> {
    let prefetch = req.prefetch.as_ref();
    // Classify every key before reading anything, so a 412 lists all unsatisfied keys at once.
    let mut out = Gathered {
        docs: Vec::with_capacity(service.prefetch.len()),
        notes: Vec::new(),
    };
    let mut unsatisfied: Vec<Issue> = Vec::new();
    for t in service.prefetch {
        let problem = match classify(prefetch, t.key).map_err(ApiError::bad_request)? {
            PrefetchValue::Present(raw) => {
                out.docs.push(Cow::Borrowed(raw.get()));
                continue;
            }
            PrefetchValue::Null => continue,
            PrefetchValue::Missing => "was not sent".to_string(),
            PrefetchValue::OperationOutcome(why) => format!(
                "holds an OperationOutcome ({})",
                if why.is_empty() {
                    "no diagnostics"
                } else {
                    why.as_str()
                }
            ),
        };
        if t.required {
            unsatisfied.push(Issue {
                severity: "error",
                code: "processing",
                diagnostics: format!(
                    "prefetch key '{}' ({}) {problem} and the service cannot fetch it from fhirServer",
                    t.key,
                    render(t.query, tokens)
                ),
                expression: vec![format!("prefetch.{}", t.key)],
            });
        }
    }
    if !unsatisfied.is_empty() {
        return Err(ApiError {
            status: StatusCode::PRECONDITION_FAILED,
            issues: unsatisfied,
        });
    }
    Ok(out)
}
