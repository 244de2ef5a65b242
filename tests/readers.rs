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
    let db = Database::open_path(tmp.path(), options).unwrap();
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
