//! The service-call request (`POST /cds-services/{id}`) and the hook contexts, parsed strictly:
//! every error names the JSON path of the offending field.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::WireError;
use crate::fhir::reader::wire::AnyResource;

// `context` stays raw JSON until the hook says how to read it; each prefetch value is parsed
// once, here, straight into the FHIR reader's borrowed wire structs (no second pass over the
// body, no copies, no `Value` trees of whole bundles).
/// A CDS Hooks request body: the hook, its context and the prefetched FHIR data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "https://ehr.example.org/fhir",
    "context": {"userId": "Practitioner/example", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Condition", "id": "c1", "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]}, "onsetDateTime": "2024-05-08", "subject": {"reference": "Patient/p1"}}}
        ]},
        "medicationStatements": null, "medicationRequests": null, "medicationDispenses": null,
        "observations": null, "procedures": null
    }
}))]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CdsRequest<'a> {
    /// The hook that fired, e.g. `patient-view`. Must match the service's hook.
    pub hook: String,
    /// UUID of this hook call.
    pub hook_instance: String,
    /// Base URL of the EHR's FHIR server. Required when `fhirAuthorization` is present (cds-r-1).
    #[serde(default)]
    pub fhir_server: Option<String>,
    #[serde(default)]
    pub fhir_authorization: Option<FhirAuthorization>,
    /// Hook-specific context (patient-view: `userId`, `patientId`, `encounterId`).
    #[schema(value_type = Object)]
    pub context: Box<RawValue>,
    /// Prefetch key → FHIR resource, searchset Bundle, `null` (known to be empty) or OperationOutcome (prefetch failed).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub prefetch: Option<BTreeMap<String, AnyResource<'a>>>,
    /// Reverse-domain keyed extensions; ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub extension: Option<serde_json::Map<String, serde_json::Value>>,
}

/// OAuth 2.0 access token for the EHR's FHIR server. `Debug` never prints the token.
#[derive(Deserialize, ToSchema)]
pub struct FhirAuthorization {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub subject: String,
    #[serde(default)]
    pub patient: Option<String>,
}

impl fmt::Debug for FhirAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirAuthorization")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// patient-view context.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientViewContext {
    /// `Practitioner/…`, `PractitionerRole/…`, `Patient/…` or `RelatedPerson/…`.
    pub user_id: String,
    /// FHIR id of the patient in context.
    pub patient_id: String,
    #[serde(default)]
    pub encounter_id: Option<String>,
}

/// Parse a request body, naming the failing field (`hook`, `context`, `prefetch.conditions`, ...).
pub fn parse_request(body: &[u8]) -> Result<CdsRequest<'_>, WireError> {
    // JSON is UTF-8 (RFC 8259): checking the whole body once is cheaper than checking each of the
    // thousands of strings the prefetch holds, as parsing from bytes would.
    let text = std::str::from_utf8(body).map_err(|e| {
        WireError::new(
            "$",
            format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    // Path tracking wraps every value of the (large) prefetch: pay for it only to explain a
    // failure, by parsing the body again. Both parses see the same text, so they fail alike.
    let req: CdsRequest = match serde_json::from_str(text) {
        Ok(req) => req,
        Err(_) => {
            let de = &mut serde_json::Deserializer::from_str(text);
            return Err(
                match serde_path_to_error::deserialize::<_, CdsRequest>(de) {
                    Err(e) => path_error(e),
                    Ok(_) => WireError::new("$", "unreadable request"),
                },
            );
        }
    };
    validate_request(&req)?;
    Ok(req)
}

/// Turns a serde error with its path into a `WireError` (`$` for the document itself).
pub fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> WireError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = if path == "." { "$".to_string() } else { path };
    let msg = inner.to_string();
    // serde_json appends " at line L column C"; keep it: it helps find the byte in a large body.
    let field = if inner.is_data() {
        missing_field_name(&msg).map_or(field.clone(), |m| {
            if field == "$" {
                m
            } else {
                format!("{field}.{m}")
            }
        })
    } else {
        field
    };
    WireError::new(field, msg)
}

/// `missing field `hook`` → `hook`.
fn missing_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn validate_request(req: &CdsRequest) -> Result<(), WireError> {
    if req.hook.trim().is_empty() {
        return Err(WireError::new("hook", "must not be empty"));
    }
    if uuid::Uuid::parse_str(&req.hook_instance).is_err() {
        return Err(WireError::new("hookInstance", "must be a UUID"));
    }
    if !req.context.get().trim_start().starts_with('{') {
        return Err(WireError::new("context", "must be a JSON object"));
    }
    if let Some(server) = &req.fhir_server
        && !(server.starts_with("https://") || server.starts_with("http://"))
    {
        return Err(WireError::new(
            "fhirServer",
            "must be an absolute http(s) URL",
        ));
    }
    if let Some(auth) = &req.fhir_authorization {
        // cds-r-1: fhirAuthorization requires fhirServer.
        if req.fhir_server.is_none() {
            return Err(WireError::new(
                "fhirServer",
                "is required when fhirAuthorization is present (cds-r-1)",
            ));
        }
        if auth.access_token.is_empty() {
            return Err(WireError::new(
                "fhirAuthorization.access_token",
                "must not be empty",
            ));
        }
        if !auth.token_type.eq_ignore_ascii_case("bearer") {
            return Err(WireError::new(
                "fhirAuthorization.token_type",
                "must be 'Bearer'",
            ));
        }
        // cds-r-2: patient scopes require the patient field.
        let patient_scope = auth
            .scope
            .split_whitespace()
            .any(|s| s.starts_with("patient/"));
        if patient_scope && auth.patient.as_deref().is_none_or(str::is_empty) {
            return Err(WireError::new(
                "fhirAuthorization.patient",
                "is required when the scopes include patient/ scopes (cds-r-2)",
            ));
        }
    }
    Ok(())
}

/// Parse the patient-view context.
pub fn patient_view_context(raw: &RawValue) -> Result<PatientViewContext, WireError> {
    let ctx: PatientViewContext = parse_context(raw)?;
    require_ids(&ctx.patient_id, &ctx.user_id)?;
    Ok(ctx)
}

/// Parse a hook context, naming the failing field as `context.<path>`.
fn parse_context<T: serde::de::DeserializeOwned>(raw: &RawValue) -> Result<T, WireError> {
    let de = &mut serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(de).map_err(|e| {
        let w = path_error(e);
        WireError::new(
            format!(
                "context.{}",
                w.field.trim_start_matches('$').trim_start_matches('.')
            ),
            w.problem,
        )
    })
}

/// `patientId` and `userId` are required and must not be blank; `patientId` must be a FHIR id.
fn require_ids(patient_id: &str, user_id: &str) -> Result<(), WireError> {
    if patient_id.trim().is_empty() {
        return Err(WireError::new("context.patientId", "must not be empty"));
    }
    if !is_fhir_id(patient_id) {
        // Not echoed: it is a patient identifier (and may be hostile).
        return Err(WireError::new(
            "context.patientId",
            "must be a FHIR id: 1 to 64 of A-Z, a-z, 0-9, '-' and '.', and not '.' or '..'",
        ));
    }
    if user_id.trim().is_empty() {
        return Err(WireError::new("context.userId", "must not be empty"));
    }
    Ok(())
}

/// A FHIR resource id (`[A-Za-z0-9\-\.]{1,64}`, FHIR R4 §2.24.0.1). `.` and `..` match that
/// pattern but are path segments, not ids: `Patient/..` would address the server's base.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && id != "."
        && id != ".."
}

/// order-select / order-sign context (CDS Hooks hook library). `draftOrders` stays raw JSON: the FHIR
/// reader reads it (`fhir::reader::read_draft_orders`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderContext {
    /// `Practitioner/…` or `PractitionerRole/…`.
    pub user_id: String,
    /// FHIR id of the patient in context.
    pub patient_id: String,
    #[serde(default)]
    pub encounter_id: Option<String>,
    /// order-select only: references (`MedicationRequest/<id>`) of the newly selected orders in `draftOrders`.
    #[serde(default)]
    pub selections: Option<Vec<String>>,
    /// A Bundle of the draft orders (MedicationRequest, ServiceRequest, NutritionOrder, ...).
    #[schema(value_type = Object)]
    pub draft_orders: Box<RawValue>,
}

/// Which order hook a context belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderHook {
    OrderSelect,
    OrderSign,
}

/// Parse an order-select (`selections` required) or order-sign context.
pub fn order_context(raw: &RawValue, hook: OrderHook) -> Result<OrderContext, WireError> {
    let ctx: OrderContext = parse_context(raw)?;
    require_ids(&ctx.patient_id, &ctx.user_id)?;
    if !ctx.draft_orders.get().trim_start().starts_with('{') {
        return Err(WireError::new(
            "context.draftOrders",
            "must be a FHIR Bundle (a JSON object)",
        ));
    }
    match (hook, &ctx.selections) {
        (OrderHook::OrderSelect, None) => {
            return Err(WireError::new(
                "context.selections",
                "is required for order-select",
            ));
        }
        (_, Some(sel)) if sel.iter().any(|s| s.trim().is_empty()) => {
            return Err(WireError::new(
                "context.selections",
                "must not contain empty references",
            ));
        }
        _ => {}
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: &str) -> String {
        format!(
            r#"{{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{{"userId":"Practitioner/1","patientId":"p1"}}{extra}}}"#
        )
    }

    #[test]
    fn parses_the_official_example() {
        // Compiled in: a missing file fails the build of the tests, never skips this one.
        let raw = include_bytes!(
            "../../tests/data/cds-hooks-spec/spec-examples/request-patient-view.json"
        );
        let req = parse_request(raw).unwrap();
        assert_eq!(req.hook, "patient-view");
        let ctx = patient_view_context(&req.context).unwrap();
        assert_eq!(ctx.patient_id, "1288992");
        // The token never shows in Debug output.
        assert!(!format!("{req:?}").contains("some-opaque-fhir-access-token"));
    }

    #[test]
    fn names_the_missing_field() {
        let e = parse_request(
            br#"{"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "hook");
        let e = parse_request(br#"{"hook":"patient-view","hookInstance":"x","context":{}}"#)
            .unwrap_err();
        assert_eq!(e.field, "hookInstance");
        let e = parse_request(body(r#","prefetch":{"a":1,"b":[}"#).as_bytes()).unwrap_err();
        assert!(e.problem.contains("line 1"), "{e}");
        // The failure is explained by the path-tracking re-parse, down into a prefetch document.
        assert!(e.field.starts_with("prefetch.b"), "{e}");
        let e = parse_request(
            body(r#","prefetch":{"c":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Condition","id":"a","id":"b"}}]}}"#)
                .as_bytes(),
        )
        .unwrap_err();
        assert!(e.field.starts_with("prefetch.c.entry"), "{e}");
        assert!(e.problem.contains("duplicate field"), "{e}");
        let mut bad = body("").into_bytes();
        bad[2] = 0xff;
        let e = parse_request(&bad).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem.as_str()),
            ("$", "the body is not UTF-8 (invalid byte at offset 2)")
        );
        let text = body("");
        let req = parse_request(text.as_bytes()).unwrap();
        let raw = RawValue::from_string(r#"{"userId":"Practitioner/1"}"#.into()).unwrap();
        assert_eq!(
            patient_view_context(&raw).unwrap_err().field,
            "context.patientId"
        );
        assert_eq!(patient_view_context(&req.context).unwrap().patient_id, "p1");
    }

    #[test]
    fn order_contexts() {
        let raw = |s: &str| RawValue::from_string(s.into()).unwrap();
        let sel = raw(
            r#"{"userId":"Practitioner/1","patientId":"p1","selections":["MedicationRequest/a"],"draftOrders":{"resourceType":"Bundle"}}"#,
        );
        let c = order_context(&sel, OrderHook::OrderSelect).unwrap();
        assert_eq!(c.selections.unwrap(), ["MedicationRequest/a"]);
        let sign = raw(
            r#"{"userId":"Practitioner/1","patientId":"p1","draftOrders":{"resourceType":"Bundle"}}"#,
        );
        assert!(order_context(&sign, OrderHook::OrderSign).is_ok());
        assert_eq!(
            order_context(&sign, OrderHook::OrderSelect)
                .unwrap_err()
                .field,
            "context.selections"
        );
        let none = raw(r#"{"userId":"Practitioner/1","patientId":"p1"}"#);
        assert_eq!(
            order_context(&none, OrderHook::OrderSign)
                .unwrap_err()
                .field,
            "context.draftOrders"
        );
        let arr = raw(r#"{"userId":"Practitioner/1","patientId":"p1","draftOrders":[]}"#);
        assert_eq!(
            order_context(&arr, OrderHook::OrderSign).unwrap_err().field,
            "context.draftOrders"
        );
    }

    #[test]
    fn cds_r_1_authorization_requires_fhir_server() {
        let auth = r#","fhirAuthorization":{"access_token":"t","token_type":"Bearer","expires_in":300,"scope":"user/Patient.read","subject":"s"}"#;
        let e = parse_request(body(auth).as_bytes()).unwrap_err();
        assert_eq!(e.field, "fhirServer");
        let ok = format!(r#","fhirServer":"https://ehr.example.org/fhir"{auth}"#);
        assert!(parse_request(body(&ok).as_bytes()).is_ok());
    }

    /// `..` as patientId made the fetch GET `{fhirServer}/` with the token (issue 13 item 4).
    #[test]
    fn patient_id_must_be_a_fhir_id() {
        let ctx = |id: &str| {
            let raw = serde_json::value::RawValue::from_string(
                serde_json::json!({"userId": "Practitioner/1", "patientId": id}).to_string(),
            )
            .unwrap();
            (
                patient_view_context(&raw).map(|c| c.patient_id),
                order_context(
                    &serde_json::value::RawValue::from_string(
                        serde_json::json!({"userId": "Practitioner/1", "patientId": id,
                            "draftOrders": {"resourceType": "Bundle"}})
                        .to_string(),
                    )
                    .unwrap(),
                    OrderHook::OrderSign,
                )
                .map(|c| c.patient_id),
            )
        };
        for ok in [
            "p1",
            "1288992",
            "a.b-C",
            "8c3f1f0e-5a2b-4c1d-9e8f-0123456789ab",
            &"x".repeat(64),
        ] {
            let (pv, os) = ctx(ok);
            assert_eq!(pv.unwrap(), ok);
            assert_eq!(os.unwrap(), ok);
        }
        for bad in [
            ".",
            "..",
            "../x",
            "p1/..",
            "p 1",
            "p1?x=1",
            "p1#f",
            "p%2e",
            "é",
            "p/1",
            &"x".repeat(65),
            "..\\x",
        ] {
            let (pv, os) = ctx(bad);
            for e in [pv.unwrap_err(), os.unwrap_err()] {
                assert_eq!(e.field, "context.patientId", "{bad}");
                assert!(
                    e.problem.starts_with("must be a FHIR id"),
                    "{bad}: {}",
                    e.problem
                );
            }
        }
    }

    #[test]
    fn cds_r_2_patient_scopes_require_patient() {
        let auth = r#","fhirServer":"https://ehr/fhir","fhirAuthorization":{"access_token":"t","token_type":"Bearer","expires_in":300,"scope":"patient/Observation.read","subject":"s"}"#;
        let e = parse_request(body(auth).as_bytes()).unwrap_err();
        assert_eq!(e.field, "fhirAuthorization.patient");
        let ok = auth.replace(r#""subject":"s""#, r#""subject":"s","patient":"p1""#);
        assert!(parse_request(body(&ok).as_bytes()).is_ok());
    }
}
