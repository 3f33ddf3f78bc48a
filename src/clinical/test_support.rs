//! Builders for hand-made patient records (tests only).

use std::sync::OnceLock;

use time::Date;

use crate::dates::parse_day;
use crate::fhir::record::{
    ClinicalStatus, ConditionFact, Exposure, MatchedBy, PatientRecord, ProcedureFact, ScoreFact,
    SourceKind,
};
use crate::knowledge::{
    Code, ConditionCategory, KnowledgeBase, ObservationKind, ProcedureKind, systems,
};

use super::model::{Assessment, SiteConfig};

pub fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::embedded().expect("embedded knowledge base"))
}

/// `"2025-01-01"` → Date.
pub fn d(s: &str) -> Date {
    parse_day(s).unwrap_or_else(|| panic!("bad test date {s}"))
}

/// `d(s) + n` days.
pub fn dp(s: &str, n: i64) -> Date {
    crate::dates::add_days(d(s), n)
}

pub fn min_dose(ing: &str) -> f64 {
    kb().ingredient(ing)
        .and_then(|i| i.min_adequate_mg_day)
        .expect("min dose")
}

pub fn opt_dose(ing: &str) -> f64 {
    kb().ingredient(ing)
        .and_then(|i| i.optimised_mg_day)
        .expect("optimised dose")
}

#[derive(Default)]
pub struct Rec {
    pub r: PatientRecord,
    n: usize,
}

pub fn rec() -> Rec {
    let mut r = Rec::default();
    r.r.patient = Some("Patient/p1".into());
    r
}

impl Rec {
    fn next(&mut self) -> usize {
        self.n += 1;
        self.n
    }

    /// A MedicationStatement: `completed` when it has an end, else `active`.
    pub fn ms(
        &mut self,
        ing: &str,
        start: Date,
        end: Option<Date>,
        dose: Option<f64>,
    ) -> &mut Exposure {
        let n = self.next();
        self.r.exposures.push(Exposure {
            ingredient: ing.into(),
            start,
            end,
            daily_dose_mg: dose,
            source: format!("MedicationStatement/ms{n}"),
            kind: SourceKind::MedicationStatement,
            status: if end.is_some() { "completed" } else { "active" }.into(),
            adverse_stop: false,
            matched_by: MatchedBy::RxnormIngredient,
            assumptions: Vec::new(),
        });
        self.r.exposures.last_mut().expect("pushed")
    }

    /// A completed MedicationDispense of `days` days.
    pub fn disp(&mut self, ing: &str, start: Date, days: i64, dose: Option<f64>) -> &mut Exposure {
        let n = self.next();
        self.r.exposures.push(Exposure {
            ingredient: ing.into(),
            start,
            end: Some(crate::dates::add_days(start, days)),
            daily_dose_mg: dose,
            source: format!("MedicationDispense/md{n}"),
            kind: SourceKind::MedicationDispense,
            status: "completed".into(),
            adverse_stop: false,
            matched_by: MatchedBy::RxnormProduct,
            assumptions: Vec::new(),
        });
        self.r.exposures.last_mut().expect("pushed")
    }

    pub fn cond(&mut self, cats: &[ConditionCategory], onset: Option<Date>) -> &mut ConditionFact {
        let n = self.next();
        self.r.conditions.push(ConditionFact {
            reference: format!("Condition/c{n}"),
            codes: Vec::new(),
            categories: cats.iter().copied().collect(),
            clinical_status: ClinicalStatus::Active,
            refuted: false,
            onset,
        });
        self.r.conditions.last_mut().expect("pushed")
    }

    /// An active MDD condition with an ICD-10-CM code (no dot), e.g. `"F331"`.
    pub fn mdd(&mut self, onset: &str, icd: &str) -> &mut ConditionFact {
        let c = self.cond(&[ConditionCategory::Mdd], Some(d(onset)));
        c.codes.push(Code {
            system: systems::ICD10CM.into(),
            code: icd.into(),
        });
        c
    }

    pub fn score(&mut self, kind: ObservationKind, date: Date, value: i64) -> &mut ScoreFact {
        let n = self.next();
        let order = self.r.scores.len();
        self.r.scores.push(ScoreFact {
            reference: format!("Observation/o{n}"),
            kind,
            date,
            value,
            issued: None,
            order,
        });
        self.r.scores.last_mut().expect("pushed")
    }

    pub fn phq9(&mut self, date: Date, value: i64) -> &mut ScoreFact {
        self.score(ObservationKind::Phq9Total, date, value)
    }

    pub fn item9(&mut self, date: Date, value: i64) -> &mut ScoreFact {
        self.score(ObservationKind::Phq9Item9, date, value)
    }

    pub fn procedure(&mut self, kind: ProcedureKind, date: Date) -> &mut ProcedureFact {
        let n = self.next();
        self.r.procedures.push(ProcedureFact {
            reference: format!("Procedure/pr{n}"),
            kind,
            date,
        });
        self.r.procedures.last_mut().expect("pushed")
    }

    pub fn assess(&self, as_of: &str) -> Assessment {
        super::assess(&self.r, kb(), &SiteConfig::default(), d(as_of))
    }

    pub fn assess_site(&self, as_of: &str, site: SiteConfig) -> Assessment {
        super::assess(&self.r, kb(), &site, d(as_of))
    }
}

/// A patient with an active MDD episode from 2024-01-01 and two failed adequate SSRI/SNRI trials
/// (sertraline 100 mg, venlafaxine 225 mg, 10 weeks each, PHQ-9 20 → 18), assessed at 2025-01-01.
pub fn met_patient() -> Rec {
    let mut r = rec();
    r.mdd("2024-01-01", "F332");
    r.ms(
        "sertraline",
        d("2024-02-01"),
        Some(dp("2024-02-01", 70)),
        Some(100.0),
    );
    r.phq9(d("2024-02-01"), 20);
    r.phq9(dp("2024-02-01", 60), 19);
    r.ms(
        "venlafaxine",
        d("2024-06-01"),
        Some(dp("2024-06-01", 70)),
        Some(225.0),
    );
    r.phq9(d("2024-06-01"), 20);
    r.phq9(dp("2024-06-01", 60), 18);
    r
}

/// Two trials in an MDD episode: sertraline failed (measured, adequate), venlafaxine at an
/// unknown dose (indeterminate): status `possible`.
pub fn possible_patient() -> Rec {
    let mut r = rec();
    r.mdd("2024-01-01", "F332");
    r.ms(
        "sertraline",
        d("2024-02-01"),
        Some(dp("2024-02-01", 70)),
        Some(100.0),
    );
    r.ms(
        "venlafaxine",
        d("2024-06-01"),
        Some(dp("2024-06-01", 70)),
        None,
    );
    r
}

pub fn trial<'a>(a: &'a Assessment, ing: &str) -> &'a super::model::Trial {
    a.trials
        .iter()
        .find(|t| t.ingredient == ing)
        .unwrap_or_else(|| panic!("no {ing} trial in {:?}", a.trials))
}

pub fn flag_codes(a: &Assessment) -> Vec<super::model::FlagCode> {
    a.flags.iter().map(|f| f.code).collect()
}

pub fn rec_codes(a: &Assessment) -> Vec<super::model::RecommendationCode> {
    a.recommendations.iter().map(|r| r.code).collect()
}
