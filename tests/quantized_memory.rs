//! `VectorMemory::Quantized`: only the SQ8 copy and the graph in memory, exact vectors read by
//! position. The graph is built, saved, reloaded, repaired and compacted on the SQ8 copy;
//! searches rerank by reading the file; recall stays within 0.01 of the full-memory mode, and
//! both modes open each other's files. Every float metric has the copy; bit vectors have none.

use veles::testing::Rng;
use veles::testing::recall_vs_exact;
use veles::{
    CollectionConfig, Database, Metric, Options, PlanKind, Point, SearchParams, VectorMemory,
};

const DIM: usize = 48;

fn open(dir: &std::path::Path, memory: VectorMemory) -> Database {
    Database::open_with(dir, Options::default().with_vector_memory(memory)).unwrap()
}

fn hits(c: &veles::Collection, queries: &[Vec<f32>]) -> Vec<Vec<(u64, u32)>> {
    queries
        .iter()
        .map(|q| {
            let p = SearchParams::default().with_ef(Some(32));
            let h = c.search_with(q, 10, &p).unwrap();
            h.iter().map(|h| (h.id, h.score.to_bits())).collect()
        })
        .collect()
}

#[test]
fn a_quantized_collection_keeps_a_graph_on_the_sq8_copy_through_its_whole_life() {
    let (full_dir, quant_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut rng = Rng::new(11);
    let points: Vec<Point> = (0..4000)
        .map(|i| Point::new(i, rng.clustered(DIM)))
        .collect();
    let queries: Vec<Vec<f32>> = (0..40).map(|_| rng.clustered(DIM)).collect();
    let config = CollectionConfig::new(DIM as u32, Metric::Cosine);
    let full_db = open(full_dir.path(), VectorMemory::Full);
    let quant_db = open(quant_dir.path(), VectorMemory::Quantized);
    let full = full_db.create_collection("c", config.clone()).unwrap();
    let quant = quant_db.create_collection("c", config).unwrap();
    for c in [&full, &quant] {
        for chunk in points.chunks(500) {
            c.upsert(chunk).unwrap();
        }
        c.optimize(None).unwrap();
    }
    let s = quant.stats().unwrap();
    assert_eq!((s.graph_nodes, s.unindexed), (4000, 0), "the graph exists");
    assert_eq!(
        quant.plan(10, &SearchParams::default()).unwrap().kind,
        PlanKind::Graph
    );
    let (rf, rq) = (
        recall_vs_exact(&full, &queries, 10, 64),
        recall_vs_exact(&quant, &queries, 10, 64),
    );
    assert!(rq >= rf - 0.01, "quantized recall {rq} vs full {rf}");

    // Deletes (tombstones, repaired at the checkpoint), a checkpoint, a reopen that loads the
    // graph file, a compaction that renumbers the SQ8 copy: still a graph, still exact-ranked.
    let gone: Vec<u64> = (0..4000).step_by(3).collect();
    quant.delete(&gone).unwrap();
    quant.checkpoint().unwrap();
    let before = hits(&quant, &queries);
    drop((quant, quant_db));
    let quant_db = open(quant_dir.path(), VectorMemory::Quantized);
    let quant = quant_db.collection("c").unwrap();
    assert!(quant.stats().unwrap().recovery.graph_loaded);
    assert_eq!(
        hits(&quant, &queries),
        before,
        "the reopened graph walks as before"
    );
    let report = quant.compact().unwrap();
    assert_eq!(report.points, 4000 - gone.len() as u64);
    assert!(
        quant.check().unwrap().is_ok(),
        "the SQ8 copy follows the renumbering"
    );
    let r = recall_vs_exact(&quant, &queries, 10, 64);
    assert!(r >= rf - 0.02, "after compaction: {r}");
    for h in quant.search(&queries[0], 10, None).unwrap() {
        assert!(h.id % 3 != 0, "deleted point {} found", h.id);
    }

    // The same files open in the other mode: every point, the same vectors.
    drop((quant, quant_db));
    let other = open(quant_dir.path(), VectorMemory::Full);
    let c = other.collection("c").unwrap();
    assert_eq!(c.len().unwrap(), 4000 - gone.len());
    assert!(c.check().unwrap().is_ok());
    let p = c.get(&[1, 2, 3998]).unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].as_ref().map(|p| p.id), Some(1));
    assert!(p[2].is_some());
}

/// A collection "c" of `metric` holding `points`, every one linked into the graph.
fn linked(db: &Database, metric: Metric, points: &[Point]) -> veles::Collection {
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, metric))
        .unwrap();
    c.upsert(points).unwrap();
    c.optimize(None).unwrap();
    c
}

/// Euclidean and dot collections walk their SQ8 copy too (with squared norms for
/// euclidean): a graph in both memory modes, on data that is not centred (euclidean) or not of
/// unit length (dot), with recall within 0.02 of a walk over the exact vectors.
#[test]
fn euclidean_and_dot_collections_walk_the_sq8_copy_in_both_memory_modes() {
    let mut rng = Rng::new(21);
    let mut vector = |metric: Metric| -> Vec<f32> {
        let v = rng.clustered(DIM);
        match metric {
            // Offset from the origin: every component positive.
            Metric::Euclidean => v.iter().map(|x| x + 3.0).collect(),
            // Lengths from 0.5 to 2.5.
            _ => {
                let len = 0.5 + 2.0 * rng.unit_f32();
                v.iter().map(|x| x * len).collect()
            }
        }
    };
    for metric in [Metric::Euclidean, Metric::Dot] {
        let points: Vec<Point> = (0..3000).map(|i| Point::new(i, vector(metric))).collect();
        let queries: Vec<Vec<f32>> = (0..40).map(|_| vector(metric)).collect();
        let exact_walk = {
            let dir = tempfile::tempdir().unwrap();
            let options = Options::default().with_sq8_search(false);
            let db = Database::open_with(dir.path(), options).unwrap();
            let c = linked(&db, metric, &points);
            assert!(
                c.check().unwrap().is_ok(),
                "{metric:?}: every node reachable"
            );
            recall_vs_exact(&c, &queries, 10, 64)
        };
        for memory in [VectorMemory::Full, VectorMemory::Quantized] {
            let dir = tempfile::tempdir().unwrap();
            let db = open(dir.path(), memory);
            let c = linked(&db, metric, &points);
            assert_eq!(
                c.stats().unwrap().graph_nodes,
                3000,
                "{metric:?} {memory:?}"
            );
            let plan = c.plan(10, &SearchParams::default()).unwrap();
            assert_eq!(plan.kind, PlanKind::Graph, "{metric:?} {memory:?}");
            let r = recall_vs_exact(&c, &queries, 10, 64);
            assert!(
                r >= exact_walk - 0.02 && r >= 0.9,
                "{metric:?} {memory:?}: recall {r} on the SQ8 copy, {exact_walk} exact"
            );
            if metric == Metric::Euclidean {
                // A point is its own vector's nearest, at distance 0 once reranked.
                let hit = c.search(&points[17].vector, 1, None).unwrap();
                assert_eq!((hit[0].id, hit[0].score), (17, 0.0), "{memory:?}");
            }
            let report = c.check().unwrap();
            assert!(
                report.is_ok(),
                "{metric:?} {memory:?}: {:?}",
                report.problems
            );
        }
    }
}

#[test]
fn bit_metrics_scan_by_position_without_a_graph() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), VectorMemory::Quantized);
    let c = db
        .create_collection("h", CollectionConfig::new(64, Metric::Hamming))
        .unwrap();
    let mut rng = Rng::new(3);
    let points: Vec<Point> = (0..300)
        .map(|i| Point::new(i, (0..64).map(|_| rng.below(2) as f32).collect()))
        .collect();
    c.upsert(&points).unwrap();
    c.optimize(None).unwrap();
    assert_eq!(c.stats().unwrap().graph_nodes, 0);
    let q = &points[17].vector;
    assert_eq!(c.search(q, 1, None).unwrap()[0].id, 17);
}
