//! Indexes: which points are near this query, fast?
//!
//! - `hnsw/`: the approximate graph index.
//! - `inverted.rs`: posting lists and the exact top-k of a sum of term scores (MaxScore),
//!   for text and sparse vectors.
//! - `exact.rs`: the exact top-k of a scan, the baseline every index is measured against.
//! - `scratch.rs`: ordered candidates and per-query working memory; `pool.rs`: the sorted
//!   candidate list of a walk without a filter.

mod exact;
pub mod hnsw;
pub(crate) mod inverted;
mod pool;
pub(crate) mod scratch;

pub(crate) use exact::TopK;
pub(crate) use pool::Pool;
pub use scratch::{Scored, Scratch};
