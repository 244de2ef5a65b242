//! Indexes: which points are near this query, fast?
//!
//! - `hnsw/`: the approximate graph index.
//! - `exact.rs`: the exact top-k of a scan, the baseline every index is measured against.
//! - `scratch.rs`: ordered candidates and per-query working memory; `pool.rs`: the sorted
//!   candidate list of a walk without a filter.

mod exact;
pub mod hnsw;
mod pool;
pub(crate) mod scratch;

pub(crate) use exact::TopK;
pub(crate) use pool::Pool;
pub use scratch::{Scored, Scratch};
