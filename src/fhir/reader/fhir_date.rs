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

/// `hh:mm[:ss[.fff]]` followed by `Z` or `±hh:mm` (or nothing), as FHIR writes times.
fn valid_time(t: &str) -> Option<(u8, u8, u8, u32, Option<i32>)> {
    let b = t.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = digits(&t[0..2])?;
    let m = digits(&t[3..5])?;
    let mut rest = &t[5..];
    let mut sec = 0;
    let mut nanos = 0;
    if let Some(r) = rest.strip_prefix(':') {
        if r.len() < 2 {
            return None;
        }
        sec = digits(&r[..2])?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let frac = &r[..n.min(9)];
            nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
            rest = &r[n..];
        }
    }
    let offset = match rest {
        "" => None,
        "Z" | "z" => Some(0),
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh = digits(&o[1..3])? as i32;
            let om = digits(&o[4..6])? as i32;
            if oh > 14 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            Some(if o.starts_with('-') { -secs } else { secs })
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
