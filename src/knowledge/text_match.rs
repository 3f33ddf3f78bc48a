//! Whole-word, case-insensitive matching of ingredient names and brands in medication text
//! (clinical-rules §1 rule 4).
//!
//! Text is split into tokens: maximal runs of letters, or of digits (so `"Sertraline100MG"` gives
//! `sertraline`, `100`, `mg`); everything else separates tokens. A name matches when its token sequence occurs
//! in the text's token sequence, so `"amitriptylinex"` never matches `amitriptyline` and multi-word names
//! (`"valproic acid"`) match across any separator.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alpha,
    Digit,
}

fn kind(c: char) -> Option<Kind> {
    if c.is_alphabetic() {
        Some(Kind::Alpha)
    } else if c.is_numeric() {
        Some(Kind::Digit)
    } else {
        None
    }
}

/// Token slices of `text` (which should already be lower case).
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let mut start: Option<(usize, Kind)> = None;
    let mut iter = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (i, c) in iter.by_ref() {
            let k = kind(c);
            match (start, k) {
                (Some((_, sk)), Some(k2)) if sk == k2 => {}
                (Some((s, _)), k2) => {
                    start = k2.map(|k2| (i, k2));
                    return Some(&text[s..i]);
                }
                (None, Some(k2)) => start = Some((i, k2)),
                (None, None) => {}
            }
        }
        None
    })
}

/// Lower-cased token list of a name, for building the index.
pub(crate) fn name_tokens(name: &str) -> Vec<String> {
    let lower = name.to_lowercase();
    tokens(&lower).map(str::to_string).collect()
}

/// Index of names: first token → (remaining tokens, ingredient index).
#[derive(Debug, Default)]
pub(crate) struct TextIndex {
    first: HashMap<String, Vec<(Vec<String>, usize)>>,
    /// Per ingredient: words that veto a text match when present anywhere in the same text.
    exclude: HashMap<usize, Vec<String>>,
    /// Per ingredient: words of which one must be present in the text for a match.
    require: HashMap<usize, Vec<String>>,
}

/// The ingredients a text names: those kept, and those whose name occurs but a veto dropped
/// (an excluded word present, or no required word), each in order of first occurrence.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TextMatch {
    pub(crate) found: Vec<usize>,
    pub(crate) vetoed: Vec<usize>,
}

impl TextIndex {
    pub(crate) fn add_name(&mut self, name: &str, ingredient: usize) {
        let mut toks = name_tokens(name);
        if toks.is_empty() {
            return;
        }
        let first = toks.remove(0);
        let entries = self.first.entry(first).or_default();
        if !entries
            .iter()
            .any(|(rest, i)| *i == ingredient && *rest == toks)
        {
            entries.push((toks, ingredient));
        }
    }

    pub(crate) fn add_exclusion(&mut self, ingredient: usize, word: &str) {
        self.exclude
            .entry(ingredient)
            .or_default()
            .extend(name_tokens(word));
    }

    pub(crate) fn add_requirement(&mut self, ingredient: usize, word: &str) {
        self.require
            .entry(ingredient)
            .or_default()
            .extend(name_tokens(word));
    }

    /// Ingredient indices named in `text`, in order of first occurrence, without duplicates.
    pub(crate) fn find(&self, text: &str) -> TextMatch {
        let lower = text.to_lowercase();
        let toks: Vec<&str> = tokens(&lower).collect();
        let mut found: Vec<usize> = Vec::new();
        for (pos, tok) in toks.iter().enumerate() {
            let Some(entries) = self.first.get(*tok) else {
                continue;
            };
            for (rest, ingredient) in entries {
                if found.contains(ingredient) {
                    continue;
                }
                let tail = &toks[pos + 1..];
                if tail.len() >= rest.len() && rest.iter().zip(tail).all(|(a, b)| a == b) {
                    found.push(*ingredient);
                }
            }
        }
        let present = |words: &Vec<String>| toks.iter().any(|t| words.iter().any(|w| w == t));
        let (kept, vetoed) = found.into_iter().partition(|i| {
            self.exclude.get(i).is_none_or(|w| !present(w))
                && self.require.get(i).is_none_or(present)
        });
        TextMatch {
            found: kept,
            vetoed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenises_letters_and_digits_apart() {
        let t: Vec<&str> = tokens("sertraline100mg / zoloft 50 mg-oral").collect();
        assert_eq!(t, ["sertraline", "100", "mg", "zoloft", "50", "mg", "oral"]);
        assert_eq!(tokens("").count(), 0);
        assert_eq!(tokens("  --  ").count(), 0);
        let t: Vec<&str> = tokens("é1x").collect();
        assert_eq!(t, ["é", "1", "x"]);
    }

    #[test]
    fn multi_word_and_whole_word() {
        let mut idx = TextIndex::default();
        idx.add_name("valproic acid", 0);
        idx.add_name("Amitriptyline", 1);
        assert_eq!(idx.find("Valproic-Acid 250 mg").found, vec![0]);
        assert!(idx.find("valproic 250 mg").found.is_empty());
        assert!(idx.find("amitriptylinex").found.is_empty());
        assert_eq!(
            idx.find("AMITRIPTYLINE 25MG and valproic acid").found,
            vec![1, 0]
        );
    }

    #[test]
    fn vetoes_are_reported() {
        let mut idx = TextIndex::default();
        idx.add_name("selegiline", 0);
        idx.add_name("Emsam", 0);
        idx.add_exclusion(0, "tablet");
        idx.add_name("selegiline", 1);
        idx.add_requirement(1, "tablet");
        idx.add_exclusion(1, "emsam");
        let m = idx.find("selegiline 5 mg tablet");
        assert_eq!((m.found, m.vetoed), (vec![1], vec![0]));
        let m = idx.find("Selegiline 6 mg/24 h patch");
        assert_eq!((m.found, m.vetoed), (vec![0], vec![1]));
        let m = idx.find("Emsam 6 mg tablet");
        assert_eq!((m.found, m.vetoed), (vec![], vec![0]));
    }
}
