//! A region whose reads come from a read-only shared memory map (native builds).
//!
//! Writes go through `pwrite`, not through the map: a store into a mapped hole on a full disk
//! is a SIGBUS, a `pwrite` is an `ENOSPC` error. On Linux and macOS the page cache is unified,
//! so the map sees every completed `pwrite` at once. This is the LMDB arrangement.

use super::file::{punch, write_all_at};
use super::{Region, at, short_read};
use crate::error::StorageError;
use memmap2::{Mmap, MmapOptions};
use std::fs::File;

/// A memory-mapped, file-backed region.
///
/// Invariant: `map` covers exactly `0..len` of the file (`None` when `len == 0`), and the file
/// is only ever resized through `set_len`, which drops the map before shrinking. Nothing else
/// truncates the file: the database directory's lock keeps other writers out.
#[derive(Debug)]
pub struct MmapRegion {
    file: File,
    map: Option<Mmap>,
    len: u64,
    path: String,
}

impl MmapRegion {
    /// Maps `file` (named `path` in errors).
    pub fn new(file: File, path: impl Into<String>) -> Result<Self, StorageError> {
        let path = path.into();
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(path.clone(), "stat", e))?
            .len();
        let mut region = MmapRegion {
            file,
            map: None,
            len,
            path,
        };
        region.remap()?;
        Ok(region)
    }

    fn remap(&mut self) -> Result<(), StorageError> {
        self.map = None;
        if self.len == 0 {
            return Ok(());
        }
        let len = usize::try_from(self.len).map_err(|_| {
            StorageError::io(
                self.path.clone(),
                "map",
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    "region exceeds the address space",
                ),
            )
        })?;
        // SAFETY: the map is read-only and covers only bytes that exist in the file; the file is
        // resized only by `set_len`, which drops the map first (see the type's invariant).
        let map = unsafe { MmapOptions::new().len(len).map(&self.file) }
            .map_err(|e| StorageError::io(self.path.clone(), "map", e))?;
        self.map = Some(map);
        Ok(())
    }
}

impl Region for MmapRegion {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        match (offset.checked_add(buf.len() as u64), &self.map) {
            (Some(end), Some(map)) if end <= self.len => {
                buf.copy_from_slice(&map[at(offset)..at(end)]);
                Ok(())
            }
            (Some(_), None) if buf.is_empty() => Ok(()),
            _ => Err(short_read(&self.path, offset, buf.len(), self.len)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = offset.checked_add(data.len() as u64).ok_or_else(|| {
            StorageError::io(
                self.path.clone(),
                "write",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "offset out of range"),
            )
        })?;
        if end > self.len {
            self.set_len(end)?;
        }
        write_all_at(&self.file, data, offset)
            .map_err(|e| StorageError::io(self.path.clone(), "write", e))
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        self.map = None;
        let result = self
            .file
            .set_len(len)
            .map_err(|e| StorageError::io(self.path.clone(), "set length", e));
        if result.is_ok() {
            self.len = len;
        }
        // Map again whatever the outcome, so that reads keep working after a failed resize.
        self.remap()?;
        result
    }

    fn sync(&self) -> Result<(), StorageError> {
        // Writes went through pwrite, so the file's dirty pages are all there is to sync.
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(self.path.clone(), "sync", e))
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        let start = offset.min(self.len);
        let end = offset.saturating_add(len).min(self.len);
        punch(&self.file, start, end - start)
            .map_err(|e| StorageError::io(self.path.clone(), "punch hole", e))
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self.map.as_deref().unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;

    #[test]
    fn mmap_region_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        conformance::region_suite(&mut || {
            n += 1;
            let path = dir.path().join(format!("r{n}"));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .unwrap();
            Box::new(MmapRegion::new(file, format!("r{n}")).unwrap())
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn punching_whole_blocks_gives_disk_space_back() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let mut region = MmapRegion::new(file, "r").unwrap();
        region.write(0, &vec![7u8; 1 << 20]).unwrap();
        region.sync().unwrap();
        let before = std::fs::metadata(&path).unwrap().blocks();
        region.punch_hole(0, 1 << 19).unwrap();
        let after = std::fs::metadata(&path).unwrap().blocks();
        assert!(after < before, "st_blocks {before} -> {after}");
        assert_eq!(region.len(), 1 << 20);
        assert!(
            region.as_slice().unwrap()[..1 << 19]
                .iter()
                .all(|&b| b == 0)
        );
        assert!(
            region.as_slice().unwrap()[1 << 19..]
                .iter()
                .all(|&b| b == 7)
        );
    }
}
