//! Readers never wait: one thread searches back to back while another writes, and each
//! search's latency is kept per phase of the writer's work: an import in batches of 1,000
//! with a flush each, a pause (the idle baseline), a checkpoint, a delete of a third with a
//! flush, a compaction. Prints per phase the searches completed, p50, p99 and the longest
//! wait, the recall at ef 64 before and after, and the writer's import throughput with the
//! searcher running against an import of the same points with none.
//!
//! `cargo bench --bench readers -- [--points N] [--real] [--writer-threads T]`: N synthetic 384-d unit vectors
//! drawn around 4,096 Gaussian centres (default 50,000), or `--real`, the 20,000 minilm
//! vectors of `../shared/data` (skips, saying so, where they are absent). The database lives
//! in a temporary directory on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use veles::testing::{Rng, read_fvecs, shared_data};
use veles::{Collection, CollectionConfig, Database, Metric, Options, Point, SearchParams};

const PHASES: [&str; 7] = [
    "import",
    "idle",
    "checkpoint",
    "delete a third",
    "compact",
    "idle after",
    // Recall measured on the main thread: searches then are not counted.
    "(not counted)",
];
const UNCOUNTED: usize = 6;
const K: usize = 10;
const EF: usize = 64;
const BATCH: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let real = args.iter().any(|a| a == "--real");
    let points = args
        .iter()
        .position(|a| a == "--points")
        .and_then(|i| args.get(i + 1))
        .map_or(50_000, |n| n.parse().expect("--points takes a number"));
    // The writer's threads for linking (default: every core).
    let threads: Option<usize> = args
        .iter()
        .position(|a| a == "--writer-threads")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--writer-threads takes a number"));
    let options = Options::default().with_threads(threads);
    let (base, queries) = if real {
        let Some(dir) = shared_data("minilm-20k") else {
            return;
        };
        let base = read_fvecs(&dir.join("base.fvecs")).expect("base.fvecs");
        let queries = read_fvecs(&dir.join("query.fvecs")).expect("query.fvecs");
        (base, queries)
    } else {
        synthetic(points, 200)
    };
    println!(
        "{} points of {} dimensions ({}), k {K}, ef {EF}, batches of {BATCH}",
        base.len(),
        base[0].len(),
        if real { "minilm-20k" } else { "synthetic" }
    );

    let alone = import_alone(&base, options.clone());
    let (_tmp, _db, col) = empty_collection(base[0].len(), options);
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (col, phase, stop, queries) =
            (col.clone(), phase.clone(), stop.clone(), queries.clone());
        std::thread::spawn(move || search_until(&col, &queries, &phase, &stop))
    };
    let started = Instant::now();
    for (i, chunk) in base.chunks(BATCH).enumerate() {
        col.upsert(&batch(i, chunk)).expect("upsert");
        col.flush().expect("flush");
    }
    let with_reader = base.len() as f64 / started.elapsed().as_secs_f64();
    phase.store(UNCOUNTED, Ordering::SeqCst);
    let recall_before = recall(&col, &queries);
    phase.store(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    phase.store(2, Ordering::SeqCst);
    col.checkpoint().expect("checkpoint");
    phase.store(3, Ordering::SeqCst);
    let third: Vec<u64> = (0..base.len() as u64).filter(|id| id % 3 == 0).collect();
    col.delete(&third).expect("delete");
    col.flush().expect("flush");
    phase.store(4, Ordering::SeqCst);
    col.compact().expect("compact");
    phase.store(5, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let latencies = searcher.join().expect("the searcher");
    let recall_after = recall(&col, &queries);

    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>12} {:>9}",
        "phase", "searches", "p50 ms", "p99 ms", "longest ms", "phase s"
    );
    for (name, (lat, secs)) in PHASES.iter().zip(&latencies).take(UNCOUNTED) {
        let mut lat = lat.clone();
        lat.sort_unstable();
        let at = |q: f64| match lat.len() {
            0 => f64::NAN,
            n => lat[((n - 1) as f64 * q) as usize].as_secs_f64() * 1e3,
        };
        println!(
            "{name:<16} {:>9} {:>9.3} {:>9.3} {:>12.3} {:>9.2}",
            lat.len(),
            at(0.5),
            at(0.99),
            at(1.0),
            secs
        );
    }
    println!("recall@{K} at ef {EF}: {recall_before:.4} before, {recall_after:.4} after");
    println!(
        "import: {with_reader:.0} points/s with the searcher, {alone:.0} alone ({:.2}x)",
        with_reader / alone
    );
}

/// Searches until `stop`, keeping each search's latency under the phase it began in, and
/// each phase's length.
fn search_until(
    col: &Collection,
    queries: &[Vec<f32>],
    phase: &AtomicUsize,
    stop: &AtomicBool,
) -> Vec<(Vec<Duration>, f64)> {
    let mut out = vec![(Vec::new(), 0.0); PHASES.len()];
    let params = SearchParams::default().with_ef(Some(EF));
    let mut at = Instant::now();
    let mut current = phase.load(Ordering::SeqCst);
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let p = phase.load(Ordering::SeqCst);
        if p != current {
            out[current].1 += at.elapsed().as_secs_f64();
            (at, current) = (Instant::now(), p);
        }
        let t = Instant::now();
        col.search_with(&queries[i % queries.len()], K, &params)
            .expect("search");
        out[p].0.push(t.elapsed());
        i += 1;
    }
    out[current].1 += at.elapsed().as_secs_f64();
    out
}

/// Import throughput (points a second) of the same batches and flushes with no searcher.
fn import_alone(base: &[Vec<f32>], options: Options) -> f64 {
    let (_tmp, _db, col) = empty_collection(base[0].len(), options);
    let started = Instant::now();
    for (i, chunk) in base.chunks(BATCH).enumerate() {
        col.upsert(&batch(i, chunk)).expect("upsert");
        col.flush().expect("flush");
    }
    base.len() as f64 / started.elapsed().as_secs_f64()
}

/// A new cosine collection of `dim` dimensions in a database in a temporary directory (kept
/// while the first two live).
fn empty_collection(dim: usize, options: Options) -> (tempfile::TempDir, Database, Collection) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let db = Database::open_with(tmp.path(), options).expect("open");
    let col = db
        .create_collection("c", CollectionConfig::new(dim as u32, Metric::Cosine))
        .expect("create");
    (tmp, db, col)
}

fn batch(i: usize, chunk: &[Vec<f32>]) -> Vec<Point> {
    chunk
        .iter()
        .enumerate()
        .map(|(j, v)| {
            let id = (i * BATCH + j) as u64;
            Point::new(id, v.clone()).with_payload(serde_json::json!({ "n": id }))
        })
        .collect()
}

/// recall@K of graph searches at EF against the exact answers, over `queries`.
fn recall(col: &Collection, queries: &[Vec<f32>]) -> f64 {
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let exact = col
        .search_batch(&refs, K, &SearchParams::default().with_exact(true))
        .expect("exact");
    let found = col
        .search_batch(&refs, K, &SearchParams::default().with_ef(Some(EF)))
        .expect("search");
    let hits: usize = exact
        .iter()
        .zip(&found)
        .map(|(e, f)| f.iter().filter(|h| e.iter().any(|x| x.id == h.id)).count())
        .sum();
    hits as f64 / (K * queries.len()) as f64
}

/// `n` base and `q` query vectors: unit vectors around 4,096 Gaussian centres.
fn synthetic(n: usize, q: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    const DIM: usize = 384;
    let mut rng = Rng::new(7);
    let mut gauss = move || {
        // Box-Muller, one of the pair.
        let (u, v) = (rng.unit_f32().max(1e-7), rng.unit_f32());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let centres: Vec<Vec<f32>> = (0..4096)
        .map(|_| (0..DIM).map(|_| gauss()).collect())
        .collect();
    let mut pick = Rng::new(11);
    let mut point = |gauss: &mut dyn FnMut() -> f32| {
        let c = &centres[pick.below(centres.len() as u64) as usize];
        let v: Vec<f32> = c.iter().map(|x| x + 0.6 * gauss()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let base = (0..n).map(|_| point(&mut gauss)).collect();
    let queries = (0..q).map(|_| point(&mut gauss)).collect();
    (base, queries)
}
