//! What an integrity check reports.
//!
//! [`crate::Collection::check`] re-reads a collection's files and checks every checksum and
//! every cross-reference between them; [`crate::Database::check`] does so for every
//! collection, reporting a collection that does not even open as a problem instead of
//! failing. Checks only read.

use crate::error::{Error, StorageError};

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, relative to the database directory.
    pub file: String,
    /// Where in the file, when a byte offset means something.
    pub offset: Option<u64>,
    /// What is wrong, and where (file and offset where a file is damaged).
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} @ {o}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The result of checking one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// The collection checked.
    pub collection: String,
    /// Live points.
    pub points: u64,
    /// Slots below the high-water mark.
    pub slots: u64,
    /// Nodes in the graph (live and tombstones).
    pub graph_nodes: u64,
    /// Intact log records since the checkpoint.
    pub wal_records: u64,
    /// Bytes read and verified.
    pub bytes_checked: u64,
    /// What is wrong; empty when the collection is sound.
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not damage (a torn log tail a read-only open left in
    /// place, a graph that had to be rebuilt, ...).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn problem(&mut self, file: &str, offset: Option<u64>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_string(),
            offset,
            message: message.into(),
        });
    }

    /// Records an error as a problem (a collection that would not open, a file that does not
    /// decode), keeping its file and offset where it has them.
    pub(crate) fn error(&mut self, fallback_file: &str, e: &Error) {
        match e {
            Error::Storage(StorageError::Corrupted {
                file,
                offset,
                reason,
            }) => self.problem(file, Some(*offset), reason.clone()),
            Error::Storage(StorageError::UnsupportedVersion { file, .. }) => {
                self.problem(file, None, e.to_string())
            }
            Error::Storage(StorageError::Io { path, .. }) => {
                self.problem(path, None, e.to_string())
            }
            _ => self.problem(fallback_file, None, e.to_string()),
        }
    }
}
