//! The treatment timeline (issue 17): one SVG picture of the current episode, drawn from the
//! [`Assessment`] alone (no second reading of FHIR, no knowledge base: the doses and thresholds it
//! shows are the Assessment's). Pure: no I/O.
//!
//! Top to bottom: title and status; legend; the time axis (episode onset marked, time before it
//! greyed, `as_of` at the right edge); one lane per antidepressant trial (the bar's height and
//! colour show the daily dose of each step of the dose history against the drug's minimum
//! adequate and optimised doses, drawn as lines; the outcome in words); thinner lanes for
//! augmentations and combinations; one lane of ECT / TMS / esketamine session markers; the PHQ-9
//! panel on the same axis (severity bands, the scores as a line, for each failed trial the
//! response threshold from its baseline); then the data issues and assumptions in words.
//!
//! Accessibility: `role="img"` with `<title>` and a `<desc>` that says the whole picture in
//! words; every mark has a `<title>`; text is text; Okabe–Ito colours, and shape or words besides
//! colour for everything that matters. Every trial, augmentation, score and session carries
//! `data-*` attributes naming it (tests check that none is missing).

mod scale;
pub mod svg;

use time::Date;

use crate::clinical::{
    Assessment, Augmentation, AugmentationOutcome, Outcome, Phq9Series, ProcedureSession, Status,
    Trial,
};
use crate::knowledge::ProcedureKind;
use scale::TimeScale;
use svg::{El, Svg, num};

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    /// Width in px; the height follows from the content. Readable from [`MIN_WIDTH`] up.
    pub width: u32,
}

/// Narrowest width the layout is designed for (an EHR sidebar).
pub const MIN_WIDTH: u32 = 320;
/// Widest width accepted.
pub const MAX_WIDTH: u32 = 4000;
pub const DEFAULT_WIDTH: u32 = 1200;

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            width: DEFAULT_WIDTH,
        }
    }
}

// Layout in px (presentation, not clinical numbers).
const MARGIN: f64 = 12.0;
const FONT: f64 = 12.0;
const SMALL_FONT: f64 = 11.0;
const TITLE_FONT: f64 = 16.0;
const LINE: f64 = 15.0;
const TRIAL_BAR: f64 = 18.0;
const AUG_BAR: f64 = 8.0;
const SESSION_LANE: f64 = 16.0;
const PHQ9_PANEL: f64 = 150.0;
const LANE_GAP: f64 = 8.0;
/// Right gutter for the PHQ-9 band names, from this width on (narrower: the names go under the panel).
const GUTTER_FROM_WIDTH: f64 = 800.0;
const GUTTER: f64 = 150.0;
/// Average glyph width as a share of the font size, to wrap text without measuring fonts.
const GLYPH_WIDTH: f64 = 0.56;

/// Okabe–Ito palette (Okabe & Ito 2008), distinguishable with every common colour-vision deficiency.
mod colour {
    pub const BLACK: &str = "#000000";
    pub const ORANGE: &str = "#E69F00";
    pub const SKY_BLUE: &str = "#56B4E9";
    pub const BLUISH_GREEN: &str = "#009E73";
    pub const BLUE: &str = "#0072B2";
    pub const VERMILLION: &str = "#D55E00";
    pub const REDDISH_PURPLE: &str = "#CC79A7";
    pub const GREY: &str = "#767676";
    pub const LIGHT_GREY: &str = "#EEEEEE";
    pub const TEXT_MUTED: &str = "#4D4D4D";
}

const FONT_FAMILY: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const UNKNOWN_PATTERN: &str = "tl-dose-unknown";

/// Draw the timeline of `a` as a standalone SVG document.
pub fn render_svg(a: &Assessment, opts: &TimelineOptions) -> String {
    let width = f64::from(opts.width.clamp(MIN_WIDTH, MAX_WIDTH));
    let (start, end) = domain(a);
    let gutter = if width >= GUTTER_FROM_WIDTH {
        GUTTER
    } else {
        0.0
    };
    let scale = TimeScale::new(start, end, MARGIN, width - MARGIN - gutter);
    let onset = a.episode.as_ref().and_then(|e| e.onset);
    let mut body = Svg::default();
    let mut y = MARGIN;
    y = header(&mut body, a, width, y);
    y = legend(&mut body, width, y);
    let lanes_top = y;
    y = axis(&mut body, &scale, y);
    // The onset's label has a row of its own, under the month labels.
    let onset_label_y = y;
    if onset.is_some() {
        y += LINE;
    }
    for t in &a.trials {
        y = trial_lane(&mut body, t, &scale, onset, width, y);
    }
    for g in &a.augmentations {
        y = augmentation_lane(&mut body, g, &scale, onset, width, y);
    }
    if !a.procedures.is_empty() {
        y = session_lane(&mut body, &a.procedures, &scale, width, y);
    }
    if a.trials.is_empty() && a.augmentations.is_empty() {
        y = wrapped(
            &mut body,
            "No antidepressant trial or augmentation in this episode.",
            MARGIN,
            y,
            width,
            FONT,
            El::new("text").attr("fill", colour::TEXT_MUTED),
        );
    }
    y += LANE_GAP;
    y = phq9_panel(&mut body, a, &scale, width, y);
    let chart_bottom = y;
    episode_marks(
        &mut body,
        onset,
        &scale,
        lanes_top,
        onset_label_y,
        chart_bottom,
    );
    y = notes(&mut body, a, width, y + LANE_GAP);
    document(a, width, y + MARGIN, body.finish())
}

/// The dates on the x axis: from the earliest of the onset and everything drawn, to `as_of`.
fn domain(a: &Assessment) -> (Date, Date) {
    let onset = a.episode.as_ref().and_then(|e| e.onset);
    let starts = a
        .trials
        .iter()
        .map(|t| t.start)
        .chain(a.augmentations.iter().map(|g| g.start))
        .chain(a.phq9.scores.iter().map(|s| s.date))
        .chain(a.procedures.iter().map(|p| p.date))
        .chain(onset);
    let start = starts.min().unwrap_or(a.as_of).min(a.as_of);
    // A little room before the first mark, so that it does not sit on the edge.
    let pad = ((a.as_of - start).whole_days() / 40).max(1);
    (start - time::Duration::days(pad), a.as_of)
}

fn document(a: &Assessment, width: f64, height: f64, body: String) -> String {
    let mut s = Svg::default();
    s.open(
        El::new("svg")
            .attr("xmlns", "http://www.w3.org/2000/svg")
            .num("width", width)
            .num("height", height)
            .attr("viewBox", &format!("0 0 {} {}", num(width), num(height)))
            .attr("role", "img")
            .attr("aria-labelledby", "tl-title tl-desc")
            .attr("font-family", FONT_FAMILY)
            .num("font-size", FONT)
            .attr("class", "trd-timeline"),
    );
    s.text(
        El::new("title").attr("id", "tl-title"),
        "Treatment timeline of the current depressive episode",
    );
    s.text(El::new("desc").attr("id", "tl-desc"), &describe(a));
    s.open(El::new("defs"));
    s.open(
        El::new("pattern")
            .attr("id", UNKNOWN_PATTERN)
            .attr("patternUnits", "userSpaceOnUse")
            .num("width", 6.0)
            .num("height", 6.0)
            .attr("patternTransform", "rotate(45)"),
    );
    s.leaf(
        El::new("rect")
            .num("width", 6.0)
            .num("height", 6.0)
            .attr("fill", colour::LIGHT_GREY),
    );
    s.leaf(
        El::new("line")
            .num("x1", 0.0)
            .num("y1", 0.0)
            .num("x2", 0.0)
            .num("y2", 6.0)
            .attr("stroke", colour::GREY)
            .num("stroke-width", 2.0),
    );
    s.close();
    s.close();
    s.leaf(
        El::new("rect")
            .attr("width", "100%")
            .attr("height", "100%")
            .attr("fill", "#FFFFFF"),
    );
    let mut out = s.finish();
    // `finish` closed the svg element: put the body inside it.
    let close = "</svg>\n";
    out.truncate(out.len() - close.len());
    out.push_str(&body);
    out.push_str(close);
    out
}

/// The picture in words, for screen readers (`<desc>`).
fn describe(a: &Assessment) -> String {
    let mut s = format!("{}. ", status_sentence(a));
    if let Some(onset) = a.episode.as_ref().and_then(|e| e.onset) {
        s.push_str(&format!("Episode onset {onset}; "));
    }
    s.push_str(&format!("as of {}. ", a.as_of));
    for t in &a.trials {
        s.push_str(&format!(
            "{} from {} to {}, {}, {}. ",
            display(&t.ingredient),
            t.start,
            t.end.map_or("now".to_string(), |e| e.to_string()),
            dose_range(t),
            trial_outcome(t.outcome)
        ));
    }
    for g in &a.augmentations {
        s.push_str(&format!("{}. ", augmentation_label(g)));
    }
    if !a.procedures.is_empty() {
        s.push_str(&format!("{}. ", session_summary(&a.procedures)));
    }
    let scores: Vec<String> = a
        .phq9
        .scores
        .iter()
        .map(|p| format!("{} on {}", p.value, p.date))
        .collect();
    if scores.is_empty() {
        s.push_str("No PHQ-9 score.");
    } else {
        s.push_str(&format!("PHQ-9 scores: {}.", scores.join(", ")));
    }
    if !a.data_issues.is_empty() {
        s.push_str(&format!(
            " {} data issue(s) listed below the chart.",
            a.data_issues.len()
        ));
    }
    s
}

fn status_sentence(a: &Assessment) -> String {
    let n = a.failed_adequate_trials;
    let trials = format!("{n} failed adequate trial{}", if n == 1 { "" } else { "s" });
    match a.status {
        Status::Met => format!("Treatment-resistant depression criteria met: {trials}"),
        Status::Possible => format!("Treatment-resistant depression possible: {trials}"),
        Status::NotMet => format!("Treatment-resistant depression criteria not met: {trials}"),
        Status::NotApplicable => {
            "Treatment-resistant depression assessment not applicable".to_string()
        }
    }
}

fn header(s: &mut Svg, a: &Assessment, width: f64, y: f64) -> f64 {
    let y = wrapped(
        s,
        "Treatment timeline, current episode",
        MARGIN,
        y,
        width,
        TITLE_FONT,
        El::new("text").attr("font-weight", "bold"),
    );
    wrapped(
        s,
        &format!("{} · as of {}", status_sentence(a), a.as_of),
        MARGIN,
        y + 2.0,
        width,
        FONT,
        El::new("text").attr("class", "status"),
    )
}

/// One legend item: a swatch drawn by `swatch` at (x, y) and its words.
struct LegendItem {
    label: &'static str,
    swatch: fn(&mut Svg, f64, f64),
}

fn legend(s: &mut Svg, width: f64, y: f64) -> f64 {
    let items = [
        LegendItem {
            label: "dose below minimum adequate",
            swatch: |s, x, y| rect_swatch(s, x, y, colour::ORANGE),
        },
        LegendItem {
            label: "adequate dose",
            swatch: |s, x, y| rect_swatch(s, x, y, colour::SKY_BLUE),
        },
        LegendItem {
            label: "optimised dose or above",
            swatch: |s, x, y| rect_swatch(s, x, y, colour::BLUE),
        },
        LegendItem {
            label: "dose unknown",
            swatch: |s, x, y| rect_swatch(s, x, y, &format!("url(#{UNKNOWN_PATTERN})")),
        },
        LegendItem {
            label: "augmentation",
            swatch: |s, x, y| rect_swatch(s, x, y, colour::BLUISH_GREEN),
        },
        LegendItem {
            label: "combination",
            swatch: |s, x, y| rect_swatch(s, x, y, colour::REDDISH_PURPLE),
        },
        LegendItem {
            label: "minimum adequate / optimised dose",
            swatch: |s, x, y| {
                dose_line(s, x, x + 6.0, y + 8.0, "4 2");
                dose_line(s, x + 7.0, x + 13.0, y + 3.0, "1 2");
            },
        },
        LegendItem {
            label: "response threshold (PHQ-9)",
            swatch: |s, x, y| {
                s.leaf(
                    El::new("line")
                        .num("x1", x)
                        .num("x2", x + 13.0)
                        .num("y1", y + 6.0)
                        .num("y2", y + 6.0)
                        .attr("stroke", colour::VERMILLION)
                        .num("stroke-width", 2.0)
                        .attr("stroke-dasharray", "5 3"),
                );
            },
        },
    ];
    s.open(
        El::new("g")
            .attr("class", "legend")
            .num("font-size", SMALL_FONT),
    );
    let mut x = MARGIN;
    let mut y = y + 4.0;
    for item in items {
        let w = 18.0 + text_width(item.label, SMALL_FONT) + 14.0;
        if x + w > width - MARGIN && x > MARGIN {
            x = MARGIN;
            y += LINE;
        }
        (item.swatch)(s, x, y);
        s.text(
            El::new("text").num("x", x + 18.0).num("y", y + 10.0),
            item.label,
        );
        x += w;
    }
    s.close();
    y + LINE + 4.0
}

fn rect_swatch(s: &mut Svg, x: f64, y: f64, fill: &str) {
    s.leaf(
        El::new("rect")
            .num("x", x)
            .num("y", y)
            .num("width", 13.0)
            .num("height", 11.0)
            .attr("fill", fill)
            .attr("stroke", colour::GREY)
            .num("stroke-width", 0.5),
    );
}

fn dose_line(s: &mut Svg, x1: f64, x2: f64, y: f64, dash: &str) {
    s.leaf(
        El::new("line")
            .num("x1", x1)
            .num("x2", x2)
            .num("y1", y)
            .num("y2", y)
            .attr("stroke", colour::BLACK)
            .num("stroke-width", 1.2)
            .attr("stroke-dasharray", dash),
    );
}

fn axis(s: &mut Svg, scale: &TimeScale, y: f64) -> f64 {
    let (x0, x1) = scale.x_range();
    let base = y + LINE;
    s.open(
        El::new("g")
            .attr("class", "axis")
            .num("font-size", SMALL_FONT),
    );
    s.leaf(
        El::new("line")
            .num("x1", x0)
            .num("x2", x1)
            .num("y1", base + 3.0)
            .num("y2", base + 3.0)
            .attr("stroke", colour::GREY),
    );
    for (d, label) in scale.ticks() {
        let x = scale.x(d);
        s.leaf(
            El::new("line")
                .num("x1", x)
                .num("x2", x)
                .num("y1", base)
                .num("y2", base + 6.0)
                .attr("stroke", colour::GREY),
        );
        // Keep the first and last labels inside the picture.
        let anchor = if x - text_width(&label, SMALL_FONT) / 2.0 < x0 {
            "start"
        } else if x + text_width(&label, SMALL_FONT) / 2.0 > x1 {
            "end"
        } else {
            "middle"
        };
        s.text(
            El::new("text")
                .num("x", x)
                .num("y", base - 3.0)
                .attr("text-anchor", anchor)
                .attr("data-tick", &d.to_string()),
            &label,
        );
    }
    s.close();
    base + 10.0
}

/// Dose fill of one step: below the minimum adequate dose, adequate, or at/above optimised.
fn dose_fill(dose: Option<f64>, t: &Trial) -> String {
    let Some(d) = dose else {
        return format!("url(#{UNKNOWN_PATTERN})");
    };
    if t.optimised_mg_day.is_some_and(|o| d >= o) {
        colour::BLUE.into()
    } else if t.min_adequate_mg_day.is_none_or(|m| d >= m) {
        colour::SKY_BLUE.into()
    } else {
        colour::ORANGE.into()
    }
}

/// The dose at the top of a trial's bar: the largest of its doses and its reference doses.
fn dose_scale_max(t: &Trial) -> Option<f64> {
    t.dose_history
        .iter()
        .filter_map(|d| d.daily_dose_mg)
        .chain(t.min_adequate_mg_day)
        .chain(t.optimised_mg_day)
        .filter(|v| v.is_finite() && *v > 0.0)
        .reduce(f64::max)
}

fn trial_lane(
    s: &mut Svg,
    t: &Trial,
    scale: &TimeScale,
    onset: Option<Date>,
    width: f64,
    y: f64,
) -> f64 {
    s.open(
        El::new("g")
            .attr("class", "trial")
            .attr("data-ingredient", &t.ingredient)
            .attr("data-start", &t.start.to_string())
            .attr("data-end", &t.end.map_or(String::new(), |e| e.to_string()))
            .attr("data-outcome", outcome_code(t.outcome)),
    );
    s.text(El::new("title"), &trial_title(t));
    let label = format!(
        "{} ({}) · {} · {}",
        display(&t.ingredient),
        t.class,
        dose_range(t),
        trial_outcome(t.outcome)
    );
    let y = wrapped(
        s,
        &label,
        MARGIN,
        y,
        width,
        FONT,
        El::new("text").attr("font-weight", "600"),
    );
    // A trial without an end runs until `as_of`, the right edge.
    let bx0 = scale.x(t.start);
    let bx1 = t
        .end
        .map_or(scale.x_range().1, |e| scale.x(e))
        .max(bx0 + 2.0);
    let top = y + 2.0;
    s.leaf(
        El::new("rect")
            .num("x", bx0)
            .num("y", top)
            .num("width", bx1 - bx0)
            .num("height", TRIAL_BAR)
            .attr("fill", colour::LIGHT_GREY)
            .attr("stroke", colour::GREY)
            .num("stroke-width", 0.8),
    );
    let max = dose_scale_max(t);
    for seg in &t.dose_history {
        let (x0, x1) = (
            scale.x(seg.start),
            scale.x(seg.end).max(scale.x(seg.start) + 1.5),
        );
        let h = match (seg.daily_dose_mg, max) {
            (Some(d), Some(m)) => (d / m).clamp(0.08, 1.0) * TRIAL_BAR,
            _ => TRIAL_BAR,
        };
        let dose = seg.daily_dose_mg.map_or("dose unknown".to_string(), |d| {
            format!("{} mg/day", dose_text(d))
        });
        s.open(
            El::new("rect")
                .attr("class", "dose-step")
                .num("x", x0)
                .num("y", top + TRIAL_BAR - h)
                .num("width", x1 - x0)
                .num("height", h)
                .attr("fill", &dose_fill(seg.daily_dose_mg, t))
                .attr(
                    "data-dose-mg",
                    &seg.daily_dose_mg.map_or(String::new(), dose_text),
                ),
        );
        s.text(
            El::new("title"),
            &format!(
                "{}: {dose}, {} to {}",
                display(&t.ingredient),
                seg.start,
                seg.end
            ),
        );
        s.close();
        if let Some(d) = seg.daily_dose_mg {
            let text = dose_text(d);
            if x1 - x0 > text_width(&text, SMALL_FONT) + 6.0 {
                s.text(
                    halo(El::new("text"))
                        .num("x", x0 + 3.0)
                        .num("y", top + TRIAL_BAR - 4.0)
                        .num("font-size", SMALL_FONT)
                        .attr("aria-hidden", "true"),
                    &text,
                );
            }
        }
    }
    if let Some(m) = max {
        for (level, dash, what) in [
            (t.min_adequate_mg_day, "4 2", "minimum adequate dose"),
            (t.optimised_mg_day, "1 2", "optimised dose"),
        ] {
            if let Some(v) = level {
                let ly = top + TRIAL_BAR - (v / m).clamp(0.0, 1.0) * TRIAL_BAR;
                s.open(El::new("g").attr("class", "reference-dose"));
                s.text(El::new("title"), &format!("{what} {} mg/day", dose_text(v)));
                dose_line(s, bx0, bx1, ly, dash);
                s.close();
            }
        }
    }
    grey_before_onset(s, scale, onset, bx0, top, TRIAL_BAR);
    s.close();
    top + TRIAL_BAR + LANE_GAP
}

/// Grey the part of a bar starting at `x0` that lies before the episode onset: earlier treatment.
fn grey_before_onset(s: &mut Svg, scale: &TimeScale, onset: Option<Date>, x0: f64, y: f64, h: f64) {
    let Some(ox) = onset.map(|o| scale.x(o)) else {
        return;
    };
    if x0 < ox {
        s.leaf(
            El::new("rect")
                .attr("class", "before-onset")
                .num("x", x0)
                .num("y", y - 1.0)
                .num("width", ox - x0)
                .num("height", h + 2.0)
                .attr("fill", "#FFFFFF")
                .num("fill-opacity", 0.65),
        );
    }
}

fn trial_title(t: &Trial) -> String {
    let mut s = format!(
        "{} ({}), {} to {}: {}; {} weeks at adequate dose; {}",
        display(&t.ingredient),
        t.class,
        t.start,
        t.end.map_or("now".to_string(), |e| e.to_string()),
        dose_range(t),
        num(t.weeks_at_adequate_dose),
        trial_outcome(t.outcome)
    );
    if let Some(m) = t.min_adequate_mg_day {
        s.push_str(&format!("; minimum adequate dose {} mg/day", dose_text(m)));
    }
    if let Some(o) = t.optimised_mg_day {
        s.push_str(&format!("; optimised dose {} mg/day", dose_text(o)));
    }
    s
}

fn augmentation_lane(
    s: &mut Svg,
    g: &Augmentation,
    scale: &TimeScale,
    onset: Option<Date>,
    width: f64,
    y: f64,
) -> f64 {
    let combination = g.class == "antidepressant-combination";
    s.open(
        El::new("g")
            .attr(
                "class",
                if combination {
                    "combination"
                } else {
                    "augmentation"
                },
            )
            .attr("data-agent", &g.agent)
            .attr("data-start", &g.start.to_string())
            .attr("data-end", &g.end.map_or(String::new(), |e| e.to_string()))
            .attr("data-outcome", augmentation_outcome(g.outcome)),
    );
    let label = augmentation_label(g);
    s.text(El::new("title"), &label);
    let y = wrapped(
        s,
        &label,
        MARGIN,
        y,
        width,
        SMALL_FONT,
        El::new("text").attr("fill", colour::TEXT_MUTED),
    );
    let end = g.end.map_or(scale.x_range().1, |e| scale.x(e));
    let x0 = scale.x(g.start);
    s.leaf(
        El::new("rect")
            .num("x", x0)
            .num("y", y + 1.0)
            .num("width", (end - x0).max(2.0))
            .num("height", AUG_BAR)
            .attr(
                "fill",
                if combination {
                    colour::REDDISH_PURPLE
                } else {
                    colour::BLUISH_GREEN
                },
            ),
    );
    grey_before_onset(s, scale, onset, x0, y + 1.0, AUG_BAR);
    s.close();
    y + 1.0 + AUG_BAR + LANE_GAP
}

fn augmentation_label(g: &Augmentation) -> String {
    let combination = g.class == "antidepressant-combination";
    let dose = g.max_daily_dose_mg.map_or("dose unknown".to_string(), |d| {
        format!("{} mg/day", dose_text(d))
    });
    format!(
        "+ {} {dose}, {} {} from {} · {}",
        display(&g.agent),
        if combination {
            "combined with"
        } else {
            "added to"
        },
        display(&g.trial_ingredient),
        g.start,
        augmentation_outcome(g.outcome)
    )
}

fn session_lane(
    s: &mut Svg,
    sessions: &[ProcedureSession],
    scale: &TimeScale,
    width: f64,
    y: f64,
) -> f64 {
    s.open(El::new("g").attr("class", "sessions"));
    let y = wrapped(
        s,
        &session_summary(sessions),
        MARGIN,
        y,
        width,
        SMALL_FONT,
        El::new("text").attr("fill", colour::TEXT_MUTED),
    );
    let cy = y + SESSION_LANE / 2.0;
    for p in sessions {
        let x = scale.x(p.date);
        let (fill, shape) = match p.kind {
            ProcedureKind::Ect => (colour::VERMILLION, diamond(x, cy)),
            ProcedureKind::Tms => (colour::BLUE, triangle(x, cy)),
            ProcedureKind::Esketamine => (colour::REDDISH_PURPLE, square(x, cy)),
            ProcedureKind::Psychotherapy => (colour::BLUISH_GREEN, inverted_triangle(x, cy)),
        };
        s.open(
            El::new("polygon")
                .attr("points", &shape)
                .attr("fill", fill)
                .attr("stroke", colour::BLACK)
                .num("stroke-width", 0.5)
                .attr("class", "session")
                .attr("data-procedure", procedure_name(p.kind))
                .attr("data-date", &p.date.to_string())
                .attr("data-evidence", &p.evidence),
        );
        s.text(
            El::new("title"),
            &format!("{} session on {}", procedure_name(p.kind), p.date),
        );
        s.close();
    }
    s.close();
    y + SESSION_LANE + LANE_GAP
}

fn session_summary(sessions: &[ProcedureSession]) -> String {
    let parts: Vec<String> = [
        ProcedureKind::Ect,
        ProcedureKind::Tms,
        ProcedureKind::Esketamine,
        ProcedureKind::Psychotherapy,
    ]
    .into_iter()
    .filter_map(|k| {
        let n = sessions.iter().filter(|p| p.kind == k).count();
        let shape = match k {
            ProcedureKind::Ect => "◆",
            ProcedureKind::Tms => "▲",
            ProcedureKind::Esketamine => "■",
            ProcedureKind::Psychotherapy => "▼",
        };
        (n > 0).then(|| {
            format!(
                "{shape} {}: {n} session{}",
                procedure_name(k),
                if n == 1 { "" } else { "s" }
            )
        })
    })
    .collect();
    parts.join(" · ")
}

fn diamond(x: f64, y: f64) -> String {
    let r = 6.0;
    format!(
        "{},{} {},{} {},{} {},{}",
        num(x),
        num(y - r),
        num(x + r),
        num(y),
        num(x),
        num(y + r),
        num(x - r),
        num(y)
    )
}

fn triangle(x: f64, y: f64) -> String {
    let r = 6.0;
    format!(
        "{},{} {},{} {},{}",
        num(x),
        num(y - r),
        num(x + r),
        num(y + r),
        num(x - r),
        num(y + r)
    )
}

fn inverted_triangle(x: f64, y: f64) -> String {
    let r = 6.0;
    format!(
        "{},{} {},{} {},{}",
        num(x - r),
        num(y - r),
        num(x + r),
        num(y - r),
        num(x),
        num(y + r)
    )
}

fn square(x: f64, y: f64) -> String {
    let r = 5.0;
    format!(
        "{},{} {},{} {},{} {},{}",
        num(x - r),
        num(y - r),
        num(x + r),
        num(y - r),
        num(x + r),
        num(y + r),
        num(x - r),
        num(y + r)
    )
}

fn procedure_name(k: ProcedureKind) -> &'static str {
    match k {
        ProcedureKind::Ect => "ECT",
        ProcedureKind::Tms => "TMS",
        ProcedureKind::Esketamine => "Esketamine",
        ProcedureKind::Psychotherapy => "Psychotherapy",
    }
}

/// The PHQ-9 panel: severity bands, the scores, the response thresholds of failed trials.
fn phq9_panel(s: &mut Svg, a: &Assessment, scale: &TimeScale, width: f64, y: f64) -> f64 {
    let series = &a.phq9;
    s.open(El::new("g").attr("class", "phq9"));
    let y = wrapped(
        s,
        "PHQ-9 total score",
        MARGIN,
        y,
        width,
        FONT,
        El::new("text").attr("font-weight", "600"),
    );
    let top = y + 4.0;
    let Some(scale_max) = series
        .severity_bands
        .last()
        .map(|b| b.max)
        .filter(|m| *m > 0.0)
    else {
        s.close();
        return y;
    };
    let (x0, x1) = scale.x_range();
    let yv = |v: f64| top + PHQ9_PANEL - (v / scale_max).clamp(0.0, 1.0) * PHQ9_PANEL;
    bands(s, series, &yv, x0, x1, width - MARGIN - x1 >= GUTTER);
    for t in a.trials.iter().filter(|t| t.outcome == Outcome::Failed) {
        if let Some(v) = t.phq9_response_threshold {
            threshold(s, t, v, scale, &yv);
        }
    }
    scores(s, series, scale, &yv);
    let mut bottom = top + PHQ9_PANEL + 4.0;
    if width - MARGIN - x1 < GUTTER {
        // No room beside the panel: the bands in words under it.
        let names: Vec<String> = band_ranges(series)
            .iter()
            .map(|(name, range)| format!("{name} {range}"))
            .collect();
        bottom = wrapped(
            s,
            &format!("Severity bands: {}", names.join(" · ")),
            MARGIN,
            bottom,
            width,
            SMALL_FONT,
            El::new("text").attr("fill", colour::TEXT_MUTED),
        );
    }
    s.close();
    bottom + LANE_GAP
}

/// Each band's name and its scores (`0–4`).
fn band_ranges(series: &Phq9Series) -> Vec<(String, String)> {
    let mut lower = 0.0;
    series
        .severity_bands
        .iter()
        .map(|b| {
            let r = (b.name.clone(), format!("{}–{}", num(lower), num(b.max)));
            lower = b.max + 1.0;
            r
        })
        .collect()
}

fn bands(
    s: &mut Svg,
    series: &Phq9Series,
    yv: &dyn Fn(f64) -> f64,
    x0: f64,
    x1: f64,
    labels_beside: bool,
) {
    let n = series.severity_bands.len();
    let ranges = band_ranges(series);
    let mut lower: Option<f64> = None;
    for (i, b) in series.severity_bands.iter().enumerate() {
        // Scores are integers: a band holds the values from the previous max + 1 to its max.
        let (from, to) = (
            lower.map_or(0.0, |l| l + 0.5),
            b.max + if i + 1 == n { 0.0 } else { 0.5 },
        );
        let shade = 250 - (i * 40 / n.max(1)) as u8;
        s.leaf(
            El::new("rect")
                .attr("class", "severity-band")
                .attr("data-band", &b.name)
                .num("x", x0)
                .num("y", yv(to))
                .num("width", x1 - x0)
                .num("height", yv(from) - yv(to))
                .attr("fill", &format!("#{shade:02X}{shade:02X}{shade:02X}")),
        );
        if labels_beside {
            s.text(
                El::new("text")
                    .num("x", x1 + 6.0)
                    .num("y", (yv(to) + yv(from)) / 2.0 + SMALL_FONT / 3.0)
                    .num("font-size", SMALL_FONT)
                    .attr("fill", colour::TEXT_MUTED),
                &format!("{} {}", ranges[i].0, ranges[i].1),
            );
        }
        lower = Some(b.max);
    }
}

fn threshold(s: &mut Svg, t: &Trial, v: f64, scale: &TimeScale, yv: &dyn Fn(f64) -> f64) {
    let (x0, x1) = (
        scale.x(t.start),
        t.end.map_or(scale.x_range().1, |e| scale.x(e)),
    );
    let y = yv(v);
    let words = format!(
        "{}: response at PHQ-9 ≤ {} (baseline {})",
        display(&t.ingredient),
        num(v),
        t.phq9_baseline.map_or("?".to_string(), |b| b.to_string())
    );
    s.open(
        El::new("g")
            .attr("class", "response-threshold")
            .attr("data-threshold-for", &t.ingredient)
            .attr("data-start", &t.start.to_string()),
    );
    s.text(El::new("title"), &words);
    s.leaf(
        El::new("line")
            .num("x1", x0)
            .num("x2", x1)
            .num("y1", y)
            .num("y2", y)
            .attr("stroke", colour::VERMILLION)
            .num("stroke-width", 2.0)
            .attr("stroke-dasharray", "5 3"),
    );
    let short = format!("{} ≤ {}", display(&t.ingredient), num(v));
    if x1 - x0 > text_width(&short, SMALL_FONT) + 4.0 {
        s.text(
            halo(El::new("text"))
                .num("x", x0 + 2.0)
                .num("y", y + SMALL_FONT + 1.0)
                .num("font-size", SMALL_FONT)
                .attr("fill", colour::VERMILLION)
                .attr("aria-hidden", "true"),
            &short,
        );
    }
    s.close();
}

fn scores(s: &mut Svg, series: &Phq9Series, scale: &TimeScale, yv: &dyn Fn(f64) -> f64) {
    if series.scores.is_empty() {
        let (x0, _) = scale.x_range();
        s.text(
            El::new("text")
                .num("x", x0 + 4.0)
                .num("y", yv(0.0) - 6.0)
                .attr("fill", colour::TEXT_MUTED),
            "No PHQ-9 score in this period",
        );
        return;
    }
    let points: Vec<String> = series
        .scores
        .iter()
        .map(|p| format!("{},{}", num(scale.x(p.date)), num(yv(p.value as f64))))
        .collect();
    s.leaf(
        El::new("polyline")
            .attr("points", &points.join(" "))
            .attr("fill", "none")
            .attr("stroke", colour::BLACK)
            .num("stroke-width", 1.5),
    );
    let mut last_label_x = f64::NEG_INFINITY;
    for p in &series.scores {
        let (x, y) = (scale.x(p.date), yv(p.value as f64));
        s.open(
            El::new("circle")
                .attr("class", "phq9-score")
                .num("cx", x)
                .num("cy", y)
                .num("r", 3.5)
                .attr("fill", colour::BLACK)
                .attr("data-date", &p.date.to_string())
                .attr("data-score", &p.value.to_string())
                .attr("data-evidence", &p.evidence),
        );
        s.text(
            El::new("title"),
            &format!("PHQ-9 {} on {} ({})", p.value, p.date, p.severity),
        );
        s.close();
        // Value labels only where they do not overlap the previous one.
        if x - last_label_x >= 18.0 {
            s.text(
                halo(El::new("text"))
                    .num("x", x)
                    .num("y", y - 7.0)
                    .attr("text-anchor", "middle")
                    .num("font-size", SMALL_FONT)
                    .attr("aria-hidden", "true"),
                &p.value.to_string(),
            );
            last_label_x = x;
        }
    }
}

/// The onset line (its label under the month labels) and the `as_of` line, over lanes and panel.
fn episode_marks(
    s: &mut Svg,
    onset: Option<Date>,
    scale: &TimeScale,
    top: f64,
    label_y: f64,
    bottom: f64,
) {
    let (_, x1) = scale.x_range();
    if let Some(onset) = onset {
        let x = scale.x(onset);
        s.open(
            El::new("g")
                .attr("class", "onset")
                .attr("data-onset", &onset.to_string()),
        );
        s.text(
            El::new("title"),
            &format!("Episode onset {onset}; treatment before it is greyed"),
        );
        s.leaf(
            El::new("line")
                .num("x1", x)
                .num("x2", x)
                .num("y1", top)
                .num("y2", bottom)
                .attr("stroke", colour::BLACK)
                .num("stroke-width", 1.2)
                .attr("stroke-dasharray", "6 3"),
        );
        let label = format!("episode onset {onset}");
        let anchor = if x + text_width(&label, SMALL_FONT) + 4.0 > x1 {
            "end"
        } else {
            "start"
        };
        let dx = if anchor == "end" { -4.0 } else { 4.0 };
        s.text(
            halo(El::new("text"))
                .num("x", x + dx)
                .num("y", label_y + SMALL_FONT)
                .attr("text-anchor", anchor)
                .num("font-size", SMALL_FONT)
                .attr("font-weight", "600"),
            &label,
        );
        s.close();
    }
    s.leaf(
        El::new("line")
            .attr("class", "as-of")
            .num("x1", x1)
            .num("x2", x1)
            .num("y1", top)
            .num("y2", bottom)
            .attr("stroke", colour::GREY)
            .num("stroke-width", 1.0),
    );
}

/// Data issues and assumptions, in words under the chart.
fn notes(s: &mut Svg, a: &Assessment, width: f64, mut y: f64) -> f64 {
    let assumptions: Vec<(String, &String)> = a
        .trials
        .iter()
        .flat_map(|t| {
            t.assumptions
                .iter()
                .map(move |x| (display(&t.ingredient), x))
        })
        .collect();
    if !a.data_issues.is_empty() {
        s.open(El::new("g").attr("class", "data-issues"));
        y = wrapped(
            s,
            &format!("Data that could not be used ({})", a.data_issues.len()),
            MARGIN,
            y,
            width,
            FONT,
            El::new("text").attr("font-weight", "600"),
        );
        for d in &a.data_issues {
            y = wrapped(
                s,
                &format!("• {} ({}): {}", d.resource, d.field, d.problem),
                MARGIN,
                y,
                width,
                SMALL_FONT,
                El::new("text")
                    .attr("class", "data-issue")
                    .attr("data-resource", &d.resource)
                    .attr("data-field", &d.field),
            );
        }
        s.close();
        y += 4.0;
    }
    if !assumptions.is_empty() {
        s.open(El::new("g").attr("class", "assumptions"));
        y = wrapped(
            s,
            "Assumptions",
            MARGIN,
            y,
            width,
            FONT,
            El::new("text").attr("font-weight", "600"),
        );
        for (who, what) in assumptions {
            y = wrapped(
                s,
                &format!("• {who}: {what}"),
                MARGIN,
                y,
                width,
                SMALL_FONT,
                El::new("text").attr("class", "assumption"),
            );
        }
        s.close();
    }
    y
}

/// Write `text` as one `<text>` with a `<tspan>` per line, wrapped to the width; returns the y
/// below it. `el` carries the element's own attributes.
fn wrapped(s: &mut Svg, text: &str, x: f64, y: f64, width: f64, font: f64, el: El) -> f64 {
    let lines = wrap(text, width - x - MARGIN, font);
    let line_height = font * 1.25;
    s.open(el.num("x", x).num("y", y + font).num("font-size", font));
    for (i, line) in lines.iter().enumerate() {
        let span = El::new("tspan").num("x", x);
        let span = if i == 0 {
            span
        } else {
            span.num("dy", line_height)
        };
        s.text(span, line);
    }
    s.close();
    y + line_height * lines.len() as f64
}

fn wrap(text: &str, max_px: f64, font: f64) -> Vec<String> {
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, font) > max_px && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * GLYPH_WIDTH
}

/// A white outline behind text drawn over marks, so that it stays legible.
fn halo(el: El) -> El {
    el.attr("paint-order", "stroke")
        .attr("stroke", "#FFFFFF")
        .num("stroke-width", 3.0)
        .attr("stroke-linejoin", "round")
}

/// `sertraline` → `Sertraline`.
fn display(id: &str) -> String {
    let mut c = id.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Doses keep up to 3 decimals (liothyronine 0.025 mg).
fn dose_text(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn dose_range(t: &Trial) -> String {
    let doses: Vec<f64> = t
        .dose_history
        .iter()
        .filter_map(|d| d.daily_dose_mg)
        .collect();
    let (Some(lo), Some(hi)) = (
        doses.iter().copied().reduce(f64::min),
        doses.iter().copied().reduce(f64::max),
    ) else {
        return "dose unknown".into();
    };
    if lo == hi {
        format!("{} mg/day", dose_text(hi))
    } else {
        format!("{}–{} mg/day", dose_text(lo), dose_text(hi))
    }
}

fn trial_outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Intolerant => "not tolerated",
        Outcome::Responded => "responded",
        Outcome::Failed => "failed",
        Outcome::Indeterminate => "indeterminate (dose unknown)",
        Outcome::Inadequate => "inadequate trial",
        Outcome::Ongoing => "ongoing",
    }
}

fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Intolerant => "intolerant",
        Outcome::Responded => "responded",
        Outcome::Failed => "failed",
        Outcome::Indeterminate => "indeterminate",
        Outcome::Inadequate => "inadequate",
        Outcome::Ongoing => "ongoing",
    }
}

fn augmentation_outcome(o: AugmentationOutcome) -> &'static str {
    match o {
        AugmentationOutcome::Responded => "responded",
        AugmentationOutcome::Failed => "failed",
        AugmentationOutcome::Inadequate => "inadequate",
        AugmentationOutcome::Ongoing => "ongoing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_narrow_widths() {
        let lines = wrap(
            "Sertraline (SSRI) · 50–200 mg/day · failed after twelve weeks",
            200.0,
            12.0,
        );
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|l| text_width(l, 12.0) <= 200.0 || !l.contains(' '))
        );
    }

    #[test]
    fn doses_keep_small_values() {
        assert_eq!(dose_text(0.025), "0.025");
        assert_eq!(dose_text(150.0), "150");
        assert_eq!(dose_text(37.5), "37.5");
    }
}
