//! Veles: a vector database engine whose one portable core runs natively and as a
//! WebAssembly component.
//!
//! ```
//! use veles::{CollectionConfig, Database, Filter, Metric, Point};
//! use serde_json::json;
//!
//! let db = Database::in_memory();
//! let c = db.create_collection("docs", CollectionConfig::new(3, Metric::Cosine))?;
//! c.upsert(&[
//!     Point::new(1, vec![1.0, 0.0, 0.0]).with_payload(json!({"lang": "en"})),
//!     Point::new(2, vec![0.0, 1.0, 0.0]).with_payload(json!({"lang": "no"})),
//! ])?;
//! c.flush()?; // the durability barrier
//! let hits = c.search(&[0.9, 0.1, 0.0], 1, Some(&Filter::eq("lang", "en")))?;
//! assert_eq!(hits[0].id, 1);
//! # Ok::<(), veles::Error>(())
//! ```
//!
//! Storage goes through [`region::Directory`] and [`region::Region`]; platform code lives in
//! [`region`] (storage) and the private `sys` module (CPU features, threads). ARCHITECTURE.md
//! says which module answers which question. See `docs/format.md` for the files and the durability contract.

#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("veles stores little-endian data and supports little-endian targets only");

pub mod check;
mod checkpoint;
mod collection;
mod config;
mod db;
pub mod distance;
pub mod error;
pub mod filter;
mod format;
mod idmap;
#[doc(hidden)]
pub mod index;
mod keypath;
mod payloads;
mod query;
mod record;
pub mod region;
mod sparse;
mod splitmix;
mod sys;
#[doc(hidden)]
pub mod testing;
mod text;
mod vectors;
#[doc(hidden)]
pub mod wal;

mod wit_convert;

#[cfg(all(target_family = "wasm", feature = "component"))]
mod component;

pub use check::{CheckReport, Problem};
pub use collection::LINK_STEP;
pub use collection::{
    Collection, CompactReport, DEFAULT_EF, DEFAULT_MAX_UNINDEXED, EXACT_BELOW,
    EXACT_MATCHES_PER_EF, EXACT_SELECTIVITY, Hit, Include, IndexInfo, Linking, MAX_EF, MAX_K,
    MAX_RESULT_BYTES, MAX_SCROLL, Options, Page, Plan, PlanKind, Point, Points,
    QUANTIZED_SCAN_FACTOR, RESULT_ITEM_BYTES, RESULT_LIST_BYTES, RecoveryStats, SearchParams,
    Stats, VectorMemory,
};
pub use config::{CollectionConfig, MAX_DIMENSION, MAX_SPARSE_FIELDS, Metric, SparseField};
pub use db::{Database, FORMAT_VERSION, MAX_NAME_LEN, SnapshotReport, validate_name};
pub use distance::Kernels;
pub use error::{Error, Limit, Result, StorageError, VectorProblem};
pub use filter::{Condition, Filter, FlatNode, MAX_FILTER_DEPTH, MatchMode, TextMatch};
pub use payloads::{
    IndexKind, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, parse as parse_payload,
    parse_fields as parse_payload_fields,
};
pub use query::{DEFAULT_LEG_LIMIT, DEFAULT_RRF_K, Fusion, Leg, MAX_LEGS, Query, Source};
pub use sparse::{MAX_SPARSE_NNZ, SparseVector};
pub use text::{Bm25, Bm25Embedder, Language, TextConfig, Tokenizer, term_dimension};
