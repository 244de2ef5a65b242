//! `veles`: the command-line interface. Every command runs through the WebAssembly component
//! by default, or natively with `--native`; `--json` prints machine-readable output.
//!
//! Exit codes: 0 success, 1 the engine refused the request or an I/O error (and `check`
//! found a problem), 2 bad usage, 3 the component was stopped (deadline, memory limit).

use super::{demo, import, maintenance, plot, points, query};
use anyhow::Result;
use clap::Parser;
use serde_json::json;
use std::path::Path;
use veles::{CollectionConfig, Filter, Metric};
use veles_host::{Backend, HostError, Limits, OpenOptions, backend};

use super::args::{Cli, Command, Deadline, Usage, usage};
use super::output::{Refusal, no_database};

/// The error's kind for `--json` reports.
fn kind(e: &anyhow::Error) -> &'static str {
    if e.downcast_ref::<Usage>().is_some() {
        return "usage";
    }
    if let Some(r) = e.downcast_ref::<Refusal>() {
        return r.kind;
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

pub(crate) fn main() {
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

/// Opens the database in `dir` for writing, creating it when it is new (`create`, `bench`,
/// `demo`).
pub(crate) fn open(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    backend::open_with(dir, native, None, &options())
}

/// Opens the existing database in `dir` for writing; a missing one is refused, never made
/// empty as a side effect of a command that only changes what is there.
pub(crate) fn open_to_change(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    if !veles::Database::exists(dir) {
        return Err(no_database(dir).into());
    }
    open(dir, native)
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
            sparse,
        } => {
            let metric: Metric = usage("--metric", metric.parse())?;
            let mut config = CollectionConfig::new(dim, metric).with_hnsw(m, ef_construction);
            for s in sparse {
                let field = match s.split_once(':') {
                    None => veles::SparseField::new(s, false),
                    Some((name, "idf")) => veles::SparseField::new(name, true),
                    Some((_, other)) => {
                        return Err(Usage(format!(
                            "--sparse {s}: after ':' only 'idf' is known, not {other:?}"
                        ))
                        .into());
                    }
                };
                config = config.with_sparse(field);
            }
            maintenance::create(&dir, &name, config, cli.native, json_out)?
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
            import::import(
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
            format,
            k,
            filter,
            ef,
            exact,
            score_threshold,
            no_payload,
            with_vector,
            fields,
        } => {
            let query = points::Query {
                vector,
                query_file,
                format,
                k,
                filter,
                ef,
                exact,
                score_threshold,
                no_payload,
                with_vector,
            };
            points::search(&dir, &name, query, &fields, cli.native, json_out)?
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
            let shape = points::Shape {
                include: veles::Include::new(!no_vector, !no_payload),
                fields: &fields,
                human: for_a_person(json_out),
            };
            points::get(db.as_mut(), &name, &ids, &shape)?;
        }
        Command::Delete {
            dir,
            name,
            ids,
            filter,
        } => {
            let filter = points::filter(filter.as_deref())?;
            let mut db = open_to_change(&dir, cli.native)?;
            points::delete(db.as_mut(), &name, &ids, filter.as_ref(), json_out)?;
        }
        Command::Count { dir, name, filter } => {
            let filter = points::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            points::count(db.as_mut(), &name, filter.as_ref(), json_out)?;
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
            let filter = points::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            let shape = points::Shape {
                include: veles::Include::new(!no_vector, !no_payload),
                fields: &fields,
                human: for_a_person(json_out),
            };
            let f = filter.as_ref();
            points::scroll(db.as_mut(), &name, f, start, Some(limit), &shape, json_out)?;
        }
        Command::Export {
            dir,
            name,
            filter,
            no_vector,
            no_payload,
            fields,
        } => {
            let filter = points::filter(filter.as_deref())?;
            let mut db = open_existing(&dir, cli.native)?;
            // Always JSON lines: what `import` reads back.
            let shape = points::Shape {
                include: veles::Include::new(!no_vector, !no_payload),
                fields: &fields,
                human: false,
            };
            points::scroll(
                db.as_mut(),
                &name,
                filter.as_ref(),
                0,
                None,
                &shape,
                json_out,
            )?;
        }
        Command::Query {
            dir,
            name,
            query,
            explain,
            fields,
        } => query::run(&dir, &name, &query, explain, &fields, cli.native, json_out)?,
        Command::Drop { dir, name } => maintenance::drop(&dir, &name, cli.native, json_out)?,
        Command::Index { dir, name, action } => {
            let read_only = matches!(action, points::IndexAction::List);
            let mut db = match read_only {
                true => open_existing(&dir, cli.native)?,
                false => open_to_change(&dir, cli.native)?,
            };
            points::index(db.as_mut(), &name, action, json_out)?;
        }
        Command::Checkpoint { dir, name } => {
            maintenance::checkpoint(&dir, name, cli.native, json_out)?
        }
        Command::Info { dir } => maintenance::info(&dir, cli.native, json_out)?,
        Command::Check { dir, name } => {
            maintenance::check(&dir, name.as_deref(), cli.native, json_out)?
        }
        Command::Compact { dir, name } => maintenance::compact(&dir, name, cli.native, json_out)?,
        Command::Snapshot { dir, dest } => {
            maintenance::snapshot(&dir, &dest, false, cli.native, json_out)?
        }
        Command::Restore {
            snapshot: from,
            dir,
            force,
        } => match force && dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
            true => maintenance::restore_over(&from, &dir, cli.native, json_out)?,
            false => maintenance::snapshot(&from, &dir, true, cli.native, json_out)?,
        },
        Command::Demo { dir } => demo::run(cli.native, dir, &options(), json_out)?,
        Command::Serve {
            dir,
            addr,
            api_key,
            threads,
            timeout,
        } => super::serve::run(&dir, &addr, api_key, threads, timeout)?,
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
            super::bench::run(&super::bench::BenchArgs {
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
        Command::Plot { out, runs } => plot::command(&out, &runs)?,
    }
    Ok(())
}

/// Opens an existing database read-only.
pub(crate) fn open_existing(dir: &Path, native: bool) -> Result<Box<dyn Backend>> {
    if !veles::Database::exists(dir) {
        return Err(no_database(dir).into());
    }
    let options = OpenOptions {
        read_only: true,
        ..options()
    };
    backend::open_with(dir, native, None, &options)
}

/// True when points should print for a person: stdout is a terminal and `--json` was not
/// given. Piped, `get` and `scroll` print JSON lines (`import`'s format), as `export` always
/// does.
fn for_a_person(json_out: bool) -> bool {
    use std::io::IsTerminal;
    !json_out && std::io::stdout().is_terminal()
}
