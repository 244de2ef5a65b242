//! The `veles` CLI, on the host library: one module per command group.
//!
//! - `run.rs`: the entry point, the global options, and the dispatch of each command.
//! - `args.rs`: the command line.
//! - `points.rs`: search, get, scroll, export, count, delete, index (and `--fields`).
//! - `query.rs`: `query`, the fused queries of several legs.
//! - `import.rs`: `import`, with progress, flushes and resumable failures.
//! - `maintenance.rs`: create, info, check, checkpoint, compact, snapshot, restore.
//! - `bench.rs`, `plot.rs`: `bench` and its recall/QPS curves.
//! - `demo.rs`: `demo`.
//! - `data.rs`, `npy.rs`: reading vectors from fvecs, npy and jsonl files.
//! - `serve.rs`, `http1.rs`: `serve`, Qdrant's REST API over HTTP/1.1.
//! - `progress.rs`: bars and spinners; `output.rs`: printing that reports a closed stdout.

mod args;
mod bench;
mod data;
mod demo;
mod http1;
mod import;
mod maintenance;
mod npy;
mod output;
mod plot;
mod points;
mod progress;
mod query;
mod run;
mod serve;

pub(crate) use run::main;
