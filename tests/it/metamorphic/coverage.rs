//! How many generated patients hit each status, flag, recommendation, outcome, staging value and
//! data-issue field: the generator's blind spots show as zeros. The code lists are the contract's
//! (docs/clinical-rules.md §5–§9), not the engine's, so a code the engine never emits shows too.

use std::collections::BTreeMap;

use serde_json::Value;

use super::histories::{History, KINDS};

const STATUSES: &[&str] = &["met", "possible", "not-met", "not-applicable"];
/// §7, in table order.
const FLAGS: &[&str] = &[
    "bipolar-spectrum",
    "no-mdd-diagnosis",
    "psychotic-features",
    "catatonia",
    "suicide-risk",
    "subtherapeutic-dose",
    "insufficient-duration",
    "dose-unknown",
    "possible-nonadherence",
    "substance-use",
    "thyroid-disorder",
    "comorbid-ptsd",
    "comorbid-adhd",
    "comorbid-personality-disorder",
    "comorbid-anxiety",
    "maoi-serotonergic-interaction",
    "prior-psychotherapy",
    "prior-ect",
    "prior-tms",
    "prior-esketamine",
];
/// §9, in table order.
const RECOMMENDATIONS: &[&str] = &[
    "urgent-safety-assessment",
    "urgent-ect-evaluation",
    "specialist-review",
    "optimize-dose",
    "extend-trial",
    "verify-treatment-history",
    "add-psychotherapy",
    "augment-antipsychotic",
    "augment-lithium",
    "switch-class",
    "combine-antidepressant",
    "refer-tms",
    "refer-esketamine",
    "refer-ect",
    "reassess-diagnosis",
];
const OUTCOMES: &[&str] = &[
    "intolerant",
    "responded",
    "failed",
    "indeterminate",
    "inadequate",
    "ongoing",
];
const MEASUREMENTS: &[&str] = &["response", "partial", "non-response", "unmeasured"];

/// Counts of patients (not of items) per (section, value).
#[derive(Default)]
pub struct Coverage {
    patients: u64,
    resources: u64,
    counts: BTreeMap<(String, String), u64>,
}

impl Coverage {
    pub fn count(&self, section: &str, value: &str) -> u64 {
        self.counts
            .get(&(section.to_string(), value.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn add(&mut self, h: &History, bundle: &Value, a: &Value) {
        self.patients += 1;
        self.resources += bundle["entry"].as_array().map_or(0, |e| e.len() as u64);
        let mut hit: std::collections::BTreeSet<(String, String)> = Default::default();
        let mut put = |s: &str, v: &str| {
            hit.insert((s.to_string(), v.to_string()));
        };
        for (k, _) in &h.elements {
            put("element", KINDS[*k].0);
        }
        put("status", a["status"].as_str().unwrap_or("?"));
        for f in a["flags"].as_array().into_iter().flatten() {
            put("flag", f["code"].as_str().unwrap_or("?"));
        }
        for r in a["recommendations"].as_array().into_iter().flatten() {
            put("recommendation", r["code"].as_str().unwrap_or("?"));
        }
        for t in a["trials"].as_array().into_iter().flatten() {
            put("trial outcome", t["outcome"].as_str().unwrap_or("?"));
            put(
                "trial measurement",
                t["measurement"].as_str().unwrap_or("?"),
            );
            put("trial matched_by", t["matched_by"].as_str().unwrap_or("?"));
            let dose = match t["dose_adequate"].as_bool() {
                None => "unknown",
                Some(true) => "adequate",
                Some(false) => "below minimum",
            };
            put("trial dose", dose);
            if t["end"].is_null() {
                put("trial dose", "(not ended)");
            }
        }
        for g in a["augmentations"].as_array().into_iter().flatten() {
            put("augmentation class", g["class"].as_str().unwrap_or("?"));
            put("augmentation outcome", g["outcome"].as_str().unwrap_or("?"));
        }
        let failed = a["failed_adequate_trials"].as_u64().unwrap_or(0);
        put(
            "failed adequate trials",
            &failed.min(4).to_string().replace('4', "4+"),
        );
        let s = &a["staging"];
        put("thase_rush", &s["thase_rush"].to_string());
        put("treatment_step", &s["treatment_step"].to_string());
        let mgh = s["mgh_s"].as_f64().unwrap_or(0.0);
        let band = match mgh {
            0.0 => "0",
            x if x < 3.0 => "0.5-2.5",
            x if x < 5.0 => "3-4.5",
            _ => "5+",
        };
        put("mgh_s", band);
        match s["maudsley"]["band"].as_str() {
            Some(b) => put("maudsley band", b),
            None => put("maudsley band", "null (severity unknown)"),
        }
        if a["data_issues"].as_array().is_some_and(|d| d.is_empty()) {
            put("data issue", "(none)");
        }
        for d in a["data_issues"].as_array().into_iter().flatten() {
            // The field without indexes: dosage[0].doseAndRate[1].doseQuantity.value → dosage.doseAndRate.doseQuantity.value
            let field = d["field"].as_str().unwrap_or("?");
            let mut clean = String::new();
            let mut depth = 0;
            for ch in field.chars() {
                match ch {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    c if depth == 0 => clean.push(c),
                    _ => {}
                }
            }
            let rtype = d["resource"]
                .as_str()
                .and_then(|r| r.rsplit('/').nth(1))
                .unwrap_or("?");
            put("data issue", &format!("{rtype}.{clean}"));
        }
        for k in hit {
            *self.counts.entry(k).or_default() += 1;
        }
    }

    /// The printed table: every contract code with its count (zeros included), then whatever
    /// else was seen.
    pub fn table(&self) -> String {
        let n = self.patients.max(1);
        let mut out = format!(
            "metamorphic generator coverage: {} patients, {:.1} resources each on average\n\
             (patients hitting each value at least once)\n",
            self.patients,
            self.resources as f64 / n as f64
        );
        let mut section = |title: &str, known: &[&str]| {
            out.push_str(&format!("\n{title}\n"));
            let mut values: Vec<String> = known.iter().map(|s| s.to_string()).collect();
            for (s, v) in self.counts.keys() {
                if s == title && !values.contains(v) {
                    values.push(v.clone());
                }
            }
            for v in values {
                let c = self.count(title, &v);
                let mark = if c == 0 { "   <-- never hit" } else { "" };
                out.push_str(&format!(
                    "  {v:<44} {c:>7} {:>6.1} %{mark}\n",
                    100.0 * c as f64 / n as f64
                ));
            }
        };
        let kinds: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        section("element", &kinds);
        section("status", STATUSES);
        section("flag", FLAGS);
        section("recommendation", RECOMMENDATIONS);
        section("trial outcome", OUTCOMES);
        section("trial measurement", MEASUREMENTS);
        section(
            "trial dose",
            &["adequate", "below minimum", "unknown", "(not ended)"],
        );
        section(
            "trial matched_by",
            &["rxnorm-ingredient", "rxnorm-product", "atc", "text"],
        );
        section("augmentation class", &[]);
        section(
            "augmentation outcome",
            &["responded", "failed", "inadequate", "ongoing"],
        );
        section("failed adequate trials", &["0", "1", "2", "3", "4+"]);
        section("thase_rush", &["0", "1", "2", "3", "4", "5"]);
        section("treatment_step", &["0", "1", "2", "3", "4", "5"]);
        section("mgh_s", &["0", "0.5-2.5", "3-4.5", "5+"]);
        section(
            "maudsley band",
            &["mild", "moderate", "severe", "null (severity unknown)"],
        );
        section("data issue", &["(none)"]);
        out
    }
}
