//! Byte regions: where should the bytes live?
//!
//! The core sees storage only through two small traits:
//!
//! - [`Region`]: one growable byte array with positional reads and writes, `sync` as the
//!   durability barrier and `punch_hole` to give bytes back. Native builds back the vector slots
//!   with a memory map ([`MmapRegion`]); the `wasm32-wasip2` build keeps them in memory over
//!   positional file I/O ([`CachedRegion`] over [`FileRegion`]); every log uses positional I/O;
//!   [`MemoryRegion`] serves ephemeral databases and tests.
//! - [`Directory`]: named regions plus the few metadata operations a database needs, each of
//!   which is durable when it returns (`write_atomic`, `create_dir`, `rename`, `remove_dir_all`).
//!
//! All platform code of the crate lives below this module. Every backend passes the one
//! conformance suite in `conformance.rs`.

// A wrong cast here corrupts data on disk: every narrowing cast is checked or justified.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod cached;
mod checked;
#[doc(hidden)]
pub mod crash;
mod file;
mod fs;
mod lock;
mod memory;
#[cfg(not(target_family = "wasm"))]
mod mmap;
mod pages;
#[cfg(target_os = "wasi")]
mod wasi;

#[cfg(test)]
pub(crate) mod conformance;
mod paths;
mod traits;

pub use cached::CachedRegion;
pub(crate) use cached::{is_out_of_memory, out_of_memory};
pub use checked::CheckedRegion;
pub use file::FileRegion;
pub use fs::{FsDirectory, RegionBackend, create_dir_all_durable};
pub use lock::{DirectoryLock, LOCK_FILE, nested, writer_present};
pub use memory::{MemoryDirectory, MemoryRegion};
#[cfg(not(target_family = "wasm"))]
pub use mmap::MmapRegion;
pub use pages::Pages;

pub(crate) use paths::{at, check_path, parent_of, short_read};
pub use traits::{Access, Directory, Entry, Region};
