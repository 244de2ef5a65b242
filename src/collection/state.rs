//! The in-memory state of an open collection, composed of its parts.

use super::files;
use super::rewrites::Rewrites;
use super::types::{Options, RecoveryStats};
use super::unindexed::Unindexed;
use crate::config::CollectionConfig;
use crate::error::{Error, Result, StorageError};
use crate::idmap::IdMap;
use crate::index::Scratch;
use crate::index::hnsw::Graph;
use crate::payloads::{PayloadFile, PayloadIndexes, PayloadStore};
use crate::region::Directory;
use crate::sparse::SparseFields;
use crate::vectors::{Codec, Store, VectorFile};
use crate::wal::Wal;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Invariants:
/// - `ids` says which slot holds which point; `vectors` holds every live slot's bytes (see
///   [`Store`] for the writes that wait for the log); `payloads` has text only for live
///   slots, and `indexes` hold what those payloads say (see [`PayloadIndexes`]).
/// - the payload file, up to its `end`, plus the records of `payloads.dirty()` ids, gives
///   every live point's payload; a checkpoint appends the dirty ones first.
/// - only pinned slots (live in the last checkpoint) are ever staged in `vectors`.
/// - `graph`, when present, has a node for every live slot not in `unindexed` (deleted ones
///   stay as tombstones until a rebuild or compaction), and `unindexed` holds every live slot
///   written since the graph last linked it; at every checkpoint and compaction `unindexed`
///   is empty. `graph` is absent only where neither the vector file lends its bytes nor
///   there is an SQ8 copy (`VectorMemory::Quantized` for a metric other than cosine), and
///   such collections search exactly; they keep `unindexed` all the same, and `virtual_nodes`,
///   the slots a graph would have as nodes, so that every backend keeps and releases the
///   same slots and writes the same files.
/// - the vector file is `vectors-<vectors_generation>`, the payload file
///   `payloads-<payloads_generation>`, the graph file `graph-<generation>`,
///   and the log belongs to `generation` (its frames carry it).
/// - once `failed` is set, nothing more is written (the collection's one latch: any failed
///   storage operation sets it, so a later write cannot build on a state whose disk image is
///   unknown).
pub(super) struct State {
    pub(super) dir: Arc<dyn Directory>,
    pub(super) path: String,
    pub(super) options: Options,
    pub(super) config: CollectionConfig,
    pub(super) codec: Codec,
    pub(super) wal: Wal,
    pub(super) ids: IdMap,
    pub(super) vectors: Store,
    pub(super) payloads: PayloadStore,
    pub(super) payload_file: PayloadFile,
    pub(super) indexes: PayloadIndexes,
    /// The sparse fields' vectors and inverted indexes (empty without sparse fields).
    pub(super) sparse: SparseFields,
    pub(super) graph: Option<Graph>,
    pub(super) unindexed: Unindexed,
    pub(super) virtual_nodes: roaring::RoaringBitmap,
    pub(super) generation: u32,
    pub(super) vectors_generation: u32,
    pub(super) payloads_generation: u32,
    /// Atomic, so a writer's step that does its I/O beside readers latches it too.
    pub(super) failed: AtomicBool,
    /// The rewrite sequence (`rewrites.rs`): stepped by a writer around in-place slot
    /// changes, read by a read-only open around each call. `None` for a reader of a
    /// collection no writer of this version has opened.
    pub(super) rewrites: Option<Rewrites>,
    pub(super) recovery: RecoveryStats,
    /// The text indexes an open built from the payloads although the checkpoint declared
    /// them (its text file missing, damaged or of other contents): `check` says so.
    pub(super) texts_rebuilt: Vec<String>,
    /// Points put (written or replayed) since the last checkpoint or compaction: what a
    /// reopen would replay onto the waiting list, so what a clean close checkpoints for.
    pub(super) put_since_checkpoint: usize,
    /// Working memory for searches, one per concurrent search.
    pub(super) search_scratch: Mutex<Vec<Scratch>>,
}

/// What a [`State`] is made of when a collection is created or opened.
pub(super) struct Parts {
    pub(super) dir: Arc<dyn Directory>,
    pub(super) path: String,
    pub(super) options: Options,
    pub(super) config: CollectionConfig,
    pub(super) wal: Wal,
    pub(super) vectors: VectorFile,
    pub(super) ids: IdMap,
    pub(super) payloads: PayloadStore,
    pub(super) payload_file: PayloadFile,
    pub(super) indexes: PayloadIndexes,
    /// The sparse fields' vectors and inverted indexes (empty without sparse fields).
    pub(super) sparse: SparseFields,
    pub(super) generation: u32,
    pub(super) vectors_generation: u32,
    pub(super) payloads_generation: u32,
    pub(super) recovery: RecoveryStats,
    pub(super) rewrites: Option<Rewrites>,
}

impl Parts {
    /// The parts of a new, empty collection (generation 1) over these files; an open replaces
    /// what it loaded.
    pub(super) fn empty(
        dir: Arc<dyn Directory>,
        path: &str,
        options: Options,
        config: CollectionConfig,
        files: (Wal, VectorFile, PayloadFile),
    ) -> Parts {
        let (wal, vectors, payload_file) = files;
        let sparse = SparseFields::new(&config.sparse);
        Parts {
            dir,
            path: path.to_string(),
            options,
            config,
            wal,
            vectors,
            ids: IdMap::default(),
            payloads: PayloadStore::default(),
            payload_file,
            indexes: PayloadIndexes::default(),
            sparse,
            generation: 1,
            vectors_generation: 1,
            payloads_generation: 1,
            recovery: RecoveryStats::default(),
            rewrites: None,
        }
    }
}

/// Threads for a parallel step over `items` items out of `cores` (at least 32 items each, or
/// threads cost more than they give).
pub(super) fn threads(cores: usize, items: usize) -> usize {
    cores.min(items / 32).max(1)
}

impl State {
    /// The state of these parts, with the SQ8 copy loaded (or built, damaged slots found),
    /// and no graph yet.
    pub(super) fn new(p: Parts) -> Result<State, StorageError> {
        let codec = Codec::new(&p.config, p.options.kernels);
        let mut st = State {
            dir: p.dir,
            path: p.path,
            options: p.options,
            config: p.config,
            codec,
            wal: p.wal,
            vectors: Store::new(p.vectors, codec),
            ids: p.ids,
            payloads: p.payloads,
            payload_file: p.payload_file,
            indexes: p.indexes,
            sparse: p.sparse,
            graph: None,
            unindexed: Unindexed::default(),
            virtual_nodes: roaring::RoaringBitmap::new(),
            generation: p.generation,
            vectors_generation: p.vectors_generation,
            payloads_generation: p.payloads_generation,
            failed: AtomicBool::new(false),
            rewrites: p.rewrites,
            recovery: p.recovery,
            texts_rebuilt: Vec::new(),
            put_since_checkpoint: 0,
            search_scratch: Mutex::new(Vec::new()),
        };
        st.load_vectors()?;
        Ok(st)
    }

    /// The SQ8 copy saved at this checkpoint, where it is valid and searches walk on it
    /// (nothing else needs every vector read then: slots are checked as reads reach them);
    /// else every live slot read once, checked, and quantized into a fresh copy.
    fn load_vectors(&mut self) -> Result<(), StorageError> {
        let wanted = !self.config.metric.is_binary()
            && (self.options.sq8_search || !self.vectors.lends_bytes());
        if let Some(path) = wanted.then(|| self.saved_sq8()).transpose()?.flatten() {
            let stamp = self.graph_stamp(self.generation, &self.ids);
            let expect = self.sq8_expect(self.ids.slots() as usize, stamp);
            match crate::vectors::sq8_file::load(self.dir.as_ref(), &path, expect) {
                Ok(Ok(sq8)) => {
                    self.vectors.adopt_saved(sq8);
                    return Ok(());
                }
                Ok(Err(_unusable)) => {}
                // Removed since the listing: a reader opening while the writer's checkpoint
                // replaced it, which a rebuild serves as well.
                Err(StorageError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.vectors.load(self.ids.owners())
    }

    /// The path of the SQ8 copy saved at this checkpoint, when the collection's directory
    /// holds one.
    pub(super) fn saved_sq8(&self) -> Result<Option<String>, StorageError> {
        let path = super::files::sq8_file(&self.path, self.generation);
        let name = path.rsplit('/').next().unwrap_or_default();
        let there = self.dir.list(&self.path)?.iter().any(|e| e.name == name);
        Ok(there.then_some(path))
    }

    /// What a saved SQ8 copy of `rows` slots, owned as `stamp` says, must be to serve this
    /// collection.
    pub(super) fn sq8_expect(
        &self,
        rows: usize,
        stamp: crate::index::hnsw::file::Stamp,
    ) -> crate::vectors::sq8_file::Expect {
        crate::vectors::sq8_file::Expect {
            dim: self.config.dimension as usize,
            euclidean: self.config.metric == crate::config::Metric::Euclidean,
            rows,
            stamp,
        }
    }

    /// Runs a storage operation; on failure, latches: nothing is written after it.
    pub(super) fn guard<T>(
        &mut self,
        op: impl FnOnce(&mut State) -> Result<T, StorageError>,
    ) -> Result<T> {
        self.writable_storage()?;
        op(self).map_err(|e| self.latch(e))
    }

    /// [`State::guard`] for a step that reads the state while readers do (a writer's sync or
    /// file writes beside searches).
    pub(super) fn guard_shared<T>(
        &self,
        op: impl FnOnce(&State) -> Result<T, StorageError>,
    ) -> Result<T> {
        self.writable_storage()?;
        op(self).map_err(|e| self.latch(e))
    }

    /// Refused after a storage failure.
    pub(super) fn writable_storage(&self) -> Result<()> {
        match self.has_failed() {
            true => Err(StorageError::PreviousIo.into()),
            false => Ok(()),
        }
    }

    pub(super) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Sets the latch: nothing is written after `e`.
    pub(super) fn latch(&self, e: StorageError) -> Error {
        self.failed.store(true, Ordering::Relaxed);
        Error::Storage(e)
    }

    /// The payload of the point in `slot`.
    pub(super) fn payload(&self, slot: u32) -> Option<Value> {
        self.payloads.value(slot)
    }

    /// Sets the payload of `id` in `slot` (`None`: none), keeping the indexes current; `live`
    /// says whether the slot still holds the point.
    /// The text is compact JSON that `payloads::json::encode` produced (now, or before it
    /// was logged).
    pub(super) fn set_payload(&mut self, id: u64, slot: u32, text: Option<&str>, live: bool) {
        if self.indexes.needs_payloads() {
            let old = self.payload(slot);
            let new = text.and_then(|t| serde_json::from_str::<Value>(t).ok());
            self.indexes.update(slot, old.as_ref(), new.as_ref(), live);
        } else {
            self.indexes.update(slot, None, None, live);
        }
        self.payloads.set(id, slot, text.map(str::as_bytes));
    }

    pub(super) fn file(&self, name: &str) -> String {
        files::file(&self.path, name)
    }

    /// Whether no writer holds the directory (`None`: it cannot be told, as in WASI).
    pub(super) fn writer_gone(&self) -> Option<bool> {
        self.dir
            .root()
            .and_then(crate::region::writer_present)
            .map(|w| !w)
    }

    /// The threads parallel steps may use.
    pub(super) fn cores(&self) -> usize {
        self.options.threads.unwrap_or_else(crate::sys::cores)
    }

    pub(super) fn take_scratch(&self) -> Scratch {
        self.search_scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    pub(super) fn give_scratch(&self, s: Scratch) {
        let mut pool = self
            .search_scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(s);
        }
    }
}
