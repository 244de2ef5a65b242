//! Veles: a vector database engine whose one portable core runs natively and as a
//! WebAssembly component.

#[cfg(target_endian = "big")]
compile_error!("veles stores little-endian data and supports little-endian targets only");

pub mod error;
pub mod region;
pub mod wal;

pub use error::{Error, Limit, Result, StorageError, VectorProblem};
