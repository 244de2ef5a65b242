//! The writer's hold on a collection: how writes and maintenance run beside searches.
//!
//! Two locks, each with one job:
//! - the **writer mutex** serialises writers (writes, the graph's catch-up, checkpoints,
//!   compactions, drops); readers never take it;
//! - the **state lock** (read-write) guards the state readers read. A writer takes it shared
//!   for the long part of a step (walking the graph to link new points, encoding and syncing
//!   files, building a compaction's new vector file, graph, SQ8 copy and payload indexes
//!   aside) and exclusively only for the short switch that publishes the step.
//!
//! Because the writer keeps the mutex from its read section to its write section, nothing
//! changes the state in between: what a read section worked out still applies when the write
//! section publishes it. A reader sees the state before a switch or after it, never between
//! (a batch is applied in one write section), and every write acknowledged before its call
//! began (read-your-writes within a process). Big parts a switch replaces are returned from
//! the write section and dropped after it, so freeing them (an unmapped file, an old graph)
//! is not done while readers wait.

use super::state::State;
use crate::error::{Error, Result};
use crate::index::Scratch;
use parking_lot::RwLock;
use std::sync::MutexGuard;

/// A writer's hold: the writer mutex (with the working memory of inserts, which only writers
/// use), and the state lock to take in sections.
pub(super) struct Writer<'a> {
    pub(super) state: &'a RwLock<Option<State>>,
    pub(super) name: &'a str,
    pub(super) scratch: MutexGuard<'a, Scratch>,
}

impl Writer<'_> {
    fn not_found(&self) -> Error {
        Error::CollectionNotFound(self.name.to_string())
    }

    /// Runs `f` on the state shared with readers.
    pub(super) fn read<T>(
        &mut self,
        f: impl FnOnce(&State, &mut Scratch) -> Result<T>,
    ) -> Result<T> {
        let g = self.state.read();
        f(
            g.as_ref().ok_or_else(|| self.not_found())?,
            &mut self.scratch,
        )
    }

    /// Runs `f` on the state exclusively: keep it short, readers wait meanwhile.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&mut State, &mut Scratch) -> Result<T>,
    ) -> Result<T> {
        let mut g = self.state.write();
        let not_found = Error::CollectionNotFound(self.name.to_string());
        f(g.as_mut().ok_or(not_found)?, &mut self.scratch)
    }

    /// Refuses a write on a read-only open and after a storage failure.
    pub(super) fn writable(&mut self) -> Result<()> {
        self.read(|st, _| {
            if st.options.read_only {
                return Err(Error::ReadOnly);
            }
            st.writable_storage()
        })
    }

    /// The durability barrier ([`super::Collection::flush`]): the log's fsync beside readers,
    /// then the staged slot writes it allows in one switch.
    pub(super) fn flush(&mut self) -> Result<()> {
        let lsn = self.read(|st, _| st.guard_shared(|st| st.wal.sync_records()))?;
        self.write(|st, _| {
            st.guard(|st| {
                st.wal.mark_synced(lsn)?;
                st.apply_staged()
            })
        })
    }

    /// After a write: the graph catches up when more than
    /// [`Options::max_unindexed`](super::Options) points wait, and a checkpoint comes when
    /// the log has grown past its bound.
    pub(super) fn after_write(&mut self) -> Result<()> {
        let (behind, log_full) = self.read(|st, _| {
            Ok((
                st.unindexed.len() > st.options.max_unindexed,
                st.wal.len() >= st.options.checkpoint_bytes,
            ))
        })?;
        if behind {
            self.catch_up(usize::MAX)?;
        }
        if log_full {
            self.checkpoint()?;
        }
        Ok(())
    }
}
