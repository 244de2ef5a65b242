//! In-memory regions and directory: ephemeral databases and tests.

use super::{Access, Directory, Entry, Region, at, check_path, parent_of, short_read};
use crate::error::StorageError;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// A region held in a `Vec<u8>`. `Debug` shows the length, not the bytes.
#[derive(Default)]
pub struct MemoryRegion {
    data: Vec<u8>,
    /// Set when the region was lent by a [`MemoryDirectory`]: the bytes go back on drop.
    home: Option<(Arc<Mutex<Files>>, String)>,
}

impl MemoryRegion {
    /// An empty region.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRegion")
            .field("len", &self.data.len())
            .finish()
    }
}

fn end_of(offset: u64, len: usize) -> Result<usize, StorageError> {
    offset
        .checked_add(len as u64)
        .and_then(|e| usize::try_from(e).ok())
        .ok_or_else(|| {
            StorageError::io(
                "",
                "write",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "offset out of range"),
            )
        })
}

impl Region for MemoryRegion {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let len = self.len();
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= len => {
                buf.copy_from_slice(&self.data[at(offset)..at(end)]);
                Ok(())
            }
            _ => Err(short_read("<memory>", offset, buf.len(), len)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = end_of(offset, data.len())?;
        if end > self.data.len() {
            self.data.resize(end, 0);
        }
        self.data[at(offset)..end].copy_from_slice(data);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        let len = end_of(len, 0)?;
        self.data.resize(len, 0);
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        let size = self.len();
        let start = at(offset.min(size));
        let end = at(offset.saturating_add(len).min(size));
        self.data[start..end].fill(0);
        Ok(())
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(&self.data)
    }
}

impl Drop for MemoryRegion {
    fn drop(&mut self) {
        if let Some((files, path)) = self.home.take() {
            // Only a file still on loan takes its bytes back: a removed one stays removed.
            if let Some(slot @ None) = lock(&files).files.get_mut(&path) {
                *slot = Some(std::mem::take(&mut self.data));
            }
        }
    }
}

/// What a [`MemoryDirectory`] holds. A file's bytes are `None` while a region has them on
/// loan: one open handle per file, which is how the engine uses files.
#[derive(Default)]
struct Files {
    files: BTreeMap<String, Option<Vec<u8>>>,
    dirs: BTreeSet<String>,
}

fn lock(m: &Mutex<Files>) -> MutexGuard<'_, Files> {
    // A panic while holding the lock cannot leave `Files` half-updated: every mutation is a
    // single map operation.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory in memory. Cloning gives another handle on the same files.
#[derive(Clone, Default)]
pub struct MemoryDirectory {
    files: Arc<Mutex<Files>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = lock(&self.files);
        f.debug_struct("MemoryDirectory")
            .field("files", &files.files.len())
            .field("dirs", &files.dirs.len())
            .finish()
    }
}

fn busy(path: &str) -> StorageError {
    StorageError::io(
        path,
        "open",
        std::io::Error::new(
            std::io::ErrorKind::ResourceBusy,
            "file is already open in this memory directory",
        ),
    )
}

fn not_found(path: &str, op: &'static str) -> StorageError {
    StorageError::io(
        path,
        op,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    )
}

impl Files {
    fn has_dir(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.contains(path)
    }

    fn exists(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.dirs.contains(path)
    }
}

impl Directory for MemoryDirectory {
    fn open_region(&self, path: &str, _access: Access) -> Result<Box<dyn Region>, StorageError> {
        check_path(path)?;
        let mut files = lock(&self.files);
        if !files.has_dir(parent_of(path)) {
            return Err(not_found(path, "open"));
        }
        let data = match files.files.get_mut(path) {
            Some(slot) => slot.take().ok_or_else(|| busy(path))?,
            None => Vec::new(),
        };
        files.files.insert(path.to_string(), None);
        Ok(Box::new(MemoryRegion {
            data,
            home: Some((self.files.clone(), path.to_string())),
        }))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_path(path)?;
        let files = lock(&self.files);
        match files.files.get(path) {
            None => Ok(None),
            Some(Some(data)) => Ok(Some(data.clone())),
            Some(None) => Err(busy(path)),
        }
    }

    fn write_atomic(&self, path: &str, data: &[u8]) -> Result<(), StorageError> {
        check_path(path)?;
        let mut files = lock(&self.files);
        if !files.has_dir(parent_of(path)) {
            return Err(not_found(path, "write"));
        }
        if matches!(files.files.get(path), Some(None)) {
            return Err(busy(path));
        }
        files.files.insert(path.to_string(), Some(data.to_vec()));
        Ok(())
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let mut files = lock(&self.files);
        if !files.has_dir(parent_of(path)) {
            return Err(not_found(path, "create directory"));
        }
        files.dirs.insert(path.to_string());
        Ok(())
    }

    fn list(&self, path: &str) -> Result<Vec<Entry>, StorageError> {
        check_path(path)?;
        let files = lock(&self.files);
        let mut out: Vec<Entry> = files
            .files
            .keys()
            .filter(|p| parent_of(p) == path)
            .map(|p| Entry {
                name: p.rsplit('/').next().unwrap_or(p).to_string(),
                is_dir: false,
            })
            .chain(
                files
                    .dirs
                    .iter()
                    .filter(|p| parent_of(p) == path)
                    .map(|p| Entry {
                        name: p.rsplit('/').next().unwrap_or(p).to_string(),
                        is_dir: true,
                    }),
            )
            .collect();
        out.sort();
        Ok(out)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from)?;
        check_path(to)?;
        let mut files = lock(&self.files);
        if !files.exists(from) {
            return Err(not_found(from, "rename"));
        }
        if files.exists(to) {
            return Err(StorageError::io(
                to,
                "rename",
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "target exists"),
            ));
        }
        let below = |p: &str, root: &str| p == root || p.starts_with(&format!("{root}/"));
        let moved_files: Vec<String> = files
            .files
            .keys()
            .filter(|p| below(p, from))
            .cloned()
            .collect();
        if moved_files
            .iter()
            .any(|p| matches!(files.files.get(p), Some(None)))
        {
            return Err(busy(from));
        }
        for p in moved_files {
            let data = files.files.remove(&p).flatten();
            files
                .files
                .insert(format!("{to}{}", &p[from.len()..]), data);
        }
        let moved_dirs: Vec<String> = files
            .dirs
            .iter()
            .filter(|p| below(p, from))
            .cloned()
            .collect();
        for p in moved_dirs {
            files.dirs.remove(&p);
            files.dirs.insert(format!("{to}{}", &p[from.len()..]));
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let prefix = format!("{path}/");
        let mut files = lock(&self.files);
        files
            .files
            .retain(|p, _| !(path.is_empty() || p.starts_with(&prefix)));
        files
            .dirs
            .retain(|p| !(path.is_empty() || p == path || p.starts_with(&prefix)));
        Ok(())
    }

    fn remove_file(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        lock(&self.files).files.remove(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;

    #[test]
    fn memory_region_conforms() {
        conformance::region_suite(&mut || Box::new(MemoryRegion::new()));
    }

    #[test]
    fn memory_directory_conforms() {
        conformance::directory_suite(&|| Box::new(MemoryDirectory::new()));
    }

    #[test]
    fn a_file_open_twice_is_refused_while_the_first_handle_lives() {
        let dir = MemoryDirectory::new();
        let first = dir.open_region("f", Access::Random).unwrap();
        assert!(dir.open_region("f", Access::Random).is_err());
        drop(first);
        assert!(dir.open_region("f", Access::Random).is_ok());
    }
}
