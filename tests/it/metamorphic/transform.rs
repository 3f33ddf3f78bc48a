//! The metamorphic transformations: each rewrites a Bundle into one that means the same thing
//! clinically (or the same thing shifted in time), and the comparison that says "the same".

use serde_json::{Value, json};
use time::{Date, Duration};

use super::histories::{AS_OF, Rng, unrelated_resource};

/// Days in 28 Gregorian years (1901–2099): the calendar repeats exactly, so a partial date
/// (`2025-03`) shifted by a multiple of this keeps its meaning (`2053-03`).
pub const CALENDAR_CYCLE_DAYS: i64 = 10_227;

/// Fields holding a date, dateTime or instant in the resources the generator writes.
const DATE_KEYS: &[&str] = &[
    "start",
    "end",
    "effectiveDateTime",
    "effectiveInstant",
    "authoredOn",
    "whenHandedOver",
    "whenPrepared",
    "onsetDateTime",
    "recordedDate",
    "dateAsserted",
    "performedDateTime",
    "issued",
    "birthDate",
];

fn parse_ymd(s: &str) -> Option<Date> {
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u8 = s[5..7].parse().ok()?;
    let d: u8 = s[8..10].parse().ok()?;
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A full date, or a dateTime whose time is `hh:mm[:ss]` (≤ 23:59:59) with `Z` or `±hh:mm`.
fn well_formed(s: &str) -> bool {
    if parse_ymd(s).is_none() {
        return false;
    }
    let Some(t) = s.get(10..) else { return false };
    if t.is_empty() {
        return true;
    }
    let Some(t) = t.strip_prefix('T') else {
        return false;
    };
    let (clock, zone) = match t.find(['Z', '+', '-']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let max = [23, 59, 59];
    let ok_clock = (2..=3).contains(&parts.len())
        && parts.iter().zip(max).all(|(p, m)| {
            p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().unwrap() <= m
        });
    let ok_zone = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && zone[1..3].bytes().all(|b| b.is_ascii_digit())
            && &zone[3..4] == ":");
    ok_clock && ok_zone
}

/// Whether a string is a partial FHIR date (`YYYY` or `YYYY-MM`).
pub fn is_partial_date(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        4 => b.iter().all(u8::is_ascii_digit),
        7 => {
            b[..4].iter().all(u8::is_ascii_digit)
                && b[4] == b'-'
                && b[5..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Shift one date value written in a date field. Malformed values are left as they are (they
/// stay malformed); partial dates move by whole calendar cycles only.
fn shift_date_value(s: &str, days: i64) -> String {
    if let Some(d) = parse_ymd(s) {
        return format!("{}{}", ymd(d + Duration::days(days)), &s[10..]);
    }
    if is_partial_date(s) {
        assert_eq!(
            days % CALENDAR_CYCLE_DAYS,
            0,
            "partial date shifted by a non-cycle"
        );
        let y: i32 = s[..4].parse().unwrap();
        return format!(
            "{:04}{}",
            y + 28 * (days / CALENDAR_CYCLE_DAYS) as i32,
            &s[4..]
        );
    }
    s.to_string()
}

/// Every partial date in the Bundle's date fields.
pub fn has_partial_dates(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            (DATE_KEYS.contains(&k.as_str()) && v.as_str().is_some_and(is_partial_date))
                || has_partial_dates(v)
        }),
        Value::Array(a) => a.iter().any(has_partial_dates),
        _ => false,
    }
}

/// Shift every date of the Bundle by `days`.
pub fn shift_dates(v: &mut Value, days: i64) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    Value::String(s) if DATE_KEYS.contains(&k.as_str()) => {
                        *s = shift_date_value(s, days)
                    }
                    _ => shift_dates(v, days),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| shift_dates(v, days)),
        _ => {}
    }
}

/// Shift every full date written inside any string of an assessment (fields, details, problems)
/// by `days`: the inverse of a shifted input.
pub fn shift_dates_in_text(v: &mut Value, days: i64) {
    match v {
        Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut i = 0;
            while i < s.len() {
                let boundary = i == 0 || !s.as_bytes()[i - 1].is_ascii_digit();
                let after_ok = s.len() < i + 11 || !s.as_bytes()[i + 10].is_ascii_digit();
                if boundary
                    && after_ok
                    && s.is_char_boundary(i)
                    && let Some(d) = parse_ymd(&s[i..])
                {
                    out.push_str(&ymd(d + Duration::days(days)));
                    i += 10;
                    continue;
                }
                let ch = s[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
            *s = out;
        }
        Value::Object(m) => m.values_mut().for_each(|v| shift_dates_in_text(v, days)),
        Value::Array(a) => a.iter_mut().for_each(|v| shift_dates_in_text(v, days)),
        _ => {}
    }
}

pub fn entries(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["entry"].as_array_mut().expect("bundle entries")
}

/// Shuffle the Bundle's entries (Fisher–Yates on the given seed).
pub fn reorder(bundle: &mut Value, seed: u64) {
    let mut rng = Rng::new(seed);
    let e = entries(bundle);
    for i in (1..e.len()).rev() {
        let j = rng.range(0, i as i64) as usize;
        e.swap(i, j);
    }
}

/// Send entry `pick` (mod the length) a second time, at position `at`.
pub fn duplicate(bundle: &mut Value, pick: usize, at: usize) -> Option<String> {
    let e = entries(bundle);
    if e.is_empty() {
        return None;
    }
    let copy = e[pick % e.len()].clone();
    let at = at % (e.len() + 1);
    let what = format!(
        "{}/{}",
        copy["resource"]["resourceType"]
            .as_str()
            .unwrap_or_default(),
        copy["resource"]["id"].as_str().unwrap_or_default()
    );
    e.insert(at, copy);
    Some(what)
}

/// Split one MedicationStatement (the `pick`-th one with a full-date start and either a full-date
/// end or an open end) into two contiguous statements with the same dose: `[start, m]`
/// completed, and `[m, end]` with the original status, reason and assertion date. The second is
/// `<id>-split`. Returns the original reference.
pub fn split_statement(bundle: &mut Value, pick: usize, cut: u64) -> Option<String> {
    let e = entries(bundle);
    let candidates: Vec<usize> = (0..e.len())
        .filter(|&i| {
            let r = &e[i]["resource"];
            if r["resourceType"] != "MedicationStatement" || r.get("effectiveDateTime").is_some() {
                return false;
            }
            let status = r["status"].as_str().unwrap_or_default();
            // Well-formed values only: a split must not repair a malformed one ("…T25:00:00Z").
            let plain = |v: &Value| v.as_str().filter(|s| well_formed(s)).and_then(parse_ymd);
            let Some(start) = plain(&r["effectivePeriod"]["start"]) else {
                return false;
            };
            let end = match r["effectivePeriod"].get("end") {
                None => matches!(status, "active" | "on-hold" | "unknown").then_some(AS_OF),
                Some(v) => plain(v),
            };
            end.is_some_and(|end| (end - start).whole_days() >= 2 && end <= AS_OF)
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let i = candidates[pick % candidates.len()];
    let original = e[i].clone();
    let r = &original["resource"];
    let start = parse_ymd(r["effectivePeriod"]["start"].as_str().unwrap()).unwrap();
    let end = match r["effectivePeriod"].get("end") {
        Some(v) => parse_ymd(v.as_str().unwrap()).unwrap(),
        None => AS_OF,
    };
    let len = (end - start).whole_days();
    let m = start + Duration::days(1 + (cut % (len - 1) as u64) as i64);
    let id = r["id"].as_str().unwrap_or_default().to_string();

    let mut first = original.clone();
    let fr = &mut first["resource"];
    fr["status"] = json!("completed");
    fr["effectivePeriod"]["end"] = json!(ymd(m));
    if let Some(o) = fr.as_object_mut() {
        o.remove("statusReason");
        o.remove("dateAsserted");
    }
    let mut second = original;
    let sr = &mut second["resource"];
    sr["id"] = json!(format!("{id}-split"));
    sr["effectivePeriod"]["start"] = json!(ymd(m));
    if let Some(u) = second["fullUrl"].as_str() {
        second["fullUrl"] = json!(format!("{u}-split"));
    }
    e[i] = first;
    e.insert(i + 1, second);
    Some(format!("MedicationStatement/{id}"))
}

/// Add a resource the rules never read, at position `at`.
pub fn add_unrelated(
    bundle: &mut Value,
    patient: &str,
    kind: usize,
    day: i64,
    at: usize,
) -> String {
    let r = unrelated_resource(kind, patient, day, "x-unrelated");
    let what = format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or_default(),
        r["id"].as_str().unwrap_or_default()
    );
    let full_url = format!("https://ehr.example.org/fhir/{what}");
    let e = entries(bundle);
    let at = at % (e.len() + 1);
    e.insert(at, json!({"fullUrl": full_url, "resource": r}));
    what
}

/// patient-view prefetch keys and the resource type each template returns.
pub const PREFETCH_KEYS: &[(&str, &str)] = &[
    ("conditions", "Condition"),
    ("medicationStatements", "MedicationStatement"),
    ("medicationRequests", "MedicationRequest"),
    ("medicationDispenses", "MedicationDispense"),
    ("procedures", "Procedure"),
    ("observations", "Observation"),
];

/// The Bundle as a patient-view hook request: each resource in its prefetch key's searchset
/// (or, now and then, in another key's: EHRs `_include` and mis-file), Medications as `include`
/// entries, the Patient as the `patient` key; an empty key is `null` or an empty searchset.
pub fn to_hook_request(bundle: &Value, patient: &str, seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let mut keys: Vec<Vec<Value>> = vec![Vec::new(); PREFETCH_KEYS.len()];
    let mut patient_resource = Value::Null;
    for e in bundle["entry"].as_array().into_iter().flatten() {
        let r = &e["resource"];
        let rtype = r["resourceType"].as_str().unwrap_or_default();
        if rtype == "Patient" && patient_resource.is_null() {
            patient_resource = r.clone();
            continue;
        }
        let natural = PREFETCH_KEYS.iter().position(|(_, t)| *t == rtype);
        let k = match natural {
            Some(k) if rng.chance(0.75) => k,
            _ => rng.range(0, PREFETCH_KEYS.len() as i64 - 1) as usize,
        };
        let mode = if natural == Some(k) {
            "match"
        } else {
            "include"
        };
        let mut entry = e.clone();
        entry["search"] = json!({"mode": mode});
        keys[k].push(entry);
    }
    let mut prefetch = serde_json::Map::new();
    prefetch.insert("patient".into(), patient_resource);
    for (k, (key, _)) in PREFETCH_KEYS.iter().enumerate() {
        let entries = std::mem::take(&mut keys[k]);
        let value = if entries.is_empty() && rng.chance(0.5) {
            Value::Null
        } else {
            json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries})
        };
        prefetch.insert((*key).into(), value);
    }
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": patient},
        "prefetch": prefetch,
    })
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

fn sort_strings(v: &mut Value) {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|x| x.to_string());
        a.dedup();
    }
}

/// Merge contiguous dose segments with the same dose (a split statement writes two).
fn merge_segments(v: &mut Value) {
    let Some(a) = v.as_array_mut() else { return };
    let mut out: Vec<Value> = Vec::new();
    for seg in a.drain(..) {
        if let Some(last) = out.last_mut()
            && last["daily_dose_mg"] == seg["daily_dose_mg"]
            && let (Some(le), Some(ss)) = (
                last["end"].as_str().and_then(parse_ymd),
                seg["start"].as_str().and_then(parse_ymd),
            )
            && (ss - le).whole_days() <= 1
            && ss >= le - Duration::days(0)
        {
            last["end"] = seg["end"].clone();
            continue;
        }
        out.push(seg);
    }
    *a = out;
}

/// The assessment in a canonical form: what must not change under the transformations.
/// Unordered lists (evidence, assumptions, data issues) are compared as sets; trials with the
/// same start in a stable order; `rename` maps references the transformation introduced back to
/// the original's.
pub fn canonical(assessment: &Value, rename: &dyn Fn(&str) -> String) -> Value {
    let mut a = assessment.clone();
    rename_strings(&mut a, rename);
    for list in ["trials", "augmentations"] {
        if let Some(items) = a[list].as_array_mut() {
            for t in items.iter_mut() {
                sort_strings(&mut t["evidence"]);
                sort_strings(&mut t["assumptions"]);
                merge_segments(&mut t["dose_history"]);
            }
            items.sort_by_key(|t| {
                format!(
                    "{} {} {} {}",
                    t["start"], t["ingredient"], t["agent"], t["end"]
                )
            });
        }
    }
    if let Some(flags) = a["flags"].as_array_mut() {
        for f in flags {
            sort_strings(&mut f["evidence"]);
        }
    }
    sort_strings(&mut a["data_issues"]);
    a
}

fn rename_strings(v: &mut Value, rename: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = rename(s),
        Value::Object(m) => m.values_mut().for_each(|v| rename_strings(v, rename)),
        Value::Array(a) => a.iter_mut().for_each(|v| rename_strings(v, rename)),
        _ => {}
    }
}

/// The first differences between two JSON values, as `pointer: left != right` lines.
pub fn diff(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", a, b, &mut out);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 12 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_at(
                    &format!("{path}/{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_at(&format!("{path}/{i}"), p, q, out);
            }
        }
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 400 {
                    let cut = (0..=400)
                        .rev()
                        .find(|i| s.is_char_boundary(*i))
                        .unwrap_or(0);
                    format!("{}…", &s[..cut])
                } else {
                    s
                }
            };
            out.push(format!("{path}: {} != {}", short(a), short(b)));
        }
    }
}
