//! Code-system identification and allocation-free code tables.

use std::collections::HashMap;

use super::model::{Categories, systems};

/// The code systems the knowledge base knows, resolved from a FHIR `system` URI without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Sys {
    Rxnorm,
    Icd10cm,
    Snomed,
    Loinc,
    Cpt,
    Hcpcs,
    Atc,
}

impl Sys {
    pub(crate) const COUNT: usize = 7;

    /// The canonical URI (clinical-rules §1) or the HL7 OID form of the same system.
    pub(crate) fn parse(uri: &str) -> Option<Sys> {
        let uri = uri.trim();
        Some(match uri {
            systems::RXNORM | "urn:oid:2.16.840.1.113883.6.88" => Sys::Rxnorm,
            systems::ICD10CM | "urn:oid:2.16.840.1.113883.6.90" => Sys::Icd10cm,
            systems::SNOMED | "urn:oid:2.16.840.1.113883.6.96" => Sys::Snomed,
            systems::LOINC | "urn:oid:2.16.840.1.113883.6.1" => Sys::Loinc,
            systems::CPT | "urn:oid:2.16.840.1.113883.6.12" => Sys::Cpt,
            systems::HCPCS | systems::HCPCS_HTTPS | "urn:oid:2.16.840.1.113883.6.285" => Sys::Hcpcs,
            systems::ATC | "urn:oid:2.16.840.1.113883.6.73" => Sys::Atc,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest ICD-10-CM code handled (codes are at most 8 characters; generous margin).
const ICD_MAX: usize = 16;

/// ICD-10-CM normal form: dot removed, ASCII upper case, surrounding whitespace trimmed. Writes into `buf`
/// and returns the normalised code, or `None` when the code is too long to be ICD-10-CM.
pub(crate) fn normalise_icd<'b>(code: &str, buf: &'b mut [u8; ICD_MAX]) -> Option<&'b str> {
    let mut n = 0;
    for b in code.trim().bytes() {
        if b == b'.' {
            continue;
        }
        if n == ICD_MAX {
            return None;
        }
        buf[n] = b.to_ascii_uppercase();
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// Owned normal form of a code for building tables.
pub(crate) fn normalise_owned(sys: Sys, code: &str) -> String {
    match sys {
        Sys::Icd10cm => code.trim().replace('.', "").to_ascii_uppercase(),
        _ => code.trim().to_string(),
    }
}

/// A code → value table per code system.
#[derive(Debug)]
pub(crate) struct CodeTable<T> {
    maps: [HashMap<String, T>; Sys::COUNT],
}

impl<T> Default for CodeTable<T> {
    fn default() -> Self {
        CodeTable {
            maps: std::array::from_fn(|_| HashMap::new()),
        }
    }
}

impl<T> CodeTable<T> {
    /// Insert a code (normalised here); returns the previous value, if any.
    pub(crate) fn insert(&mut self, sys: Sys, code: &str, value: T) -> Option<T> {
        self.maps[sys.index()].insert(normalise_owned(sys, code), value)
    }

    pub(crate) fn get_mut(&mut self, sys: Sys, code: &str) -> Option<&mut T> {
        let key = normalise_owned(sys, code);
        self.maps[sys.index()].get_mut(&key)
    }

    /// Look a code up by system URI; ICD-10-CM codes match with or without the dot.
    pub(crate) fn get(&self, system: &str, code: &str) -> Option<&T> {
        let sys = Sys::parse(system)?;
        self.get_sys(sys, code)
    }

    pub(crate) fn get_sys(&self, sys: Sys, code: &str) -> Option<&T> {
        let map = &self.maps[sys.index()];
        if sys == Sys::Icd10cm {
            let mut buf = [0u8; ICD_MAX];
            map.get(normalise_icd(code, &mut buf)?)
        } else {
            map.get(code.trim())
        }
    }
}

/// Condition categories by code: exact codes in every system, plus ICD-10-CM prefixes.
#[derive(Debug, Default)]
pub(crate) struct ConditionIndex {
    pub(crate) exact: CodeTable<Categories>,
    /// Normalised ICD-10-CM prefix → categories.
    pub(crate) icd_prefixes: HashMap<String, Categories>,
    pub(crate) max_prefix_len: usize,
}

impl ConditionIndex {
    pub(crate) fn add_exact(&mut self, sys: Sys, code: &str, categories: &Categories) {
        match self.exact.get_mut(sys, code) {
            Some(existing) => existing.extend(categories.iter().copied()),
            None => {
                self.exact.insert(sys, code, categories.clone());
            }
        }
    }

    pub(crate) fn add_icd_prefix(&mut self, prefix: &str, categories: &Categories) {
        let key = normalise_owned(Sys::Icd10cm, prefix);
        self.max_prefix_len = self.max_prefix_len.max(key.len());
        self.icd_prefixes
            .entry(key)
            .or_default()
            .extend(categories.iter().copied());
    }

    /// Union of the categories of the exact code and of every prefix entry it starts with.
    pub(crate) fn lookup(&self, system: &str, code: &str) -> Categories {
        let Some(sys) = Sys::parse(system) else {
            return Categories::new();
        };
        if sys != Sys::Icd10cm {
            return self.exact.get_sys(sys, code).cloned().unwrap_or_default();
        }
        let mut buf = [0u8; ICD_MAX];
        let Some(norm) = normalise_icd(code, &mut buf) else {
            return Categories::new();
        };
        let mut out = self
            .exact
            .get_sys(Sys::Icd10cm, norm)
            .cloned()
            .unwrap_or_default();
        if !self.icd_prefixes.is_empty() {
            // Normalised ICD-10-CM codes are ASCII, so every byte index is a char boundary.
            for len in (1..=norm.len().min(self.max_prefix_len)).rev() {
                if let Some(cats) = norm.get(..len).and_then(|p| self.icd_prefixes.get(p)) {
                    out.extend(cats.iter().copied());
                }
            }
        }
        out
    }
}
