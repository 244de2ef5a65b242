//! The collection handle: what a caller holds, and the lock around the state.

use super::state::State;
use super::types::Stats;
use crate::config::CollectionConfig;
use crate::error::{Error, Result, StorageError};
use crate::index::hnsw::Graph;
use crate::region::Directory;
use crate::vectors::Codec;
use std::sync::{Arc, RwLock};

/// A handle on a collection. Cheap to clone; all clones see the same collection. Reads run
/// in parallel; writes are serialised.
#[derive(Clone)]
pub struct Collection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish()
    }
}

struct Shared {
    name: String,
    config: CollectionConfig,
    codec: Codec,
    /// `None` once the collection was dropped.
    state: RwLock<Option<State>>,
}

impl Collection {
    pub(super) fn from_state(name: &str, config: CollectionConfig, state: State) -> Collection {
        Collection {
            shared: Arc::new(Shared {
                name: name.to_string(),
                codec: state.codec,
                config,
                state: RwLock::new(Some(state)),
            }),
        }
    }

    pub(super) fn codec(&self) -> Codec {
        self.shared.codec
    }

    fn not_found(&self) -> Error {
        Error::CollectionNotFound(self.shared.name.clone())
    }

    /// Runs `f` on the state under the read lock.
    pub(super) fn with_read<T>(&self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        let g = self.shared.state.read().unwrap_or_else(|p| p.into_inner());
        f(g.as_ref().ok_or_else(|| self.not_found())?)
    }

    /// Runs `f` on the state under the write lock, whatever the open's mode.
    pub(super) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut g = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
        f(g.as_mut().ok_or_else(|| self.not_found())?)
    }

    /// Runs `f` on the state under the write lock, for a write: refused on a read-only open
    /// and after a storage failure.
    pub(super) fn with_write<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        self.with_state(|st| {
            if st.options.read_only {
                return Err(Error::ReadOnly);
            }
            if st.failed {
                return Err(StorageError::PreviousIo.into());
            }
            f(st)
        })
    }

    /// Drops the in-memory state; every later call reports the collection as not found.
    pub(crate) fn close(&self) {
        *self.shared.state.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn config(&self) -> &CollectionConfig {
        &self.shared.config
    }

    /// Number of live points.
    pub fn len(&self) -> Result<usize> {
        self.with_read(|st| Ok(st.ids.len()))
    }

    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// The points with these ids, in order (`None` where absent). Cosine vectors come back
    /// normalised; binary vectors as 0.0/1.0. Each vector is checked against its checksum.
    pub fn get(&self, ids: &[u64]) -> Result<Vec<Option<super::Point>>> {
        self.get_with(ids, super::Include::ALL)
    }

    /// [`Collection::get`], returning only what `include` asks for (a vector left out is
    /// empty, a payload left out `None`).
    pub fn get_with(
        &self,
        ids: &[u64],
        include: super::Include,
    ) -> Result<Vec<Option<super::Point>>> {
        self.with_read(|st| {
            let mut budget = super::budget::Budget::default();
            ids.iter()
                .map(|&id| match st.ids.slot(id) {
                    Some(slot) => {
                        budget.spend(st.read_size(slot, include))?;
                        st.point(id, slot, include).map(Some)
                    }
                    None => Ok(None),
                })
                .collect()
        })
    }

    /// The durability barrier: when it returns `Ok`, every write acknowledged before the call
    /// survives a crash or power loss. One log sync covers all of them.
    pub fn flush(&self) -> Result<()> {
        self.with_write(|st| {
            st.flush()?;
            if st.wal.len() >= st.options.checkpoint_bytes {
                st.checkpoint()?;
            }
            Ok(())
        })
    }

    /// Copies the collection's files into `dest` at `path` (a directory that exists and is
    /// empty), consistently: writes wait meanwhile, and an open for writing first flushes, so
    /// the copy holds every write acknowledged before the call. The checkpoint goes last; the
    /// copy opens like the original after a crash at the moment of the flush. Returns the
    /// bytes copied.
    pub(crate) fn copy_to(&self, dest: &dyn Directory, path: &str) -> Result<u64> {
        self.with_state(|st| {
            if !st.options.read_only {
                st.flush()?;
            }
            Ok(super::files::copy_collection_files(
                st.dir.as_ref(),
                &st.path,
                dest,
                path,
            )?)
        })
    }

    pub fn stats(&self) -> Result<Stats> {
        self.with_read(|st| {
            Ok(Stats {
                len: st.ids.len(),
                dimension: self.shared.config.dimension,
                metric: self.shared.config.metric,
                slots: st.ids.slots(),
                free_slots: st.ids.free_slots(),
                wal_bytes: st.wal.len(),
                vector_file_bytes: st.vectors.file.len(),
                unflushed: !st.options.read_only
                    && (!st.wal.is_synced() || st.vectors.has_pending()),
                generation: st.generation,
                recovery: st.recovery.clone(),
                graph_nodes: st.graph.as_ref().map_or(0, Graph::nodes),
                unindexed: st.unindexed.len(),
                payload_bytes: st.payloads.live_bytes() as u64,
                payload_memory: st.payloads.memory() as u64,
                payload_file_bytes: st.payload_file.end(),
                indexes: st.indexes.declared().len(),
            })
        })
    }
}

// Handles are shared across threads (a host serves requests from many).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Collection>();
};
