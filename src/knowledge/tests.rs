//! Tests of the knowledge files and the loader.

use super::*;

fn kb() -> KnowledgeBase {
    KnowledgeBase::embedded().expect("embedded knowledge base loads")
}

fn cats(list: &[ConditionCategory]) -> Categories {
    list.iter().copied().collect()
}

use ConditionCategory as C;
use model::systems::{CPT, HCPCS, ICD10CM, LOINC, RXNORM, SNOMED};

// ---------------------------------------------------------------------------------------------------------------
// The embedded files

#[test]
fn embedded_loads_with_version_and_params() {
    let kb = kb();
    assert_eq!(kb.version(), "2026.2");
    assert_eq!(kb.rxnorm_release(), "2024-01");
    assert_eq!(kb.review_status(), "unreviewed");
    let p = kb.params();
    assert_eq!(p.min_failed_trials, 2);
    assert!(!p.require_different_class);
    assert_eq!(p.min_adequate_weeks, 6.0);
    assert_eq!(p.max_gap_days, 14);
    assert_eq!(p.response_pct, 50.0);
    assert_eq!(p.partial_response_pct, 25.0);
    assert_eq!(p.min_augmentation_weeks, 4.0);
    assert_eq!(p.min_pdc, 0.8);
    assert_eq!(p.pdc_min_dispenses, 2);
    assert_eq!(p.dose_hold_days, 14);
    assert_eq!(p.combination_overlap_days, 28);
    assert_eq!(p.min_augmentation_overlap_days, 14);
    assert_eq!(
        (p.baseline_window_before_days, p.baseline_window_after_days),
        (30, 14)
    );
    assert_eq!(p.followup_min_days, 28);
    assert_eq!(p.remission_below, 5);
    assert_eq!(p.nonresponse_without_baseline_min, 10);
    assert_eq!(
        (p.suicide_item9_lookback_days, p.suicide_item9_min),
        (90, 1)
    );
    assert_eq!(p.maoi_washout_days, 14);
    assert_eq!(p.ect_course_min_procedures, 6);
    assert_eq!(p.request_default_days, 30);
    assert_eq!(p.subtherapeutic_min_weeks, 4.0);
    assert_eq!(p.long_episode_days, 365);
}

#[test]
fn load_dir_matches_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let from_dir = KnowledgeBase::load_dir(&dir).expect("knowledge dir loads");
    let embedded = kb();
    assert_eq!(from_dir.version(), embedded.version());
    assert_eq!(from_dir.ingredients().len(), embedded.ingredients().len());
    assert_eq!(from_dir.product_count(), embedded.product_count());
    let missing = KnowledgeBase::load_dir(&dir.join("no-such-dir")).unwrap_err();
    assert!(missing.0.contains("manifest.toml"), "{missing}");
}

#[test]
fn staging_tables() {
    let kb = kb();
    let s = kb.staging();
    assert_eq!((s.mgh_s_failed_trial, s.mgh_s_optimised_bonus), (1.0, 0.5));
    assert_eq!(
        (s.mgh_s_failed_augmentation, s.mgh_s_failed_ect_course),
        (0.5, 3.0)
    );
    let bands = |b: &[Band]| b.iter().map(|b| (b.max, b.points)).collect::<Vec<_>>();
    assert_eq!(
        bands(&s.maudsley_duration),
        [(Some(365.0), 1), (Some(730.0), 2), (None, 3)]
    );
    assert_eq!(
        bands(&s.maudsley_severity_phq9),
        [(Some(4.0), 1), (Some(9.0), 2), (Some(19.0), 3), (None, 4)]
    );
    assert_eq!(
        bands(&s.maudsley_failed),
        [
            (Some(0.0), 0),
            (Some(2.0), 1),
            (Some(4.0), 2),
            (Some(6.0), 3),
            (Some(10.0), 4),
            (None, 5)
        ]
    );
    assert_eq!(s.maudsley_severity_icd.get("0"), Some(&2));
    assert_eq!(s.maudsley_severity_icd.get("1"), Some(&3));
    assert_eq!(s.maudsley_severity_icd.get("2"), Some(&4));
    assert_eq!(s.maudsley_severity_icd.get("3"), Some(&5));
    assert_eq!(s.maudsley_severity_psychotic, 5);
    assert_eq!((s.maudsley_augmentation_used, s.maudsley_ect_used), (1, 1));
    let named: Vec<_> = s
        .maudsley_bands
        .iter()
        .map(|b| (b.max, b.name.as_str()))
        .collect();
    assert_eq!(named, [(6.0, "mild"), (10.0, "moderate"), (15.0, "severe")]);
}

const ANTIDEPRESSANTS: &[&str] = &[
    "citalopram",
    "escitalopram",
    "fluoxetine",
    "paroxetine",
    "sertraline",
    "fluvoxamine",
    "venlafaxine",
    "desvenlafaxine",
    "duloxetine",
    "levomilnacipran",
    "milnacipran",
    "bupropion",
    "mirtazapine",
    "trazodone",
    "nefazodone",
    "vilazodone",
    "vortioxetine",
    "amitriptyline",
    "imipramine",
    "desipramine",
    "clomipramine",
    "doxepin",
    "nortriptyline",
    "protriptyline",
    "trimipramine",
    "amoxapine",
    "maprotiline",
    "phenelzine",
    "tranylcypromine",
    "isocarboxazid",
    "selegiline",
    "gepirone",
    "dextromethorphan",
];
const AUGMENTATION: &[&str] = &[
    "aripiprazole",
    "brexpiprazole",
    "cariprazine",
    "quetiapine",
    "olanzapine",
    "risperidone",
    "lithium",
    "liothyronine",
    "buspirone",
    "methylphenidate",
    "modafinil",
];

#[test]
fn every_reference_ingredient_is_present_with_the_right_role() {
    let kb = kb();
    for id in ANTIDEPRESSANTS {
        let i = kb.ingredient(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(i.role, DrugRole::Antidepressant, "{id}");
        assert!(
            i.min_adequate_mg_day.is_some() && i.optimised_mg_day.is_some(),
            "{id}"
        );
        assert_eq!(i.review_status, "unreviewed", "{id}");
        assert!(!i.source.is_empty(), "{id}");
    }
    for id in AUGMENTATION {
        let i = kb.ingredient(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(i.role, DrugRole::Augmentation, "{id}");
        assert!(i.min_adjunct_mg_day.is_some(), "{id}");
    }
    for id in ["lamotrigine", "valproate", "carbamazepine"] {
        let i = kb.ingredient(id).unwrap();
        assert_eq!(i.role, DrugRole::Other);
        assert!(i.mood_stabiliser, "{id}");
    }
    assert!(kb.ingredient("lithium").unwrap().mood_stabiliser);
    assert!(!kb.ingredient("sertraline").unwrap().mood_stabiliser);
    let esk = kb.ingredient("esketamine").unwrap();
    assert_eq!(
        (esk.role, esk.counts_as_procedure, esk.class),
        (
            DrugRole::Other,
            Some(ProcedureKind::Esketamine),
            DrugClass::Nmda
        )
    );
    assert_eq!(kb.ingredients()[0].id, "citalopram", "file order");
}

#[test]
fn dose_spot_checks() {
    let kb = kb();
    let d = |id: &str| {
        let i = kb.ingredient(id).unwrap();
        (i.min_adequate_mg_day, i.optimised_mg_day)
    };
    // clinical-rules §12 verified values (docs/sources/knowledge-verification.md §1g).
    assert_eq!(d("sertraline"), (Some(50.0), Some(200.0)));
    assert_eq!(d("levomilnacipran"), (Some(40.0), Some(120.0)));
    assert_eq!(d("mirtazapine"), (Some(15.0), Some(45.0)));
    assert_eq!(d("trazodone"), (Some(300.0), Some(400.0)));
    assert_eq!(d("nefazodone"), (Some(300.0), Some(600.0)));
    assert_eq!(d("phenelzine"), (Some(45.0), Some(90.0)));
    assert_eq!(d("isocarboxazid"), (Some(30.0), Some(60.0)));
    assert_eq!(d("maprotiline"), (Some(150.0), Some(150.0)));
    assert_eq!(d("gepirone"), (Some(36.3), Some(72.6)));
    assert_eq!(d("venlafaxine"), (Some(150.0), Some(225.0)));
    assert_eq!(d("bupropion"), (Some(300.0), Some(450.0)));
    assert_eq!(d("duloxetine"), (Some(60.0), Some(120.0)));
    assert_eq!(d("desvenlafaxine"), (Some(50.0), Some(100.0)));
    assert_eq!(d("tranylcypromine"), (Some(30.0), Some(60.0)));
    assert_eq!(d("citalopram"), (Some(20.0), Some(40.0)));
    assert_eq!(d("nortriptyline"), (Some(75.0), Some(150.0)));
    assert_eq!(d("selegiline"), (Some(6.0), Some(12.0)));
    let adj = |id: &str| kb.ingredient(id).unwrap().min_adjunct_mg_day;
    assert_eq!(adj("liothyronine"), Some(0.025));
    assert_eq!(adj("lithium"), Some(600.0));
    assert_eq!(adj("bupropion"), Some(150.0));
    assert_eq!(adj("mirtazapine"), Some(15.0));
    assert_eq!(adj("quetiapine"), Some(150.0));
    assert_eq!(adj("olanzapine"), Some(5.0));
    assert_eq!(adj("lamotrigine"), Some(200.0));
    let w = |id: &str| kb.ingredient(id).unwrap().washout_before_maoi_days;
    assert_eq!(w("fluoxetine"), Some(35));
    assert_eq!(w("vortioxetine"), Some(21));
    assert!(
        kb.ingredients()
            .iter()
            .filter(|i| i.id != "fluoxetine" && i.id != "vortioxetine")
            .all(|i| i.washout_before_maoi_days.is_none())
    );
    assert!(kb.ingredient("buspirone").unwrap().serotonergic);
    // RxCUIs of §12: the valproate ingredient is 40254 (11118 valproic acid and 266856 divalproex
    // are precise ingredients), gepirone and esketamine have theirs.
    assert_eq!(kb.ingredient_by_rxcui("40254").unwrap().id, "valproate");
    assert_eq!(kb.ingredient_by_rxcui("11118").unwrap().id, "valproate");
    assert_eq!(kb.ingredient_by_rxcui("266856").unwrap().id, "valproate");
    assert_eq!(kb.ingredient_by_rxcui("2672253").unwrap().id, "gepirone");
    assert_eq!(kb.ingredient_by_rxcui("2119365").unwrap().id, "esketamine");
}

#[test]
fn every_row_cites_in_repository_sources_and_stays_unreviewed() {
    for i in kb().ingredients() {
        assert!(
            i.checked_against
                .contains("docs/sources/knowledge-verification.md"),
            "{}: {}",
            i.id,
            i.checked_against
        );
        assert!(
            i.source.contains("docs/"),
            "{}: source must cite an in-repository document: {}",
            i.id,
            i.source
        );
        assert_eq!(i.review_status, "unreviewed", "{}", i.id);
    }
    let m = drugs_err(&ad_row("alpha", "").replace("checked_against = \"test\"\n", ""));
    assert_has(&m, &["drugs.toml", "alpha", "checked_against is required"]);
    let m = drugs_err(&ad_row("alpha", "").replace(
        "source = \"test\"",
        "source = \"../outside/trd-clinical-knowledge.md §2.1\"",
    ));
    assert_has(&m, &["drugs.toml", "alpha", "outside the repository"]);
}

#[test]
fn classes_and_interaction_flags() {
    let kb = kb();
    let i = |id: &str| kb.ingredient(id).unwrap();
    assert_eq!(i("amoxapine").class, DrugClass::Teca);
    assert_eq!(i("maprotiline").class, DrugClass::Teca);
    assert_eq!(i("modafinil").class, DrugClass::Stimulant);
    assert_eq!(i("dextromethorphan").class, DrugClass::Nmda);
    assert_eq!(i("dextromethorphan").role, DrugRole::Antidepressant);
    for id in [
        "phenelzine",
        "tranylcypromine",
        "isocarboxazid",
        "selegiline",
    ] {
        assert!(i(id).maoi && !i(id).serotonergic, "{id}");
        assert_eq!(i(id).class, DrugClass::Maoi);
    }
    for id in [
        "sertraline",
        "venlafaxine",
        "amitriptyline",
        "vortioxetine",
        "vilazodone",
        "trazodone",
        "nefazodone",
        "mirtazapine",
        "bupropion",
        "dextromethorphan",
    ] {
        assert!(i(id).serotonergic && !i(id).maoi, "{id}");
    }
    assert!(!i("aripiprazole").serotonergic);
    assert!(i("sertraline").brands.iter().any(|b| b == "Zoloft"));
}

// ---------------------------------------------------------------------------------------------------------------
// Lookups

#[test]
fn rxcui_product_and_atc_lookups() {
    let kb = kb();
    assert_eq!(kb.ingredient_by_rxcui("36437").unwrap().id, "sertraline");
    assert_eq!(kb.ingredient_by_rxcui(" 36437 ").unwrap().id, "sertraline");
    assert_eq!(kb.ingredient_by_rxcui("6448").unwrap().id, "lithium");
    assert_eq!(kb.ingredient_by_rxcui("42351").unwrap().id, "lithium");
    assert_eq!(kb.ingredient_by_rxcui("52105").unwrap().id, "lithium");
    assert!(
        kb.ingredient_by_rxcui("312938").is_none(),
        "a product is not an ingredient"
    );
    assert!(kb.ingredient_by_rxcui("").is_none());

    let p = kb.product_by_rxcui("312938").unwrap();
    assert_eq!(p.ingredients.len(), 1);
    assert_eq!(p.ingredients[0].ingredient, "sertraline");
    assert_eq!(p.ingredients[0].strength_mg, Some(100.0));

    let symbyax = kb.product_by_rxcui("403969").unwrap();
    let ings: Vec<_> = symbyax
        .ingredients
        .iter()
        .map(|i| (i.ingredient.as_str(), i.strength_mg))
        .collect();
    assert_eq!(
        ings,
        [("fluoxetine", Some(25.0)), ("olanzapine", Some(6.0))]
    );

    let auvelity = kb.product_by_rxcui("2611260").unwrap();
    let ings: Vec<_> = auvelity
        .ingredients
        .iter()
        .map(|i| i.ingredient.as_str())
        .collect();
    assert_eq!(ings, ["bupropion", "dextromethorphan"]);

    // Sample-data codes.
    for (code, id, mg) in [
        ("310385", "fluoxetine", Some(20.0)),
        ("406022", "fluoxetine", Some(25.0)),
        ("349332", "escitalopram", Some(10.0)),
        ("197890", "lithium", Some(300.0)),
        ("312743", "quetiapine", Some(100.0)),
    ] {
        let p = kb
            .product_by_rxcui(code)
            .unwrap_or_else(|| panic!("{code}"));
        assert_eq!(
            (
                p.ingredients[0].ingredient.as_str(),
                p.ingredients[0].strength_mg
            ),
            (id, mg),
            "{code}"
        );
    }
    // Transdermal selegiline in mg/24 h; oral selegiline is not a product of the table.
    assert_eq!(
        kb.product_by_rxcui("865206").unwrap().ingredients[0].strength_mg,
        Some(6.0)
    );
    assert!(kb.product_by_rxcui("859186").is_none());
    // GPCK with several strengths: ingredient known, strength unknown.
    let pack = kb.product_by_rxcui("1653469").unwrap();
    assert_eq!(
        (
            pack.ingredients[0].ingredient.as_str(),
            pack.ingredients[0].strength_mg
        ),
        ("vilazodone", None)
    );
    // Bupropion HBr converted to HCl equivalent.
    assert_eq!(
        kb.product_by_rxcui("993567").unwrap().ingredients[0].strength_mg,
        Some(300.0)
    );
    assert!(kb.product_by_rxcui("2201625").is_some(), "esketamine SBDF");
    assert!(
        kb.product_by_rxcui("856706").is_none(),
        "amitriptyline/perphenazine: perphenazine unknown"
    );

    assert_eq!(kb.ingredient_by_atc("N06AB06").unwrap().id, "sertraline");
    assert_eq!(kb.ingredient_by_atc("n06ab06").unwrap().id, "sertraline");
    assert_eq!(kb.ingredient_by_atc("N05AN01").unwrap().id, "lithium");
    assert!(kb.ingredient_by_atc("N06AB").is_none());
    assert!(
        kb.ingredient_by_atc("N04BD01").is_none(),
        "oral selegiline ATC deliberately unmapped"
    );
}

#[test]
fn every_product_maps_to_known_ingredients() {
    let kb = kb();
    assert!(kb.product_count() > 250);
    for i in kb.ingredients() {
        if let Some(rx) = &i.rxcui {
            assert_eq!(kb.ingredient_by_rxcui(rx).unwrap().id, i.id);
        }
    }
}

fn text_ids(kb: &KnowledgeBase, text: &str) -> Vec<String> {
    kb.ingredients_in_text(text)
        .into_iter()
        .map(|i| i.id.clone())
        .collect()
}

#[test]
fn text_matching() {
    let kb = kb();
    assert_eq!(text_ids(&kb, "Sertraline 100MG"), ["sertraline"]);
    assert_eq!(text_ids(&kb, "Zoloft 100 mg"), ["sertraline"]);
    assert_eq!(text_ids(&kb, "ZOLOFT"), ["sertraline"]);
    assert_eq!(text_ids(&kb, "sertraline100mg tablet"), ["sertraline"]);
    assert_eq!(
        text_ids(&kb, "sertraline 100 MG Oral Tablet [Zoloft]"),
        ["sertraline"]
    );
    assert!(text_ids(&kb, "amitriptylinex 25 mg").is_empty());
    assert!(text_ids(&kb, "xsertraline").is_empty());
    assert!(text_ids(&kb, "").is_empty());
    assert!(
        text_ids(&kb, "ketamine infusion").is_empty(),
        "ketamine is not esketamine"
    );
    assert_eq!(
        text_ids(&kb, "olanzapine and fluoxetine"),
        ["olanzapine", "fluoxetine"]
    );
    assert_eq!(text_ids(&kb, "Symbyax 6/25"), ["fluoxetine", "olanzapine"]);
    assert_eq!(
        text_ids(&kb, "Auvelity 45-105 mg"),
        ["bupropion", "dextromethorphan"]
    );
    assert_eq!(
        text_ids(&kb, "FLUoxetine 20 MG Oral Capsule"),
        ["fluoxetine"]
    );
    assert_eq!(text_ids(&kb, "lithium carbonate 300 MG"), ["lithium"]);
    assert_eq!(text_ids(&kb, "Valproic Acid 250 MG"), ["valproate"]);
    assert_eq!(text_ids(&kb, "Depakote ER"), ["valproate"]);
    assert_eq!(text_ids(&kb, "Spravato 56 mg"), ["esketamine"]);
    assert_eq!(text_ids(&kb, "Emsam 6 mg/24 hr patch"), ["selegiline"]);
    assert_eq!(
        text_ids(&kb, "selegiline 6 mg/24h transdermal"),
        ["selegiline"]
    );
    // Oral selegiline is the interaction-only row, never the transdermal antidepressant.
    assert_eq!(
        text_ids(&kb, "selegiline hydrochloride 5 MG Oral Capsule"),
        ["selegiline-oral"]
    );
    assert_eq!(text_ids(&kb, "Eldepryl 5 mg"), ["selegiline-oral"]);
    assert_eq!(text_ids(&kb, "selegiline (Eldepryl)"), ["selegiline-oral"]);
    // Contradictory text: neither row, and the veto is reported.
    assert!(text_ids(&kb, "Emsam 6 mg tablet").is_empty());
    let vetoed: Vec<_> = kb
        .vetoed_in_text("Emsam 6 mg tablet")
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(vetoed, ["selegiline"]);
    assert_eq!(text_ids(&kb, "St. John's Wort 300 mg"), ["st-johns-wort"]);
    assert_eq!(text_ids(&kb, "traMADol 50 mg tablet"), ["tramadol"]);
}

#[test]
fn condition_categories() {
    let kb = kb();
    let c = |s: &str, code: &str| kb.condition_categories(s, code);
    assert_eq!(c(ICD10CM, "F33.1"), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, "F331"), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, " f33.1 "), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, "F32.4"), cats(&[C::MddRemission]));
    assert_eq!(c(ICD10CM, "F32.5"), cats(&[C::MddRemission]));
    assert_eq!(c(ICD10CM, "F33.41"), cats(&[C::MddRemission]));
    assert_eq!(c(ICD10CM, "F33.42"), cats(&[C::MddRemission]));
    assert_eq!(c(ICD10CM, "F32.3"), cats(&[C::Mdd, C::PsychoticFeatures]));
    assert_eq!(c(ICD10CM, "F33.3"), cats(&[C::Mdd, C::PsychoticFeatures]));
    assert_eq!(c(ICD10CM, "F32.89"), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, "F32.A"), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, "f32.a"), cats(&[C::Mdd]));
    assert_eq!(c(ICD10CM, "F33.8"), cats(&[C::Mdd]));
    assert_eq!(
        c(ICD10CM, "F32"),
        cats(&[]),
        "the category header is not a diagnosis"
    );
    assert_eq!(c(ICD10CM, "F34.0"), cats(&[C::Bipolar]));
    assert_eq!(
        c(ICD10CM, "F34.1"),
        cats(&[]),
        "dysthymia is not in any category"
    );
    assert_eq!(c(ICD10CM, "F31.9"), cats(&[C::Bipolar]));
    assert_eq!(c(ICD10CM, "T14.91XA"), cats(&[C::SuicideRisk]));
    assert_eq!(c(ICD10CM, "T14.91XD"), cats(&[C::SuicideRisk]));
    assert_eq!(c(ICD10CM, "R45.851"), cats(&[C::SuicideRisk]));
    assert_eq!(c(ICD10CM, "E03.9"), cats(&[C::Hypothyroidism]));
    assert_eq!(c(ICD10CM, "E06.3"), cats(&[C::Hypothyroidism]));
    assert_eq!(c(ICD10CM, "E05.00"), cats(&[C::Hyperthyroidism]));
    assert_eq!(c(ICD10CM, "F06.1"), cats(&[C::Catatonia]));
    assert_eq!(c(ICD10CM, "F60.3"), cats(&[C::PersonalityDisorder]));
    assert_eq!(c(ICD10CM, "F43.10"), cats(&[C::Ptsd]));
    assert_eq!(c(ICD10CM, "F90.0"), cats(&[C::Adhd]));
    assert_eq!(c(ICD10CM, "F41.1"), cats(&[C::Anxiety]));
    assert_eq!(c(ICD10CM, "F20.9"), cats(&[C::Psychosis]));
    assert!(c(ICD10CM, "F10.20").contains(&C::SubstanceUse));
    assert_eq!(
        c(ICD10CM, "F32.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7"),
        cats(&[]),
        "over-long code"
    );

    assert_eq!(c(SNOMED, "370143000"), cats(&[C::Mdd]));
    assert_eq!(c(SNOMED, "13746004"), cats(&[C::Bipolar]));
    assert_eq!(
        c(SNOMED, "191604000"),
        cats(&[C::Mdd, C::PsychoticFeatures])
    );
    assert_eq!(
        c(SNOMED, "75084000"),
        cats(&[C::Mdd]),
        "without psychotic features"
    );
    assert_eq!(c(SNOMED, "39809009"), cats(&[C::Mdd, C::Catatonia]));
    assert_eq!(
        c(SNOMED, "76105009"),
        cats(&[C::Bipolar]),
        "cyclothymia: bipolar only"
    );
    assert_eq!(c(SNOMED, "40930008"), cats(&[C::Hypothyroidism]));
    assert_eq!(c(SNOMED, "225444004"), cats(&[C::SuicideRisk]));
    assert_eq!(c(SNOMED, "21897009"), cats(&[C::Anxiety]));
    assert_eq!(
        c("urn:oid:2.16.840.1.113883.6.96", "370143000"),
        cats(&[C::Mdd])
    );
    assert_eq!(
        c("urn:oid:2.16.840.1.113883.6.90", "F33.1"),
        cats(&[C::Mdd])
    );

    // Wrong or unknown system: nothing.
    assert_eq!(c(SNOMED, "F33.1"), cats(&[]));
    assert_eq!(c(ICD10CM, "370143000"), cats(&[]));
    assert_eq!(c("http://example.org/local", "F33.1"), cats(&[]));
}

#[test]
fn observation_procedure_and_answer_codes() {
    let kb = kb();
    assert_eq!(
        kb.observation_kind(LOINC, "44261-6"),
        Some(ObservationKind::Phq9Total)
    );
    assert_eq!(
        kb.observation_kind(LOINC, "89204-2"),
        Some(ObservationKind::Phq9Total)
    );
    assert_eq!(
        kb.observation_kind(LOINC, "44260-8"),
        Some(ObservationKind::Phq9Item9)
    );
    assert_eq!(
        kb.observation_kind(LOINC, "55758-7"),
        None,
        "PHQ-2 is never a PHQ-9"
    );
    assert_eq!(
        kb.observation_kind(LOINC, "44249-1"),
        None,
        "the panel is not a score"
    );
    assert_eq!(kb.observation_kind(SNOMED, "44261-6"), None);

    assert_eq!(kb.answer_score(LOINC, "LA6568-5"), Some(0));
    assert_eq!(kb.answer_score(LOINC, "LA6571-9"), Some(3));
    assert_eq!(kb.answer_score(LOINC, "LA0000-0"), None);

    assert_eq!(kb.procedure_kind(CPT, "90870"), Some(ProcedureKind::Ect));
    assert_eq!(
        kb.procedure_kind(SNOMED, "23835007"),
        Some(ProcedureKind::Ect)
    );
    for code in ["90867", "90868", "90869"] {
        assert_eq!(
            kb.procedure_kind(CPT, code),
            Some(ProcedureKind::Tms),
            "{code}"
        );
    }
    assert_eq!(
        kb.procedure_kind(HCPCS, "G2082"),
        Some(ProcedureKind::Esketamine)
    );
    assert_eq!(
        kb.procedure_kind(HCPCS, "G2083"),
        Some(ProcedureKind::Esketamine)
    );
    // The official URI is http://; the https:// spelling EHRs send is still read.
    assert!(HCPCS.starts_with("http://"));
    assert_eq!(
        kb.procedure_kind(model::systems::HCPCS_HTTPS, "G2083"),
        Some(ProcedureKind::Esketamine)
    );
    assert_eq!(kb.procedure_kind(SNOMED, "90870"), None);
    assert_eq!(kb.procedure_kind(CPT, "90871"), None);
    assert_eq!(kb.procedure_kind(RXNORM, "G2082"), None);
    let ect = kb.procedure_codes(ProcedureKind::Ect);
    assert_eq!(
        ect.first(),
        Some(&Code {
            system: CPT.into(),
            code: "90870".into()
        })
    );
    assert_eq!(kb.procedure_codes(ProcedureKind::Tms).len(), 3);
}

#[test]
fn psychotherapy_codes_from_value_set_and_hand_rows() {
    let kb = kb();
    // Generated from the Psych Visit Psychotherapy value set (procedures.json) ...
    for code in ["90832", "90834", "90837"] {
        assert_eq!(
            kb.procedure_kind(CPT, code),
            Some(ProcedureKind::Psychotherapy),
            "{code}"
        );
    }
    for code in ["75516001", "443730003", "183383008"] {
        assert_eq!(
            kb.procedure_kind(SNOMED, code),
            Some(ProcedureKind::Psychotherapy),
            "{code}"
        );
    }
    // ... plus the add-on, family and group CPT codes of clinical-rules §1 (codes.toml).
    for code in [
        "90833", "90836", "90838", "90845", "90846", "90847", "90849", "90853",
    ] {
        assert_eq!(
            kb.procedure_kind(CPT, code),
            Some(ProcedureKind::Psychotherapy),
            "{code}"
        );
    }
    // Psychiatric diagnostic evaluation and crisis codes are not psychotherapy sessions.
    for code in ["90791", "90792", "90839", "90840"] {
        assert_eq!(kb.procedure_kind(CPT, code), None, "{code}");
    }
    assert_eq!(kb.procedure_codes(ProcedureKind::Psychotherapy).len(), 24);
    // The referral code (cards.toml, its one home) is a referral, never a session.
    let referral = kb
        .cards()
        .referral(cards::ReferralService::PsychologicalTherapy)
        .expect("psychotherapy referral code");
    assert_eq!(
        (referral.system.as_str(), referral.code.as_str()),
        (SNOMED, "81294000")
    );
    assert_eq!(kb.procedure_kind(SNOMED, "81294000"), None);
}

#[test]
fn rejects_a_referral_code_that_is_also_a_session() {
    // In cards.toml: the psychotherapy referral carrying the CPT code of an ECT session.
    let cards = KnowledgeSources::embedded().cards.replace(
        "system = \"http://snomed.info/sct\"\ncode = \"81294000\"",
        "system = \"http://www.ama-assn.org/go/cpt\"\ncode = \"90870\"",
    );
    assert!(cards.contains("90870"), "the probe edits the referral row");
    let e = load_with(|s| s.cards = &cards).unwrap_err();
    assert_has(&e.0, &["cards.toml", "90870", "never a session"]);
    // A value-set update that adds the referral code as a session code.
    let e = load_with(|s| {
        s.procedures = r#"{"codes": [{"system": "http://snomed.info/sct", "code": "81294000", "kind": "psychotherapy"}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["cards.toml", "81294000", "never a session"]);
}

#[test]
fn adverse_reasons() {
    let kb = kb();
    assert!(kb.is_adverse_reason(Some(SNOMED), Some("281647001"), None));
    assert!(kb.is_adverse_reason(Some(SNOMED), Some("62014003"), None));
    assert!(kb.is_adverse_reason(None, Some("62014003"), None));
    assert!(!kb.is_adverse_reason(Some(LOINC), Some("62014003"), None));
    assert!(kb.is_adverse_reason(None, None, Some("Stopped: intolerable nausea")));
    assert!(kb.is_adverse_reason(None, None, Some("SIDE EFFECTS")));
    assert!(kb.is_adverse_reason(None, None, Some("side-effect: sexual dysfunction")));
    assert!(kb.is_adverse_reason(Some(SNOMED), Some("1234"), Some("Adverse reaction")));
    assert!(!kb.is_adverse_reason(None, None, Some("cost")));
    assert!(!kb.is_adverse_reason(None, None, Some("")));
    assert!(!kb.is_adverse_reason(None, None, None));
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: bad files fed through from_sources

const NO_PRODUCTS: &str = r#"{"products": []}"#;
const NO_CONDITIONS: &str = r#"{"codes": []}"#;

fn ad_row(id: &str, extra: &str) -> String {
    format!(
        r#"
[[ingredient]]
id = "{id}"
display = "{id}"
class = "SSRI"
role = "antidepressant"
min_adequate_mg_day = 20
optimised_mg_day = 40
serotonergic = true
maoi = false
source = "test"
checked_against = "test"
review_status = "unreviewed"
{extra}
"#
    )
}

/// Loads the embedded files with some replaced; drugs-only cases use empty products and conditions.
fn load_with<'a>(f: impl FnOnce(&mut KnowledgeSources<'a>)) -> Result<KnowledgeBase, KbError> {
    let mut src: KnowledgeSources<'a> = KnowledgeSources::embedded();
    f(&mut src);
    KnowledgeBase::from_sources(&src)
}

fn drugs_err(drugs: &str) -> String {
    let e = load_with(|s| {
        s.drugs = drugs;
        s.products = NO_PRODUCTS;
    })
    .expect_err("should fail");
    e.to_string()
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should contain {p:?}");
    }
}

#[test]
fn minimal_files_load() {
    let drugs = ad_row("alpha", "rxcui = \"1\"\natc = [\"X01\"]");
    let kb = load_with(|s| {
        s.drugs = &drugs;
        s.products = NO_PRODUCTS;
        s.conditions = NO_CONDITIONS;
    })
    .unwrap();
    assert_eq!(kb.ingredients().len(), 1);
    assert_eq!(kb.ingredient_by_rxcui("1").unwrap().id, "alpha");
    assert_eq!(kb.ingredient_by_atc("X01").unwrap().id, "alpha");
    // Hand-authored condition codes still apply without the generated ones.
    assert_eq!(kb.condition_categories(ICD10CM, "F33.1"), cats(&[C::Mdd]));
}

#[test]
fn rejects_unknown_class_and_role() {
    let m = drugs_err(&ad_row("alpha", "").replace("\"SSRI\"", "\"SSNRI\""));
    assert_has(&m, &["drugs.toml", "SSNRI"]);
    let m = drugs_err(&ad_row("alpha", "").replace("\"antidepressant\"", "\"booster\""));
    assert_has(&m, &["drugs.toml", "booster"]);
    let m = drugs_err(&ad_row("alpha", "colour = \"blue\""));
    assert_has(&m, &["drugs.toml", "colour"]);
}

#[test]
fn rejects_duplicates() {
    let m = drugs_err(&(ad_row("alpha", "") + &ad_row("alpha", "")));
    assert_has(
        &m,
        &["drugs.toml", "'alpha'", "row 2", "duplicate ingredient id"],
    );
    let m = drugs_err(&(ad_row("alpha", "rxcui = \"7\"") + &ad_row("beta", "rxcui = \"7\"")));
    assert_has(
        &m,
        &["drugs.toml", "'beta'", "duplicate RxCUI 7", "'alpha'"],
    );
    let m =
        drugs_err(&(ad_row("alpha", "rxcui = \"7\"") + &ad_row("beta", "extra_rxcuis = [\"7\"]")));
    assert_has(&m, &["duplicate RxCUI 7"]);
    let m = drugs_err(
        &(ad_row("alpha", "atc = [\"N06AB06\"]") + &ad_row("beta", "atc = [\"N06AB06\"]")),
    );
    assert_has(&m, &["drugs.toml", "'beta'", "duplicate ATC N06AB06"]);

    let e = load_with(|s| {
        s.products = r#"{"products": [
            {"rxcui": "312938", "display": "a", "ingredients": [{"ingredient": "sertraline", "strength_mg": 100}]},
            {"rxcui": "312938", "display": "b", "ingredients": [{"ingredient": "sertraline", "strength_mg": null}]}
        ]}"#;
    })
    .unwrap_err();
    assert_has(
        &e.0,
        &[
            "products.json",
            "312938",
            "row 2",
            "duplicate product RxCUI",
        ],
    );
}

#[test]
fn rejects_product_with_unknown_ingredient() {
    let e = load_with(|s| {
        s.products = r#"{"products": [
            {"rxcui": "1", "display": "perphenazine 2 MG", "ingredients": [{"ingredient": "perphenazine", "strength_mg": 2}]}
        ]}"#;
    })
    .unwrap_err();
    assert_has(
        &e.0,
        &[
            "products.json",
            "product 1",
            "unknown ingredient 'perphenazine'",
        ],
    );
    let e = load_with(|s| {
        s.products = r#"{"products": [{"rxcui": "1", "display": "x", "ingredients": []}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["products.json", "no ingredients"]);
}

#[test]
fn rejects_missing_or_bad_doses() {
    let m = drugs_err(&ad_row("alpha", "").replace("min_adequate_mg_day = 20\n", ""));
    assert_has(
        &m,
        &["'alpha'", "antidepressant without min_adequate_mg_day"],
    );
    let m = drugs_err(&ad_row("alpha", "").replace("optimised_mg_day = 40\n", ""));
    assert_has(&m, &["'alpha'", "antidepressant without optimised_mg_day"]);
    let aug = ad_row("alpha", "")
        .replace("\"antidepressant\"", "\"augmentation\"")
        .replace("\"SSRI\"", "\"antipsychotic\"");
    let m = drugs_err(&aug);
    assert_has(
        &m,
        &["'alpha'", "augmentation agent without min_adjunct_mg_day"],
    );
    let m = drugs_err(
        &ad_row("alpha", "").replace("min_adequate_mg_day = 20", "min_adequate_mg_day = 0"),
    );
    assert_has(&m, &["'alpha'", "min_adequate_mg_day must be positive"]);
    let m = drugs_err(&ad_row("alpha", "min_adjunct_mg_day = -5"));
    assert_has(&m, &["min_adjunct_mg_day must be positive"]);
    let m =
        drugs_err(&ad_row("alpha", "").replace("optimised_mg_day = 40", "optimised_mg_day = 10"));
    assert_has(
        &m,
        &["'alpha'", "optimised_mg_day 10 < min_adequate_mg_day 20"],
    );
    let e = load_with(|s| {
        s.products = r#"{"products": [{"rxcui": "1", "display": "x", "ingredients": [{"ingredient": "sertraline", "strength_mg": 0}]}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["products.json", "strength_mg must be positive"]);
}

#[test]
fn rejects_empty_version() {
    let manifest = KnowledgeSources::embedded()
        .manifest
        .replace("version = \"2026.2\"", "version = \" \"");
    let e = load_with(|s| s.manifest = &manifest).unwrap_err();
    assert_has(&e.0, &["manifest.toml", "empty version"]);
}

#[test]
fn rejects_unknown_condition_category() {
    let codes = KnowledgeSources::embedded().codes.replace(
        "categories = [\"hypothyroidism\"]",
        "categories = [\"thyroid\"]",
    );
    let e = load_with(|s| s.codes = &codes).unwrap_err();
    assert_has(&e.0, &["codes.toml", "thyroid"]);
    let e = load_with(|s| {
        s.conditions = r#"{"codes": [{"system": "http://snomed.info/sct", "code": "1", "categories": ["gloom"]}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["conditions.json", "gloom"]);
    let e = load_with(|s| {
        s.conditions =
            r#"{"codes": [{"system": "http://example.org", "code": "1", "categories": ["mdd"]}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["conditions.json", "unknown code system"]);
}

#[test]
fn rejects_bad_procedures_file() {
    let e = load_with(|s| {
        s.procedures =
            r#"{"codes": [{"system": "http://snomed.info/sct", "code": "1", "kind": "hypnosis"}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["procedures.json", "hypnosis"]);
    let e = load_with(|s| {
        s.procedures =
            r#"{"codes": [{"system": "http://example.org", "code": "1", "kind": "psychotherapy"}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["procedures.json", "unknown code system"]);
    // A generated code that a hand row already defines (ECT 90870) is refused, not overridden.
    let e = load_with(|s| {
        s.procedures = r#"{"codes": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90870", "kind": "psychotherapy"}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["procedures.json", "90870", "duplicate"]);
    let e = load_with(|s| {
        s.procedures = r#"{"codes": [{"system": "http://www.ama-assn.org/go/cpt", "code": " ", "kind": "psychotherapy"}]}"#;
    })
    .unwrap_err();
    assert_has(&e.0, &["procedures.json", "empty code"]);
}

#[test]
fn rejects_bad_parameters_and_staging() {
    let params = KnowledgeSources::embedded()
        .parameters
        .replace("max_gap_days = 14", "max_gap_days = 14\nmax_gap_weeks = 2");
    let e = load_with(|s| s.parameters = &params).unwrap_err();
    assert_has(&e.0, &["parameters.toml", "max_gap_weeks"]);
    let params = KnowledgeSources::embedded()
        .parameters
        .replace("partial_response_pct = 25.0", "partial_response_pct = 60.0");
    let e = load_with(|s| s.parameters = &params).unwrap_err();
    assert_has(&e.0, &["parameters.toml", "partial_response_pct"]);
    let staging = KnowledgeSources::embedded()
        .staging
        .replace("{ points = 3 },", "{ max = 1000, points = 3 },");
    let e = load_with(|s| s.staging = &staging).unwrap_err();
    assert_has(&e.0, &["staging.toml", "maudsley_duration", "open-ended"]);
    let staging = KnowledgeSources::embedded()
        .staging
        .replace("{ max = 730, points = 2 },", "{ max = 300, points = 2 },");
    let e = load_with(|s| s.staging = &staging).unwrap_err();
    assert_has(
        &e.0,
        &["staging.toml", "maudsley_duration", "not increasing"],
    );
}
