//! Lean, lenient wire structs for the FHIR fields the rules read.
//!
//! Every type here accepts *any* JSON value without failing: a value of the wrong JSON type is
//! kept as a "wrong" marker ([`Prim::Other`], [`Obj::Wrong`], [`List::wrong`]) so the reader can
//! report it as a data issue instead of failing the whole document. Only invalid JSON syntax (and
//! duplicate keys in one object) fails deserialisation.
//!
//! Resources are dispatched on `resourceType` without buffering: when `resourceType` is the first
//! key (what every FHIR serialiser writes), the rest of the object is handed straight to the
//! resource's derived deserializer through [`MapAccessDeserializer`]. Otherwise the object is
//! buffered once into a `serde_json::Value` (rare, slower, still correct).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

// ---------------------------------------------------------------------------------------------
// Lenient primitives
// ---------------------------------------------------------------------------------------------

/// Drains the remaining elements of a sequence.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Drains the remaining entries of a map.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A JSON scalar as written; arrays and objects are consumed and only their kind is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Prim<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
    /// An array or an object where a primitive was expected.
    Other(&'static str),
}

impl Prim<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Prim::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value quoted for a data-issue message: `'2023-02-30'`, `20230101`, `true`, `an object`.
    pub fn describe(&self) -> String {
        match self {
            Prim::Str(s) => format!("'{s}'"),
            Prim::Num(n) => format!("{n}"),
            Prim::Bool(b) => format!("{b}"),
            Prim::Null => "null".to_string(),
            Prim::Other(kind) => (*kind).to_string(),
        }
    }
}

struct PrimVisitor;

impl<'de> Visitor<'de> for PrimVisitor {
    type Value = Prim<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Prim::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Prim::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Prim::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Prim::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Prim::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Prim::Num(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Prim::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Prim::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Prim::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Prim::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(Prim::Other("an object"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Prim<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PrimVisitor)
    }
}

/// A lenient string: anything that is not a JSON string reads as `None`. For identifiers,
/// systems, codes and references, where a wrong type simply means "no usable value".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S<'a>(pub Option<Cow<'a, str>>);

impl S<'_> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for S<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Prim::deserialize(d)? {
            Prim::Str(s) => S(Some(s)),
            _ => S(None),
        })
    }
}

/// A JSON object read as `T`, or a marker that the value had another JSON type.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj<T> {
    Ok(T),
    /// `"a string"`, `"an array"`, ...
    Wrong(&'static str),
}

impl<T> Obj<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Obj::Ok(t) => Some(t),
            Obj::Wrong(_) => None,
        }
    }
}

/// Helpers on `Option<Obj<T>>`, the usual shape of an optional complex field.
pub trait OptObj<T> {
    /// The value when present and an object.
    fn get(&self) -> Option<&T>;
    /// `Some(kind)` when present with the wrong JSON type.
    fn wrong(&self) -> Option<&'static str>;
}

impl<T> OptObj<T> for Option<Obj<T>> {
    fn get(&self) -> Option<&T> {
        self.as_ref().and_then(Obj::ok)
    }
    fn wrong(&self) -> Option<&'static str> {
        match self {
            Some(Obj::Wrong(k)) => Some(k),
            _ => None,
        }
    }
}

struct ObjVisitor<T>(PhantomData<T>);

fn wrong_kind<T>(kind: &'static str) -> Obj<T> {
    Obj::Wrong(kind)
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Obj::Ok)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(wrong_kind("an array"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(wrong_kind("a string"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(wrong_kind("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(wrong_kind("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(wrong_kind("a number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(wrong_kind("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(wrong_kind("null"))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

/// A JSON array of `T`; any other JSON type reads as empty with `wrong` set.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T> {
    pub items: Vec<T>,
    pub wrong: Option<&'static str>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            items: Vec::new(),
            wrong: None,
        }
    }
}

impl<T> List<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
}

/// Objects of a list, skipping elements of the wrong JSON type.
impl<T> List<Obj<T>> {
    pub fn objs(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(Obj::ok)
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(t) = seq.next_element::<T>()? {
            items.push(t);
        }
        Ok(List { items, wrong: None })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(List {
            items: Vec::new(),
            wrong: Some("an object"),
        })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(List {
            items: Vec::new(),
            wrong: Some("a string"),
        })
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(List {
            items: Vec::new(),
            wrong: Some("a number"),
        })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(List {
            items: Vec::new(),
            wrong: Some("a number"),
        })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(List {
            items: Vec::new(),
            wrong: Some("a number"),
        })
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(List {
            items: Vec::new(),
            wrong: Some("a boolean"),
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(List::default())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

/// `statusReason`: an array of CodeableConcepts (MedicationStatement) or a single one
/// (MedicationRequest). Either shape is accepted for both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Concepts<'a>(pub Vec<CodeableConcept<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Concepts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Concepts<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("CodeableConcept(s)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                CodeableConcept::deserialize(MapAccessDeserializer::new(map))
                    .map(|c| Concepts(vec![c]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(c) = seq.next_element::<Obj<CodeableConcept<'a>>>()? {
                    if let Obj::Ok(c) = c {
                        v.push(c);
                    }
                }
                Ok(Concepts(v))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Concepts::default())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Datatypes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Coding<'a> {
    #[serde(default)]
    pub system: S<'a>,
    #[serde(default)]
    pub code: S<'a>,
    #[serde(default)]
    pub display: S<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CodeableConcept<'a> {
    #[serde(default)]
    pub coding: List<Obj<Coding<'a>>>,
    #[serde(default)]
    pub text: S<'a>,
}

impl CodeableConcept<'_> {
    pub fn codings(&self) -> impl Iterator<Item = &Coding<'_>> {
        self.coding.objs()
    }
    /// Does any coding carry this code (any system)?
    pub fn has_code(&self, code: &str) -> bool {
        self.codings().any(|c| c.code.get() == Some(code))
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Reference<'a> {
    #[serde(default)]
    pub reference: S<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Period<'a> {
    pub start: Option<Prim<'a>>,
    pub end: Option<Prim<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Quantity<'a> {
    pub value: Option<Prim<'a>>,
    #[serde(default)]
    pub unit: S<'a>,
    #[serde(default)]
    pub code: S<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Range<'a> {
    pub high: Option<Obj<Quantity<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Ratio<'a> {
    pub numerator: Option<Obj<Quantity<'a>>>,
    pub denominator: Option<Obj<Quantity<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Repeat<'a> {
    pub bounds_period: Option<Obj<Period<'a>>>,
    pub frequency: Option<Prim<'a>>,
    pub period: Option<Prim<'a>>,
    pub period_unit: Option<Prim<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Timing<'a> {
    pub repeat: Option<Obj<Repeat<'a>>>,
    pub code: Option<Obj<CodeableConcept<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct DoseAndRate<'a> {
    pub dose_quantity: Option<Obj<Quantity<'a>>>,
    pub dose_range: Option<Obj<Range<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Dosage<'a> {
    pub timing: Option<Obj<Timing<'a>>>,
    #[serde(default)]
    pub dose_and_rate: List<Obj<DoseAndRate<'a>>>,
    pub route: Option<Obj<CodeableConcept<'a>>>,
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Patient<'a> {
    #[serde(default)]
    pub id: S<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Condition<'a> {
    #[serde(default)]
    pub id: S<'a>,
    pub clinical_status: Option<Obj<CodeableConcept<'a>>>,
    pub verification_status: Option<Obj<CodeableConcept<'a>>>,
    pub code: Option<Obj<CodeableConcept<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub onset_date_time: Option<Prim<'a>>,
    pub onset_period: Option<Obj<Period<'a>>>,
    pub recorded_date: Option<Prim<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct MedicationStatement<'a> {
    #[serde(default)]
    pub id: S<'a>,
    #[serde(default)]
    pub contained: List<AnyResource<'a>>,
    pub status: Option<Prim<'a>>,
    #[serde(default)]
    pub status_reason: Concepts<'a>,
    pub medication_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub medication_reference: Option<Obj<Reference<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub effective_date_time: Option<Prim<'a>>,
    pub effective_period: Option<Obj<Period<'a>>>,
    pub date_asserted: Option<Prim<'a>>,
    #[serde(default)]
    pub dosage: List<Obj<Dosage<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct DispenseRequest<'a> {
    pub expected_supply_duration: Option<Obj<Quantity<'a>>>,
    pub number_of_repeats_allowed: Option<Prim<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct MedicationRequest<'a> {
    #[serde(default)]
    pub id: S<'a>,
    #[serde(default)]
    pub contained: List<AnyResource<'a>>,
    pub status: Option<Prim<'a>>,
    #[serde(default)]
    pub status_reason: Concepts<'a>,
    pub intent: Option<Prim<'a>>,
    pub medication_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub medication_reference: Option<Obj<Reference<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub authored_on: Option<Prim<'a>>,
    #[serde(default)]
    pub dosage_instruction: List<Obj<Dosage<'a>>>,
    pub dispense_request: Option<Obj<DispenseRequest<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct MedicationDispense<'a> {
    #[serde(default)]
    pub id: S<'a>,
    #[serde(default)]
    pub contained: List<AnyResource<'a>>,
    pub status: Option<Prim<'a>>,
    pub medication_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub medication_reference: Option<Obj<Reference<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub when_handed_over: Option<Prim<'a>>,
    pub when_prepared: Option<Prim<'a>>,
    pub quantity: Option<Obj<Quantity<'a>>>,
    pub days_supply: Option<Obj<Quantity<'a>>>,
    #[serde(default)]
    pub dosage_instruction: List<Obj<Dosage<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct MedicationIngredient<'a> {
    pub item_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub strength: Option<Obj<Ratio<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Medication<'a> {
    #[serde(default)]
    pub id: S<'a>,
    pub status: Option<Prim<'a>>,
    pub code: Option<Obj<CodeableConcept<'a>>>,
    pub form: Option<Obj<CodeableConcept<'a>>>,
    #[serde(default)]
    pub ingredient: List<Obj<MedicationIngredient<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Component<'a> {
    pub code: Option<Obj<CodeableConcept<'a>>>,
    pub value_integer: Option<Prim<'a>>,
    pub value_quantity: Option<Obj<Quantity<'a>>>,
    pub value_string: Option<Prim<'a>>,
    pub value_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub value_boolean: Option<Prim<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Observation<'a> {
    #[serde(default)]
    pub id: S<'a>,
    pub status: Option<Prim<'a>>,
    pub code: Option<Obj<CodeableConcept<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub effective_date_time: Option<Prim<'a>>,
    pub effective_period: Option<Obj<Period<'a>>>,
    pub effective_instant: Option<Prim<'a>>,
    pub issued: Option<Prim<'a>>,
    pub value_integer: Option<Prim<'a>>,
    pub value_quantity: Option<Obj<Quantity<'a>>>,
    pub value_string: Option<Prim<'a>>,
    pub value_codeable_concept: Option<Obj<CodeableConcept<'a>>>,
    pub value_boolean: Option<Prim<'a>>,
    #[serde(default)]
    pub component: List<Obj<Component<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Procedure<'a> {
    #[serde(default)]
    pub id: S<'a>,
    pub status: Option<Prim<'a>>,
    pub code: Option<Obj<CodeableConcept<'a>>>,
    pub subject: Option<Obj<Reference<'a>>>,
    pub performed_date_time: Option<Prim<'a>>,
    pub performed_period: Option<Obj<Period<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"), rename_all = "camelCase")]
pub struct Entry<'a> {
    #[serde(default)]
    pub full_url: S<'a>,
    pub resource: Option<AnyResource<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Bundle<'a> {
    #[serde(default)]
    pub entry: List<Obj<Entry<'a>>>,
    /// Paging links: a prefetched searchset with a `next` link must be completed.
    #[serde(default)]
    pub link: List<Obj<BundleLink<'a>>>,
}

impl Bundle<'_> {
    /// The URL of the `next` page, when there is one.
    pub fn next_url(&self) -> Option<&str> {
        self.link
            .items
            .iter()
            .filter_map(Obj::ok)
            .find(|l| l.relation.get() == Some("next"))
            .and_then(|l| l.url.get())
            .filter(|u| !u.trim().is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct BundleLink<'a> {
    #[serde(default)]
    pub relation: S<'a>,
    #[serde(default)]
    pub url: S<'a>,
}

/// An OperationOutcome: in a prefetch slot it means "the EHR's prefetch failed".
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct OperationOutcome<'a> {
    #[serde(default)]
    pub issue: List<Obj<OutcomeIssue<'a>>>,
}

impl OperationOutcome<'_> {
    /// The issues' diagnostics, joined with `; ` (for a 412 message).
    pub fn diagnostics(&self) -> String {
        self.issue
            .items
            .iter()
            .filter_map(|i| i.ok()?.diagnostics.get())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct OutcomeIssue<'a> {
    #[serde(default)]
    pub diagnostics: S<'a>,
}

/// One resource, dispatched on `resourceType`. Large resources are boxed so that a Bundle's
/// entry list (moved as it grows) stays small.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyResource<'a> {
    Patient(Patient<'a>),
    Condition(Box<Condition<'a>>),
    MedicationStatement(Box<MedicationStatement<'a>>),
    MedicationRequest(Box<MedicationRequest<'a>>),
    MedicationDispense(Box<MedicationDispense<'a>>),
    Medication(Box<Medication<'a>>),
    Observation(Box<Observation<'a>>),
    Procedure(Box<Procedure<'a>>),
    Bundle(Bundle<'a>),
    OperationOutcome(OperationOutcome<'a>),
    /// A resource type the rules do not read (skipped).
    Other(Cow<'a, str>),
    /// A JSON object without a (string) `resourceType`.
    NoType,
    /// Not a JSON object: `"a string"`, `"an array"`, ...
    NotObject(&'static str),
}

/// Deserialise the rest of a resource object (after `resourceType`) as the named type.
fn dispatch<'de, D>(rtype: Cow<'de, str>, d: D) -> Result<AnyResource<'de>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match &*rtype {
        "Patient" => AnyResource::Patient(Patient::deserialize(d)?),
        "Condition" => AnyResource::Condition(Box::new(Condition::deserialize(d)?)),
        "MedicationStatement" => {
            AnyResource::MedicationStatement(Box::new(MedicationStatement::deserialize(d)?))
        }
        "MedicationRequest" => {
            AnyResource::MedicationRequest(Box::new(MedicationRequest::deserialize(d)?))
        }
        "MedicationDispense" => {
            AnyResource::MedicationDispense(Box::new(MedicationDispense::deserialize(d)?))
        }
        "Medication" => AnyResource::Medication(Box::new(Medication::deserialize(d)?)),
        "Observation" => AnyResource::Observation(Box::new(Observation::deserialize(d)?)),
        "Procedure" => AnyResource::Procedure(Box::new(Procedure::deserialize(d)?)),
        "Bundle" => AnyResource::Bundle(Bundle::deserialize(d)?),
        "OperationOutcome" => AnyResource::OperationOutcome(OperationOutcome::deserialize(d)?),
        _ => {
            IgnoredAny::deserialize(d)?;
            AnyResource::Other(rtype)
        }
    })
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = AnyResource<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a FHIR resource")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key::<Prim<'de>>()? else {
            return Ok(AnyResource::NoType);
        };
        if first.as_str() == Some("resourceType") {
            return match map.next_value::<Prim<'de>>()? {
                Prim::Str(t) if !t.is_empty() => dispatch(t, MapAccessDeserializer::new(map)),
                _ => {
                    drain_map(map)?;
                    Ok(AnyResource::NoType)
                }
            };
        }
        // Rare: `resourceType` is not the first key. Buffer the object once.
        let mut obj = serde_json::Map::new();
        let first_value: serde_json::Value = map.next_value()?;
        obj.insert(first.as_str().unwrap_or_default().to_owned(), first_value);
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            obj.insert(k, v);
        }
        let rtype = match obj.remove("resourceType") {
            Some(serde_json::Value::String(t)) if !t.is_empty() => t,
            _ => return Ok(AnyResource::NoType),
        };
        let owned = dispatch(Cow::Owned(rtype), serde_json::Value::Object(obj))
            .map_err(de::Error::custom)?;
        Ok(owned)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(AnyResource::NotObject("an array"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("a string"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("a number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(AnyResource::NotObject("null"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AnyResource<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

/// Parse one document. Errors only on invalid JSON (or duplicate keys in an object).
pub fn parse_document(json: &str) -> Result<AnyResource<'_>, serde_json::Error> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_next_link() {
        let next = |json: &str| match parse_document(json).unwrap() {
            AnyResource::Bundle(b) => b.next_url().map(str::to_owned),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            next(
                r#"{"resourceType":"Bundle","link":[{"relation":"self","url":"a"},{"relation":"next","url":"b"}]}"#
            ),
            Some("b".into())
        );
        assert_eq!(
            next(r#"{"resourceType":"Bundle","link":[{"relation":"next","url":" "}]}"#),
            None
        );
        assert_eq!(
            next(r#"{"resourceType":"Bundle","link":{"relation":"next"}}"#),
            None
        );
        assert_eq!(
            next(r#"{"resourceType":"Bundle","link":[1,{"relation":"next","url":7}]}"#),
            None
        );
        assert_eq!(next(r#"{"resourceType":"Bundle"}"#), None);
    }

    #[test]
    fn dispatches_and_borrows() {
        let r = parse_document(r#"{"resourceType":"Patient","id":"p1","name":[{"x":1}]}"#).unwrap();
        let AnyResource::Patient(p) = r else {
            panic!("{r:?}")
        };
        assert!(matches!(p.id.0, Some(Cow::Borrowed("p1"))));
    }

    #[test]
    fn resource_type_not_first_is_buffered() {
        let r = parse_document(r#"{"id":"p1","resourceType":"Patient"}"#).unwrap();
        let AnyResource::Patient(p) = r else {
            panic!("{r:?}")
        };
        assert_eq!(p.id.get(), Some("p1"));
    }

    #[test]
    fn wrong_types_do_not_fail() {
        let r = parse_document(
            r#"{"resourceType":"Observation","id":7,"status":["x"],"code":"abc",
                "component":{"a":1},"valueQuantity":[1,2],"effectiveDateTime":{"a":[1]}}"#,
        )
        .unwrap();
        let AnyResource::Observation(o) = r else {
            panic!()
        };
        assert_eq!(o.id.get(), None);
        assert_eq!(o.status, Some(Prim::Other("an array")));
        assert_eq!(o.code.wrong(), Some("a string"));
        assert_eq!(o.component.wrong, Some("an object"));
        assert_eq!(o.value_quantity.wrong(), Some("an array"));
        assert_eq!(o.effective_date_time, Some(Prim::Other("an object")));
    }

    #[test]
    fn other_and_not_object() {
        assert_eq!(
            parse_document(r#"{"resourceType":"Claim","status":{"x":[1,{"y":2}]}}"#).unwrap(),
            AnyResource::Other(Cow::Borrowed("Claim"))
        );
        assert_eq!(parse_document(r#"{"a":1}"#).unwrap(), AnyResource::NoType);
        // An empty resourceType is no type, wherever it is written.
        assert_eq!(
            parse_document(r#"{"resourceType":"","id":"x"}"#).unwrap(),
            AnyResource::NoType
        );
        assert_eq!(
            parse_document(r#"{"id":"x","resourceType":""}"#).unwrap(),
            AnyResource::NoType
        );
        assert_eq!(
            parse_document(r#"[1]"#).unwrap(),
            AnyResource::NotObject("an array")
        );
        assert!(parse_document("{").is_err());
    }

    #[test]
    fn escaped_strings_are_owned() {
        let r = parse_document(r#"{"resourceType":"Patient","id":"a\"b"}"#).unwrap();
        let AnyResource::Patient(p) = r else { panic!() };
        assert_eq!(p.id.get(), Some("a\"b"));
    }

    #[test]
    fn status_reason_one_or_many() {
        let r = parse_document(
            r#"{"resourceType":"MedicationRequest","statusReason":{"text":"side effects"}}"#,
        )
        .unwrap();
        let AnyResource::MedicationRequest(m) = r else {
            panic!()
        };
        assert_eq!(m.status_reason.0.len(), 1);
        let r =
            parse_document(r#"{"resourceType":"MedicationStatement","statusReason":[{"text":"a"},"x",{"text":"b"}]}"#)
                .unwrap();
        let AnyResource::MedicationStatement(m) = r else {
            panic!()
        };
        assert_eq!(m.status_reason.0.len(), 2);
    }
}
