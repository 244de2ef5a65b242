//! The database: a directory of collections.
//!
//! ```text
//! <root>/LOCK                    lock file (native builds hold an exclusive lock on it)
//! <root>/VELES                   database marker and format version
//! <root>/collections/<name>/     one directory per collection (see collection.rs)
//! <root>/collections/.drop-<name>/   a collection being dropped (removed on next open)
//! <root>/collections/.restore-<name>/   a collection being restored (see `restore_collection`)
//! ```

use crate::check::CheckReport;
use crate::collection::{
    Collection, Linker, Linking, Options, VectorMemory, copy_collection_files, has_checkpoint,
    orphaned,
};
use crate::config::CollectionConfig;
use crate::error::{Error, Result, StorageError};
use crate::format::{Header, HeaderProblem, append_crc};
use crate::region::{Directory, MemoryDirectory};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

const META_FILE: &str = "VELES";
/// Present while a snapshot is being written into a directory (see `snapshot_to`).
const INCOMPLETE_FILE: &str = "INCOMPLETE";
const META_MAGIC: [u8; 8] = *b"VELESDB\0";
/// The database format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const COLLECTIONS: &str = "collections";
const DROP_PREFIX: &str = ".drop-";
const RESTORE_PREFIX: &str = ".restore-";
pub use crate::config::{MAX_NAME_LEN, validate_name};

/// The database marker: its header, then the CRC32 of it.
const META: Header = Header {
    magic: META_MAGIC,
    version: FORMAT_VERSION,
};

fn meta_bytes() -> Vec<u8> {
    let mut m = Vec::with_capacity(16);
    META.write(&mut m);
    append_crc(&mut m);
    m
}

/// What [`Database::snapshot_to`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotReport {
    /// The collections copied, sorted.
    pub collections: Vec<String>,
    /// Bytes copied (file lengths; holes are not written).
    pub bytes: u64,
}

/// A database: the root of a directory of collections. Collections are opened (and recovered)
/// on first use and cached.
pub struct Database {
    dir: Arc<dyn Directory>,
    options: Options,
    open: Mutex<HashMap<String, Collection>>,
    /// The background linking thread ([`Linking::Background`] on a writable open).
    linker: Option<Linker>,
}

impl Drop for Database {
    /// Stops the background linker (after its step in progress) before the collections are
    /// let go, so each collection's last handle closes it here: with a checkpoint where one is
    /// worth it (see [`Database::close`]).
    fn drop(&mut self) {
        self.linker.take();
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("dir", &self.dir).finish()
    }
}

impl Database {
    /// Opens (creating if needed) the database in directory `path`, taking its lock.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Database> {
        Self::open_with(path, Options::default())
    }

    /// Opens the database in directory `path` with `options`: read-only when
    /// [`Options::read_only`] (see [`Database::open_read_only`]), else as [`Database::open`].
    pub fn open_with(path: impl AsRef<std::path::Path>, options: Options) -> Result<Database> {
        use crate::region::{FsDirectory, RegionBackend};
        let backend = match options.vector_memory {
            VectorMemory::Full => RegionBackend::default(),
            VectorMemory::Quantized => RegionBackend::File,
        };
        let dir = match options.read_only {
            true => FsDirectory::read_only_with_backend(path, backend)?,
            false => FsDirectory::with_backend(path, backend)?,
        };
        Self::open_in(Arc::new(dir), options)
    }

    /// Opens the database in directory `path` for reading only: nothing on disk changes
    /// (recovery replays the log in memory and repairs nothing), writes fail with
    /// [`Error::ReadOnly`]. It takes no lock: a writer may be open meanwhile, in this process
    /// or another, and every call returns a state that existed (each collection as of its
    /// first use or its last [`Collection::refresh`], taken again when the writer rewrote
    /// what it may read; docs/format.md, Concurrency). What `check` and `veles check` use.
    pub fn open_read_only(path: impl AsRef<std::path::Path>) -> Result<Database> {
        Self::open_with(path, Options::default().with_read_only(true))
    }

    /// A database that lives in memory only.
    pub fn in_memory() -> Database {
        Self::open_in(Arc::new(MemoryDirectory::new()), Options::default())
            .expect("an empty memory directory always opens")
    }

    /// True when the directory `path` holds a database (its marker file is there).
    pub fn exists(path: impl AsRef<std::path::Path>) -> bool {
        path.as_ref().join(META_FILE).is_file()
    }

    /// Opens a database over any [`Directory`] (tests use the crash simulator).
    pub fn open_in(dir: Arc<dyn Directory>, options: Options) -> Result<Database> {
        if dir.read_file(INCOMPLETE_FILE)?.is_some() {
            return Err(StorageError::corrupted(
                INCOMPLETE_FILE,
                0,
                "a snapshot into this directory did not finish: remove it and snapshot again",
            )
            .into());
        }
        match dir.read_file(META_FILE)? {
            // The marker is written last, by a first open and by a snapshot: collections
            // without it are an incomplete snapshot or somebody else's files.
            None if !dir.list(COLLECTIONS)?.is_empty() => {
                return Err(StorageError::corrupted(
                    META_FILE,
                    0,
                    "the database marker is missing but collections exist (an incomplete snapshot?)",
                )
                .into());
            }
            None if options.read_only => {
                return Err(StorageError::corrupted(
                    META_FILE,
                    0,
                    "no database marker: not a veles database",
                )
                .into());
            }
            None => {
                dir.create_dir(COLLECTIONS)?;
                dir.write_atomic(META_FILE, &meta_bytes())?;
            }
            Some(bytes) => verify_meta(&bytes)?,
        }
        if options.read_only {
            return Ok(Database {
                dir,
                options,
                open: Mutex::new(HashMap::new()),
                linker: None,
            });
        }
        dir.create_dir(COLLECTIONS)?;
        // Finish the restores a crash interrupted after their copy was whole (it has its
        // checkpoint, written last) and the old collection was renamed away; forget the
        // others. Then finish drops.
        for e in dir.list(COLLECTIONS)? {
            let Some(name) = e.name.strip_prefix(RESTORE_PREFIX) else {
                continue;
            };
            let staging = format!("{COLLECTIONS}/{}", e.name);
            let target = Self::path(name);
            if e.is_dir
                && validate_name(name).is_ok()
                && has_checkpoint(dir.as_ref(), &staging)?
                && !has_checkpoint(dir.as_ref(), &target)?
            {
                dir.remove_dir_all(&target)?;
                dir.rename(&staging, &target)?;
            } else {
                dir.remove_dir_all(&staging)?;
            }
        }
        for e in dir.list(COLLECTIONS)? {
            if e.is_dir && e.name.starts_with(DROP_PREFIX) {
                dir.remove_dir_all(&format!("{COLLECTIONS}/{}", e.name))?;
            }
        }
        let linker = match options.linking.effective() {
            Linking::Background => Linker::start(),
            _ => None,
        };
        Ok(Database {
            dir,
            options,
            open: Mutex::new(HashMap::new()),
            linker,
        })
    }

    /// Closes the database cleanly: stops the background linker, then checkpoints each open
    /// collection whose reopen would otherwise replay many points onto the graph's waiting
    /// list, so the next open loads the graph. Dropping the database does the same but cannot
    /// report a failure; either way a failure loses nothing acknowledged (the log still
    /// holds it). Collection handles still held elsewhere stay usable.
    pub fn close(mut self) -> Result<()> {
        self.linker.take();
        let open: Vec<Collection> = self.cache().values().cloned().collect();
        open.iter().try_for_each(Collection::close_checkpoint)
    }

    fn adopt(&self, c: Collection) -> Collection {
        if let Some(l) = &self.linker {
            c.attach_linker(l.queue().clone() as Arc<dyn crate::collection::LinkRequests>);
        }
        c
    }

    fn writable(&self) -> Result<()> {
        match self.options.read_only {
            true => Err(Error::ReadOnly),
            false => Ok(()),
        }
    }

    /// True when opened with [`Database::open_read_only`] (or read-only [`Options`]).
    pub fn is_read_only(&self) -> bool {
        self.options.read_only
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Collection>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(name: &str) -> String {
        format!("{COLLECTIONS}/{name}")
    }

    fn exists_on_disk(&self, name: &str) -> Result<bool> {
        Ok(has_checkpoint(self.dir.as_ref(), &Self::path(name))?)
    }

    /// Why the directory of collection `name`, which has no checkpoint, is not simply a
    /// create that a crash interrupted (see [`orphaned`]).
    fn orphaned(&self, name: &str) -> Result<Option<String>> {
        Ok(orphaned(self.dir.as_ref(), &Self::path(name))?)
    }

    fn orphan_error(name: &str, why: String) -> Error {
        StorageError::corrupted(format!("{}/checkpoint", Self::path(name)), 0, why).into()
    }

    /// Creates a collection. Durable when it returns.
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        validate_name(name)?;
        config.validate()?;
        self.writable()?;
        let mut cache = self.cache();
        if cache.contains_key(name) || self.exists_on_disk(name)? {
            return Err(Error::CollectionExists(name.to_string()));
        }
        if let Some(why) = self.orphaned(name)? {
            return Err(Self::orphan_error(name, why));
        }
        let path = Self::path(name);
        // A directory without a checkpoint is a create that a crash interrupted.
        self.dir.remove_dir_all(&path)?;
        self.dir.create_dir(&path)?;
        let c = Collection::create(self.dir.clone(), &path, name, config, self.options.clone())?;
        let c = self.adopt(c);
        cache.insert(name.to_string(), c.clone());
        Ok(c)
    }

    /// The collection called `name`, opening (and recovering) it on first use.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        validate_name(name)?;
        let mut cache = self.cache();
        if let Some(c) = cache.get(name) {
            return Ok(c.clone());
        }
        if !self.exists_on_disk(name)? {
            return Err(Error::CollectionNotFound(name.to_string()));
        }
        let c = Collection::open(
            self.dir.clone(),
            &Self::path(name),
            name,
            self.options.clone(),
        )?;
        let c = self.adopt(c);
        cache.insert(name.to_string(), c.clone());
        Ok(c)
    }

    /// Names of all collections, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for e in self.dir.list(COLLECTIONS)? {
            if e.is_dir && validate_name(&e.name).is_ok() && self.exists_on_disk(&e.name)? {
                names.push(e.name);
            }
        }
        Ok(names)
    }

    /// Deletes a collection and its files. Durable when it returns; handles on it report
    /// `CollectionNotFound` from then on.
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        self.writable()?;
        let mut cache = self.cache();
        if !cache.contains_key(name)
            && !self.exists_on_disk(name)?
            && self.orphaned(name)?.is_none()
        {
            return Err(Error::CollectionNotFound(name.to_string()));
        }
        if let Some(c) = cache.remove(name) {
            c.close();
        }
        // Rename first (one atomic step decides), then remove at leisure.
        let doomed = Self::path(&format!("{DROP_PREFIX}{name}"));
        self.dir.remove_dir_all(&doomed)?;
        self.dir.rename(&Self::path(name), &doomed)?;
        self.dir.remove_dir_all(&doomed)?;
        Ok(())
    }

    /// Copies the database into directory `dest` (created if missing; it must not hold a
    /// database yet) while it stays open: see [`Database::snapshot_to`]. The copy is a
    /// database that [`Database::open`] opens as it is; `veles restore` copies one back.
    pub fn snapshot(&self, dest: impl AsRef<std::path::Path>) -> Result<SnapshotReport> {
        let dest = dest.as_ref();
        // Inside a component, paths are the guest's view of its preopens, which says nothing
        // of where they are on the host: the embedder checks there (the `veles` host does).
        if let Some(root) = self.dir.root()
            && !cfg!(target_family = "wasm")
            && crate::region::nested(root, dest)
        {
            return Err(Error::InvalidArgument(format!(
                "the snapshot destination {} is inside the database {} or contains it",
                dest.display(),
                root.display()
            )));
        }
        let dir = crate::region::FsDirectory::open(dest)?;
        self.snapshot_to(&dir)
    }

    /// Copies the database into `dest`, consistently: create and drop wait meanwhile; each
    /// collection is flushed (the barrier: everything acknowledged before the call is in the
    /// copy) and copied while its writes wait. An `INCOMPLETE` marker is made durable first and
    /// removed last, so a copy cut short by a crash is refused on open (never taken for a
    /// database, empty or partial). `dest` must not hold a database or collections.
    pub fn snapshot_to(&self, dest: &dyn Directory) -> Result<SnapshotReport> {
        self.copy_into(dest, None)
    }

    /// Like [`Database::snapshot_to`], for collection `name` alone: `dest` becomes a database
    /// that holds only it (what an HTTP snapshot of one collection packs).
    pub fn snapshot_collection(&self, name: &str, dest: &dyn Directory) -> Result<SnapshotReport> {
        validate_name(name)?;
        self.copy_into(dest, Some(name))
    }

    /// The copy of [`Database::snapshot_to`]: every collection, or `only` that one.
    fn copy_into(&self, dest: &dyn Directory, only: Option<&str>) -> Result<SnapshotReport> {
        if dest.read_file(META_FILE)?.is_some() || !dest.list(COLLECTIONS)?.is_empty() {
            return Err(Error::InvalidArgument(
                "the snapshot destination already holds a database".into(),
            ));
        }
        let names = match only {
            Some(name) => {
                // Opened (and so present) before anything is written into `dest`.
                self.collection(name)?;
                vec![name.to_string()]
            }
            None => self.list()?,
        };
        let cache = self.cache();
        dest.write_atomic(INCOMPLETE_FILE, b"a snapshot is being written here\n")?;
        dest.create_dir(COLLECTIONS)?;
        let mut report = SnapshotReport::default();
        for name in names {
            let path = Self::path(&name);
            report.bytes += match cache.get(&name) {
                Some(c) => c.copy_to(dest, &path)?,
                // Not open: nothing writes it while the cache is locked.
                None => copy_collection_files(self.dir.as_ref(), &path, dest, &path, &[])?,
            };
            report.collections.push(name);
        }
        dest.write_atomic(META_FILE, &meta_bytes())?;
        dest.remove_file(INCOMPLETE_FILE)?;
        Ok(report)
    }

    /// Replaces collection `name` (made if missing) with the collection of that name in
    /// `from` (a snapshot opened read-only, say), and returns the bytes copied. The copy goes
    /// to `collections/.restore-<name>` first; one rename puts it in place (the old
    /// collection renamed away before). A crash before the copy is whole leaves the old
    /// collection; after, the next open for writing finishes the switch. Handles on the old collection
    /// report `CollectionNotFound` from then on. A collection's files are stamped with its
    /// name, so a snapshot restores under the name it was taken from.
    pub fn restore_collection(&self, name: &str, from: &Database) -> Result<u64> {
        validate_name(name)?;
        self.writable()?;
        let source = from.collection(name)?;
        let staging = Self::path(&format!("{RESTORE_PREFIX}{name}"));
        let mut cache = self.cache();
        self.dir.remove_dir_all(&staging)?;
        let bytes = source.copy_to(self.dir.as_ref(), &staging)?;
        if let Some(c) = cache.remove(name) {
            c.close();
        }
        let doomed = Self::path(&format!("{DROP_PREFIX}{name}"));
        self.dir.remove_dir_all(&doomed)?;
        if self.exists_on_disk(name)? || self.orphaned(name)?.is_some() {
            self.dir.rename(&Self::path(name), &doomed)?;
        } else {
            self.dir.remove_dir_all(&Self::path(name))?;
        }
        self.dir.rename(&staging, &Self::path(name))?;
        self.dir.remove_dir_all(&doomed)?;
        Ok(bytes)
    }

    /// Checks every collection (see [`Collection::check`]). A collection that does not open
    /// is reported with the problem that stopped it rather than failing the whole check.
    pub fn check(&self) -> Result<Vec<CheckReport>> {
        let mut reports = Vec::new();
        for e in self.dir.list(COLLECTIONS)? {
            if e.is_dir
                && validate_name(&e.name).is_ok()
                && !self.exists_on_disk(&e.name)?
                && let Some(why) = self.orphaned(&e.name)?
            {
                let mut r = CheckReport {
                    collection: e.name.clone(),
                    ..CheckReport::default()
                };
                r.problem(&format!("{}/checkpoint", Self::path(&e.name)), Some(0), why);
                reports.push(r);
            }
        }
        for name in self.list()? {
            let report = match self.collection(&name) {
                Ok(c) => c.check()?,
                Err(e) => {
                    let mut r = CheckReport {
                        collection: name.clone(),
                        ..CheckReport::default()
                    };
                    r.error(&Self::path(&name), &e);
                    r
                }
            };
            reports.push(report);
        }
        Ok(reports)
    }

    /// Flushes every open collection (nothing to do when read-only).
    pub fn flush(&self) -> Result<()> {
        if self.options.read_only {
            return Ok(());
        }
        let open: Vec<Collection> = self.cache().values().cloned().collect();
        for c in open {
            c.flush()?;
        }
        Ok(())
    }
}

// Handles are shared across threads (a host serves requests from many).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Database>();
};

fn verify_meta(bytes: &[u8]) -> Result<(), StorageError> {
    let bad = |offset, reason: &str| StorageError::corrupted(META_FILE, offset, reason);
    if bytes.len() != 16 {
        return Err(bad(0, "not a veles database marker"));
    }
    match META.verify(bytes, 12) {
        Ok(()) => Ok(()),
        Err(HeaderProblem::Short | HeaderProblem::Magic) => {
            Err(bad(0, "not a veles database marker"))
        }
        Err(HeaderProblem::Checksum) => Err(bad(12, "database marker checksum mismatch")),
        Err(HeaderProblem::Version(found)) => Err(StorageError::UnsupportedVersion {
            file: META_FILE.to_string(),
            found,
            supported: FORMAT_VERSION,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_alphabet_or_too_long_are_refused() {
        for bad in [
            "",
            "a/b",
            "..",
            "../x",
            "a.b",
            "a\0b",
            "é",
            "a b",
            &"x".repeat(65),
            &"y".repeat(1000),
        ] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        for good in ["a", "A-b_9", &"z".repeat(64)] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn a_future_format_version_is_refused() {
        let mut m = meta_bytes();
        m[8] = 2;
        let crc = crc32fast::hash(&m[..12]);
        m[12..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            verify_meta(&m),
            Err(StorageError::UnsupportedVersion { found: 2, .. })
        ));
        assert!(verify_meta(&meta_bytes()).is_ok());
        assert!(matches!(
            verify_meta(b"garbage"),
            Err(StorageError::Corrupted { .. })
        ));
    }
}
