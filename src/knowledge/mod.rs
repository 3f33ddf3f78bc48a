//! The knowledge base: drugs, products, code sets, rule parameters and staging tables, loaded from
//! `knowledge/` and validated once at start-up. Lookups are by code; the engine never sees files.

pub mod cards;
mod codes;
mod load;
pub mod model;
mod text_match;

#[cfg(test)]
mod tests;

pub use load::KnowledgeSources;
pub use model::*;

/// Error loading or validating the knowledge base. The message names the file, the row and the problem.
#[derive(Debug, thiserror::Error)]
#[error("knowledge base: {0}")]
pub struct KbError(pub String);

/// The loaded, validated knowledge base. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct KnowledgeBase {
    // Fields are private to this module; see the lookup methods.
    pub(crate) version: String,
    pub(crate) params: Params,
    pub(crate) staging: StagingTables,
    cards: cards::CardKnowledge,
    idx: load::Index,
}

impl KnowledgeBase {
    /// The file names a knowledge directory must contain.
    pub const FILES: [&'static str; 9] = [
        load::MANIFEST,
        load::DRUGS,
        load::PARAMETERS,
        load::STAGING,
        load::CODES,
        load::CONDITIONS,
        load::PROCEDURES,
        load::PRODUCTS,
        load::CARDS,
    ];

    /// The knowledge base compiled into the binary (`include_str!` of the files under `knowledge/`).
    pub fn embedded() -> Result<KnowledgeBase, KbError> {
        Self::from_sources(&KnowledgeSources::embedded())
    }

    /// Load from a directory laid out like `knowledge/` (for `TRD_CDS_KNOWLEDGE_DIR`).
    pub fn load_dir(dir: &std::path::Path) -> Result<KnowledgeBase, KbError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| KbError(format!("{}: {e}", path.display())))
        };
        let texts: Vec<String> = Self::FILES
            .iter()
            .map(|f| read(f))
            .collect::<Result<_, _>>()?;
        Self::from_sources(&KnowledgeSources {
            manifest: &texts[0],
            drugs: &texts[1],
            parameters: &texts[2],
            staging: &texts[3],
            codes: &texts[4],
            conditions: &texts[5],
            procedures: &texts[6],
            products: &texts[7],
            cards: &texts[8],
        })
    }

    /// Parse and validate the knowledge files (the single path behind [`Self::embedded`] and [`Self::load_dir`]).
    pub fn from_sources(sources: &KnowledgeSources<'_>) -> Result<KnowledgeBase, KbError> {
        load::build(sources)
    }

    /// Version string, e.g. `"2026.1"`.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// RxNorm release of the product table, e.g. `"2024-01"`.
    pub fn rxnorm_release(&self) -> &str {
        &self.idx.rxnorm_release
    }
    /// Review status of the knowledge base as a whole (`"unreviewed"` until clinical sign-off).
    pub fn review_status(&self) -> &str {
        &self.idx.review_status
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn staging(&self) -> &StagingTables {
        &self.staging
    }
    /// What the cards need beyond the rules: next-step order, guideline links, referral codes.
    pub fn cards(&self) -> &cards::CardKnowledge {
        &self.cards
    }
    /// Ingredient by id (`"sertraline"`).
    pub fn ingredient(&self, id: &str) -> Option<&Ingredient> {
        self.idx.by_id.get(id).map(|&i| &self.idx.ingredients[i])
    }
    /// All ingredients, in file order.
    pub fn ingredients(&self) -> &[Ingredient] {
        &self.idx.ingredients
    }
    /// Ingredient by RxNorm ingredient RxCUI (rule 1 of §1). Also accepts the extra RxCUIs of a row
    /// (lithium carbonate 42351, lithium citrate 52105 → lithium).
    pub fn ingredient_by_rxcui(&self, rxcui: &str) -> Option<&Ingredient> {
        self.idx
            .by_rxcui
            .get(rxcui.trim())
            .map(|&i| &self.idx.ingredients[i])
    }
    /// Product by RxNorm RxCUI (rule 2 of §1).
    pub fn product_by_rxcui(&self, rxcui: &str) -> Option<&Product> {
        self.idx.products.get(rxcui.trim())
    }
    /// Number of products in the product table.
    pub fn product_count(&self) -> usize {
        self.idx.products.len()
    }
    /// Ingredient by ATC code (rule 3 of §1).
    pub fn ingredient_by_atc(&self, atc: &str) -> Option<&Ingredient> {
        let atc = atc.trim();
        let i = match self.idx.by_atc.get(atc) {
            Some(i) => Some(i),
            None if atc.bytes().any(|b| b.is_ascii_lowercase()) => {
                self.idx.by_atc.get(&atc.to_ascii_uppercase())
            }
            None => None,
        };
        i.map(|&i| &self.idx.ingredients[i])
    }
    /// Ingredients whose name or brand occurs in `text` as a whole word, case-insensitive (rule 4 of §1).
    /// In order of first occurrence in the text.
    pub fn ingredients_in_text(&self, text: &str) -> Vec<&Ingredient> {
        self.idx
            .text
            .find(text)
            .found
            .into_iter()
            .map(|i| &self.idx.ingredients[i])
            .collect()
    }
    /// Ingredients whose name or brand occurs in `text` but whose match a veto dropped
    /// (`text_exclude` / `text_require` in `drugs.toml`): "Emsam … tablet" names the transdermal
    /// selegiline and an oral form at once. The reader reports them (clinical-rules §1: never silent).
    pub fn vetoed_in_text(&self, text: &str) -> Vec<&Ingredient> {
        self.idx
            .text
            .find(text)
            .vetoed
            .into_iter()
            .map(|i| &self.idx.ingredients[i])
            .collect()
    }
    /// Categories of a condition code (system URI + code; ICD-10-CM with or without the dot).
    /// Empty when the code is not in any set.
    pub fn condition_categories(&self, system: &str, code: &str) -> Categories {
        self.idx.conditions.lookup(system, code)
    }
    /// What an Observation code is to the rules (PHQ-9 total / item 9), if anything.
    pub fn observation_kind(&self, system: &str, code: &str) -> Option<ObservationKind> {
        self.idx.observations.get(system, code).copied()
    }
    /// Score of a coded PHQ answer (LOINC LA6568-5 = 0 … LA6571-9 = 3), if known.
    pub fn answer_score(&self, system: &str, code: &str) -> Option<i64> {
        self.idx.answers.get(system, code).copied()
    }
    /// What a Procedure code is to the rules (ECT / TMS / esketamine / psychotherapy), if anything.
    pub fn procedure_kind(&self, system: &str, code: &str) -> Option<ProcedureKind> {
        self.idx.procedures.get(system, code).copied()
    }
    /// The codes of a procedure kind, in `codes.toml` order (the first is the preferred code for referrals).
    pub fn procedure_codes(&self, kind: ProcedureKind) -> &[Code] {
        self.idx
            .procedure_codes
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    /// Is this SNOMED/text statusReason an adverse-effect reason (§5 rule 1)? A code matches when its system
    /// is SNOMED CT (or absent); text matches when it contains a fragment ("adverse", "side effect",
    /// "intoler", ...) case-insensitively.
    pub fn is_adverse_reason(
        &self,
        system: Option<&str>,
        code: Option<&str>,
        text: Option<&str>,
    ) -> bool {
        if let Some(code) = code {
            let hit = match system {
                Some(s) => self.idx.adverse_codes.get(s, code).is_some(),
                None => self
                    .idx
                    .adverse_codes
                    .get(model::systems::SNOMED, code)
                    .is_some(),
            };
            if hit {
                return true;
            }
        }
        text.is_some_and(|t| {
            let t = t.as_bytes();
            self.idx.adverse_fragments.iter().any(|f| {
                let f = f.as_bytes();
                !f.is_empty()
                    && t.len() >= f.len()
                    && t.windows(f.len()).any(|w| w.eq_ignore_ascii_case(f))
            })
        })
    }
}
