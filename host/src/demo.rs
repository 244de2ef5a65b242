//! `veles demo`: builds a collection from real sentence embeddings shipped in the binary and
//! shows nearest neighbours by text, through the component (or natively).
//!
//! The data (`host/demo/minilm-demo.bin`, made by `host/demo/make_demo_data.py`): 5,000
//! one-line Python package summaries and 200 query sentences embedded with all-MiniLM-L6-v2
//! (384-d, unit length), stored as int8 with a scale per vector.

use crate::backend::{self, Backend};
use crate::runtime::Runtime;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use veles::{CollectionConfig, Filter, Metric, Point, SearchParams};

static DATA: &[u8] = include_bytes!("../demo/minilm-demo.bin");

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

/// Prints a query's four nearest neighbours by text.
fn show(db: &mut dyn Backend, q: &Sentence, filter: Option<&Filter>) -> Result<()> {
    crate::out!();
    crate::out!("  query: \"{}\"", shorten(&q.text, 90));
    if let Some(f) = filter {
        crate::out!("  filter: {}", f.to_json());
    }
    for (rank, h) in db
        .search(
            "packages",
            &q.vector,
            4,
            &SearchParams::default().with_filter(filter),
        )?
        .iter()
        .enumerate()
    {
        let text = h
            .payload
            .as_ref()
            .and_then(|p| p["text"].as_str())
            .unwrap_or("");
        crate::out!("    {}. {:.3}  {}", rank + 1, h.score, shorten(text, 90));
    }
    Ok(())
}

/// Runs the demo. `dir`: where to put the database (default: a fresh temporary directory,
/// removed afterwards).
pub fn run(native: bool, dir: Option<PathBuf>) -> Result<()> {
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
    let result = run_in(&data, native, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(data: &DemoData, native: bool, dir: &std::path::Path) -> Result<()> {
    let how = if native {
        "natively (linked library)"
    } else {
        "through the WebAssembly component under wasmtime"
    };
    crate::out!(
        "Veles demo: semantic search over {} Python package summaries",
        data.base.len()
    );
    crate::out!("  engine:   {how}");
    crate::out!("  database: {}", dir.display());
    crate::out!();

    let started = Instant::now();
    let runtime = if native { None } else { Some(Runtime::new()?) };
    if let Some(_r) = &runtime {
        crate::out!(
            "  component loaded in {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    let mut db = backend::open(dir, native, runtime.as_ref())?;
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

    let bar = ProgressBar::new(data.base.len() as u64).with_style(
        ProgressStyle::with_template("  importing {bar:30} {pos}/{len} points")
            .expect("valid template"),
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
    // Saves the graph, so every later open (`veles info`, a search) loads it.
    db.checkpoint("packages")?;
    bar.finish_and_clear();
    crate::out!(
        "  imported and flushed {} points in {:.2} s",
        data.base.len(),
        t.elapsed().as_secs_f64()
    );

    for qi in [0usize, 3, 7] {
        show(db.as_mut(), &data.queries[qi], None)?;
    }
    show(
        db.as_mut(),
        &data.queries[12],
        Some(&Filter::lt("chars", 40)),
    )?;

    // Persistence: close, reopen, same answer.
    let before = db.search(
        "packages",
        &data.queries[0].vector,
        1,
        &SearchParams::default(),
    )?;
    drop(db);
    let mut db = backend::open(dir, native, runtime.as_ref())?;
    let after = db.search(
        "packages",
        &data.queries[0].vector,
        1,
        &SearchParams::default(),
    )?;
    let stats = db.stats("packages")?;
    crate::out!();
    crate::out!(
        "  reopened: {} points, top hit unchanged: {}",
        stats.len,
        if before == after { "yes" } else { "NO" }
    );

    // The same exact searches natively and through the component, side by side: rounds
    // alternate between the two, and the best round of each is compared. Both handles only
    // read: both open read-only, so they share the directory's lock.
    let queries: Vec<Vec<f32>> = data.queries.iter().map(|q| q.vector.clone()).collect();
    let rt = match &runtime {
        Some(r) => r,
        None => &Runtime::new()?,
    };
    drop(db);
    let mut native_db = backend::NativeBackend::open_with(dir, true)?;
    let read_only = crate::OpenOptions {
        read_only: true,
        ..Default::default()
    };
    let mut comp_db =
        backend::ComponentBackend::open_with(rt, dir, &crate::Limits::default(), &read_only)?;
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
        crate::out!(
            "  {} {what} top-10 searches: component {:.2}x the native time (best of 5 rounds \
             each, {:.0} vs {:.0} queries/s); results identical: {}",
            queries.len(),
            best_comp / best_native.max(1e-9),
            queries.len() as f64 / best_comp,
            queries.len() as f64 / best_native,
            if native_hits == comp_hits {
                "yes"
            } else {
                "NO"
            }
        );
    }
    Ok(())
}
