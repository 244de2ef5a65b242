//! Vectors: how is a vector stored, and how far apart are two?
//!
//! - `codec.rs`: a vector as slot bytes, and the metric's distance between slot bytes.
//! - `file.rs`: the vector file (fixed-size slots) and its per-slot checksums.
//! - `store.rs`: a collection's vectors: the file, the writes waiting for the log, the SQ8 copy.
//! - `sq8.rs`: the SQ8 traversal copy; `sq8_file.rs`: the copy saved at a checkpoint.
//! - `space.rs`: the spaces the graph is walked over (exact and SQ8): scoring in one place.

mod codec;
mod file;
mod space;
mod sq8;
pub(crate) mod sq8_file;
mod store;

pub(crate) use codec::{Codec, Query, with_f32};
pub(crate) use file::{PAGE, VectorFile, sums_path};
pub(crate) use space::{LinkSpace, SlotSpace, Sq8Space};
pub(crate) use sq8::{Sq8, quantize};
pub(crate) use store::Store;
