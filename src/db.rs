//! The database: a directory of collections.
//!
//! ```text
//! <root>/LOCK                    lock file (native builds hold an exclusive lock on it)
//! <root>/VELES                   database marker and format version
//! <root>/collections/<name>/     one directory per collection (see collection.rs)
//! <root>/collections/.drop-<name>/   a collection being dropped (removed on next open)
//! ```

use crate::collection::{Collection, Options};
use crate::config::CollectionConfig;
use crate::error::{Error, Result, StorageError};
use crate::region::{Directory, MemoryDirectory};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

const META_FILE: &str = "VELES";
const META_MAGIC: [u8; 8] = *b"VELESDB\0";
/// The database format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const COLLECTIONS: &str = "collections";
const DROP_PREFIX: &str = ".drop-";
/// The longest collection name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a collection name: 1 to 64 characters from `[A-Za-z0-9_-]`. Nothing else can reach
/// a path, so names can never climb out of the database directory.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("a name needs at least one character");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("a name has at most 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad("a name may only contain A-Z, a-z, 0-9, '_' and '-'");
    }
    Ok(())
}

fn meta_bytes() -> Vec<u8> {
    let mut m = Vec::with_capacity(16);
    m.extend_from_slice(&META_MAGIC);
    m.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_le_bytes());
    m
}

/// A database: the root of a directory of collections. Collections are opened (and recovered)
/// on first use and cached.
pub struct Database {
    dir: Arc<dyn Directory>,
    options: Options,
    open: Mutex<HashMap<String, Collection>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("dir", &self.dir).finish()
    }
}

impl Database {
    /// Opens (creating if needed) the database in directory `path`, taking its lock.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Database> {
        Self::open_with(
            Arc::new(crate::region::FsDirectory::open(path)?),
            Options::default(),
        )
    }

    /// A database that lives in memory only.
    pub fn in_memory() -> Database {
        Self::open_with(Arc::new(MemoryDirectory::new()), Options::default())
            .expect("an empty memory directory always opens")
    }

    /// Opens a database over any [`Directory`] (tests use the crash simulator).
    pub fn open_with(dir: Arc<dyn Directory>, options: Options) -> Result<Database> {
        match dir.read_file(META_FILE)? {
            None => {
                dir.create_dir(COLLECTIONS)?;
                dir.write_atomic(META_FILE, &meta_bytes())?;
            }
            Some(bytes) => check_meta(&bytes)?,
        }
        dir.create_dir(COLLECTIONS)?;
        // Finish drops that a crash interrupted.
        for e in dir.list(COLLECTIONS)? {
            if e.is_dir && e.name.starts_with(DROP_PREFIX) {
                dir.remove_dir_all(&format!("{COLLECTIONS}/{}", e.name))?;
            }
        }
        Ok(Database {
            dir,
            options,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Collection>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(name: &str) -> String {
        format!("{COLLECTIONS}/{name}")
    }

    fn exists_on_disk(&self, name: &str) -> Result<bool> {
        Ok(self
            .dir
            .list(&Self::path(name))?
            .iter()
            .any(|e| !e.is_dir && e.name == "checkpoint"))
    }

    /// Creates a collection. Durable when it returns.
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        validate_name(name)?;
        config.validate()?;
        let mut cache = self.cache();
        if cache.contains_key(name) || self.exists_on_disk(name)? {
            return Err(Error::CollectionExists(name.to_string()));
        }
        let path = Self::path(name);
        // A directory without a checkpoint is a create that a crash interrupted.
        self.dir.remove_dir_all(&path)?;
        self.dir.create_dir(&path)?;
        let c = Collection::create(self.dir.clone(), &path, name, config, self.options.clone())?;
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
        let mut cache = self.cache();
        if !cache.contains_key(name) && !self.exists_on_disk(name)? {
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

    /// Flushes every open collection.
    pub fn flush(&self) -> Result<()> {
        let open: Vec<Collection> = self.cache().values().cloned().collect();
        for c in open {
            c.flush()?;
        }
        Ok(())
    }
}

fn check_meta(bytes: &[u8]) -> Result<(), StorageError> {
    let bad = |offset, reason: &str| StorageError::corrupted(META_FILE, offset, reason);
    if bytes.len() != 16 || bytes[..8] != META_MAGIC {
        return Err(bad(0, "not a veles database marker"));
    }
    if crc32fast::hash(&bytes[..12]).to_le_bytes() != bytes[12..16] {
        return Err(bad(12, "database marker checksum mismatch"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            file: META_FILE.to_string(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
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
            check_meta(&m),
            Err(StorageError::UnsupportedVersion { found: 2, .. })
        ));
        assert!(check_meta(&meta_bytes()).is_ok());
        assert!(matches!(
            check_meta(b"garbage"),
            Err(StorageError::Corrupted { .. })
        ));
    }
}
