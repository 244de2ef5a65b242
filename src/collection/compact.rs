//! Compaction: live slots rewritten densely, tombstones dropped from the graph.

use super::checkpoint::PayloadExtent;
use super::files::{CHECKPOINT, graph_file, vectors_file};
use super::graph::{build, reconnect, too_many_tombstones};
use super::handle::Collection;
use super::open::open_vectors;
use super::state::{State, threads};
use super::types::CompactReport;
use crate::checkpoint::Checkpoint;
use crate::error::{Result, StorageError};
use crate::index::hnsw::{self, Graph};
use crate::vectors::{LinkSpace, VectorFile, sums_path};

impl Collection {
    /// Rewrites the collection densely: live slots renumbered without gaps, tombstones
    /// dropped from the graph (their neighbours re-linked), the log folded into a new
    /// checkpoint. Crash-safe at every step: after a crash the collection is either as before
    /// or compacted, never a mix (see docs/format.md).
    pub fn compact(&self) -> Result<CompactReport> {
        self.with_write(State::compact)
    }
}

impl State {
    /// Compaction (docs/format.md): live slots are copied densely, in slot order, into a new
    /// vector file `vectors-<g+1>`; the graph drops its tombstones and is renumbered into
    /// `graph-<g+1>`; then the checkpoint of generation `g + 1`, which names both, is written
    /// atomically. That write is the commit: a crash before it leaves the old checkpoint and
    /// its files untouched (the new files are leftovers, removed on open); a crash after it
    /// finds the new state (the old log is of an older generation and is discarded; its
    /// records are all in the new checkpoint). Old files go last.
    fn compact(&mut self) -> Result<CompactReport> {
        // A damaged vector copied into the new file would get a fresh checksum: refused
        // (before anything is written, so nothing latches).
        if let Some(slot) = self.vectors.damaged().min() {
            return Err(self.vectors.file.mismatch(slot).into());
        }
        self.next_generation()?;
        self.flush()?;
        // Slots are renumbered below: the graph must cover them all first.
        self.catch_up(usize::MAX);
        let before = self.vectors.file.len() + self.wal.len();
        let slots_before = self.ids.slots();
        let tombstones = self
            .graph
            .as_ref()
            .map_or(0, |g| g.nodes() - self.ids.len());
        let (map, live) = self.ids.dense_map();
        let next = self.next_generation()?;
        let payloads = self.guard(|st| st.write_payloads(next, true))?;
        let extent = PayloadExtent {
            generation: next,
            end: payloads.as_ref().map_or(0, |f| f.end()),
        };
        let cp = self.checkpoint_body(next, next, extent, |s| map[s as usize].unwrap_or(s));
        // Slot counts shrink to the live points: slot_count is the new high-water mark.
        let cp = Checkpoint {
            slot_count: live,
            ..cp
        };
        let old_vectors = vectors_file(&self.path, self.vectors_generation);
        let old_graph = graph_file(&self.path, self.generation);
        let vectors = self.guard(|st| st.copy_live(next, &map, live))?;
        let graph = self.compacted_graph(&vectors, &map, live, next);
        let compacted = self.ids.compacted();
        let stamp = self.graph_stamp(next, &compacted);
        let graph_bytes = graph.as_ref().map(|g| hnsw::file::encode(g, stamp));
        let bytes = cp.encode();
        let (gpath, cpath) = (graph_file(&self.path, next), self.file(CHECKPOINT));
        self.guard(|st| {
            if let Some(g) = &graph_bytes {
                st.dir.write_atomic(&gpath, g)?;
            }
            st.dir.write_atomic(&cpath, &bytes)
        })?;
        // Committed: the in-memory state follows.
        self.vectors.file = vectors;
        self.graph = graph;
        self.virtual_nodes = (0..live).collect();
        self.ids = compacted;
        self.vectors_generation = next;
        self.payloads
            .rewrite(|s| map.get(s as usize).copied().flatten());
        let (store, need) = (&self.payloads, self.indexes.needs_payloads());
        let slots = self
            .ids
            .live_slots()
            .map(|s| (s, need.then(|| store.value(s)).flatten()));
        self.indexes.rebuild(slots);
        self.guard(|st| st.commit_payloads(payloads, next))?;
        self.guard(|st| {
            let lsn = st.wal.next_lsn();
            st.wal.reset(next, lsn)?;
            st.generation = next;
            st.dir.remove_file(&old_vectors)?;
            st.dir.remove_file(&sums_path(&old_vectors))?;
            st.dir.remove_file(&old_graph)
        })?;
        Ok(CompactReport {
            points: self.ids.len() as u64,
            slots_before,
            slots_after: live,
            tombstones_dropped: tombstones as u64,
            bytes_before: before,
            bytes_after: self.vectors.file.len() + self.wal.len(),
        })
    }

    /// The new vector file of `generation`: slot `s`'s bytes at `map[s]`, synced.
    fn copy_live(
        &mut self,
        generation: u32,
        map: &[Option<u32>],
        live: u32,
    ) -> Result<VectorFile, StorageError> {
        let mut vectors = open_vectors(
            self.dir.as_ref(),
            &self.path,
            generation,
            &self.config,
            None,
        )?;
        vectors.reserve(live)?;
        let mut buf = vec![0u8; self.codec.slot_size()];
        for (slot, to) in map.iter().enumerate() {
            if let Some(to) = to {
                self.vectors.file.read(slot as u32, &mut buf)?;
                if !self.vectors.is_staged(slot as u32) {
                    self.vectors.file.verify(slot as u32, &buf)?;
                }
                vectors.write(*to, &buf)?;
            }
        }
        vectors.sync()?;
        Ok(vectors)
    }

    /// The graph over the compacted slots: the old one without its tombstones (2-hop repair),
    /// or a fresh build past a quarter of tombstones; unreachable nodes re-linked either way.
    /// Renumbers the SQ8 copy as `map` renumbers the slots (a latched failure follows any
    /// error after this, so the copy never disagrees with a live state).
    fn compacted_graph(
        &mut self,
        new: &VectorFile,
        map: &[Option<u32>],
        live: u32,
        generation: u32,
    ) -> Option<Graph> {
        let cores = self.cores();
        let threads = move |n| threads(cores, n);
        let repaired = match (self.graph.as_ref(), self.vectors.link_space()) {
            (Some(g), Some(_)) if too_many_tombstones(g, self.ids.len()) => None,
            (Some(g), Some(LinkSpace::Exact(old))) => Some(g.compact(&old, map)),
            (Some(g), Some(LinkSpace::Quantized(old))) => Some(g.compact(&old, map)),
            _ => {
                self.vectors.remap_sq8(map, live);
                return None;
            }
        };
        self.vectors.remap_sq8(map, live);
        // The new file has nothing staged: a flush came first.
        let no_staged = Default::default();
        // The link space over the new numbering, chosen as `Store::link_space` chooses.
        let new_space = match (self.vectors.sq8_space(), new.slots_slice()) {
            (Some(sq8), _) => LinkSpace::Quantized(sq8),
            (None, Some(slots)) => LinkSpace::Exact(crate::vectors::SlotSpace {
                codec: self.codec,
                slots,
                staged: &no_staged,
            }),
            (None, None) => return None,
        };
        let (params, seed, scratch) = (
            crate::index::hnsw::Params::of(&self.config),
            u64::from(generation),
            &mut self.scratch,
        );
        let all: Vec<u32> = (0..live).collect();
        let mut g = match (repaired, &new_space) {
            (Some(g), _) => g,
            (None, LinkSpace::Exact(s)) => build(params, seed, s, &all, threads, scratch),
            (None, LinkSpace::Quantized(s)) => build(params, seed, s, &all, threads, scratch),
        };
        reconnect(&mut g, &new_space, scratch);
        Some(g)
    }
}
