//! FHIR `date` / `dateTime` / `instant` → calendar day (clinical-rules §1).
//!
//! The day is taken as written: the time and the offset are ignored (a dose taken at
//! 23:30-05:00 was taken on that local day). Partial dates widen to the whole period: as a start,
//! `2025-03` is 2025-03-01 and `2025` is 2025-01-01; as an end, 2025-03-31 and 2025-12-31.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::wire::Prim;

/// Which end of a partial date to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Two ASCII digits as a number.
fn two(a: u8, b: u8) -> Option<u32> {
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

/// `hh:mm[:ss[.fff]]` followed by `Z` or `±hh:mm` (or nothing), as FHIR writes times.
///
/// Read as bytes after an ASCII check: a FHIR time is ASCII, and positions in anything else are not
/// character boundaries (slicing `12:€0` at a fixed offset panicked; now it is simply malformed).
fn valid_time(t: &str) -> Option<(u8, u8, u8, u32, Option<i32>)> {
    if !t.is_ascii() {
        return None;
    }
    let [h1, h2, b':', m1, m2, rest @ ..] = t.as_bytes() else {
        return None;
    };
    let h = two(*h1, *h2)?;
    let m = two(*m1, *m2)?;
    let mut rest = rest;
    let mut sec = 0;
    let mut nanos = 0;
    if let [b':', s1, s2, r @ ..] = rest {
        sec = two(*s1, *s2)?;
        rest = r;
        if let [b'.', r @ ..] = rest {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            // Nanoseconds: the first nine digits, right-padded with zeros.
            let frac = &r[..n.min(9)];
            nanos = frac
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
                * 10u32.pow(9 - frac.len() as u32);
            rest = &r[n..];
        }
    }
    let offset = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = two(*h1, *h2)? as i32;
            let om = two(*m1, *m2)? as i32;
            if oh > 14 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    // 24:00:00 is not a FHIR time; leap second 60 is tolerated as 59.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h as u8, m as u8, sec.min(59) as u8, nanos, offset))
}

/// Parse a FHIR date/dateTime/instant to a calendar day. `None` when malformed
/// (`2023-02-30`, `yesterday`, `2023-1-5`, a time that is not a time).
pub fn parse_day(s: &str, bound: Bound) -> Option<Date> {
    let s = s.trim();
    // FHIR dates are ASCII; the lengths and offsets below count bytes.
    if !s.is_ascii() {
        return None;
    }
    let (date_part, time_part) = match s.find('T') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(t) = time_part {
        // A time needs a full date.
        if date_part.len() != 10 {
            return None;
        }
        valid_time(t)?;
    }
    let parts: Vec<&str> = date_part.split('-').collect();
    let year = match parts.first() {
        Some(y) if y.len() == 4 => digits(y)? as i32,
        _ => return None,
    };
    if year == 0 {
        return None;
    }
    match parts.len() {
        1 => Some(match bound {
            Bound::Start => Date::from_calendar_date(year, Month::January, 1).ok()?,
            Bound::End => Date::from_calendar_date(year, Month::December, 31).ok()?,
        }),
        2 => {
            if parts[1].len() != 2 {
                return None;
            }
            let month = Month::try_from(digits(parts[1])? as u8).ok()?;
            Some(match bound {
                Bound::Start => Date::from_calendar_date(year, month, 1).ok()?,
                Bound::End => {
                    let last = time::util::days_in_month(month, year);
                    Date::from_calendar_date(year, month, last).ok()?
                }
            })
        }
        3 => {
            if parts[1].len() != 2 || parts[2].len() != 2 {
                return None;
            }
            let month = Month::try_from(digits(parts[1])? as u8).ok()?;
            let day = digits(parts[2])? as u8;
            Date::from_calendar_date(year, month, day).ok()
        }
        _ => None,
    }
}

/// An `instant` (or dateTime) as Unix seconds, for ordering. A date without a time is taken at
/// midnight UTC; a time without an offset as UTC.
pub fn parse_unix_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    let day = parse_day(s, Bound::Start)?;
    let (h, m, sec, nanos, offset) = match s.find('T') {
        Some(i) => valid_time(&s[i + 1..])?,
        None => (0, 0, 0, 0, None),
    };
    let time = Time::from_hms_nano(h, m, sec, nanos).ok()?;
    let offset = UtcOffset::from_whole_seconds(offset.unwrap_or(0)).ok()?;
    let dt: OffsetDateTime = PrimitiveDateTime::new(day, time).assume_offset(offset);
    Some(dt.unix_timestamp())
}

/// Reading a date-valued field.
#[derive(Debug, Clone, PartialEq)]
pub enum DateField {
    /// The field is absent (or JSON null).
    Missing,
    Ok(Date),
    /// Malformed: the problem text for a data issue (`invalid date '2023-02-30'`).
    Bad(String),
}

/// Read a date field lenient in type, strict in value.
pub fn read_date(v: Option<&Prim<'_>>, bound: Bound) -> DateField {
    match v {
        None | Some(Prim::Null) => DateField::Missing,
        Some(Prim::Str(s)) => match parse_day(s, bound) {
            Some(d) => DateField::Ok(d),
            None => DateField::Bad(format!("invalid date '{s}'")),
        },
        Some(other) => DateField::Bad(format!("invalid date {}", other.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn full_and_partial_dates() {
        assert_eq!(
            parse_day("2025-03-15", Bound::Start),
            Some(date!(2025 - 03 - 15))
        );
        assert_eq!(
            parse_day("2025-03", Bound::Start),
            Some(date!(2025 - 03 - 01))
        );
        assert_eq!(
            parse_day("2025-03", Bound::End),
            Some(date!(2025 - 03 - 31))
        );
        assert_eq!(
            parse_day("2024-02", Bound::End),
            Some(date!(2024 - 02 - 29))
        );
        assert_eq!(parse_day("2025", Bound::Start), Some(date!(2025 - 01 - 01)));
        assert_eq!(parse_day("2025", Bound::End), Some(date!(2025 - 12 - 31)));
    }

    #[test]
    fn date_times_keep_the_written_day() {
        assert_eq!(
            parse_day("2024-05-08T22:29:53.912626+00:00", Bound::Start),
            Some(date!(2024 - 05 - 08))
        );
        assert_eq!(
            parse_day("2015-02-07T13:28:17-05:00", Bound::End),
            Some(date!(2015 - 02 - 07))
        );
        assert_eq!(
            parse_day("2015-02-07T23:59:59Z", Bound::Start),
            Some(date!(2015 - 02 - 07))
        );
    }

    #[test]
    fn malformed() {
        for s in [
            "2023-02-30",
            "yesterday",
            "2023-1-5",
            "23-01-01",
            "2023-13",
            "2023-01-01T25:00:00Z",
            "2023-01T10:00:00Z",
            "2023-01-01Tnoon",
            "",
            "2023-01-01-01",
            "0000-01-01",
        ] {
            assert_eq!(parse_day(s, Bound::Start), None, "{s}");
        }
    }

    /// Multi-byte characters where a fixed byte offset would split them (these panicked).
    #[test]
    fn multi_byte_characters_are_malformed_not_a_panic() {
        for s in [
            "2025-01-01T12:€0:00",
            "2025-01-01T12:00:€0",
            "2025-01-01T12:0€",
            "2025-01-01T12:00+1€0",
            "2025-01-01T12:00:00+1€0",
            "2025-01-01T12:00:00.€",
            "2025-01-01T€",
            "2025-01-01T1€:00:00Z",
            "2025-0€-01",
            "202€-01-01",
            "2025-01-0€",
            "２０２５-01-01",
            "2025-01-01T12:00:00Z\u{301}",
        ] {
            assert_eq!(parse_day(s, Bound::Start), None, "{s}");
            assert_eq!(parse_unix_seconds(s), None, "{s}");
            let v = Prim::Str(s.into());
            assert!(
                matches!(read_date(Some(&v), Bound::End), DateField::Bad(_)),
                "{s}"
            );
        }
        // Every character position of a valid instant, with a multi-byte character inserted.
        let ok = "2025-01-01T12:00:00.123+01:00";
        for i in 0..=ok.len() {
            for c in ['é', '€', '💊'] {
                let mut s = ok.to_string();
                s.insert(i, c);
                assert_eq!(parse_unix_seconds(&s), None, "{s}");
                let _ = parse_day(&s, Bound::Start);
            }
        }
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(parse_unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_unix_seconds("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_unix_seconds("1970-01-02"), Some(86_400));
        assert_eq!(
            parse_unix_seconds("2015-02-07T13:28:17.239+02:00"),
            Some(1_423_308_497)
        );
        assert_eq!(parse_unix_seconds("soon"), None);
    }

    #[test]
    fn read_date_reports() {
        assert_eq!(read_date(None, Bound::Start), DateField::Missing);
        assert_eq!(
            read_date(Some(&Prim::Str("2023-02-30".into())), Bound::Start),
            DateField::Bad("invalid date '2023-02-30'".into())
        );
        assert_eq!(
            read_date(Some(&Prim::Num(20230101.0)), Bound::Start),
            DateField::Bad("invalid date 20230101".into())
        );
    }
}
