//! `knowledge/cards.toml`: what the cards need beyond the rules — the order of next steps, the
//! published guidance behind them (card links) and the SNOMED CT referral procedures of draft
//! referrals. Step codes stay strings here (the knowledge base does not depend on the engine);
//! `cards` checks that every recommendation has a row.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::KbError;
use super::codes::Sys;

pub const CARDS: &str = "cards.toml";

/// A published guideline a card links to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guideline {
    pub id: String,
    pub label: String,
    /// Absolute https URL of the published guidance.
    pub url: String,
    #[serde(default)]
    #[allow(dead_code)] // provenance for reviewers
    source: String,
}

/// One next step: its recommendation code (clinical-rules §9) and the guidelines it rests on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub code: String,
    pub guidelines: Vec<String>,
}

/// What a draft referral refers the patient to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferralService {
    Psychiatry,
    PsychologicalTherapy,
}

/// The SNOMED CT referral procedure of a [`ReferralService`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralCode {
    pub service: ReferralService,
    pub system: String,
    pub code: String,
    /// The concept's preferred term.
    pub display: String,
    #[serde(default)]
    #[allow(dead_code)] // provenance for reviewers
    source: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardKnowledge {
    #[serde(default)]
    #[allow(dead_code)]
    meta: Option<toml::Value>,
    #[serde(default, rename = "guideline")]
    pub guidelines: Vec<Guideline>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    #[serde(default, rename = "referral")]
    pub referrals: Vec<ReferralCode>,
}

fn err(msg: impl std::fmt::Display) -> KbError {
    KbError(format!("{CARDS}: {msg}"))
}

pub(crate) fn load(text: &str) -> Result<CardKnowledge, KbError> {
    let k: CardKnowledge = toml::from_str(text).map_err(|e| err(e.to_string().trim_end()))?;
    let mut ids = HashSet::new();
    for g in &k.guidelines {
        if g.id.trim().is_empty() || g.label.trim().is_empty() {
            return Err(err("guideline: empty id or label"));
        }
        if !g.url.starts_with("https://") {
            return Err(err(format!(
                "guideline {}: url must be an absolute https URL",
                g.id
            )));
        }
        if !ids.insert(g.id.as_str()) {
            return Err(err(format!("guideline {}: duplicate id", g.id)));
        }
    }
    let mut codes = HashSet::new();
    for s in &k.steps {
        if !codes.insert(s.code.as_str()) {
            return Err(err(format!("step {}: listed twice", s.code)));
        }
        if let Some(g) = s.guidelines.iter().find(|g| !ids.contains(g.as_str())) {
            return Err(err(format!("step {}: unknown guideline '{g}'", s.code)));
        }
    }
    let mut services = HashSet::new();
    for r in &k.referrals {
        if Sys::parse(&r.system).is_none() {
            return Err(err(format!(
                "referral {}: unknown code system '{}'",
                r.code, r.system
            )));
        }
        if r.code.trim().is_empty() || r.display.trim().is_empty() {
            return Err(err("referral: empty code or display"));
        }
        if !services.insert(r.service) {
            return Err(err(format!("referral {}: service listed twice", r.code)));
        }
    }
    Ok(k)
}

impl CardKnowledge {
    /// Position of a recommendation code in the card order; `None` when the file has no row for it.
    pub fn step_rank(&self, code: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.code == code)
    }
    /// The guidelines a step rests on, in file order of the step's list.
    pub fn step_guidelines(&self, code: &str) -> impl Iterator<Item = &Guideline> {
        self.steps
            .iter()
            .filter(move |s| s.code == code)
            .flat_map(|s| s.guidelines.iter())
            .filter_map(|id| self.guidelines.iter().find(|g| &g.id == id))
    }
    pub fn referral(&self, service: ReferralService) -> Option<&ReferralCode> {
        self.referrals.iter().find(|r| r.service == service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_loads_with_snomed_referral_procedures() {
        let k = load(include_str!("../../knowledge/cards.toml")).expect("cards.toml");
        let psych = k.referral(ReferralService::Psychiatry).expect("psychiatry");
        assert_eq!(
            (psych.code.as_str(), psych.display.as_str()),
            ("183524004", "Referral to psychiatry service")
        );
        let therapy = k
            .referral(ReferralService::PsychologicalTherapy)
            .expect("psychotherapy");
        assert_eq!(therapy.code, "81294000");
        assert!(k.guidelines.iter().all(|g| g.url.starts_with("https://")));
    }

    #[test]
    fn rejects_unknown_guideline_duplicate_step_and_http_url() {
        let base = "[[guideline]]\nid = \"g\"\nlabel = \"G\"\nurl = \"https://example.org/g\"\n";
        let unknown = format!("{base}[[step]]\ncode = \"x\"\nguidelines = [\"nope\"]\n");
        assert!(load(&unknown).unwrap_err().0.contains("unknown guideline"));
        let twice = format!(
            "{base}[[step]]\ncode = \"x\"\nguidelines = [\"g\"]\n[[step]]\ncode = \"x\"\nguidelines = []\n"
        );
        assert!(load(&twice).unwrap_err().0.contains("listed twice"));
        let http = base.replace("https://", "http://");
        assert!(load(&http).unwrap_err().0.contains("https"));
    }
}
