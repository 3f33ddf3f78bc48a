//! Calendar days: `YYYY-MM-DD` formatting for the wire, and day arithmetic.

use time::{Date, macros::format_description};

const ISO_DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

/// `2024-06-01` (hand-written: the `time` formatter is general and shows up in profiles).
pub fn format_day(d: Date) -> String {
    let y = d.year();
    if (0..=9999).contains(&y) {
        format!("{y:04}-{:02}-{:02}", u8::from(d.month()), d.day())
    } else {
        d.format(ISO_DAY).unwrap_or_else(|_| d.to_string())
    }
}

/// Parse a full `YYYY-MM-DD` day (used for query parameters such as `as_of`).
pub fn parse_day(s: &str) -> Option<Date> {
    Date::parse(s, ISO_DAY).ok()
}

/// Whole days from `a` to `b` (`b − a`).
pub fn days_between(a: Date, b: Date) -> i64 {
    i64::from(b.to_julian_day()) - i64::from(a.to_julian_day())
}

/// `d + n` days, saturating at the calendar's ends instead of panicking.
pub fn add_days(d: Date, n: i64) -> Date {
    let jd = i64::from(d.to_julian_day()).saturating_add(n);
    let jd = jd.clamp(
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    Date::from_julian_day(jd as i32).unwrap_or(d)
}

/// serde for `Date` as `"YYYY-MM-DD"`.
pub mod serde_day {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_day(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = <&str>::deserialize(d)?;
        super::parse_day(s).ok_or_else(|| serde::de::Error::custom(format!("invalid date '{s}'")))
    }
}

/// serde for `Option<Date>` as `"YYYY-MM-DD"` or `null`.
pub mod serde_opt_day {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_day(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let s = Option::<&str>::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => super::parse_day(s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date '{s}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn day_arithmetic() {
        assert_eq!(
            days_between(date!(2025 - 01 - 01), date!(2025 - 02 - 12)),
            42
        );
        assert_eq!(add_days(date!(2024 - 02 - 28), 1), date!(2024 - 02 - 29));
        assert_eq!(format_day(date!(2024 - 06 - 01)), "2024-06-01");
        assert_eq!(format_day(date!(0987 - 12 - 31)), "0987-12-31");
        assert_eq!(parse_day("2023-02-30"), None);
    }
}
