//! Prefetch: the templates a service declares, and the classification of what the client sent for
//! each key (present / `null` / OperationOutcome / missing), per CDS Hooks §"Prefetch".

use std::collections::BTreeMap;

use super::WireError;
use crate::fhir::reader::wire::AnyResource;

/// One prefetch template of a service.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub key: &'static str,
    /// FHIR read/search relative URL with `{{context.*}}` tokens.
    pub query: &'static str,
    /// The rules need this data: when it is neither prefetched nor fetchable the call gets 412.
    pub required: bool,
}

/// What the client sent for one key.
#[derive(Debug)]
pub enum PrefetchValue<'a> {
    /// A FHIR resource or Bundle (parsed with the request into the reader's wire structs).
    Present(&'a AnyResource<'a>),
    /// `null`: the client knows there is no data.
    Null,
    /// The client tried and failed; the OperationOutcome's text, for the 412 diagnostics.
    OperationOutcome(String),
    /// The client did not satisfy this key.
    Missing,
}

/// Classify the value sent under `key`. A value that is none of the four allowed shapes is a 400.
pub fn classify<'a>(
    prefetch: Option<&'a BTreeMap<String, AnyResource<'a>>>,
    key: &str,
) -> Result<PrefetchValue<'a>, WireError> {
    let Some(value) = prefetch.and_then(|p| p.get(key)) else {
        return Ok(PrefetchValue::Missing);
    };
    match value {
        AnyResource::NotObject("null") => Ok(PrefetchValue::Null),
        AnyResource::NotObject(_) => Err(WireError::new(
            format!("prefetch.{key}"),
            "must be a FHIR resource, a Bundle, null or an OperationOutcome",
        )),
        AnyResource::NoType => Err(WireError::new(
            format!("prefetch.{key}.resourceType"),
            "is missing",
        )),
        AnyResource::OperationOutcome(o) => Ok(PrefetchValue::OperationOutcome(o.diagnostics())),
        other => Ok(PrefetchValue::Present(other)),
    }
}

/// `X` when `text` starts with `{"resourceType":"X"` (whitespace allowed, no escapes in X).
pub(crate) fn leading_resource_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix("\"resourceType\"")?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let t = &rest[..end];
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(t)
}

/// Fill `{{context.patientId}}`-style tokens of a template from simple context values.
pub fn render(template: &str, context: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in context {
        out = out.replace(&format!("{{{{context.{name}}}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> BTreeMap<String, AnyResource<'_>> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn classifies_the_four_shapes() {
        let m = map(
            r#"{"a":{"resourceType":"Bundle","type":"searchset"},"b":null,
                "c":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout","diagnostics":"FHIR server timed out"}]}}"#,
        );
        assert!(matches!(
            classify(Some(&m), "a").unwrap(),
            PrefetchValue::Present(_)
        ));
        assert!(matches!(
            classify(Some(&m), "b").unwrap(),
            PrefetchValue::Null
        ));
        match classify(Some(&m), "c").unwrap() {
            PrefetchValue::OperationOutcome(t) => assert_eq!(t, "FHIR server timed out"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(Some(&m), "d").unwrap(),
            PrefetchValue::Missing
        ));
        assert!(matches!(
            classify(None, "a").unwrap(),
            PrefetchValue::Missing
        ));
    }

    #[test]
    fn rejects_other_shapes_naming_the_key() {
        let m = map(r#"{"a":[1],"b":{"id":"x"},"c":"text","d":{"resourceType":""}}"#);
        assert_eq!(classify(Some(&m), "a").unwrap_err().field, "prefetch.a");
        assert_eq!(
            classify(Some(&m), "b").unwrap_err().field,
            "prefetch.b.resourceType"
        );
        assert_eq!(classify(Some(&m), "c").unwrap_err().field, "prefetch.c");
        assert_eq!(
            classify(Some(&m), "d").unwrap_err().field,
            "prefetch.d.resourceType"
        );
    }

    #[test]
    fn fast_path_reads_a_leading_resource_type_only() {
        assert_eq!(
            leading_resource_type(r#"{"resourceType":"Bundle","type":"searchset"}"#),
            Some("Bundle")
        );
        assert_eq!(
            leading_resource_type(r#"{ "resourceType" : "Patient" }"#),
            Some("Patient")
        );
        assert_eq!(
            leading_resource_type(r#"{"id":"x","resourceType":"Patient"}"#),
            None
        );
        assert_eq!(
            leading_resource_type(r#"{"resourceType":"Bun\u0064le"}"#),
            None
        );
        assert_eq!(leading_resource_type(r#"{"resourceType":""}"#), None);
    }

    #[test]
    fn operation_outcome_diagnostics_wherever_resource_type_is() {
        let m = map(
            r#"{"a":{"resourceType":"OperationOutcome","issue":[{"diagnostics":"down"},{"code":"x"},{"diagnostics":"again"}]},
                "b":{"issue":[{"diagnostics":"late type"}],"resourceType":"OperationOutcome"}}"#,
        );
        assert!(
            matches!(classify(Some(&m), "a").unwrap(), PrefetchValue::OperationOutcome(t) if t == "down; again")
        );
        assert!(
            matches!(classify(Some(&m), "b").unwrap(), PrefetchValue::OperationOutcome(t) if t == "late type")
        );
    }

    #[test]
    fn renders_context_tokens() {
        assert_eq!(
            render(
                "Condition?patient={{context.patientId}}",
                &[("patientId", "p1")]
            ),
            "Condition?patient=p1"
        );
    }
}
