//! A collection: fixed-dimension vectors with optional JSON payloads, under u64 ids.
//!
//! Files of a collection, below `collections/<name>/`: `checkpoint` (config, id map,
//! payloads), `vectors` (slots), `wal` (what happened since the checkpoint).
//!
//! The write path keeps one rule (write-ahead): *bytes that the last checkpoint needs change on
//! disk only after the log record that explains the change is durable*. An upsert appends one
//! log record and updates the in-memory id map and payloads at once. Its vector goes straight
//! to the vector file when the slot is not live in the last checkpoint ("pinned"): recovery
//! either replays the record, which allocates the same slot (allocation is deterministic) and
//! rewrites it, or finds the slot free. A write to a pinned slot (an update in place, or the
//! reuse of a slot freed since the checkpoint) waits in `staged` until the next `flush` has
//! synced the log; releases of freed slots wait for the same point. So after any crash, the
//! pinned slots hold what the checkpoint says, except for changes whose records are durable,
//! and replay rewrites those.

use crate::checkpoint::{self, Checkpoint};
use crate::config::{CollectionConfig, Metric};
use crate::error::{Error, Limit, Result, StorageError};
use crate::filter::Filter;
use crate::index::hnsw::{self, Graph, Space};
use crate::index::{Scored, Scratch};
use crate::payload;
use crate::record::{self, KIND_DELETE, KIND_UPSERT};
use crate::region::{Access, Directory};
use crate::slots::{PAGE, VectorFile};
use crate::vector::{Codec, Query};
use crate::wal::{Wal, frame::MAX_RECORD};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The largest `k` a search may ask for.
pub const MAX_K: usize = 10_000;
/// The largest `ef` a search may ask for.
pub const MAX_EF: usize = 100_000;
/// The candidate list size of a search that does not choose one (at least `k`).
pub const DEFAULT_EF: usize = 64;
/// Collections smaller than this are searched exactly: a scan is as fast as the graph there.
pub const EXACT_BELOW: usize = 1_000;
/// A filter that an estimated fraction of points below this passes is searched exactly: the
/// graph would have to visit most of itself to find enough matches.
pub const EXACT_SELECTIVITY: f64 = 0.02;

/// How to search.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchParams<'a> {
    /// Only points whose payload passes.
    pub filter: Option<&'a Filter>,
    /// HNSW candidate list size (recall/speed trade-off); `None`: `max(k, DEFAULT_EF)`.
    pub ef: Option<usize>,
    /// Scan every point instead of walking the graph.
    pub exact: bool,
}

/// A point to upsert, or one read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: u64,
    pub vector: Vec<f32>,
    /// A JSON object, or nothing.
    pub payload: Option<Value>,
}

impl Point {
    pub fn new(id: u64, vector: Vec<f32>) -> Point {
        Point {
            id,
            vector,
            payload: None,
        }
    }

    pub fn with_payload(mut self, payload: Value) -> Point {
        self.payload = Some(payload);
        self
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: u64,
    /// The metric's score (see [`Metric`]): hits come best first.
    pub score: f32,
    pub payload: Option<Value>,
}

/// Engine options shared by the collections of a database.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Checkpoint once the log grows past this many bytes (it is checked at `flush` and after
    /// each write, so the log stays within this plus one batch).
    pub checkpoint_bytes: u64,
}

impl Options {
    /// Sets [`Options::checkpoint_bytes`].
    pub fn with_checkpoint_bytes(mut self, bytes: u64) -> Options {
        self.checkpoint_bytes = bytes;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checkpoint_bytes: 64 << 20,
        }
    }
}

/// What the last open's recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Log records replayed on top of the checkpoint.
    pub replayed_records: u64,
    /// Bytes cut from the end of the log (a torn tail).
    pub dropped_bytes: u64,
    /// Offset of the first damaged frame, if one was cut.
    pub torn_at: Option<u64>,
    /// True when the HNSW graph was loaded from its file; false when it was rebuilt (no file,
    /// a file of another generation, or a damaged one: see `graph_problem`).
    pub graph_loaded: bool,
    pub graph_problem: Option<String>,
}

/// A snapshot of a collection's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub len: usize,
    pub dimension: u32,
    pub metric: Metric,
    /// Slots below the high-water mark (live + free).
    pub slots: u32,
    pub free_slots: usize,
    pub wal_bytes: u64,
    /// Length of the vector file (holes included).
    pub vector_file_bytes: u64,
    /// True when some write is not yet durable (call `flush`).
    pub unflushed: bool,
    /// The current log generation (one more per checkpoint).
    pub generation: u32,
    pub recovery: RecoveryStats,
    /// Nodes in the HNSW graph (live and deleted-but-not-yet-rebuilt).
    pub graph_nodes: usize,
}

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

/// Invariants:
/// - `ids` and `owners` are inverse: `ids[id] == s` iff `owners[s] == Some(id)`;
///   `free` is exactly the `s < owners.len()` with `owners[s] == None`.
/// - a live slot's current bytes are `staged[s]` if present, else in `vectors`.
/// - `pinned[s]` is true iff slot `s` is live in the last checkpoint; only pinned slots are
///   ever staged.
/// - `staged` and `freed` hold changes whose log records are appended but maybe not synced;
///   they reach `vectors` only right after a log sync (`apply_staged`).
/// - once `failed` is set, nothing more is written.
struct State {
    dir: Arc<dyn Directory>,
    path: String,
    options: Options,
    wal: Wal,
    vectors: VectorFile,
    ids: HashMap<u64, u32>,
    owners: Vec<Option<u64>>,
    free: BTreeSet<u32>,
    payloads: HashMap<u64, Value>,
    staged: HashMap<u32, Vec<u8>>,
    freed: BTreeSet<u32>,
    pinned: Vec<bool>,
    generation: u32,
    failed: bool,
    recovery: RecoveryStats,
    codec: Codec,
    config: CollectionConfig,
    /// The HNSW graph over slots; `None` where the region cannot lend its bytes (the bare
    /// positional-I/O backend), which searches exactly.
    graph: Option<Graph>,
    /// Working memory for inserts.
    scratch: Scratch,
    /// Working memory for searches, one per concurrent search.
    search_scratch: Mutex<Vec<Scratch>>,
}

/// Distances between a query and slots, over the vector region (and staged bytes).
struct SlotSpace<'a> {
    codec: Codec,
    slots: &'a [u8],
    staged: &'a HashMap<u32, Vec<u8>>,
}

impl SlotSpace<'_> {
    #[inline]
    fn bytes(&self, n: u32) -> &[u8] {
        if !self.staged.is_empty()
            && let Some(b) = self.staged.get(&n)
        {
            return b;
        }
        let size = self.codec.slot_size();
        &self.slots[n as usize * size..(n as usize + 1) * size]
    }
}

impl Space for SlotSpace<'_> {
    type Query = Query;

    #[inline]
    fn distance(&self, q: &Query, n: u32) -> f32 {
        self.codec.distance(q, self.bytes(n))
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        self.codec.distance_stored(self.bytes(a), self.bytes(b))
    }

    fn query_of(&self, n: u32) -> Query {
        self.codec.stored_query(self.bytes(n))
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let size = self.codec.slot_size();
            if let Some(b) = self.slots.get(n as usize * size..) {
                // SAFETY: a prefetch is a hint; the address is inside the slice.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        b.as_ptr().cast(),
                        std::arch::x86_64::_MM_HINT_T0,
                    )
                };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = n;
    }
}

fn file(path: &str, name: &str) -> String {
    format!("{path}/{name}")
}

impl Collection {
    /// Creates the files of a new collection in `path` (a directory that exists and is empty).
    pub(crate) fn create(
        dir: Arc<dyn Directory>,
        path: &str,
        name: &str,
        config: CollectionConfig,
        options: Options,
    ) -> Result<Collection> {
        let codec = Codec::new(&config);
        let vpath = file(path, "vectors");
        let vectors = VectorFile::create(
            dir.open_region(&vpath, Access::Random)?,
            &vpath,
            &config,
            codec.slot_size(),
        )?;
        let wpath = file(path, "wal");
        let wal = Wal::create(dir.open_region(&wpath, Access::Sequential)?, &wpath, 1, 0)?;
        let cp = Checkpoint {
            dimension: config.dimension,
            metric: config.metric.code(),
            hnsw_m: config.m,
            hnsw_ef_construction: config.ef_construction,
            generation: 1,
            next_lsn: 0,
            slot_count: 0,
            entries: Vec::new(),
        };
        // The checkpoint is the collection's existence marker: it goes last, atomically, and
        // its directory sync also makes the entries of `vectors` and `wal` durable.
        dir.write_atomic(&file(path, "checkpoint"), &cp.encode())?;
        let state = State {
            dir,
            path: path.to_string(),
            options,
            wal,
            vectors,
            ids: HashMap::new(),
            owners: Vec::new(),
            free: BTreeSet::new(),
            payloads: HashMap::new(),
            staged: HashMap::new(),
            freed: BTreeSet::new(),
            pinned: Vec::new(),
            generation: 1,
            failed: false,
            recovery: RecoveryStats::default(),
            codec,
            graph: None,
            scratch: Scratch::default(),
            search_scratch: Mutex::new(Vec::new()),
            config: config.clone(),
        };
        let mut state = state;
        state.graph = state
            .vectors
            .slots_slice()
            .map(|_| Graph::new(config.hnsw_params(), 1));
        Ok(Collection::from_state(name, config, state))
    }

    /// Opens the collection in `path`: loads the checkpoint, replays the log.
    pub(crate) fn open(
        dir: Arc<dyn Directory>,
        path: &str,
        name: &str,
        options: Options,
    ) -> Result<Collection> {
        let cpath = file(path, "checkpoint");
        let bytes = dir
            .read_file(&cpath)?
            .ok_or_else(|| Error::CollectionNotFound(name.to_string()))?;
        let cp = Checkpoint::decode(&bytes, &cpath)?;
        let config = cp
            .config()
            .ok_or_else(|| StorageError::corrupted(&cpath, 0, "unknown metric"))?;
        let codec = Codec::new(&config);

        let vpath = file(path, "vectors");
        let vectors = VectorFile::open(
            dir.open_region(&vpath, Access::Random)?,
            &vpath,
            &config,
            codec.slot_size(),
            cp.slot_count,
        )?;
        let mut owners = vec![None; cp.slot_count as usize];
        let mut ids = HashMap::with_capacity(cp.entries.len());
        let mut payloads = HashMap::new();
        for e in &cp.entries {
            owners[e.slot as usize] = Some(e.id);
            ids.insert(e.id, e.slot);
            if let Some(text) = &e.payload {
                let v = serde_json::from_str(text).map_err(|err| {
                    StorageError::corrupted(&cpath, 0, format!("payload of id {}: {err}", e.id))
                })?;
                payloads.insert(e.id, v);
            }
        }
        let free = (0..cp.slot_count)
            .filter(|&s| owners[s as usize].is_none())
            .collect();
        let pinned = owners.iter().map(Option::is_some).collect();

        let wpath = file(path, "wal");
        let (wal, rec) = Wal::open(
            dir.open_region(&wpath, Access::Sequential)?,
            &wpath,
            cp.generation,
            cp.next_lsn,
        )?;
        let mut state = State {
            dir,
            path: path.to_string(),
            options,
            wal,
            vectors,
            ids,
            owners,
            free,
            payloads,
            staged: HashMap::new(),
            freed: BTreeSet::new(),
            pinned,
            generation: cp.generation,
            failed: false,
            recovery: RecoveryStats {
                replayed_records: rec.records.len() as u64,
                dropped_bytes: rec.dropped_bytes,
                torn_at: rec.torn_at,
                graph_loaded: false,
                graph_problem: None,
            },
            codec,
            graph: None,
            scratch: Scratch::default(),
            search_scratch: Mutex::new(Vec::new()),
            config: config.clone(),
        };
        state.load_graph(&file(path, "graph"))?;
        for r in &rec.records {
            let bad = |reason: String| {
                StorageError::corrupted(&wpath, r.offset, format!("record {}: {reason}", r.lsn))
            };
            match r.kind {
                KIND_UPSERT => {
                    let points =
                        record::decode_upsert(&r.payload, codec.slot_size()).map_err(bad)?;
                    for p in points {
                        let value = match p.payload {
                            Some(text) => {
                                Some(serde_json::from_str(text).map_err(|e| bad(e.to_string()))?)
                            }
                            None => None,
                        };
                        state.put(p.id, p.vector.to_vec(), value)?;
                    }
                }
                KIND_DELETE => {
                    for id in record::decode_delete(&r.payload).map_err(bad)? {
                        state.remove(id);
                    }
                }
                k => return Err(bad(format!("unknown record kind {k}")).into()),
            }
        }
        // Replayed records are durable: their slot bytes may go to the file now.
        state.apply_staged()?;
        Ok(Collection::from_state(name, config, state))
    }

    fn from_state(name: &str, config: CollectionConfig, state: State) -> Collection {
        Collection {
            shared: Arc::new(Shared {
                name: name.to_string(),
                codec: state.codec,
                config,
                state: RwLock::new(Some(state)),
            }),
        }
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

    fn read(&self) -> Result<RwLockReadGuard<'_, Option<State>>> {
        let g = self.shared.state.read().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            return Err(Error::CollectionNotFound(self.shared.name.clone()));
        }
        Ok(g)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Option<State>>> {
        let g = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
        match &*g {
            None => Err(Error::CollectionNotFound(self.shared.name.clone())),
            Some(s) if s.failed => Err(StorageError::PreviousIo.into()),
            Some(_) => Ok(g),
        }
    }

    /// Inserts or replaces points, atomically as a batch: either every point is validated and
    /// logged, or (on any error) nothing changes. A later point in the batch with the same id
    /// wins. Visible to reads at once; durable after [`Collection::flush`].
    pub fn upsert(&self, points: &[Point]) -> Result<()> {
        let codec = self.shared.codec;
        let mut rec = Vec::new();
        let mut vector = Vec::with_capacity(codec.slot_size());
        record::begin(&mut rec, points.len());
        for p in points {
            let text = p
                .payload
                .as_ref()
                .map(|v| payload::encode(Some(p.id), v))
                .transpose()?;
            vector.clear();
            codec.encode(Some(p.id), &p.vector, &mut vector)?;
            record::push_point(&mut rec, p.id, text.as_deref(), &vector);
            if rec.len() > MAX_RECORD as usize {
                return Err(Error::LimitExceeded {
                    limit: Limit::BatchBytes,
                    max: MAX_RECORD as u64,
                    actual: rec.len() as u64,
                });
            }
        }
        let mut g = self.write()?;
        let st = g.as_mut().expect("checked by write()");
        if points.is_empty() {
            return Ok(());
        }
        st.guard(|st| {
            st.wal.append(KIND_UPSERT, &rec)?;
            let decoded = record::decode_upsert(&rec, codec.slot_size()).expect("just encoded");
            for (p, r) in points.iter().zip(decoded) {
                st.put(p.id, r.vector.to_vec(), p.payload.clone())?;
            }
            Ok(())
        })?;
        st.after_write()
    }

    /// Deletes points; returns how many existed. Durable after [`Collection::flush`].
    pub fn delete(&self, ids: &[u64]) -> Result<usize> {
        let mut g = self.write()?;
        let st = g.as_mut().expect("checked by write()");
        let mut present: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| st.ids.contains_key(id))
            .collect();
        present.sort_unstable();
        present.dedup();
        if present.is_empty() {
            return Ok(0);
        }
        let mut rec = Vec::with_capacity(4 + 8 * present.len());
        record::begin(&mut rec, present.len());
        for &id in &present {
            record::push_id(&mut rec, id);
        }
        st.guard(|st| st.wal.append(KIND_DELETE, &rec).map(drop))?;
        for &id in &present {
            st.remove(id);
        }
        st.after_write()?;
        Ok(present.len())
    }

    /// The points with these ids, in order (`None` where absent). Cosine vectors come back
    /// normalised; binary vectors as 0.0/1.0.
    pub fn get(&self, ids: &[u64]) -> Result<Vec<Option<Point>>> {
        let g = self.read()?;
        let st = g.as_ref().expect("checked by read()");
        let mut buf = vec![0u8; st.codec.slot_size()];
        ids.iter()
            .map(|&id| {
                let Some(&slot) = st.ids.get(&id) else {
                    return Ok(None);
                };
                let bytes = match st.staged.get(&slot) {
                    Some(b) => b.as_slice(),
                    None => {
                        st.vectors.read(slot, &mut buf)?;
                        &buf
                    }
                };
                Ok(Some(Point {
                    id,
                    vector: st.codec.decode(bytes),
                    payload: st.payloads.get(&id).cloned(),
                }))
            })
            .collect()
    }

    /// The `k` best matches for `query` among points passing `filter`, best first (ties:
    /// smaller id first), with default parameters (see [`Collection::search_with`]).
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.search_with(
            query,
            k,
            &SearchParams {
                filter,
                ..SearchParams::default()
            },
        )
    }

    /// Searches the HNSW graph with a candidate list of `ef` (default `max(k, 64)`); the filter
    /// is checked during the walk, so non-matching points are traversed but never returned.
    /// Exact scans instead: when asked (`exact`), below [`EXACT_BELOW`] points, when the filter
    /// passes an estimated fraction below [`EXACT_SELECTIVITY`], and when the graph found fewer
    /// than `k` matches. Hits come best first (ties: smaller id first).
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> Result<Vec<Hit>> {
        if k == 0 {
            return Err(Error::InvalidArgument("k must be at least 1".into()));
        }
        if k > MAX_K {
            return Err(Error::LimitExceeded {
                limit: Limit::K,
                max: MAX_K as u64,
                actual: k as u64,
            });
        }
        let ef = params.ef.unwrap_or(DEFAULT_EF).max(k);
        if ef > MAX_EF {
            return Err(Error::InvalidArgument(format!(
                "ef {ef} exceeds the limit of {MAX_EF}"
            )));
        }
        let filter = params.filter;
        if let Some(f) = filter {
            f.validate()?;
        }
        let codec = self.shared.codec;
        let q = codec.query(query)?;
        let g = self.read()?;
        let st = g.as_ref().expect("checked by read()");
        let graph_ok = !params.exact
            && st.ids.len() >= EXACT_BELOW
            && filter.is_none_or(|f| st.selectivity(f) >= EXACT_SELECTIVITY);
        let mut found = match (graph_ok, &st.graph, st.vectors.slots_slice()) {
            (true, Some(graph), Some(slots)) => {
                let space = SlotSpace {
                    codec,
                    slots,
                    staged: &st.staged,
                };
                let accept = |n: u32| match st.owners.get(n as usize).copied().flatten() {
                    Some(id) => filter.is_none_or(|f| f.matches(st.payloads.get(&id))),
                    None => false,
                };
                // Without a filter and without tombstones every node is a result: no check.
                let all_live = filter.is_none() && graph.nodes() == st.ids.len();
                let accept: Option<&dyn Fn(u32) -> bool> =
                    if all_live { None } else { Some(&accept) };
                let mut scratch = st.take_scratch();
                let hits = graph.search(&space, &q, k, ef, accept, &mut scratch);
                st.give_scratch(scratch);
                let mut hits: Vec<(f32, u64)> = hits
                    .into_iter()
                    .filter_map(|Scored(d, n)| st.owners[n as usize].map(|id| (d, id)))
                    .collect();
                hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                // Too few matches from the graph: the filter is more selective than estimated.
                (hits.len() == k).then_some(hits)
            }
            _ => None,
        };
        if found.is_none() {
            let mut top = TopK::new(k);
            st.scan(&q, |id, d| {
                if top.accepts(d, id) && filter.is_none_or(|f| f.matches(st.payloads.get(&id))) {
                    top.push(d, id);
                }
            })?;
            found = Some(top.into_sorted());
        }
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(|(d, id)| Hit {
                id,
                score: codec.score(d),
                payload: st.payloads.get(&id).cloned(),
            })
            .collect())
    }

    /// Number of live points.
    pub fn len(&self) -> usize {
        self.read()
            .map_or(0, |g| g.as_ref().map_or(0, |s| s.ids.len()))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The durability barrier: when it returns `Ok`, every write acknowledged before the call
    /// survives a crash or power loss. One log sync covers all of them.
    pub fn flush(&self) -> Result<()> {
        let mut g = self.write()?;
        let st = g.as_mut().expect("checked by write()");
        st.flush()?;
        if st.wal.len() >= st.options.checkpoint_bytes {
            st.checkpoint()?;
        }
        Ok(())
    }

    /// Flushes, then folds the log into a new checkpoint and starts an empty log.
    pub fn checkpoint(&self) -> Result<()> {
        let mut g = self.write()?;
        g.as_mut().expect("checked by write()").checkpoint()
    }

    pub fn stats(&self) -> Result<Stats> {
        let g = self.read()?;
        let st = g.as_ref().expect("checked by read()");
        Ok(Stats {
            len: st.ids.len(),
            dimension: self.shared.config.dimension,
            metric: self.shared.config.metric,
            slots: st.owners.len() as u32,
            free_slots: st.free.len(),
            wal_bytes: st.wal.len(),
            vector_file_bytes: st.vectors.len(),
            unflushed: !st.wal.is_synced() || !st.staged.is_empty() || !st.freed.is_empty(),
            generation: st.generation,
            recovery: st.recovery.clone(),
            graph_nodes: st.graph.as_ref().map_or(0, Graph::nodes),
        })
    }
}

impl State {
    /// Runs a storage operation; on failure, latches: nothing is written after it.
    fn guard<T>(&mut self, op: impl FnOnce(&mut State) -> Result<T, StorageError>) -> Result<T> {
        if self.failed {
            return Err(StorageError::PreviousIo.into());
        }
        op(self).map_err(|e| {
            self.failed = true;
            Error::Storage(e)
        })
    }

    /// Sets `id` to `vector` (encoded) and `payload`: in memory, and in the vector file unless
    /// the slot is pinned (see the module docs).
    fn put(
        &mut self,
        id: u64,
        vector: Vec<u8>,
        payload: Option<Value>,
    ) -> Result<(), StorageError> {
        let slot = match self.ids.get(&id) {
            Some(&s) => s,
            None => {
                let s = match self.free.pop_first() {
                    Some(s) => s,
                    None => {
                        self.owners.push(None);
                        self.owners.len() as u32 - 1
                    }
                };
                self.owners[s as usize] = Some(id);
                self.ids.insert(id, s);
                s
            }
        };
        self.freed.remove(&slot);
        if self.pinned.get(slot as usize).copied().unwrap_or(false) {
            self.staged.insert(slot, vector);
        } else {
            self.vectors.reserve(self.owners.len() as u32)?;
            self.vectors.write(slot, &vector)?;
        }
        match payload {
            Some(v) => self.payloads.insert(id, v),
            None => self.payloads.remove(&id),
        };
        self.link(slot);
        Ok(())
    }

    /// Inserts (or re-links) `slot` in the graph.
    fn link(&mut self, slot: u32) {
        let (Some(graph), Some(slots)) = (self.graph.as_mut(), self.vectors.slots_slice()) else {
            return;
        };
        let space = SlotSpace {
            codec: self.codec,
            slots,
            staged: &self.staged,
        };
        graph.insert(&space, slot, &mut self.scratch);
    }

    /// Loads the graph file if it belongs to this checkpoint, else builds the graph over the
    /// live slots (in slot order: deterministic).
    fn load_graph(&mut self, path: &str) -> Result<(), StorageError> {
        if self.vectors.slots_slice().is_none() {
            return Ok(());
        }
        let params = self.config.hnsw_params();
        let loaded = match self.dir.read_file(path)? {
            None => Err("no graph file".to_string()),
            Some(bytes) => hnsw::file::decode(&bytes, self.generation, params, self.owners.len()),
        };
        match loaded {
            Ok(g)
                if (0..self.owners.len())
                    .all(|s| self.owners[s].is_none() || g.contains(s as u32)) =>
            {
                self.graph = Some(g);
                self.recovery.graph_loaded = true;
            }
            other => {
                self.recovery.graph_problem = Some(match other {
                    Err(why) => why,
                    Ok(_) => "graph misses live slots".into(),
                });
                self.rebuild_graph();
            }
        }
        Ok(())
    }

    /// A fresh graph over the live slots, in slot order.
    fn rebuild_graph(&mut self) {
        self.graph = Some(Graph::new(
            self.config.hnsw_params(),
            u64::from(self.generation),
        ));
        for slot in 0..self.owners.len() as u32 {
            if self.owners[slot as usize].is_some() {
                self.link(slot);
            }
        }
    }

    /// Removes `id`, in memory; its slot is released at the next `apply_staged`.
    fn remove(&mut self, id: u64) {
        if let Some(slot) = self.ids.remove(&id) {
            self.owners[slot as usize] = None;
            self.free.insert(slot);
            self.staged.remove(&slot);
            self.freed.insert(slot);
            self.payloads.remove(&id);
        }
    }

    /// Writes staged slot bytes and releases freed slots. Only called right after the log
    /// records behind them are durable.
    fn apply_staged(&mut self) -> Result<(), StorageError> {
        self.vectors.reserve(self.owners.len() as u32)?;
        let owners = &self.owners;
        for &slot in &self.freed {
            self.vectors
                .release(slot, |s| owners.get(s as usize).is_none_or(|o| o.is_none()))?;
        }
        self.freed.clear();
        let mut staged: Vec<(u32, Vec<u8>)> = self.staged.drain().collect();
        staged.sort_unstable_by_key(|(s, _)| *s);
        for (slot, bytes) in staged {
            self.vectors.write(slot, &bytes)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.guard(|st| {
            st.wal.sync()?;
            st.apply_staged()
        })
    }

    /// Keeps the log bounded when writes come without flushes.
    fn after_write(&mut self) -> Result<()> {
        if self.wal.len() >= self.options.checkpoint_bytes {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// The checkpoint protocol (docs/format.md):
    /// 1. sync the log and apply staged slots; 2. sync the vector file;
    /// 3. write the new checkpoint (generation + 1) atomically; 4. reset the log to the new
    ///    generation. A crash before 3 completes recovers from the old checkpoint and log; a
    ///    crash after it finds a log of the old generation and discards it.
    fn checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        let mut entries: Vec<checkpoint::Entry> = Vec::with_capacity(self.ids.len());
        for (&id, &slot) in &self.ids {
            let payload = match self.payloads.get(&id) {
                Some(v) => Some(serde_json::to_string(v).map_err(|e| Error::InvalidPayload {
                    id: Some(id),
                    reason: e.to_string(),
                })?),
                None => None,
            };
            entries.push(checkpoint::Entry { id, slot, payload });
        }
        entries.sort_unstable_by_key(|e| e.id);
        let next = self.generation + 1;
        let cp = Checkpoint {
            dimension: self.codec.dimension(),
            metric: self.codec.metric().code(),
            hnsw_m: self.config.m,
            hnsw_ef_construction: self.config.ef_construction,
            generation: next,
            next_lsn: self.wal.next_lsn(),
            slot_count: self.owners.len() as u32,
            entries,
        };
        let bytes = cp.encode();
        let cpath = file(&self.path, "checkpoint");
        // Deleted points stay in the graph as tombstones; past a quarter of the nodes they cost
        // more traversal than a rebuild does once.
        if let Some(g) = &self.graph
            && (g.nodes() - self.ids.len()) * 4 > g.nodes()
        {
            self.rebuild_graph();
        }
        let graph = self.graph.as_ref().map(|g| hnsw::file::encode(g, next));
        let gpath = file(&self.path, "graph");
        self.guard(|st| {
            st.vectors.sync()?;
            // The graph first: a checkpoint that exists always has its graph.
            if let Some(g) = &graph {
                st.dir.write_atomic(&gpath, g)?;
            }
            st.dir.write_atomic(&cpath, &bytes)?;
            st.pinned = st.owners.iter().map(Option::is_some).collect();
            let lsn = st.wal.next_lsn();
            st.wal.reset(next, lsn)
        })?;
        self.generation = next;
        Ok(())
    }

    /// The fraction of live points that pass `f`, estimated on up to 512 points spread evenly
    /// over the slots.
    fn selectivity(&self, f: &Filter) -> f64 {
        let live = self.ids.len();
        if live == 0 {
            return 1.0;
        }
        let step = (self.owners.len() / 512).max(1);
        let (mut seen, mut pass) = (0usize, 0usize);
        for owner in self.owners.iter().step_by(step).flatten() {
            seen += 1;
            pass += f.matches(self.payloads.get(owner)) as usize;
        }
        if seen == 0 {
            1.0
        } else {
            pass as f64 / seen as f64
        }
    }

    fn take_scratch(&self) -> Scratch {
        self.search_scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_scratch(&self, s: Scratch) {
        let mut pool = self
            .search_scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(s);
        }
    }

    /// Calls `f(id, distance)` for every live point.
    fn scan(&self, q: &Query, mut f: impl FnMut(u64, f32)) -> Result<(), StorageError> {
        let size = self.codec.slot_size();
        let staged = &self.staged;
        let mut visit = |slot: usize, bytes: &[u8]| {
            if let Some(id) = self.owners[slot] {
                let bytes = match staged.is_empty() {
                    true => bytes,
                    false => staged.get(&(slot as u32)).map_or(bytes, Vec::as_slice),
                };
                f(id, self.codec.distance(q, bytes));
            }
        };
        // Slots past the end of the file can only be staged ones.
        let in_file = ((self.vectors.len().saturating_sub(PAGE)) / size as u64) as usize;
        let n = self.owners.len();
        let on_disk = n.min(in_file);
        if let Some(all) = self.vectors.slots_slice() {
            for (slot, bytes) in all.chunks_exact(size).take(on_disk).enumerate() {
                visit(slot, bytes);
            }
        } else {
            // Positional reads in runs, into a u64 buffer so the bytes are aligned for the
            // kernels.
            let per_run = (256 * 1024 / size).max(1);
            let mut words = vec![0u64; (per_run * size).div_ceil(8)];
            let mut first = 0;
            while first < on_disk {
                let count = per_run.min(on_disk - first);
                let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..count * size];
                self.vectors.read_run(first as u32, buf)?;
                for (i, bytes) in buf.chunks_exact(size).enumerate() {
                    visit(first + i, bytes);
                }
                first += count;
            }
        }
        for slot in on_disk..n {
            if self.owners[slot].is_some() && !staged.contains_key(&(slot as u32)) {
                let reason = format!("live slot {slot} is past the end of the file");
                return Err(StorageError::corrupted(
                    self.vectors.path(),
                    self.vectors.len(),
                    reason,
                ));
            }
            visit(slot, &[]);
        }
        Ok(())
    }
}

/// The `k` smallest `(distance, id)` pairs seen.
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

#[derive(Debug, Clone, Copy)]
struct Candidate(f32, u64);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    /// Would `(d, id)` enter the top k? (Cheap: lets the caller skip the filter.)
    fn accepts(&self, d: f32, id: u64) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|w| Candidate(d, id) < *w)
    }

    fn push(&mut self, d: f32, id: u64) {
        self.heap.push(Candidate(d, id));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<(f32, u64)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.0, c.1))
            .collect()
    }
}
