//! HNSW search through the public API: recall against the exact scan, persistence of the
//! graph, deletes, updates, filters.

use serde_json::json;
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Filter, Metric, Point, SearchParams};

fn random_unit(rng: &mut Rng, dim: usize) -> Vec<f32> {
    rng.clustered(dim)
}

fn recall(c: &veles::Collection, queries: &[Vec<f32>], k: usize, params: &SearchParams) -> f64 {
    let mut hits = 0;
    for q in queries {
        let exact = c.search_with(q, k, &(*params).with_exact(true)).unwrap();
        let approx = c.search_with(q, k, params).unwrap();
        assert!(approx.len() <= k);
        hits += approx
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
    }
    hits as f64 / (queries.len() * k) as f64
}

fn build(db: &Database, n: u64, dim: usize, seed: u64) -> (veles::Collection, Vec<Vec<f32>>) {
    let c = db
        .create_collection("h", CollectionConfig::new(dim as u32, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(seed);
    let points: Vec<Point> = (0..n)
        .map(|i| {
            Point::new(i, random_unit(&mut rng, dim))
                .with_payload(json!({"g": i % 100, "even": i % 2 == 0}))
        })
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk).unwrap();
    }
    c.flush().unwrap();
    // The graph under test: every point linked (writes leave them waiting).
    assert_eq!(c.optimize(None).unwrap(), 0);
    let queries = (0..50).map(|_| random_unit(&mut rng, dim)).collect();
    (c, queries)
}

#[test]
fn graph_search_recall_at_10_beats_095_at_ef_64() {
    let seed = 21;
    let db = Database::in_memory();
    let (c, queries) = build(&db, 5000, 32, seed);
    let r = recall(&c, &queries, 10, &SearchParams::default().with_ef(Some(64)));
    eprintln!("recall@10 at ef 64 on 5,000 x 32-d clustered (seed {seed}): {r:.3}");
    assert!(r >= 0.95, "recall {r}");
    // ef is a true value: a larger list never does worse here, a tiny one does worse.
    let low = recall(&c, &queries, 10, &SearchParams::default().with_ef(Some(10)));
    let high = recall(
        &c,
        &queries,
        10,
        &SearchParams::default().with_ef(Some(256)),
    );
    assert!(
        high >= r && r >= low && high > low,
        "ef 10: {low}, 64: {r}, 256: {high}"
    );
}

#[test]
fn the_graph_is_saved_at_checkpoint_and_loaded_on_open_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let queries;
    let before;
    {
        let db = Database::open(dir.path()).unwrap();
        let (c, q) = build(&db, 3000, 16, 3);
        queries = q;
        c.checkpoint().unwrap();
        // More writes after the checkpoint: replayed and inserted on open.
        let mut rng = Rng::new(4);
        c.upsert(
            &(3000..3200)
                .map(|i| Point::new(i, random_unit(&mut rng, 16)))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        c.delete(&[7, 8, 9]).unwrap();
        c.flush().unwrap();
        before = queries
            .iter()
            .map(|q| c.search(q, 10, None).unwrap())
            .collect::<Vec<_>>();
    }
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("h").unwrap();
    let s = c.stats().unwrap();
    assert!(
        s.recovery.graph_loaded,
        "graph rebuilt: {:?}",
        s.recovery.graph_problem
    );
    assert_eq!(s.recovery.replayed_records, 2);
    // The 200 points written after the checkpoint were replayed: they wait for the graph.
    assert_eq!((s.graph_nodes, s.unindexed), (3000, 200));
    let after = queries
        .iter()
        .map(|q| c.search(q, 10, None).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(
        before, after,
        "the reopened graph answers exactly as before"
    );
    drop((c, db));

    // A damaged graph file is derived data: rebuilt, reported, answers still good.
    let g = dir.path().join("collections/h/graph-2");
    let mut bytes = std::fs::read(&g).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&g, &bytes).unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("h").unwrap();
    let s = c.stats().unwrap();
    assert!(!s.recovery.graph_loaded);
    assert!(
        s.recovery
            .graph_problem
            .as_deref()
            .unwrap()
            .contains("checksum"),
        "{:?}",
        s.recovery.graph_problem
    );
    let r = recall(&c, &queries, 10, &SearchParams::default());
    assert!(r >= 0.95, "recall after rebuild {r}");
}

#[test]
fn deleted_points_are_never_returned_and_recall_holds() {
    let db = Database::in_memory();
    let (c, queries) = build(&db, 4000, 16, 5);
    let gone: Vec<u64> = (0..4000).filter(|i| i % 2 == 1).collect();
    assert_eq!(c.delete(&gone).unwrap(), 2000);
    for q in &queries {
        for h in c.search(q, 20, None).unwrap() {
            assert!(h.id % 2 == 0, "deleted point {} returned", h.id);
        }
    }
    let r = recall(&c, &queries, 10, &SearchParams::default());
    assert!(r >= 0.9, "recall with half the graph tombstoned: {r}");
    // The checkpoint rebuilds a graph that is mostly tombstones.
    c.checkpoint().unwrap();
    assert_eq!(c.stats().unwrap().graph_nodes, 2000);
    let r = recall(&c, &queries, 10, &SearchParams::default());
    assert!(r >= 0.95, "recall after the rebuild: {r}");
    // Reused slots are re-linked: new points are found.
    let mut rng = Rng::new(6);
    let fresh: Vec<Point> = (10_000..11_000)
        .map(|i| Point::new(i, random_unit(&mut rng, 16)))
        .collect();
    c.upsert(&fresh).unwrap();
    for p in fresh.iter().step_by(97) {
        assert_eq!(c.search(&p.vector, 1, None).unwrap()[0].id, p.id);
    }
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn updated_points_are_relinked_where_their_new_vector_is() {
    let db = Database::in_memory();
    let (c, _) = build(&db, 3000, 16, 7);
    let mut rng = Rng::new(8);
    let moved: Vec<Point> = (0..3000)
        .step_by(3)
        .map(|i| Point::new(i, random_unit(&mut rng, 16)))
        .collect();
    c.upsert(&moved).unwrap();
    let mut found = 0;
    for p in &moved {
        found += (c.search(&p.vector, 1, None).unwrap()[0].id == p.id) as usize;
    }
    assert!(
        found as f64 >= 0.98 * moved.len() as f64,
        "{found} of {} moved points found",
        moved.len()
    );
}

#[test]
fn filtered_search_keeps_recall_at_1_and_10_percent_selectivity() {
    let db = Database::in_memory();
    let (c, queries) = build(&db, 6000, 16, 9);
    for (filter, what) in [
        (Filter::eq("g", 42), "1%"),
        (Filter::lt("g", 10), "10%"),
        (Filter::eq("even", true), "50%"),
    ] {
        let params = SearchParams::default().with_filter(Some(&filter));
        let r = recall(&c, &queries, 10, &params);
        eprintln!("filtered recall@10 at {what} selectivity: {r:.3}");
        assert!(r >= 0.9, "{what}: {r}");
        for q in queries.iter().take(5) {
            for h in c.search_with(q, 10, &params).unwrap() {
                assert!(
                    filter.matches(h.payload.as_ref()),
                    "{what}: a hit fails the filter"
                );
            }
        }
    }
}

#[test]
fn recall_on_minilm_20k_beats_095_at_ef_64() {
    let Some(dir) = veles::testing::shared_data("minilm-20k") else {
        return;
    };
    let base = veles::testing::read_fvecs(&dir.join("base.fvecs")).unwrap();
    let queries = veles::testing::read_fvecs(&dir.join("query.fvecs")).unwrap();
    let gt: Vec<Vec<u64>> = veles::testing::read_ivecs(&dir.join("groundtruth.ivecs"))
        .unwrap()
        .into_iter()
        .map(|row| row[..10].iter().map(|&i| i as u64).collect())
        .collect();
    let db = Database::in_memory();
    let c = db
        .create_collection("m", CollectionConfig::new(384, Metric::Cosine))
        .unwrap();
    for (n, chunk) in base.chunks(2000).enumerate() {
        let pts: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| Point::new((n * 2000 + i) as u64, v.clone()))
            .collect();
        c.upsert(&pts).unwrap();
    }
    assert_eq!(c.optimize(None).unwrap(), 0);
    let mut hits = 0;
    for (q, want) in queries.iter().zip(&gt) {
        let got = c
            .search_with(q, 10, &SearchParams::default().with_ef(Some(64)))
            .unwrap();
        hits += got.iter().filter(|h| want.contains(&h.id)).count();
    }
    let r = hits as f64 / (queries.len() * 10) as f64;
    eprintln!("minilm-20k recall@10 at ef 64 (M 16, ef_construction 200): {r:.4}");
    assert!(r >= 0.95, "recall {r}");
    // Every live node is reachable: the check walks the whole graph.
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.graph_nodes, 20_000);
}

#[test]
fn hnsw_parameters_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let c = db
            .create_collection(
                "p",
                CollectionConfig::new(4, Metric::Dot).with_hnsw(12, 100),
            )
            .unwrap();
        c.upsert(
            &(0..1500)
                .map(|i| Point::new(i, vec![i as f32, 1.0, 0.5, 0.25]))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        c.checkpoint().unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("p").unwrap();
    assert_eq!((c.config().m, c.config().ef_construction), (12, 100));
    assert!(
        c.stats().unwrap().recovery.graph_loaded,
        "{:?}",
        c.stats().unwrap().recovery.graph_problem
    );
    assert!(matches!(
        db.create_collection(
            "bad",
            CollectionConfig::new(4, Metric::Dot).with_hnsw(1, 100)
        ),
        Err(veles::Error::InvalidConfig(_))
    ));
}

/// Cosine searches walk the graph with the SQ8 copy and rerank exactly: the scores they return
/// are the exact ones, bit for bit, and updates reach the copy.
#[test]
fn graph_hits_carry_exact_scores_and_updates_reach_the_traversal_copy() {
    let db = Database::in_memory();
    let (c, queries) = build(&db, 3000, 32, 31);
    for q in queries.iter().take(20) {
        let graph = c.search(q, 10, None).unwrap();
        let exact = c
            .search_with(q, 3000, &SearchParams::default().with_exact(true))
            .unwrap();
        for h in &graph {
            let e = exact.iter().find(|e| e.id == h.id).unwrap();
            assert_eq!(h.score.to_bits(), e.score.to_bits(), "id {}", h.id);
        }
    }
    // Move point 5 onto a query: the graph must find it there.
    let target = queries[0].clone();
    c.upsert(&[Point::new(5, target.clone())]).unwrap();
    assert_eq!(c.search(&target, 1, None).unwrap()[0].id, 5);
    assert!(c.check().unwrap().is_ok());
}

/// Duplicates stay reachable: 6,000 × 16-d euclidean points of which every third is the same
/// vector (the build once left 1,950 of them unreachable, and compaction kept them so).
#[test]
fn duplicate_vectors_stay_reachable_through_build_checkpoint_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(16, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(8);
    let pts: Vec<Point> = (0..6000u64)
        .map(|i| {
            let v = if i % 3 == 0 {
                vec![0.5; 16]
            } else {
                (0..16).map(|_| rng.unit_f32()).collect()
            };
            Point::new(i, v)
        })
        .collect();
    c.upsert(&pts).unwrap();
    c.checkpoint().unwrap();
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // Every duplicate is found at distance 0 when k covers them all.
    let hits = c
        .search_with(
            &[0.5; 16],
            2000,
            &SearchParams::default().with_ef(Some(4000)),
        )
        .unwrap();
    assert_eq!(hits.len(), 2000);
    assert!(hits.iter().all(|h| h.score == 0.0 && h.id % 3 == 0));
    c.delete(&(0..600).collect::<Vec<u64>>()).unwrap();
    c.compact().unwrap();
    let report = c.check().unwrap();
    assert!(report.is_ok(), "after compaction: {:?}", report.problems);
    // Each remaining point is found for its own vector by a wide enough walk (reachable).
    let wide = SearchParams::default().with_ef(Some(10_000));
    for p in pts.iter().skip(600).step_by(97) {
        let hit = c.search_with(&p.vector, 1, &wide).unwrap();
        assert_eq!(hit[0].score, 0.0, "point {}", p.id);
    }
}

/// With few dimensions the SQ8 copy's error is as large as the gaps between neighbours: the
/// rerank has to go deeper than its usual `k` (at least 10), or recall stops rising with `ef`
/// (it stayed at 0.69 from ef 64 to 256 on this data when the rerank depth was fixed).
#[test]
fn recall_keeps_rising_with_ef_on_dense_low_dimensional_data() {
    let db = Database::in_memory();
    let c = db
        .create_collection("d3", CollectionConfig::new(3, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(5);
    let mut uniform = || (0..3).map(|_| rng.unit_f32()).collect::<Vec<f32>>();
    let points: Vec<Point> = (0..5000).map(|i| Point::new(i, uniform())).collect();
    let queries: Vec<Vec<f32>> = (0..50).map(|_| uniform()).collect();
    c.upsert(&points).unwrap();
    c.flush().unwrap();
    // Waiting for the graph: scanned on the SQ8 copy and reranked.
    let params = |ef| SearchParams::default().with_ef(Some(ef));
    let waiting = recall(&c, &queries, 10, &params(256));
    assert_eq!(c.optimize(None).unwrap(), 0);
    let walked = recall(&c, &queries, 10, &params(256));
    eprintln!("recall@10 at ef 256, 5,000 x 3-d: waiting {waiting:.3}, walked {walked:.3}");
    assert!(waiting >= 0.97, "waiting for the graph: {waiting}");
    assert!(walked >= 0.97, "walked: {walked}");
}

/// Many copies of few vectors (2,000 points, 11 distinct: identical texts embedded alike):
/// every node stays reachable, so `check` is clean. Before the repair kept a replaced link
/// reachable, identical nodes evicted each other's forced in-links and one stayed
/// unreachable, and `check` called the graph damaged. (A walk still finds few of the copies
/// of a vector repeated this often: the link heuristic keeps one of a set of identical
/// neighbours. Noted in issue 36's closing note; a scan finds them all.)
#[test]
fn many_identical_vectors_stay_reachable() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(8, Metric::Cosine))
        .unwrap();
    let vector = |i: u64| -> Vec<f32> { (0..8).map(|j| ((i * 7 + j) % 11) as f32 + 1.0).collect() };
    for b in 0..20u64 {
        let points: Vec<Point> = (b * 100..(b + 1) * 100)
            .map(|i| Point::new(i, vector(i)))
            .collect();
        c.upsert(&points).unwrap();
        c.flush().unwrap();
    }
    c.checkpoint().unwrap();
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
