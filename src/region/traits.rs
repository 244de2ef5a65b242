//! The two traits the core stores through.

use crate::error::StorageError;
use std::fmt;

/// A growable array of bytes with positional I/O.
///
/// Invariants every implementation keeps (checked by the conformance suite):
/// - `read` fills the whole buffer or fails; bytes past `len()` are never invented.
/// - `write` past the end extends the region; any gap reads as zeros.
/// - `set_len` truncates or extends; new bytes read as zeros.
/// - after `punch_hole(o, n)` the bytes `o..o+n` (clipped to `len()`) read as zeros and `len()`
///   is unchanged; a backend that cannot release space writes zeros.
/// - `sync` returns only when every completed write, `set_len` and `punch_hole` is durable.
///   Nothing is durable before that (a crash may keep, drop or tear any unsynced write).
pub trait Region: Send + Sync + fmt::Debug {
    /// Current length in bytes.
    fn len(&self) -> u64;

    /// True when the region holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Writes `data` at `offset`, extending the region when it ends past `len()`.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// Sets the length, cutting or extending with zeros.
    fn set_len(&mut self, len: u64) -> Result<(), StorageError>;

    /// Through a shared reference: a writer syncs while readers still read the region.
    fn sync(&self) -> Result<(), StorageError>;

    /// Releases the storage of `len` bytes from `offset` (they read as zeros after); a no-op
    /// where the platform cannot.
    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError>;

    /// The whole region as one slice, for backends that can lend it without copying (a memory
    /// map or a buffer). The slice reflects every completed write.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }

    /// True when the region's bytes live in this process's memory and change only through
    /// this handle's writes (a mirror, never re-read from the media): a checksum verified on
    /// them holds until the next write. False where reads can reach the media again (a memory
    /// map, positional I/O).
    fn holds_its_bytes(&self) -> bool {
        false
    }
}

/// How a region will be used; a directory may pick a backend for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Appended to, read back once (logs): positional I/O.
    Sequential,
    /// Read all over, often (vector slots): a memory map where the platform has one.
    Random,
}

/// A directory entry as listed by [`Directory::list`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The entry's name (not its path).
    pub name: String,
    /// True for a directory.
    pub is_dir: bool,
}

/// Named regions and durable metadata operations, below one root.
///
/// Paths are relative, `/`-separated, made of plain components (no `.`, `..`, empty parts, `\`
/// or NUL): implementations refuse anything else. `""` is the root.
pub trait Directory: Send + Sync + fmt::Debug {
    /// Opens the file at `path`, creating it empty if missing. A new file's directory entry is
    /// durable after the next durable operation on its directory (e.g. `write_atomic`).
    fn open_region(&self, path: &str, access: Access) -> Result<Box<dyn Region>, StorageError>;

    /// The whole content of a small file, or `None` when it does not exist.
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces the file at `path` with `data` atomically and durably: after a crash the file
    /// holds either the old or the new content, and the new content once this returned.
    fn write_atomic(&self, path: &str, data: &[u8]) -> Result<(), StorageError>;

    /// Creates a directory (no error when it exists) and makes its entry durable.
    fn create_dir(&self, path: &str) -> Result<(), StorageError>;

    /// The entries of a directory, sorted by name. A missing directory lists as empty.
    fn list(&self, path: &str) -> Result<Vec<Entry>, StorageError>;

    /// Renames a file or directory, replacing nothing (the target must not exist); durable.
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Removes a directory and everything below it; durable. Missing is not an error.
    fn remove_dir_all(&self, path: &str) -> Result<(), StorageError>;

    /// Removes a file; durable. Missing is not an error.
    fn remove_file(&self, path: &str) -> Result<(), StorageError>;

    /// Private copy-on-write maps of the `(offset, len)` ranges (page-aligned, within the
    /// file) of the file at `path`, which nothing writes again, where this directory keeps
    /// random-access files in memory maps (natively); `None` elsewhere: the caller reads them.
    fn map_private(
        &self,
        _path: &str,
        _ranges: &[(u64, usize)],
    ) -> Result<Option<Vec<super::Pages>>, StorageError> {
        Ok(None)
    }

    /// Where the directory is on the host's file system, when it is on one.
    fn root(&self) -> Option<&std::path::Path> {
        None
    }
}
