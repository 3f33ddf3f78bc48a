//! A generator of realistically messy patient histories, as FHIR R4 Bundles.
//!
//! A history is a header (Patient, MDD and other Conditions) plus a list of *elements*, each a
//! clinical episode of care drawn from its own seed: a single antidepressant trial with
//! titration, a cross-taper switch, a combination, a three-drug overlap, an augmentation
//! (lithium, an antipsychotic, liothyronine, ...), an MAOI after a serotonergic drug, a course of
//! ECT / TMS / psychotherapy / esketamine, loose PHQ-9 scores, a malformed resource, or a ladder of
//! failed adequate trials across classes (SSRI → SNRI → TCA → MAOI, then ECT) that reaches the top stages. Each drug
//! course is written the way EHRs write it: MedicationStatements with a period, reconciled
//! start-only statements, MedicationRequests (boundsPeriod, expectedSupplyDuration × repeats,
//! several dosage entries), or dispense chains with gaps and early refills; the drug is named by
//! an RxNorm ingredient, an RxNorm product (dose in tablets), a contained or bundled Medication
//! (strength only there), free text (brand names, multi-byte characters) or ATC; doses are mg,
//! µg, tablets, ranges, BID codes, or text only. A small rate of values is malformed (bad dates,
//! negative doses, unknown units).
//!
//! Every drug, product and condition code comes from `knowledge/` (the embedded knowledge base,
//! `products.json`, `conditions.json`), and doses are placed relative to the knowledge base's
//! thresholds (below minimum, at minimum, optimised), so histories hit the real rules.
//!
//! Proptest shrinks the element list (fewer elements) and the seeds; rendering is deterministic.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::{Date, Duration};
use trd_cds::knowledge::{DrugRole, KnowledgeBase};

/// The fixed evaluation date of every generated history (the properties shift it explicitly).
pub const AS_OF: Date = time::macros::date!(2026 - 01 - 01);

pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
pub const ATC: &str = "http://www.whocc.no/atc";
pub const HCPCS: &str = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";

/// Deterministic SplitMix64: a seed renders to the same resources on every run and platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    /// Index by weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = (self.next() % total as u64) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue: what the knowledge base knows, in the shapes the generator needs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Drug {
    pub id: String,
    pub display: String,
    pub rxcui: Option<String>,
    pub atc: Vec<String>,
    pub brands: Vec<String>,
    /// Clinical class as the knowledge base writes it (`SSRI`, `TCA`, `MAOI`, ...).
    pub class: &'static str,
    /// mg/day: the minimum adequate (antidepressant) or adjunct (augmentation) dose.
    pub min_mg: f64,
    pub opt_mg: f64,
    /// Oral single-ingredient products: (rxcui, display, mg per unit).
    pub products: Vec<(String, String, f64)>,
}

#[derive(Debug)]
pub struct Catalog {
    pub antidepressants: Vec<Drug>,
    pub agents: Vec<Drug>,
    pub maois: Vec<Drug>,
    pub serotonergic: Vec<Drug>,
    pub esketamine: Option<Drug>,
    /// Condition category → (system, code) from conditions.json and the hand-written codes.
    pub snomed_by_category: BTreeMap<String, Vec<String>>,
    /// SNOMED CT psychotherapy codes of the value set Psych Visit Psychotherapy
    /// (2.16.840.1.113883.3.526.3.1496) in `knowledge/valuesets/`.
    pub psychotherapy_snomed: Vec<String>,
}

/// Psych Visit Psychotherapy (VSAC), the psychotherapy codes of `prior-psychotherapy`.
const PSYCHOTHERAPY_VALUE_SET: &str = "valuesets/valueset-2.16.840.1.113883.3.526.3.1496.json";

fn read_knowledge(file: &str) -> Value {
    let path = format!("{}/knowledge/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl Catalog {
    pub fn new(kb: &KnowledgeBase) -> Catalog {
        let products = read_knowledge("products.json");
        let mut by_ing: BTreeMap<String, Vec<(String, String, f64)>> = BTreeMap::new();
        for p in products["products"].as_array().expect("products") {
            let ings = p["ingredients"].as_array().expect("ingredients");
            let display = p["display"].as_str().unwrap_or_default();
            let oral = display.contains("Oral Tablet") || display.contains("Oral Capsule");
            if ings.len() != 1 || !oral || display.contains("/ML") {
                continue;
            }
            if let (Some(ing), Some(mg)) = (
                ings[0]["ingredient"].as_str(),
                ings[0]["strength_mg"].as_f64(),
            ) {
                by_ing.entry(ing.to_string()).or_default().push((
                    p["rxcui"].as_str().unwrap_or_default().to_string(),
                    display.to_string(),
                    mg,
                ));
            }
        }
        let drug = |i: &trd_cds::knowledge::Ingredient, min: f64| Drug {
            id: i.id.clone(),
            display: i.display.clone(),
            rxcui: i.rxcui.clone(),
            atc: i.atc.clone(),
            brands: i.brands.clone(),
            class: i.class.as_str(),
            min_mg: min,
            opt_mg: i.optimised_mg_day.unwrap_or(min * 2.0).max(min),
            products: by_ing.get(&i.id).cloned().unwrap_or_default(),
        };
        let mut cat = Catalog {
            antidepressants: Vec::new(),
            agents: Vec::new(),
            maois: Vec::new(),
            serotonergic: Vec::new(),
            esketamine: None,
            snomed_by_category: BTreeMap::new(),
            psychotherapy_snomed: Vec::new(),
        };
        for i in kb.ingredients() {
            if i.counts_as_procedure.is_some() {
                cat.esketamine = Some(drug(i, i.min_adequate_mg_day.unwrap_or(56.0)));
                continue;
            }
            match (i.role, i.min_adequate_mg_day, i.min_adjunct_mg_day) {
                (DrugRole::Antidepressant, Some(min), _) => {
                    let d = drug(i, min);
                    if i.maoi {
                        cat.maois.push(d.clone());
                    }
                    if i.serotonergic && !i.maoi {
                        cat.serotonergic.push(d.clone());
                    }
                    // Transdermal selegiline has its own dosing (mg/24 h): only in the MAOI element.
                    if i.id != "selegiline" {
                        cat.antidepressants.push(d);
                    }
                }
                (DrugRole::Augmentation, _, Some(min)) => cat.agents.push(drug(i, min)),
                _ => {}
            }
        }
        assert!(
            cat.antidepressants.len() > 20,
            "knowledge base: too few antidepressants"
        );
        assert!(
            cat.agents.len() > 5,
            "knowledge base: too few augmentation agents"
        );
        assert!(!cat.maois.is_empty(), "knowledge base: no MAOI");
        let conditions = read_knowledge("conditions.json");
        for c in conditions["codes"].as_array().expect("codes") {
            if c["system"].as_str() != Some(SNOMED) {
                continue;
            }
            for cat_name in c["categories"].as_array().into_iter().flatten() {
                cat.snomed_by_category
                    .entry(cat_name.as_str().unwrap_or_default().to_string())
                    .or_default()
                    .push(c["code"].as_str().unwrap_or_default().to_string());
            }
        }
        let psychotherapy = read_knowledge(PSYCHOTHERAPY_VALUE_SET);
        for c in psychotherapy["expansion"]["contains"]
            .as_array()
            .expect("expansion")
        {
            if c["system"].as_str() == Some(SNOMED) {
                cat.psychotherapy_snomed
                    .push(c["code"].as_str().unwrap_or_default().to_string());
            }
        }
        assert!(
            !cat.psychotherapy_snomed.is_empty(),
            "{PSYCHOTHERAPY_VALUE_SET}: no SNOMED code"
        );
        cat
    }

    fn snomed(&self, rng: &mut Rng, category: &str) -> Option<String> {
        self.snomed_by_category
            .get(category)
            .filter(|v| !v.is_empty())
            .map(|v| rng.pick(v).clone())
    }
}

// ---------------------------------------------------------------------------------------------
// The model a proptest case holds
// ---------------------------------------------------------------------------------------------

/// Element kinds, with their weights in a history.
pub const KINDS: &[(&str, u32)] = &[
    ("single-trial", 30),
    ("switch", 14),
    ("combination", 9),
    ("three-drug-overlap", 5),
    ("augmentation", 12),
    ("maoi-sequence", 5),
    ("procedures", 10),
    ("phq9-only", 5),
    ("malformed", 6),
    ("unrelated", 4),
    ("failed-trial-ladder", 6),
];

/// One generated patient: a header seed and the elements of its history.
#[derive(Debug, Clone)]
pub struct History {
    pub header: u64,
    pub elements: Vec<(usize, u64)>,
}

/// A rendered history: the Bundle and the patient id.
pub struct Rendered {
    pub bundle: Value,
    pub patient: String,
}

pub fn day(offset: i64) -> Date {
    AS_OF + Duration::days(offset)
}

fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Renders resources for one patient.
struct Writer<'c> {
    cat: &'c Catalog,
    patient: String,
    resources: Vec<Value>,
    /// Monotonic counter for `issued` instants (unique: same-day scores never tie on input order).
    issued_seq: i64,
    /// Malformed-value rate for this element.
    bad_rate: f64,
    /// Day of the header's MDD onset (relative to `as_of`), when it wrote one: the ladder fits a
    /// short recent episode to reach treatment step 4 (step 5 needs more than a year).
    mdd_onset: Option<i64>,
}

impl Writer<'_> {
    fn subject(&self) -> Value {
        json!({"reference": format!("Patient/{}", self.patient)})
    }

    /// A date as EHRs write it: a date, a dateTime with an offset, or UTC; `partial` allows
    /// year-month (and rarely year) precision.
    fn date(&self, rng: &mut Rng, offset: i64, partial: bool) -> Value {
        if rng.chance(self.bad_rate) {
            return json!(self.bad_date(rng, offset));
        }
        let d = day(offset);
        if partial && rng.chance(0.12) {
            return if rng.chance(0.85) {
                json!(format!("{:04}-{:02}", d.year(), u8::from(d.month())))
            } else {
                json!(format!("{:04}", d.year()))
            };
        }
        match rng.range(0, 9) {
            0 | 1 => json!(format!(
                "{}T{:02}:{:02}:00{}",
                ymd(d),
                rng.range(0, 23),
                rng.range(0, 59),
                rng.pick(&["-05:00", "+01:00", "-08:00", "+09:30"])
            )),
            2 => json!(format!("{}T{:02}:00:00Z", ymd(d), rng.range(0, 23))),
            _ => json!(ymd(d)),
        }
    }

    fn full_date(&self, rng: &mut Rng, offset: i64) -> Value {
        if rng.chance(self.bad_rate) {
            return json!(self.bad_date(rng, offset));
        }
        json!(ymd(day(offset)))
    }

    fn bad_date(&self, rng: &mut Rng, offset: i64) -> String {
        let d = day(offset);
        match rng.range(0, 6) {
            0 => format!("{:04}-02-30", d.year()),
            1 => format!("{:04}-13-{:02}", d.year(), d.day()),
            2 => format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day()),
            3 => format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year()),
            4 => format!("{}T25:00:00Z", ymd(d)),
            5 => format!("{:04}-{}-{}", d.year(), u8::from(d.month()), d.day()),
            _ => "yesterday — ½ day".to_string(),
        }
    }

    fn issued(&mut self, offset: i64) -> Value {
        self.issued_seq += 1;
        let secs = 8 * 3600 + self.issued_seq * 7;
        json!(format!(
            "{}T{:02}:{:02}:{:02}Z",
            ymd(day(offset)),
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        ))
    }

    fn push(&mut self, r: Value) {
        self.resources.push(r);
    }
}

// ---------------------------------------------------------------------------------------------
// Header: Patient and Conditions
// ---------------------------------------------------------------------------------------------

fn condition(w: &Writer<'_>, id: String, coding: Value, rng: &mut Rng, onset: i64) -> Value {
    let mut c = json!({
        "resourceType": "Condition",
        "id": id,
        "subject": w.subject(),
        "code": {"coding": [coding]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "problem-list-item"}]}],
    });
    match rng.range(0, 9) {
        0 => {}
        1 => c["clinicalStatus"] = clinical_status("recurrence"),
        2 => c["clinicalStatus"] = clinical_status("relapse"),
        _ => c["clinicalStatus"] = clinical_status("active"),
    }
    if rng.chance(0.8) {
        c["verificationStatus"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": if rng.chance(0.9) { "confirmed" } else { "provisional" }}]});
    }
    match rng.range(0, 9) {
        0 => c["recordedDate"] = w.date(rng, onset, false),
        1 => c["onsetPeriod"] = json!({"start": w.date(rng, onset, true)}),
        2 => {} // no onset at all: every trial counts
        _ => c["onsetDateTime"] = w.date(rng, onset, true),
    }
    if rng.chance(0.3) {
        let later = onset + rng.range(0, 60);
        c["recordedDate"] = w.date(rng, later, false);
    }
    c
}

fn clinical_status(code: &str) -> Value {
    json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": code}]})
}

fn icd(rng: &mut Rng, code: &str) -> Value {
    // ICD-10-CM with or without the dot, sometimes WHO ICD-10, sometimes lower case.
    let code = if rng.chance(0.25) {
        code.replace('.', "")
    } else {
        code.to_string()
    };
    let system = if rng.chance(0.1) {
        "http://hl7.org/fhir/sid/icd-10"
    } else {
        ICD10CM
    };
    let mut c = json!({"system": system, "code": code});
    if rng.chance(0.5) {
        c["display"] = json!(format!("{code} — diagnosis “as charted”"));
    }
    c
}

fn header(w: &mut Writer<'_>, seed: u64) {
    let mut rng = Rng::new(seed);
    let pid = w.patient.clone();
    let age_days = -365 * rng.range(19, 80);
    let birth = w.full_date(&mut rng, age_days);
    w.push(json!({
        "resourceType": "Patient", "id": pid,
        "name": [{"family": "Müller-Ødegård", "given": ["Zoë"]}],
        "birthDate": birth,
    }));
    // The MDD diagnosis (most patients), coded every way EHRs code it.
    // A quarter of episodes began within the last year (treatment step 4 needs ≤ 365 days).
    let mdd_onset = if rng.chance(0.25) {
        -rng.range(150, 360)
    } else {
        -rng.range(60, 2200)
    };
    if rng.chance(0.88) {
        w.mdd_onset = Some(mdd_onset);
        let coding = if rng.chance(0.7) {
            let code = rng.pick(&[
                "F32.0", "F32.1", "F32.2", "F32.3", "F32.9", "F32.A", "F33.0", "F33.1", "F33.1",
                "F33.2", "F33.2", "F33.3", "F33.9", "F32.89", "F33.8",
            ]);
            icd(&mut rng, code)
        } else {
            let code = w.cat.snomed(&mut rng, "mdd").expect("SNOMED MDD codes");
            json!({"system": SNOMED, "code": code})
        };
        let c = condition(w, format!("{pid}-mdd"), coding, &mut rng, mdd_onset);
        w.push(c);
        if rng.chance(0.15) {
            // An older episode, resolved, or a second active MDD entry from another source.
            let older = mdd_onset - rng.range(200, 1500);
            let mut c = condition(
                w,
                format!("{pid}-mdd-old"),
                icd(&mut rng, "F32.1"),
                &mut rng,
                older,
            );
            if rng.chance(0.6) {
                c["clinicalStatus"] = clinical_status("resolved");
            }
            w.push(c);
        }
    }
    if rng.chance(0.05) {
        let c = condition(
            w,
            format!("{pid}-remission"),
            icd(&mut rng, "F33.41"),
            &mut rng,
            -100,
        );
        w.push(c);
    }
    // Comorbidities, each rare.
    let comorbid: &[(&str, &str, f64)] = &[
        ("bipolar", "F31.81", 0.03),
        ("cyclothymia", "F34.0", 0.015),
        ("catatonia", "F06.1", 0.015),
        ("substance", "F10.20", 0.05),
        ("hypothyroid", "E03.9", 0.05),
        ("ptsd", "F43.10", 0.04),
        ("adhd", "F90.0", 0.03),
        ("personality", "F60.3", 0.03),
        ("anxiety", "F41.1", 0.08),
        ("suicidal", "R45.851", 0.03),
        ("hypertension", "I10", 0.2),
    ];
    for (name, code, p) in comorbid {
        if rng.chance(*p) {
            let onset = -rng.range(30, 3000);
            let coding = match (*name, rng.chance(0.3)) {
                ("bipolar", true) => w
                    .cat
                    .snomed(&mut rng, "bipolar")
                    .map(|c| json!({"system": SNOMED, "code": c}))
                    .unwrap_or_else(|| icd(&mut rng, code)),
                ("substance", true) => w
                    .cat
                    .snomed(&mut rng, "substance-use")
                    .map(|c| json!({"system": SNOMED, "code": c}))
                    .unwrap_or_else(|| icd(&mut rng, code)),
                _ => icd(&mut rng, code),
            };
            let mut c = condition(w, format!("{pid}-{name}"), coding, &mut rng, onset);
            if rng.chance(0.15) {
                c["clinicalStatus"] = clinical_status("resolved");
            }
            w.push(c);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Drug courses and how they are written
// ---------------------------------------------------------------------------------------------

/// One drug over a period, with its dose steps.
#[derive(Debug, Clone)]
struct Course<'c> {
    drug: &'c Drug,
    start: i64,
    /// `None`: still taken at `as_of`.
    end: Option<i64>,
    /// (from day, mg/day), ascending days, the first at `start`.
    steps: Vec<(i64, f64)>,
    adverse_stop: bool,
}

/// A nice number near `x` (what prescribers write).
fn nice(x: f64) -> f64 {
    if x >= 20.0 {
        (x / 5.0).round() * 5.0
    } else if x >= 2.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}

/// A daily dose relative to the drug's thresholds.
fn dose_level(rng: &mut Rng, d: &Drug) -> f64 {
    let v = match rng.weighted(&[12, 30, 25, 25, 8]) {
        0 => d.min_mg * 0.5,
        1 => d.min_mg,
        2 => (d.min_mg + d.opt_mg) / 2.0,
        3 => d.opt_mg,
        _ => d.min_mg * 0.75,
    };
    nice(v).max(if d.min_mg < 1.0 { 0.005 } else { 1.0 })
}

fn course<'c>(rng: &mut Rng, drug: &'c Drug, start: i64, weeks: (i64, i64)) -> Course<'c> {
    let len = rng.range(weeks.0 * 7, weeks.1 * 7);
    let end = if start + len >= 0 || rng.chance(0.1) {
        None
    } else {
        Some(start + len)
    };
    let last = end.unwrap_or(0).max(start);
    let target = dose_level(rng, drug);
    let mut steps = vec![];
    // Titration: start low, step up once or twice.
    if rng.chance(0.45) && last - start > 20 {
        let n = rng.range(1, 2);
        let mut t = start;
        for k in 0..n {
            let frac = if n == 1 {
                0.5
            } else if k == 0 {
                0.34
            } else {
                0.67
            };
            steps.push((t, nice(target * frac).max(drug.min_mg.min(1.0) * 0.5)));
            t += rng.range(7, 21).min((last - start) / (n + 1)).max(1);
        }
        steps.push((t, target));
    } else {
        steps.push((start, target));
    }
    Course {
        drug,
        start,
        end,
        steps,
        adverse_stop: false,
    }
}

impl Course<'_> {
    /// End the course on day `e` (after its start), dropping dose steps from that day on.
    fn ending(&mut self, e: i64) {
        let e = e.max(self.start + 1);
        self.end = Some(e);
        let first = self.steps[0];
        self.steps.retain(|(from, _)| *from < e);
        if self.steps.is_empty() {
            self.steps.push(first);
        }
    }
}

/// How the medication is named on the resource.
#[derive(Debug, Clone)]
enum Naming {
    Ingredient,
    /// An RxNorm product (rxcui, display, mg per unit).
    Product(String, String, f64),
    /// A contained Medication with the product's code and an ingredient strength ratio.
    Contained(String, String, f64),
    /// A Medication in the bundle, referenced by `Medication/<id>` or its fullUrl.
    Bundled(String, String, f64),
    Text,
    Atc,
}

fn naming(rng: &mut Rng, d: &Drug) -> Naming {
    let product = (!d.products.is_empty()).then(|| rng.pick(&d.products).clone());
    match (rng.weighted(&[30, 25, 12, 10, 15, 5]), product) {
        (1, Some(p)) => Naming::Product(p.0, p.1, p.2),
        (2, Some(p)) => Naming::Contained(p.0, p.1, p.2),
        (3, Some(p)) => Naming::Bundled(p.0, p.1, p.2),
        (4, _) => Naming::Text,
        (5, _) if !d.atc.is_empty() => Naming::Atc,
        _ if d.rxcui.is_some() => Naming::Ingredient,
        _ => Naming::Text,
    }
}

fn strength_of(n: &Naming) -> Option<f64> {
    match n {
        Naming::Product(_, _, s) | Naming::Contained(_, _, s) | Naming::Bundled(_, _, s) => {
            Some(*s)
        }
        _ => None,
    }
}

/// Fields naming the medication (`medicationCodeableConcept` or `medicationReference`, plus
/// `contained`), and any bundled Medication resource to add.
fn medication_fields(
    w: &Writer<'_>,
    rng: &mut Rng,
    d: &Drug,
    n: &Naming,
    id: &str,
    mg_hint: f64,
) -> (Vec<(&'static str, Value)>, Option<Value>) {
    let med_resource = |mid: &str, rxcui: &str, display: &str, s: f64| {
        json!({
            "resourceType": "Medication", "id": mid,
            "code": {"coding": [{"system": RXNORM, "code": rxcui, "display": display}], "text": display},
            "form": {"text": if display.contains("Capsule") { "capsule" } else { "tablet" }},
            "ingredient": [{
                "itemCodeableConcept": {"text": d.display},
                "strength": {
                    "numerator": {"value": s, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
                    "denominator": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}
                }
            }]
        })
    };
    match n {
        Naming::Ingredient => {
            let cc = json!({"coding": [{"system": RXNORM, "code": d.rxcui.clone().unwrap_or_default(),
                                         "display": d.display.to_lowercase()}],
                            "text": d.display});
            (vec![("medicationCodeableConcept", cc)], None)
        }
        Naming::Product(rxcui, display, _) => {
            let cc = json!({"coding": [{"system": RXNORM, "code": rxcui, "display": display}]});
            (vec![("medicationCodeableConcept", cc)], None)
        }
        Naming::Contained(rxcui, display, s) => {
            let mut m = med_resource("med", rxcui, display, *s);
            // Epic writes the strength only in the Medication; its code is sometimes text only.
            if rng.chance(0.3) {
                m["code"] = json!({"text": format!("{} {} mg tablet", d.display, s)});
            }
            (
                vec![
                    ("contained", json!([m])),
                    (
                        "medicationReference",
                        json!({"reference": "#med", "display": display}),
                    ),
                ],
                None,
            )
        }
        Naming::Bundled(rxcui, display, s) => {
            let mid = format!("{id}-med");
            let m = med_resource(&mid, rxcui, display, *s);
            let reference = format!("Medication/{mid}");
            (
                vec![("medicationReference", json!({"reference": reference}))],
                Some(m),
            )
        }
        Naming::Text => {
            let name = if !d.brands.is_empty() && rng.chance(0.5) {
                rng.pick(&d.brands).clone()
            } else if rng.chance(0.5) {
                d.display.to_uppercase()
            } else {
                d.display.clone()
            };
            let text = match rng.range(0, 4) {
                0 => format!("{name} {} mg tablet", nice(mg_hint)),
                1 => format!("{name}® {}MG — take as directed", nice(mg_hint)),
                2 => format!("{name} (générique) ½ tab"),
                _ => name,
            };
            let _ = w;
            (
                vec![("medicationCodeableConcept", json!({"text": text}))],
                None,
            )
        }
        Naming::Atc => {
            let cc = json!({"coding": [{"system": ATC, "code": d.atc[0]}], "text": d.display});
            (vec![("medicationCodeableConcept", cc)], None)
        }
    }
}

/// A FHIR Dosage for `mg_day`, written one of the ways EHRs write it.
fn dosage(w: &Writer<'_>, rng: &mut Rng, d: &Drug, n: &Naming, mg_day: f64) -> Value {
    let bid = mg_day >= 20.0 && rng.chance(0.2);
    let per = if bid { mg_day / 2.0 } else { mg_day };
    let timing = if bid {
        if rng.chance(0.5) {
            json!({"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID"}], "text": "twice a day"}})
        } else {
            json!({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}})
        }
    } else {
        json!({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}})
    };
    let mut out = json!({"text": format!("Take {} mg by mouth {}", nice(per), if bid {"twice daily"} else {"daily"}),
                         "route": {"text": "oral"}});
    // Now and then no timing at all (once daily assumed).
    if !rng.chance(0.15) || bid {
        out["timing"] = timing;
    }
    if rng.chance(0.07) {
        // Text only: the dose is unknown to the rules (no value to read).
        out.as_object_mut().unwrap().remove("timing");
        return out;
    }
    let strength = strength_of(n);
    let mut quantity = match (strength, rng.range(0, 5)) {
        (Some(s), 0..=2) if (per / s * 2.0).fract() == 0.0 && per / s <= 4.0 => {
            let (unit, code) = rng
                .pick(&[
                    ("tablet", "{tbl}"),
                    ("TAB", "{tbl}"),
                    ("capsule", "{capsule}"),
                    ("1", "1"),
                ])
                .to_owned();
            json!({"value": per / s, "unit": unit, "system": "http://unitsofmeasure.org", "code": code})
        }
        _ if d.min_mg < 1.0 && rng.chance(0.7) => {
            let unit = rng.pick(&["ug", "mcg", "µg", "μg"]).to_owned();
            json!({"value": nice(per * 1000.0), "unit": unit})
        }
        _ => {
            json!({"value": per, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"})
        }
    };
    if rng.chance(w.bad_rate) {
        match rng.range(0, 3) {
            0 => quantity["value"] = json!(-per),
            1 => {
                quantity["unit"] = json!("puff(s) ⚕");
                quantity["code"] = json!("{puff}");
            }
            2 => quantity["value"] = json!(format!("{per}")),
            _ => quantity["unit"] = json!("mg/kg"),
        }
    }
    let dose_and_rate = if rng.chance(0.1) {
        let mut low = quantity.clone();
        if let Some(v) = low["value"].as_f64() {
            low["value"] = json!(v / 2.0);
        }
        json!([{"type": {"text": "ordered"}, "doseRange": {"low": low, "high": quantity}}])
    } else {
        json!([{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/dose-rate-type", "code": "ordered"}]},
                "doseQuantity": quantity}])
    };
    out["doseAndRate"] = dose_and_rate;
    out
}

/// Write a course as resources (statements, requests or dispenses) and return the references.
fn write_course(w: &mut Writer<'_>, rng: &mut Rng, c: &Course<'_>, id: &str) {
    let n = naming(rng, c.drug);
    let shape = rng.weighted(&[35, 12, 28, 20, 5]);
    let hint = c.steps.last().map_or(c.drug.min_mg, |s| s.1);
    let (med, bundled) = medication_fields(w, rng, c.drug, &n, id, hint);
    if let Some(m) = bundled {
        w.push(m);
    }
    let step_end = |k: usize| -> Option<i64> {
        match c.steps.get(k + 1) {
            Some((from, _)) => Some(*from),
            None => c.end,
        }
    };
    let with_med = |mut r: Value| {
        for (k, v) in &med {
            r[*k] = v.clone();
        }
        r
    };
    let adverse = json!([{"coding": [{"system": SNOMED, "code": "281647001", "display": "Adverse reaction"}],
                          "text": "stopped: side effects"}]);
    match shape {
        // MedicationStatements with a period, one per dose step.
        0 => {
            for (k, (from, mg)) in c.steps.iter().enumerate() {
                let end = step_end(k);
                let last = k + 1 == c.steps.len();
                let status = match (end, last) {
                    (Some(_), false) => "completed",
                    (Some(_), true) if c.adverse_stop => "stopped",
                    (Some(_), true) => *rng.pick(&["completed", "completed", "stopped"]),
                    (None, _) => *rng.pick(&["active", "active", "active", "on-hold", "unknown"]),
                };
                let mut p = json!({"start": w.date(rng, *from, k == 0)});
                if let Some(e) = end {
                    p["end"] = w.date(rng, e, last);
                }
                let mut r = with_med(json!({
                    "resourceType": "MedicationStatement", "id": format!("{id}-ms{k}"),
                    "status": status, "subject": w.subject(),
                    "effectivePeriod": p,
                    "dosage": [dosage(w, rng, c.drug, &n, *mg)],
                }));
                if last && c.adverse_stop {
                    r["statusReason"] = adverse.clone();
                }
                if rng.chance(0.2) {
                    r["informationSource"] = json!({"reference": format!("Patient/{}", w.patient)});
                }
                if rng.chance(0.2) {
                    r["dateAsserted"] = w.date(rng, end.unwrap_or(*from), false);
                }
                w.push(r);
            }
        }
        // Reconciled medication list: completed statements with a start only (zero-length).
        1 => {
            for (k, (from, mg)) in c.steps.iter().enumerate() {
                let mut r = with_med(json!({
                    "resourceType": "MedicationStatement", "id": format!("{id}-rec{k}"),
                    "status": "completed", "subject": w.subject(),
                    "dosage": [dosage(w, rng, c.drug, &n, *mg)],
                }));
                if rng.chance(0.5) {
                    r["effectivePeriod"] = json!({"start": w.date(rng, *from, true)});
                } else {
                    r["effectiveDateTime"] = w.date(rng, *from, false);
                }
                if c.adverse_stop {
                    r["statusReason"] = adverse.clone();
                }
                w.push(r);
            }
        }
        // MedicationRequests: one per step (supply duration × repeats, or boundsPeriod), or one
        // order with a dosage entry per step (titration schedule).
        2 => {
            let one_order = c.steps.len() > 1 && rng.chance(0.3);
            if one_order {
                let mut dis = vec![];
                for (k, (from, mg)) in c.steps.iter().enumerate() {
                    let mut d = dosage(w, rng, c.drug, &n, *mg);
                    let mut b = json!({"start": w.full_date(rng, *from)});
                    if let Some(e) = step_end(k) {
                        b["end"] = w.full_date(rng, e);
                    }
                    if d.get("timing").is_none() {
                        d["timing"] = json!({});
                    }
                    d["timing"]["repeat"]["boundsPeriod"] = b;
                    if d["timing"]["repeat"].get("frequency").is_none() {
                        d["timing"]["repeat"]["frequency"] = json!(1);
                        d["timing"]["repeat"]["period"] = json!(1);
                        d["timing"]["repeat"]["periodUnit"] = json!("d");
                        if let Some(o) = d["timing"].as_object_mut() {
                            o.remove("code");
                        }
                    }
                    d["sequence"] = json!(k + 1);
                    dis.push(d);
                }
                let status = if c.end.is_some() {
                    "completed"
                } else {
                    "active"
                };
                let r = with_med(json!({
                    "resourceType": "MedicationRequest", "id": format!("{id}-mr"),
                    "status": status, "intent": "order", "subject": w.subject(),
                    "authoredOn": w.date(rng, c.start, false),
                    "dosageInstruction": dis,
                }));
                w.push(r);
            } else {
                for (k, (from, mg)) in c.steps.iter().enumerate() {
                    let end = step_end(k);
                    let last = k + 1 == c.steps.len();
                    let status = match end {
                        Some(_) if last && c.adverse_stop => "stopped",
                        Some(_) => "completed",
                        None => "active",
                    };
                    let mut r = with_med(json!({
                        "resourceType": "MedicationRequest", "id": format!("{id}-mr{k}"),
                        "status": status,
                        "intent": *rng.pick(&["order", "order", "original-order", "plan"]),
                        "subject": w.subject(),
                        "authoredOn": w.date(rng, *from, false),
                        "dosageInstruction": [dosage(w, rng, c.drug, &n, *mg)],
                    }));
                    if let Some(e) = end {
                        let len = (e - from).max(1);
                        if rng.chance(0.6) {
                            let repeats = *rng.pick(&[0i64, 0, 1, 2, 5]);
                            if len % (repeats + 1) == 0 {
                                r["dispenseRequest"] = json!({
                                    "numberOfRepeatsAllowed": repeats,
                                    "expectedSupplyDuration": {"value": len / (repeats + 1), "unit": "days",
                                        "system": "http://unitsofmeasure.org", "code": "d"}});
                            } else {
                                r["dispenseRequest"] = json!({"expectedSupplyDuration": {"value": len, "unit": "day"}});
                            }
                        } else {
                            r["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = json!({"start": w.full_date(rng, *from), "end": w.full_date(rng, e)});
                        }
                    }
                    if last && c.adverse_stop {
                        r["statusReason"] = json!({"text": "intolerance — nausea"});
                    }
                    if rng.chance(0.3) {
                        r["courseOfTherapyType"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "code": "continuous"}]});
                    }
                    if rng.chance(0.2) {
                        r["reportedBoolean"] = json!(false);
                    }
                    w.push(r);
                }
            }
        }
        // Dispense chain: refills every supply, with early refills and gaps; some patients refill
        // late every time (within `max_gap_days`, so one trial whose PDC falls below `min_pdc`:
        // possible non-adherence), some early every time (stockpiling: the PQA shift).
        3 => {
            let habit = rng.weighted(&[55, 30, 15]);
            let supply = if habit == 1 {
                *rng.pick(&[30i64, 28])
            } else {
                *rng.pick(&[30i64, 30, 28, 90])
            };
            let stop = c.end.unwrap_or(0);
            let mut t = c.start;
            let mut k = 0;
            while t <= stop && k < 30 {
                let mg = c
                    .steps
                    .iter()
                    .rev()
                    .find(|(from, _)| *from <= t)
                    .map_or(c.steps[0].1, |s| s.1);
                let mut r = with_med(json!({
                    "resourceType": "MedicationDispense", "id": format!("{id}-md{k}"),
                    "status": if rng.chance(0.97) { "completed" } else { "in-progress" },
                    "subject": w.subject(),
                    "whenHandedOver": w.date(rng, t, false),
                    "daysSupply": {"value": supply, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
                }));
                if rng.chance(0.8) {
                    r["dosageInstruction"] = json!([dosage(w, rng, c.drug, &n, mg)]);
                }
                if let Some(s) = strength_of(&n) {
                    r["quantity"] = json!({"value": (mg / s * supply as f64).ceil(), "unit": "tablet",
                                           "system": "http://unitsofmeasure.org", "code": "{tbl}"});
                } else {
                    r["quantity"] = json!({"value": mg * supply as f64, "unit": "mg"});
                }
                w.push(r);
                // Next refill: on time, early, or late (a gap).
                t += supply
                    + match (habit, rng.weighted(&[55, 20, 20, 5])) {
                        (1, _) => rng.range(9, 14),
                        (2, _) => -rng.range(4, 12),
                        (_, 0) => rng.range(-2, 2),
                        (_, 1) => -rng.range(3, 10),
                        (_, 2) => rng.range(3, 20),
                        _ => rng.range(21, 60),
                    };
                k += 1;
            }
        }
        // A single statement for the whole course at its final dose, with an effectiveDateTime
        // (how some EHRs summarise a history).
        _ => {
            let mg = c.steps.last().map_or(c.drug.min_mg, |s| s.1);
            let status = if c.end.is_some() {
                "completed"
            } else {
                "active"
            };
            let mut r = with_med(json!({
                "resourceType": "MedicationStatement", "id": format!("{id}-sum"),
                "status": status, "subject": w.subject(),
                "effectivePeriod": {"start": w.date(rng, c.start, true)},
                "dosage": [dosage(w, rng, c.drug, &n, mg)],
            }));
            if let Some(e) = c.end {
                r["effectivePeriod"]["end"] = w.date(rng, e, true);
            }
            w.push(r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scores and procedures
// ---------------------------------------------------------------------------------------------

fn phq9(w: &mut Writer<'_>, rng: &mut Rng, id: String, offset: i64, score: f64) {
    let code = if rng.chance(0.85) {
        "44261-6"
    } else {
        "89204-2"
    };
    let status = *rng.pick(&[
        "final",
        "final",
        "final",
        "amended",
        "corrected",
        "preliminary",
    ]);
    let mut o = json!({
        "resourceType": "Observation", "id": id, "status": status, "subject": w.subject(),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": "PHQ-9 total score [Reported]"}]},
        "effectiveDateTime": w.date(rng, offset, false),
        "issued": w.issued(offset),
    });
    let int = score.round();
    match rng.weighted(&[50, 20, 10, 15, 5]) {
        0 => o["valueInteger"] = json!(int as i64),
        1 => {
            o["valueQuantity"] = json!({"value": score, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"})
        }
        2 => o["valueString"] = json!(format!("{}", int as i64)),
        3 => {
            // A PHQ-9 panel: the total as a component, with item 9.
            o["code"] = json!({"coding": [{"system": LOINC, "code": "44249-1", "display": "PHQ-9 quick depression assessment panel"}]});
            let item9 = if score >= 15.0 && rng.chance(0.3) {
                1
            } else {
                0
            };
            o["component"] = json!([
                {"code": {"coding": [{"system": LOINC, "code": "44260-8"}]}, "valueInteger": item9},
                {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueInteger": int as i64},
            ]);
        }
        _ => o["valueString"] = json!(format!("{} (≈ patient-reported)", int as i64)),
    }
    if rng.chance(w.bad_rate) {
        o["valueInteger"] = json!(-3);
        if let Some(m) = o.as_object_mut() {
            m.remove("valueQuantity");
            m.remove("valueString");
        }
    }
    w.push(o);
}

fn item9(w: &mut Writer<'_>, rng: &mut Rng, id: String, offset: i64) {
    let answers = [
        ("LA6568-5", "Not at all"),
        ("LA6569-3", "Several days"),
        ("LA6570-1", "More than half the days"),
        ("LA6571-9", "Nearly every day"),
    ];
    let mut o = json!({
        "resourceType": "Observation", "id": id, "status": "final", "subject": w.subject(),
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "effectiveDateTime": w.date(rng, offset, false),
        "issued": w.issued(offset),
    });
    let k = rng.weighted(&[70, 15, 10, 5]);
    if rng.chance(0.5) {
        o["valueCodeableConcept"] =
            json!({"coding": [{"system": LOINC, "code": answers[k].0, "display": answers[k].1}]});
    } else {
        o["valueInteger"] = json!(k);
    }
    w.push(o);
}

/// PHQ-9 scores around a course: a baseline and follow-ups with a response pattern.
fn measure(w: &mut Writer<'_>, rng: &mut Rng, c: &Course<'_>, id: &str) {
    measure_as(w, rng, c, id, None);
}

/// [`measure`] with a given response pattern (0 = non-response).
fn measure_as(w: &mut Writer<'_>, rng: &mut Rng, c: &Course<'_>, id: &str, pattern: Option<usize>) {
    let baseline = rng.range(12, 26) as f64;
    if rng.chance(0.8) {
        let t = c.start - rng.range(0, 25);
        phq9(w, rng, format!("{id}-phq-b"), t, baseline);
    }
    let end = c.end.unwrap_or(0);
    let n = if end - c.start >= 28 {
        rng.range(0, 3)
    } else {
        0
    };
    let pattern = pattern.unwrap_or_else(|| rng.weighted(&[45, 15, 20, 10, 10]));
    for k in 0..n {
        let t = rng.range(c.start + 28, end);
        let score: f64 = match pattern {
            0 => baseline * (0.8 + 0.25 * (rng.range(0, 10) as f64 / 10.0)),
            1 => baseline * 0.65,
            2 => baseline * 0.4,
            3 => rng.range(1, 4) as f64,
            _ => rng.range(5, 14) as f64 + 0.5,
        };
        phq9(w, rng, format!("{id}-phq-f{k}"), t, score.min(27.0));
    }
}

fn procedures(w: &mut Writer<'_>, rng: &mut Rng, id: &str) {
    let start = -rng.range(20, 1500);
    let (system, code, n, step) = match rng.weighted(&[35, 25, 25, 15]) {
        0 => {
            if rng.chance(0.7) {
                (CPT, "90870", rng.range(1, 12), 2)
            } else {
                (SNOMED, "23835007", rng.range(1, 12), 3)
            }
        }
        1 => (CPT, *rng.pick(&["90867", "90868"]), rng.range(5, 36), 1),
        2 => return psychotherapy(w, rng, id),
        _ => (HCPCS, *rng.pick(&["G2082", "G2083"]), rng.range(1, 8), 4),
    };
    for k in 0..n {
        let t = start + k * step;
        let status = if rng.chance(0.92) {
            "completed"
        } else {
            *rng.pick(&["in-progress", "not-done", "stopped"])
        };
        push_procedure(w, rng, &format!("{id}-pr{k}"), status, (system, code), t);
    }
}

/// A course of psychotherapy sessions: CPT (individual 30/45/60 min, group) or a SNOMED code of
/// the psychotherapy value set; weekly, sometimes years back (before the episode's onset), and
/// sometimes never done (a whole course `not-done`: a referral that did not happen).
fn psychotherapy(w: &mut Writer<'_>, rng: &mut Rng, id: &str) {
    let start = -rng.range(20, 2600);
    let snomed;
    let (system, code) = if rng.chance(0.35) {
        snomed = rng.pick(&w.cat.psychotherapy_snomed).clone();
        (SNOMED, snomed.as_str())
    } else {
        (CPT, *rng.pick(&["90834", "90837", "90832", "90853"]))
    };
    let never_done = rng.chance(0.15);
    for k in 0..rng.range(1, 16) {
        let status = if never_done {
            "not-done"
        } else if rng.chance(0.92) {
            "completed"
        } else {
            *rng.pick(&["in-progress", "not-done", "stopped"])
        };
        let t = start + k * 7;
        push_procedure(w, rng, &format!("{id}-pt{k}"), status, (system, code), t);
    }
}

fn push_procedure(
    w: &mut Writer<'_>,
    rng: &mut Rng,
    id: &str,
    status: &str,
    (system, code): (&str, &str),
    t: i64,
) {
    let mut p = json!({
        "resourceType": "Procedure", "id": id, "status": status,
        "subject": w.subject(),
        "code": {"coding": [{"system": system, "code": code}]},
    });
    if rng.chance(0.8) {
        p["performedDateTime"] = w.date(rng, t, false);
    } else {
        p["performedPeriod"] =
            json!({"start": w.date(rng, t, false), "end": w.date(rng, t, false)});
    }
    w.push(p);
}

// ---------------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------------

fn element(w: &mut Writer<'_>, kind: usize, seed: u64, index: usize) {
    let mut rng = Rng::new(seed);
    let id = format!("e{index}");
    w.bad_rate = if rng.chance(0.3) { 0.04 } else { 0.0 };
    let cat = w.cat;
    let start = -rng.range(40, 1400);
    match KINDS[kind.min(KINDS.len() - 1)].0 {
        "single-trial" => {
            let d = rng.pick(&cat.antidepressants);
            let mut c = course(&mut rng, d, start, (1, 30));
            c.adverse_stop = c.end.is_some() && rng.chance(0.08);
            write_course(w, &mut rng, &c, &id);
            measure(w, &mut rng, &c, &id);
        }
        "switch" => {
            let a = rng.pick(&cat.antidepressants);
            let b = rng.pick(&cat.antidepressants);
            let mut ca = course(&mut rng, a, start, (4, 20));
            if ca.end.is_none() {
                ca.ending(start + rng.range(28, 140).min(-start - 1));
            }
            let overlap = rng.range(0, 27);
            let b_start = ca.end.unwrap_or(0) - overlap;
            let cb = course(&mut rng, b, b_start, (2, 30));
            write_course(w, &mut rng, &ca, &format!("{id}a"));
            write_course(w, &mut rng, &cb, &format!("{id}b"));
            measure(w, &mut rng, &ca, &format!("{id}a"));
            measure(w, &mut rng, &cb, &format!("{id}b"));
        }
        "combination" | "three-drug-overlap" => {
            let three = KINDS[kind].0 == "three-drug-overlap";
            let a = rng.pick(&cat.antidepressants);
            let ca = course(&mut rng, a, start, (10, 60));
            write_course(w, &mut rng, &ca, &format!("{id}a"));
            measure(w, &mut rng, &ca, &format!("{id}a"));
            let drugs = if three { 2 } else { 1 };
            for k in 0..drugs {
                let b = rng.pick(&cat.antidepressants);
                let b_start = start + rng.range(14, 60);
                let mut cb = course(&mut rng, b, b_start, (5, 40));
                // The added drug sometimes outlives the base (§3: its own trial from that day).
                if rng.chance(0.3)
                    && let Some(e) = ca.end
                {
                    cb.end = if rng.chance(0.5) {
                        None
                    } else {
                        Some(e + rng.range(20, 120)).filter(|x| *x < 0)
                    };
                }
                write_course(w, &mut rng, &cb, &format!("{id}{}", ["b", "c"][k]));
            }
        }
        "augmentation" => {
            let a = rng.pick(&cat.antidepressants);
            let ca = course(&mut rng, a, start, (8, 50));
            write_course(w, &mut rng, &ca, &format!("{id}a"));
            measure(w, &mut rng, &ca, &format!("{id}a"));
            let g = rng.pick(&cat.agents);
            let g_start = start + rng.range(28, 90);
            let mut cg = course(&mut rng, g, g_start, (2, 20));
            cg.steps = vec![(
                g_start,
                nice(g.min_mg * [0.5, 1.0, 1.0, 2.0][rng.range(0, 3) as usize]).max(0.005),
            )];
            write_course(w, &mut rng, &cg, &format!("{id}g"));
            measure(w, &mut rng, &cg, &format!("{id}g"));
        }
        "maoi-sequence" => {
            let s = rng.pick(&cat.serotonergic);
            let m = rng.pick(&cat.maois);
            let mut cs = course(&mut rng, s, start, (4, 16));
            if cs.end.is_none() {
                cs.ending(start + 60);
            }
            let s_end = cs.end.unwrap_or(0);
            let gap = rng.range(-10, 45);
            let mut cm = course(&mut rng, m, s_end + gap, (2, 20));
            if m.id == "selegiline" {
                cm.steps = vec![(cm.start, *rng.pick(&[6.0, 9.0, 12.0]))];
            }
            let (first, second) = if rng.chance(0.8) {
                (&cs, &cm)
            } else {
                (&cm, &cs)
            };
            write_course(w, &mut rng, first, &format!("{id}s"));
            write_course(w, &mut rng, second, &format!("{id}m"));
        }
        "procedures" => procedures(w, &mut rng, &id),
        "failed-trial-ladder" => ladder(w, &mut rng, &id),
        "phq9-only" => {
            for k in 0..rng.range(1, 4) {
                let t = -rng.range(0, 400);
                let score = rng.range(0, 27) as f64;
                phq9(w, &mut rng, format!("{id}-phq{k}"), t, score);
            }
            if rng.chance(0.6) {
                let t = -rng.range(0, 200);
                item9(w, &mut rng, format!("{id}-i9"), t);
            }
        }
        "malformed" => {
            w.bad_rate = 0.5;
            let d = rng.pick(&cat.antidepressants);
            let c = course(&mut rng, d, start, (2, 20));
            write_course(w, &mut rng, &c, &id);
            measure(w, &mut rng, &c, &id);
        }
        _ => {
            let r = unrelated_resource(
                rng.range(0, 6) as usize,
                &w.patient,
                -rng.range(0, 800),
                &id,
            );
            w.push(r);
        }
    }
    if rng.chance(0.03)
        && let Some(e) = &cat.esketamine
    {
        let mut c = course(&mut rng, e, start, (1, 8));
        c.steps = vec![(start, 56.0)];
        write_course(w, &mut rng, &c, &format!("{id}k"));
    }
}

/// Consecutive adequate trials of different classes that fail (SSRI → SNRI → TCA → MAOI), then
/// now and then a failed augmentation and an ECT course: the histories that reach the top stages
/// of Thase–Rush, MGH-S and the treatment-step ladder.
fn ladder(w: &mut Writer<'_>, rng: &mut Rng, id: &str) {
    let cat = w.cat;
    let classes = ["SSRI", "SNRI", "TCA", "MAOI"];
    let steps = rng.range(2, 4) as usize;
    // Within a recent episode (onset in the last year), a compact ladder from its onset: the
    // patients of treatment step 4 (step 3 plus failed ECT, episode ≤ 365 days).
    let recent = w.mdd_onset.filter(|o| *o >= -360 && *o <= -200);
    let compact = recent.is_some() && rng.chance(0.7);
    let mut t = match recent {
        Some(onset) if compact => onset + rng.range(0, 10),
        _ => -rng.range(500, 1300),
    };
    for (k, class) in classes.iter().take(steps).enumerate() {
        let pool: Vec<&Drug> = cat
            .antidepressants
            .iter()
            .filter(|d| d.class == *class)
            .collect();
        if pool.is_empty() {
            continue;
        }
        let d = *rng.pick(&pool);
        let weeks = if compact {
            rng.range(7, 8)
        } else {
            rng.range(7, 14)
        };
        let mg = if rng.chance(0.5) { d.min_mg } else { d.opt_mg };
        let c = Course {
            drug: d,
            start: t,
            end: Some(t + weeks * 7),
            steps: vec![(t, nice(mg))],
            adverse_stop: false,
        };
        write_course(w, rng, &c, &format!("{id}l{k}"));
        measure_as(w, rng, &c, &format!("{id}l{k}"), Some(0));
        if k == 1 && rng.chance(if compact { 0.8 } else { 0.4 }) {
            let g = rng.pick(&cat.agents);
            let mut cg = course(rng, g, t + 7, (5, 6));
            cg.ending(t + weeks * 7);
            cg.steps = vec![(t + 7, nice(g.min_mg).max(0.005))];
            write_course(w, rng, &cg, &format!("{id}l{k}g"));
        }
        t += weeks * 7 + rng.range(0, 10);
        if compact && k == 1 {
            break; // two classes and an augmentation: step 3, ECT makes it 4
        }
    }
    if rng.chance(if compact { 0.9 } else { 0.5 }) {
        for k in 0..rng.range(6, 12) {
            let when = t + k * 3;
            let r = json!({
                "resourceType": "Procedure", "id": format!("{id}-ect{k}"), "status": "completed",
                "subject": w.subject(),
                "code": {"coding": [{"system": CPT, "code": "90870", "display": "Electroconvulsive therapy"}]},
                "performedDateTime": ymd(day(when)),
            });
            w.push(r);
        }
    }
}

/// Kinds of resources the rules never read ([`unrelated_resource`]).
pub const UNRELATED_KINDS: usize = 7;

/// A resource the rules never read: it must change nothing. `t` is its day relative to `as_of`.
pub fn unrelated_resource(kind: usize, patient: &str, t: i64, id: &str) -> Value {
    let subject = json!({"reference": format!("Patient/{patient}")});
    match kind % UNRELATED_KINDS {
        0 => {
            json!({"resourceType": "Observation", "id": format!("{id}-bp"), "status": "final", "subject": subject,
                    "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
                    "effectiveDateTime": ymd(day(t)),
                    "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                                   "valueQuantity": {"value": 128, "unit": "mm[Hg]"}}]})
        }
        1 => {
            json!({"resourceType": "Observation", "id": format!("{id}-phq2"), "status": "final", "subject": subject,
                    "code": {"coding": [{"system": LOINC, "code": "55758-7", "display": "PHQ-2 total score"}]},
                    "effectiveDateTime": ymd(day(t)), "valueInteger": 5})
        }
        2 => json!({"resourceType": "Condition", "id": format!("{id}-dm"), "subject": subject,
                    "clinicalStatus": clinical_status("active"),
                    "code": {"coding": [{"system": ICD10CM, "code": "E11.9"}], "text": "Type 2 diabetes — “well controlled”"},
                    "onsetDateTime": ymd(day(t))}),
        3 => {
            json!({"resourceType": "MedicationStatement", "id": format!("{id}-lisinopril"), "status": "active",
                    "subject": subject,
                    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "29046", "display": "lisinopril"}]},
                    "effectivePeriod": {"start": ymd(day(t))},
                    "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}]})
        }
        4 => json!({"resourceType": "Encounter", "id": format!("{id}-enc"), "status": "finished",
                    "class": {"code": "AMB"}, "subject": subject,
                    "period": {"start": ymd(day(t))}}),
        5 => {
            json!({"resourceType": "AllergyIntolerance", "id": format!("{id}-allergy"), "patient": subject,
                    "code": {"text": "Pénicilline"}, "recordedDate": ymd(day(t))})
        }
        _ => {
            json!({"resourceType": "Procedure", "id": format!("{id}-colonoscopy"), "status": "completed",
                    "subject": subject, "code": {"coding": [{"system": CPT, "code": "45378"}]},
                    "performedDateTime": ymd(day(t))})
        }
    }
}

/// Render a history to a Bundle.
pub fn render(cat: &Catalog, h: &History) -> Rendered {
    let patient = format!("p{:x}", h.header % 0xFFFF_FFFF);
    let mut w = Writer {
        cat,
        patient: patient.clone(),
        resources: Vec::new(),
        issued_seq: 0,
        bad_rate: 0.0,
        mdd_onset: None,
    };
    header(&mut w, h.header);
    for (i, (kind, seed)) in h.elements.iter().enumerate() {
        element(&mut w, *kind, *seed, i);
    }
    let mut rng = Rng::new(h.header.rotate_left(17));
    let urn = rng.chance(0.3);
    let entries: Vec<Value> = w
        .resources
        .into_iter()
        .map(|r| {
            let full_url = if urn {
                format!(
                    "urn:uuid:{:08x}-0000-4000-8000-{:012x}",
                    rng.next() as u32,
                    rng.next() >> 16
                )
            } else {
                format!(
                    "https://ehr.example.org/fhir/{}/{}",
                    r["resourceType"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default()
                )
            };
            json!({"fullUrl": full_url, "resource": r})
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": if rng.chance(0.5) { "collection" } else { "searchset" },
        "entry": entries,
    });
    Rendered { bundle, patient }
}
