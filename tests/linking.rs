//! The graph keeps up by itself: natively a background thread links what writes leave
//! waiting, a flush links it where asked ([`Linking::AtFlush`]), and a clean close
//! checkpoints, so a reopen loads the graph instead of scanning.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veles::region::MemoryDirectory;
use veles::testing::Rng;
use veles::{
    CollectionConfig, Database, Filter, Linking, Metric, Options, PlanKind, Point, SearchParams,
};

const DIM: usize = 384;
/// A catch-up step (`unindexed.rs`): the background thread and a flush link whole steps, so
/// fewer than this may still wait.
const STEP: usize = 256;

fn points(rng: &mut Rng, n: u64) -> Vec<Point> {
    (0..n)
        .map(|i| {
            Point::new(i, rng.clustered(DIM))
                .with_payload(json!({"lang": "en", "year": 2015 + i % 10}))
        })
        .collect()
}

/// Waits for the background thread to link all but a partial step; fails after a minute
/// (a bound for a hung thread, not a speed target: it takes about a second here).
fn wait_for_graph(c: &veles::Collection) -> veles::Stats {
    let start = Instant::now();
    loop {
        let s = c.stats().unwrap();
        if s.unindexed < STEP {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the background thread left {} of {} points waiting",
            s.unindexed,
            s.len
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The README's library example, as written, on 15,000 points: upsert, flush, search. No
/// `optimize` or `checkpoint` call, yet the searches walk a graph, and after the database
/// is dropped and opened again they still do, from the graph file a clean close wrote.
#[test]
fn the_readme_example_on_15000_points_searches_the_graph_and_after_reopen_still_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let query = rng.clustered(DIM);
    let filter = Filter::gte("year", 2020);
    let params = SearchParams::default().with_filter(Some(&filter));
    {
        let db = Database::open(dir.path()).unwrap();
        let docs = db
            .create_collection("docs", CollectionConfig::new(DIM as u32, Metric::Cosine))
            .unwrap();
        docs.upsert(&points(&mut rng, 15_000)).unwrap();
        docs.flush().unwrap();
        let hits = docs.search(&query, 10, Some(&filter)).unwrap();
        assert_eq!(hits.len(), 10);
        let s = wait_for_graph(&docs);
        assert!(s.graph_nodes > 15_000 - STEP, "{s:?}");
        assert_eq!(docs.plan(10, &params).unwrap().kind, PlanKind::Graph);
        // Approximate now: most of what the scan found.
        let walked = docs.search(&query, 10, Some(&filter)).unwrap();
        let found = walked.iter().filter(|h| hits.iter().any(|e| e.id == h.id));
        assert!(found.count() >= 8, "{walked:?} against {hits:?}");
    }
    let db = Database::open(dir.path()).unwrap();
    let docs = db.collection("docs").unwrap();
    let s = docs.stats().unwrap();
    assert!(s.recovery.graph_loaded, "{:?}", s.recovery);
    assert_eq!((s.graph_nodes, s.unindexed, s.len), (15_000, 0, 15_000));
    assert_eq!(docs.plan(10, &params).unwrap().kind, PlanKind::Graph);
    assert!(docs.check().unwrap().is_ok());
}

/// Writes go on while the background thread links: every write is answered, nothing is
/// lost, and the graph ends up over every point.
#[test]
fn writes_go_on_while_the_background_thread_links() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(9);
    let all = points(&mut rng, 6_000);
    for chunk in all.chunks(300) {
        c.upsert(chunk).unwrap();
        c.delete(&[chunk[0].id]).unwrap();
    }
    c.flush().unwrap();
    let s = wait_for_graph(&c);
    assert_eq!(s.len, 6_000 - 20);
    assert_eq!(c.optimize(None).unwrap(), 0);
    assert!(c.check().unwrap().is_ok());
}

/// Linking at flush: the flush returns with fewer than a step waiting, the same on every
/// run (what the native/component equivalence tests choose).
#[test]
fn at_flush_a_flush_links_whole_steps() {
    let options = Options::default().with_linking(Linking::AtFlush);
    let db = Database::open_in(Arc::new(MemoryDirectory::new()), options).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(4);
    c.upsert(&points(&mut rng, 1_000)).unwrap();
    assert_eq!(c.stats().unwrap().unindexed, 1_000, "writes do not wait");
    c.flush().unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.graph_nodes, s.unindexed), (768, 232));
}

/// `Database::close` checkpoints what a reopen would replay; `checkpoint_at_close(false)`
/// leaves the log, as a crash would; a few points are left to the log either way.
#[test]
fn a_clean_close_checkpoints_only_what_is_worth_it() {
    let mut rng = Rng::new(6);
    let pts = points(&mut rng, 2_000);
    let reopen = |dir: &MemoryDirectory| {
        let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
        let s = db.collection("c").unwrap().stats().unwrap();
        (s.recovery.replayed_records, s.graph_nodes, s.unindexed)
    };
    for (close_checkpoint, n, replayed) in [(true, 2_000, 0), (false, 2_000, 1), (true, 100, 1)] {
        let dir = MemoryDirectory::new();
        let options = Options::default()
            .with_linking(Linking::Manual)
            .with_checkpoint_at_close(close_checkpoint);
        let db = Database::open_in(Arc::new(dir.clone()), options).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
            .unwrap();
        c.upsert(&pts[..n]).unwrap();
        c.flush().unwrap();
        db.close().unwrap();
        // The handle still held works after the close.
        assert_eq!(c.len().unwrap(), n);
        drop(c);
        let (r, nodes, waiting) = reopen(&dir);
        assert_eq!(
            r, replayed,
            "close checkpoint {close_checkpoint}, {n} points"
        );
        match replayed {
            0 => assert_eq!((nodes, waiting), (n, 0)),
            _ => assert_eq!((nodes, waiting), (0, n)),
        }
    }
}

/// Dropping a database while its background thread is part way through a step neither
/// hangs nor keeps the directory: it opens again at once.
#[test]
fn a_drop_mid_linking_lets_go_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(8);
    let pts = points(&mut rng, 4_000);
    for round in 0..3 {
        let db = Database::open(dir.path()).unwrap();
        let c = match round {
            0 => db
                .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Cosine))
                .unwrap(),
            _ => db.collection("c").unwrap(),
        };
        c.upsert(&pts).unwrap();
        std::thread::sleep(Duration::from_millis(5 * round));
    }
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.len().unwrap(), 4_000);
    assert!(c.check().unwrap().is_ok());
}
