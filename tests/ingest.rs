//! Ingest decoupled from indexing: writes never wait for the graph, searches score the points
//! waiting for it exactly, and the graph catches up in bulk (optimize, checkpoint, compaction,
//! the waiting limit) with the same results as a graph built point by point.

use std::sync::Arc;
use veles::region::MemoryDirectory;
use veles::testing::Rng;
use veles::testing::recall_vs_exact;
use veles::{CollectionConfig, Database, Metric, Options, Point, SearchParams};

const DIM: usize = 24;

/// A database whose graph links only when asked or at its bound, and that leaves the log at
/// close: what these tests watch is the waiting list itself.
fn manual(dir: MemoryDirectory) -> Database {
    let options = Options::default()
        .with_linking(veles::Linking::Manual)
        .with_checkpoint_at_close(false);
    Database::open_in(Arc::new(dir), options).unwrap()
}

fn points(rng: &mut Rng, ids: std::ops::Range<u64>) -> Vec<Point> {
    ids.map(|i| Point::new(i, rng.clustered(DIM))).collect()
}

/// Every query's graph-plan hits equal its exact hits (ids and scores).
fn assert_exact(c: &veles::Collection, queries: &[Vec<f32>], k: usize, why: &str) {
    for (i, q) in queries.iter().enumerate() {
        let exact = c
            .search_with(q, k, &SearchParams::default().with_exact(true))
            .unwrap();
        let got = c.search_with(q, k, &SearchParams::default()).unwrap();
        let ids = |h: &[veles::Hit]| h.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&exact), "{why}: query {i}");
    }
}

#[test]
fn writes_wait_for_nothing_and_searches_cover_the_waiting_points() {
    let db = manual(MemoryDirectory::new());
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(5);
    for chunk in points(&mut rng, 0..3000).chunks(500) {
        c.upsert(chunk).unwrap();
    }
    c.flush().unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.unindexed, s.graph_nodes), (3000, 0));
    let queries: Vec<Vec<f32>> = (0..30).map(|_| rng.clustered(DIM)).collect();
    // Nothing linked yet: the waiting points are scored on the SQ8 copy (they are more than
    // 4·ef) with the best ef reranked exactly, as the walk ranks.
    let r = recall_vs_exact(&c, &queries, 10, 64);
    assert!(r >= 0.99, "recall {r} over waiting points");

    // In steps, oldest first; every step leaves the searches exact over what still waits.
    assert_eq!(c.optimize(Some(1000)).unwrap(), 2000);
    assert_eq!(c.stats().unwrap().graph_nodes, 1000);
    let r = recall_vs_exact(&c, &queries, 10, 64);
    assert!(r >= 0.95, "recall {r} with 2,000 points waiting");
    assert_eq!(c.optimize(None).unwrap(), 0);
    let s = c.stats().unwrap();
    assert_eq!((s.unindexed, s.graph_nodes), (0, 3000));
    assert!(c.check().unwrap().is_ok());
    // The graph is a real one: a tiny candidate list does worse than a large one.
    let (low, high) = (
        recall_vs_exact(&c, &queries, 10, 10),
        recall_vs_exact(&c, &queries, 10, 200),
    );
    assert!(
        high >= 0.98 && low < high,
        "recall ef 10 {low}, ef 200 {high}"
    );
}

#[test]
fn rewritten_and_deleted_points_are_found_as_they_are_now() {
    let db = manual(MemoryDirectory::new());
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(9);
    c.upsert(&points(&mut rng, 0..2000)).unwrap();
    c.checkpoint().unwrap();
    assert_eq!(c.stats().unwrap().unindexed, 0);

    // Rewrite 100 linked points (their nodes keep the old links), delete 100 others, add
    // 300 new ones, and delete some of the new ones again.
    let moved: Vec<Point> = (0..100)
        .map(|i| Point::new(i * 7, rng.clustered(DIM)))
        .collect();
    c.upsert(&moved).unwrap();
    c.delete(&(1000..1100).collect::<Vec<_>>()).unwrap();
    c.upsert(&points(&mut rng, 5000..5300)).unwrap();
    c.delete(&(5000..5050).collect::<Vec<_>>()).unwrap();
    let s = c.stats().unwrap();
    assert_eq!(s.unindexed, 100 + 250);
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("wait for the graph"))
    );

    // A rewritten point is found by its new vector, once, with its new distance.
    for p in moved.iter().take(20) {
        let hits = c.search(&p.vector, 5, None).unwrap();
        assert_eq!(hits[0].id, p.id);
        assert!(hits[0].score.abs() < 1e-4);
        assert_eq!(hits.iter().filter(|h| h.id == p.id).count(), 1);
    }
    for q in (0..20).map(|_| rng.clustered(DIM)) {
        let hits = c.search(&q, 20, None).unwrap();
        assert!(hits.iter().all(|h| !(1000..1100).contains(&h.id)));
        assert!(hits.iter().all(|h| !(5000..5050).contains(&h.id)));
    }
    let queries: Vec<Vec<f32>> = (0..30).map(|_| rng.clustered(DIM)).collect();
    let waiting = recall_vs_exact(&c, &queries, 10, 64);
    // Euclidean has no SQ8 copy: the waiting points are scored exactly; with no graph at all
    // the answers are the exact ones.
    let fresh = db
        .create_collection("f", CollectionConfig::new(DIM as u32, Metric::Euclidean))
        .unwrap();
    fresh.upsert(&points(&mut rng, 0..1500)).unwrap();
    assert_exact(&fresh, &queries, 10, "nothing linked yet");
    c.optimize(None).unwrap();
    let linked = recall_vs_exact(&c, &queries, 10, 64);
    assert!(waiting >= 0.95 && linked >= 0.95, "{waiting} {linked}");
    assert!(c.check().unwrap().is_ok());
}

#[test]
fn the_graph_catches_up_past_the_limit_and_at_checkpoints() {
    let db = Database::open_in(
        Arc::new(MemoryDirectory::new()),
        Options::default()
            .with_max_unindexed(500)
            .with_linking(veles::Linking::Manual),
    )
    .unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Dot))
        .unwrap();
    let mut rng = Rng::new(3);
    c.upsert(&points(&mut rng, 0..400)).unwrap();
    assert_eq!(c.stats().unwrap().unindexed, 400);
    c.upsert(&points(&mut rng, 400..500)).unwrap();
    assert_eq!(
        c.stats().unwrap().unindexed,
        500,
        "at the limit, still waiting"
    );
    c.upsert(&points(&mut rng, 500..501)).unwrap();
    let s = c.stats().unwrap();
    assert_eq!(
        (s.unindexed, s.graph_nodes),
        (0, 501),
        "past it: all linked"
    );
    c.upsert(&points(&mut rng, 501..600)).unwrap();
    c.checkpoint().unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.unindexed, s.graph_nodes), (0, 600));
    c.upsert(&points(&mut rng, 600..700)).unwrap();
    c.delete(&[0, 1, 2]).unwrap();
    let r = c.compact().unwrap();
    assert_eq!(r.points, 697);
    assert_eq!(c.stats().unwrap().unindexed, 0);
    assert!(c.check().unwrap().is_ok());
}

#[test]
fn an_open_replays_the_log_without_building_and_a_reader_never_links() {
    let dir = MemoryDirectory::new();
    let mut rng = Rng::new(12);
    let queries: Vec<Vec<f32>> = (0..20).map(|_| rng.clustered(DIM)).collect();
    {
        let db = manual(dir.clone());
        let c = db
            .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
            .unwrap();
        c.upsert(&points(&mut rng, 0..2000)).unwrap();
        c.checkpoint().unwrap();
        c.upsert(&points(&mut rng, 2000..3500)).unwrap();
        c.flush().unwrap();
    }
    let reader = Database::open_in(
        Arc::new(dir.clone()),
        Options::default().with_read_only(true),
    )
    .unwrap();
    let c = reader.collection("c").unwrap();
    let s = c.stats().unwrap();
    assert!(s.recovery.graph_loaded);
    assert_eq!((s.len, s.graph_nodes, s.unindexed), (3500, 2000, 1500));
    assert!(recall_vs_exact(&c, &queries, 10, 64) >= 0.95);
    // Linking in memory writes nothing, so a reader may do it.
    assert_eq!(c.optimize(None).unwrap(), 0);
    assert_eq!(c.stats().unwrap().graph_nodes, 3500);
    drop((c, reader));

    let db = manual(dir);
    let c = db.collection("c").unwrap();
    assert_eq!(c.stats().unwrap().unindexed, 1500);
    c.checkpoint().unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.graph_nodes, s.unindexed), (3500, 0));
    assert!(c.check().unwrap().is_ok());
}
