//! The time axis: calendar days → x, and month or year ticks that fit the width.

use time::{Date, Month};

/// Days on the x axis, from `start` to `end` inclusive, onto `[x0, x1]` pixels.
#[derive(Debug, Clone, Copy)]
pub struct TimeScale {
    start: i32,
    end: i32,
    x0: f64,
    x1: f64,
}

/// Tick spacing the labels need ("Sep 2025" at the smallest font), in px.
const MIN_TICK_SPACING_PX: f64 = 64.0;
/// Candidate steps between ticks, in months.
const TICK_STEPS_MONTHS: [i32; 7] = [1, 2, 3, 6, 12, 24, 60];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl TimeScale {
    /// `start` is moved earlier when the span is empty, so that every scale has a width.
    pub fn new(start: Date, end: Date, x0: f64, x1: f64) -> TimeScale {
        let end = end.to_julian_day();
        let start = start.to_julian_day().min(end - 1);
        TimeScale { start, end, x0, x1 }
    }

    pub fn x(&self, d: Date) -> f64 {
        let span = f64::from(self.end - self.start);
        let t = f64::from(d.to_julian_day() - self.start) / span;
        self.x0 + t.clamp(0.0, 1.0) * (self.x1 - self.x0)
    }

    pub fn x_range(&self) -> (f64, f64) {
        (self.x0, self.x1)
    }

    /// Ticks on the first of a month, every 1, 2, 3, 6, 12 … months as the width allows, with
    /// their labels (`Mar 2025`, or `2025` for yearly ticks).
    pub fn ticks(&self) -> Vec<(Date, String)> {
        let months = f64::from(self.end - self.start) / 30.44;
        let fit = ((self.x1 - self.x0) / MIN_TICK_SPACING_PX).max(1.0);
        let step = TICK_STEPS_MONTHS
            .iter()
            .copied()
            .find(|&s| months / f64::from(s) <= fit)
            .unwrap_or(TICK_STEPS_MONTHS[TICK_STEPS_MONTHS.len() - 1]);
        let Ok(first) = Date::from_julian_day(self.start) else {
            return vec![];
        };
        let mut index = first.year() * 12 + i32::from(u8::from(first.month())) - 1;
        if first.day() != 1 {
            index += 1;
        }
        // Align to the step (January for yearly steps) so ticks read as round dates.
        index += (step - index.rem_euclid(step)) % step;
        let mut out = vec![];
        while let Some(d) = month_start(index).filter(|d| d.to_julian_day() <= self.end) {
            let label = if step >= 12 {
                d.year().to_string()
            } else {
                format!(
                    "{} {}",
                    MONTHS[usize::from(u8::from(d.month())) - 1],
                    d.year()
                )
            };
            out.push((d, label));
            index += step;
        }
        out
    }
}

fn month_start(index: i32) -> Option<Date> {
    let year = index.div_euclid(12);
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    Date::from_calendar_date(year, month, 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn ticks_are_round_and_fit_the_width() {
        let s = TimeScale::new(date!(2025 - 01 - 15), date!(2026 - 01 - 01), 0.0, 1200.0);
        let t = s.ticks();
        assert_eq!(t[0].1, "Feb 2025");
        assert!(t.len() >= 6 && t.len() <= 12, "{t:?}");
        let narrow = TimeScale::new(date!(2025 - 01 - 15), date!(2026 - 01 - 01), 0.0, 370.0);
        let t = narrow.ticks();
        assert!(t.len() <= 6, "{t:?}");
        assert_eq!(t[0].1, "Mar 2025");
    }

    #[test]
    fn x_is_linear_and_clamped() {
        let s = TimeScale::new(date!(2025 - 01 - 01), date!(2025 - 01 - 11), 10.0, 110.0);
        assert_eq!(s.x(date!(2025 - 01 - 06)), 60.0);
        assert_eq!(s.x(date!(2024 - 01 - 01)), 10.0);
        let empty = TimeScale::new(date!(2025 - 01 - 01), date!(2025 - 01 - 01), 0.0, 100.0);
        assert_eq!(empty.x(date!(2025 - 01 - 01)), 100.0);
    }
}
