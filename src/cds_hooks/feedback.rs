//! Feedback (`POST /cds-services/{id}/feedback`): what the clinician did with a card.
//! Validated per cds-fb-1..3; timestamps must be RFC 3339.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::WireError;
use super::request::path_error;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted",
    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}], "outcomeTimestamp": "2021-12-11T10:05:31Z"}]}))]
pub struct FeedbackRequest {
    pub feedback: Vec<FeedbackItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackItem {
    /// The `uuid` of the card.
    pub card: String,
    pub outcome: FeedbackOutcome,
    /// Required when `outcome` is `accepted` (cds-fb-2).
    #[serde(default)]
    pub accepted_suggestions: Option<Vec<AcceptedSuggestion>>,
    /// At least one of `reason`, `userComment` (cds-fb-3).
    #[serde(default)]
    pub override_reason: Option<OverrideReasonFeedback>,
    /// RFC 3339, e.g. `2021-12-11T10:05:31Z`.
    pub outcome_timestamp: String,
}

/// cds-fb-1: `accepted` or `overridden` only (any other value fails to parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackOutcome {
    Accepted,
    Overridden,
}

impl FeedbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackOutcome::Accepted => "accepted",
            FeedbackOutcome::Overridden => "overridden",
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AcceptedSuggestion {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReasonFeedback {
    #[serde(default)]
    pub reason: Option<FeedbackCoding>,
    #[serde(default)]
    pub user_comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct FeedbackCoding {
    pub code: String,
    pub system: String,
    #[serde(default)]
    pub display: Option<String>,
}

/// One validated feedback entry.
#[derive(Debug, Clone)]
pub struct ValidFeedback {
    pub card: String,
    pub outcome: FeedbackOutcome,
    pub accepted_suggestions: Vec<String>,
    pub override_reason: Option<FeedbackCoding>,
    pub override_comment: Option<String>,
    pub outcome_timestamp: OffsetDateTime,
}

/// Parse and validate a feedback body.
pub fn parse_feedback(body: &[u8]) -> Result<Vec<ValidFeedback>, WireError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let req: FeedbackRequest = serde_path_to_error::deserialize(de).map_err(path_error)?;
    if req.feedback.is_empty() {
        return Err(WireError::new(
            "feedback",
            "must contain at least one entry",
        ));
    }
    req.feedback
        .into_iter()
        .enumerate()
        .map(|(i, f)| validate(i, f))
        .collect()
}

fn validate(i: usize, f: FeedbackItem) -> Result<ValidFeedback, WireError> {
    let at = |field: &str| format!("feedback[{i}].{field}");
    if f.card.trim().is_empty() {
        return Err(WireError::new(at("card"), "must not be empty"));
    }
    let outcome_timestamp = OffsetDateTime::parse(&f.outcome_timestamp, &Rfc3339).map_err(|e| {
        WireError::new(
            at("outcomeTimestamp"),
            format!(
                "'{}' is not an RFC 3339 timestamp: {e}",
                f.outcome_timestamp
            ),
        )
    })?;
    let accepted: Vec<String> = f
        .accepted_suggestions
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.id)
        .collect();
    if let Some(j) = accepted.iter().position(|id| id.trim().is_empty()) {
        return Err(WireError::new(
            at(&format!("acceptedSuggestions[{j}].id")),
            "must not be empty",
        ));
    }
    match f.outcome {
        // cds-fb-2
        FeedbackOutcome::Accepted if accepted.is_empty() => {
            return Err(WireError::new(
                at("acceptedSuggestions"),
                "is required when outcome is 'accepted' (cds-fb-2)",
            ));
        }
        FeedbackOutcome::Accepted if f.override_reason.is_some() => {
            return Err(WireError::new(
                at("overrideReason"),
                "only allowed when outcome is 'overridden'",
            ));
        }
        FeedbackOutcome::Overridden if !accepted.is_empty() => {
            return Err(WireError::new(
                at("acceptedSuggestions"),
                "only allowed when outcome is 'accepted'",
            ));
        }
        _ => {}
    }
    let (reason, comment) = match f.override_reason {
        None => (None, None),
        Some(r) => {
            let comment = r.user_comment.filter(|c| !c.trim().is_empty());
            // cds-fb-3
            if r.reason.is_none() && comment.is_none() {
                return Err(WireError::new(
                    at("overrideReason"),
                    "needs a reason or a userComment (cds-fb-3)",
                ));
            }
            if let Some(c) = &r.reason
                && (c.code.is_empty() || c.system.is_empty())
            {
                return Err(WireError::new(
                    at("overrideReason.reason"),
                    "needs system and code",
                ));
            }
            (r.reason, comment)
        }
    };
    Ok(ValidFeedback {
        card: f.card,
        outcome: f.outcome,
        accepted_suggestions: accepted,
        override_reason: reason,
        override_comment: comment,
        outcome_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, bytes)` of a CDS Hooks example in `tests/data/cds-hooks-spec/`, compiled in: a
    /// missing file fails the build of the tests instead of skipping them.
    macro_rules! example {
        ($f:literal) => {
            (
                $f,
                &include_bytes!(concat!("../../tests/data/cds-hooks-spec/", $f))[..],
            )
        };
    }

    #[test]
    fn official_examples_validate() {
        for (f, body) in [
            example!("spec-examples/feedback-accepted.json"),
            example!("spec-examples/feedback-overridden-no-reason.json"),
            example!("spec-examples/feedback-overridden-with-reason.json"),
            example!("implementations/ahrq-cql-services/feedback.json"),
        ] {
            parse_feedback(body).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    #[test]
    fn cds_fb_1_outcome_values() {
        let e = parse_feedback(br#"{"feedback":[{"card":"c","outcome":"ignored","outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).unwrap_err();
        assert_eq!(e.field, "feedback[0].outcome");
    }

    #[test]
    fn cds_fb_2_accepted_needs_suggestions() {
        let e = parse_feedback(br#"{"feedback":[{"card":"c","outcome":"accepted","outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).unwrap_err();
        assert_eq!(e.field, "feedback[0].acceptedSuggestions");
    }

    #[test]
    fn cds_fb_3_override_reason_needs_content() {
        let e = parse_feedback(br#"{"feedback":[{"card":"c","outcome":"overridden","overrideReason":{},"outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).unwrap_err();
        assert_eq!(e.field, "feedback[0].overrideReason");
        let ok = parse_feedback(br#"{"feedback":[{"card":"c","outcome":"overridden","overrideReason":{"userComment":"n/a"},"outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).unwrap();
        assert_eq!(ok[0].override_comment.as_deref(), Some("n/a"));
    }

    #[test]
    fn bad_timestamps_and_shapes_name_the_field() {
        let e = parse_feedback(
            br#"{"feedback":[{"card":"c","outcome":"overridden","outcomeTimestamp":"yesterday"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "feedback[0].outcomeTimestamp");
        assert_eq!(
            parse_feedback(br#"{"feedback":[]}"#).unwrap_err().field,
            "feedback"
        );
        assert_eq!(parse_feedback(br#"{}"#).unwrap_err().field, "feedback");
        assert_eq!(parse_feedback(br#"{"feedback":[{"outcome":"overridden","outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).unwrap_err().field, "feedback[0].card");
    }
}
