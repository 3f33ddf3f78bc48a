//! Backend-independent pieces: resolving a feedback entry against the audited card, and
//! aggregating the feedback summary. Both stores feed these, so they agree by construction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use time::OffsetDateTime;

use super::model::{
    CardKindSummary, FeedbackOutcome, FeedbackSummary, OverrideReasonCount, RecommendationSummary,
    UnmatchedFeedback,
};

/// What the store knew about the card a feedback entry refers to (latest audit row with that uuid).
#[derive(Debug, Clone, Default)]
pub(crate) struct CardResolution {
    pub kind: Option<String>,
    /// Distinct recommendation codes of the card's suggestions, sorted.
    pub card_codes: Vec<String>,
    /// Distinct recommendation codes of the accepted suggestions that were found on the card, sorted.
    pub accepted_codes: Vec<String>,
}

impl CardResolution {
    pub(crate) fn matched(&self) -> bool {
        self.kind.is_some()
    }
}

/// `suggestions` = (suggestion uuid, recommendation code) of the audited card.
pub(crate) fn resolve_card(
    kind: Option<String>,
    suggestions: &[(String, String)],
    accepted: &[String],
) -> CardResolution {
    let card_codes: BTreeSet<&str> = suggestions.iter().map(|(_, c)| c.as_str()).collect();
    let by_uuid: HashMap<&str, &str> = suggestions
        .iter()
        .map(|(u, c)| (u.as_str(), c.as_str()))
        .collect();
    let accepted_codes: BTreeSet<&str> = accepted
        .iter()
        .filter_map(|a| by_uuid.get(a.as_str()).copied())
        .collect();
    CardResolution {
        kind,
        card_codes: card_codes.into_iter().map(str::to_owned).collect(),
        accepted_codes: accepted_codes.into_iter().map(str::to_owned).collect(),
    }
}

/// One stored feedback row, as the summary needs it.
#[derive(Debug, Clone)]
pub(crate) struct FeedbackFact {
    pub outcome: FeedbackOutcome,
    pub card_kind: Option<String>,
    pub card_codes: Vec<String>,
    pub accepted_codes: Vec<String>,
    pub reason_system: Option<String>,
    pub reason_code: Option<String>,
}

#[derive(Default)]
struct Acc {
    shown: u64,
    accepted: u64,
    overridden: u64,
    reasons: BTreeMap<(Option<String>, Option<String>), u64>,
}

impl Acc {
    fn reasons(self) -> Vec<OverrideReasonCount> {
        let mut v: Vec<OverrideReasonCount> = self
            .reasons
            .into_iter()
            .map(|((system, code), count)| OverrideReasonCount {
                system,
                code,
                count,
            })
            .collect();
        // Most frequent first; ties keep the (system, code) order of the BTreeMap (stable sort).
        v.sort_by_key(|r| std::cmp::Reverse(r.count));
        v
    }
}

pub(crate) fn aggregate(
    from: OffsetDateTime,
    to: OffsetDateTime,
    shown_by_kind: BTreeMap<String, u64>,
    shown_by_code: BTreeMap<String, u64>,
    facts: impl IntoIterator<Item = FeedbackFact>,
) -> FeedbackSummary {
    let mut kinds: BTreeMap<String, Acc> = shown_by_kind
        .into_iter()
        .map(|(k, n)| {
            (
                k,
                Acc {
                    shown: n,
                    ..Acc::default()
                },
            )
        })
        .collect();
    let mut codes: BTreeMap<String, Acc> = shown_by_code
        .into_iter()
        .map(|(k, n)| {
            (
                k,
                Acc {
                    shown: n,
                    ..Acc::default()
                },
            )
        })
        .collect();
    let mut unmatched = UnmatchedFeedback::default();

    for f in facts {
        let Some(kind) = f.card_kind else {
            match f.outcome {
                FeedbackOutcome::Accepted => unmatched.accepted += 1,
                FeedbackOutcome::Overridden => unmatched.overridden += 1,
            }
            continue;
        };
        let reason = (f.reason_system, f.reason_code);
        let k = kinds.entry(kind).or_default();
        match f.outcome {
            FeedbackOutcome::Accepted => {
                k.accepted += 1;
                for c in dedup(&f.accepted_codes) {
                    codes.entry(c.to_owned()).or_default().accepted += 1;
                }
            }
            FeedbackOutcome::Overridden => {
                k.overridden += 1;
                *k.reasons.entry(reason.clone()).or_default() += 1;
                for c in dedup(&f.card_codes) {
                    let a = codes.entry(c.to_owned()).or_default();
                    a.overridden += 1;
                    *a.reasons.entry(reason.clone()).or_default() += 1;
                }
            }
        }
    }

    FeedbackSummary {
        from,
        to,
        by_card_kind: kinds
            .into_iter()
            .map(|(kind, a)| CardKindSummary {
                kind,
                shown: a.shown,
                accepted: a.accepted,
                overridden: a.overridden,
                override_reasons: a.reasons(),
            })
            .collect(),
        by_recommendation_code: codes
            .into_iter()
            .map(|(code, a)| RecommendationSummary {
                code,
                shown: a.shown,
                accepted: a.accepted,
                overridden: a.overridden,
                override_reasons: a.reasons(),
            })
            .collect(),
        unmatched,
    }
}

fn dedup(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}
