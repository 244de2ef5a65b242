//! Typed errors.
//!
//! Two families, as in redb: [`StorageError`] is what the byte layer (regions, files, on-disk
//! decoding) can report; [`Error`] is what the public API reports and wraps a `StorageError` in
//! its [`Error::Storage`] arm. Nothing here is built by formatting a string where a field fits.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// A failure of the storage layer: I/O, corrupted bytes, or a latched earlier failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system (or the WASI host) reported an error.
    Io {
        /// The file, relative to the database directory (empty for the directory itself).
        path: String,
        /// What was being done ("read", "write", "sync", ...).
        op: Cow<'static, str>,
        /// The operating system's error.
        source: io::Error,
    },
    /// An earlier write or sync failed. What reached the disk is unknown, so every further
    /// operation is refused: close the database and open it again (recovery runs on open).
    PreviousIo,
    /// Bytes on disk do not decode, or fail their checksum, in a way a crash cannot explain.
    Corrupted {
        /// The file, relative to the database directory.
        file: String,
        /// Byte offset of the first bad byte (or of the structure that is bad).
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The file was written by a newer format version than this build understands.
    UnsupportedVersion {
        /// The file, relative to the database directory.
        file: String,
        /// The version the file says.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another handle (this process or another) holds the database directory's lock.
    Locked {
        /// The directory (or its lock file).
        path: String,
    },
}

impl StorageError {
    /// An I/O failure. An OS error keeps its kind and its text but loses the error number:
    /// numbers differ between platforms (WASI's ENOSPC is 51, Linux's 28), and the same
    /// failure must read the same natively and through the component.
    pub(crate) fn io(path: impl Into<String>, op: &'static str, source: io::Error) -> Self {
        let source = match source.raw_os_error() {
            Some(code) => {
                let text = source.to_string();
                let text = text
                    .strip_suffix(&format!(" (os error {code})"))
                    .unwrap_or(&text)
                    .to_string();
                io::Error::new(source.kind(), text)
            }
            None => source,
        };
        StorageError::Io {
            path: path.into(),
            op: Cow::Borrowed(op),
            source,
        }
    }

    pub(crate) fn corrupted(
        file: impl Into<String>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        StorageError::Corrupted {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, op, source } => {
                if path.is_empty() {
                    write!(f, "{op} failed: {source}")
                } else {
                    write!(f, "{op} of '{path}' failed: {source}")
                }
            }
            StorageError::PreviousIo => write!(
                f,
                "an earlier write or sync failed; close and reopen the database"
            ),
            StorageError::Corrupted {
                file,
                offset,
                reason,
            } => write!(f, "corrupted file '{file}' at offset {offset}: {reason}"),
            StorageError::UnsupportedVersion {
                file,
                found,
                supported,
            } => write!(
                f,
                "'{file}' has format version {found}; this build reads versions up to {supported}"
            ),
            StorageError::Locked { path } => write!(
                f,
                "database '{path}' is already open (its lock is held by another handle)"
            ),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a vector was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VectorProblem {
    /// A component is NaN or infinite.
    NotFinite {
        /// The component's position.
        index: usize,
    },
    /// Cosine needs a direction: the vector has zero length.
    ZeroNorm,
    /// Binary metrics (hamming, jaccard) take components that are exactly 0.0 or 1.0.
    NotBinary {
        /// The component's position.
        index: usize,
    },
    /// The squared length overflows f32: distances to this vector would be infinite or NaN.
    NormOverflow,
}

impl fmt::Display for VectorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VectorProblem::NotFinite { index } => {
                write!(f, "component {index} is NaN or infinite")
            }
            VectorProblem::ZeroNorm => write!(f, "zero vector has no direction for cosine"),
            VectorProblem::NotBinary { index } => {
                write!(f, "component {index} is not 0 or 1 (binary metric)")
            }
            VectorProblem::NormOverflow => {
                write!(f, "the squared length overflows f32 (components too large)")
            }
        }
    }
}

/// Which documented limit a request went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Vector dimension (`MAX_DIMENSION`).
    Dimension,
    /// Hits per query (`MAX_K`).
    K,
    /// The HNSW candidate list (`MAX_EF`).
    Ef,
    /// Bytes of one write batch.
    BatchBytes,
    /// Bytes of one payload.
    PayloadBytes,
    /// Nesting of one payload.
    PayloadDepth,
    /// Nesting of one filter (`MAX_FILTER_DEPTH`).
    FilterDepth,
    /// The payloads and vectors one read returns (a search batch, a get).
    ResultBytes,
    /// The memory that holds a collection: the component's copy of the vector file, the
    /// SQ8 copy, the payloads, and the room a checkpoint and a reopen need besides.
    MemoryBytes,
    /// Checkpoint generations (a u32): a collection checkpointed or compacted 4 billion
    /// times has no next one.
    Generation,
    /// The legs of one query.
    QueryLegs,
}

impl Limit {
    /// Every limit (see [`crate::PlanKind::ALL`]).
    pub const ALL: [Limit; 11] = [
        Limit::Dimension,
        Limit::K,
        Limit::Ef,
        Limit::BatchBytes,
        Limit::PayloadBytes,
        Limit::PayloadDepth,
        Limit::FilterDepth,
        Limit::ResultBytes,
        Limit::MemoryBytes,
        Limit::Generation,
        Limit::QueryLegs,
    ];

    /// The limit's place in [`Limit::ALL`] (see [`crate::PlanKind::position`]).
    pub const fn position(self) -> usize {
        match self {
            Limit::Dimension => 0,
            Limit::K => 1,
            Limit::Ef => 2,
            Limit::BatchBytes => 3,
            Limit::PayloadBytes => 4,
            Limit::PayloadDepth => 5,
            Limit::FilterDepth => 6,
            Limit::ResultBytes => 7,
            Limit::MemoryBytes => 8,
            Limit::Generation => 9,
            Limit::QueryLegs => 10,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Dimension => "dimension",
            Limit::K => "k",
            Limit::Ef => "ef",
            Limit::BatchBytes => "encoded batch size in bytes",
            Limit::PayloadBytes => "payload size in bytes",
            Limit::PayloadDepth => "payload nesting depth",
            Limit::FilterDepth => "filter nesting depth",
            Limit::ResultBytes => "result size in bytes",
            Limit::MemoryBytes => "bytes held in memory",
            Limit::Generation => "checkpoint generation",
            Limit::QueryLegs => "legs of a query",
        })
    }
}

/// Errors of the public API.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the collection's dimension.
    DimensionMismatch {
        /// The collection's dimension.
        expected: u32,
        /// The vector's length.
        actual: usize,
        /// The point id, when the vector belongs to a point (None for a query).
        id: Option<u64>,
    },
    /// A vector has a value the metric cannot use.
    InvalidVector {
        /// The point id (`None` for a query).
        id: Option<u64>,
        /// What is wrong with it.
        problem: VectorProblem,
    },
    /// A collection or database name outside `[A-Za-z0-9_-]{1,64}`.
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: Cow<'static, str>,
    },
    /// A collection configuration that cannot work (dimension 0, ...).
    InvalidConfig(String),
    /// An argument out of its domain (k = 0, ...).
    InvalidArgument(String),
    /// A filter that does not parse or cannot apply.
    InvalidFilter(String),
    /// A payload that is not a JSON object or does not parse.
    InvalidPayload {
        /// The point id (`None` where the payload is not a point's).
        id: Option<u64>,
        /// Why it is refused.
        reason: String,
    },
    /// A request over a documented limit.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit's value.
        max: u64,
        /// What the request needed.
        actual: u64,
    },
    /// No collection of this name.
    CollectionNotFound(String),
    /// A collection of this name exists already.
    CollectionExists(String),
    /// A write to a database opened read-only ([`crate::Database::open_read_only`]).
    ReadOnly,
    /// The storage layer failed; see [`StorageError`].
    Storage(StorageError),
}

impl Error {
    /// True when the error came from storage and the handle now refuses writes until reopened.
    pub fn is_storage(&self) -> bool {
        matches!(self, Error::Storage(_))
    }

    /// The error's kind as the WIT `error` variant names it (`dimension-mismatch`,
    /// `corrupted`, …), for machine-readable reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "dimension-mismatch",
            Error::InvalidVector { .. } => "invalid-vector",
            Error::InvalidName { .. } => "invalid-name",
            Error::InvalidConfig(_) => "invalid-config",
            Error::InvalidArgument(_) => "invalid-argument",
            Error::InvalidFilter(_) => "invalid-filter",
            Error::InvalidPayload { .. } => "invalid-payload",
            Error::LimitExceeded { .. } => "limit-exceeded",
            Error::CollectionNotFound(_) => "not-found",
            Error::CollectionExists(_) => "already-exists",
            Error::ReadOnly => "read-only",
            Error::Storage(StorageError::Io { .. }) => "io",
            Error::Storage(StorageError::PreviousIo) => "previous-io",
            Error::Storage(StorageError::Corrupted { .. }) => "corrupted",
            Error::Storage(StorageError::UnsupportedVersion { .. }) => "unsupported-version",
            Error::Storage(StorageError::Locked { .. }) => "locked",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DimensionMismatch {
                expected,
                actual,
                id,
            } => {
                write!(f, "dimension mismatch: expected {expected}, got {actual}")?;
                if let Some(id) = id {
                    write!(f, " (point {id})")?;
                }
                Ok(())
            }
            Error::InvalidVector { id, problem } => {
                write!(f, "invalid vector: {problem}")?;
                if let Some(id) = id {
                    write!(f, " (point {id})")?;
                }
                Ok(())
            }
            Error::InvalidName { name, reason } => {
                let shown: String = name.chars().take(80).collect();
                write!(f, "invalid name {shown:?}: {reason}")
            }
            Error::InvalidConfig(msg) => write!(f, "invalid collection config: {msg}"),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::InvalidFilter(msg) => write!(f, "invalid filter: {msg}"),
            Error::InvalidPayload { id, reason } => {
                write!(f, "invalid payload: {reason}")?;
                if let Some(id) = id {
                    write!(f, " (point {id})")?;
                }
                Ok(())
            }
            Error::LimitExceeded { limit, max, actual } => {
                write!(f, "{limit} {actual} exceeds the limit of {max}")
            }
            Error::CollectionNotFound(name) => write!(f, "collection '{name}' not found"),
            Error::CollectionExists(name) => write!(f, "collection '{name}' already exists"),
            Error::ReadOnly => f.write_str("the database is open read-only"),
            Error::Storage(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Storage(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error::Storage(e)
    }
}

/// The API's result: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `ALL` list names every variant once, in the order of its exhaustive match, so a
    /// conversion that walks `ALL` (the WIT table's round-trip test) covers every variant.
    #[test]
    fn every_all_list_is_complete_and_in_order() {
        assert!(
            Limit::ALL
                .iter()
                .enumerate()
                .all(|(i, l)| l.position() == i)
        );
        let plans = crate::PlanKind::ALL;
        assert!(plans.iter().enumerate().all(|(i, k)| k.position() == i));
        let modes = crate::VectorMemory::ALL;
        assert!(modes.iter().enumerate().all(|(i, m)| m.position() == i));
        let kinds = crate::IndexKind::ALL;
        assert!(
            kinds
                .iter()
                .enumerate()
                .all(|(i, k)| k.code() as usize == i + 1)
        );
    }

    #[test]
    fn os_errors_keep_their_kind_and_text_but_not_the_platform_errno() {
        // 28 is ENOSPC on Linux; WASI's is 51: the number must not reach the text.
        let e = StorageError::io(
            "collections/c/wal",
            "write",
            io::Error::from_raw_os_error(28),
        );
        let text = e.to_string();
        assert!(!text.contains("os error"), "{text}");
        assert!(
            text.starts_with("write of 'collections/c/wal' failed: "),
            "{text}"
        );
        match e {
            StorageError::Io { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::StorageFull)
            }
            _ => unreachable!(),
        }
    }
}
