//! Hybrid queries through the component against the engine linked natively, on the same
//! files (`../shared/data/hybrid-20k` over `minilm-20k`): the 1,200 queries as one
//! `query_batch` each way: BM25 over the text index alone and fused with the dense vector
//! (RRF), BM25 as sparse vectors (`Bm25Embedder`) alone and fused (DBSF), best of five rounds
//! interleaved, wall time on one thread; the component as the CLI runs it (with
//! deadlines: wasmtime's epoch checks) and without them. The ratio is what counts. Skips,
//! saying so, where the data is absent.
//!
//! `cargo bench -p veles-host --bench hybrid`

use std::time::Instant;
use veles::testing::{read_fvecs, shared_data};
use veles::{
    Bm25Embedder, CollectionConfig, Fusion, IndexKind, Leg, Metric, Point, Query, SparseField,
    TextConfig,
};
use veles_host::{Backend, ComponentBackend, Limits, NativeBackend, OpenOptions, Runtime};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (Some(hybrid), Some(minilm)) = (shared_data("hybrid-20k"), shared_data("minilm-20k"))
    else {
        return;
    };
    let texts = std::fs::read_to_string(minilm.join("base.txt")).expect("base.txt");
    let base = read_fvecs(&minilm.join("base.fvecs")).expect("base.fvecs");
    let queries = std::fs::read_to_string(hybrid.join("queries.txt")).expect("queries.txt");
    let vectors = read_fvecs(&hybrid.join("query.fvecs")).expect("query.fvecs");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let embedder = Bm25Embedder::new(TextConfig::default(), 256.0);
    {
        let mut db = NativeBackend::open(tmp.path()).expect("open");
        let config =
            CollectionConfig::new(384, Metric::Cosine).with_sparse(SparseField::new("bm25", true));
        db.create_collection("h", config).expect("create");
        db.create_index("h", "text", IndexKind::Text)
            .expect("index");
        let points: Vec<Point> = texts
            .lines()
            .zip(base)
            .enumerate()
            .map(|(i, (t, v))| {
                Point::new(i as u64, v)
                    .with_payload(serde_json::json!({ "text": t }))
                    .with_sparse("bm25", embedder.embed_document(t))
            })
            .collect();
        for chunk in points.chunks(1000) {
            db.upsert("h", chunk).expect("upsert");
        }
        db.checkpoint("h").expect("checkpoint");
    }
    let bm25: Vec<Query> = queries
        .lines()
        .map(|q| Query::new(10).with_payload(false).leg(Leg::text("text", q)))
        .collect();
    let rrf: Vec<Query> = queries
        .lines()
        .zip(&vectors)
        .map(|(q, v)| {
            Query::new(10)
                .with_payload(false)
                .leg(Leg::dense(v.clone()).with_limit(50).with_ef(64))
                .leg(Leg::text("text", q).with_limit(50))
                .with_fusion(Fusion::Rrf { k: 2.0 })
        })
        .collect();
    let sparse: Vec<Query> = queries
        .lines()
        .map(|q| {
            Query::new(10)
                .with_payload(false)
                .leg(Leg::sparse("bm25", embedder.embed_query(q)))
        })
        .collect();
    let dbsf: Vec<Query> = queries
        .lines()
        .zip(&vectors)
        .map(|(q, v)| {
            Query::new(10)
                .with_payload(false)
                .leg(Leg::dense(v.clone()).with_limit(50).with_ef(64))
                .leg(Leg::sparse("bm25", embedder.embed_query(q)).with_limit(50))
                .with_fusion(Fusion::Dbsf)
        })
        .collect();
    let runtime = Runtime::new().expect("the component loads");
    let no_deadlines = Limits {
        call_timeout: None,
        ..Limits::default()
    };
    let plain = Runtime::for_limits(&no_deadlines).expect("the component loads");
    // Both read-only (readers take no lock), the component as the CLI runs it.
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let mut sides: Vec<(&str, Box<dyn Backend>)> = vec![
        (
            "native",
            Box::new(NativeBackend::open_with(tmp.path(), &options).expect("open")),
        ),
        (
            "component",
            Box::new(ComponentBackend::open_with(&runtime, tmp.path(), &options).expect("open")),
        ),
        (
            "component without deadlines",
            Box::new(
                ComponentBackend::open_with(
                    &plain,
                    tmp.path(),
                    &OpenOptions {
                        limits: no_deadlines.clone(),
                        ..options.clone()
                    },
                )
                .expect("open"),
            ),
        ),
    ];
    for (name, qs) in [
        ("BM25 (text index)", &bm25),
        ("RRF dense 50 + BM25 50", &rrf),
        ("sparse BM25", &sparse),
        ("DBSF dense 50 + sparse BM25 50", &dbsf),
    ] {
        let mut best = [f64::INFINITY; 3];
        let mut answers = Vec::new();
        for _ in 0..5 {
            answers.clear();
            for (i, (_, db)) in sides.iter_mut().enumerate() {
                let t = Instant::now();
                let hits = db.query_batch("h", qs).expect("query");
                best[i] = best[i].min(t.elapsed().as_secs_f64());
                answers.push(hits);
            }
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{name}: the same answers every way"
        );
        let qps = |s: f64| qs.len() as f64 / s;
        println!(
            "{name}: native {:.0} QPS; component {:.0} QPS ({:.2}x native), without deadlines {:.0} QPS ({:.2}x)",
            qps(best[0]),
            qps(best[1]),
            best[0] / best[1],
            qps(best[2]),
            best[0] / best[2]
        );
    }
}
