//! `veles`: the command-line interface. Every command runs through the WebAssembly component
//! by default, or natively with `--native`; `--json` prints machine-readable output.
//!
//! Exit codes: 0 success, 1 the engine refused the request or an I/O error (and `check`
//! found a problem), 2 bad usage, 3 the component was stopped (deadline, memory limit).

use anyhow::{Result, anyhow, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use veles::{CollectionConfig, Filter, Hit, Metric, SearchParams};
use veles_host::data::{Format, PointReader};
use veles_host::{Backend, HostError, OpenOptions, backend, demo, progress};

mod points_cli;

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
        /// The database directory (created if missing).
        dir: PathBuf,
        /// The collection's name: [A-Za-z0-9_-], 1 to 64 characters.
        name: String,
        /// Vector dimension.
        #[arg(long)]
        dim: u32,
        /// cosine, euclidean (l2), dot (ip), hamming or jaccard.
        #[arg(long, default_value = "cosine", value_parser = METRICS)]
        metric: String,
        /// HNSW M: links per node (2M on level 0), 2 to 128.
        #[arg(long, default_value_t = 16)]
        m: u32,
        /// HNSW efConstruction: candidates per insert, 1 to 4096.
        #[arg(long, default_value_t = 200)]
        ef_construction: u32,
    },
    /// Import points from an fvecs, npy or jsonl file (positional formats number points from
    /// --start-id).
    Import {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The points: fvecs, npy (2-d f16/f32/f64) or jsonl ({"id", "vector", "payload"} per line); "-" reads JSON lines from stdin.
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Points per upsert.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Flush (make durable) after this many batches.
        #[arg(long, default_value_t = 20)]
        flush_every: usize,
        /// The id of the first point of an fvecs or npy file (jsonl lines carry their own).
        #[arg(long)]
        start_id: Option<u64>,
        /// Skip this many records first (to resume an import that stopped part way).
        #[arg(long, default_value_t = 0)]
        skip: u64,
    },
    /// Search a collection: one --vector, or every vector of --query-file.
    Search {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
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
        /// Hits per query.
        #[arg(short, default_value_t = 10)]
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
        /// Only hits scoring at least this well (>= for cosine, dot, jaccard; <= for
        /// euclidean, hamming).
        #[arg(long)]
        score_threshold: Option<f32>,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        /// Include the vectors.
        #[arg(long)]
        with_vector: bool,
        #[command(flatten)]
        fields: points_cli::Fields,
    },
    /// Print points by id, as JSON lines (`import`'s format).
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The ids.
        #[arg(required = true)]
        ids: Vec<u64>,
        /// Leave out the vectors.
        #[arg(long)]
        no_vector: bool,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: points_cli::Fields,
    },
    /// Delete points by id or by --filter; durable when it returns.
    Delete {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The ids (or give --filter).
        ids: Vec<u64>,
        /// Delete every point passing this filter (JSON).
        #[arg(long, conflicts_with = "ids")]
        filter: Option<String>,
    },
    /// Count the points (passing --filter).
    Count {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Print a page of points by id from --start, as JSON lines; the next cursor goes to
    /// stderr.
    Scroll {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// The first id of the page.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Points in the page.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Leave out the vectors.
        #[arg(long)]
        no_vector: bool,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: points_cli::Fields,
    },
    /// Print every point (passing --filter) by id, as JSON lines: `veles import` reads them
    /// back.
    Export {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: points_cli::Fields,
    },
    /// Create, drop or list payload indexes (which make filters on their keys fast).
    Index {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        #[command(subcommand)]
        action: points_cli::IndexAction,
    },
    /// Fold the log into a new checkpoint (all collections, or NAME): the next open loads the
    /// saved graph and replays nothing.
    Checkpoint {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: Option<String>,
    },
    /// Describe the collections of a database (opens it read-only).
    Info {
        /// The database directory.
        dir: PathBuf,
    },
    /// Verify every checksum and that ids, slots, payloads and the graph agree. Reads only;
    /// exits with 1 when anything is wrong.
    Check {
        /// The database directory.
        dir: PathBuf,
        /// Only this collection.
        name: Option<String>,
    },
    /// Rewrite collections densely, dropping deleted points (all, or NAME).
    Compact {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: Option<String>,
    },
    /// Copy a database consistently into DEST (a new or empty directory).
    Snapshot {
        /// The database directory.
        dir: PathBuf,
        /// An empty (or missing) directory for the copy.
        dest: PathBuf,
    },
    /// Check a snapshot, then copy it into DIR (a new or empty directory) to use it.
    Restore {
        /// A snapshot made by `veles snapshot`.
        snapshot: PathBuf,
        /// The database directory.
        dir: PathBuf,
    },
    /// Measure build, reopen and search (recall, QPS, latency, plan) on a data set, with or
    /// without payload filters.
    Bench {
        /// A directory for the benchmark's database (it builds a collection named `bench`
        /// there, and refuses to touch an existing one).
        dir: PathBuf,
        /// Base vectors (fvecs, npy or jsonl).
        #[arg(long)]
        base: PathBuf,
        /// Query vectors (fvecs, npy or jsonl).
        #[arg(long)]
        queries: PathBuf,
        /// Ground truth: the exact neighbour ids per query (ivecs); computed by exact scan
        /// when absent.
        #[arg(long)]
        gt: Option<PathBuf>,
        /// Hits per query.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Candidate list sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
        ef: Vec<usize>,
        #[arg(long, default_value_t = 16)]
        m: u32,
        #[arg(long, default_value_t = 200)]
        ef_construction: u32,
        #[arg(long, default_value = "cosine", value_parser = METRICS)]
        metric: String,
        /// Give point i the payload {"bucket": i % N} (and an integer index on it).
        #[arg(long)]
        buckets: Option<u64>,
        /// Payloads: a JSON object per line, line i for point i.
        #[arg(long, conflicts_with = "buckets")]
        payloads: Option<PathBuf>,
        /// Declare a payload index, key:kind (repeatable).
        #[arg(long = "index")]
        indexes: Vec<String>,
        /// A filter to measure (JSON, repeatable); its ground truth comes from an exact scan.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Run through the component (the default; here for symmetry with --native).
        #[arg(long)]
        component: bool,
        /// Also draw recall against QPS per ef into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Draw the recall/QPS curves of `veles bench --json` outputs (native and component runs,
    /// say) into one SVG file.
    Plot {
        /// The SVG file to write.
        out: PathBuf,
        /// `veles bench --json` outputs ("-": stdin).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Build a collection from real sentence embeddings shipped with veles and search it.
    Demo {
        /// Keep the database in this directory (default: a temporary one, removed after).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `--metric` values (aliases: l2 = euclidean, ip and inner_product = dot).
const METRICS: [&str; 8] = [
    "cosine",
    "euclidean",
    "l2",
    "dot",
    "ip",
    "inner_product",
    "hamming",
    "jaccard",
];

/// A usage error the parser could not see (a bad `--vector`, `--filter`, `--metric`, or
/// options that exclude each other): exit code 2, like clap's own.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Wraps a parse failure of a user's argument as a usage error.
fn usage<T, E: std::fmt::Display>(what: &str, r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow::Error::new(Usage(format!("{what}: {e}"))))
}

/// The error's kind for `--json` reports.
fn kind(e: &anyhow::Error) -> &'static str {
    if e.downcast_ref::<Usage>().is_some() {
        return "usage";
    }
    match e.downcast_ref::<HostError>() {
        Some(HostError::Engine(e)) => e.kind(),
        Some(HostError::Trap { .. }) => "trap",
        Some(HostError::Runtime(_)) => "runtime",
        None => match e.downcast_ref::<veles::Error>() {
            Some(e) => e.kind(),
            None => "error",
        },
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Under --json a usage error is JSON too (help and version print as usual).
        Err(e) if e.use_stderr() && std::env::args().any(|a| a == "--json") => {
            let message = e.kind().to_string();
            let detail = e.to_string();
            let report = json!({"error": {"kind": "usage", "message": format!("{message}: {}", detail.trim())}});
            eprintln!("{report}");
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    };
    let json_errors = cli.json;
    if let Err(e) = run(cli) {
        // A reader that went away (`veles export … | head`): end quietly, as a process
        // killed by SIGPIPE would (128 + 13).
        let pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if pipe {
            std::process::exit(141);
        }
        let code = match e.downcast_ref::<HostError>() {
            Some(HostError::Trap { .. }) => 3,
            _ if e.downcast_ref::<Usage>().is_some() => 2,
            _ => 1,
        };
        if json_errors {
            let report = json!({"error": {"kind": kind(&e), "message": format!("{e:#}")}});
            eprintln!("{report}");
        } else {
            eprintln!("error: {e:#}");
        }
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
            m,
            ef_construction,
        } => {
            let metric: Metric = usage("--metric", metric.parse())?;
            let mut db = open(&dir, cli.native)?;
            db.create_collection(
                &name,
                CollectionConfig::new(dim, metric).with_hnsw(m, ef_construction),
            )?;
            if json_out {
                veles_host::out!(
                    "{}",
                    json!({"created": name, "dimension": dim, "metric": metric.name()})
                );
            } else {
                veles_host::out!(
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
            skip,
        } => {
            import(
                &dir,
                &name,
                &file,
                format,
                (batch.max(1), flush_every.max(1)),
                (start_id, skip),
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
            score_threshold,
            no_payload,
            with_vector,
            fields,
        } => {
            let filter = usage(
                "--filter",
                filter.map(|f| Filter::from_json_str(&f)).transpose(),
            )?;
            // Read-only: a search changes nothing on disk and shares the directory with other
            // readers. Opened before the queries are read, so a missing database fails fast.
            let mut db = open_existing(&dir, cli.native)?;
            let queries: Vec<Vec<f32>> = match (vector, query_file) {
                (Some(v), _) => vec![usage(
                    "--vector must be a JSON array of numbers",
                    serde_json::from_str(&v),
                )?],
                (None, Some(f)) => PointReader::open(&f, None, 0)?
                    .next_batch(usize::MAX)?
                    .into_iter()
                    .map(|p| p.vector)
                    .collect(),
                (None, None) => return Err(Usage("give --vector or --query-file".into()).into()),
            };
            let params = SearchParams::default()
                .with_filter(filter.as_ref())
                .with_ef(ef)
                .with_exact(exact)
                .with_score_threshold(score_threshold)
                .with_include(veles::Include::new(with_vector, !no_payload));
            // In batches: a long query file shows progress, and each call stays small.
            let bar = progress::counter(queries.len() as u64, "searching", json_out);
            if queries.len() < 1000 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let mut results = Vec::with_capacity(queries.len());
            for chunk in queries.chunks(256) {
                results.extend(db.search_batch(&name, chunk, k, &params)?);
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
            for h in results.iter_mut().flatten() {
                h.payload = fields.project(h.payload.take());
            }
            let metric = db.config(&name)?.metric;
            print_hits(&results, metric, fields.chosen(), json_out)?;
        }
        Command::Get {
            dir,
            name,
            ids,
            no_vector,
            no_payload,
            fields,
        } => {
            let mut db = open_existing(&dir, cli.native)?;
            let include = veles::Include::new(!no_vector, !no_payload);
            points_cli::get(db.as_mut(), &name, &ids, include, &fields)?;
        }
        Command::Delete {
            dir,
            name,
            ids,
            filter,
        } => {
            let filter = points_cli::filter(filter.as_deref())?;
            let mut db = open(&dir, cli.native)?;
            points_cli::delete(db.as_mut(), &name, &ids, filter.as_ref(), json_out)?;
        }
        Command::Count { dir, name, filter } => {
            let filter = points_cli::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            points_cli::count(db.as_mut(), &name, filter.as_ref(), json_out)?;
        }
        Command::Scroll {
            dir,
            name,
            filter,
            start,
            limit,
            no_vector,
            no_payload,
            fields,
        } => {
            let filter = points_cli::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            let include = veles::Include::new(!no_vector, !no_payload);
            let (f, shape) = (filter.as_ref(), (include, &fields));
            points_cli::scroll(db.as_mut(), &name, f, start, Some(limit), shape, json_out)?;
        }
        Command::Export {
            dir,
            name,
            filter,
            no_payload,
            fields,
        } => {
            let filter = points_cli::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            let include = veles::Include::new(true, !no_payload);
            points_cli::scroll(
                db.as_mut(),
                &name,
                filter.as_ref(),
                0,
                None,
                (include, &fields),
                json_out,
            )?;
        }
        Command::Index { dir, name, action } => {
            let read_only = matches!(action, points_cli::IndexAction::List);
            let mut db = match read_only {
                true => open_existing(&dir, cli.native)?,
                false => open(&dir, cli.native)?,
            };
            points_cli::index(db.as_mut(), &name, action, json_out)?;
        }
        Command::Checkpoint { dir, name } => {
            if !veles::Database::exists(&dir) {
                return Err(anyhow!("{} is not a veles database", dir.display()));
            }
            let mut db = open(&dir, cli.native)?;
            let names = match name {
                Some(n) => vec![n],
                None => db.list()?,
            };
            for n in &names {
                let bar = progress::bar(0, "{spinner} {msg}", json_out);
                progress::catch_up(db.as_mut(), n, &bar, &format!("{n}: "))?;
                bar.set_message(format!("{n}: saving the checkpoint"));
                db.checkpoint(n)?;
                bar.finish_and_clear();
                let s = db.stats(n)?;
                match json_out {
                    true => veles_host::out!(
                        "{}",
                        json!({"collection": n, "generation": s.generation, "points": s.len})
                    ),
                    false => veles_host::out!(
                        "checkpointed {n}: {} points, generation {}",
                        s.len,
                        s.generation
                    ),
                }
            }
        }
        Command::Info { dir } => info(&dir, cli.native, json_out)?,
        Command::Check { dir, name } => check(&dir, name.as_deref(), cli.native, json_out)?,
        Command::Compact { dir, name } => compact(&dir, name, cli.native, json_out)?,
        Command::Snapshot { dir, dest } => snapshot(&dir, &dest, false, cli.native, json_out)?,
        Command::Restore {
            snapshot: from,
            dir,
        } => snapshot(&from, &dir, true, cli.native, json_out)?,
        Command::Demo { dir } => demo::run(cli.native, dir, json_out)?,
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
            buckets,
            payloads,
            indexes,
            filters,
            component,
            plot,
        } => {
            for f in &filters {
                usage("--filter", Filter::from_json_str(f))?;
            }
            if component && cli.native {
                return Err(Usage("choose one of --native and --component".into()).into());
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
                metric: usage("--metric", metric.parse())?,
                native: cli.native,
                json: json_out,
                buckets,
                payloads,
                indexes,
                filters,
                plot,
            })?;
        }
        Command::Plot { out, runs } => {
            let mut series = Vec::new();
            for path in &runs {
                let text = match path.to_str() {
                    Some("-") => std::io::read_to_string(std::io::stdin())?,
                    _ => std::fs::read_to_string(path)
                        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?,
                };
                let run: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| anyhow!("{}: not JSON: {e}", path.display()))?;
                series.extend(veles_host::plot::series_of_run(&run)?);
            }
            let doc = veles_host::plot::svg("veles bench: recall@k against QPS", &series)?;
            std::fs::write(&out, doc)
                .map_err(|e| anyhow!("cannot write {}: {e}", out.display()))?;
        }
    }
    Ok(())
}

/// Waiting points at which `import` links them (below the engine's default limit).
const CATCH_UP_AT: u64 = 8192;

/// `veles import`. Output is best effort: a reader that goes away does not stop the import
/// (it completes and checkpoints, then the command ends as SIGPIPE would). A bad record stops
/// it after making the points before it durable, and says where and how to resume.
#[allow(clippy::too_many_arguments)]
fn import(
    dir: &Path,
    name: &str,
    file: &Path,
    format: Option<Format>,
    (batch, flush_every): (usize, usize),
    (start_id, skip): (Option<u64>, u64),
    native: bool,
    json_out: bool,
) -> Result<()> {
    let mut reader = PointReader::open(file, format, start_id.unwrap_or(0))?;
    if start_id.is_some() && !reader.positional() {
        return Err(Usage(
            "--start-id applies to fvecs and npy files: jsonl lines carry their ids".into(),
        )
        .into());
    }
    let mut db = open(dir, native)?;
    db.config(name)?; // fail early on an unknown collection
    let bar = ProgressBar::new(reader.size).with_style(
        ProgressStyle::with_template(
            "{spinner} importing {bar:30} {bytes}/{total_bytes} {msg} ({per_sec}, {eta} left)",
        )
        .expect("valid template"),
    );
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut skipped = 0u64;
    while skipped < skip {
        let n = reader
            .next_batch((skip - skipped).min(10_000) as usize)?
            .len() as u64;
        if n == 0 {
            break;
        }
        skipped += n;
    }
    let started = Instant::now();
    let (mut total, mut batches) = (0u64, 0usize);
    let mut out = Output::default();
    loop {
        let points = match reader.next_batch(batch) {
            Ok(p) => p,
            Err(e) => {
                // What came before the bad record is kept: made durable, then reported.
                db.flush(name)?;
                db.checkpoint(name)?;
                bar.finish_and_clear();
                let done = skipped + total;
                return Err(e.context(format!(
                    "stopped: the {total} points before it are imported and durable; fix the \
                     record and resume with --skip {done}"
                )));
            }
        };
        if points.is_empty() {
            break;
        }
        if db.upsert(name, &points).is_err() {
            // The batch is atomic: find the record it refused, keeping the ones before it.
            let mut failure = None;
            for p in &points {
                match db.upsert(name, std::slice::from_ref(p)) {
                    Ok(()) => total += 1,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            db.flush(name)?;
            db.checkpoint(name)?;
            bar.finish_and_clear();
            let done = skipped + total;
            let e = failure.map_or_else(|| anyhow!("the batch was refused"), anyhow::Error::new);
            return Err(e.context(format!(
                "record {} of {} was refused: the {total} points before it are imported and \
                 durable; fix it and resume with --skip {done}",
                done + 1,
                file.display()
            )));
        }
        total += points.len() as u64;
        batches += 1;
        bar.set_position(reader.position);
        bar.set_message(format!("{total} points"));
        // Upserts never wait for the graph; linking here, in short steps, keeps the bar
        // moving (an upsert past the engine's limit of waiting points would link them all).
        if db.optimize(name, Some(0))? >= CATCH_UP_AT {
            progress::catch_up(db.as_mut(), name, &bar, &format!("{total} points, "))?;
        }
        if batches.is_multiple_of(flush_every) {
            db.flush(name)?;
            if json_out {
                // Everything up to here is durable: a crash from now on keeps these points.
                out.line(json!({"event": "flushed", "points": total}).to_string());
            }
        }
    }
    progress::catch_up(db.as_mut(), name, &bar, &format!("{total} points, "))?;
    // A checkpoint saves the graph: the next open loads it instead of rebuilding it.
    bar.set_message(format!("{total} points, saving the graph"));
    db.checkpoint(name)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json_out {
        out.line(
            json!({"event": "done", "points": total, "skipped": skipped, "seconds": secs})
                .to_string(),
        );
    } else {
        out.line(format!(
            "imported {total} points into '{name}' in {secs:.2} s ({:.0} points/s), checkpointed",
            total as f64 / secs.max(1e-9)
        ));
    }
    out.finish()
}

/// Stdout written best effort: the first failure is kept, later lines are dropped, and
/// [`Output::finish`] reports it (a closed pipe ends the command as SIGPIPE would).
#[derive(Default)]
struct Output {
    failed: Option<std::io::Error>,
}

impl Output {
    fn line(&mut self, text: String) {
        if self.failed.is_none() {
            let mut o = std::io::stdout().lock();
            if let Err(e) = writeln!(o, "{text}").and_then(|()| o.flush()) {
                self.failed = Some(e);
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self.failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// Prints search results. JSON: one array with an object per query, `{"query": i, "hits":
/// […]}`, whatever the number of queries.
/// Text: a payload prints whole when `whole` (the fields a user chose), else cut at 100
/// characters.
fn print_hits(results: &[Vec<Hit>], metric: Metric, whole: bool, json_out: bool) -> Result<()> {
    if json_out {
        let all: Vec<serde_json::Value> = results
            .iter()
            .enumerate()
            .map(|(i, hits)| json!({"query": i, "hits": hits}))
            .collect();
        veles_host::out!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    for (qi, hits) in results.iter().enumerate() {
        if results.len() > 1 {
            veles_host::out!("query {qi}:");
        }
        if hits.is_empty() {
            veles_host::out!("  (no matches)");
        }
        for (rank, h) in hits.iter().enumerate() {
            let payload = h
                .payload
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let payload = if !whole && payload.chars().count() > 100 {
                format!("{}…", payload.chars().take(99).collect::<String>())
            } else {
                payload
            };
            // Hamming scores count bits: whole numbers.
            let score = match metric {
                Metric::Hamming => format!("{:.0}", h.score),
                _ => format!("{:.4}", h.score),
            };
            let line = format!(
                "  {:>3}. id {:<10} score {score:<10} {payload}",
                rank + 1,
                h.id
            );
            veles_host::out!("{}", line.trim_end());
        }
    }
    Ok(())
}

/// Opens an existing database read-only.
fn open_existing(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    if !veles::Database::exists(dir) {
        return Err(anyhow!("{} is not a veles database", dir.display()));
    }
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    backend::open_with(dir, native, None, &options)
}

fn check(dir: &Path, only: Option<&str>, native: bool, json_out: bool) -> Result<()> {
    let mut db = open_existing(dir, native)?;
    let bar = progress::spinner(
        format!("checking every checksum of {}", human(disk_use(dir))),
        json_out,
    );
    let mut reports = db.check()?;
    bar.finish_and_clear();
    if let Some(name) = only {
        reports.retain(|r| r.collection == name);
        if reports.is_empty() {
            return Err(veles::Error::CollectionNotFound(name.to_string()).into());
        }
    }
    let bad = reports.iter().filter(|r| !r.is_ok()).count();
    if json_out {
        let v: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| object(r, json!({"ok": r.is_ok()})))
            .collect();
        veles_host::out!(
            "{}",
            json!({"database": dir.display().to_string(), "ok": bad == 0, "collections": v})
        );
    } else {
        for r in &reports {
            let verdict = if r.is_ok() { "ok" } else { "DAMAGED" };
            veles_host::out!(
                "{verdict:>7}  {}: {} points, {} slots, {} graph nodes, {} log records, {} bytes checked",
                r.collection,
                r.points,
                r.slots,
                r.graph_nodes,
                r.wal_records,
                r.bytes_checked
            );
            for p in &r.problems {
                veles_host::out!("         problem: {p}");
            }
            for n in &r.notes {
                veles_host::out!("         note: {n}");
            }
        }
        match bad {
            0 => veles_host::out!("{} collection(s) checked: no problems", reports.len()),
            n => veles_host::out!("{} collection(s) checked: {n} with problems", reports.len()),
        }
    }
    if bad > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn compact(dir: &Path, only: Option<String>, native: bool, json_out: bool) -> Result<()> {
    if !veles::Database::exists(dir) {
        return Err(anyhow!("{} is not a veles database", dir.display()));
    }
    let mut db = open(dir, native)?;
    let names = match only {
        Some(n) => vec![n],
        None => db.list()?,
    };
    let total = names.len();
    for (i, n) in names.into_iter().enumerate() {
        let files = dir.join("collections").join(&n);
        let disk_before = disk_use(&files);
        let bar = progress::spinner(
            format!(
                "compacting {n} ({} of {total}, {})",
                i + 1,
                human(disk_before)
            ),
            json_out,
        );
        let r = db.compact(&n)?;
        bar.finish_and_clear();
        let disk_after = disk_use(&files);
        if json_out {
            let extra =
                json!({"collection": n, "disk_before": disk_before, "disk_after": disk_after});
            veles_host::out!("{}", object(&r, extra));
        } else {
            veles_host::out!(
                "compacted {n}: {} points; slots {} -> {}; {} deleted points dropped from the graph; disk use {} -> {} bytes ({} given back; files span {} -> {} bytes)",
                r.points,
                r.slots_before,
                r.slots_after,
                r.tombstones_dropped,
                disk_before,
                disk_after,
                disk_before.saturating_sub(disk_after),
                r.bytes_before,
                r.bytes_after,
            );
        }
    }
    Ok(())
}

/// Bytes for people: `12.3 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{bytes} bytes"),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

/// The bytes the files in `dir` occupy on disk (allocated blocks, as `du` counts: holes are
/// free), or their lengths where the platform does not say.
fn disk_use(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512
            }
            #[cfg(not(unix))]
            {
                m.len()
            }
        })
        .sum()
}

/// `veles snapshot` (a consistent copy of a database) and `veles restore` (the same from a
/// snapshot, checked first and opened read-only).
fn snapshot(from: &Path, dest: &Path, restore: bool, native: bool, json_out: bool) -> Result<()> {
    if !veles::Database::exists(from) {
        return Err(anyhow!("{} is not a veles database", from.display()));
    }
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        bail!("{} exists and is not empty", dest.display());
    }
    let options = OpenOptions {
        read_only: restore,
        snapshot_dest: Some(dest.to_path_buf()),
    };
    let mut db = backend::open_with(from, native, None, &options)?;
    if restore {
        let bar = progress::spinner(format!("checking {}", from.display()), json_out);
        let reports = db.check();
        bar.finish_and_clear();
        let damaged: Vec<String> = reports?
            .into_iter()
            .filter(|r| !r.is_ok())
            .map(|r| format!("{}: {}", r.collection, r.problems[0]))
            .collect();
        if !damaged.is_empty() {
            bail!(
                "the snapshot does not check clean, not restoring: {}",
                damaged.join("; ")
            );
        }
    }
    let bar = progress::spinner(
        format!("copying {} into {}", human(disk_use(from)), dest.display()),
        json_out,
    );
    let r = db.snapshot(dest);
    bar.finish_and_clear();
    let r = r?;
    if json_out {
        veles_host::out!(
            "{}",
            object(
                &r,
                json!({"from": from.display().to_string(), "to": dest.display().to_string()})
            )
        );
    } else {
        veles_host::out!(
            "{} {} into {}: {} collection(s) [{}], {} bytes",
            if restore { "restored" } else { "snapshot of" },
            from.display(),
            dest.display(),
            r.collections.len(),
            r.collections.join(", "),
            r.bytes
        );
    }
    Ok(())
}

fn info(dir: &Path, native: bool, json_out: bool) -> Result<()> {
    let mut db = open_existing(dir, native)?;
    let names = db.list()?;
    let mut rows = Vec::new();
    for n in &names {
        rows.push((n.clone(), db.stats(n)?, db.config(n)?));
    }
    if json_out {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s, c)| {
                object(
                    s,
                    json!({
                        "name": n, "points": s.len, "m": c.m, "ef_construction": c.ef_construction,
                        "disk_bytes": disk_use(&dir.join("collections").join(n)),
                    }),
                )
            })
            .collect();
        veles_host::out!(
            "{}",
            json!({"database": dir.display().to_string(), "collections": v})
        );
        return Ok(());
    }
    veles_host::out!(
        "database {} ({} collection{})",
        dir.display(),
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    );
    for (n, s, c) in rows {
        let disk = disk_use(&dir.join("collections").join(&n));
        veles_host::out!(
            "  {n}: {} points, {} dimensions, {}; HNSW M {} ef_construction {}, {} graph nodes{}; \
             {} payload indexes; log {} (generation {}{}); disk {}",
            s.len,
            s.dimension,
            s.metric,
            c.m,
            c.ef_construction,
            s.graph_nodes,
            match s.unindexed {
                0 => String::new(),
                w => format!(" ({w} points waiting for it)"),
            },
            s.indexes,
            human(s.wal_bytes),
            s.generation,
            if s.unflushed {
                ", unflushed writes"
            } else {
                ""
            },
            human(disk)
        );
        if s.recovery.replayed_records > 0 || s.recovery.dropped_bytes > 0 {
            veles_host::out!(
                "     recovery on open: replayed {} records, dropped {} bytes of torn log",
                s.recovery.replayed_records,
                s.recovery.dropped_bytes
            );
        }
    }
    Ok(())
}

/// `value` serialized as a JSON object, with the fields of `extra` added (the report types
/// are `Serialize`: the JSON follows them, never a hand-kept list of fields).
fn object(value: &impl serde::Serialize, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}
