//! A directory on a real file system: native builds and WASI (inside a preopened directory).

use super::file::{File as RegionFile, write_all_at};
use super::lock::DirectoryLock;
use super::{Access, CachedRegion, Directory, Entry, FileRegion, Region, check_path, parent_of};
use crate::error::StorageError;
#[cfg(not(target_os = "wasi"))]
use std::fs::OpenOptions;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Which backend serves [`Access::Random`] regions (logs always use positional I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionBackend {
    /// A memory map: the native default (not available on WASI).
    Mmap,
    /// Positional file I/O, with an in-memory mirror for reads: the WASI default.
    CachedFile,
    /// Positional file I/O only, every read a `pread` (tests the bare I/O path).
    File,
}

impl Default for RegionBackend {
    fn default() -> Self {
        if cfg!(target_family = "wasm") {
            RegionBackend::CachedFile
        } else {
            RegionBackend::Mmap
        }
    }
}

/// A database directory on disk. Holds the directory's lock for its lifetime (exclusive for
/// writing, shared for reading; see [`DirectoryLock`] for WASI).
#[derive(Debug)]
pub struct FsDirectory {
    root: PathBuf,
    backend: RegionBackend,
    /// Opened with [`FsDirectory::open_read_only`]: files open read-only, and every
    /// metadata operation is refused.
    read_only: bool,
    /// The writer's lock; none for a read-only open.
    _lock: Option<DirectoryLock>,
}

/// Opens a file for reading, and writing when `write`: natively with `std::fs`, on WASI with
/// exactly the descriptor flags needed (see `wasi.rs`).
fn open_file(path: &Path, write: bool, create: bool, truncate: bool) -> io::Result<RegionFile> {
    #[cfg(target_os = "wasi")]
    return RegionFile::open(path, write, create, truncate);
    #[cfg(not(target_os = "wasi"))]
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(create)
        .truncate(truncate)
        .open(path)
}

/// `backend`, or the mirror where a memory map is asked for and there is none (WASI).
fn wasm_safe(backend: RegionBackend) -> RegionBackend {
    match backend {
        RegionBackend::Mmap if cfg!(target_family = "wasm") => RegionBackend::CachedFile,
        other => other,
    }
}

fn io_err<'a>(path: &'a str, op: &'static str) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |e| StorageError::io(path, op, e)
}

impl FsDirectory {
    /// Opens (creating if needed) the directory at `root` and takes its lock.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::with_backend(root, RegionBackend::default())
    }

    /// Opens the directory `root` for writing (creating it), its files' regions from `backend`.
    pub fn with_backend(
        root: impl AsRef<Path>,
        backend: RegionBackend,
    ) -> Result<Self, StorageError> {
        let root = root.as_ref().to_path_buf();
        let shown = root.display().to_string();
        create_dir_all_durable(&root).map_err(io_err(&shown, "create directory"))?;
        let lock = DirectoryLock::exclusive(&root)?;
        Ok(FsDirectory {
            root,
            backend: wasm_safe(backend),
            read_only: false,
            _lock: Some(lock),
        })
    }

    /// Opens the existing directory at `root` for reading only: nothing is created, files
    /// open read-only, every metadata operation fails. It takes no lock: a writer may open
    /// the directory meanwhile (readers read beside it; see `collection/rewrites.rs`).
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::read_only_with_backend(root, RegionBackend::default())
    }

    /// [`FsDirectory::open_read_only`] with `backend` serving random-access regions.
    pub fn read_only_with_backend(
        root: impl AsRef<Path>,
        backend: RegionBackend,
    ) -> Result<Self, StorageError> {
        let root = root.as_ref().to_path_buf();
        let shown = root.display().to_string();
        if !fs::metadata(&root)
            .map_err(io_err(&shown, "open directory"))?
            .is_dir()
        {
            return Err(StorageError::io(
                shown,
                "open directory",
                io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        // No lock: a reader never stops the writer (see `collection/rewrites.rs` for how it
        // reads beside one).
        Ok(FsDirectory {
            root,
            backend: wasm_safe(backend),
            read_only: true,
            _lock: None,
        })
    }

    /// Refuses a change in a read-only directory.
    fn writable(&self, path: &str, op: &'static str) -> Result<(), StorageError> {
        if self.read_only {
            return Err(StorageError::io(
                path,
                op,
                io::Error::new(
                    io::ErrorKind::ReadOnlyFilesystem,
                    "the directory is open read-only",
                ),
            ));
        }
        Ok(())
    }

    fn full(&self, path: &str) -> Result<PathBuf, StorageError> {
        check_path(path)?;
        Ok(if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        })
    }

    /// Makes the entries of directory `path` durable (SQLite: "the directory entry might not
    /// exist after a power failure" without this).
    fn sync_dir(&self, path: &str) -> Result<(), StorageError> {
        let full = self.full(path)?;
        sync_directory(&full).map_err(io_err(path, "sync directory"))
    }
}

/// Makes the entries of the directory at `path` durable.
fn sync_directory(path: &Path) -> io::Result<()> {
    match File::open(path)?.sync_all() {
        Ok(()) => Ok(()),
        // Some WASI hosts cannot sync a directory descriptor; their file systems are
        // expected to keep metadata ordered (see docs/format.md, media assumptions).
        Err(e)
            if cfg!(target_os = "wasi")
                && matches!(
                    e.kind(),
                    io::ErrorKind::Unsupported
                        | io::ErrorKind::PermissionDenied
                        | io::ErrorKind::InvalidInput
                ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` and each missing parent, syncing the directory that holds each new entry
/// (a new directory's entry is durable only once its parent is synced), so a database created
/// on a new path, or a snapshot's destination, does not vanish in a power loss after the call
/// that made it returned.
pub fn create_dir_all_durable(path: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(p) = at.filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        missing.push(p);
        at = p.parent();
    }
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        sync_directory(parent.unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

impl Directory for FsDirectory {
    fn root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn open_region(&self, path: &str, access: Access) -> Result<Box<dyn Region>, StorageError> {
        let full = self.full(path)?;
        let writable = !self.read_only;
        let file = open_file(&full, writable, writable, false).map_err(io_err(path, "open"))?;
        let file_region = |file| FileRegion::new(file, path);
        match (access, self.backend) {
            #[cfg(not(target_family = "wasm"))]
            (Access::Random, RegionBackend::Mmap) => {
                Ok(Box::new(super::MmapRegion::new(file, path)?))
            }
            (Access::Random, RegionBackend::CachedFile) => {
                Ok(Box::new(CachedRegion::new(Box::new(file_region(file)?))?))
            }
            _ => Ok(Box::new(file_region(file)?)),
        }
    }

    #[cfg(not(target_family = "wasm"))]
    fn map_private(
        &self,
        path: &str,
        ranges: &[(u64, usize)],
    ) -> Result<Option<Vec<super::Pages>>, StorageError> {
        if self.backend != RegionBackend::Mmap {
            return Ok(None);
        }
        let full = self.full(path)?;
        let file = open_file(&full, false, false, false).map_err(io_err(path, "open"))?;
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(path, "stat", e))?
            .len();
        if let Some(&(o, n)) = ranges.iter().find(|&&(o, n)| o + n as u64 > len) {
            return Err(StorageError::corrupted(
                path,
                len,
                format!("the file ends before its range {o}..{}", o + n as u64),
            ));
        }
        let pages = ranges
            .iter()
            .map(|&(offset, n)| super::Pages::map_file(&file, path, offset, n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(pages))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let full = self.full(path)?;
        match fs::read(&full) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(path, "read", e)),
        }
    }

    fn write_atomic(&self, path: &str, data: &[u8]) -> Result<(), StorageError> {
        self.writable(path, "write")?;
        let full = self.full(path)?;
        let tmp_name = format!("{path}.tmp");
        let tmp = self.full(&tmp_name)?;
        let file = open_file(&tmp, true, true, true).map_err(io_err(&tmp_name, "create"))?;
        write_all_at(&file, data, 0).map_err(io_err(&tmp_name, "write"))?;
        file.sync_data().map_err(io_err(&tmp_name, "sync"))?;
        drop(file);
        fs::rename(&tmp, &full).map_err(io_err(path, "rename"))?;
        self.sync_dir(parent_of(path))
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.writable(path, "create directory")?;
        let full = self.full(path)?;
        match fs::create_dir(&full) {
            Ok(()) => self.sync_dir(parent_of(path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && full.is_dir() => Ok(()),
            Err(e) => Err(StorageError::io(path, "create directory", e)),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<Entry>, StorageError> {
        let full = self.full(path)?;
        let entries = match fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::io(path, "list", e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(path, "list"))?;
            // A name that is not UTF-8 was not written by us and cannot name a collection.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_dir = entry.file_type().map_err(io_err(path, "list"))?.is_dir();
            out.push(Entry { name, is_dir });
        }
        out.sort();
        Ok(out)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.writable(from, "rename")?;
        let (src, dst) = (self.full(from)?, self.full(to)?);
        if fs::symlink_metadata(&dst).is_ok() {
            return Err(StorageError::io(
                to,
                "rename",
                io::Error::new(io::ErrorKind::AlreadyExists, "target exists"),
            ));
        }
        fs::rename(&src, &dst).map_err(io_err(from, "rename"))?;
        self.sync_dir(parent_of(to))?;
        if parent_of(from) != parent_of(to) {
            self.sync_dir(parent_of(from))?;
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &str) -> Result<(), StorageError> {
        self.writable(path, "remove directory")?;
        let full = self.full(path)?;
        match fs::remove_dir_all(&full) {
            Ok(()) => self.sync_dir(parent_of(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(path, "remove directory", e)),
        }
    }

    fn remove_file(&self, path: &str) -> Result<(), StorageError> {
        self.writable(path, "remove")?;
        let full = self.full(path)?;
        match fs::remove_file(&full) {
            Ok(()) => self.sync_dir(parent_of(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(path, "remove", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;

    #[test]
    fn fs_directory_conforms_with_mmap_regions() {
        let parent = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::directory_suite(&|| {
            n.set(n.get() + 1);
            Box::new(FsDirectory::open(parent.path().join(n.get().to_string())).unwrap())
        });
    }

    #[test]
    fn fs_directory_conforms_with_file_regions() {
        let parent = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::directory_suite(&|| {
            n.set(n.get() + 1);
            let root = parent.path().join(n.get().to_string());
            Box::new(FsDirectory::with_backend(root, RegionBackend::File).unwrap())
        });
    }

    #[test]
    fn fs_directory_conforms_with_cached_file_regions() {
        let parent = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::directory_suite(&|| {
            n.set(n.get() + 1);
            let root = parent.path().join(n.get().to_string());
            Box::new(FsDirectory::with_backend(root, RegionBackend::CachedFile).unwrap())
        });
    }

    #[test]
    fn a_second_open_of_a_locked_directory_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let first = FsDirectory::open(parent.path()).unwrap();
        let second = FsDirectory::open(parent.path());
        assert!(
            matches!(second, Err(StorageError::Locked { .. })),
            "{second:?}"
        );
        drop(first);
        FsDirectory::open(parent.path()).unwrap();
    }

    #[test]
    fn a_read_only_directory_changes_nothing_and_stops_no_writer() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("db");
        assert!(FsDirectory::open_read_only(&root).is_err(), "missing root");
        let dir = FsDirectory::open(&root).unwrap();
        dir.write_atomic("f", b"hello").unwrap();
        // Readers open beside the writer, and the writer beside readers.
        let ro = FsDirectory::open_read_only(&root).unwrap();
        drop(dir);
        let also = FsDirectory::open_read_only(&root).unwrap();
        let writer = FsDirectory::open(&root).unwrap();
        assert!(matches!(
            FsDirectory::open(&root),
            Err(StorageError::Locked { .. })
        ));
        drop(writer);
        assert_eq!(also.read_file("f").unwrap().unwrap(), b"hello");
        assert!(ro.write_atomic("f", b"x").is_err());
        assert!(ro.create_dir("d").is_err());
        assert!(ro.rename("f", "g").is_err());
        assert!(ro.remove_file("f").is_err());
        assert!(ro.remove_dir_all("").is_err());
        assert!(
            ro.open_region("missing", Access::Random).is_err(),
            "no create"
        );
        let mut r = ro.open_region("f", Access::Sequential).unwrap();
        assert!(r.write(0, b"y").is_err());
        let mut buf = [0u8; 5];
        r.read(0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        drop((ro, also, r));
        assert_eq!(std::fs::read(root.join("f")).unwrap(), b"hello");
        assert!(!root.join("d").exists());
    }

    #[test]
    fn traversal_paths_are_refused_before_touching_the_disk() {
        let parent = tempfile::tempdir().unwrap();
        let dir = FsDirectory::open(parent.path().join("db")).unwrap();
        assert!(dir.write_atomic("../escape", b"x").is_err());
        assert!(dir.open_region("../escape", Access::Random).is_err());
        assert!(!parent.path().join("escape").exists());
    }
}
