//! Parse + assess + render, per patient size (criterion). Run: `cargo bench --bench pipeline`.
//! `timeline` renders the treatment timeline SVG of each patient (issue 17): `cargo bench --bench
//! pipeline -- timeline`.
//! Inputs: synthetic patients of 10/60/500/3000 resources (`scripts/gen_bench_patients.py`) and the
//! three pysynthea bundles of `tests/data/sample-data/` (2,000-3,200 entries each).
//! Regression threshold: see README ("Performance").

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trd_cds::cards::{self, CardContext};
use trd_cds::clinical::{self, SiteConfig};
use trd_cds::fhir::reader;
use trd_cds::knowledge::KnowledgeBase;

fn inputs() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut v: Vec<(String, String)> = [10, 60, 500, 3000]
        .iter()
        .map(|n| {
            let p = format!("{root}/tests/fixtures/bench-patient-{n}.json");
            (
                format!("synthetic-{n}"),
                std::fs::read_to_string(&p).expect(&p),
            )
        })
        .collect();
    let dir = format!("{root}/tests/data/sample-data/pysynthea-generated");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".json") && !name.contains("module") {
            let short = name.split('_').next().unwrap_or(&name).to_string();
            v.push((
                format!("pysynthea-{short}"),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let kb = KnowledgeBase::embedded().expect("knowledge base");
    let site = SiteConfig::default();
    let as_of = time::macros::date!(2026 - 11 - 01);
    let ctx = CardContext::default();

    let mut g = c.benchmark_group("parse+assess+render");
    for (name, json) in inputs() {
        g.throughput(Throughput::Bytes(json.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(&name), &json, |b, json| {
            b.iter(|| {
                let record = reader::read_bundle(black_box(json), &kb).unwrap();
                let a = clinical::assess(&record, &kb, &site, as_of);
                black_box(cards::patient_view(&a, &record, &kb, &ctx))
            })
        });
    }
    g.finish();

    // Where the time goes for the typical patient.
    let json = std::fs::read_to_string(format!(
        "{}/tests/fixtures/bench-patient-60.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let record = reader::read_bundle(&json, &kb).unwrap();
    let a = clinical::assess(&record, &kb, &site, as_of);
    let mut g = c.benchmark_group("synthetic-60 stages");
    g.bench_function("parse", |b| {
        b.iter(|| reader::read_bundle(black_box(&json), &kb).unwrap())
    });
    g.bench_function("assess", |b| {
        b.iter(|| clinical::assess(black_box(&record), &kb, &site, as_of))
    });
    g.bench_function("render", |b| {
        b.iter(|| cards::patient_view(black_box(&a), &record, &kb, &ctx))
    });
    g.bench_function("serialize response", |b| {
        let cards: Vec<_> = cards::patient_view(&a, &record, &kb, &ctx)
            .into_iter()
            .map(|c| c.card)
            .collect();
        b.iter(|| serde_json::to_vec(black_box(&cards)).unwrap())
    });
    g.finish();
}

/// The prefetched documents of a patient-view request, as the hook reads them.
fn docs_of<'a>(req: &'a trd_cds::cds_hooks::request::CdsRequest<'a>) -> Vec<reader::Document<'a>> {
    use trd_cds::cds_hooks::discovery::PATIENT_VIEW_PREFETCH;
    use trd_cds::cds_hooks::prefetch::{PrefetchValue, classify};
    PATIENT_VIEW_PREFETCH
        .iter()
        .filter_map(|t| match classify(req.prefetch.as_ref(), t.key).unwrap() {
            PrefetchValue::Present(doc) => Some(reader::Document::Parsed(doc)),
            _ => None,
        })
        .collect()
}

/// The hook's own path on the load test's request (60 resources, 60 KB), stage by stage.
fn hook_request(c: &mut Criterion) {
    use trd_cds::cds_hooks::request::parse_request;

    let kb = KnowledgeBase::embedded().expect("knowledge base");
    let site = SiteConfig::default();
    let as_of = time::macros::date!(2026 - 11 - 01);
    let ctx = CardContext::default();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/patient-view-60.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let req = parse_request(&body).unwrap();
    let docs = docs_of(&req);
    let record = reader::read_all(&docs, &kb).unwrap();
    let a = clinical::assess(&record, &kb, &site, as_of);
    let cards: Vec<_> = cards::patient_view(&a, &record, &kb, &ctx)
        .into_iter()
        .map(|c| c.card)
        .collect();

    let mut g = c.benchmark_group("patient-view-60 request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("1 parse request (prefetch included)", |b| {
        b.iter(|| parse_request(black_box(&body)).unwrap())
    });
    g.bench_function("2 classify prefetch", |b| {
        b.iter(|| docs_of(black_box(&req)))
    });
    g.bench_function("3 read FHIR (facts from parsed prefetch)", |b| {
        b.iter(|| reader::read_all(black_box(&docs), &kb).unwrap())
    });
    g.bench_function("4 assess", |b| {
        b.iter(|| clinical::assess(black_box(&record), &kb, &site, as_of))
    });
    g.bench_function("5 render cards", |b| {
        b.iter(|| cards::patient_view(black_box(&a), &record, &kb, &ctx))
    });
    g.bench_function("6 serialize response", |b| {
        b.iter(|| serde_json::to_vec(black_box(&cards)).unwrap())
    });
    g.bench_function("all (1-6)", |b| {
        b.iter(|| {
            let req = parse_request(black_box(&body)).unwrap();
            let docs = docs_of(&req);
            let record = reader::read_all(&docs, &kb).unwrap();
            let a = clinical::assess(&record, &kb, &site, as_of);
            let cards: Vec<_> = cards::patient_view(&a, &record, &kb, &ctx)
                .into_iter()
                .map(|c| c.card)
                .collect();
            serde_json::to_vec(&cards).unwrap()
        })
    });
    g.finish();
}

/// The treatment timeline (src/timeline) of each patient's assessment, at 1,200 and 400 px.
fn timeline(c: &mut Criterion) {
    use trd_cds::timeline::{TimelineOptions, render_svg};

    let kb = KnowledgeBase::embedded().expect("knowledge base");
    let site = SiteConfig::default();
    let as_of = time::macros::date!(2026 - 11 - 01);
    let mut g = c.benchmark_group("timeline");
    for (name, json) in inputs() {
        let record = reader::read_bundle(&json, &kb).unwrap();
        let a = clinical::assess(&record, &kb, &site, as_of);
        for width in [1200, 400] {
            let opts = TimelineOptions { width };
            g.bench_with_input(BenchmarkId::new(format!("{width}px"), &name), &a, |b, a| {
                b.iter(|| render_svg(black_box(a), &opts))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench, hook_request, timeline
}
criterion_main!(benches);
