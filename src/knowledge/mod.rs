//! The knowledge base: drugs, products, code sets, rule parameters and staging tables, loaded from
//! `knowledge/` and validated once at start-up. Lookups are by code; the engine never sees files.

pub mod model;

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
}

impl KnowledgeBase {
    /// The knowledge base compiled into the binary (`include_str!` of the files under `knowledge/`).
    pub fn embedded() -> Result<KnowledgeBase, KbError> {
        todo!("knowledge helper")
    }
    /// Load from a directory laid out like `knowledge/` (for `TRD_CDS_KNOWLEDGE_DIR`).
    pub fn load_dir(_dir: &std::path::Path) -> Result<KnowledgeBase, KbError> {
        todo!("knowledge helper")
    }
    /// Version string, e.g. `"2026.1"`.
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn staging(&self) -> &StagingTables {
        &self.staging
    }
    /// Ingredient by id (`"sertraline"`).
    pub fn ingredient(&self, _id: &str) -> Option<&Ingredient> {
        todo!("knowledge helper")
    }
    /// All ingredients, in file order.
    pub fn ingredients(&self) -> &[Ingredient] {
        todo!("knowledge helper")
    }
    /// Ingredient by RxNorm ingredient RxCUI (rule 1 of §1).
    pub fn ingredient_by_rxcui(&self, _rxcui: &str) -> Option<&Ingredient> {
        todo!("knowledge helper")
    }
    /// Product by RxNorm RxCUI (rule 2 of §1).
    pub fn product_by_rxcui(&self, _rxcui: &str) -> Option<&Product> {
        todo!("knowledge helper")
    }
    /// Ingredient by ATC code (rule 3 of §1).
    pub fn ingredient_by_atc(&self, _atc: &str) -> Option<&Ingredient> {
        todo!("knowledge helper")
    }
    /// Ingredients whose name or brand occurs in `text` as a whole word, case-insensitive (rule 4 of §1).
    pub fn ingredients_in_text(&self, _text: &str) -> Vec<&Ingredient> {
        todo!("knowledge helper")
    }
    /// Categories of a condition code (system URI + code; ICD-10-CM with or without the dot).
    /// Empty when the code is not in any set.
    pub fn condition_categories(&self, _system: &str, _code: &str) -> Categories {
        todo!("knowledge helper")
    }
    /// What an Observation code is to the rules (PHQ-9 total / item 9), if anything.
    pub fn observation_kind(&self, _system: &str, _code: &str) -> Option<ObservationKind> {
        todo!("knowledge helper")
    }
    /// What a Procedure code is to the rules (ECT / TMS / esketamine), if anything.
    pub fn procedure_kind(&self, _system: &str, _code: &str) -> Option<ProcedureKind> {
        todo!("knowledge helper")
    }
    /// Is this SNOMED/text statusReason an adverse-effect reason (§5 rule 1)?
    pub fn is_adverse_reason(&self, _system: Option<&str>, _code: Option<&str>, _text: Option<&str>) -> bool {
        todo!("knowledge helper")
    }
}
