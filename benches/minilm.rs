//! The engine on real embeddings (`../shared/data/minilm-20k`: 20,000 x 384-d, cosine), one
//! thread: building the graph over points already stored (`optimize`), the 200 queries as one
//! `search_batch` at the efs where recall@10 passes 0.95 and 0.99, and with a filter that 1 %
//! of the points pass (`bucket < 10` of `bucket = id % 1000`, an integer index: the matches
//! are scored exactly). Skips, saying so,
//! where the data is absent. Compare two versions with criterion's baselines
//! (`--save-baseline before`, then `--baseline before`): the ratio is what counts.
//!
//! Time is this thread's CPU time, not wall time (`common/thread_cpu.rs` says why).

#[path = "common/thread_cpu.rs"]
mod thread_cpu;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use thread_cpu::ThreadCpu;
use veles::testing::{read_fvecs, shared_data};
use veles::{CollectionConfig, Database, Filter, IndexKind, Metric, Options, Point, SearchParams};

fn stored(base: &[Vec<f32>]) -> (Database, veles::Collection) {
    // Linking only when asked: the build measured is `optimize` over points already stored.
    let options = Options::default()
        .with_threads(Some(1))
        .with_linking(veles::Linking::Manual);
    let db = Database::open_in(
        std::sync::Arc::new(veles::region::MemoryDirectory::new()),
        options,
    )
    .expect("an empty memory directory opens");
    let col = db
        .create_collection(
            "b",
            CollectionConfig::new(base[0].len() as u32, Metric::Cosine),
        )
        .expect("create");
    for (i, chunk) in base.chunks(1000).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let id = (i * 1000 + j) as u64;
                Point::new(id, v.clone()).with_payload(serde_json::json!({ "bucket": id % 1000 }))
            })
            .collect();
        col.upsert(&points).expect("upsert");
    }
    col.create_index("bucket", IndexKind::Integer)
        .expect("index");
    (db, col)
}

fn minilm(c: &mut Criterion<ThreadCpu>) {
    let Some(dir) = shared_data("minilm-20k") else {
        return;
    };
    let base = read_fvecs(&dir.join("base.fvecs")).expect("base.fvecs");
    let queries = read_fvecs(&dir.join("query.fvecs")).expect("query.fvecs");
    let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();

    let mut g = c.benchmark_group("minilm-20k");
    g.sample_size(10);
    g.bench_function("build, one thread", |b| {
        b.iter_batched(
            || stored(&base),
            |(db, col)| {
                col.optimize(None).expect("optimize");
                (db, col)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let (_db, col) = stored(&base);
    col.optimize(None).expect("optimize");
    let mut g = c.benchmark_group("minilm-20k, 200 queries, k 10");
    for ef in [32, 64, 128] {
        let params = SearchParams::default().with_ef(Some(ef));
        g.bench_function(format!("ef {ef}"), |b| {
            b.iter(|| {
                col.search_batch(black_box(&queries), 10, &params)
                    .expect("search")
            })
        });
    }
    let filter = Filter::from_json_str(r#"{"key": "bucket", "lt": 10}"#).expect("filter");
    let params = SearchParams::default().with_filter(Some(&filter));
    g.bench_function("bucket < 10 (1 %)", |b| {
        b.iter(|| {
            col.search_batch(black_box(&queries), 10, &params)
                .expect("search")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = minilm
}
criterion_main!(benches);
