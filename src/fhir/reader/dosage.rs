//! FHIR Dosage → mg/day (clinical-rules §2), strength parsing, and duration units.
//!
//! Daily dose = dose per administration (mg; or a count of tablets/capsules/patches × strength;
//! or mL × mg/mL) × administrations per day. Unknown is `None`, never zero; every malformed value
//! is an [`Issue`] naming its field; every guess is an assumption string.

use super::wire::{Dosage, OptObj, Prim, Quantity};
use crate::knowledge::systems;

/// What a strength is per.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Per {
    /// Per tablet / capsule / dose unit.
    Unit,
    /// Per millilitre (liquids).
    Ml,
    /// Per 24 hours (transdermal systems): mg/day as given.
    Day,
}

/// mg per unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strength {
    pub mg: f64,
    pub per: Per,
}

/// A malformed value: field path (relative to the resource) and problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub field: String,
    pub problem: String,
}

impl Issue {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Issue {
        Issue {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoseResult {
    /// mg/day; `None` = unknown.
    pub mg_per_day: Option<f64>,
    pub assumptions: Vec<String>,
    pub issues: Vec<Issue>,
}

impl DoseResult {
    fn assume(&mut self, a: &str) {
        if !self.assumptions.iter().any(|x| x == a) {
            self.assumptions.push(a.to_string());
        }
    }
}

pub const ASSUME_ONCE_DAILY: &str = "no timing: once daily assumed";
const ASSUME_NO_FREQUENCY: &str = "timing without frequency: once daily assumed";
const ASSUME_PERIOD_DAYS: &str = "timing period without unit: days assumed";
const ASSUME_STRENGTH_UNKNOWN: &str = "strength unknown: dose in units not converted to mg";
const ASSUME_CONCENTRATION_UNKNOWN: &str = "concentration unknown: dose in mL not converted to mg";

/// A dose unit, classified.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DoseUnit {
    /// mg per unit of the value.
    Mass(f64),
    /// tablets, capsules, patches, `{tbl}`, `1`, no unit.
    Count,
    Ml,
    /// Already mg/day (transdermal rates).
    MassPerDay(f64),
}

fn classify_unit(u: &str) -> Option<DoseUnit> {
    if let Some(f) = mass_factor(u) {
        return Some(DoseUnit::Mass(f));
    }
    let l = u.trim().to_ascii_lowercase();
    Some(match l.as_str() {
        "ml" | "milliliter" | "milliliters" | "millilitre" | "millilitres" => DoseUnit::Ml,
        "mg/d" | "mg/day" | "mg/(24.h)" | "mg/24.h" | "mg/24h" | "mg/24 h" | "mg/24hr"
        | "mg/24 hr" => DoseUnit::MassPerDay(1.0),
        "" | "1" | "{tbl}" | "{tablet}" | "{tablets}" | "tab" | "tabs" | "tablet" | "tablets"
        | "{capsule}" | "{capsules}" | "{cap}" | "cap" | "caps" | "capsule" | "capsules"
        | "{patch}" | "patch" | "patches" | "{pill}" | "pill" | "pills" | "{each}" | "each"
        | "ea" | "{unit}" | "unit" | "units" | "{dose}" | "dose" | "doses" | "{device}"
        | "device" => DoseUnit::Count,
        _ => return None,
    })
}

/// A positive finite number, else the problem text.
fn positive(v: Option<&Prim<'_>>, what: &str) -> Result<Option<f64>, String> {
    match v {
        None | Some(Prim::Null) => Ok(None),
        Some(Prim::Num(n)) if n.is_finite() && *n > 0.0 => Ok(Some(*n)),
        Some(other) => Err(format!("invalid {what} {}", other.describe())),
    }
}

/// The dose per administration of one quantity, in its unit.
fn read_dose_quantity(
    q: &Quantity<'_>,
    path: &str,
    out: &mut DoseResult,
) -> Option<(f64, DoseUnit)> {
    let value = match positive(q.value.as_ref(), "dose") {
        Ok(Some(v)) => v,
        Ok(None) => {
            out.issues
                .push(Issue::new(format!("{path}.value"), "missing dose value"));
            return None;
        }
        Err(p) => {
            out.issues.push(Issue::new(format!("{path}.value"), p));
            return None;
        }
    };
    let unit = match (q.code.get(), q.unit.get()) {
        (None, None) => Some(DoseUnit::Count),
        (code, unit) => code
            .and_then(classify_unit)
            .or_else(|| unit.and_then(classify_unit)),
    };
    match unit {
        Some(u) => Some((value, u)),
        None => {
            let (field, written) = match q.code.get() {
                Some(c) => ("code", c),
                None => ("unit", q.unit.get().unwrap_or_default()),
            };
            out.issues.push(Issue::new(
                format!("{path}.{field}"),
                format!("unknown dose unit '{written}'"),
            ));
            None
        }
    }
}

/// Days per FHIR/UCUM time unit (`mo` = 30 d, `a` = 365 d).
fn unit_days(u: &str) -> Option<f64> {
    Some(match u.trim() {
        "s" => 1.0 / 86_400.0,
        "min" => 1.0 / 1_440.0,
        "h" | "hr" | "hour" | "hours" => 1.0 / 24.0,
        "d" | "day" | "days" => 1.0,
        "wk" | "week" | "weeks" => 7.0,
        "mo" | "month" | "months" => 30.0,
        "a" | "year" | "years" => 365.0,
        _ => return None,
    })
}

/// A duration quantity (`daysSupply`, `expectedSupplyDuration`) in days.
pub fn duration_days(q: &Quantity<'_>) -> Result<f64, String> {
    let v = match positive(q.value.as_ref(), "duration") {
        Ok(Some(v)) => v,
        Ok(None) => return Err("missing duration value".into()),
        Err(p) => return Err(p),
    };
    let unit = q.code.get().or(q.unit.get());
    match unit {
        None => Ok(v),
        Some(u) => match unit_days(u).or_else(|| unit_days(&u.to_ascii_lowercase())) {
            Some(d) => Ok(v * d),
            None => Err(format!("unknown duration unit '{u}'")),
        },
    }
}

/// Administrations per day of a `timing.code`, the one table (clinical-rules §2):
/// - HL7 v3 GTSAbbreviation codes, matched whatever the coding's system (EHRs send them with no
///   system, a local one, or as `text`);
/// - SNOMED CT frequency qualifiers, only under the SNOMED system (Cerner sends these): the fixed
///   frequencies of the CMS eCQM direct reference codes (CumulativeMedicationDuration / CMS460),
///   names as in the SNOMED CT International edition. Ranges ("one to two times a day") are left
///   out: the count is not known, so the once-daily assumption is recorded instead.
const TIMING_CODES: &[(Option<&str>, &str, f64)] = &[
    (None, "BID", 2.0),
    (None, "TID", 3.0),
    (None, "QID", 4.0),
    (None, "QD", 1.0),
    (None, "QAM", 1.0),
    (None, "QPM", 1.0),
    (None, "QHS", 1.0),
    (None, "AM", 1.0),
    (None, "PM", 1.0),
    (None, "HS", 1.0),
    (None, "QDAY", 1.0),
    (None, "Q4H", 6.0),
    (None, "Q6H", 4.0),
    (None, "Q8H", 3.0),
    (None, "Q12H", 2.0),
    (Some(systems::SNOMED), "229797004", 1.0), // once daily
    (Some(systems::SNOMED), "229799001", 2.0), // twice a day
    (Some(systems::SNOMED), "229798009", 3.0), // three times daily
    (Some(systems::SNOMED), "307439001", 4.0), // four times daily
    (Some(systems::SNOMED), "396125000", 1.0), // every twenty four hours
    (Some(systems::SNOMED), "307470009", 2.0), // every twelve hours
    (Some(systems::SNOMED), "307469008", 3.0), // every eight hours
    (Some(systems::SNOMED), "307468000", 4.0), // every six hours
    (Some(systems::SNOMED), "225756002", 6.0), // every four hours
];

/// Administrations per day of one `timing.code` coding (or its text, `system` = None).
fn per_day_from_code(system: Option<&str>, code: &str) -> Option<f64> {
    let code = code.trim();
    TIMING_CODES
        .iter()
        .find(|(sys, c, _)| match sys {
            None => c.eq_ignore_ascii_case(code),
            Some(sys) => system == Some(*sys) && *c == code,
        })
        .map(|(_, _, n)| *n)
}

/// Administrations per day of one dosage entry.
pub(crate) fn per_day(d: &Dosage<'_>, path: &str, out: &mut DoseResult) -> Option<f64> {
    let Some(timing) = d.timing.get() else {
        if let Some(kind) = d.timing.wrong() {
            out.issues.push(Issue::new(
                format!("{path}.timing"),
                format!("invalid timing ({kind})"),
            ));
            return None;
        }
        out.assume(ASSUME_ONCE_DAILY);
        return Some(1.0);
    };
    if let Some(r) = timing.repeat.get() {
        let rpath = format!("{path}.timing.repeat");
        let freq = match positive(r.frequency.as_ref(), "frequency") {
            Ok(f) => f,
            Err(p) => {
                out.issues.push(Issue::new(format!("{rpath}.frequency"), p));
                return None;
            }
        };
        let period = match positive(r.period.as_ref(), "period") {
            Ok(p) => p,
            Err(p) => {
                out.issues.push(Issue::new(format!("{rpath}.period"), p));
                return None;
            }
        };
        if freq.is_some() || period.is_some() {
            let days_per_unit = match r.period_unit.as_ref() {
                None | Some(Prim::Null) => {
                    if period.is_some() {
                        out.assume(ASSUME_PERIOD_DAYS);
                    }
                    1.0
                }
                Some(Prim::Str(u)) => match unit_days(u) {
                    Some(d) => d,
                    None => {
                        out.issues.push(Issue::new(
                            format!("{rpath}.periodUnit"),
                            format!("unknown period unit '{u}'"),
                        ));
                        return None;
                    }
                },
                Some(other) => {
                    out.issues.push(Issue::new(
                        format!("{rpath}.periodUnit"),
                        format!("invalid period unit {}", other.describe()),
                    ));
                    return None;
                }
            };
            return Some(freq.unwrap_or(1.0) / (period.unwrap_or(1.0) * days_per_unit));
        }
    }
    if let Some(cc) = timing.code.get() {
        let from_codes = cc.codings().find_map(|c| {
            c.code
                .get()
                .and_then(|code| per_day_from_code(c.system.get(), code))
        });
        if let Some(n) =
            from_codes.or_else(|| cc.text.get().and_then(|t| per_day_from_code(None, t)))
        {
            return Some(n);
        }
    }
    out.assume(ASSUME_NO_FREQUENCY);
    Some(1.0)
}

/// Daily dose of one dosage entry (`path` = e.g. `dosageInstruction[0]`).
fn entry_dose(
    d: &Dosage<'_>,
    path: &str,
    strength: Option<Strength>,
    out: &mut DoseResult,
) -> Option<f64> {
    if let Some(kind) = d.dose_and_rate.wrong {
        out.issues.push(Issue::new(
            format!("{path}.doseAndRate"),
            format!("invalid doseAndRate ({kind})"),
        ));
        return None;
    }
    // The first doseAndRate carrying a dose.
    let mut dose = None;
    for (j, dr) in d.dose_and_rate.items.iter().enumerate() {
        let dpath = format!("{path}.doseAndRate[{j}]");
        let Some(dr) = dr.ok() else {
            out.issues
                .push(Issue::new(dpath, "invalid doseAndRate (not an object)"));
            return None;
        };
        if let Some(kind) = dr.dose_quantity.wrong() {
            out.issues.push(Issue::new(
                format!("{dpath}.doseQuantity"),
                format!("invalid doseQuantity ({kind})"),
            ));
            return None;
        }
        if let Some(q) = dr.dose_quantity.get() {
            dose = Some(read_dose_quantity(
                q,
                &format!("{dpath}.doseQuantity"),
                out,
            )?);
            break;
        }
        if let Some(range) = dr.dose_range.get() {
            match range.high.get() {
                Some(q) => {
                    dose = Some(read_dose_quantity(
                        q,
                        &format!("{dpath}.doseRange.high"),
                        out,
                    )?);
                    break;
                }
                None => {
                    out.issues.push(Issue::new(
                        format!("{dpath}.doseRange.high"),
                        "dose range without high value",
                    ));
                    return None;
                }
            }
        }
    }
    let (value, unit) = dose?;
    let transdermal = strength.is_some_and(|s| s.per == Per::Day);
    // mg per administration, or mg/day directly.
    let mg = match unit {
        DoseUnit::MassPerDay(f) => return Some(value * f),
        DoseUnit::Mass(f) => value * f,
        DoseUnit::Count => match strength {
            Some(s) if s.per != Per::Ml => value * s.mg,
            _ => {
                out.assume(ASSUME_STRENGTH_UNKNOWN);
                return None;
            }
        },
        DoseUnit::Ml => match strength {
            Some(s) if s.per == Per::Ml => value * s.mg,
            _ => {
                out.assume(ASSUME_CONCENTRATION_UNKNOWN);
                return None;
            }
        },
    };
    if transdermal {
        // Transdermal systems deliver mg/24 h while worn: the dose is the daily dose as given.
        return Some(mg);
    }
    Some(mg * per_day(d, path, out)?)
}

/// Daily dose of several dosage entries in force together (summed). `entries` are
/// `(index, dosage)`; `field` is `dosage` or `dosageInstruction`. Unknown when any entry with a
/// dose is unknown, or when no entry carries a dose.
pub fn daily_dose(
    entries: &[(usize, &Dosage<'_>)],
    field: &str,
    strength: Option<Strength>,
) -> DoseResult {
    let mut out = DoseResult::default();
    let mut total = Some(0.0);
    let mut any = false;
    for (i, d) in entries {
        let path = format!("{field}[{i}]");
        let has_dose = d.dose_and_rate.items.iter().any(|dr| {
            dr.ok()
                .is_none_or(|dr| dr.dose_quantity.is_some() || dr.dose_range.is_some())
        }) || d.dose_and_rate.wrong.is_some();
        if !has_dose {
            continue;
        }
        any = true;
        let v = entry_dose(d, &path, strength, &mut out);
        total = match (total, v) {
            (Some(t), Some(v)) => Some(t + v),
            _ => None,
        };
    }
    out.mg_per_day = if any { total } else { None };
    out
}

/// Dispense without a usable dosage: strength × quantity / daysSupply (reference §2.2).
pub fn dispense_fallback(
    quantity: &Quantity<'_>,
    days_supply: f64,
    strength: Option<Strength>,
) -> Option<f64> {
    let mut scratch = DoseResult::default();
    let (value, unit) = read_dose_quantity(quantity, "quantity", &mut scratch)?;
    let mg = match (unit, strength) {
        (DoseUnit::Mass(f), _) => value * f,
        (DoseUnit::Count, Some(s)) if s.per == Per::Unit => value * s.mg,
        (DoseUnit::Ml, Some(s)) if s.per == Per::Ml => value * s.mg,
        // Patches: each delivers its strength per day of wear; the supply covers the days.
        (DoseUnit::Count, Some(s)) if s.per == Per::Day => return Some(s.mg),
        _ => return None,
    };
    Some(mg / days_supply)
}

// ---------------------------------------------------------------------------------------------
// Strength from text
// ---------------------------------------------------------------------------------------------

/// Mass unit factor to mg: the one unit table of doses, strengths in text and `Medication` ratios.
/// Case-insensitive; micro is written `u`, `mc`, U+00B5 MICRO SIGN or U+03BC GREEK SMALL LETTER MU
/// (capital mu lower-cases to the latter).
pub(crate) fn mass_factor(u: &str) -> Option<f64> {
    let l = u.trim().to_lowercase().replace('\u{00b5}', "\u{03bc}");
    match l.as_str() {
        "mg" | "milligram" | "milligrams" => Some(1.0),
        "mcg" | "ug" | "\u{03bc}g" | "microgram" | "micrograms" => Some(0.001),
        "g" | "gram" | "grams" => Some(1000.0),
        _ => None,
    }
}

/// A character of a unit word in text: ASCII letters and the two micro signs.
fn unit_char(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '\u{00b5}' || c == '\u{03bc}'
}

/// Parse a strength from a display in RxNorm normalised form (`sertraline 100 MG Oral Tablet`,
/// `24 HR venlafaxine 150 MG Extended Release Oral Capsule`, `fluoxetine 4 MG/ML Oral Solution`,
/// `24 HR selegiline 0.25 MG/HR Transdermal System`) or Synthea's compact form (`Sertraline 100MG`).
/// `names` are lower-case names of the ingredient; the first strength after a name is taken, or
/// the first strength in the text when `anywhere` and no name occurs.
pub fn strength_from_text(text: &str, names: &[&str], anywhere: bool) -> Option<Strength> {
    let lower = text.to_lowercase();
    let from = names
        .iter()
        .filter(|n| !n.is_empty())
        .filter_map(|n| lower.find(*n).map(|p| p + n.len()))
        .min();
    let from = match from {
        Some(p) => p,
        None if anywhere => 0,
        None => return None,
    };
    first_strength(&lower[from..])
}

fn first_strength(s: &str) -> Option<Strength> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // A number that starts a token.
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let Ok(value) = s[start..i].parse::<f64>() else {
                continue;
            };
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let ustart = j;
            while let Some(c) = s[j..].chars().next().filter(|c| unit_char(*c)) {
                j += c.len_utf8();
            }
            let Some(f) = mass_factor(&s[ustart..j]) else {
                continue;
            };
            let mg = value * f;
            // Denominator, written right after the unit.
            let rest = &s[j..];
            let per = if let Some(r) = rest.strip_prefix('/') {
                let r = r.trim_start();
                if r.starts_with("ml") {
                    Strength { mg, per: Per::Ml }
                } else if r.starts_with("24hr") || r.starts_with("24 hr") || r.starts_with("24h") {
                    Strength { mg, per: Per::Day }
                } else if r.starts_with("hr") || r.starts_with("h ") || r == "h" {
                    Strength {
                        mg: mg * 24.0,
                        per: Per::Day,
                    }
                } else {
                    // MG/ACTUAT, MG/MG, ...: not a per-unit strength the rules can use.
                    return None;
                }
            } else {
                Strength { mg, per: Per::Unit }
            };
            return mg.is_finite().then_some(per).filter(|p| p.mg > 0.0);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::reader::wire::{AnyResource, parse_document};

    fn dosages(json: &str) -> Vec<Dosage<'_>> {
        let AnyResource::MedicationRequest(m) = parse_document(json).unwrap() else {
            panic!()
        };
        m.dosage_instruction
            .items
            .into_iter()
            .map(|d| d.ok().unwrap().clone())
            .collect()
    }

    fn dose(json: &str, strength: Option<Strength>) -> DoseResult {
        let ds = dosages(json);
        let entries: Vec<(usize, &Dosage)> = ds.iter().enumerate().collect();
        daily_dose(&entries, "dosageInstruction", strength)
    }

    fn mr(dosage: &str) -> String {
        format!(r#"{{"resourceType":"MedicationRequest","dosageInstruction":{dosage}}}"#)
    }

    const TAB100: Option<Strength> = Some(Strength {
        mg: 100.0,
        per: Per::Unit,
    });

    #[test]
    fn mg_times_frequency() {
        let r = dose(
            &mr(
                r#"[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},
                    "doseAndRate":[{"doseQuantity":{"value":50,"unit":"mg","code":"mg"}}]}]"#,
            ),
            None,
        );
        assert_eq!(r.mg_per_day, Some(100.0));
        assert!(r.assumptions.is_empty() && r.issues.is_empty());
    }

    #[test]
    fn unit_conversions() {
        for (q, want) in [
            (r#"{"value":500,"code":"ug"}"#, 0.5),
            (r#"{"value":25,"unit":"mcg"}"#, 0.025),
            (r#"{"value":1,"code":"g"}"#, 1000.0),
            (r#"{"value":20,"unit":"milligrams"}"#, 20.0),
            (r#"{"value":2,"unit":"tablets"}"#, 200.0),
            (r#"{"value":1,"code":"{tbl}"}"#, 100.0),
            (r#"{"value":1,"code":"{capsule}"}"#, 100.0),
            (r#"{"value":1,"code":"1"}"#, 100.0),
            (r#"{"value":1}"#, 100.0),
            (r#"{"value":1,"unit":"TAB","code":"TAB"}"#, 100.0),
        ] {
            let r = dose(
                &mr(&format!(
                    r#"[{{"timing":{{"code":{{"coding":[{{"code":"QD"}}]}}}},"doseAndRate":[{{"doseQuantity":{q}}}]}}]"#
                )),
                TAB100,
            );
            assert_eq!(r.mg_per_day, Some(want), "{q}");
        }
    }

    #[test]
    fn one_unit_table_for_doses_strengths_and_ratios() {
        // Micro: U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, any case, in every path.
        for u in ["µg", "μg", "Μg", "mcg", "MCG", "ug", "microgram"] {
            assert_eq!(mass_factor(u), Some(0.001), "{u}");
            assert_eq!(classify_unit(u), Some(DoseUnit::Mass(0.001)), "{u}");
            let text = format!("liothyronine 25 {u} tablet");
            assert_eq!(
                strength_from_text(&text, &["liothyronine"], true).map(|s| s.mg),
                Some(0.025),
                "{text}"
            );
        }
        for (u, f) in [
            ("mg", 1.0),
            ("MG", 1.0),
            ("milligrams", 1.0),
            ("g", 1000.0),
            ("grams", 1000.0),
        ] {
            assert_eq!(mass_factor(u), Some(f), "{u}");
        }
        assert_eq!(mass_factor("ml"), None);
    }

    #[test]
    fn ml_times_concentration() {
        let json = mr(
            r#"[{"timing":{"code":{"text":"BID"}},"doseAndRate":[{"doseQuantity":{"value":5,"code":"mL"}}]}]"#,
        );
        assert_eq!(
            dose(
                &json,
                Some(Strength {
                    mg: 4.0,
                    per: Per::Ml
                })
            )
            .mg_per_day,
            Some(40.0)
        );
        let r = dose(&json, TAB100);
        assert_eq!(r.mg_per_day, None);
        assert_eq!(r.assumptions, vec![ASSUME_CONCENTRATION_UNKNOWN]);
    }

    #[test]
    fn unknown_strength_is_unknown_dose() {
        let r = dose(
            &mr(r#"[{"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}]"#),
            None,
        );
        assert_eq!(r.mg_per_day, None);
        assert!(r.assumptions.contains(&ASSUME_STRENGTH_UNKNOWN.to_string()));
    }

    #[test]
    fn no_timing_once_daily_assumed() {
        let r = dose(
            &mr(r#"[{"doseAndRate":[{"doseQuantity":{"value":20,"unit":"mg"}}]}]"#),
            None,
        );
        assert_eq!(r.mg_per_day, Some(20.0));
        assert_eq!(r.assumptions, vec![ASSUME_ONCE_DAILY]);
    }

    #[test]
    fn timing_codes_and_periods() {
        for (timing, want) in [
            (
                r#"{"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation","code":"BID"}]}}"#,
                2.0,
            ),
            (r#"{"code":{"coding":[{"code":"TID"}]}}"#, 3.0),
            (r#"{"code":{"coding":[{"code":"QID"}]}}"#, 4.0),
            (r#"{"code":{"coding":[{"code":"QHS"}]}}"#, 1.0),
            (r#"{"code":{"coding":[{"code":"Q4H"}]}}"#, 6.0),
            (r#"{"code":{"coding":[{"code":"Q6H"}]}}"#, 4.0),
            (r#"{"code":{"coding":[{"code":"Q8H"}]}}"#, 3.0),
            (r#"{"code":{"coding":[{"code":"Q12H"}]}}"#, 2.0),
            // Cerner: SNOMED CT frequency qualifiers (finding 05).
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"229799001"}],"text":"2 times a day"}}"#,
                2.0,
            ),
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"229798009"}]}}"#,
                3.0,
            ),
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"307439001"}]}}"#,
                4.0,
            ),
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"307470009"}]}}"#,
                2.0,
            ),
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"307468000"}]}}"#,
                4.0,
            ),
            (
                r#"{"code":{"coding":[{"system":"http://snomed.info/sct","code":"225756002"}]}}"#,
                6.0,
            ),
            (
                r#"{"repeat":{"frequency":1,"period":12,"periodUnit":"h"}}"#,
                2.0,
            ),
            (
                r#"{"repeat":{"frequency":7,"period":1,"periodUnit":"wk"}}"#,
                1.0,
            ),
            (
                r#"{"repeat":{"frequency":30,"period":1,"periodUnit":"mo"}}"#,
                1.0,
            ),
            (
                r#"{"repeat":{"frequency":2,"frequencyMax":4,"period":1,"periodUnit":"d"}}"#,
                2.0,
            ),
            (r#"{"repeat":{"period":2,"periodUnit":"d"}}"#, 0.5),
            (
                r#"{"repeat":{"frequency":3,"period":1,"periodUnit":"d"},"code":{"coding":[{"code":"BID"}]}}"#,
                3.0,
            ),
        ] {
            let r = dose(
                &mr(&format!(
                    r#"[{{"timing":{timing},"doseAndRate":[{{"doseQuantity":{{"value":10,"unit":"mg"}}}}]}}]"#
                )),
                None,
            );
            assert_eq!(r.mg_per_day, Some(10.0 * want), "{timing}");
        }
    }

    #[test]
    fn snomed_frequency_code_counts_only_under_the_snomed_system() {
        // A local (e.g. Epic) frequency id that happens to read like a SNOMED concept is no
        // frequency: once daily is assumed and said so.
        let r = dose(
            &mr(
                r#"[{"timing":{"code":{"coding":[{"system":"urn:oid:1.2.840.114350.1.13.0.1.7.10.798268.30","code":"229799001"}]}},
                    "doseAndRate":[{"doseQuantity":{"value":10,"unit":"mg"}}]}]"#,
            ),
            None,
        );
        assert_eq!(r.mg_per_day, Some(10.0));
        assert_eq!(r.assumptions, vec![ASSUME_NO_FREQUENCY]);
    }

    #[test]
    fn several_entries_summed_range_uses_high() {
        let r = dose(
            &mr(
                r#"[{"timing":{"code":{"coding":[{"code":"QAM"}]}},"doseAndRate":[{"doseQuantity":{"value":100,"unit":"mg"}}]},
                   {"timing":{"code":{"coding":[{"code":"QPM"}]}},"doseAndRate":[{"doseRange":{"low":{"value":1},"high":{"value":2,"unit":"TAB"}}}]}]"#,
            ),
            Some(Strength {
                mg: 25.0,
                per: Per::Unit,
            }),
        );
        assert_eq!(r.mg_per_day, Some(150.0));
    }

    #[test]
    fn malformed_dose_values_are_issues() {
        for (q, field, problem) in [
            (
                r#"{"value":"100","unit":"mg"}"#,
                "doseQuantity.value",
                "invalid dose '100'",
            ),
            (
                r#"{"value":-5,"unit":"mg"}"#,
                "doseQuantity.value",
                "invalid dose -5",
            ),
            (
                r#"{"value":5,"unit":"spoonful"}"#,
                "doseQuantity.unit",
                "unknown dose unit 'spoonful'",
            ),
            (
                r#"{"value":5,"code":"[drp]","unit":"drops"}"#,
                "doseQuantity.code",
                "unknown dose unit '[drp]'",
            ),
            (
                r#"{"unit":"mg"}"#,
                "doseQuantity.value",
                "missing dose value",
            ),
        ] {
            let r = dose(
                &mr(&format!(r#"[{{"doseAndRate":[{{"doseQuantity":{q}}}]}}]"#)),
                None,
            );
            assert_eq!(r.mg_per_day, None);
            assert_eq!(
                r.issues,
                vec![Issue::new(
                    format!("dosageInstruction[0].doseAndRate[0].{field}"),
                    problem
                )],
                "{q}"
            );
        }
        let r = dose(
            &mr(
                r#"[{"timing":{"repeat":{"frequency":"twice"}},"doseAndRate":[{"doseQuantity":{"value":5,"unit":"mg"}}]}]"#,
            ),
            None,
        );
        assert_eq!(r.mg_per_day, None);
        assert_eq!(
            r.issues[0].field,
            "dosageInstruction[0].timing.repeat.frequency"
        );
    }

    #[test]
    fn no_dose_is_unknown_not_zero() {
        let r = dose(
            &mr(r#"[{"text":"as directed","timing":{"code":{"coding":[{"code":"BID"}]}}}]"#),
            None,
        );
        assert_eq!(r.mg_per_day, None);
        assert!(r.issues.is_empty());
        assert_eq!(dose(&mr("[]"), None).mg_per_day, None);
    }

    #[test]
    fn transdermal_as_given() {
        let patch = Some(Strength {
            mg: 6.0,
            per: Per::Day,
        });
        let r = dose(
            &mr(
                r#"[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"patch"}}]}]"#,
            ),
            patch,
        );
        assert_eq!(r.mg_per_day, Some(6.0));
        let r = dose(
            &mr(r#"[{"doseAndRate":[{"doseQuantity":{"value":9,"code":"mg/(24.h)"}}]}]"#),
            None,
        );
        assert_eq!(r.mg_per_day, Some(9.0));
    }

    #[test]
    fn strengths_from_text() {
        let unit = |mg| Some(Strength { mg, per: Per::Unit });
        assert_eq!(
            strength_from_text("sertraline 100 MG Oral Tablet", &["sertraline"], true),
            unit(100.0)
        );
        assert_eq!(
            strength_from_text("Sertraline 100MG", &["sertraline"], true),
            unit(100.0)
        );
        assert_eq!(
            strength_from_text("Fluoxetine 25MG", &["fluoxetine"], true),
            unit(25.0)
        );
        assert_eq!(
            strength_from_text(
                "24 HR venlafaxine 150 MG Extended Release Oral Capsule",
                &["venlafaxine"],
                true
            ),
            unit(150.0)
        );
        assert_eq!(
            strength_from_text(
                "24 HR Venlafaxine 37.5 MG Extended Release Oral Capsule",
                &[],
                true
            ),
            unit(37.5)
        );
        assert_eq!(
            strength_from_text("fluoxetine 4 MG/ML Oral Solution", &["fluoxetine"], true),
            Some(Strength {
                mg: 4.0,
                per: Per::Ml
            })
        );
        assert_eq!(
            strength_from_text(
                "24 HR selegiline 0.25 MG/HR Transdermal System",
                &["selegiline"],
                true
            ),
            Some(Strength {
                mg: 6.0,
                per: Per::Day
            })
        );
        assert_eq!(
            strength_from_text(
                "selegiline 6 MG/24HR Transdermal System",
                &["selegiline"],
                true
            ),
            Some(Strength {
                mg: 6.0,
                per: Per::Day
            })
        );
        assert_eq!(
            strength_from_text(
                "OLANZapine 6 MG / FLUoxetine 25 MG Oral Capsule",
                &["fluoxetine"],
                false
            ),
            unit(25.0)
        );
        assert_eq!(
            strength_from_text(
                "OLANZapine 6 MG / FLUoxetine 25 MG Oral Capsule",
                &["olanzapine"],
                false
            ),
            unit(6.0)
        );
        assert_eq!(
            strength_from_text("liothyronine 25 MCG Oral Tablet", &["liothyronine"], true),
            unit(0.025)
        );
        assert_eq!(strength_from_text("Zoloft", &["sertraline"], true), None);
        assert_eq!(
            strength_from_text("esketamine 28 MG/ACTUAT Nasal Spray", &["esketamine"], true),
            None
        );
    }

    #[test]
    fn durations() {
        let q = |json: &'static str| serde_json::from_str::<Quantity<'static>>(json).unwrap();
        assert_eq!(
            duration_days(&q(r#"{"value":30,"unit":"days","code":"d"}"#)),
            Ok(30.0)
        );
        assert_eq!(
            duration_days(&q(r#"{"value":2,"unit":"weeks","code":"wk"}"#)),
            Ok(14.0)
        );
        assert_eq!(duration_days(&q(r#"{"value":1,"code":"mo"}"#)), Ok(30.0));
        assert_eq!(duration_days(&q(r#"{"value":48,"code":"h"}"#)), Ok(2.0));
        assert_eq!(duration_days(&q(r#"{"value":30}"#)), Ok(30.0));
        assert!(duration_days(&q(r#"{"value":"30"}"#)).is_err());
        assert!(duration_days(&q(r#"{"value":3,"code":"fortnight"}"#)).is_err());
    }

    #[test]
    fn dispense_fallback_math() {
        let q: Quantity = serde_json::from_str(r#"{"value":60,"unit":"TAB"}"#).unwrap();
        assert_eq!(dispense_fallback(&q, 30.0, TAB100), Some(200.0));
        assert_eq!(dispense_fallback(&q, 30.0, None), None);
    }
}
