//! A region with an in-memory mirror: reads (and `as_slice`) come from memory, writes go to
//! the inner region and the mirror. Where there is no memory map (WASI), this is what gives
//! scans and graph walks zero-copy access to the vectors, at the cost of holding them in the
//! guest's memory.

use super::{Region, at};
use crate::error::StorageError;

/// Invariant: `mirror` equals the inner region's content as of the last successful call; a
/// failed write leaves the mirror at the old bytes (and the caller latches the failure). The
/// mirror grows only through `CachedRegion::grow_mirror`: memory that cannot be had is an
/// error (`out_of_memory`) before the inner region changes, never an abort.
#[derive(Debug)]
pub struct CachedRegion {
    inner: Box<dyn Region>,
    mirror: Vec<u8>,
    /// The most bytes the mirror may hold (the address space, or less for tests).
    max: u64,
}

/// Bytes read from the inner region per call while the mirror fills: a transient buffer this
/// size, not a second copy of the region.
const FILL_CHUNK: usize = 4 << 20;

/// The error for a mirror that would need more memory than there is (or than `max`).
pub(crate) fn out_of_memory(len: u64) -> StorageError {
    StorageError::io(
        "",
        "grow the in-memory copy",
        std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("{len} bytes do not fit in memory"),
        ),
    )
}

/// True for the error of [`out_of_memory`].
pub(crate) fn is_out_of_memory(e: &StorageError) -> bool {
    matches!(e, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::OutOfMemory)
}

impl CachedRegion {
    /// Reads the whole inner region into memory.
    pub fn new(inner: Box<dyn Region>) -> Result<Self, StorageError> {
        Self::with_max(inner, isize::MAX as u64)
    }

    /// [`CachedRegion::new`], with the mirror bounded to `max` bytes.
    pub fn with_max(inner: Box<dyn Region>, max: u64) -> Result<Self, StorageError> {
        let mut r = CachedRegion {
            inner,
            mirror: Vec::new(),
            max,
        };
        let len = r.inner.len();
        r.grow_mirror(len)?;
        let mut chunk = vec![0u8; FILL_CHUNK.min(super::at(len))];
        let mut at = 0u64;
        while at < len {
            let n = super::at(len - at).min(chunk.len());
            r.inner.read(at, &mut chunk[..n])?;
            r.mirror.extend_from_slice(&chunk[..n]);
            at += n as u64;
        }
        Ok(r)
    }

    /// Makes room for a mirror of `len` bytes (nothing else changes).
    fn grow_mirror(&mut self, len: u64) -> Result<(), StorageError> {
        if len <= self.mirror.capacity() as u64 {
            return Ok(());
        }
        if len > self.max {
            return Err(out_of_memory(len));
        }
        let more = super::at(len).saturating_sub(self.mirror.len());
        self.mirror
            .try_reserve_exact(more)
            .map_err(|_| out_of_memory(len))
    }
}

impl Region for CachedRegion {
    fn len(&self) -> u64 {
        self.mirror.len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len() => {
                buf.copy_from_slice(&self.mirror[at(offset)..at(end)]);
                Ok(())
            }
            _ => self.inner.read(offset, buf),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = offset.saturating_add(data.len() as u64);
        self.grow_mirror(end)?;
        self.inner.write(offset, data)?;
        let end = at(end);
        if end > self.mirror.len() {
            self.mirror.resize(end, 0);
        }
        self.mirror[at(offset)..end].copy_from_slice(data);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        self.grow_mirror(len)?;
        self.inner.set_len(len)?;
        self.mirror.resize(super::at(len), 0);
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync()
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.inner.punch_hole(offset, len)?;
        let size = self.len();
        let (start, end) = (
            at(offset.min(size)),
            at(offset.saturating_add(len).min(size)),
        );
        self.mirror[start..end].fill(0);
        Ok(())
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(&self.mirror)
    }

    fn holds_its_bytes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;
    use crate::region::{Access, Directory, MemoryDirectory};

    #[test]
    fn cached_region_conforms() {
        let dir = MemoryDirectory::new();
        let mut n = 0;
        conformance::region_suite(&mut || {
            n += 1;
            let inner = dir.open_region(&format!("r{n}"), Access::Random).unwrap();
            Box::new(CachedRegion::new(inner).unwrap())
        });
    }

    #[test]
    fn a_mirror_past_its_memory_is_an_error_before_the_file_changes() {
        let dir = MemoryDirectory::new();
        let inner = dir.open_region("f", Access::Random).unwrap();
        let mut c = CachedRegion::with_max(inner, 1 << 16).unwrap();
        c.set_len(1 << 16).unwrap();
        c.write(0, b"kept").unwrap();
        for e in [
            c.set_len((1 << 16) + 1).unwrap_err(),
            c.write(1 << 16, b"x").unwrap_err(),
        ] {
            assert!(is_out_of_memory(&e), "{e}");
        }
        assert_eq!((c.len(), c.inner.len()), (1 << 16, 1 << 16));
        // A file larger than the bound does not open.
        drop(c);
        let inner = dir.open_region("f", Access::Random).unwrap();
        let e = CachedRegion::with_max(inner, 100).unwrap_err();
        assert!(is_out_of_memory(&e));
        // Filling in chunks gives the same bytes as the file.
        let mut r = dir.open_region("big", Access::Random).unwrap();
        let data: Vec<u8> = (0..(FILL_CHUNK * 2 + 77))
            .map(|i| u8::try_from(i % 251).unwrap_or_default())
            .collect();
        r.write(0, &data).unwrap();
        drop(r);
        let c = CachedRegion::new(dir.open_region("big", Access::Random).unwrap()).unwrap();
        assert_eq!(c.as_slice().unwrap(), &data[..]);
    }

    #[test]
    fn the_mirror_starts_from_the_existing_content_and_writes_reach_the_file() {
        let dir = MemoryDirectory::new();
        let mut r = dir.open_region("f", Access::Random).unwrap();
        r.write(0, b"before").unwrap();
        drop(r);
        let mut c = CachedRegion::new(dir.open_region("f", Access::Random).unwrap()).unwrap();
        assert_eq!(c.as_slice().unwrap(), b"before");
        c.write(0, b"AFTER!").unwrap();
        drop(c);
        assert_eq!(dir.read_file("f").unwrap().unwrap(), b"AFTER!");
    }
}
