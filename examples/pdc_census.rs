//! How many antidepressant trials of real-looking patient files have a PDC, and how many fall
//! below `min_pdc` (issue 19: real dispense data is the test of whether 0.8 is a sensible default).
//!
//! ```sh
//! cargo run --example pdc_census -- [--as-of YYYY-MM-DD] FILE_OR_DIR...
//! cargo run --example pdc_census -- tests/data/sample-data/pysynthea-generated \
//!     tests/data/sample-data/synthea-smart-on-fhir
//! ```
//!
//! Every `*.json` file that is a FHIR Bundle is one patient (other JSON, such as a Synthea module,
//! is skipped and counted). Prints one line per patient and the totals; reads nothing but its
//! arguments and never prints patient identifiers beyond the file name.

use std::path::{Path, PathBuf};

use time::Date;
use time::macros::format_description;
use trd_cds::clinical::SiteConfig;
use trd_cds::fhir::record::SourceKind;
use trd_cds::knowledge::{KnowledgeBase, ProcedureKind};

#[derive(Default)]
struct Totals {
    patients: usize,
    skipped: usize,
    dispenses: usize,
    trials: usize,
    with_pdc: usize,
    below_min: usize,
    psychotherapy_sessions: usize,
}

fn json_files(arg: &Path, out: &mut Vec<PathBuf>) {
    if arg.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(arg)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            json_files(&e, out);
        }
    } else if arg.extension().is_some_and(|x| x == "json") {
        out.push(arg.to_path_buf());
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // A fixed default date keeps the census reproducible (the sample data ends before it).
    let mut as_of = "2026-12-01".to_string();
    if let Some(i) = args.iter().position(|a| a == "--as-of") {
        as_of = args.get(i + 1).cloned().expect("--as-of YYYY-MM-DD");
        args.drain(i..=i + 1);
    }
    let as_of = Date::parse(&as_of, format_description!("[year]-[month]-[day]"))
        .expect("--as-of must be YYYY-MM-DD");
    let kb = KnowledgeBase::embedded().expect("knowledge base");
    let min_pdc = kb.params().min_pdc;
    let mut files = Vec::new();
    for a in &args {
        json_files(Path::new(a), &mut files);
    }

    let mut t = Totals::default();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable file");
        let is_bundle = serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v["resourceType"] == "Bundle");
        if !is_bundle {
            t.skipped += 1;
            continue;
        }
        let Ok((record, a)) = trd_cds::pipeline::assess_documents(
            &[text.as_str()],
            None,
            &kb,
            &SiteConfig::default(),
            as_of,
        ) else {
            t.skipped += 1;
            continue;
        };
        let dispenses = record
            .exposures
            .iter()
            .filter(|e| e.kind == SourceKind::MedicationDispense)
            .map(|e| &e.source)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let with_pdc: Vec<f64> = a.trials.iter().filter_map(|tr| tr.pdc).collect();
        let below = a
            .trials
            .iter()
            .filter(|tr| tr.adherence_adequate == Some(false))
            .count();
        let sessions = record
            .procedures
            .iter()
            .filter(|p| p.kind == ProcedureKind::Psychotherapy)
            .count();
        println!(
            "{}: status {}, {} trial(s), {} dispense(s), {} with a PDC {:?}, {} below {min_pdc}, {} psychotherapy session(s)",
            f.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            serde_json::to_value(a.status).unwrap_or_default(),
            a.trials.len(),
            dispenses,
            with_pdc.len(),
            with_pdc,
            below,
            sessions
        );
        t.patients += 1;
        t.dispenses += dispenses;
        t.trials += a.trials.len();
        t.with_pdc += with_pdc.len();
        t.below_min += below;
        t.psychotherapy_sessions += sessions;
    }
    println!(
        "total (as of {as_of}): {} patient(s) ({} file(s) skipped: not a Bundle), {} trial(s), {} MedicationDispense(s), {} trial(s) with a PDC, {} below {min_pdc}, {} psychotherapy session(s)",
        t.patients,
        t.skipped,
        t.trials,
        t.dispenses,
        t.with_pdc,
        t.below_min,
        t.psychotherapy_sessions
    );
}
