//! A region over a file with positional reads and writes (pread/pwrite).
//!
//! The only backend of the `wasm32-wasip2` build, and the one native builds use for logs. It
//! never moves a file cursor, so reads through `&self` are safe from several threads.

use super::{Region, short_read};
use crate::error::StorageError;
use std::io;

#[cfg(not(target_os = "wasi"))]
pub(crate) use std::fs::File;
// On WASI, files open through the filesystem interface itself (see `wasi.rs`).
#[cfg(target_os = "wasi")]
pub(crate) use super::wasi::File;

#[cfg(not(any(unix, target_os = "wasi")))]
compile_error!("veles supports unix-like systems and WASI");

/// A file-backed region. `len` is cached: the file belongs to this handle alone.
#[derive(Debug)]
pub struct FileRegion {
    file: File,
    len: u64,
    path: String,
}

impl FileRegion {
    /// Wraps an open read-write file. `path` names it in errors.
    pub fn new(file: File, path: impl Into<String>) -> Result<Self, StorageError> {
        let path = path.into();
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(path.clone(), "stat", e))?
            .len();
        Ok(FileRegion { file, len, path })
    }
}

#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
pub(crate) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(target_os = "wasi")]
pub(crate) fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(target_os = "wasi")]
pub(crate) fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    while !data.is_empty() {
        match file.write_at(data, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Releases `offset..offset+len` of `file`: `fallocate(PUNCH_HOLE | KEEP_SIZE)` on Linux
/// (partial blocks are zeroed, whole blocks given back), zeros written elsewhere (WASI has no
/// fallocate).
/// A file offset or length as the C type, refused past `off_t`'s range (no file grows that far).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn off_t(x: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(x).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

pub(crate) fn punch(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall on an open descriptor; no memory is passed.
        let rc = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off_t(offset)?,
                off_t(len)?,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // Filesystems without hole support (tmpfs is fine, some FUSE/overlay are not) fall back
        // to writing zeros; anything else is a real error.
        if !matches!(
            err.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
        ) {
            return Err(err);
        }
    }
    write_zeros(file, offset, len)
}

fn write_zeros(file: &File, mut offset: u64, len: u64) -> io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    let zeros = [0u8; CHUNK];
    let end = offset + len;
    while offset < end {
        let n = super::at((end - offset).min(CHUNK as u64));
        write_all_at(file, &zeros[..n], offset)?;
        offset += n as u64;
    }
    Ok(())
}

impl Region for FileRegion {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len => read_exact_at(&self.file, buf, offset)
                .map_err(|e| StorageError::io(self.path.clone(), "read", e)),
            _ => Err(short_read(&self.path, offset, buf.len(), self.len)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        write_all_at(&self.file, data, offset)
            .map_err(|e| StorageError::io(self.path.clone(), "write", e))?;
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        self.file
            .set_len(len)
            .map_err(|e| StorageError::io(self.path.clone(), "set length", e))?;
        self.len = len;
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;

    #[test]
    fn file_region_conforms() {
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
            Box::new(FileRegion::new(file, format!("r{n}")).unwrap())
        });
    }
}
