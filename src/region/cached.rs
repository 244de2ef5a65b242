//! A region with an in-memory mirror: reads (and `as_slice`) come from memory, writes go to
//! the inner region and the mirror. Where there is no memory map (WASI), this is what gives
//! scans and graph walks zero-copy access to the vectors, at the cost of holding them in the
//! guest's memory.

use super::Region;
use crate::error::StorageError;

/// Invariant: `mirror` equals the inner region's content as of the last successful call; a
/// failed write leaves the mirror at the old bytes (and the caller latches the failure).
#[derive(Debug)]
pub struct CachedRegion {
    inner: Box<dyn Region>,
    mirror: Vec<u8>,
}

impl CachedRegion {
    /// Reads the whole inner region into memory.
    pub fn new(inner: Box<dyn Region>) -> Result<Self, StorageError> {
        let len = usize::try_from(inner.len())
            .map_err(|_| StorageError::corrupted("", 0, "region larger than the address space"))?;
        let mut mirror = vec![0u8; len];
        inner.read(0, &mut mirror)?;
        Ok(CachedRegion { inner, mirror })
    }
}

impl Region for CachedRegion {
    fn len(&self) -> u64 {
        self.mirror.len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len() => {
                buf.copy_from_slice(&self.mirror[offset as usize..end as usize]);
                Ok(())
            }
            _ => self.inner.read(offset, buf),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write(offset, data)?;
        let end = (offset + data.len() as u64) as usize;
        if end > self.mirror.len() {
            self.mirror.resize(end, 0);
        }
        self.mirror[offset as usize..end].copy_from_slice(data);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        self.inner.set_len(len)?;
        self.mirror.resize(len as usize, 0);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.inner.sync()
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.inner.punch_hole(offset, len)?;
        let size = self.len();
        let (start, end) = (
            offset.min(size) as usize,
            offset.saturating_add(len).min(size) as usize,
        );
        self.mirror[start..end].fill(0);
        Ok(())
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(&self.mirror)
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
