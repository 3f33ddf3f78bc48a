//! `trd-cds assess FILE` never panics, whatever the file holds (issue 13 item 3: a `€` inside a
//! date-time made it exit 101 with "panicked"). Runs the built binary on mutated copies of real
//! bundles: every date-time field with the multi-byte values of the issue, deterministic
//! pseudo-random edits inside string values, truncations, invalid UTF-8 and non-JSON. The exit
//! code may be 0 (assessed, with data issues) or a clean error (1, 2), never 101 (a panic), and
//! stderr never says "panicked".

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_trd-cds");

/// Multi-byte characters inside the time part, as sent by the hostile-input probe.
const BAD_TIMES: [&str; 4] = [
    "2025-01-01T12:€0:00",
    "2025-01-01T12:00:€0",
    "2025-01-01T12:0€",
    "2025-01-01T12:00+1€0",
];
const ODD_CHARS: [char; 6] = ['€', 'é', '💊', '\u{301}', '１', '\u{202e}'];

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A scratch directory under target/, removed when dropped.
struct Scratch(PathBuf);
impl Scratch {
    fn new() -> Scratch {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("cli-never-panics-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write input");
        p
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `trd-cds assess FILE`; fails the test on a panic. Returns the exit code.
fn assess(file: &Path, what: &str) -> i32 {
    let out = Command::new(BIN)
        .arg("assess")
        .arg(file)
        .args(["--as-of", "2026-01-01"])
        .env_remove("TRD_CDS_KNOWLEDGE_DIR")
        .output()
        .expect("run trd-cds");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().expect("exited, not killed by a signal");
    assert!(
        code != 101 && !stderr.contains("panicked"),
        "{what}: trd-cds assess panicked (exit {code}); input kept at {}\n{stderr}",
        file.display()
    );
    code
}

/// Every string value that is a date or date-time (`YYYY-MM…`), as a path of keys and indexes.
fn date_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::String(s)
            if s.len() >= 7
                && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && s.as_bytes()[4] == b'-' =>
        {
            out.push(at.clone())
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                at.push(i.to_string());
                date_paths(c, at, out);
                at.pop();
            }
        }
        Value::Object(o) => {
            for (k, c) in o {
                at.push(k.clone());
                date_paths(c, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
        Value::Object(o) => o.get_mut(k).expect("key"),
        _ => unreachable!("paths come from the same tree"),
    })
}

/// Each date field of a real Synthea-derived bundle (authoredOn, effectiveDateTime,
/// whenHandedOver, onsetDateTime, …) set to each of the values, one field name at a time.
#[test]
fn multi_byte_date_times_in_every_date_field() {
    let scratch = Scratch::new();
    let bundle: Value = serde_json::from_str(&fixture("bench-patient-60.json")).unwrap();
    let mut paths = Vec::new();
    date_paths(&bundle, &mut Vec::new(), &mut paths);
    let mut fields: Vec<&str> = paths.iter().map(|p| p.last().unwrap().as_str()).collect();
    fields.sort_unstable();
    fields.dedup();
    for f in [
        "authoredOn",
        "effectiveDateTime",
        "whenHandedOver",
        "onsetDateTime",
    ] {
        assert!(fields.contains(&f), "the seed has no {f}: {fields:?}");
    }
    for field in &fields {
        for (i, bad) in BAD_TIMES.iter().enumerate() {
            let mut doc = bundle.clone();
            for p in paths.iter().filter(|p| p.last().unwrap() == field) {
                *at_path(&mut doc, p) = Value::String(bad.to_string());
            }
            let file = scratch.write(&format!("{field}-{i}.json"), doc.to_string().as_bytes());
            let code = assess(&file, &format!("{field} = {bad}"));
            assert_eq!(
                code, 0,
                "{field} = {bad}: a malformed date is a data issue, not an error"
            );
        }
    }
}

/// A small deterministic generator (xorshift), so that the inputs are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Pseudo-random edits inside string values (insert / replace a multi-byte character at any
/// character position, truncate), truncations of the file at many byte positions (including
/// inside multi-byte characters), invalid UTF-8, and not-JSON.
#[test]
fn mutated_files_never_panic() {
    let scratch = Scratch::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut n = 0;
    for seed in [
        "bench-patient-60.json",
        "bundle-trd.json",
        "bench-patient-10.json",
    ] {
        let text = fixture(seed);
        // Inside strings: replace `"…"` contents at a random string.
        let quotes: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
        for _ in 0..12 {
            let q = quotes[(rng.next() as usize) % (quotes.len() - 1)];
            let span_end = text[q + 1..].find('"').map_or(text.len(), |e| q + 1 + e);
            let inner = &text[q + 1..span_end];
            let chars: Vec<(usize, char)> = inner.char_indices().collect();
            let pos = (rng.next() as usize) % (chars.len() + 1);
            let byte = q + 1 + chars.get(pos).map_or(inner.len(), |(b, _)| *b);
            let c = ODD_CHARS[(rng.next() as usize) % ODD_CHARS.len()];
            let mut out = text.clone();
            match rng.next() % 3 {
                0 => out.insert(byte, c),
                1 if pos < chars.len() => {
                    let len = chars[pos].1.len_utf8();
                    out.replace_range(byte..byte + len, c.encode_utf8(&mut [0; 4]));
                }
                _ => out.replace_range(byte..span_end, ""),
            }
            n += 1;
            assess(&scratch.write(&format!("s{n}.json"), out.as_bytes()), seed);
        }
        // Truncated files, at byte positions (a cut may split a character: invalid UTF-8).
        let mut with_multibyte = text.replacen("\"female\"", "\"fé€💊\"", 1);
        with_multibyte.push('\n');
        let bytes = with_multibyte.as_bytes();
        for _ in 0..6 {
            let cut = (rng.next() as usize) % bytes.len();
            n += 1;
            assess(&scratch.write(&format!("t{n}.json"), &bytes[..cut]), seed);
        }
    }
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("not-json", &b"not json at all"[..]),
        (
            "invalid-utf8",
            &b"{\"resourceType\":\"Bundle\",\"entry\":[\xff\xfe]}"[..],
        ),
        (
            "lone-continuation",
            &b"{\"resourceType\":\"Bund\x82le\"}"[..],
        ),
        ("array", &b"[1,2,3]"[..]),
        ("deep", "[".repeat(100_000).as_bytes()),
    ] {
        assess(&scratch.write(name, bytes), name);
        n += 1;
    }
    // A directory and a missing file: clean errors.
    assert_ne!(assess(&scratch.0, "a directory"), 0);
    assert_ne!(assess(&scratch.0.join("missing.json"), "a missing file"), 0);
    assert!(n > 50);
}
