//! Payloads: validation (`json`), the in-memory store, the payload file, and the indexes.

mod column;
mod file;
mod index;
mod indexes;
pub(crate) mod json;
#[cfg(test)]
mod property_tests;
mod store;

pub(crate) use file::{HEAD as FILE_HEAD, PayloadFile};
pub use index::IndexKind;
pub(crate) use indexes::{Candidates, PayloadIndexes};
pub use json::{MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, parse, parse_fields};
pub(crate) use store::PayloadStore;
