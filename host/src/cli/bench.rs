//! `veles bench`: build, reopen and search figures for a data set, natively or through the
//! component. Queries run one at a time on one thread (latency per call). With payloads
//! (`--buckets N` or `--payloads FILE`) and `--filter`, each filter gets its own ground truth
//! by exact scan, so filtered recall, QPS and the plan come out of one run.

use super::data::{read_ivecs, read_vectors};
use super::output::out;
use super::progress;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;
use veles::{CollectionConfig, Filter, IndexKind, Metric, Point, SearchParams};
use veles_host::backend::{self, Backend};
use veles_host::runtime::Runtime;

const NAME: &str = "bench";

/// What to measure.
pub struct BenchArgs {
    pub dir: PathBuf,
    pub base: PathBuf,
    pub queries: PathBuf,
    /// Exact neighbour ids per query (ivecs); computed by exact scan when absent.
    pub gt: Option<PathBuf>,
    pub k: usize,
    pub efs: Vec<usize>,
    pub m: u32,
    pub ef_construction: u32,
    pub metric: Metric,
    pub native: bool,
    /// How the database opens (what of the vectors is in memory, the component's cap).
    pub options: veles_host::OpenOptions,
    pub json: bool,
    /// Payload `{"bucket": i % n}` for point `i`.
    pub buckets: Option<u64>,
    /// A JSON object per line, line `i` the payload of point `i`.
    pub payloads: Option<PathBuf>,
    /// Payload indexes to declare, `key:kind` (`--buckets` declares `bucket:integer`).
    pub indexes: Vec<String>,
    /// Filters to measure (JSON), besides no filter.
    pub filters: Vec<String>,
    /// Draw recall against QPS per ef into this SVG file.
    pub plot: Option<PathBuf>,
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

/// The payload of each point, from the arguments.
fn payloads(a: &BenchArgs, n: usize) -> Result<Option<Vec<Value>>> {
    match (a.buckets, &a.payloads) {
        (Some(_), Some(_)) => bail!("give --buckets or --payloads, not both"),
        (Some(0), None) => bail!("--buckets must be at least 1"),
        (Some(b), None) => Ok(Some(
            (0..n as u64).map(|i| json!({"bucket": i % b})).collect(),
        )),
        (None, Some(path)) => {
            let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
            let mut out = Vec::with_capacity(n);
            for (i, line) in std::io::BufReader::new(f).lines().enumerate().take(n) {
                let line = line?;
                let v: Value = serde_json::from_str(&line)
                    .with_context(|| format!("{} line {}", path.display(), i + 1))?;
                out.push(v);
            }
            if out.len() < n {
                bail!(
                    "{} has {} payloads for {n} points",
                    path.display(),
                    out.len()
                );
            }
            Ok(Some(out))
        }
        (None, None) => Ok(None),
    }
}

fn parse_index(s: &str) -> Result<(String, IndexKind)> {
    let Some((key, kind)) = s.rsplit_once(':') else {
        bail!("--index takes key:kind, e.g. bucket:integer");
    };
    let kind = IndexKind::parse(kind)
        .with_context(|| format!("unknown index kind {kind:?} in --index {s}"))?;
    Ok((key.to_string(), kind))
}

/// One measured row: ef, recall, QPS (one query per call), p50 µs, p99 µs, QPS with the
/// whole query set in one `search_batch` call.
type Row = (usize, f64, f64, f64, f64, f64);

/// One filter's run: the filter (none: unfiltered), a row and its plan per ef, the matches.
type Run<'a> = (Option<&'a Filter>, Vec<(Row, veles::Plan)>, u64);

fn measure(
    db: &mut dyn Backend,
    queries: &[Vec<f32>],
    truth: &[Vec<u64>],
    k: usize,
    params: SearchParams<'_>,
) -> Result<Row> {
    for q in queries.iter().take(20) {
        db.search(NAME, q, k, &params)?; // warm caches
    }
    let mut lat = Vec::with_capacity(queries.len());
    let (mut hits, mut wanted) = (0usize, 0usize);
    let t = Instant::now();
    for (q, want) in queries.iter().zip(truth) {
        let s = Instant::now();
        let got = db.search(NAME, q, k, &params)?;
        lat.push(s.elapsed().as_secs_f64());
        hits += got.iter().filter(|h| want.contains(&h.id)).count();
        wanted += want.len();
    }
    let total = t.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let t = Instant::now();
    db.search_batch(NAME, queries, k, &params)?;
    let batch = queries.len() as f64 / t.elapsed().as_secs_f64();
    Ok((
        params.ef.unwrap_or(0),
        if wanted == 0 {
            1.0
        } else {
            hits as f64 / wanted as f64
        },
        queries.len() as f64 / total,
        percentile(&lat, 0.5) * 1e6,
        percentile(&lat, 0.99) * 1e6,
        batch,
    ))
}

/// The exact top `k` per query (the engine's exact scan, which the test suite checks against
/// a reference).
fn exact_truth(
    db: &mut dyn Backend,
    queries: &[Vec<f32>],
    k: usize,
    filter: Option<&Filter>,
) -> Result<Vec<Vec<u64>>> {
    let params = SearchParams::default()
        .with_filter(filter)
        .with_exact(true)
        .with_include(veles::Include::new(false, false));
    let all = db.search_batch(NAME, queries, k, &params)?;
    Ok(all
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.id).collect())
        .collect())
}

pub fn run(a: &BenchArgs) -> Result<()> {
    for ef in a.efs.iter().filter(|&&ef| ef < a.k) {
        let k = a.k;
        let text = format!("--ef {ef} is below -k {k}: it searches as ef {k} would");
        super::points::note(a.json, &text);
    }
    let base = read_vectors(&a.base)?;
    let queries = read_vectors(&a.queries)?;
    if base.is_empty() || queries.is_empty() {
        bail!("need base vectors and queries");
    }
    let payloads = payloads(a, base.len())?;
    let mut indexes = a
        .indexes
        .iter()
        .map(|s| parse_index(s))
        .collect::<Result<Vec<_>>>()?;
    if a.buckets.is_some() && !indexes.iter().any(|(k, _)| k == "bucket") {
        indexes.push(("bucket".into(), IndexKind::Integer));
    }
    let filters = a
        .filters
        .iter()
        .map(|f| Filter::from_json_str(f).with_context(|| format!("--filter {f}")))
        .collect::<Result<Vec<_>>>()?;
    let given_truth = match &a.gt {
        Some(path) => {
            let gt = read_ivecs(path)?;
            if gt.len() < queries.len() || gt.iter().any(|row| row.len() < a.k) {
                bail!("the ground truth needs k = {} ids for each query", a.k);
            }
            Some(
                gt.iter()
                    .map(|row| row[..a.k].iter().map(|&i| u64::from(i)).collect())
                    .collect::<Vec<Vec<u64>>>(),
            )
        }
        None => None,
    };
    let dim = base[0].len() as u32;
    let config = CollectionConfig::new(dim, a.metric).with_hnsw(a.m, a.ef_construction);
    config.validate()?;
    let mode = if a.native { "native" } else { "component" };
    let runtime = if a.native {
        None
    } else {
        Some(Runtime::for_limits(&a.options.limits)?)
    };
    let open = |dir: &Path| backend::open_with(dir, a.native, runtime.as_ref(), &a.options);

    let mut db = open(&a.dir)?;
    if db.list()?.iter().any(|n| n == NAME) {
        bail!(
            "{} already has a collection named '{NAME}'; bench builds its own: give another \
             directory (or `veles drop DIR bench`)",
            a.dir.display()
        );
    }
    db.create_collection(NAME, config)?;
    for (key, kind) in &indexes {
        db.create_index(NAME, key, *kind)?;
    }
    let bar = progress::counter(base.len() as u64, "ingesting", a.json);
    let t = Instant::now();
    for (c, chunk) in base.chunks(1000).enumerate() {
        let pts: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = c * 1000 + i;
                let p = payloads.as_ref().map(|all| all[id].clone());
                Point::new(id as u64, v.clone()).with_payload_opt(p)
            })
            .collect();
        db.upsert(NAME, &pts)?;
        bar.inc(pts.len() as u64);
    }
    db.flush(NAME)?;
    let ingest = t.elapsed().as_secs_f64();
    // Searches while points wait for the graph: the first ef, against the exact answers.
    let waiting = db.optimize(NAME, Some(0))?;
    let unfiltered_truth = match &given_truth {
        Some(t) => t.clone(),
        None => exact_truth(db.as_mut(), &queries, a.k, None)?,
    };
    let first_ef = a.efs.first().copied().unwrap_or(veles::DEFAULT_EF);
    let params = SearchParams::default().with_ef(Some(first_ef));
    let lagging = measure(db.as_mut(), &queries, &unfiltered_truth, a.k, params)?;
    let t = Instant::now();
    progress::catch_up(db.as_mut(), NAME, &bar, "")?;
    let index = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    db.checkpoint(NAME)?;
    let build = ingest + index;
    drop(db);

    let t = Instant::now();
    let mut db = open(&a.dir)?;
    let stats = db.stats(NAME)?;
    let reopen = t.elapsed().as_secs_f64();
    if !stats.recovery.graph_loaded {
        bail!(
            "the graph was rebuilt on reopen: {:?}",
            stats.recovery.graph_problem
        );
    }

    let mut runs: Vec<Run<'_>> = Vec::new();
    let all_filters = std::iter::once(None).chain(filters.iter().map(Some));
    for filter in all_filters {
        let truth = match filter {
            None => unfiltered_truth.clone(),
            Some(_) => exact_truth(db.as_mut(), &queries, a.k, filter)?,
        };
        let matches = db.count(NAME, filter)?;
        let mut rows = Vec::new();
        for &ef in &a.efs {
            let params = SearchParams::default()
                .with_filter(filter)
                .with_ef(Some(ef));
            let plan = db.plan(NAME, a.k, &params)?;
            rows.push((measure(db.as_mut(), &queries, &truth, a.k, params)?, plan));
        }
        runs.push((filter, rows, matches));
    }
    let rss = rss_bytes();

    {
        let v = json!({
            "mode": mode, "vectors": base.len(), "dimension": dim, "queries": queries.len(), "k": a.k,
            "m": a.m, "ef_construction": a.ef_construction, "metric": a.metric.name(),
            "build_seconds": build, "build_vectors_per_second": base.len() as f64 / build,
            "ingest_seconds": ingest, "ingest_points_per_second": base.len() as f64 / ingest,
            "index_seconds": index, "waiting_after_ingest": waiting,
            "search_while_waiting": {"ef": first_ef, "recall": lagging.1, "qps": lagging.2},
            "reopen_seconds": reopen, "reopen_seconds_per_100k": reopen * 1e5 / base.len() as f64,
            "rss_bytes": rss,
            "payload_bytes": stats.payload_bytes, "payload_memory": stats.payload_memory,
            "runs": runs.iter().map(|(f, rows, matches)| json!({
                "filter": f.map(Filter::to_json), "matches": matches,
                "search": rows.iter().map(|((ef, r, qps, p50, p99, batch), plan)| json!({
                    "ef": ef, "recall": r, "qps": qps, "p50_us": p50, "p99_us": p99,
                    "batch_qps": batch, "plan": plan,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        if let Some(path) = &a.plot {
            let title = format!(
                "veles {mode}: {} x {dim}-d {}, k {}",
                base.len(),
                a.metric,
                a.k
            );
            let doc = super::plot::svg(&title, &super::plot::series_of_run(&v)?)?;
            std::fs::write(path, doc).with_context(|| format!("{}", path.display()))?;
        }
        if a.json {
            out!("{v}");
            return Ok(());
        }
    }
    out!(
        "veles bench ({mode}): {} x {dim}-d {}, M {}, ef_construction {}, {} queries, k {}",
        base.len(),
        a.metric,
        a.m,
        a.ef_construction,
        queries.len(),
        a.k
    );
    out!(
        "  ingest {ingest:.2} s ({:.0} points/s, durable; {waiting} left waiting for the graph, \
         searched at ef {first_ef}: recall {:.4}, {:.0} QPS)",
        base.len() as f64 / ingest,
        lagging.1,
        lagging.2,
    );
    out!(
        "  index  {index:.2} s   build {build:.2} s in all ({:.0} vectors/s)   reopen {:.3} s \
         ({:.3} s per 100k, graph loaded)",
        base.len() as f64 / build,
        reopen,
        reopen * 1e5 / base.len() as f64,
    );
    if let Some(r) = rss {
        out!("  memory {:.1} MiB resident", r as f64 / (1 << 20) as f64);
    }
    if stats.payload_bytes > 0 {
        out!(
            "  payloads {} bytes of JSON held in {} bytes",
            stats.payload_bytes,
            stats.payload_memory
        );
    }
    for (filter, rows, matches) in runs {
        if let Some(f) = filter {
            out!(
                "  filter {} : {matches} matches ({:.2} %)",
                f.to_json(),
                100.0 * matches as f64 / base.len() as f64,
            );
        }
        out!(
            "  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  plan",
            "ef",
            "recall@k",
            "QPS",
            "p50 µs",
            "p99 µs",
            "batch QPS"
        );
        for ((ef, r, qps, p50, p99, batch), plan) in rows {
            let plan = serde_json::to_value(plan.kind).unwrap_or_default();
            let plan = plan.as_str().unwrap_or_default().to_string();
            out!("  {ef:>6}  {r:>9.4}  {qps:>9.0}  {p50:>9.1}  {p99:>9.1}  {batch:>9.0}  {plan}");
        }
    }
    Ok(())
}
