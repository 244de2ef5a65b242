//! Compaction: live slots rewritten densely, tombstones dropped from the graph.

use super::checkpoint::PayloadExtent;
use super::files::{CHECKPOINT, graph_file, sparse_file, sq8_file, text_file, vectors_file};
use super::graph::{build, reconnect, too_many_tombstones};
use super::handle::Collection;
use super::open::open_vectors;
use super::state::{State, threads};
use super::types::CompactReport;
use super::writer::Writer;
use crate::checkpoint::Checkpoint;
use crate::error::{Result, StorageError};
use crate::idmap::IdMap;
use crate::index::Scratch;
use crate::index::hnsw::{self, Graph};
use crate::payloads::{PayloadFile, PayloadIndexes, PayloadStore};
use crate::sparse::SparseFields;
use crate::vectors::{LinkSpace, Sq8, VectorFile, sums_path};

impl Collection {
    /// Rewrites the collection densely: live slots renumbered without gaps, tombstones
    /// dropped from the graph (their neighbours re-linked), the log folded into a new
    /// checkpoint. Crash-safe at every step: after a crash the collection is either as before
    /// or compacted, never a mix (see docs/format.md). Searches go on meanwhile, on the
    /// collection as it was, until one short switch to the compacted one.
    pub fn compact(&self) -> Result<CompactReport> {
        self.write_hold()?.compact()
    }
}

/// A compaction's new parts, built and committed beside readers, adopted in one switch.
struct Compacted {
    vectors: VectorFile,
    sq8: Option<Sq8>,
    graph: Option<Graph>,
    ids: IdMap,
    payloads: PayloadStore,
    payload_file: PayloadFile,
    indexes: PayloadIndexes,
    sparse: SparseFields,
    virtual_nodes: roaring::RoaringBitmap,
}

/// What the switch replaced: the old files to remove, the old parts to drop once readers no
/// longer wait.
type Replaced = (Vec<String>, Box<dyn std::any::Any + Send>);

impl Writer<'_> {
    /// Compaction (docs/format.md): live slots are copied densely, in slot order, into a new
    /// vector file `vectors-<g+1>`; the graph drops its tombstones and is renumbered into
    /// `graph-<g+1>`; then the checkpoint of generation `g + 1`, which names both, is written
    /// atomically. That write is the commit: a crash before it leaves the old checkpoint and
    /// its files untouched (the new files are leftovers, removed on open); a crash after it
    /// finds the new state (the old log is of an older generation and is discarded; its
    /// records are all in the new checkpoint). Old files go last.
    ///
    /// Everything new (files, graph, SQ8 copy, payload arena and indexes) is built beside
    /// readers from the state as it is (the writer mutex keeps it so); the state adopts it in
    /// one switch after the commit.
    fn compact(&mut self) -> Result<CompactReport> {
        self.read(|st, _| {
            // A damaged vector copied into the new file would get a fresh checksum: refused
            // (before anything is written, so nothing latches).
            if let Some(slot) = st.vectors.first_damaged(st.ids.owners())? {
                return Err(st.vectors.file.mismatch(slot).into());
            }
            st.next_generation().map(drop)
        })?;
        self.flush()?;
        // Slots are renumbered below: the graph must cover them all first.
        self.catch_up(usize::MAX)?;
        let (next, before, slots_before, tombstones) = self.read(|st, _| {
            let tombstones = st.graph.as_ref().map_or(0, |g| g.nodes() - st.ids.len());
            Ok((
                st.next_generation()?,
                st.vectors.file.len() + st.wal.len(),
                st.ids.slots(),
                tombstones as u64,
            ))
        })?;
        let built = self.read(|st, scratch| st.compacted(next, scratch))?;
        let (files, old) = self.write(|st, _| st.adopt(built, next))?;
        drop(old);
        self.read(|st, _| {
            st.guard_shared(|st| {
                st.wal.sync_restart()?;
                files.iter().try_for_each(|f| st.dir.remove_file(f))
            })?;
            Ok(CompactReport {
                points: st.ids.len() as u64,
                slots_before,
                slots_after: st.ids.slots(),
                tombstones_dropped: tombstones,
                bytes_before: before,
                bytes_after: st.vectors.file.len() + st.wal.len(),
            })
        })
    }
}

impl State {
    /// The compaction of this state as generation `next`, built and committed (its
    /// files written and synced, its checkpoint written last) without changing the state.
    fn compacted(&self, next: u32, scratch: &mut Scratch) -> Result<Compacted> {
        let (map, live) = self.ids.dense_map();
        let payload_file = self.guard_shared(|st| st.fresh_payloads(next))?;
        let extent = PayloadExtent {
            generation: next,
            end: payload_file.end(),
        };
        let cp = self.checkpoint_body(next, next, extent, |s| map[s as usize].unwrap_or(s));
        // Slot counts shrink to the live points: slot_count is the new high-water mark.
        let cp = Checkpoint {
            slot_count: live,
            ..cp
        };
        let vectors = self.guard_shared(|st| st.copy_live(next, &map, live))?;
        let sq8 = self.guard_shared(|st| st.vectors.remapped_sq8(&map, live))?;
        let graph = self.compacted_graph(&vectors, sq8.as_ref(), &map, live, next, scratch);
        let ids = self.ids.compacted();
        let stamp = self.graph_stamp(next, &ids);
        let graph_bytes = graph.as_ref().map(|g| hnsw::file::encode(g, stamp));
        let bytes = cp.encode();
        let (gpath, cpath) = (graph_file(&self.path, next), self.file(CHECKPOINT));
        let sparse = self
            .sparse
            .remapped(|s| map.get(s as usize).copied().flatten());
        let payloads = self
            .payloads
            .rewritten(|s| map.get(s as usize).copied().flatten());
        let need = self.indexes.needs_payloads();
        let indexes = self.indexes.rebuilt(
            ids.live_slots()
                .map(|s| (s, need.then(|| payloads.value(s)).flatten())),
        );
        // By id, so the same bytes whatever the slots became.
        let sparse_bytes = self.sparse_bytes(next);
        let text_bytes = self.text_bytes(&indexes, next);
        self.guard_shared(|st| {
            if let Some(g) = &graph_bytes {
                st.dir.write_atomic(&gpath, g)?;
            }
            if let Some(q) = &sq8 {
                crate::vectors::sq8_file::write(&*st.dir, &sq8_file(&st.path, next), q, stamp)?;
            }
            for (path, b) in sparse_bytes.iter().chain(&text_bytes) {
                st.dir.write_atomic(path, b)?;
            }
            st.dir.write_atomic(&cpath, &bytes)
        })?;
        Ok(Compacted {
            vectors,
            sq8,
            graph,
            ids,
            payloads,
            payload_file,
            indexes,
            sparse,
            virtual_nodes: {
                let mut all = roaring::RoaringBitmap::new();
                all.insert_range(0..live);
                all
            },
        })
    }

    /// Compaction's switch, after its commit: the state becomes the compacted one, and the
    /// log starts the new generation (its sync follows beside readers). Returns the files to
    /// remove and the old parts.
    fn adopt(&mut self, c: Compacted, next: u32) -> Result<Replaced> {
        let mut files = vec![
            vectors_file(&self.path, self.vectors_generation),
            sums_path(&vectors_file(&self.path, self.vectors_generation)),
            graph_file(&self.path, self.generation),
            sq8_file(&self.path, self.generation),
        ];
        if !self.sparse.is_empty() {
            files.push(sparse_file(&self.path, self.generation));
        }
        files.push(text_file(&self.path, self.generation));
        let old_sparse = std::mem::replace(&mut self.sparse, c.sparse);
        let old_vectors = self.vectors.replace(c.vectors, c.sq8);
        let old_graph = std::mem::replace(&mut self.graph, c.graph);
        let old_nodes = std::mem::replace(&mut self.virtual_nodes, c.virtual_nodes);
        let old_ids = std::mem::replace(&mut self.ids, c.ids);
        self.vectors_generation = next;
        let old_payloads = std::mem::replace(&mut self.payloads, c.payloads);
        let old_indexes = std::mem::replace(&mut self.indexes, c.indexes);
        let (old_file, dirty) = self.commit_payloads(Some(c.payload_file), next);
        if let Some(f) = &old_file {
            files.push(f.path().to_string());
        }
        self.guard(|st| {
            let lsn = st.wal.next_lsn();
            st.wal.restart(next, lsn)
        })?;
        self.generation = next;
        self.put_since_checkpoint = 0;
        let old = (
            (old_vectors, old_graph, old_ids),
            (old_payloads, old_indexes, old_file),
            (old_nodes, dirty, old_sparse),
        );
        Ok((files, Box::new(old)))
    }

    /// The new vector file of `generation`: slot `s`'s bytes at `map[s]`, synced.
    fn copy_live(
        &self,
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
    /// `sq8` is the SQ8 copy renumbered as `map` renumbers the slots.
    fn compacted_graph(
        &self,
        new: &VectorFile,
        sq8: Option<&Sq8>,
        map: &[Option<u32>],
        live: u32,
        generation: u32,
        scratch: &mut Scratch,
    ) -> Option<Graph> {
        let cores = self.cores();
        let threads = move |n| threads(cores, n);
        let repaired = match (self.graph.as_ref(), self.vectors.link_space()) {
            (Some(g), Some(_)) if too_many_tombstones(g, self.ids.len()) => None,
            (Some(g), Some(LinkSpace::Exact(old))) => Some(g.compact(&old, map)),
            (Some(g), Some(LinkSpace::Quantized(old))) => Some(g.compact(&old, map)),
            _ => return None,
        };
        // The new file has nothing staged: a flush came first.
        let no_staged = Default::default();
        // The link space over the new numbering, chosen as `Store::link_space` chooses.
        let new_space = match (sq8, new.slots_slice()) {
            (Some(sq8), _) => LinkSpace::Quantized(crate::vectors::Sq8Space {
                rows: sq8.rows(),
                kernels: self.codec.kernels(),
            }),
            (None, Some(slots)) => LinkSpace::Exact(crate::vectors::SlotSpace {
                codec: self.codec,
                slots,
                staged: &no_staged,
            }),
            (None, None) => return None,
        };
        let (params, seed) = (
            crate::index::hnsw::Params::of(&self.config),
            u64::from(generation),
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
