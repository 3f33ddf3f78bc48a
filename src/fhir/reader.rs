//! FHIR R4 / R4B JSON → [`PatientRecord`]. Lean, strict structs for the fields the rules read;
//! tolerant of everything else; every malformed rule-critical value becomes a `DataIssue`.
//!
//! Pipeline: parse every document once into borrowed wire structs ([`wire`]: no `Value` trees,
//! resources dispatched on `resourceType` while streaming) → flatten bundles → index Medications
//! across all documents → extract facts in input order.
//!
//! Decisions where the contract (clinical-rules §1–§7) is silent are marked "Decision:" below.

pub(crate) mod dosage;
pub mod drafts;
pub(crate) mod fhir_date;
pub mod wire;

use std::borrow::Cow;
use std::collections::HashMap;

use time::Date;

use crate::dates::add_days;
use crate::fhir::record::{
    ClinicalStatus, ConditionFact, DataIssue, Exposure, MatchedBy, PatientRecord, ProcedureFact,
    ResourceRef, ScoreFact, SourceKind,
};
use crate::knowledge::{Categories, Code, Ingredient, KnowledgeBase, ObservationKind, systems};

pub use drafts::{DoseEdit, DraftIngredient, DraftOrder, read_draft_orders};

use dosage::{DoseResult, Issue, Per, Strength};
use fhir_date::{Bound, DateField, read_date};
use wire::{AnyResource, CodeableConcept, Dosage, Medication, OptObj, Period, Prim, Quantity};

/// The input is not FHIR JSON the reader can use at all (not JSON, not an object, no `resourceType`).
/// Malformed *values* inside resources are never errors: they become `data_issues`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReadError {
    /// JSON path of the offending element, e.g. `entry[3].resource`.
    pub field: String,
    pub problem: String,
}

/// Read one FHIR document: a Bundle (any type) or a single resource.
pub fn read_bundle(json: &str, kb: &KnowledgeBase) -> Result<PatientRecord, ReadError> {
    read_all(&[Document::Json(json)], kb)
}

/// One input document: JSON text, or a resource already parsed into wire structs (a hook's
/// prefetch is parsed with the request, so it is never parsed twice).
#[derive(Debug, Clone, Copy)]
pub enum Document<'a> {
    Json(&'a str),
    Parsed(&'a AnyResource<'a>),
}

/// Read several FHIR documents (e.g. the prefetch values of a hook call) into one record.
/// Medications referenced across documents (`Medication/x`, `urn:uuid:` fullUrls) are resolved.
pub fn read_all(docs: &[Document<'_>], kb: &KnowledgeBase) -> Result<PatientRecord, ReadError> {
    read_all_from(docs, kb, None)
}

/// [`read_all`] for documents that come from the FHIR server `fhir_server` (a hook call's
/// `fhirServer`). Decision: a resource whose subject is an absolute reference on another server
/// (`https://other.example/fhir/Patient/p1`) is not about this server's patient, even with the
/// same id; it is not used and becomes a data issue on `subject.reference`. Without a
/// `fhir_server` (the assessment API, the CLI, a hook call without one) there is no server to
/// judge by, and an absolute reference counts by its `Patient/<id>` as a relative one does.
pub fn read_all_from(
    docs: &[Document<'_>],
    kb: &KnowledgeBase,
    fhir_server: Option<&str>,
) -> Result<PatientRecord, ReadError> {
    let path = |i: usize| {
        if docs.len() == 1 {
            "$".to_string()
        } else {
            format!("documents[{i}]")
        }
    };
    let mut from_text = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if let Document::Json(json) = doc {
            let r = wire::parse_document(json).map_err(|e| ReadError {
                field: path(i),
                problem: format!("not valid JSON: {e}"),
            })?;
            from_text.push(r);
        }
    }
    let mut from_text = from_text.iter();
    let mut parsed = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let r = match doc {
            Document::Parsed(r) => *r,
            Document::Json(_) => from_text.next().expect("one parse per text document"),
        };
        match r {
            AnyResource::NotObject(kind) => {
                return Err(ReadError {
                    field: path(i),
                    problem: format!("expected a FHIR resource, found {kind}"),
                });
            }
            AnyResource::NoType => {
                return Err(ReadError {
                    field: path(i),
                    problem: "missing resourceType".into(),
                });
            }
            r => parsed.push((path(i), r)),
        }
    }

    let mut rec = PatientRecord::default();
    let mut items = Vec::new();
    for (path, r) in &parsed {
        let prefix = if docs.len() == 1 {
            String::new()
        } else {
            format!("{path}.")
        };
        flatten(r, None, &prefix, &mut items, &mut rec.data_issues);
    }

    let meds = index_medications(&items);
    let duplicates = duplicates(&items, &mut rec.data_issues);
    let mut cx = Cx {
        kb,
        meds: &meds,
        rec,
        first_subject: None,
        patient_resource: None,
        home: fhir_server.and_then(|s| url::Url::parse(s.trim()).ok()),
    };
    for (order, item) in items.iter().enumerate() {
        match duplicates.get(&order) {
            None => cx.resource(item, order),
            Some(Duplicate::Same) => {}
            // Not read, but the wrong-patient guard must still see whom it is about.
            Some(Duplicate::Conflicting) => cx.subject_only(item.res),
        }
    }
    let mut rec = cx.rec;
    rec.patient = cx.patient_resource.or(cx.first_subject);
    Ok(rec)
}

// ---------------------------------------------------------------------------------------------
// Flattening and references
// ---------------------------------------------------------------------------------------------

/// One resource of the input, in input order.
struct Item<'r, 'a> {
    res: &'r AnyResource<'a>,
    full_url: Option<&'r str>,
}

fn flatten<'r, 'a>(
    r: &'r AnyResource<'a>,
    full_url: Option<&'r str>,
    prefix: &str,
    items: &mut Vec<Item<'r, 'a>>,
    issues: &mut Vec<DataIssue>,
) {
    let AnyResource::Bundle(b) = r else {
        items.push(Item { res: r, full_url });
        return;
    };
    if let Some(kind) = b.entry.wrong {
        issues.push(DataIssue {
            resource: full_url.map_or_else(|| format!("{prefix}Bundle"), str::to_owned),
            field: format!("{prefix}entry"),
            problem: format!("entry is {kind}, not an array"),
        });
    }
    for (i, e) in b.entry.items.iter().enumerate() {
        let path = format!("{prefix}entry[{i}]");
        let Some(e) = e.ok() else {
            issues.push(DataIssue {
                resource: path.clone(),
                field: path,
                problem: "entry is not an object".into(),
            });
            continue;
        };
        let url = e.full_url.get();
        // Decision: an entry without a resource (a transaction DELETE, a searchset outcome
        // reference) is skipped without an issue.
        let Some(res) = &e.resource else { continue };
        let problem = match res {
            AnyResource::NotObject(kind) => format!("resource is {kind}, not an object"),
            AnyResource::NoType => "resource has no resourceType".to_string(),
            AnyResource::Bundle(_) => {
                flatten(res, url, &format!("{path}.resource."), items, issues);
                continue;
            }
            _ => {
                items.push(Item { res, full_url: url });
                continue;
            }
        };
        issues.push(DataIssue {
            resource: url.map_or_else(|| path.clone(), str::to_owned),
            field: format!("{path}.resource"),
            problem,
        });
    }
}

/// A resource already seen earlier in the input under the same type and id.
enum Duplicate {
    /// The same content again: one fact.
    Same,
    /// Another version under the same id: not read (reported), but its subject still counts.
    Conflicting,
}

/// Positions of resources already seen earlier in the input (same type and id). EHRs send one
/// resource twice (a searchset page boundary moving, a key prefetched and also fetched): it is
/// one fact. Two different versions under one id are a conflict: the first is read, the conflict
/// reported. Resources without an id cannot be told apart and are all read.
fn duplicates(items: &[Item<'_, '_>], issues: &mut Vec<DataIssue>) -> HashMap<usize, Duplicate> {
    let mut first: HashMap<(&'static str, &str), usize> = HashMap::new();
    let mut out = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        let Some(id) = fact_id(it.res).flatten().filter(|id| !id.is_empty()) else {
            continue;
        };
        let rtype = type_name(it.res);
        match first.get(&(rtype, id)) {
            None => {
                first.insert((rtype, id), i);
            }
            Some(&j) => {
                let kind = if items[j].res == it.res {
                    Duplicate::Same
                } else {
                    issues.push(DataIssue {
                        resource: format!("{rtype}/{id}"),
                        field: "id".into(),
                        problem: "sent twice with different content; the first one was used".into(),
                    });
                    Duplicate::Conflicting
                };
                out.insert(i, kind);
            }
        }
    }
    out
}

/// The id of a resource the rules read facts from: `None` for other types, `Some(None)` when it
/// has no id.
fn fact_id<'r>(r: &'r AnyResource<'_>) -> Option<Option<&'r str>> {
    Some(match r {
        AnyResource::Patient(p) => p.id.get(),
        AnyResource::Condition(c) => c.id.get(),
        AnyResource::MedicationStatement(m) => m.id.get(),
        AnyResource::MedicationRequest(m) => m.id.get(),
        AnyResource::MedicationDispense(m) => m.id.get(),
        AnyResource::Observation(o) => o.id.get(),
        AnyResource::Procedure(p) => p.id.get(),
        _ => return None,
    })
}

fn type_name(r: &AnyResource<'_>) -> &'static str {
    match r {
        AnyResource::Patient(_) => "Patient",
        AnyResource::Condition(_) => "Condition",
        AnyResource::MedicationStatement(_) => "MedicationStatement",
        AnyResource::MedicationRequest(_) => "MedicationRequest",
        AnyResource::MedicationDispense(_) => "MedicationDispense",
        AnyResource::Medication(_) => "Medication",
        AnyResource::Observation(_) => "Observation",
        AnyResource::Procedure(_) => "Procedure",
        AnyResource::Bundle(_) => "Bundle",
        AnyResource::OperationOutcome(_) => "OperationOutcome",
        AnyResource::Other(_) | AnyResource::NoType | AnyResource::NotObject(_) => "Resource",
    }
}

/// `"<Type>/<id>"`; without an id, the entry's fullUrl, else `"<Type>/#<index>"`.
fn make_ref(rtype: &str, id: Option<&str>, full_url: Option<&str>, order: usize) -> ResourceRef {
    match (id, full_url) {
        (Some(id), _) if !id.is_empty() => format!("{rtype}/{id}"),
        (_, Some(u)) if !u.is_empty() => u.to_string(),
        _ => format!("{rtype}/#{order}"),
    }
}

/// Medications by every key a reference may use: `Medication/<id>` and the entry's fullUrl.
/// `None` marks an entered-in-error Medication (references to it resolve to nothing, silently).
type MedIndex<'r, 'a> = HashMap<Cow<'r, str>, Option<&'r Medication<'a>>>;

fn index_medications<'r, 'a>(items: &[Item<'r, 'a>]) -> MedIndex<'r, 'a> {
    let mut idx = HashMap::new();
    for it in items {
        let AnyResource::Medication(m) = it.res else {
            continue;
        };
        let val = (!is_entered_in_error(m.status.as_ref())).then_some(&**m);
        if let Some(id) = m.id.get() {
            idx.insert(Cow::Owned(format!("Medication/{id}")), val);
        }
        if let Some(u) = it.full_url {
            idx.insert(Cow::Borrowed(u), val);
        }
    }
    idx
}

fn is_entered_in_error(status: Option<&Prim<'_>>) -> bool {
    status.and_then(Prim::as_str) == Some("entered-in-error")
}

/// Resolve a `medicationReference`: `#id` in `contained`, else by key, else an absolute URL by its
/// `Medication/<id>` tail (history suffix dropped).
enum Resolved<'r, 'a> {
    Found(&'r Medication<'a>),
    /// Resolved to an entered-in-error Medication: ignored.
    Ignored,
    NotFound,
}

fn resolve<'r, 'a>(
    reference: &str,
    contained: &'r wire::List<AnyResource<'a>>,
    meds: &MedIndex<'r, 'a>,
) -> Resolved<'r, 'a> {
    let found = |o: Option<&'r Medication<'a>>| match o {
        Some(m) => Resolved::Found(m),
        None => Resolved::Ignored,
    };
    if let Some(local) = reference.strip_prefix('#') {
        for c in contained.iter() {
            if let AnyResource::Medication(m) = c
                && m.id.get() == Some(local)
            {
                return if is_entered_in_error(m.status.as_ref()) {
                    Resolved::Ignored
                } else {
                    Resolved::Found(m)
                };
            }
        }
        return Resolved::NotFound;
    }
    if let Some(m) = meds.get(reference) {
        return found(*m);
    }
    if let Some(pos) = reference.rfind("Medication/") {
        let tail = &reference[pos..];
        let tail = tail.split("/_history").next().unwrap_or(tail);
        if let Some(m) = meds.get(tail) {
            return found(*m);
        }
    }
    Resolved::NotFound
}

// ---------------------------------------------------------------------------------------------
// Medication → ingredients (clinical-rules §1)
// ---------------------------------------------------------------------------------------------

fn system_is(system: Option<&str>, want: &str) -> bool {
    system.is_some_and(|s| s.trim().trim_end_matches('/') == want)
}

struct Matched<'k> {
    ingredient: &'k Ingredient,
    strength: Option<Strength>,
}

/// How a concept matched, and the ingredients it names.
type ConceptMatch<'k> = (MatchedBy, Vec<&'k Ingredient>);

/// The ingredients a concept names, by the first rule of §1 that matches.
fn match_concept<'k>(cc: &CodeableConcept<'_>, kb: &'k KnowledgeBase) -> Option<ConceptMatch<'k>> {
    fn push<'k>(v: &mut Vec<&'k Ingredient>, i: &'k Ingredient) {
        if !v.iter().any(|x| x.id == i.id) {
            v.push(i);
        }
    }
    let rx = || {
        cc.codings()
            .filter(|c| system_is(c.system.get(), systems::RXNORM))
            .filter_map(|c| c.code.get())
    };
    let mut found = Vec::new();
    for code in rx() {
        if let Some(i) = kb.ingredient_by_rxcui(code.trim()) {
            push(&mut found, i);
        }
    }
    if !found.is_empty() {
        return Some((MatchedBy::RxnormIngredient, found));
    }
    for code in rx() {
        if let Some(p) = kb.product_by_rxcui(code.trim()) {
            for pi in &p.ingredients {
                if let Some(i) = kb.ingredient(&pi.ingredient) {
                    push(&mut found, i);
                }
            }
        }
    }
    if !found.is_empty() {
        return Some((MatchedBy::RxnormProduct, found));
    }
    for c in cc
        .codings()
        .filter(|c| system_is(c.system.get(), systems::ATC))
    {
        if let Some(i) = c
            .code
            .get()
            .and_then(|code| kb.ingredient_by_atc(code.trim()))
        {
            push(&mut found, i);
        }
    }
    if !found.is_empty() {
        return Some((MatchedBy::Atc, found));
    }
    for text in texts(cc) {
        for i in kb.ingredients_in_text(text) {
            push(&mut found, i);
        }
    }
    (!found.is_empty()).then_some((MatchedBy::Text, found))
}

/// The first text of a concept (coding displays, then `text`) that names a knowledge-base ingredient
/// whose match a veto dropped ("Emsam … tablet": `text_exclude` / `text_require` in `drugs.toml`):
/// its field path below the concept, the text and the vetoed ingredients.
fn vetoed_text<'c, 'k>(
    cc: &'c CodeableConcept<'_>,
    kb: &'k KnowledgeBase,
) -> Option<(String, &'c str, Vec<&'k Ingredient>)> {
    let displays = cc
        .codings()
        .enumerate()
        .filter_map(|(i, c)| c.display.get().map(|d| (format!("coding[{i}].display"), d)));
    displays
        .chain(cc.text.get().map(|t| ("text".to_string(), t)))
        .find_map(|(field, text)| {
            let v = kb.vetoed_in_text(text);
            (!v.is_empty()).then_some((field, text, v))
        })
}

/// Coding displays, then the concept text.
fn texts<'c>(cc: &'c CodeableConcept<'_>) -> impl Iterator<Item = &'c str> {
    cc.codings()
        .filter_map(|c| c.display.get())
        .chain(cc.text.get())
}

/// What a product's strength is per, from its RxNorm display.
fn per_from_display(display: &str) -> Per {
    let l = display.to_ascii_lowercase();
    if l.contains("transdermal") || l.contains("/hr") || l.contains("/24hr") {
        Per::Day
    } else if l.contains("/ml") {
        Per::Ml
    } else {
        Per::Unit
    }
}

/// Strength from the knowledge-base product table, for any RxNorm coding of the concept.
fn product_strength(
    cc: &CodeableConcept<'_>,
    ingredient: &str,
    kb: &KnowledgeBase,
) -> Option<Strength> {
    cc.codings()
        .filter(|c| system_is(c.system.get(), systems::RXNORM))
        .filter_map(|c| {
            c.code
                .get()
                .and_then(|code| kb.product_by_rxcui(code.trim()))
        })
        .find_map(|p| {
            let pi = p
                .ingredients
                .iter()
                .find(|pi| pi.ingredient == ingredient)?;
            let mg = pi.strength_mg.filter(|v| v.is_finite() && *v > 0.0)?;
            Some(Strength {
                mg,
                per: per_from_display(&p.display),
            })
        })
}

/// Strength parsed from the concept's displays / text.
fn text_strength(cc: &CodeableConcept<'_>, ing: &Ingredient, only_one: bool) -> Option<Strength> {
    let mut names: Vec<String> = vec![ing.id.to_lowercase(), ing.display.to_lowercase()];
    names.extend(ing.brands.iter().map(|b| b.to_lowercase()));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    texts(cc).find_map(|t| dosage::strength_from_text(t, &names, only_one))
}

/// `Medication.ingredient[].strength` (numerator mass / denominator unit).
fn ratio_strength(r: &wire::Ratio<'_>) -> Option<Strength> {
    let num = r.numerator.get()?;
    let Some(Prim::Num(nv)) = num.value else {
        return None;
    };
    let nu = num
        .code
        .get()
        .or(num.unit.get())
        .unwrap_or("mg")
        .trim()
        .to_ascii_lowercase();
    let f = dosage::mass_factor(&nu)?;
    let (dv, du) = match r.denominator.get() {
        Some(d) => (
            match d.value {
                Some(Prim::Num(v)) if v > 0.0 => v,
                None => 1.0,
                _ => return None,
            },
            d.code
                .get()
                .or(d.unit.get())
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
        ),
        None => (1.0, String::new()),
    };
    let mg = nv * f / dv;
    let s = match du.as_str() {
        "ml" => Strength { mg, per: Per::Ml },
        "h" | "hr" => Strength {
            mg: mg * 24.0,
            per: Per::Day,
        },
        "d" | "24.h" | "24h" => Strength { mg, per: Per::Day },
        _ => Strength { mg, per: Per::Unit },
    };
    (s.mg.is_finite() && s.mg > 0.0).then_some(s)
}

/// The ingredients of a medication (concept, or Medication resource), each with its strength.
fn match_medication<'k>(
    cc: Option<&CodeableConcept<'_>>,
    med: Option<&Medication<'_>>,
    kb: &'k KnowledgeBase,
) -> Option<(MatchedBy, Vec<Matched<'k>>)> {
    let code = cc.or_else(|| med.and_then(|m| m.code.get()));
    let ingredients: Vec<(&wire::MedicationIngredient<'_>, Option<ConceptMatch<'k>>)> = med
        .map(|m| {
            m.ingredient
                .objs()
                .map(|mi| {
                    (
                        mi,
                        mi.item_codeable_concept
                            .get()
                            .and_then(|c| match_concept(c, kb)),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (by, found) = match code.and_then(|c| match_concept(c, kb)) {
        Some(x) => x,
        None => {
            // Decision: a Medication whose code names nothing known is matched by its
            // ingredient items (each by the rules of §1); the first rule that matched wins.
            let mut by = None;
            let mut all: Vec<&Ingredient> = Vec::new();
            for (_, m) in &ingredients {
                if let Some((b, v)) = m {
                    by.get_or_insert(*b);
                    for i in v {
                        if !all.iter().any(|x| x.id == i.id) {
                            all.push(i);
                        }
                    }
                }
            }
            (by?, all)
        }
    };
    let only_one = found.len() == 1;
    let matched = found
        .into_iter()
        .map(|ing| {
            let from_product = code.and_then(|c| product_strength(c, &ing.id, kb));
            let from_ratio = || {
                ingredients
                    .iter()
                    .find(|(mi, m)| {
                        m.as_ref()
                            .is_some_and(|(_, v)| v.iter().any(|x| x.id == ing.id))
                            || (only_one && ingredients.len() == 1 && mi.strength.is_some())
                    })
                    .and_then(|(mi, _)| mi.strength.get().and_then(ratio_strength))
            };
            let from_text = || code.and_then(|c| text_strength(c, ing, only_one));
            let strength = from_product.or_else(from_ratio).or_else(from_text);
            Matched {
                ingredient: ing,
                strength,
            }
        })
        .collect();
    Some((by, matched))
}

// ---------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------

/// `Patient/<id>` of a relative or absolute reference to a Patient (history suffix dropped);
/// `None` for other forms (`urn:uuid:…`, other resource types).
pub(crate) fn patient_ref(reference: &str) -> Option<String> {
    // The common case, `Patient/<id>`, needs no substring search (this runs once per resource).
    if let Some(id) = reference.strip_prefix("Patient/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return Some(reference.to_string());
    }
    let r = reference.split("/_history/").next().unwrap_or(reference);
    let at = r.rfind("Patient/")?;
    if at > 0 && !r[..at].ends_with('/') {
        return None;
    }
    let id = &r[at + "Patient/".len()..];
    (!id.is_empty() && !id.contains('/')).then(|| format!("Patient/{id}"))
}

/// Whether an absolute reference (`https://h/fhir/Patient/p1`) names a server other than `home`
/// (scheme, host, port and base path compared as URLs). Relative references are on `home`.
fn on_another_server(reference: &str, home: &url::Url) -> bool {
    let r = reference.split("/_history/").next().unwrap_or(reference);
    let Some(at) = r.rfind("Patient/") else {
        return false;
    };
    let base = &r[..at];
    if !base.contains("://") {
        return false;
    }
    let Ok(u) = url::Url::parse(base) else {
        return true; // absolute but not a URL: not provably this server
    };
    u.scheme() != home.scheme()
        || u.host_str() != home.host_str()
        || u.port_or_known_default() != home.port_or_known_default()
        || u.path().trim_end_matches('/') != home.path().trim_end_matches('/')
}

struct Cx<'k, 'm, 'r, 'a> {
    kb: &'k KnowledgeBase,
    meds: &'m MedIndex<'r, 'a>,
    rec: PatientRecord,
    first_subject: Option<ResourceRef>,
    patient_resource: Option<ResourceRef>,
    /// The call's `fhirServer`: absolute subject references elsewhere are not this patient's.
    home: Option<url::Url>,
}

type Dosages<'a> = wire::List<wire::Obj<Dosage<'a>>>;
/// Dosage entries sharing one `boundsPeriod` (or none), with their indexes.
type DosageGroup<'d, 'a> = (Option<&'d Period<'a>>, Vec<(usize, &'d Dosage<'a>)>);
/// The end of a segment from its start: `Ok(None)` = open, `Err` = already reported.
type EndRule<'f, C> = dyn FnMut(&mut C, Date) -> Result<Option<Date>, ()> + 'f;

/// A period of one medication resource with the dosage entries in force during it.
struct Segment<'d, 'a> {
    start: Date,
    end: Option<Date>,
    dosages: Vec<(usize, &'d Dosage<'a>)>,
}

/// Medication fields shared by the three medication resources.
struct MedSource<'r, 'a> {
    kind: SourceKind,
    reference: ResourceRef,
    status: &'r str,
    adverse_stop: bool,
    cc: Option<&'r CodeableConcept<'a>>,
    med_ref: Option<&'r wire::Obj<wire::Reference<'a>>>,
    contained: &'r wire::List<AnyResource<'a>>,
}

impl<'k, 'm, 'r, 'a> Cx<'k, 'm, 'r, 'a> {
    fn issue(&mut self, resource: &str, field: impl Into<String>, problem: impl Into<String>) {
        self.rec.data_issues.push(DataIssue {
            resource: resource.to_string(),
            field: field.into(),
            problem: problem.into(),
        });
    }

    /// Records the subject of `resource`. `false` (reported, the resource is not to be used) when
    /// the subject is a patient on another FHIR server than the call's.
    /// Records whom a resource that is not read is about (a conflicting second version).
    fn subject_only(&mut self, res: &AnyResource<'_>) {
        let s = match res {
            AnyResource::Condition(c) => c.subject.as_ref(),
            AnyResource::MedicationStatement(m) => m.subject.as_ref(),
            AnyResource::MedicationRequest(m) => m.subject.as_ref(),
            AnyResource::MedicationDispense(m) => m.subject.as_ref(),
            AnyResource::Observation(o) => o.subject.as_ref(),
            AnyResource::Procedure(p) => p.subject.as_ref(),
            _ => None,
        };
        let r = s.and_then(|s| s.ok()).and_then(|r| r.reference.get());
        if let Some(p) = r.and_then(patient_ref) {
            self.rec.subjects.insert(p);
        }
    }

    fn subject(&mut self, resource: &str, s: Option<&wire::Obj<wire::Reference<'_>>>) -> bool {
        let Some(r) = s.and_then(|s| s.ok()).and_then(|r| r.reference.get()) else {
            return true;
        };
        if r.is_empty() {
            return true;
        }
        if let Some(home) = &self.home
            && patient_ref(r).is_some()
            && on_another_server(r, home)
        {
            self.issue(
                resource,
                "subject.reference",
                "refers to a patient on another FHIR server than this call's fhirServer; the resource is not used",
            );
            return false;
        }
        if let Some(p) = patient_ref(r) {
            self.rec.subjects.insert(p);
        }
        if self.first_subject.is_none() {
            self.first_subject = Some(r.to_string());
        }
        true
    }

    /// A rule-critical date: `Ok(Some)`, `Ok(None)` when absent, `Err(())` after reporting it.
    fn date(
        &mut self,
        resource: &str,
        field: &str,
        v: Option<&Prim<'_>>,
        bound: Bound,
    ) -> Result<Option<Date>, ()> {
        match read_date(v, bound) {
            DateField::Ok(d) => Ok(Some(d)),
            DateField::Missing => Ok(None),
            DateField::Bad(p) => {
                self.issue(resource, field, p);
                Err(())
            }
        }
    }

    fn resource(&mut self, item: &Item<'r, 'a>, order: usize) {
        let res = item.res;
        let Some(id) = fact_id(res) else { return };
        let reference = make_ref(type_name(res), id, item.full_url, order);
        match res {
            AnyResource::Patient(_) => {
                if let Some(p) = patient_ref(&reference) {
                    self.rec.subjects.insert(p);
                }
                if self.patient_resource.is_none() {
                    self.patient_resource = Some(reference);
                }
            }
            AnyResource::Condition(c) => self.condition(c, reference),
            AnyResource::MedicationStatement(m) => self.statement(m, reference),
            AnyResource::MedicationRequest(m) => self.request(m, reference),
            AnyResource::MedicationDispense(m) => self.dispense(m, reference),
            AnyResource::Observation(o) => self.observation(o, reference, order),
            AnyResource::Procedure(p) => self.procedure(p, reference),
            _ => {}
        }
    }

    // --- Conditions ------------------------------------------------------------------------

    fn condition(&mut self, c: &wire::Condition<'_>, reference: ResourceRef) {
        let vs = c.verification_status.get();
        if vs.is_some_and(|v| v.has_code("entered-in-error")) {
            return;
        }
        if !self.subject(&reference, c.subject.as_ref()) {
            return;
        }
        let Some(cc) = c.code.get() else {
            if let Some(kind) = c.code.wrong() {
                self.issue(&reference, "code", format!("invalid code ({kind})"));
            }
            return;
        };
        let mut codes = Vec::new();
        let mut categories = Categories::new();
        for coding in cc.codings() {
            let (Some(system), Some(code)) = (coding.system.get(), coding.code.get()) else {
                continue;
            };
            let code = normalise_code(system, code);
            categories.extend(self.kb.condition_categories(&code.system, &code.code));
            codes.push(code);
        }
        // Decision: conditions no rule reads (no category) are not kept.
        if categories.is_empty() {
            return;
        }
        let clinical_status = match c.clinical_status.get() {
            None => ClinicalStatus::Active,
            Some(cs) => {
                let code = cs.codings().find_map(|c| c.code.get());
                match code {
                    None | Some("active" | "recurrence" | "relapse") => ClinicalStatus::Active,
                    Some("inactive" | "remission" | "resolved") => ClinicalStatus::Inactive,
                    Some(other) => {
                        // Decision: an unknown clinical status is reported and read as active (absent = active).
                        let p = format!("unknown clinical status '{other}'");
                        self.issue(&reference, "clinicalStatus", p);
                        ClinicalStatus::Active
                    }
                }
            }
        };
        let refuted = vs.is_some_and(|v| v.has_code("refuted"));
        // Onset: onsetDateTime, onsetPeriod.start, else recordedDate. A malformed onset is reported
        // and not used; recordedDate is the fallback.
        let mut onset = None;
        if let Ok(Some(d)) = self.date(
            &reference,
            "onsetDateTime",
            c.onset_date_time.as_ref(),
            Bound::Start,
        ) {
            onset = Some(d);
        }
        if onset.is_none()
            && let Some(p) = c.onset_period.get()
            && let Ok(Some(d)) = self.date(
                &reference,
                "onsetPeriod.start",
                p.start.as_ref(),
                Bound::Start,
            )
        {
            onset = Some(d);
        }
        if onset.is_none()
            && let Ok(Some(d)) = self.date(
                &reference,
                "recordedDate",
                c.recorded_date.as_ref(),
                Bound::Start,
            )
        {
            onset = Some(d);
        }
        self.rec.conditions.push(ConditionFact {
            reference,
            codes,
            categories,
            clinical_status,
            refuted,
            onset,
        });
    }

    // --- Medications -----------------------------------------------------------------------

    fn adverse(&self, reasons: &wire::Concepts<'_>) -> bool {
        reasons.0.iter().any(|cc| {
            cc.codings().any(|c| {
                self.kb
                    .is_adverse_reason(c.system.get(), c.code.get(), c.display.get())
            }) || cc
                .text
                .get()
                .is_some_and(|t| self.kb.is_adverse_reason(None, None, Some(t)))
        })
    }

    /// Decision: a medication that matched nothing but whose text names an ingredient a veto dropped
    /// is contradictory ("Emsam … tablet"): it is not placed (which row would be a guess) and is
    /// reported, never silently dropped (clinical-rules §1).
    fn report_vetoed(&mut self, reference: &str, field: &str, cc: &CodeableConcept<'_>) {
        if let Some((path, text, vetoed)) = vetoed_text(cc, self.kb) {
            let names: Vec<&str> = vetoed.iter().map(|i| i.display.as_str()).collect();
            self.issue(
                reference,
                format!("{field}.{path}"),
                format!(
                    "medication text '{text}' names {} but contradicts it (e.g. a transdermal brand with an oral form): not counted; verify the medication",
                    names.join(", ")
                ),
            );
        }
    }

    /// Resolve and match the medication; `None` when nothing known (or unresolvable, reported).
    fn medication(&mut self, src: &MedSource<'r, 'a>) -> Option<(MatchedBy, Vec<Matched<'k>>)> {
        if let Some(cc) = src.cc {
            let m = match_medication(Some(cc), None, self.kb);
            if m.is_none() {
                self.report_vetoed(&src.reference, "medicationCodeableConcept", cc);
            }
            return m;
        }
        match src.med_ref {
            Some(wire::Obj::Ok(r)) => {
                let Some(target) = r.reference.get() else {
                    // A display-only reference: nothing to resolve, nothing known.
                    return None;
                };
                match resolve(target, src.contained, self.meds) {
                    Resolved::Found(m) => {
                        let found = match_medication(None, Some(m), self.kb);
                        if found.is_none()
                            && let Some(code) = m.code.get()
                        {
                            self.report_vetoed(&src.reference, "medicationReference", code);
                        }
                        found
                    }
                    Resolved::Ignored => None,
                    Resolved::NotFound => {
                        self.issue(
                            &src.reference,
                            "medicationReference",
                            format!("unresolved reference '{target}'"),
                        );
                        None
                    }
                }
            }
            Some(wire::Obj::Wrong(kind)) => {
                self.issue(
                    &src.reference,
                    "medicationReference",
                    format!("invalid reference ({kind})"),
                );
                None
            }
            None => None,
        }
    }

    /// Group dosage entries by `timing.repeat.boundsPeriod` (first-appearance order).
    fn groups<'d>(dosages: &'d Dosages<'a>) -> Vec<DosageGroup<'d, 'a>> {
        let mut groups: Vec<DosageGroup<'d, 'a>> = Vec::new();
        for (i, d) in dosages.items.iter().enumerate() {
            let Some(d) = d.ok() else { continue };
            let bounds = d
                .timing
                .get()
                .and_then(|t| t.repeat.get())
                .and_then(|r| r.bounds_period.get());
            match groups.iter_mut().find(|(b, _)| *b == bounds) {
                Some((_, v)) => v.push((i, d)),
                None => groups.push((bounds, vec![(i, d)])),
            }
        }
        groups
    }

    /// Segments of a statement or request: one per distinct boundsPeriod (or one without).
    /// `default_start` is the resource start; `end_rule(start)` the resource end rule.
    fn segments<'d>(
        &mut self,
        reference: &str,
        field: &str,
        dosages: &'d Dosages<'a>,
        default_start: Result<Option<Date>, ()>,
        missing_start: (&str, &str),
        end_rule: &mut EndRule<'_, Self>,
    ) -> Vec<Segment<'d, 'a>> {
        if let Some(kind) = dosages.wrong {
            self.issue(reference, field, format!("invalid {field} ({kind})"));
        }
        let mut groups = Self::groups(dosages);
        if groups.is_empty() {
            groups.push((None, Vec::new()));
        }
        let mut out = Vec::new();
        let mut missing_reported = false;
        for (bounds, ds) in groups {
            let bpath =
                |i: usize, end: &str| format!("{field}[{i}].timing.repeat.boundsPeriod.{end}");
            let first = ds.first().map_or(0, |(i, _)| *i);
            let bstart = match bounds {
                Some(p) => match self.date(
                    reference,
                    &bpath(first, "start"),
                    p.start.as_ref(),
                    Bound::Start,
                ) {
                    Ok(d) => d,
                    Err(()) => continue,
                },
                None => None,
            };
            let start = match (bstart, default_start) {
                (Some(d), _) => d,
                (None, Ok(Some(d))) => d,
                (None, Ok(None)) => {
                    if !missing_reported {
                        self.issue(reference, missing_start.0, missing_start.1);
                        missing_reported = true;
                    }
                    continue;
                }
                (None, Err(())) => continue,
            };
            let bend = match bounds {
                Some(p) => {
                    match self.date(reference, &bpath(first, "end"), p.end.as_ref(), Bound::End) {
                        Ok(d) => d,
                        Err(()) => continue,
                    }
                }
                None => None,
            };
            let end = match bend {
                Some(e) => Some(e),
                None => match end_rule(self, start) {
                    Ok(e) => e,
                    Err(()) => continue,
                },
            };
            let end = match end {
                Some(e) if e < start => {
                    self.issue(
                        reference,
                        "end",
                        format!("end {e} before start {start}: end set to start"),
                    );
                    Some(start)
                }
                e => e,
            };
            out.push(Segment {
                start,
                end,
                dosages: ds,
            });
        }
        out
    }

    fn push_exposures(
        &mut self,
        src: &MedSource<'_, '_>,
        field: &str,
        matched: (MatchedBy, Vec<Matched<'_>>),
        segments: Vec<Segment<'_, '_>>,
    ) {
        let (by, ings) = matched;
        for seg in &segments {
            for m in &ings {
                let dose = dosage::daily_dose(&seg.dosages, field, m.strength);
                self.exposure(src, by, m.ingredient, seg.start, seg.end, dose);
            }
        }
    }

    fn exposure(
        &mut self,
        src: &MedSource<'_, '_>,
        by: MatchedBy,
        ing: &Ingredient,
        start: Date,
        end: Option<Date>,
        dose: DoseResult,
    ) {
        for i in dose.issues {
            // Issues are the same for every ingredient of a product: report once.
            let issue = DataIssue {
                resource: src.reference.clone(),
                field: i.field,
                problem: i.problem,
            };
            if !self.rec.data_issues.contains(&issue) {
                self.rec.data_issues.push(issue);
            }
        }
        self.rec.exposures.push(Exposure {
            ingredient: ing.id.clone(),
            start,
            end,
            daily_dose_mg: dose.mg_per_day,
            source: src.reference.clone(),
            kind: src.kind,
            status: src.status.to_string(),
            adverse_stop: src.adverse_stop,
            matched_by: by,
            assumptions: dose.assumptions,
        });
    }

    /// The status string, or `None` after reporting a malformed one.
    fn status<'s>(&mut self, reference: &str, status: Option<&'s Prim<'_>>) -> Option<&'s str> {
        match status {
            Some(Prim::Str(s)) => Some(s),
            None | Some(Prim::Null) => {
                self.issue(reference, "status", "missing status");
                None
            }
            Some(other) => {
                self.issue(
                    reference,
                    "status",
                    format!("invalid status {}", other.describe()),
                );
                None
            }
        }
    }

    fn statement(&mut self, m: &'r wire::MedicationStatement<'a>, reference: ResourceRef) {
        if is_entered_in_error(m.status.as_ref()) {
            return;
        }
        if !self.subject(&reference, m.subject.as_ref()) {
            return;
        }
        let src = MedSource {
            kind: SourceKind::MedicationStatement,
            status: match m.status.as_ref().and_then(Prim::as_str) {
                Some(s @ ("active" | "completed" | "stopped" | "on-hold" | "unknown")) => s,
                Some(_) => return, // not-taken, intended, entered-in-error: never an exposure
                None => "",
            },
            adverse_stop: self.adverse(&m.status_reason),
            cc: m.medication_codeable_concept.get(),
            med_ref: m.medication_reference.as_ref(),
            contained: &m.contained,
            reference,
        };
        let Some(matched) = self.medication(&src) else {
            return;
        };
        let Some(status) = self.status(&src.reference, m.status.as_ref()) else {
            return;
        };
        let reference = src.reference.clone();
        // Start: effectivePeriod.start or effectiveDateTime.
        let (start_field, start_value) = match (m.effective_period.get(), &m.effective_date_time) {
            (_, Some(v)) if !matches!(v, Prim::Null) => ("effectiveDateTime", Some(v)),
            (Some(p), _) => ("effectivePeriod.start", p.start.as_ref()),
            _ => ("effective[x]", None),
        };
        if let Some(kind) = m.effective_period.wrong() {
            self.issue(
                &reference,
                "effectivePeriod",
                format!("invalid effectivePeriod ({kind})"),
            );
            return;
        }
        let start = self.date(&reference, start_field, start_value, Bound::Start);
        let missing = if start_field == "effective[x]" {
            "missing effective[x]"
        } else {
            "missing effectivePeriod.start"
        };
        let period_end = match m.effective_period.get() {
            Some(p) => self.date(
                &reference,
                "effectivePeriod.end",
                p.end.as_ref(),
                Bound::End,
            ),
            None => Ok(None),
        };
        let Ok(period_end) = period_end else { return };
        let asserted = read_date(m.date_asserted.as_ref(), Bound::End);
        let open = matches!(status, "active" | "on-hold" | "unknown");
        let mut end_rule = |cx: &mut Self, s: Date| -> Result<Option<Date>, ()> {
            if let Some(e) = period_end {
                return Ok(Some(e));
            }
            if open {
                return Ok(None);
            }
            // completed / stopped without an end: the last known date (dateAsserted, else start).
            Ok(Some(match &asserted {
                DateField::Ok(d) if *d >= s => *d,
                DateField::Bad(p) => {
                    cx.issue(&reference, "dateAsserted", p.clone());
                    s
                }
                _ => s,
            }))
        };
        let segs = self.segments(
            &src.reference,
            "dosage",
            &m.dosage,
            start,
            (start_field, missing),
            &mut end_rule,
        );
        self.push_exposures(&src, "dosage", matched, segs);
    }

    fn request(&mut self, m: &'r wire::MedicationRequest<'a>, reference: ResourceRef) {
        if is_entered_in_error(m.status.as_ref()) {
            return;
        }
        if !self.subject(&reference, m.subject.as_ref()) {
            return;
        }
        let status = match m.status.as_ref().and_then(Prim::as_str) {
            Some(s @ ("active" | "completed" | "stopped" | "on-hold" | "unknown")) => s,
            Some(_) => return, // draft, cancelled, entered-in-error: never an exposure
            None => "",
        };
        let src = MedSource {
            kind: SourceKind::MedicationRequest,
            status,
            adverse_stop: self.adverse(&m.status_reason),
            cc: m.medication_codeable_concept.get(),
            med_ref: m.medication_reference.as_ref(),
            contained: &m.contained,
            reference,
        };
        let Some(matched) = self.medication(&src) else {
            return;
        };
        let reference = src.reference.clone();
        let Some(status) = self.status(&reference, m.status.as_ref()) else {
            return;
        };
        match m.intent.as_ref() {
            Some(Prim::Str(i))
                if matches!(
                    &**i,
                    "order"
                        | "original-order"
                        | "reflex-order"
                        | "filler-order"
                        | "instance-order"
                        | "plan"
                ) => {}
            Some(Prim::Str(_)) => return, // proposal, option, directive: not an exposure
            // Decision: a missing or malformed intent is reported and the request not counted.
            None | Some(Prim::Null) => {
                self.issue(&reference, "intent", "missing intent");
                return;
            }
            Some(other) => {
                self.issue(
                    &reference,
                    "intent",
                    format!("invalid intent {}", other.describe()),
                );
                return;
            }
        }
        if status == "unknown" {
            // Decision: §2 does not count an order whose status is unknown (EHRs export old and
            // reconciled orders so), but a drug the rules know must not vanish silently (§1).
            let names: Vec<&str> = matched
                .1
                .iter()
                .map(|m| m.ingredient.display.as_str())
                .collect();
            let p = format!(
                "status 'unknown': whether {} was taken is not recorded; not counted as a treatment",
                names.join(" / ")
            );
            self.issue(&reference, "status", p);
            return;
        }
        let authored = self.date(
            &reference,
            "authoredOn",
            m.authored_on.as_ref(),
            Bound::Start,
        );
        // End: boundsPeriod.end; else start + expectedSupplyDuration × (1 + repeats); else open
        // when active; else start + request_default_days.
        let mut supply_days: Result<Option<f64>, ()> = Ok(None);
        if let Some(dr) = m.dispense_request.get() {
            if let Some(q) = dr.expected_supply_duration.get() {
                supply_days = match dosage::duration_days(q) {
                    Ok(d) => Ok(Some(d)),
                    Err(p) => {
                        self.issue(&reference, "dispenseRequest.expectedSupplyDuration", p);
                        Err(())
                    }
                };
            }
            let repeats = match dr.number_of_repeats_allowed.as_ref() {
                None | Some(Prim::Null) => 0.0,
                Some(Prim::Num(n)) if *n >= 0.0 && n.fract() == 0.0 => *n,
                Some(other) => {
                    let p = format!("invalid numberOfRepeatsAllowed {}", other.describe());
                    self.issue(&reference, "dispenseRequest.numberOfRepeatsAllowed", p);
                    0.0
                }
            };
            supply_days = supply_days.map(|d| d.map(|d| d * (1.0 + repeats)));
        }
        // Decision: a malformed supply duration is reported and ignored (the request falls back
        // to the next end rule) rather than dropping the exposure: the start is still known.
        let supply_days = supply_days.unwrap_or(None);
        let default_days = self.kb.params().request_default_days;
        let mut end_rule = |_: &mut Self, s: Date| -> Result<Option<Date>, ()> {
            Ok(match supply_days {
                Some(d) => Some(add_days(s, d.round() as i64)),
                None if status == "active" => None,
                None => Some(add_days(s, default_days)),
            })
        };
        let segs = self.segments(
            &reference,
            "dosageInstruction",
            &m.dosage_instruction,
            authored,
            ("authoredOn", "missing authoredOn"),
            &mut end_rule,
        );
        self.push_exposures(&src, "dosageInstruction", matched, segs);
    }

    fn dispense(&mut self, m: &'r wire::MedicationDispense<'a>, reference: ResourceRef) {
        if is_entered_in_error(m.status.as_ref()) {
            return;
        }
        if !self.subject(&reference, m.subject.as_ref()) {
            return;
        }
        if m.status.as_ref().and_then(Prim::as_str) != Some("completed") {
            return;
        }
        let src = MedSource {
            kind: SourceKind::MedicationDispense,
            status: "completed",
            adverse_stop: false,
            cc: m.medication_codeable_concept.get(),
            med_ref: m.medication_reference.as_ref(),
            contained: &m.contained,
            reference,
        };
        let Some((by, ings)) = self.medication(&src) else {
            return;
        };
        let reference = src.reference.clone();
        let start = match (&m.when_handed_over, &m.when_prepared) {
            (Some(v), _) if !matches!(v, Prim::Null) => {
                self.date(&reference, "whenHandedOver", Some(v), Bound::Start)
            }
            (_, Some(v)) => self.date(&reference, "whenPrepared", Some(v), Bound::Start),
            _ => Ok(None),
        };
        let start = match start {
            Ok(Some(d)) => d,
            Ok(None) => {
                self.issue(&reference, "whenHandedOver", "missing whenHandedOver");
                return;
            }
            Err(()) => return,
        };
        let mut assumptions = Vec::new();
        let days = match m.days_supply.get().map(dosage::duration_days) {
            Some(Ok(d)) => Some(d),
            Some(Err(p)) => {
                self.issue(&reference, "daysSupply", p);
                return;
            }
            None => {
                // Decision: without daysSupply the dispense covers its own day only.
                assumptions.push("no daysSupply: one day assumed".to_string());
                None
            }
        };
        let end = add_days(start, days.map_or(0, |d| d.round() as i64));
        let groups = Self::groups(&m.dosage_instruction);
        // Decision: a dispense's dosage entries are all in force over its supply (summed).
        let all: Vec<(usize, &Dosage<'_>)> = groups.into_iter().flat_map(|(_, v)| v).collect();
        for mi in &ings {
            let mut dose = dosage::daily_dose(&all, "dosageInstruction", mi.strength);
            if dose.mg_per_day.is_none()
                && dose.issues.is_empty()
                && let (Some(q), Some(d)) = (m.quantity.get(), days)
                && let Some(v) = dosage::dispense_fallback(q, d, mi.strength)
            {
                dose.mg_per_day = Some(v);
                dose.assumptions
                    .retain(|a| !a.starts_with("strength unknown"));
                dose.assumptions
                    .push("no usable dosage: daily dose = strength × quantity / daysSupply".into());
            }
            dose.assumptions.extend(assumptions.iter().cloned());
            self.exposure(&src, by, mi.ingredient, start, Some(end), dose);
        }
    }

    // --- Observations ----------------------------------------------------------------------

    fn observation(&mut self, o: &wire::Observation<'_>, reference: ResourceRef, order: usize) {
        if !is_entered_in_error(o.status.as_ref()) && !self.subject(&reference, o.subject.as_ref())
        {
            return;
        }
        if !matches!(
            o.status.as_ref().and_then(Prim::as_str),
            Some("final" | "amended" | "corrected")
        ) {
            return;
        }
        let kind_of = |cc: Option<&CodeableConcept<'_>>| {
            cc.and_then(|cc| {
                cc.codings()
                    .find_map(|c| match (c.system.get(), c.code.get()) {
                        (Some(s), Some(code)) => self.kb.observation_kind(s.trim(), code.trim()),
                        _ => None,
                    })
            })
        };
        let main = kind_of(o.code.get());
        let comps: Vec<(usize, ObservationKind, &wire::Component<'_>)> = o
            .component
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.ok()?;
                Some((i, kind_of(c.code.get())?, c))
            })
            .collect();
        if main.is_none() && comps.is_empty() {
            return;
        }
        // Date: effectiveDateTime / effectivePeriod.start / effectiveInstant, else issued.
        let (field, value) = if o
            .effective_date_time
            .as_ref()
            .is_some_and(|v| *v != Prim::Null)
        {
            ("effectiveDateTime", o.effective_date_time.as_ref())
        } else if let Some(p) = o.effective_period.get() {
            ("effectivePeriod.start", p.start.as_ref())
        } else if o
            .effective_instant
            .as_ref()
            .is_some_and(|v| *v != Prim::Null)
        {
            ("effectiveInstant", o.effective_instant.as_ref())
        } else {
            ("issued", o.issued.as_ref())
        };
        let issued = match o.issued.as_ref() {
            Some(Prim::Str(s)) => match fhir_date::parse_unix_seconds(s) {
                Some(t) => Some(t),
                None => {
                    self.issue(&reference, "issued", format!("invalid instant '{s}'"));
                    None
                }
            },
            None | Some(Prim::Null) => None,
            Some(other) => {
                self.issue(
                    &reference,
                    "issued",
                    format!("invalid instant {}", other.describe()),
                );
                None
            }
        };
        let date = match self.date(&reference, field, value, Bound::Start) {
            Ok(Some(d)) => d,
            Ok(None) => {
                self.issue(&reference, "effective[x]", "missing effective[x]");
                return;
            }
            Err(()) => return,
        };
        if let Some(kind) = main {
            let v = ScoreValue {
                integer: o.value_integer.as_ref(),
                quantity: o.value_quantity.as_ref(),
                string: o.value_string.as_ref(),
                concept: o.value_codeable_concept.as_ref(),
                boolean: o.value_boolean.as_ref(),
            };
            self.score(&reference, "", kind, v, date, issued, order);
        }
        for (i, kind, c) in comps {
            let v = ScoreValue {
                integer: c.value_integer.as_ref(),
                quantity: c.value_quantity.as_ref(),
                string: c.value_string.as_ref(),
                concept: c.value_codeable_concept.as_ref(),
                boolean: c.value_boolean.as_ref(),
            };
            self.score(
                &reference,
                &format!("component[{i}]."),
                kind,
                v,
                date,
                issued,
                order,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn score(
        &mut self,
        reference: &str,
        prefix: &str,
        kind: ObservationKind,
        v: ScoreValue<'_, '_>,
        date: Date,
        issued: Option<i64>,
        order: usize,
    ) {
        match score_value(kind, &v, self.kb) {
            Ok(Some(value)) => self.rec.scores.push(ScoreFact {
                reference: reference.to_string(),
                kind,
                date,
                value,
                issued,
                order,
            }),
            Ok(None) => {}
            Err(i) => self.issue(reference, format!("{prefix}{}", i.field), i.problem),
        }
    }

    // --- Procedures ------------------------------------------------------------------------

    fn procedure(&mut self, p: &wire::Procedure<'_>, reference: ResourceRef) {
        if !is_entered_in_error(p.status.as_ref()) && !self.subject(&reference, p.subject.as_ref())
        {
            return;
        }
        if p.status.as_ref().and_then(Prim::as_str) != Some("completed") {
            return;
        }
        let Some(kind) = p.code.get().and_then(|cc| {
            cc.codings()
                .find_map(|c| match (c.system.get(), c.code.get()) {
                    (Some(s), Some(code)) => self.kb.procedure_kind(s.trim(), code.trim()),
                    _ => None,
                })
        }) else {
            return;
        };
        let (field, value) = if p
            .performed_date_time
            .as_ref()
            .is_some_and(|v| *v != Prim::Null)
        {
            ("performedDateTime", p.performed_date_time.as_ref())
        } else if let Some(per) = p.performed_period.get() {
            ("performedPeriod.start", per.start.as_ref())
        } else {
            ("performed[x]", None)
        };
        match self.date(&reference, field, value, Bound::Start) {
            Ok(Some(date)) => self.rec.procedures.push(ProcedureFact {
                reference,
                kind,
                date,
            }),
            Ok(None) => self.issue(&reference, "performed[x]", "missing performed[x]"),
            Err(()) => {}
        }
    }
}

/// ICD-10-CM (and WHO ICD-10, read as ICD-10-CM): dot removed, upper case. Other systems as written.
fn normalise_code(system: &str, code: &str) -> Code {
    let system = system.trim();
    let code = code.trim();
    // Decision: `http://hl7.org/fhir/sid/icd-10` (WHO ICD-10) codes are read as ICD-10-CM: the
    // categories the rules use (F32/F33/F34.0/F06.1/...) mean the same in both at this depth.
    if system == systems::ICD10CM || system == "http://hl7.org/fhir/sid/icd-10" {
        return Code {
            system: systems::ICD10CM.to_string(),
            code: code.replace('.', "").to_ascii_uppercase(),
        };
    }
    Code {
        system: system.to_string(),
        code: code.to_string(),
    }
}

/// The `value[x]` fields of an Observation or component.
struct ScoreValue<'v, 'a> {
    integer: Option<&'v Prim<'a>>,
    quantity: Option<&'v wire::Obj<Quantity<'a>>>,
    string: Option<&'v Prim<'a>>,
    concept: Option<&'v wire::Obj<CodeableConcept<'a>>>,
    boolean: Option<&'v Prim<'a>>,
}

/// Round half up (§4): 23.5 → 24, 23.49 → 23.
fn round_half_up(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

fn score_number(field: &str, n: f64) -> Result<Option<i64>, Issue> {
    if n.is_finite() && n >= 0.0 {
        Ok(Some(round_half_up(n)))
    } else {
        Err(Issue::new(field, format!("invalid score {n}")))
    }
}

fn score_value(
    kind: ObservationKind,
    v: &ScoreValue<'_, '_>,
    kb: &KnowledgeBase,
) -> Result<Option<i64>, Issue> {
    match v.integer {
        Some(Prim::Num(n)) => return score_number("valueInteger", *n),
        Some(Prim::Null) | None => {}
        Some(other) => {
            return Err(Issue::new(
                "valueInteger",
                format!("invalid score {}", other.describe()),
            ));
        }
    }
    match v.quantity {
        Some(wire::Obj::Ok(q)) => {
            return match &q.value {
                Some(Prim::Num(n)) => score_number("valueQuantity.value", *n),
                None | Some(Prim::Null) => {
                    Err(Issue::new("valueQuantity.value", "missing score value"))
                }
                Some(other) => Err(Issue::new(
                    "valueQuantity.value",
                    format!("invalid score {}", other.describe()),
                )),
            };
        }
        Some(wire::Obj::Wrong(k)) => {
            return Err(Issue::new(
                "valueQuantity",
                format!("invalid valueQuantity ({k})"),
            ));
        }
        None => {}
    }
    match v.string {
        Some(Prim::Str(s)) => {
            let t = s.trim();
            return match t.parse::<f64>() {
                Ok(n) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                    score_number("valueString", n)
                }
                _ => Err(Issue::new("valueString", format!("invalid score '{s}'"))),
            };
        }
        Some(Prim::Null) | None => {}
        Some(other) => {
            return Err(Issue::new(
                "valueString",
                format!("invalid score {}", other.describe()),
            ));
        }
    }
    match v.concept {
        Some(wire::Obj::Ok(cc)) => {
            // Answer codes (LOINC LA6568-5 = 0 ... LA6571-9 = 3) are knowledge-base data.
            // Decision: an answer coding without a system is read as LOINC.
            let answer = cc.codings().find_map(|c| {
                kb.answer_score(
                    c.system.get().map_or(systems::LOINC, str::trim),
                    c.code.get()?.trim(),
                )
            });
            return match (kind, answer) {
                (ObservationKind::Phq9Item9, Some(s)) => Ok(Some(s)),
                _ => {
                    let code = cc
                        .codings()
                        .find_map(|c| c.code.get())
                        .or(cc.text.get())
                        .unwrap_or("");
                    Err(Issue::new(
                        "valueCodeableConcept",
                        format!("unknown answer code '{code}'"),
                    ))
                }
            };
        }
        Some(wire::Obj::Wrong(k)) => {
            return Err(Issue::new(
                "valueCodeableConcept",
                format!("invalid valueCodeableConcept ({k})"),
            ));
        }
        None => {}
    }
    if let Some(b) = v.boolean {
        return Err(Issue::new(
            "valueBoolean",
            format!("invalid score {}", b.describe()),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
