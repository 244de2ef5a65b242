//! Distance kernels: the dispatched kernel (AVX2 where present) against the portable
//! definition, at common and odd dimensions. Compare the two lines of a group: a ratio.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use veles::distance;
use veles::testing::Rng;

fn kernels(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    for dim in [127usize, 384, 768, 1536] {
        let a: Vec<f32> = (0..dim).map(|_| rng.unit_f32()).collect();
        let b: Vec<f32> = (0..dim).map(|_| rng.unit_f32()).collect();
        let mut g = c.benchmark_group(format!("dot/{dim}"));
        g.throughput(Throughput::Elements(dim as u64));
        g.bench_function(BenchmarkId::new("dispatched", dim), |bench| {
            bench.iter(|| distance::dot(black_box(&a), black_box(&b)))
        });
        g.bench_function(BenchmarkId::new("portable", dim), |bench| {
            bench.iter(|| distance::dot_portable(black_box(&a), black_box(&b)))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("l2/{dim}"));
        g.throughput(Throughput::Elements(dim as u64));
        g.bench_function(BenchmarkId::new("dispatched", dim), |bench| {
            bench.iter(|| distance::l2_squared(black_box(&a), black_box(&b)))
        });
        g.bench_function(BenchmarkId::new("portable", dim), |bench| {
            bench.iter(|| distance::l2_squared_portable(black_box(&a), black_box(&b)))
        });
        g.finish();
    }
    let words_a: Vec<u64> = (0..16).map(|_| rng.next_u64()).collect();
    let words_b: Vec<u64> = (0..16).map(|_| rng.next_u64()).collect();
    c.bench_function("hamming/1024-bit", |bench| {
        bench.iter(|| distance::hamming(black_box(&words_a), black_box(&words_b)))
    });
}

criterion_group!(benches, kernels);
criterion_main!(benches);
