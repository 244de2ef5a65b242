//! `veles bench`: build, reopen and search figures for a data set with ground truth, natively
//! or through the component. Queries run one at a time on one thread (latency per call).

use crate::backend;
use crate::data::{read_fvecs, read_ivecs};
use crate::runtime::Runtime;
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use veles::{CollectionConfig, Metric, Point, SearchParams};

/// What to measure.
pub struct BenchArgs {
    pub dir: PathBuf,
    pub base: PathBuf,
    pub queries: PathBuf,
    pub gt: PathBuf,
    pub k: usize,
    pub efs: Vec<usize>,
    pub m: u32,
    pub ef_construction: u32,
    pub metric: Metric,
    pub native: bool,
    pub json: bool,
}

/// Resident memory of this process in bytes (Linux), for the table.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let base = read_fvecs(&a.base)?;
    let queries = read_fvecs(&a.queries)?;
    let gt = read_ivecs(&a.gt)?;
    if base.is_empty() || queries.is_empty() || gt.len() < queries.len() {
        bail!("need base vectors, queries, and a ground-truth row per query");
    }
    if gt.iter().take(queries.len()).any(|row| row.len() < a.k) {
        bail!(
            "the ground truth has fewer than k = {} neighbours per query",
            a.k
        );
    }
    let dim = base[0].len() as u32;
    let mode = if a.native { "native" } else { "component" };
    let runtime = if a.native {
        None
    } else {
        Some(Runtime::new()?)
    };
    let open = |dir: &Path| backend::open(dir, a.native, runtime.as_ref());

    let mut db = open(&a.dir)?;
    if db.list()?.iter().any(|n| n == "bench") {
        db.drop_collection("bench")?;
    }
    let config = CollectionConfig::new(dim, a.metric).with_hnsw(a.m, a.ef_construction);
    db.create_collection("bench", config)?;
    let bar = ProgressBar::new(base.len() as u64).with_style(
        ProgressStyle::with_template("building {bar:30} {pos}/{len} vectors {per_sec}")
            .expect("valid template"),
    );
    if a.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let t = Instant::now();
    for (c, chunk) in base.chunks(1000).enumerate() {
        let pts: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| Point::new((c * 1000 + i) as u64, v.clone()))
            .collect();
        db.upsert("bench", &pts)?;
        bar.inc(pts.len() as u64);
    }
    db.flush("bench")?;
    let build = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    db.checkpoint("bench")?;
    drop(db);

    let t = Instant::now();
    let mut db = open(&a.dir)?;
    let stats = db.stats("bench")?;
    let reopen = t.elapsed().as_secs_f64();
    if !stats.recovery.graph_loaded {
        bail!(
            "the graph was rebuilt on reopen: {:?}",
            stats.recovery.graph_problem
        );
    }

    let mut rows = Vec::new();
    for &ef in &a.efs {
        let params = SearchParams::default().with_ef(Some(ef));
        for q in queries.iter().take(20) {
            db.search("bench", q, a.k, &params)?; // warm caches
        }
        let mut lat = Vec::with_capacity(queries.len());
        let mut hits = 0usize;
        let t = Instant::now();
        for (q, truth) in queries.iter().zip(&gt) {
            let s = Instant::now();
            let got = db.search("bench", q, a.k, &params)?;
            lat.push(s.elapsed().as_secs_f64());
            let want = &truth[..a.k];
            hits += got.iter().filter(|h| want.contains(&(h.id as u32))).count();
        }
        let total = t.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        rows.push((
            ef,
            hits as f64 / (queries.len() * a.k) as f64,
            queries.len() as f64 / total,
            percentile(&lat, 0.5) * 1e6,
            percentile(&lat, 0.99) * 1e6,
        ));
    }
    let rss = rss_bytes();

    if a.json {
        let v = json!({
            "mode": mode, "vectors": base.len(), "dimension": dim, "queries": queries.len(), "k": a.k,
            "m": a.m, "ef_construction": a.ef_construction, "metric": a.metric.name(),
            "build_seconds": build, "build_vectors_per_second": base.len() as f64 / build,
            "reopen_seconds": reopen, "rss_bytes": rss,
            "search": rows.iter().map(|(ef, r, qps, p50, p99)| json!({
                "ef": ef, "recall": r, "qps": qps, "p50_us": p50, "p99_us": p99
            })).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "veles bench ({mode}): {} x {dim}-d {}, M {}, ef_construction {}, {} queries, k {}",
        base.len(),
        a.metric,
        a.m,
        a.ef_construction,
        queries.len(),
        a.k
    );
    println!(
        "  build  {build:.2} s ({:.0} vectors/s)   reopen {:.3} s (graph loaded)",
        base.len() as f64 / build,
        reopen
    );
    if let Some(r) = rss {
        println!("  memory {:.1} MiB resident", r as f64 / (1 << 20) as f64);
    }
    println!(
        "  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}",
        "ef", "recall@k", "QPS", "p50 µs", "p99 µs"
    );
    for (ef, r, qps, p50, p99) in rows {
        println!("  {ef:>6}  {r:>9.4}  {qps:>9.0}  {p50:>9.1}  {p99:>9.1}");
    }
    Ok(())
}
