//! The checkpoint protocol: folding the log into a new checkpoint.

use super::files::{CHECKPOINT, graph_file};
use super::graph::too_many_tombstones;
use super::handle::Collection;
use super::state::State;
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::index::hnsw;

impl Collection {
    /// Flushes, then folds the log into a new checkpoint and starts an empty log.
    pub fn checkpoint(&self) -> Result<()> {
        self.with_write(State::checkpoint)
    }
}

impl State {
    /// The checkpoint protocol (docs/format.md):
    /// 1. sync the log and apply staged slots; 2. sync the vector file;
    /// 3. write the graph of generation + 1, then the new checkpoint, atomically; 4. reset the
    ///    log to the new generation. A crash before 3 completes recovers from the old
    ///    checkpoint and log; a crash after it finds a log of the old generation and discards it.
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        let next = self.generation + 1;
        let bytes = self
            .checkpoint_body(next, self.vectors_generation, |s| s)?
            .encode();
        let cpath = self.file(CHECKPOINT);
        if let Some(g) = &self.graph
            && too_many_tombstones(g, self.ids.len())
        {
            // The tombstones leave the graph, so their slots may give their bytes back now.
            let dropped: Vec<u32> = (0..self.ids.slots())
                .filter(|&s| self.ids.is_free(s) && g.contains(s))
                .collect();
            self.rebuild_graph();
            self.guard(|st| {
                let ids = &st.ids;
                st.vectors.release_now(&dropped, |s| ids.is_free(s))
            })?;
        }
        let stamp = self.graph_stamp(next, &self.ids);
        let graph = self.graph.as_ref().map(|g| hnsw::file::encode(g, stamp));
        let gpath = graph_file(&self.path, next);
        let old_graph = graph_file(&self.path, self.generation);
        self.guard(|st| {
            st.vectors.file.sync()?;
            // The graph first: a checkpoint that exists always has its graph, and the old
            // checkpoint keeps its own until the new one is durable.
            if let Some(g) = &graph {
                st.dir.write_atomic(&gpath, g)?;
            }
            st.dir.write_atomic(&cpath, &bytes)?;
            st.ids.pin_live();
            let lsn = st.wal.next_lsn();
            st.wal.reset(next, lsn)?;
            st.generation = next;
            st.dir.remove_file(&old_graph)
        })
    }

    /// The checkpoint of the current state as generation `generation`, with each slot
    /// renamed by `slot_of`.
    pub(super) fn checkpoint_body(
        &self,
        generation: u32,
        vectors_generation: u32,
        slot_of: impl Fn(u32) -> u32,
    ) -> Result<Checkpoint> {
        let mut entries: Vec<checkpoint::Entry> = Vec::with_capacity(self.ids.len());
        for (id, slot) in self.ids.iter() {
            let payload = match self.payloads.get(&id) {
                Some(v) => Some(serde_json::to_string(v).map_err(|e| Error::InvalidPayload {
                    id: Some(id),
                    reason: e.to_string(),
                })?),
                None => None,
            };
            entries.push(checkpoint::Entry {
                id,
                slot: slot_of(slot),
                payload,
            });
        }
        entries.sort_unstable_by_key(|e| e.id);
        Ok(Checkpoint {
            dimension: self.codec.dimension(),
            metric: self.codec.metric().code(),
            hnsw_m: self.config.m,
            hnsw_ef_construction: self.config.ef_construction,
            generation,
            vectors_generation,
            next_lsn: self.wal.next_lsn(),
            slot_count: self.ids.slots(),
            entries,
        })
    }
}
