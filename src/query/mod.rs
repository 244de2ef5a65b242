//! Queries of several legs: what a query is (`types.rs`), its JSON form (`json.rs`), and
//! how the legs' rankings become one (`fusion.rs`). `collection/query.rs` runs them.

mod fusion;
mod json;
mod types;

pub(crate) use fusion::{Ranking, fuse};
pub use types::{DEFAULT_LEG_LIMIT, DEFAULT_RRF_K, Fusion, Leg, MAX_LEGS, Query, Source};
