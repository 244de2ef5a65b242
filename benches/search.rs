//! Search at a fixed ef against the exact scan on the same collection (20,000 x 128-d
//! clustered, cosine): the ratio of the two lines is the speed-up of the graph.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Metric, Point, SearchParams};

fn vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    let centre = rng.below(16) as f32;
    (0..dim)
        .map(|i| ((i as f32 + centre) * 0.37).sin() + rng.unit_f32() - 0.5)
        .collect()
}

fn search(c: &mut Criterion) {
    let dim = 128;
    let mut rng = Rng::new(7);
    // Linking only when asked, and then all of it: every search walks the same whole graph.
    let options = veles::Options::default().with_linking(veles::Linking::Manual);
    let db = Database::open_in(
        std::sync::Arc::new(veles::region::MemoryDirectory::new()),
        options,
    )
    .unwrap();
    let col = db
        .create_collection("b", CollectionConfig::new(dim as u32, Metric::Cosine))
        .unwrap();
    for chunk in 0..20 {
        let pts: Vec<Point> = (0..1000)
            .map(|i| Point::new(chunk * 1000 + i, vector(&mut rng, dim)))
            .collect();
        col.upsert(&pts).unwrap();
    }
    col.optimize(None).unwrap();
    let queries: Vec<Vec<f32>> = (0..64).map(|_| vector(&mut rng, dim)).collect();
    let mut g = c.benchmark_group("search/20k x 128-d, k 10");
    let mut i = 0;
    for (name, params) in [
        ("hnsw ef 64", SearchParams::default().with_ef(Some(64))),
        ("exact scan", SearchParams::default().with_exact(true)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                col.search_with(black_box(&queries[i]), 10, &params)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
