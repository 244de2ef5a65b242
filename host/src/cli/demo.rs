//! `veles demo`: builds a collection from real sentence embeddings shipped in the binary and
//! shows nearest neighbours by text, through the component (or natively).
//!
//! The data (`host/demo/minilm-demo.bin`, made by `host/demo/make_demo_data.py`): 5,000
//! one-line Python package summaries and 200 query sentences embedded with all-MiniLM-L6-v2
//! (384-d, unit length), stored as int8 with a scale per vector.

use super::output::out;
use super::progress;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;
use veles::{CollectionConfig, Filter, Metric, Point, SearchParams};
use veles_host::backend::{self, Backend};
use veles_host::runtime::{Origin, Runtime};

static DATA: &[u8] = include_bytes!("../../demo/minilm-demo.bin");

/// A sentence and its embedding.
pub struct Sentence {
    pub text: String,
    pub vector: Vec<f32>,
}

/// The demo data set.
pub struct DemoData {
    pub dim: usize,
    pub base: Vec<Sentence>,
    pub queries: Vec<Sentence>,
}

/// Decodes the embedded data set.
pub fn load() -> Result<DemoData> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = DATA.get(at..at + n).context("demo data is truncated")?;
        at += n;
        Ok(s)
    };
    if take(8)? != b"VELESDM1" {
        bail!("demo data has a bad magic");
    }
    let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
    let n_base = u32_at(take(4)?);
    let n_query = u32_at(take(4)?);
    let dim = u32_at(take(4)?);
    let mut read = |n: usize| -> Result<Vec<Sentence>> {
        (0..n)
            .map(|_| {
                let scale = f32::from_le_bytes(take(4)?.try_into().unwrap());
                let vector = take(dim)?.iter().map(|&b| b as i8 as f32 * scale).collect();
                let len = u16::from_le_bytes(take(2)?.try_into().unwrap()) as usize;
                let text =
                    String::from_utf8(take(len)?.to_vec()).context("demo text is not UTF-8")?;
                Ok(Sentence { text, vector })
            })
            .collect()
    };
    let base = read(n_base)?;
    let queries = read(n_query)?;
    Ok(DemoData { dim, base, queries })
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// What the demo says: lines as it goes, or (`--json`) one JSON object at the end.
struct Report {
    json: Option<serde_json::Map<String, Value>>,
}

impl Report {
    fn line(&self, text: impl std::fmt::Display) -> Result<()> {
        if self.json.is_none() {
            out!("{text}");
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: Value) {
        if let Some(m) = &mut self.json {
            m.insert(key.to_string(), value);
        }
    }

    fn push(&mut self, key: &str, value: Value) {
        if let Some(m) = &mut self.json {
            let list = m.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(value);
            }
        }
    }

    fn finish(self) -> Result<()> {
        if let Some(m) = self.json {
            out!("{}", Value::Object(m));
        }
        Ok(())
    }
}

/// A query's four nearest neighbours by text.
fn show(
    db: &mut dyn Backend,
    q: &Sentence,
    filter: Option<&Filter>,
    report: &mut Report,
) -> Result<()> {
    report.line("")?;
    report.line(format!("  query: \"{}\"", shorten(&q.text, 90)))?;
    if let Some(f) = filter {
        report.line(format!("  filter: {}", f.to_json()))?;
    }
    let params = SearchParams::default().with_filter(filter);
    let hits = db.search("packages", &q.vector, 4, &params)?;
    let mut found = Vec::new();
    for (rank, h) in hits.iter().enumerate() {
        let text = h
            .payload
            .as_ref()
            .and_then(|p| p["text"].as_str())
            .unwrap_or("");
        report.line(format!(
            "    {}. {:.3}  {}",
            rank + 1,
            h.score,
            shorten(text, 90)
        ))?;
        found.push(json!({"id": h.id, "score": h.score, "text": text}));
    }
    report.push(
        "searches",
        json!({"query": q.text, "filter": filter.map(Filter::to_json), "hits": found}),
    );
    Ok(())
}

/// Runs the demo. `dir`: where to put the database (default: a fresh temporary directory,
/// removed afterwards); every open takes `options` (the CLI's global `--deadline`,
/// `--memory-limit` and `--vector-memory`).
pub fn run(
    native: bool,
    dir: Option<PathBuf>,
    options: &veles_host::OpenOptions,
    json_out: bool,
) -> Result<()> {
    let data = load()?;
    let (dir, temporary) = match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("veles-demo-{}", std::process::id())),
            true,
        ),
    };
    if temporary && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut report = Report {
        json: json_out.then(serde_json::Map::new),
    };
    let result = run_in(&data, native, &dir, options, &mut report);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    report.finish()
}

/// What loading the component cost, in words: a compile on a first run, a cache hit after.
fn loaded(origin: &Origin, secs: f64) -> String {
    match origin {
        Origin::Cache(path) => format!(
            "component loaded from the compile cache in {secs:.2} s ({})",
            path.display()
        ),
        Origin::Compiled(Some(path)) => format!(
            "component compiled in {secs:.2} s (first run: cached for the next in {})",
            path.display()
        ),
        Origin::Compiled(None) => format!(
            "component compiled in {secs:.2} s (no cache directory: every run compiles; set \
             VELES_CACHE_DIR)"
        ),
    }
}

fn run_in(
    data: &DemoData,
    native: bool,
    dir: &std::path::Path,
    options: &veles_host::OpenOptions,
    report: &mut Report,
) -> Result<()> {
    let how = if native {
        "natively (linked library)"
    } else {
        "through the WebAssembly component under wasmtime"
    };
    report.line(format!(
        "Veles demo: semantic search over {} Python package summaries",
        data.base.len()
    ))?;
    report.line(format!("  engine:   {how}"))?;
    report.line(format!("  database: {}", dir.display()))?;
    report.line("")?;
    report.set("engine", json!(if native { "native" } else { "component" }));
    report.set("database", json!(dir.display().to_string()));
    report.set("points", json!(data.base.len()));

    let started = Instant::now();
    let runtime = match native {
        true => None,
        false => Some(Runtime::for_limits(&options.limits)?),
    };
    if let Some(r) = &runtime {
        let secs = started.elapsed().as_secs_f64();
        report.line(format!("  {}", loaded(r.origin(), secs)))?;
        let cached = matches!(r.origin(), Origin::Cache(_));
        report.set(
            "component_load",
            json!({"seconds": secs, "from_cache": cached}),
        );
    }
    let mut db = backend::open_with(dir, native, runtime.as_ref(), options)?;
    if db.list()?.iter().any(|n| n == "packages") {
        anyhow::bail!(
            "{} already has a collection named 'packages'; the demo builds its own and never \
             drops yours: give another --dir",
            dir.display()
        );
    }
    db.create_collection(
        "packages",
        CollectionConfig::new(data.dim as u32, Metric::Cosine),
    )?;

    let bar = progress::bar(
        data.base.len() as u64,
        "  importing {bar:30} {pos}/{len} points {msg}",
        report.json.is_some(),
    );
    let t = Instant::now();
    for (chunk_no, chunk) in data.base.chunks(500).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Point::new((chunk_no * 500 + i) as u64, s.vector.clone())
                    .with_payload(json!({"text": s.text, "chars": s.text.chars().count()}))
            })
            .collect();
        db.upsert("packages", &points)?;
        bar.inc(points.len() as u64);
    }
    db.flush("packages")?;
    let ingest = t.elapsed().as_secs_f64();
    progress::catch_up(db.as_mut(), "packages", &bar, "")?;
    // Saves the graph, so every later open (`veles info`, a search) loads it.
    db.checkpoint("packages")?;
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    report.line(format!(
        "  imported {} points in {secs:.2} s: durable after {ingest:.2} s, then the graph \
         caught up and was saved",
        data.base.len(),
    ))?;
    report.set(
        "import",
        json!({"seconds": secs, "durable_after_seconds": ingest}),
    );

    for qi in [0usize, 3, 7] {
        show(db.as_mut(), &data.queries[qi], None, report)?;
    }
    show(
        db.as_mut(),
        &data.queries[12],
        Some(&Filter::lt("chars", 40)),
        report,
    )?;

    // Persistence: close, reopen, same answer.
    let top = |db: &mut dyn Backend| {
        db.search(
            "packages",
            &data.queries[0].vector,
            1,
            &SearchParams::default(),
        )
    };
    let before = top(db.as_mut())?;
    drop(db);
    let mut db = backend::open_with(dir, native, runtime.as_ref(), options)?;
    let after = top(db.as_mut())?;
    let stats = db.stats("packages")?;
    report.line("")?;
    report.line(format!(
        "  reopened: {} points, top hit unchanged: {}",
        stats.len,
        if before == after { "yes" } else { "NO" }
    ))?;
    report.set(
        "reopened",
        json!({"points": stats.len, "top_hit_unchanged": before == after}),
    );

    // The same exact searches natively and through the component, side by side: rounds
    // alternate between the two, and the best round of each is compared. Both handles only
    // read: both open read-only, so they share the directory's lock.
    let queries: Vec<Vec<f32>> = data.queries.iter().map(|q| q.vector.clone()).collect();
    let rt = match &runtime {
        Some(r) => r,
        None => &Runtime::for_limits(&options.limits)?,
    };
    drop(db);
    let read_only = veles_host::OpenOptions {
        read_only: true,
        ..options.clone()
    };
    let mut native_db = backend::NativeBackend::open_with(dir, &read_only)?;
    let mut comp_db = backend::ComponentBackend::open_with(rt, dir, &read_only)?;
    let exact = SearchParams::default().with_exact(true);
    let graph = SearchParams::default().with_ef(Some(64));
    for (what, params) in [("exact", &exact), ("HNSW (ef 64)", &graph)] {
        let native_hits = native_db.search_batch("packages", &queries, 10, params)?;
        let comp_hits = comp_db.search_batch("packages", &queries, 10, params)?;
        let (mut best_native, mut best_comp) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = Instant::now();
            native_db.search_batch("packages", &queries, 10, params)?;
            best_native = best_native.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            comp_db.search_batch("packages", &queries, 10, params)?;
            best_comp = best_comp.min(t.elapsed().as_secs_f64());
        }
        let ratio = best_comp / best_native.max(1e-9);
        let (comp_qps, native_qps) = (
            queries.len() as f64 / best_comp,
            queries.len() as f64 / best_native,
        );
        let same = native_hits == comp_hits;
        report.line(format!(
            "  {} {what} top-10 searches: component {ratio:.2}x the native time (best of 5 \
             rounds each, {comp_qps:.0} vs {native_qps:.0} queries/s); results identical: {}",
            queries.len(),
            if same { "yes" } else { "NO" }
        ))?;
        report.push(
            "component_vs_native",
            json!({"search": what, "queries": queries.len(), "time_ratio": ratio,
                   "component_qps": comp_qps, "native_qps": native_qps, "identical": same}),
        );
    }
    Ok(())
}
