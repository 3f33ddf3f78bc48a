//! Fuzzing (proptest) of everything that reads hostile input: the CDS Hooks request and feedback
//! parsers, the FHIR reader + engine + card renderer, the JSON shape scanner of the limits layer and
//! the JWT verifier's parsing. Nothing may panic.
//!
//! Inputs are structure-aware mutations of real documents (the 90 clinical scenarios, the sample
//! bundle and hook request, the spec's examples): a node anywhere in the JSON tree is replaced by a
//! hostile value (wrong type, absurd number, malformed date, huge or odd string, deep nesting),
//! deleted, renamed or duplicated; plus byte-level flips and truncations of the serialised text.
//!
//! CI runs 256 cases per target. A long run: `FUZZ_CASES=200000 cargo test --release --test
//! fuzz_parsers` (see docs/security.md for the last long run). A crash is shrunk by proptest and
//! must become a named regression test at the bottom of this file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use time::macros::date;
use trd_cds::cards::{self, CardContext};
use trd_cds::cds_hooks::feedback::parse_feedback;
use trd_cds::cds_hooks::request::{parse_request, patient_view_context};
use trd_cds::clinical::SiteConfig;
use trd_cds::fhir::reader::Document;
use trd_cds::http::auth::verify::b64url_decode;
use trd_cds::http::limits::scan_json;
use trd_cds::knowledge::KnowledgeBase;
use trd_cds::pipeline::{assess, assess_documents};

fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::embedded().expect("embedded knowledge base"))
}

/// Seed documents: FHIR (bundles), hook requests and feedback bodies.
fn corpus() -> &'static [(String, Value)] {
    static C: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut files: Vec<std::path::PathBuf> =
            std::fs::read_dir(format!("{root}/tests/scenarios"))
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
        files.sort();
        files.push(format!("{root}/tests/fixtures/bundle-trd.json").into());
        files.push(format!("{root}/tests/fixtures/patient-view-trd.json").into());
        files.push(format!("{root}/tests/fixtures/bench-patient-60.json").into());
        for ex in [
            "request-patient-view.json",
            "feedback-accepted.json",
            "feedback-overridden-with-reason.json",
            "prefetch-data-example.json",
        ] {
            let f = format!("{root}/tests/data/cds-hooks-spec/spec-examples/{ex}");
            assert!(std::path::Path::new(&f).is_file(), "{f}: missing");
            files.push(f.into());
        }
        for f in files {
            if f.extension().is_some_and(|e| e == "json")
                && let Ok(t) = std::fs::read_to_string(&f)
                && let Ok(v) = serde_json::from_str::<Value>(&t)
            {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
        assert!(out.len() > 50, "corpus too small: {}", out.len());
        out
    })
}

/// Hostile replacement values.
fn hostile(k: u64) -> Value {
    let long = "x".repeat(10_000);
    let vals = [
        Value::Null,
        json!(""),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(-1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0.000001),
        json!(true),
        json!([]),
        json!({}),
        json!("2025-13-45"),
        json!("2025-02-30"),
        json!("0000-00-00"),
        json!("9999-12-31T23:59:59Z"),
        json!("2025"),
        json!("2025-01"),
        json!("-2025-01-01"),
        json!("2025-01-01T25:61:61+99:99"),
        json!("NaN"),
        json!("1e999"),
        json!("Patient/"),
        json!("Patient/other"),
        json!("#"),
        json!("urn:uuid:"),
        json!("ɑ̃ 💊 \u{0} \u{202e}"),
        json!(long),
        serde_json::from_str(&format!("{}1{}", "[".repeat(40), "]".repeat(40))).unwrap(),
        json!({"value": -5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}),
        json!({"value": 1e300, "unit": "mg"}),
        json!({"coding": [{"system": "http://snomed.info/sct", "code": ""}]}),
        json!([{"resource": null}]),
        json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Bundle"}}]}),
        json!({"frequency": 0, "period": 0, "periodUnit": "d"}),
        json!({"frequency": 4294967295u64, "period": 0.0000001, "periodUnit": "s"}),
        json!({"start": "2030-01-01", "end": "1990-01-01"}),
    ];
    vals[(k % vals.len() as u64) as usize].clone()
}

/// Number of nodes in the tree.
fn count(v: &Value) -> u64 {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Apply mutation `op` with argument `arg` at the `n`-th node (pre-order).
fn mutate_at(v: &mut Value, n: &mut u64, op: u8, arg: u64) -> bool {
    if *n == 0 {
        match op % 6 {
            0 | 1 => *v = hostile(arg),
            2 => {
                // Wrap in an array (type change with the same content).
                *v = Value::Array(vec![v.take()]);
            }
            3 => {
                if let Value::Object(o) = v
                    && !o.is_empty()
                {
                    let k = o
                        .keys()
                        .nth((arg % o.len() as u64) as usize)
                        .unwrap()
                        .clone();
                    o.remove(&k);
                } else {
                    *v = hostile(arg);
                }
            }
            4 => {
                if let Value::Object(o) = v
                    && !o.is_empty()
                {
                    let k = o
                        .keys()
                        .nth((arg % o.len() as u64) as usize)
                        .unwrap()
                        .clone();
                    let x = o.remove(&k).unwrap();
                    o.insert(format!("{k}x"), x);
                } else if let Value::Array(a) = v
                    && !a.is_empty()
                {
                    let x = a[(arg % a.len() as u64) as usize].clone();
                    a.push(x);
                }
            }
            _ => {
                // A plausible-but-wrong sibling: numbers become strings and vice versa.
                *v = match v.take() {
                    Value::Number(x) => Value::String(x.to_string()),
                    Value::String(s) => s.parse::<f64>().map_or(Value::Null, |f| json!(f)),
                    other => other,
                };
            }
        }
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| mutate_at(c, n, op, arg)),
        Value::Object(o) => o.values_mut().any(|c| mutate_at(c, n, op, arg)),
        _ => false,
    }
}

fn mutated(seed: usize, ops: &[(u64, u8, u64)]) -> (String, Value) {
    let c = corpus();
    let (name, v) = &c[seed % c.len()];
    let mut v = v.clone();
    for &(at, op, arg) in ops {
        let mut n = at % count(&v);
        mutate_at(&mut v, &mut n, op, arg);
    }
    (name.clone(), v)
}

fn byte_mutated(text: &str, flips: &[(u64, u8)], cut: Option<u64>) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for &(at, x) in flips {
        if !b.is_empty() {
            let i = (at % b.len() as u64) as usize;
            b[i] = x;
        }
    }
    if let Some(c) = cut
        && !b.is_empty()
    {
        b.truncate((c % b.len() as u64) as usize);
    }
    b
}

/// Everything a hook call does with a FHIR document after the HTTP layer, as the route does it.
fn engine(doc: &str) {
    let site = SiteConfig::default();
    for as_of in [date!(2026 - 01 - 01), date!(2026 - 03 - 01)] {
        if let Ok((record, assessment)) =
            assess_documents(&[doc], Some("Patient/p1"), kb(), &site, as_of)
        {
            let _ = serde_json::to_string(&assessment).expect("assessment serialises");
            let cards = cards::patient_view(
                &assessment,
                &record,
                kb(),
                &CardContext {
                    base_url: Some("https://cds.example.org"),
                    ..Default::default()
                },
            );
            for c in cards {
                serde_json::to_string(&c.card).expect("card serialises");
            }
        }
    }
}

/// The hook request path: parse, context, then each prefetch document through the engine.
fn request_path(body: &[u8]) {
    if let Ok(req) = parse_request(body) {
        let _ = patient_view_context(&req.context);
        if let Some(prefetch) = &req.prefetch {
            let docs: Vec<Document> = prefetch.values().map(Document::Parsed).collect();
            if let Ok((record, a)) = assess(
                &docs,
                Some("Patient/p1"),
                kb(),
                &SiteConfig::default(),
                date!(2026 - 01 - 01),
            ) {
                let _ = cards::patient_view(&a, &record, kb(), &CardContext::default());
            }
        }
    }
}

fn no_panic(what: &str, input: &str, f: impl FnOnce()) -> Result<(), TestCaseError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => Ok(()),
        Err(_) => {
            let dir = format!("{}/target/fuzz-crashes", env!("CARGO_MANIFEST_DIR"));
            let _ = std::fs::create_dir_all(&dir);
            let file = format!("{dir}/{what}-{}.json", uuid::Uuid::new_v4());
            let _ = std::fs::write(&file, input);
            Err(TestCaseError::fail(format!(
                "{what} panicked; input saved to {file}"
            )))
        }
    }
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn ops() -> impl Strategy<Value = Vec<(u64, u8, u64)>> {
    prop::collection::vec((any::<u64>(), any::<u8>(), any::<u64>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// FHIR reader + clinical::assess + cards::patient_view on structurally mutated documents.
    #[test]
    fn engine_never_panics(seed in any::<usize>(), ops in ops()) {
        let (_, v) = mutated(seed, &ops);
        let text = v.to_string();
        no_panic("engine", &text, || engine(&text))?;
    }

    /// Hook requests: the seed document mutated, or a FHIR document mutated and used as prefetch.
    #[test]
    fn request_parser_never_panics(seed in any::<usize>(), ops in ops(), flips in prop::collection::vec((any::<u64>(), any::<u8>()), 0..4), cut in prop::option::of(any::<u64>())) {
        let (name, v) = mutated(seed, &ops);
        let body = if v.get("hook").is_some() {
            v.to_string()
        } else {
            json!({
                "hook": "patient-view",
                "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                "context": {"userId": "Practitioner/u1", "patientId": "p1"},
                "prefetch": {"conditions": v, "medicationStatements": null},
            })
            .to_string()
        };
        no_panic("request", &body, || request_path(body.as_bytes()))?;
        let bytes = byte_mutated(&body, &flips, cut);
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        no_panic(&format!("request-bytes-{name}"), &shown, || request_path(&bytes))?;
    }

    /// Feedback bodies.
    #[test]
    fn feedback_parser_never_panics(ops in ops(), which in 0usize..2, flips in prop::collection::vec((any::<u64>(), any::<u8>()), 0..4)) {
        let seeds = [
            json!({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted",
                "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                "outcomeTimestamp": "2021-12-11T10:05:31Z"}]}),
            json!({"feedback": [{"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
                "overrideReason": {"reason": {"code": "d7d8f1d3", "system": "https://x", "display": "x"},
                "userComment": "c"}, "outcomeTimestamp": "2020-12-11T00:00:00+01:00"}]}),
        ];
        let mut v = seeds[which].clone();
        for &(at, op, arg) in &ops {
            let mut n = at % count(&v);
            mutate_at(&mut v, &mut n, op, arg);
        }
        let text = v.to_string();
        no_panic("feedback", &text, || { let _ = parse_feedback(text.as_bytes()); })?;
        let bytes = byte_mutated(&text, &flips, None);
        no_panic("feedback-bytes", &text, || { let _ = parse_feedback(&bytes); })?;
    }

    /// The limits scanner never panics, and agrees with serde_json on the depth, `entry` elements
    /// and top-level `prefetch` keys of valid JSON, compact or pretty-printed.
    #[test]
    fn json_scanner(seed in any::<usize>(), ops in ops(), junk in prop::collection::vec(any::<u8>(), 0..256)) {
        let (_, v) = mutated(seed, &ops);
        let v = json!({"hook": "patient-view", "prefetch": {"a": v.clone(), "b": {"entry": [v, "\\\"", 1]}}});
        for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
            let shape = scan_json(text.as_bytes(), 10_000);
            prop_assert_eq!(shape.depth, depth(&v));
            prop_assert_eq!(shape.entries, entries(&v));
            prop_assert_eq!(shape.prefetch_keys, 2);
        }
        let _ = scan_json(&junk, 4);
    }

    /// base64url decoding of arbitrary text never panics.
    #[test]
    fn b64url_never_panics(s in ".{0,64}") {
        let _ = b64url_decode(&s);
    }
}

/// Elements of every array held by an `entry` key, at any depth.
fn entries(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(entries).sum(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match v {
                Value::Array(a) if k == "entry" => a.len() + entries(v),
                _ => entries(v),
            })
            .sum(),
        _ => 0,
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

// ------------------------------------------------------------------------ inside string values

/// Characters that break code assuming one byte per character or ASCII digits: 2-, 3- and 4-byte
/// UTF-8, a combining mark, a right-to-left override, non-ASCII digits, NUL.
const ODD_CHARS: [char; 9] = ['é', '€', '💊', '\u{301}', '\u{202e}', '٣', '１', 'ß', '\0'];

/// One edit inside a string value: insert a character, replace one, or truncate, at a character
/// position that covers every class (start, any inner position, end).
#[derive(Debug, Clone, Copy)]
enum StrEdit {
    Insert(char),
    Replace(char),
    Truncate,
}

fn str_edit(how: u8, ch: usize) -> StrEdit {
    let c = ODD_CHARS[ch % ODD_CHARS.len()];
    match how % 3 {
        0 => StrEdit::Insert(c),
        1 => StrEdit::Replace(c),
        _ => StrEdit::Truncate,
    }
}

/// `s` with `edit` applied at character position `at % (chars + 1)`.
fn edit_str(s: &str, at: u64, edit: StrEdit) -> String {
    let n = s.chars().count();
    let i = (at % (n as u64 + 1)) as usize;
    let byte = s.char_indices().nth(i).map_or(s.len(), |(b, _)| b);
    let mut out = s.to_string();
    match edit {
        StrEdit::Insert(c) => out.insert(byte, c),
        StrEdit::Replace(c) if byte < s.len() => {
            let old = s[byte..]
                .chars()
                .next()
                .expect("a character at a char boundary");
            out.replace_range(byte..byte + old.len_utf8(), c.encode_utf8(&mut [0; 4]));
        }
        StrEdit::Replace(c) => out.push(c),
        StrEdit::Truncate => out.truncate(byte),
    }
    out
}

/// Number of string values in the tree.
fn strings_in(v: &Value) -> u64 {
    match v {
        Value::String(_) => 1,
        Value::Array(a) => a.iter().map(strings_in).sum(),
        Value::Object(o) => o.values().map(strings_in).sum(),
        _ => 0,
    }
}

/// Apply `f` to the `n`-th string value (pre-order).
fn edit_nth_string(v: &mut Value, n: &mut u64, f: &dyn Fn(&str) -> String) -> bool {
    match v {
        Value::String(s) if *n == 0 => {
            *s = f(s);
            true
        }
        Value::String(_) => {
            *n -= 1;
            false
        }
        Value::Array(a) => a.iter_mut().any(|c| edit_nth_string(c, n, f)),
        Value::Object(o) => o.values_mut().any(|c| edit_nth_string(c, n, f)),
        _ => false,
    }
}

/// The `n`-th string value (pre-order).
fn nth_string(v: &Value, n: &mut u64) -> Option<String> {
    match v {
        Value::String(s) if *n == 0 => Some(s.clone()),
        Value::String(_) => {
            *n -= 1;
            None
        }
        Value::Array(a) => a.iter().find_map(|c| nth_string(c, n)),
        Value::Object(o) => o.values().find_map(|c| nth_string(c, n)),
        _ => None,
    }
}

/// Real hook requests and bundles rich in date-times, codes, doses and references: what the
/// in-string mutations start from (the scenario corpus is mostly plain dates).
fn string_seeds() -> &'static [(String, Value)] {
    static S: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
        [
            "fixtures/patient-view-60.json",
            "fixtures/bench-patient-60.json",
            "fixtures/patient-view-trd.json",
            "fixtures/bundle-trd.json",
            "scenarios/same-day-scores-last-issued.json",
        ]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(format!("{dir}/{f}"))
                .unwrap_or_else(|e| panic!("seed {f}: {e}"));
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {f}: {e}"));
            (f.to_string(), v)
        })
        .collect()
    })
}

/// A hook request or FHIR document through everything that reads it.
fn read_anything(text: &str) {
    if text.contains("\"hook\"") {
        request_path(text.as_bytes());
    } else {
        engine(text);
    }
}

fn str_edits() -> impl Strategy<Value = Vec<(u64, u64, u8, usize)>> {
    prop::collection::vec(
        (any::<u64>(), any::<u64>(), any::<u8>(), any::<usize>()),
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Multi-byte characters inserted or replaced inside string values, and values truncated, at
    /// any character position, in real hook requests and bundles: nothing may panic (issue 13: a
    /// `€` inside a date-time's time panicked at a fixed byte offset).
    #[test]
    fn in_string_mutations_never_panic(seed in any::<usize>(), edits in str_edits()) {
        let seeds = string_seeds();
        let (name, v) = &seeds[seed % seeds.len()];
        let mut v = v.clone();
        for &(which, at, how, ch) in &edits {
            let mut n = which % strings_in(&v).max(1);
            let edit = str_edit(how, ch);
            edit_nth_string(&mut v, &mut n, &|s: &str| edit_str(s, at, edit));
        }
        let text = v.to_string();
        no_panic(&format!("in-string-{}", name.replace('/', "-")), &text, || read_anything(&text))?;
    }

    /// The same inside feedback bodies.
    #[test]
    fn in_string_feedback_never_panics(edits in str_edits()) {
        let mut v = json!({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "overrideReason": {"reason": {"code": "d7d8f1d3", "system": "https://x", "display": "x"}, "userComment": "c"},
            "outcomeTimestamp": "2020-12-11T10:05:31.123+01:00"}]});
        for &(which, at, how, ch) in &edits {
            let mut n = which % strings_in(&v);
            let edit = str_edit(how, ch);
            edit_nth_string(&mut v, &mut n, &|s: &str| edit_str(s, at, edit));
        }
        let text = v.to_string();
        no_panic("in-string-feedback", &text, || { let _ = parse_feedback(text.as_bytes()); })?;
    }
}

/// Exhaustive and deterministic: every string value of every resource of a real bundle, with a
/// multi-byte character inserted at, replacing, or the value truncated at, every character
/// position. Each resource is read alone (with the Patient) so that the run stays short; repeated
/// (resource type, value) pairs are done once.
#[test]
fn every_position_of_every_string_in_a_real_bundle() {
    let (_, bundle) = &string_seeds()[1];
    let entries = bundle["entry"].as_array().expect("a Bundle with entries");
    let patient = entries[0].clone();
    let mut seen = std::collections::HashSet::new();
    let mut runs = 0usize;
    for entry in entries {
        let rtype = entry["resource"]["resourceType"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for which in 0..strings_in(entry) {
            let Some(value) = nth_string(entry, &mut which.clone()) else {
                continue;
            };
            if !seen.insert((rtype.clone(), value.clone())) {
                continue;
            }
            for at in 0..=value.chars().count() as u64 {
                for edit in [
                    StrEdit::Insert('€'),
                    StrEdit::Replace('é'),
                    StrEdit::Truncate,
                ] {
                    let mut e = entry.clone();
                    let mut n = which;
                    edit_nth_string(&mut e, &mut n, &|s: &str| edit_str(s, at, edit));
                    let doc = json!({"resourceType": "Bundle", "type": "collection", "entry": [patient.clone(), e]});
                    let text = doc.to_string();
                    if let Err(e) = no_panic("every-position", &text, || engine(&text)) {
                        panic!("{e}");
                    }
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 1_000, "too few runs: {runs}");
}

// Regression tests for crashes found by fuzzing go here (one per crash, named after what broke).
