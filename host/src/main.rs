//! `veles`: the command-line interface. Every command runs through the WebAssembly component
//! by default, or natively with `--native`; `--json` prints machine-readable output.
//!
//! Exit codes: 0 success, 1 the engine refused the request or an I/O error (and `check`
//! found a problem), 2 bad usage, 3 the component was stopped (deadline, memory limit).

use anyhow::{Result, anyhow};
use clap::Parser;
use serde_json::json;
use std::path::Path;
use veles::{CollectionConfig, Filter, Metric, SearchParams};
use veles_host::data::PointReader;
use veles_host::{Backend, HostError, Limits, OpenOptions, backend, demo, progress};

mod args;
mod import_cli;
mod maintenance_cli;
mod points_cli;

use args::{Cli, Command, Deadline, Usage, usage};

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

/// What every open of this run uses, from the global options (set once, in `run`).
static OPTIONS: std::sync::OnceLock<OpenOptions> = std::sync::OnceLock::new();

/// The open options the global options chose.
pub(crate) fn options() -> OpenOptions {
    OPTIONS.get().cloned().unwrap_or_default()
}

fn open(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    backend::open_with(dir, native, None, &options())
}

fn run(cli: Cli) -> Result<()> {
    let json_out = cli.json;
    let mut limits = Limits::default();
    if let Some(mib) = cli.memory_limit {
        limits.memory_bytes = usage(
            "--memory-limit",
            mib.checked_mul(1 << 20).ok_or("too large"),
        )?;
    }
    match cli.deadline {
        Some(Deadline::After(t)) => limits.call_timeout = Some(t),
        Some(Deadline::None) => limits.call_timeout = None,
        None => {}
    }
    let _ = OPTIONS.set(OpenOptions {
        vector_memory: cli.vector_memory.into(),
        limits,
        ..OpenOptions::default()
    });
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
            import_cli::import(
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
            points_cli::print_hits(&results, metric, fields.chosen(), json_out)?;
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
            maintenance_cli::checkpoint(&dir, name, cli.native, json_out)?
        }
        Command::Info { dir } => maintenance_cli::info(&dir, cli.native, json_out)?,
        Command::Check { dir, name } => {
            maintenance_cli::check(&dir, name.as_deref(), cli.native, json_out)?
        }
        Command::Compact { dir, name } => {
            maintenance_cli::compact(&dir, name, cli.native, json_out)?
        }
        Command::Snapshot { dir, dest } => {
            maintenance_cli::snapshot(&dir, &dest, false, cli.native, json_out)?
        }
        Command::Restore {
            snapshot: from,
            dir,
        } => maintenance_cli::snapshot(&from, &dir, true, cli.native, json_out)?,
        Command::Demo { dir } => demo::run(cli.native, dir, &options(), json_out)?,
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
                options: options(),
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

/// Opens an existing database read-only.
pub(crate) fn open_existing(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    if !veles::Database::exists(dir) {
        return Err(anyhow!("{} is not a veles database", dir.display()));
    }
    let options = OpenOptions {
        read_only: true,
        ..options()
    };
    backend::open_with(dir, native, None, &options)
}
