//! Readers beside a writer in one process: every read sees whole batches (never half of one),
//! every batch acknowledged before it began, and no error, while the writer imports, deletes,
//! checkpoints and compacts (`src/collection/writer.rs` says how).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Filter, Metric, Options, Point, SearchParams};

const BATCH: usize = 50;

#[test]
fn readers_see_whole_batches_and_every_acknowledged_one_through_maintenance() {
    let tmp = tempfile::tempdir().unwrap();
    // Small bounds, so the graph's catch-up and checkpoints run inside the writes too.
    let options = Options::default()
        .with_max_unindexed(120)
        .with_checkpoint_bytes(64 * 1024);
    let db = Database::open_with(tmp.path(), options).unwrap();
    let col = db
        .create_collection("c", CollectionConfig::new(16, Metric::Cosine))
        .unwrap();
    // The batches every read that starts now must see: raised when an upsert is acknowledged,
    // lowered before a batch is deleted.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (col, acknowledged, done) = (col.clone(), acknowledged.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(r);
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let at_least = acknowledged.load(Ordering::SeqCst);
                    let n = col.len().unwrap();
                    assert_eq!(n % BATCH, 0, "a read saw part of a batch: {n} points");
                    assert!(
                        n / BATCH >= at_least,
                        "{n} points, {at_least} batches acknowledged"
                    );
                    let q = rng.vector(Metric::Cosine, 16, 2);
                    let hits = col
                        .search_with(&q, 10, &SearchParams::default().with_ef(Some(32)))
                        .unwrap();
                    assert!(
                        hits.len() == 10.min(n) || n < 10,
                        "{} hits of {n}",
                        hits.len()
                    );
                    // A batch's points share their payload: count by filter sees whole batches.
                    let filter =
                        Filter::from_json_str(r#"{"key": "batch", "lt": 1000000}"#).unwrap();
                    assert_eq!(col.count(Some(&filter)).unwrap() % BATCH as u64, 0);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut rng = Rng::new(99);
    let mut live = 0usize;
    for b in 0..60u64 {
        let points: Vec<Point> = (0..BATCH as u64)
            .map(|i| {
                Point::new(b * 1000 + i, rng.vector(Metric::Cosine, 16, 2))
                    .with_payload(serde_json::json!({ "batch": b }))
            })
            .collect();
        col.upsert(&points).unwrap();
        live += 1;
        acknowledged.store(live, Ordering::SeqCst);
        if b % 7 == 6 {
            // One whole batch goes, by filter: one record, one switch. The bound comes down
            // first: a read that starts now may see the deletion.
            acknowledged.store(live - 1, Ordering::SeqCst);
            let gone =
                Filter::from_json_str(&format!(r#"{{"key": "batch", "eq": {}}}"#, b - 3)).unwrap();
            assert_eq!(col.delete_by_filter(&gone).unwrap(), BATCH);
            live -= 1;
        }
        match b % 20 {
            9 => col.checkpoint().unwrap(),
            19 => drop(col.compact().unwrap()),
            _ => col.flush().unwrap(),
        }
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0, "every reader read");
    }
    assert_eq!(col.len().unwrap(), live * BATCH);
}

/// A reader in another handle (as another process would open it, read-only, without a lock)
/// beside a writer that updates points in place, deletes and reuses slots, checkpoints and
/// compacts: every point a read returns is one version of it, whole (its vector and its
/// payload from the same write), never another point's slot, and every read sees only
/// whole batches.
#[test]
fn a_read_only_open_beside_a_writer_returns_only_states_that_existed() {
    const N: u64 = 300;
    let tmp = tempfile::tempdir().unwrap();
    let writer_db = Database::open(tmp.path()).unwrap();
    let col = writer_db
        .create_collection("c", CollectionConfig::new(4, Metric::Euclidean))
        .unwrap();
    // Point `id` at version `v`: its vector names both, and so does its payload.
    let point = |id: u64, v: u64| {
        Point::new(id, vec![id as f32, v as f32, 1.0, 0.0])
            .with_payload(serde_json::json!({ "id": id, "v": v }))
    };
    col.upsert(&(0..N).map(|id| point(id, 0)).collect::<Vec<_>>())
        .unwrap();
    col.checkpoint().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, done) = (tmp.path().to_path_buf(), done.clone());
        std::thread::spawn(move || {
            let db = Database::open_read_only(&path).unwrap();
            let c = db.collection("c").unwrap();
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) || rounds < 20 {
                c.refresh().unwrap();
                let ids: Vec<u64> = (0..N).collect();
                let got = c.get(&ids).unwrap();
                let live = got.iter().flatten().count();
                for p in got.into_iter().flatten() {
                    let v = p.payload.as_ref().unwrap()["v"].as_u64().unwrap();
                    assert_eq!(
                        p.vector[0], p.id as f32,
                        "point {} read another's slot",
                        p.id
                    );
                    assert_eq!(
                        p.vector[1], v as f32,
                        "point {}: vector and payload differ",
                        p.id
                    );
                }
                // Deletes and re-inserts come in tens, one batch each.
                assert_eq!(live % 10, 0, "{live} points: part of a batch");
                for id in (0..N).step_by(37) {
                    let q = [id as f32, 0.0, 1.0, 0.0];
                    for h in c.search(&q, 3, None).unwrap() {
                        let v = h.payload.as_ref().unwrap()["v"].as_u64().unwrap();
                        let exact = ((h.id as f32 - q[0]).powi(2) + (v as f32).powi(2)).sqrt();
                        assert!(
                            (h.score.abs() - exact).abs() < 1e-3
                                || (h.score.abs() - exact * exact).abs() < 1e-2,
                            "hit {} scored {} for a vector at distance {exact}",
                            h.id,
                            h.score
                        );
                    }
                }
                rounds += 1;
            }
            rounds
        })
    };
    let mut rng = Rng::new(5);
    for round in 1..=40u64 {
        // Updates in place (pinned slots: staged, then rewritten at the flush).
        let ids: Vec<u64> = (0..20).map(|_| rng.below(N)).collect();
        let mut updates: Vec<Point> = ids.iter().map(|&id| point(id, round)).collect();
        updates.dedup_by_key(|p| p.id);
        col.upsert(&updates).unwrap();
        // Ten go, and ten come back in the freed slots (reuse).
        let start = rng.below(N / 10) * 10;
        let gone: Vec<u64> = (start..start + 10).collect();
        col.delete(&gone).unwrap();
        col.flush().unwrap();
        col.upsert(&gone.iter().map(|&id| point(id, round)).collect::<Vec<_>>())
            .unwrap();
        match round % 10 {
            3 => col.checkpoint().unwrap(),
            7 => drop(col.compact().unwrap()),
            _ => col.flush().unwrap(),
        }
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() >= 20);
}

/// A reader's old view goes when it is replaced: after the writer compacted (a new vector
/// file) and the reader refreshed, this process no longer maps the old vector file, which the
/// writer removed (Linux: `/proc/self/maps` names a removed file's map "(deleted)").
#[cfg(target_os = "linux")]
#[test]
fn a_refreshed_reader_lets_go_of_its_old_view() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Database::open(tmp.path()).unwrap();
    let col = writer
        .create_collection("c", CollectionConfig::new(8, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(3);
    let points: Vec<Point> = (0..200u64)
        .map(|id| Point::new(id, rng.vector(Metric::Euclidean, 8, 2)))
        .collect();
    col.upsert(&points).unwrap();
    col.checkpoint().unwrap();
    let reader = Database::open_read_only(tmp.path()).unwrap();
    let view = reader.collection("c").unwrap();
    assert_eq!(view.len().unwrap(), 200);
    let old = tmp.path().join("collections/c/vectors-1");
    let maps = || std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        maps().contains(old.to_str().unwrap()),
        "the reader maps its view's file"
    );
    col.delete(&(0..100).collect::<Vec<_>>()).unwrap();
    col.compact().unwrap();
    assert!(!old.exists(), "the writer removed the old file");
    // The reader answers from a state that existed: its view (the removed file stays while it
    // is mapped), or a newer one it took because the writer's flush stepped the sequence.
    assert!([100, 200].contains(&view.len().unwrap()));
    view.refresh().unwrap();
    assert_eq!(view.len().unwrap(), 100);
    assert!(
        !maps().contains(old.to_str().unwrap()),
        "the old view's map is gone once the view is replaced"
    );
}
