//! `veles`: the command-line interface. Every command runs through the WebAssembly component
//! by default, or natively with `--native`; `--json` prints machine-readable output.
//!
//! Exit codes: 0 success, 1 the engine refused the request or an I/O error, 2 bad usage,
//! 3 the component was stopped (deadline, memory limit).

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use veles::{CollectionConfig, Filter, Hit, Metric, SearchParams};
use veles_host::data::{Format, PointReader};
use veles_host::{Backend, HostError, backend, demo};

#[derive(Parser)]
#[command(
    name = "veles",
    version,
    about = "Veles vector database: the engine as a WebAssembly component, or native"
)]
struct Cli {
    /// Run the engine natively instead of through the component.
    #[arg(long, global = true)]
    native: bool,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a collection.
    Create {
        dir: PathBuf,
        name: String,
        /// Vector dimension.
        #[arg(long)]
        dim: u32,
        /// cosine, euclidean, dot, hamming or jaccard.
        #[arg(long, default_value = "cosine")]
        metric: String,
    },
    /// Import points from an fvecs, npy or jsonl file (positional formats number points from
    /// --start-id).
    Import {
        dir: PathBuf,
        name: String,
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Points per upsert.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Flush (make durable) after this many batches.
        #[arg(long, default_value_t = 20)]
        flush_every: usize,
        #[arg(long, default_value_t = 0)]
        start_id: u64,
    },
    /// Search a collection: one --vector, or every vector of --query-file.
    Search {
        dir: PathBuf,
        name: String,
        /// A query vector as a JSON array.
        #[arg(
            long,
            conflicts_with = "query_file",
            required_unless_present = "query_file"
        )]
        vector: Option<String>,
        /// A file of query vectors (fvecs, npy or jsonl).
        #[arg(long)]
        query_file: Option<PathBuf>,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        /// A payload filter as JSON, e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// HNSW candidate list size (higher: better recall, slower). Default max(k, 64).
        #[arg(long)]
        ef: Option<usize>,
        /// Scan every point instead of walking the HNSW graph.
        #[arg(long)]
        exact: bool,
    },
    /// Describe the collections of a database.
    Info { dir: PathBuf },
    /// Measure build, reopen and search (recall, QPS, latency) on a data set with ground truth.
    Bench {
        dir: PathBuf,
        #[arg(long)]
        base: PathBuf,
        #[arg(long)]
        queries: PathBuf,
        /// Ground truth: the exact neighbour ids per query (ivecs).
        #[arg(long)]
        gt: PathBuf,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        /// Candidate list sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
        ef: Vec<usize>,
        #[arg(long, default_value_t = 16)]
        m: u32,
        #[arg(long, default_value_t = 200)]
        ef_construction: u32,
        #[arg(long, default_value = "cosine")]
        metric: String,
        /// Run through the component (the default; here for symmetry with --native).
        #[arg(long)]
        component: bool,
    },
    /// Build a collection from real sentence embeddings shipped with veles and search it.
    Demo {
        /// Keep the database in this directory (default: a temporary one, removed after).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        let code = match e.downcast_ref::<HostError>() {
            Some(HostError::Trap { .. }) => 3,
            _ => 1,
        };
        eprintln!("error: {e:#}");
        std::process::exit(code);
    }
}

fn open(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    backend::open(dir, native, None)
}

fn run(cli: Cli) -> Result<()> {
    let json_out = cli.json;
    match cli.command {
        Command::Create {
            dir,
            name,
            dim,
            metric,
        } => {
            let metric: Metric = metric.parse()?;
            let mut db = open(&dir, cli.native)?;
            db.create_collection(&name, CollectionConfig::new(dim, metric))?;
            if json_out {
                println!(
                    "{}",
                    json!({"created": name, "dimension": dim, "metric": metric.name()})
                );
            } else {
                println!(
                    "created collection '{name}' ({dim} dimensions, {metric}) in {}",
                    dir.display()
                );
            }
        }
        Command::Import {
            dir,
            name,
            file,
            format,
            batch,
            flush_every,
            start_id,
        } => {
            import(
                &dir,
                &name,
                &file,
                format,
                batch.max(1),
                flush_every.max(1),
                start_id,
                cli.native,
                json_out,
            )?;
        }
        Command::Search {
            dir,
            name,
            vector,
            query_file,
            k,
            filter,
            ef,
            exact,
        } => {
            let filter = filter.map(|f| Filter::from_json_str(&f)).transpose()?;
            let queries: Vec<Vec<f32>> = match (vector, query_file) {
                (Some(v), _) => vec![
                    serde_json::from_str(&v).context("--vector must be a JSON array of numbers")?,
                ],
                (None, Some(f)) => PointReader::open(&f, None, 0)?
                    .next_batch(usize::MAX)?
                    .into_iter()
                    .map(|p| p.vector)
                    .collect(),
                (None, None) => bail!("give --vector or --query-file"),
            };
            let mut db = open(&dir, cli.native)?;
            let params = SearchParams {
                filter: filter.as_ref(),
                ef,
                exact,
            };
            let results = db.search_batch(&name, &queries, k, &params)?;
            print_hits(&results, json_out);
        }
        Command::Info { dir } => info(&dir, cli.native, json_out)?,
        Command::Demo { dir } => demo::run(cli.native, dir)?,
        Command::Bench {
            dir,
            base,
            queries,
            gt,
            k,
            ef,
            m,
            ef_construction,
            metric,
            component,
        } => {
            if component && cli.native {
                bail!("choose one of --native and --component");
            }
            veles_host::bench::run(&veles_host::bench::BenchArgs {
                dir,
                base,
                queries,
                gt,
                k,
                efs: ef,
                m,
                ef_construction,
                metric: metric.parse()?,
                native: cli.native,
                json: json_out,
            })?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn import(
    dir: &Path,
    name: &str,
    file: &Path,
    format: Option<Format>,
    batch: usize,
    flush_every: usize,
    start_id: u64,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let mut reader = PointReader::open(file, format, start_id)?;
    let mut db = open(dir, native)?;
    db.config(name)?; // fail early on an unknown collection
    let bar = ProgressBar::new(reader.size).with_style(
        ProgressStyle::with_template("{spinner} importing {bar:30} {bytes}/{total_bytes} {msg}")
            .expect("valid template"),
    );
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let (mut total, mut batches) = (0u64, 0usize);
    let mut out = std::io::stdout().lock();
    loop {
        let points = reader.next_batch(batch)?;
        if points.is_empty() {
            break;
        }
        db.upsert(name, &points)?;
        total += points.len() as u64;
        batches += 1;
        bar.set_position(reader.position);
        bar.set_message(format!("{total} points"));
        if batches.is_multiple_of(flush_every) {
            db.flush(name)?;
            if json_out {
                // Everything up to here is durable: a crash from now on keeps these points.
                writeln!(out, "{}", json!({"event": "flushed", "points": total}))?;
                out.flush()?;
            }
        }
    }
    db.flush(name)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json_out {
        writeln!(
            out,
            "{}",
            json!({"event": "done", "points": total, "seconds": secs})
        )?;
    } else {
        writeln!(
            out,
            "imported {total} points into '{name}' in {secs:.2} s ({:.0} points/s), flushed",
            total as f64 / secs.max(1e-9)
        )?;
    }
    Ok(())
}

fn print_hits(results: &[Vec<Hit>], json_out: bool) {
    if json_out {
        let all: Vec<serde_json::Value> = results
            .iter()
            .map(|hits| {
                hits.iter()
                    .map(|h| json!({"id": h.id, "score": h.score, "payload": h.payload}))
                    .collect()
            })
            .collect();
        let v = if all.len() == 1 {
            all.into_iter().next().unwrap()
        } else {
            serde_json::Value::Array(all)
        };
        println!("{v}");
        return;
    }
    for (qi, hits) in results.iter().enumerate() {
        if results.len() > 1 {
            println!("query {qi}:");
        }
        if hits.is_empty() {
            println!("  (no matches)");
        }
        for (rank, h) in hits.iter().enumerate() {
            let payload = h
                .payload
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let payload = if payload.chars().count() > 100 {
                format!("{}…", payload.chars().take(99).collect::<String>())
            } else {
                payload
            };
            println!(
                "  {:>3}. id {:<10} score {:<10.4} {payload}",
                rank + 1,
                h.id,
                h.score
            );
        }
    }
}

fn info(dir: &Path, native: bool, json_out: bool) -> Result<()> {
    if !dir.join("VELES").exists() {
        return Err(anyhow!("{} is not a veles database", dir.display()));
    }
    let mut db = open(dir, native)?;
    let names = db.list()?;
    let mut rows = Vec::new();
    for n in &names {
        rows.push((n.clone(), db.stats(n)?));
    }
    if json_out {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s)| {
                json!({
                    "name": n, "points": s.len, "dimension": s.dimension, "metric": s.metric.name(),
                    "slots": s.slots, "free_slots": s.free_slots, "wal_bytes": s.wal_bytes,
                    "vector_file_bytes": s.vector_file_bytes, "generation": s.generation,
                    "recovery": {"replayed_records": s.recovery.replayed_records, "dropped_bytes": s.recovery.dropped_bytes, "torn_at": s.recovery.torn_at},
                })
            })
            .collect();
        println!(
            "{}",
            json!({"database": dir.display().to_string(), "collections": v})
        );
        return Ok(());
    }
    println!(
        "database {} ({} collection{})",
        dir.display(),
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    );
    for (n, s) in rows {
        println!(
            "  {n}: {} points, {} dimensions, {}; log {} bytes (generation {}), vectors file {} bytes",
            s.len, s.dimension, s.metric, s.wal_bytes, s.generation, s.vector_file_bytes
        );
        if s.recovery.replayed_records > 0 || s.recovery.dropped_bytes > 0 {
            println!(
                "     recovery on open: replayed {} records, dropped {} bytes of torn log",
                s.recovery.replayed_records, s.recovery.dropped_bytes
            );
        }
    }
    Ok(())
}
