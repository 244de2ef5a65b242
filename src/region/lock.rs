//! Who may open a database directory: the lock on `<root>/LOCK`.
//!
//! A writer holds an exclusive lock (an advisory `flock`-style lock on the file, held for the
//! handle's lifetime and released by the OS when the process dies): one writer across every
//! process and every host. Readers take none: they read beside the writer
//! (`collection/rewrites.rs`). WASI has no
//! locks: there the *embedder* takes this same lock on the host side before it instantiates
//! the component (the `veles` host does, through [`DirectoryLock`]), and the component takes
//! none itself.

use crate::error::StorageError;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// The lock file's name. Collections are directories, so listing them skips it.
pub const LOCK_FILE: &str = "LOCK";

/// A held lock on a database directory; released on drop.
#[derive(Debug)]
pub struct DirectoryLock {
    /// `None` where the platform has no locks (WASI inside a component).
    _file: Option<File>,
}

/// `LOCK` is never a symbolic link: following one would create or lock a file outside the
/// database (the open fails instead, naming `LOCK`).
fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = options;
}

impl DirectoryLock {
    /// The writer's lock on the existing directory `root`: exclusive, creating `LOCK` if
    /// needed. [`StorageError::Locked`] when anyone else holds it.
    pub fn exclusive(root: &Path) -> Result<DirectoryLock, StorageError> {
        // WASI has no locks (and opening `LOCK` for writing would ask for more than some hosts
        // grant): the embedder holds the lock.
        if cfg!(target_os = "wasi") {
            return Ok(DirectoryLock { _file: None });
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        no_follow(&mut options);
        let file = options
            .open(root.join(LOCK_FILE))
            .map_err(|e| StorageError::io(LOCK_FILE, "open", e))?;
        let held = file.try_lock();
        Self::from(root, file, held)
    }

    fn from(
        root: &Path,
        file: File,
        held: Result<(), fs::TryLockError>,
    ) -> Result<DirectoryLock, StorageError> {
        match held {
            Ok(()) => Ok(DirectoryLock { _file: Some(file) }),
            Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked {
                path: root.display().to_string(),
            }),
            // No locks on this platform (WASI): the embedder holds the lock for us.
            Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                Ok(DirectoryLock { _file: None })
            }
            Err(fs::TryLockError::Error(e)) => Err(StorageError::io(LOCK_FILE, "lock", e)),
        }
    }
}

/// Whether a writer holds the lock on `root` now: `Some(false)` when none does (or `LOCK`
/// does not exist), `None` where it cannot be told (no locks: WASI). Takes a shared lock for a
/// moment and releases it: a writer opening in that moment is refused with `Locked`, so
/// readers ask only when something has gone on longer than a live writer takes.
pub fn writer_present(root: &Path) -> Option<bool> {
    if cfg!(target_os = "wasi") {
        return None;
    }
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    let file = match options.open(root.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    };
    match file.try_lock_shared() {
        Ok(()) => Some(false),
        Err(fs::TryLockError::WouldBlock) => Some(true),
        Err(fs::TryLockError::Error(_)) => None,
    }
}

/// `path` made absolute with links resolved, as far as it exists (the rest appended as given):
/// for comparing a path that may not exist yet with one that does.
fn resolved(path: &Path) -> std::path::PathBuf {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = at.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// True when one of two directories is inside the other (or they are the same): a snapshot
/// between them would copy into its own source.
pub fn nested(a: &Path, b: &Path) -> bool {
    let (a, b) = (resolved(a), resolved(b));
    a.starts_with(&b) || b.starts_with(&a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_directories_are_recognised_before_they_exist() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("db");
        std::fs::create_dir(&db).unwrap();
        assert!(nested(&db, &db.join("collections/snap")));
        assert!(nested(&db.join("x/.."), &db));
        assert!(!nested(&db, &d.path().join("other")));
        assert!(!nested(&db, &d.path().join("db2")));
    }

    /// A `LOCK` that is a symbolic link (dangling or not) is refused: following it would
    /// create or lock a file outside the database.
    #[cfg(unix)]
    #[test]
    fn a_lock_file_that_is_a_symlink_is_refused_and_nothing_is_created_outside() {
        let d = tempfile::tempdir().unwrap();
        let (db, outside) = (d.path().join("db"), d.path().join("outside"));
        std::fs::create_dir(&db).unwrap();
        std::os::unix::fs::symlink(&outside, db.join(LOCK_FILE)).unwrap();
        assert!(DirectoryLock::exclusive(&db).is_err());
        assert_eq!(writer_present(&db), None);
        assert!(
            !outside.exists(),
            "nothing was created outside the database"
        );
    }
}
