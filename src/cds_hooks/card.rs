//! Cards and what they carry. Every type here can only be built through constructors that enforce
//! the spec's response invariants:
//! - cds-resp-1: with `at-most-one`, at most one suggestion `isRecommended` ([`Suggestions::at_most_one`]);
//! - cds-resp-2: a delete action names a `resourceId` and carries no resource ([`Action::delete`]);
//! - cds-resp-3: `appContext` only on smart links ([`Link`] has it only in the `Smart` variant);
//! - cds-resp-4: every override reason has a `display` ([`OverrideReason`]);
//! - cds-resp-5: every action has a non-empty `description` ([`Action`] constructors);
//! - cds-resp-6: suggestions imply `selectionBehavior` ([`Suggestions`] carries both or neither);
//! - summary: one sentence of fewer than 140 characters ([`Summary::new`]);
//! - no `null`, `""`, `[]` or `{}` is ever emitted (optional fields are skipped when empty).

use serde::Serialize;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use super::WireError;

/// The spec's limit: "a one-sentence, <140-character summary".
pub const SUMMARY_MAX_CHARS: usize = 139;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, max_length = 139, min_length = 1, example = "Treatment-resistant depression: 2 failed adequate antidepressant trials")]
pub struct Summary(String);

impl Summary {
    /// A non-empty summary of at most 139 characters (Unicode scalar values).
    pub fn new(text: impl Into<String>) -> Result<Summary, WireError> {
        let text = text.into();
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(WireError::new("summary", "must not be empty"));
        }
        let n = trimmed.chars().count();
        if n > SUMMARY_MAX_CHARS {
            return Err(WireError::new(
                "summary",
                format!("{n} characters; must be fewer than 140"),
            ));
        }
        Ok(Summary(trimmed.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

/// A FHIR Coding as CDS Hooks uses it (`system` and `code` required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// The card's source: a label naming the service and knowledge-base version; optional url (the
/// service's page on how it decides) and topic (a coded subject for analytics).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Source {
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<Coding>,
}

impl Source {
    pub fn new(label: impl Into<String>) -> Result<Source, WireError> {
        let label = label.into();
        if label.trim().is_empty() {
            return Err(WireError::new("source.label", "must not be empty"));
        }
        Ok(Source {
            label,
            url: None,
            topic: None,
        })
    }
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into()).filter(|u: &String| !u.is_empty());
        self
    }
    /// A coded topic; ignored when system or code is empty (a Coding needs both).
    pub fn with_topic(mut self, topic: Coding) -> Self {
        self.topic = Some(topic).filter(|t| !t.system.is_empty() && !t.code.is_empty());
        self
    }
}

/// An override reason: a Coding whose `display` is required (cds-resp-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OverrideReason {
    system: String,
    code: String,
    display: String,
}

impl OverrideReason {
    pub fn new(system: &str, code: &str, display: &str) -> Result<OverrideReason, WireError> {
        if system.is_empty() || code.is_empty() {
            return Err(WireError::new(
                "overrideReasons.code",
                "system and code are required",
            ));
        }
        if display.trim().is_empty() {
            return Err(WireError::new(
                "overrideReasons.display",
                "display is required (cds-resp-4)",
            ));
        }
        Ok(OverrideReason {
            system: system.into(),
            code: code.into(),
            display: display.into(),
        })
    }
}

/// A suggested change to the EHR's data. `create`/`update` carry a whole resource; `delete` a
/// relative reference in `resourceId` (cds-resp-2).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    Create {
        description: String,
        #[schema(value_type = Object)]
        resource: RawJson,
    },
    Update {
        description: String,
        #[schema(value_type = Object)]
        resource: RawJson,
    },
    Delete {
        description: String,
        /// Relative reference, e.g. `MedicationRequest/123`.
        #[serde(rename = "resourceId")]
        resource_id: String,
    },
}

fn check_description(description: &str) -> Result<(), WireError> {
    if description.trim().is_empty() {
        return Err(WireError::new(
            "action.description",
            "must not be empty (cds-resp-5)",
        ));
    }
    Ok(())
}

/// The resource must be a FHIR resource with a `resourceType` (read from the leading key when it
/// is there, as serde output of fhir-sdk and `json!` both put it; otherwise by parsing the head).
fn check_resource(resource: &RawJson) -> Result<(), WireError> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "resourceType", borrow)]
        resource_type: Option<&'a str>,
    }
    let ok = crate::cds_hooks::prefetch::leading_resource_type(resource.as_str()).is_some()
        || serde_json::from_str::<Head>(resource.as_str())
            .ok()
            .and_then(|h| h.resource_type)
            .is_some_and(|t| !t.is_empty());
    if ok {
        Ok(())
    } else {
        Err(WireError::new(
            "action.resource",
            "must be a FHIR resource with a resourceType",
        ))
    }
}

fn raw(resource: &impl Serialize) -> Result<RawJson, WireError> {
    RawJson::of(resource)
        .map_err(|e| WireError::new("action.resource", format!("cannot be serialised: {e}")))
}

impl Action {
    pub fn create(
        description: impl Into<String>,
        resource: impl Serialize,
    ) -> Result<Action, WireError> {
        Action::create_raw(description, raw(&resource)?)
    }
    /// `create` with a resource already serialised (no second serialisation).
    pub fn create_raw(
        description: impl Into<String>,
        resource: RawJson,
    ) -> Result<Action, WireError> {
        let description = description.into();
        check_description(&description)?;
        check_resource(&resource)?;
        Ok(Action::Create {
            description,
            resource,
        })
    }
    pub fn update(
        description: impl Into<String>,
        resource: impl Serialize,
    ) -> Result<Action, WireError> {
        let description = description.into();
        check_description(&description)?;
        let resource = raw(&resource)?;
        check_resource(&resource)?;
        Ok(Action::Update {
            description,
            resource,
        })
    }
    /// `resource_id` must be a relative reference `Type/id`.
    pub fn delete(
        description: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> Result<Action, WireError> {
        let description = description.into();
        check_description(&description)?;
        let resource_id = resource_id.into();
        match resource_id.split_once('/') {
            Some((t, id)) if !t.is_empty() && !id.is_empty() && !id.contains('/') => {}
            _ => {
                return Err(WireError::new(
                    "action.resourceId",
                    format!("'{resource_id}' is not a relative reference Type/id (cds-resp-2)"),
                ));
            }
        }
        Ok(Action::Delete {
            description,
            resource_id,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    label: String,
    uuid: Uuid,
    #[serde(rename = "isRecommended", skip_serializing_if = "std::ops::Not::not")]
    is_recommended: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
}

impl Suggestion {
    pub fn new(
        label: impl Into<String>,
        uuid: Uuid,
        actions: Vec<Action>,
    ) -> Result<Suggestion, WireError> {
        let label = label.into();
        if label.trim().is_empty() {
            return Err(WireError::new("suggestion.label", "must not be empty"));
        }
        Ok(Suggestion {
            label,
            uuid,
            is_recommended: false,
            actions,
        })
    }
    pub fn recommended(mut self) -> Self {
        self.is_recommended = true;
        self
    }
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
    pub fn label(&self) -> &str {
        &self.label
    }
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionBehavior {
    Any,
    AtMostOne,
}

/// A non-empty list of suggestions together with its `selectionBehavior` (cds-resp-6).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestions {
    suggestions: Vec<Suggestion>,
    #[serde(rename = "selectionBehavior")]
    selection_behavior: SelectionBehavior,
}

impl Suggestions {
    pub fn any(items: Vec<Suggestion>) -> Result<Suggestions, WireError> {
        if items.is_empty() {
            return Err(WireError::new("suggestions", "must not be empty"));
        }
        Ok(Suggestions {
            suggestions: items,
            selection_behavior: SelectionBehavior::Any,
        })
    }
    /// cds-resp-1: at most one of `items` may be recommended.
    pub fn at_most_one(items: Vec<Suggestion>) -> Result<Suggestions, WireError> {
        if items.is_empty() {
            return Err(WireError::new("suggestions", "must not be empty"));
        }
        if items.iter().filter(|s| s.is_recommended).count() > 1 {
            return Err(WireError::new(
                "suggestions",
                "at most one suggestion may be recommended with at-most-one (cds-resp-1)",
            ));
        }
        Ok(Suggestions {
            suggestions: items,
            selection_behavior: SelectionBehavior::AtMostOne,
        })
    }
    pub fn items(&self) -> &[Suggestion] {
        &self.suggestions
    }
    pub fn selection_behavior(&self) -> SelectionBehavior {
        self.selection_behavior
    }
}

/// A link; `appContext` exists only on smart links (cds-resp-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Link {
    Absolute {
        label: String,
        url: String,
    },
    Smart {
        label: String,
        url: String,
        #[serde(rename = "appContext", skip_serializing_if = "Option::is_none")]
        app_context: Option<String>,
    },
}

impl Link {
    pub fn absolute(label: impl Into<String>, url: impl Into<String>) -> Result<Link, WireError> {
        let (label, url) = (label.into(), url.into());
        check_link(&label, &url)?;
        Ok(Link::Absolute { label, url })
    }
    pub fn smart(
        label: impl Into<String>,
        url: impl Into<String>,
        app_context: Option<String>,
    ) -> Result<Link, WireError> {
        let (label, url) = (label.into(), url.into());
        check_link(&label, &url)?;
        Ok(Link::Smart {
            label,
            url,
            app_context: app_context.filter(|c| !c.is_empty()),
        })
    }
}

fn check_link(label: &str, url: &str) -> Result<(), WireError> {
    if label.trim().is_empty() {
        return Err(WireError::new("link.label", "must not be empty"));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(WireError::new(
            "link.url",
            "must be an absolute http(s) URL",
        ));
    }
    Ok(())
}

/// Already-serialised JSON (serialised once, written as is).
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Serialise `value` once.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A CDS Hooks card: one piece of guidance. `summary` is the one-line headline (< 140 characters),
/// `detail` the markdown evidence (trials with doses, weeks and outcomes, staging, flags, the FHIR
/// references behind each claim), `suggestions` the actions a clinician can accept. The TRD card
/// carries the full assessment under `extension["trd-assessment"]`. Feedback refers to the `uuid`,
/// which is stable for the same patient and data.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Card {
    uuid: Uuid,
    summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    indicator: Indicator,
    source: Source,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    suggestions: Option<Suggestions>,
    #[serde(rename = "overrideReasons", skip_serializing_if = "Vec::is_empty")]
    override_reasons: Vec<OverrideReason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
    /// Extensions by key (the TRD card: `trd-assessment`, the full assessment); omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    extension: BTreeMap<String, RawJson>,
}

impl Card {
    pub fn new(uuid: Uuid, summary: Summary, indicator: Indicator, source: Source) -> Card {
        Card {
            uuid,
            summary,
            detail: None,
            indicator,
            source,
            suggestions: None,
            override_reasons: Vec::new(),
            links: Vec::new(),
            extension: BTreeMap::new(),
        }
    }
    /// GitHub-flavoured markdown; an empty detail is omitted.
    pub fn with_detail(mut self, markdown: impl Into<String>) -> Card {
        let md = markdown.into();
        self.detail = if md.trim().is_empty() { None } else { Some(md) };
        self
    }
    pub fn with_suggestions(mut self, suggestions: Suggestions) -> Card {
        self.suggestions = Some(suggestions);
        self
    }
    pub fn with_override_reasons(mut self, reasons: Vec<OverrideReason>) -> Card {
        self.override_reasons = reasons;
        self
    }
    pub fn with_links(mut self, links: Vec<Link>) -> Card {
        self.links = links;
        self
    }
    /// Adds an extension entry, serialised once now; `null` and empty values are not emitted.
    pub fn with_extension<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Card {
        if let Ok(raw) = serde_json::value::to_raw_value(value) {
            let empty = matches!(raw.get(), "null" | "{}" | "[]" | "\"\"");
            if !empty {
                self.extension.insert(key.to_string(), RawJson(raw));
            }
        }
        self
    }
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
    pub fn summary(&self) -> &str {
        self.summary.as_str()
    }
    pub fn indicator(&self) -> Indicator {
        self.indicator
    }
    pub fn suggestions(&self) -> Option<&Suggestions> {
        self.suggestions.as_ref()
    }
}

/// `{"cards": [...]}`: the one place an empty array is allowed (no guidance).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CdsResponse {
    pub cards: Vec<Card>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn src() -> Source {
        Source::new("TRD CDS (knowledge base 2026.1)").unwrap()
    }

    fn card() -> Card {
        Card::new(
            Uuid::nil(),
            Summary::new("A summary").unwrap(),
            Indicator::Info,
            src(),
        )
    }

    /// Walks a JSON value and fails on any null, "", [] or {} (except the top-level `cards`).
    fn assert_no_empty(v: &Value, path: &str) {
        match v {
            Value::Null => panic!("null at {path}"),
            Value::String(s) if s.is_empty() => panic!("empty string at {path}"),
            Value::Array(a) => {
                assert!(!a.is_empty() || path == "$.cards", "empty array at {path}");
                for (i, x) in a.iter().enumerate() {
                    assert_no_empty(x, &format!("{path}[{i}]"));
                }
            }
            Value::Object(m) => {
                assert!(!m.is_empty(), "empty object at {path}");
                for (k, x) in m {
                    assert_no_empty(x, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn summary_must_be_under_140_chars() {
        assert!(Summary::new("x".repeat(139)).is_ok());
        let e = Summary::new("x".repeat(140)).unwrap_err();
        assert_eq!(e.field, "summary");
        assert!(Summary::new("   ").is_err());
        // Characters, not bytes.
        assert!(Summary::new("é".repeat(139)).is_ok());
    }

    #[test]
    fn cds_resp_1_at_most_one_recommended() {
        let a = Suggestion::new("A", Uuid::from_u128(1), vec![])
            .unwrap()
            .recommended();
        let b = Suggestion::new("B", Uuid::from_u128(2), vec![])
            .unwrap()
            .recommended();
        assert!(Suggestions::at_most_one(vec![a.clone(), b.clone()]).is_err());
        let c = Suggestion::new("C", Uuid::from_u128(3), vec![]).unwrap();
        assert!(Suggestions::at_most_one(vec![a.clone(), c]).is_ok());
        // `any` allows several recommended.
        assert!(Suggestions::any(vec![a, b]).is_ok());
    }

    #[test]
    fn cds_resp_2_delete_uses_resource_id() {
        let d = Action::delete("Remove the draft", "MedicationRequest/123").unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            json!({"type": "delete", "description": "Remove the draft", "resourceId": "MedicationRequest/123"})
        );
        assert!(v.get("resource").is_none());
        assert!(Action::delete("x", "123").is_err());
        assert!(Action::delete("x", "MedicationRequest/").is_err());
    }

    #[test]
    fn cds_resp_3_app_context_only_on_smart_links() {
        let s = Link::smart(
            "App",
            "https://app.example.org/launch",
            Some("{\"a\":1}".into()),
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap()["appContext"], "{\"a\":1}");
        let a = Link::absolute("Guideline", "https://example.org/g").unwrap();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "absolute");
        assert!(v.get("appContext").is_none());
        assert!(Link::absolute("x", "javascript:alert(1)").is_err());
    }

    #[test]
    fn cds_resp_4_override_reasons_need_display() {
        assert!(OverrideReason::new("http://s", "c", "").is_err());
        let r = OverrideReason::new("http://s", "c", "Patient refuses").unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["display"],
            "Patient refuses"
        );
    }

    #[test]
    fn cds_resp_5_actions_need_description() {
        let res = json!({"resourceType": "ServiceRequest"});
        assert!(Action::create("", res.clone()).is_err());
        assert!(Action::update(" ", res.clone()).is_err());
        assert!(Action::delete("", "X/1").is_err());
        assert!(Action::create("Refer", json!({"no": "type"})).is_err());
        assert!(Action::create("Refer", res).is_ok());
    }

    #[test]
    fn cds_resp_6_suggestions_imply_selection_behavior() {
        assert!(Suggestions::any(vec![]).is_err());
        let s = Suggestion::new("A", Uuid::from_u128(1), vec![]).unwrap();
        let c = card().with_suggestions(Suggestions::any(vec![s]).unwrap());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["selectionBehavior"], "any");
        assert_eq!(v["suggestions"].as_array().unwrap().len(), 1);
        let plain = serde_json::to_value(card()).unwrap();
        assert!(plain.get("suggestions").is_none() && plain.get("selectionBehavior").is_none());
    }

    #[test]
    fn cds_resp_7_no_nulls_or_empty_values_emitted() {
        let c = card()
            .with_detail("")
            .with_links(vec![])
            .with_override_reasons(vec![])
            .with_extension("x", &Value::Null);
        let v = serde_json::to_value(CdsResponse { cards: vec![c] }).unwrap();
        assert_no_empty(&v, "$");
        assert_eq!(
            v["cards"][0],
            json!({"uuid": "00000000-0000-0000-0000-000000000000", "summary": "A summary", "indicator": "info",
                   "source": {"label": "TRD CDS (knowledge base 2026.1)"}})
        );
        let empty = serde_json::to_value(CdsResponse { cards: vec![] }).unwrap();
        assert_eq!(empty, json!({"cards": []}));
    }
}
