//! The rewrite sequence: how a reader in another process knows that bytes it reads from the
//! vector file may have been rewritten under it.
//!
//! A reader's view is the checkpoint it opened plus the log records it replayed, whose vectors
//! it keeps in memory; of the vector file it reads only slots its checkpoint names and the
//! log did not touch. The writer changes such a slot only in place: an update or a reuse of a
//! slot (`Store::apply`, or at once for a slot the writer's checkpoint does not pin) and a
//! release of its pages. Appends to fresh slots, new files (a compaction's), and files it
//! removes (a reader keeps reading what it has open) never change what a reader reads.
//!
//! So around every in-place change the writer steps `collections/<name>/rewrites`, a u64
//! (little-endian): to an odd value before the first byte changes, to the next even value
//! after the last (a seqlock). A reader takes its view between two readings that agree on an
//! even value, and keeps that value; it reads the file again before a call and after, and the
//! call is good when both readings still hold the view's value. Otherwise something the view
//! may read was rewritten (since the view was taken, or during the call): the reader opens
//! its view again (it refreshes) and repeats the call. So a writer's rewrite costs each
//! reader one refresh on its next call; a writer that only appends (an import) costs none. An odd value that stays odd is a writer that died in a
//! rewrite: natively the reader sees that no writer holds `LOCK`; in the component, where
//! there are no locks, it waits [`STUCK_AFTER`]. A writer's open makes the value even.
//! The file is never synced: after a crash nothing reads what the old value guarded.

use super::files::{self, REWRITES};
use crate::error::{Error, StorageError};
use crate::region::{Access, Directory, Region};
use std::time::{Duration, Instant};

/// Tries a reader makes to open a view, or to run a call on one, while a writer changes the
/// collection under it.
pub(super) const READER_TRIES: u32 = 16;

/// A reader that found the collection rewritten under it every time it tried.
pub(super) fn busy(path: &str) -> Error {
    let why = "a writer rewrote what this reader read every time it tried; try again";
    StorageError::io(
        path,
        "read beside a writer",
        std::io::Error::new(std::io::ErrorKind::ResourceBusy, why),
    )
    .into()
}

/// How long an odd value may stay before a reader without locks takes it for a writer that
/// died in a rewrite (a live writer's rewrite is memory copies and page releases, done in
/// milliseconds).
pub(super) const STUCK_AFTER: Duration = Duration::from_secs(2);

/// How long an odd value stays before a reader asks whether the writer is still there.
const PROBE_AFTER: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(super) struct Rewrites {
    region: Box<dyn Region>,
    /// The writer's value; for a reader, the value its view was taken at.
    value: u64,
}

impl Rewrites {
    /// The writer's sequence in the collection directory `path`: created at 0, or made even.
    /// Created whole (an atomic write): a reader never finds it shorter than a value, which
    /// a reader's handle would go on taking for the file's length.
    pub(super) fn for_writer(dir: &dyn Directory, path: &str) -> Result<Rewrites, StorageError> {
        let name = files::file(path, REWRITES);
        if dir.read_file(&name)?.is_none_or(|b| b.len() < 8) {
            dir.write_atomic(&name, &0u64.to_le_bytes())?;
        }
        let region = dir.open_region(&name, Access::Sequential)?;
        let mut r = Rewrites { region, value: 0 };
        r.value = r.read()?;
        if r.value % 2 == 1 {
            r.step()?;
        }
        Ok(r)
    }

    /// A reader's view of the sequence; `None` where there is none (a collection no writer of
    /// this version has opened: nothing steps it, and nothing is checked).
    pub(super) fn for_reader(
        dir: &dyn Directory,
        path: &str,
    ) -> Result<Option<Rewrites>, StorageError> {
        let name = files::file(path, REWRITES);
        if dir.read_file(&name)?.is_none() {
            return Ok(None);
        }
        let region = dir.open_region(&name, Access::Sequential)?;
        Ok(Some(Rewrites { region, value: 0 }))
    }

    /// A reader's view was taken at `value`.
    pub(super) fn taken_at(&mut self, value: u64) {
        self.value = value;
    }

    /// The value a reader's view was taken at.
    pub(super) fn taken(&self) -> u64 {
        self.value
    }

    /// True when the file still holds the value the reader's view was taken at: nothing it
    /// may read was rewritten since.
    pub(super) fn unchanged(&self) -> Result<bool, StorageError> {
        Ok(self.read()? == self.value)
    }

    /// The value in the file (which the writer created whole, 8 bytes).
    pub(super) fn read(&self) -> Result<u64, StorageError> {
        let mut b = [0u8; 8];
        self.region.read(0, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The writer starts a rewrite (the value turns odd), unless one is open.
    pub(super) fn begin(&mut self) -> Result<(), StorageError> {
        match self.value % 2 {
            0 => self.step(),
            _ => Ok(()),
        }
    }

    /// The writer ends the open rewrite, if any (the value turns even).
    pub(super) fn end(&mut self) -> Result<(), StorageError> {
        match self.value % 2 {
            1 => self.step(),
            _ => Ok(()),
        }
    }

    fn step(&mut self) -> Result<(), StorageError> {
        self.value += 1;
        self.region.write(0, &self.value.to_le_bytes())
    }

    /// A reader's value to start a call on: even, once no rewrite is under way. `writer_gone`
    /// says whether no writer holds the directory (`None`: it cannot be told).
    pub(super) fn settled(
        &self,
        writer_gone: impl Fn() -> Option<bool>,
    ) -> Result<u64, StorageError> {
        let started = Instant::now();
        loop {
            let v = self.read()?;
            if v % 2 == 0 {
                return Ok(v);
            }
            // Asked only once the value has stayed odd a while: the question takes the lock
            // for a moment, which a writer opening just then would find taken.
            let waited = started.elapsed();
            let stuck = waited >= PROBE_AFTER
                && match writer_gone() {
                    Some(gone) => gone,
                    None => waited >= STUCK_AFTER,
                };
            if stuck {
                return Ok(v);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
