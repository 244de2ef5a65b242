//! Latching of the first write failure (redb's `CheckedBackend`).
//!
//! After a failed write, resize, punch or sync, what reached the media is unknown (a failed
//! fsync may even have dropped dirty pages). Continuing would build on bytes nobody can vouch
//! for, so every later call fails with [`StorageError::PreviousIo`] until the database is
//! reopened and recovery re-establishes a known state. The one exception is a mirror that
//! cannot have the memory to grow ([`super::is_out_of_memory`]): it refuses before the media
//! is touched, so the state stays known.

use super::Region;
use crate::error::StorageError;

#[derive(Debug)]
/// A region that latches its first write or sync failure: every later call reports
/// [`StorageError::PreviousIo`](crate::StorageError::PreviousIo), since what reached the disk
/// is unknown.
pub struct CheckedRegion {
    inner: Box<dyn Region>,
    failed: std::sync::atomic::AtomicBool,
}

impl CheckedRegion {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Region>) -> Self {
        CheckedRegion {
            inner,
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True once a write-side call has failed.
    pub fn has_failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.has_failed() {
            Err(StorageError::PreviousIo)
        } else {
            Ok(())
        }
    }

    fn latch<T>(&self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e) = &result
            && !super::is_out_of_memory(e)
        {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}

impl Region for CheckedRegion {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.check()?;
        self.inner.read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.check()?;
        let r = self.inner.write(offset, data);
        self.latch(r)
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        self.check()?;
        let r = self.inner.set_len(len);
        self.latch(r)
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.check()?;
        let r = self.inner.sync();
        self.latch(r)
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.check()?;
        let r = self.inner.punch_hole(offset, len);
        self.latch(r)
    }

    fn holds_its_bytes(&self) -> bool {
        self.inner.holds_its_bytes()
    }

    fn as_slice(&self) -> Option<&[u8]> {
        if self.has_failed() {
            None
        } else {
            self.inner.as_slice()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;
    use crate::region::crash::CrashDirectory;
    use crate::region::{Access, Directory, MemoryRegion};

    #[test]
    fn checked_region_conforms() {
        conformance::region_suite(&mut || {
            Box::new(CheckedRegion::new(Box::new(MemoryRegion::new())))
        });
    }

    #[test]
    fn after_a_failed_sync_every_call_reports_previous_io() {
        let dir = CrashDirectory::new(1);
        let mut region = CheckedRegion::new(dir.open_region("f", Access::Random).unwrap());
        region.write(0, b"hello").unwrap();
        dir.fail_next_ops(1);
        assert!(matches!(region.sync(), Err(StorageError::Io { .. })));
        // The injected fault is over, yet the region refuses: the media state is unknown.
        assert!(matches!(
            region.write(0, b"x"),
            Err(StorageError::PreviousIo)
        ));
        assert!(matches!(region.sync(), Err(StorageError::PreviousIo)));
        let mut buf = [0u8; 5];
        assert!(matches!(
            region.read(0, &mut buf),
            Err(StorageError::PreviousIo)
        ));
        assert!(region.has_failed());
    }
}
