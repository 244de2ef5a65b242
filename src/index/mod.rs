//! Indexes: which points are near this query, fast?
//!
//! - `hnsw/`: the approximate graph index.
//! - `exact.rs`: the exact top-k of a scan, the baseline every index is measured against.
//! - `scratch.rs`: ordered candidates and per-query working memory.

mod exact;
pub mod hnsw;
mod scratch;

pub(crate) use exact::TopK;
pub use scratch::{Scored, Scratch};
