//! A minimal SVG writer: elements with escaped attributes and text, written in order into one
//! string (deterministic output for golden files).
//!
//! Why not a crate: `plotters`' SVG backend (measured: +3.8 s cold build, 4 crates) writes only
//! its fixed tags (no `<g>`, `<title>`, `<desc>`, `<pattern>`) and no attributes of ours (`id`,
//! `data-*`, `role`, `aria-*`), which accessibility and the tests need; the `svg` crate (0.18)
//! does not escape `"` in attribute values, so a FHIR display text could break the document. What
//! remains is escaping and nesting, below.

use std::fmt::Write;

/// An element being built: its name and its attributes, already escaped.
pub struct El {
    name: &'static str,
    attrs: String,
}

impl El {
    pub fn new(name: &'static str) -> El {
        El {
            name,
            attrs: String::new(),
        }
    }

    /// A text attribute (escaped).
    pub fn attr(mut self, key: &str, value: &str) -> El {
        self.attrs.push(' ');
        self.attrs.push_str(key);
        self.attrs.push_str("=\"");
        escape_into(&mut self.attrs, value);
        self.attrs.push('"');
        self
    }

    /// A numeric attribute, written with at most 2 decimals.
    pub fn num(self, key: &str, value: f64) -> El {
        let v = num(value);
        self.attr(key, &v)
    }
}

/// The document being written.
#[derive(Default)]
pub struct Svg {
    out: String,
    open: Vec<&'static str>,
}

impl Svg {
    /// An element without children.
    pub fn leaf(&mut self, el: El) {
        let _ = writeln!(self.out, "<{}{}/>", el.name, el.attrs);
    }

    /// An element holding only text (escaped).
    pub fn text(&mut self, el: El, text: &str) {
        let _ = write!(self.out, "<{}{}>", el.name, el.attrs);
        escape_into(&mut self.out, text);
        let _ = writeln!(self.out, "</{}>", el.name);
    }

    /// Open an element; [`Svg::close`] closes it.
    pub fn open(&mut self, el: El) {
        let _ = writeln!(self.out, "<{}{}>", el.name, el.attrs);
        self.open.push(el.name);
    }

    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            let _ = writeln!(self.out, "</{name}>");
        }
    }

    /// The document so far, every open element closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// `value` with the five XML special characters escaped, and control characters (not allowed in
/// XML 1.0) replaced.
pub fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A number with at most 2 decimals and no trailing zeros (`12`, `12.5`, `0.25`).
pub fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_text_are_escaped() {
        let mut s = Svg::default();
        s.text(
            El::new("text").attr("data-x", "a\"b<c>&'d"),
            "x < y & \u{1}",
        );
        assert_eq!(
            s.finish(),
            "<text data-x=\"a&quot;b&lt;c&gt;&amp;&apos;d\">x &lt; y &amp; \u{FFFD}</text>\n"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(0.126), "0.13");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }
}
