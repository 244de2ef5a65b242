//! `VectorMemory::Quantized`: only the SQ8 copy and the graph in memory, exact vectors read by
//! position. The graph is built, saved, reloaded, repaired and compacted on the SQ8 copy;
//! searches rerank by reading the file; recall stays within 0.01 of the full-memory mode, and
//! both modes open each other's files.

use veles::region::crash::Rng;
use veles::testing::recall_vs_exact;
use veles::{
    CollectionConfig, Database, Metric, Options, PlanKind, Point, SearchParams, VectorMemory,
};

const DIM: usize = 48;

fn open(dir: &std::path::Path, memory: VectorMemory) -> Database {
    Database::open_path(dir, Options::default().with_vector_memory(memory)).unwrap()
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

#[test]
fn other_metrics_scan_by_position_without_a_graph() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), VectorMemory::Quantized);
    let c = db
        .create_collection("e", CollectionConfig::new(8, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(3);
    let points: Vec<Point> = (0..300).map(|i| Point::new(i, rng.clustered(8))).collect();
    c.upsert(&points).unwrap();
    c.flush().unwrap();
    assert_eq!(c.stats().unwrap().graph_nodes, 0);
    let q = &points[17].vector;
    assert_eq!(c.search(q, 1, None).unwrap()[0].id, 17);
}
