//! The graph keeping up by itself, on the README's library example: 15,000 of the minilm
//! vectors (`../shared/data/minilm-20k`, 384-d cosine) upserted in batches of 1,000 and
//! flushed, then searched (the 200 queries, k 10, unfiltered and with a filter half the points
//! pass) right after the flush, once the background thread has caught up, and after a drop
//! and reopen. Each linking mode (`Background`, the native default, and `Manual`, what every
//! open did before) runs the same steps in one run, so the ratios are side by side: search
//! time against a scan of waiting points, and ingest time with the background thread linking
//! beside the writer against ingest with nothing linking.
//!
//! `cargo bench --bench linking`. Skips, saying so, where the data is absent. The database
//! lives in a temporary directory on disk.

use serde_json::json;
use std::time::{Duration, Instant};
use veles::testing::{read_fvecs, shared_data};
use veles::{CollectionConfig, Database, Filter, Linking, Metric, Options, Point};

const POINTS: usize = 15_000;
const BATCH: usize = 1_000;

/// Mean microseconds a search takes over `queries` (three rounds after a warm-up), without
/// and with `filter`.
fn search_us(c: &veles::Collection, queries: &[Vec<f32>], filter: &Filter) -> (f64, f64) {
    let mut out = [0.0; 2];
    for (slot, f) in [None, Some(filter)].into_iter().enumerate() {
        for q in queries.iter().take(20) {
            c.search(q, 10, f).expect("search");
        }
        let t = Instant::now();
        for _ in 0..3 {
            for q in queries {
                c.search(q, 10, f).expect("search");
            }
        }
        out[slot] = t.elapsed().as_secs_f64() * 1e6 / (3 * queries.len()) as f64;
    }
    (out[0], out[1])
}

struct Run {
    ingest_s: f64,
    after_flush: (f64, f64),
    caught_up: (f64, f64),
    caught_up_after_s: f64,
    close_s: f64,
    reopened: (f64, f64),
    waiting_after_reopen: usize,
}

fn run(linking: Linking, base: &[Vec<f32>], queries: &[Vec<f32>]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let filter = Filter::gte("year", 2020);
    let options = || Options::default().with_linking(linking);
    let db = Database::open_with(dir.path(), options()).expect("open");
    let docs = db
        .create_collection("docs", CollectionConfig::new(384, Metric::Cosine))
        .expect("create");
    let t = Instant::now();
    for (b, chunk) in base[..POINTS].chunks(BATCH).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = (b * BATCH + i) as u64;
                Point::new(id, v.clone())
                    .with_payload(json!({"lang": "en", "year": 2015 + id % 10}))
            })
            .collect();
        docs.upsert(&points).expect("upsert");
        docs.flush().expect("flush");
    }
    let ingest_s = t.elapsed().as_secs_f64();
    let after_flush = search_us(&docs, queries, &filter);
    let start = Instant::now();
    while linking == Linking::Background
        && docs.stats().expect("stats").unindexed >= 256
        && start.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let caught_up_after_s = start.elapsed().as_secs_f64();
    let caught_up = search_us(&docs, queries, &filter);
    drop(docs);
    let t = Instant::now();
    db.close().expect("close");
    let close_s = t.elapsed().as_secs_f64();
    let db = Database::open_with(dir.path(), options()).expect("reopen");
    let docs = db.collection("docs").expect("collection");
    let waiting_after_reopen = docs.stats().expect("stats").unindexed;
    let reopened = search_us(&docs, queries, &filter);
    Run {
        ingest_s,
        after_flush,
        caught_up,
        caught_up_after_s,
        close_s,
        reopened,
        waiting_after_reopen,
    }
}

fn main() {
    let Some(dir) = shared_data("minilm-20k") else {
        return;
    };
    let base = read_fvecs(&dir.join("base.fvecs")).expect("base.fvecs");
    let queries = read_fvecs(&dir.join("query.fvecs")).expect("query.fvecs");
    let manual = run(Linking::Manual, &base, &queries);
    let background = run(Linking::Background, &base, &queries);
    println!(
        "README example, {POINTS} minilm points, batches of {BATCH} flushed; microseconds a search (unfiltered / half pass):"
    );
    for (name, r) in [("manual", &manual), ("background", &background)] {
        println!(
            "  {name:<10} ingest {:.2} s | after flush {:.0} / {:.0} | caught up ({:.2} s later) {:.0} / {:.0} | close {:.2} s | reopened ({} waiting) {:.0} / {:.0}",
            r.ingest_s,
            r.after_flush.0,
            r.after_flush.1,
            r.caught_up_after_s,
            r.caught_up.0,
            r.caught_up.1,
            r.close_s,
            r.waiting_after_reopen,
            r.reopened.0,
            r.reopened.1
        );
    }
    println!(
        "ratios, background against manual: ingest time {:.2}x; search once caught up {:.2}x / {:.2}x; after reopen {:.2}x / {:.2}x",
        background.ingest_s / manual.ingest_s,
        background.caught_up.0 / manual.caught_up.0,
        background.caught_up.1 / manual.caught_up.1,
        background.reopened.0 / manual.reopened.0,
        background.reopened.1 / manual.reopened.1
    );
}
