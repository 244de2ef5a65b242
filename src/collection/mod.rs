//! A collection: which points are stored, and which are near a query?
//!
//! - `handle.rs`: [`Collection`], the handle callers hold.
//! - `writer.rs`: the writer's hold: writes serialised, long work beside readers, short
//!   switches.
//! - `types.rs`: what the API takes and returns ([`Point`], [`Hit`], [`SearchParams`],
//!   [`Options`], [`Stats`], ...), and the search limits.
//! - `state.rs`: the open collection's state, composed of the id map, the vectors, the
//!   payloads, the graph and the log.
//! - `files.rs`: the collection's files and how they are copied.
//! - `open.rs`: create, and open: the checkpoint's state.
//! - `replay.rs`: recovery's second half, the log replayed on it.
//! - `rewrites.rs`: the rewrite sequence, how a reader in another process reads beside the
//!   writer.
//! - `write.rs`: upsert and delete, under the write-ahead rule.
//! - `plan.rs`: which points a filter passes, and the plan a search takes.
//! - `search.rs`: request checks, running the plan, single queries and batches.
//! - `query.rs`: queries of several legs (dense, text), ranked under one view and fused.
//! - `budget.rs`: what a read has returned so far, against the result limit.
//! - `points.rs`: scroll, count, payload updates, deletes by filter, index declarations.
//! - `scroll.rs`: every point, page by page, as an iterator.
//! - `unindexed.rs`: the points waiting for the graph.
//! - `graph.rs`: keeping the HNSW graph over the slots (loading, catching up, rebuilding).
//! - `linker.rs`: the graph keeping up by itself (a background thread, or at flush) and the
//!   checkpoint of a clean close.
//! - `checkpoint.rs`, `compact.rs`, `check.rs`: the maintenance protocols.

mod budget;
mod check;
mod checkpoint;
mod compact;
mod files;
mod graph;
mod handle;
mod linker;
mod open;
mod plan;
mod points;
mod query;
mod replay;
mod rewrites;
mod scroll;
mod search;
mod state;
mod types;
mod unindexed;
mod write;
mod writer;

pub(crate) use files::{copy_collection_files, has_checkpoint, orphaned};
pub use handle::Collection;
pub(crate) use handle::LinkRequests;
pub(crate) use linker::Linker;
pub use points::IndexInfo;
pub use scroll::Points;
pub use types::{
    CompactReport, DEFAULT_EF, DEFAULT_MAX_UNINDEXED, EXACT_BELOW, EXACT_MATCHES_PER_EF,
    EXACT_SELECTIVITY, Hit, Include, Linking, MAX_EF, MAX_K, MAX_RESULT_BYTES, MAX_SCROLL, Options,
    Page, Plan, PlanKind, Point, QUANTIZED_SCAN_FACTOR, RESULT_ITEM_BYTES, RESULT_LIST_BYTES,
    RecoveryStats, SearchParams, Stats, VectorMemory,
};
pub use unindexed::LINK_BATCH as LINK_STEP;
