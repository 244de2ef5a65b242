//! A collection: fixed-dimension vectors with optional JSON payloads, under u64 ids.
//!
//! Files of a collection, below `collections/<name>/`: `checkpoint` (config, id map,
//! payloads), `vectors-<g>` (slots), `graph-<g>` (the HNSW graph), `wal` (what happened since
//! the checkpoint). The checkpoint names the vector and graph files it belongs to by
//! generation, so replacing either (checkpoint, compaction) commits with the one atomic write
//! of the checkpoint; files of other generations are leftovers of a crash and are removed on
//! open.
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

use crate::check::CheckReport;
use crate::checkpoint::{self, Checkpoint};
use crate::config::{CollectionConfig, Metric};
use crate::error::{Error, Limit, Result, StorageError};
use crate::filter::Filter;
use crate::index::hnsw::{self, Graph, Space};
use crate::index::{Scored, Scratch};
use crate::payload;
use crate::record::{self, KIND_DELETE, KIND_UPSERT};
use crate::region::{Access, Directory};
use crate::slots::{PAGE, VectorFile, sums_path};
use crate::vector::{Codec, Query, with_f32};
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

/// Distances over the SQ8 copy: minus the integer inner product (lower is closer, as for
/// cosine), between the quantized query and a row.
struct Sq8Space<'a> {
    rows: &'a [i8],
    dim: usize,
}

impl Sq8Space<'_> {
    #[inline]
    fn row(&self, n: u32) -> &[i8] {
        &self.rows[n as usize * self.dim..(n as usize + 1) * self.dim]
    }
}

impl Space for Sq8Space<'_> {
    type Query = Vec<i8>;

    #[inline]
    fn distance(&self, q: &Vec<i8>, n: u32) -> f32 {
        -(crate::distance::dot_i8(q, self.row(n)) as f32)
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        -(crate::distance::dot_i8(self.row(a), self.row(b)) as f32)
    }

    fn query_of(&self, n: u32) -> Vec<i8> {
        self.row(n).to_vec()
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        prefetch(bytemuck::cast_slice(self.rows), n as usize * self.dim);
    }
}

/// A hint that `bytes[at..]` is about to be read (x86-64; nothing elsewhere).
#[inline]
fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at..) {
        // SAFETY: a prefetch is a hint; the address is inside the slice.
        unsafe {
            std::arch::x86_64::_mm_prefetch(b.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// A unit vector's SQ8 form: each component times 127, rounded (components of a unit vector
/// are within [-1, 1], so nothing clips).
fn quantize_into(v: &[f32], out: &mut [i8]) {
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x * 127.0).round().clamp(-127.0, 127.0) as i8;
    }
}

fn quantize(v: &[f32]) -> Vec<i8> {
    let mut out = vec![0i8; v.len()];
    quantize_into(v, &mut out);
    out
}

/// `VELES_NO_SQ8` turns the SQ8 traversal off (to measure it against plain f32).
fn sq8_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VELES_NO_SQ8").is_none())
}

/// New graph nodes are inserted in batches of this many (see `State::link_all`).
const LINK_BATCH: usize = 256;

/// Threads for the searches of a batch of `nodes` graph inserts: every core natively (or
/// `VELES_THREADS`; at least 32 nodes each, or threads cost more than they give), one in
/// WebAssembly. The graph built does not depend on it.
fn build_threads(nodes: usize) -> usize {
    if cfg!(target_family = "wasm") {
        return 1;
    }
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::env::var("VELES_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    cores.min(nodes / 32).max(1)
}

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
    /// Open without writing anything: no log repair, no file clean-up, every write refused
    /// with [`Error::ReadOnly`]. Replayed log records stay in memory.
    pub read_only: bool,
}

impl Options {
    /// Sets [`Options::read_only`].
    pub fn with_read_only(mut self, read_only: bool) -> Options {
        self.read_only = read_only;
        self
    }

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
            read_only: false,
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

/// What [`Collection::compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Live points (unchanged by compaction).
    pub points: u64,
    pub slots_before: u32,
    /// Equal to `points`: the slots are dense.
    pub slots_after: u32,
    /// Deleted points dropped from the graph.
    pub tombstones_dropped: u64,
    /// Length of the vector file plus the log, before and after. (Deleted slots' whole
    /// pages were already given back as holes; these are the lengths the files span.)
    pub bytes_before: u64,
    pub bytes_after: u64,
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
    /// The vector file is `vectors-<vectors_generation>`.
    vectors_generation: u32,
    failed: bool,
    recovery: RecoveryStats,
    codec: Codec,
    config: CollectionConfig,
    /// The HNSW graph over slots; `None` where the region cannot lend its bytes (the bare
    /// positional-I/O backend), which searches exactly.
    graph: Option<Graph>,
    /// The SQ8 traversal copy (cosine collections with a graph): slot `s`'s unit vector
    /// scaled by 127 and rounded, `dimension` i8 at `s * dimension`, covering every slot.
    /// Searches walk the graph with it (a quarter of the memory traffic) and rerank what they
    /// found with the exact vectors. Derived: rebuilt on open, never stored.
    sq8: Option<Vec<i8>>,
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
        prefetch(self.slots, n as usize * self.codec.slot_size());
    }
}

fn file(path: &str, name: &str) -> String {
    format!("{path}/{name}")
}

fn vectors_file(path: &str, generation: u32) -> String {
    format!("{path}/vectors-{generation}")
}

fn graph_file(path: &str, generation: u32) -> String {
    format!("{path}/graph-{generation}")
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
        let vpath = vectors_file(path, 1);
        let vectors = VectorFile::create(
            dir.open_region(&vpath, Access::Random)?,
            dir.open_region(&sums_path(&vpath), Access::Sequential)?,
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
            vectors_generation: 1,
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
            vectors_generation: 1,
            failed: false,
            recovery: RecoveryStats::default(),
            codec,
            graph: None,
            sq8: None,
            scratch: Scratch::default(),
            search_scratch: Mutex::new(Vec::new()),
            config: config.clone(),
        };
        let mut state = state;
        state.graph = state
            .vectors
            .slots_slice()
            .map(|_| Graph::new(config.hnsw_params(), 1));
        state.sq8_rebuild()?;
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

        let vpath = vectors_file(path, cp.vectors_generation);
        let vectors = VectorFile::open(
            dir.open_region(&vpath, Access::Random)?,
            dir.open_region(&sums_path(&vpath), Access::Sequential)?,
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
            !options.read_only,
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
            vectors_generation: cp.vectors_generation,
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
            sq8: None,
            scratch: Scratch::default(),
            search_scratch: Mutex::new(Vec::new()),
            config: config.clone(),
        };
        // The SQ8 copy first: a graph rebuilt on open walks with it; replay keeps it current.
        state.sq8_rebuild()?;
        state.load_graph(&graph_file(path, cp.generation))?;
        for r in &rec.records {
            let bad = |reason: String| {
                StorageError::corrupted(&wpath, r.offset, format!("record {}: {reason}", r.lsn))
            };
            match r.kind {
                KIND_UPSERT => {
                    let points =
                        record::decode_upsert(&r.payload, codec.slot_size()).map_err(bad)?;
                    let mut decoded = Vec::with_capacity(points.len());
                    for p in points {
                        let value = match p.payload {
                            Some(text) => {
                                Some(serde_json::from_str(text).map_err(|e| bad(e.to_string()))?)
                            }
                            None => None,
                        };
                        decoded.push((p.id, p.vector.to_vec(), value));
                    }
                    state.put_all(decoded)?;
                }
                KIND_DELETE => {
                    for id in record::decode_delete(&r.payload).map_err(bad)? {
                        state.remove(id);
                    }
                }
                k => return Err(bad(format!("unknown record kind {k}")).into()),
            }
        }
        if !state.options.read_only {
            // Replayed records are durable: their slot bytes may go to the file now.
            state.apply_staged()?;
            state.remove_leftovers()?;
        }
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
            Some(s) if s.options.read_only => Err(Error::ReadOnly),
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
            st.put_all(
                points
                    .iter()
                    .zip(decoded)
                    .map(|(p, r)| (p.id, r.vector.to_vec(), p.payload.clone())),
            )
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
                let bytes = st.slot_bytes(slot, &mut buf, true)?;
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
            return Err(Error::LimitExceeded {
                limit: Limit::Ef,
                max: MAX_EF as u64,
                actual: ef as u64,
            });
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
                let sq8 = st
                    .sq8
                    .as_deref()
                    .filter(|_| sq8_enabled())
                    .map(|rows| Sq8Space {
                        rows,
                        dim: codec.dimension() as usize,
                    });
                let accept = |n: u32| match st.owners.get(n as usize).copied().flatten() {
                    Some(id) => filter.is_none_or(|f| f.matches(st.payloads.get(&id))),
                    None => false,
                };
                // Without a filter and without tombstones every node is a result: no check.
                let all_live = filter.is_none() && graph.nodes() == st.ids.len();
                let accept: Option<&dyn Fn(u32) -> bool> =
                    if all_live { None } else { Some(&accept) };
                let mut scratch = st.take_scratch();
                let hits = match (&sq8, &q) {
                    // Walk with the i8 copy, keep all `ef` found, rerank them exactly.
                    (Some(sq8), Query::F32(qf)) => {
                        let qi = quantize(qf);
                        graph
                            .search(sq8, &qi, ef, ef, accept, &mut scratch)
                            .into_iter()
                            .map(|Scored(_, n)| Scored(space.distance(&q, n), n))
                            .collect()
                    }
                    _ => graph.search(&space, &q, k, ef, accept, &mut scratch),
                };
                st.give_scratch(scratch);
                let mut hits: Vec<(f32, u64)> = hits
                    .into_iter()
                    .filter_map(|Scored(d, n)| st.owners[n as usize].map(|id| (d, id)))
                    .collect();
                hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                hits.truncate(k);
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

    /// Rewrites the collection densely: live slots renumbered without gaps, tombstones
    /// dropped from the graph (their neighbours re-linked), the log folded into a new
    /// checkpoint. Crash-safe at every step: after a crash the collection is either as before
    /// or compacted, never a mix (see docs/format.md).
    pub fn compact(&self) -> Result<CompactReport> {
        let mut g = self.write()?;
        g.as_mut().expect("checked by write()").compact()
    }

    /// Copies the collection's files into `dest` at `path` (a directory that exists and is
    /// empty), consistently: writes wait meanwhile, and an open for writing first flushes, so
    /// the copy holds every write acknowledged before the call. The checkpoint goes last; the
    /// copy opens like the original after a crash at the moment of the flush. Returns the
    /// bytes copied.
    pub(crate) fn copy_to(&self, dest: &dyn Directory, path: &str) -> Result<u64> {
        let mut g = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
        let st = g
            .as_mut()
            .ok_or_else(|| Error::CollectionNotFound(self.shared.name.clone()))?;
        if !st.options.read_only {
            st.flush()?;
        }
        Ok(copy_collection_files(
            st.dir.as_ref(),
            &st.path,
            dest,
            path,
        )?)
    }

    /// Verifies the collection without changing anything: re-reads the checkpoint, the log,
    /// the vector file and the graph file and checks every checksum, then checks that the id
    /// map, the slots, the payloads and the graph agree (no id on a free slot, no live slot
    /// outside the graph, no live node a search cannot reach, no stored vector `upsert` could
    /// not have written). Problems come with their file and offset.
    pub fn check(&self) -> Result<CheckReport> {
        let g = self.read()?;
        let st = g.as_ref().expect("checked by read()");
        let mut report = CheckReport {
            collection: self.shared.name.clone(),
            points: st.ids.len() as u64,
            slots: st.owners.len() as u64,
            graph_nodes: st.graph.as_ref().map_or(0, Graph::nodes) as u64,
            ..CheckReport::default()
        };
        st.check(&mut report);
        Ok(report)
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

    /// Sets slot `slot`'s row of the SQ8 copy from its encoded vector.
    fn sq8_set(&mut self, slot: u32, bytes: &[u8]) {
        let dim = self.codec.dimension() as usize;
        if let Some(rows) = self.sq8.as_mut() {
            let need = (slot as usize + 1).max(self.owners.len()) * dim;
            if rows.len() < need {
                rows.resize(need, 0);
            }
            let row = &mut rows[slot as usize * dim..(slot as usize + 1) * dim];
            with_f32(bytes, |v| quantize_into(v, row));
        }
    }

    /// A live slot's current bytes: its staged bytes, else read from the vector file into
    /// `buf` (and checked against the slot's checksum when `verify`).
    fn slot_bytes<'a>(
        &'a self,
        slot: u32,
        buf: &'a mut [u8],
        verify: bool,
    ) -> Result<&'a [u8], StorageError> {
        if let Some(b) = self.staged.get(&slot) {
            return Ok(b);
        }
        self.vectors.read(slot, buf)?;
        if verify {
            self.vectors.verify(slot, buf)?;
        }
        Ok(buf)
    }

    /// Builds the SQ8 copy from the live slots (cosine collections with a graph only).
    fn sq8_rebuild(&mut self) -> Result<(), StorageError> {
        if self.codec.metric() != Metric::Cosine || self.vectors.slots_slice().is_none() {
            self.sq8 = None;
            return Ok(());
        }
        let dim = self.codec.dimension() as usize;
        let mut rows = vec![0i8; self.owners.len() * dim];
        let mut buf = vec![0u8; self.codec.slot_size()];
        for (slot, owner) in self.owners.iter().enumerate() {
            if owner.is_none() {
                continue;
            }
            let bytes = self.slot_bytes(slot as u32, &mut buf, false)?;
            with_f32(bytes, |v| {
                quantize_into(v, &mut rows[slot * dim..(slot + 1) * dim])
            });
        }
        self.sq8 = Some(rows);
        Ok(())
    }

    /// `put` for each point of a batch, in order, then links their slots in the graph (even
    /// when a put fails part way: what was put is linked).
    fn put_all(
        &mut self,
        points: impl IntoIterator<Item = (u64, Vec<u8>, Option<Value>)>,
    ) -> Result<(), StorageError> {
        let mut slots = Vec::new();
        let mut result = Ok(());
        for (id, vector, payload) in points {
            match self.put(id, vector, payload) {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.link_all(&slots);
        result
    }

    /// Sets `id` to `vector` (encoded) and `payload`: in memory, and in the vector file unless
    /// the slot is pinned (see the module docs). Returns the slot, which the caller links.
    fn put(
        &mut self,
        id: u64,
        vector: Vec<u8>,
        payload: Option<Value>,
    ) -> Result<u32, StorageError> {
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
        self.sq8_set(slot, &vector);
        // A read-only open keeps replayed vectors in memory.
        if self.options.read_only || self.pinned.get(slot as usize).copied().unwrap_or(false) {
            self.staged.insert(slot, vector);
        } else {
            self.vectors.reserve(self.owners.len() as u32)?;
            self.vectors.write(slot, &vector)?;
        }
        match payload {
            Some(v) => self.payloads.insert(id, v),
            None => self.payloads.remove(&id),
        };
        Ok(slot)
    }

    /// Links `slots` (in order, each once) into the graph: slots already in it are re-linked
    /// one by one; new ones are inserted in batches of [`LINK_BATCH`], whose searches run on
    /// every core natively (see `Graph::insert_batch`: the result does not depend on it).
    fn link_all(&mut self, slots: &[u32]) {
        let (Some(graph), Some(bytes)) = (self.graph.as_mut(), self.vectors.slots_slice()) else {
            return;
        };
        let space = SlotSpace {
            codec: self.codec,
            slots: bytes,
            staged: &self.staged,
        };
        let mut seen = std::collections::HashSet::with_capacity(slots.len());
        let mut fresh = Vec::with_capacity(slots.len());
        for &slot in slots {
            if !seen.insert(slot) {
                continue;
            }
            if graph.contains(slot) {
                graph.insert(&space, slot, &mut self.scratch);
            } else {
                fresh.push(slot);
            }
        }
        let walk = self.sq8.as_deref().map(|rows| Sq8Space {
            rows,
            dim: self.codec.dimension() as usize,
        });
        for batch in fresh.chunks(LINK_BATCH) {
            let threads = build_threads(batch.len());
            match &walk {
                Some(walk) => graph.insert_batch(&space, walk, batch, threads, &mut self.scratch),
                None => graph.insert_batch(&space, &space, batch, threads, &mut self.scratch),
            }
        }
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
        let live: Vec<u32> = (0..self.owners.len() as u32)
            .filter(|&s| self.owners[s as usize].is_some())
            .collect();
        self.link_all(&live);
    }

    /// The body of [`Collection::check`].
    fn check(&self, report: &mut CheckReport) {
        // The checkpoint.
        let cpath = file(&self.path, "checkpoint");
        let mut first_lsn = None;
        let mut checkpoint_points = 0;
        match self.dir.read_file(&cpath) {
            Ok(Some(bytes)) => {
                report.bytes_checked += bytes.len() as u64;
                match Checkpoint::decode(&bytes, &cpath) {
                    Ok(cp) => {
                        if (cp.generation, cp.vectors_generation)
                            != (self.generation, self.vectors_generation)
                        {
                            report.problem(
                                &cpath,
                                None,
                                format!(
                                    "generation {}/{} on disk, {}/{} in use",
                                    cp.generation,
                                    cp.vectors_generation,
                                    self.generation,
                                    self.vectors_generation
                                ),
                            );
                        }
                        first_lsn = Some(cp.next_lsn);
                        checkpoint_points = cp.entries.len();
                    }
                    Err(e) => report.error(&cpath, &e.into()),
                }
            }
            Ok(None) => report.problem(&cpath, None, "the checkpoint file is missing"),
            Err(e) => report.error(&cpath, &e.into()),
        }

        // The log: every frame's checksum, again.
        let wpath = file(&self.path, "wal");
        match (self.wal.read_all(), first_lsn) {
            (Ok(bytes), Some(lsn)) => {
                report.bytes_checked += bytes.len() as u64;
                match crate::wal::scan(&bytes, &wpath, self.generation, lsn) {
                    Ok(rec) => {
                        report.wal_records = rec.records.len() as u64;
                        if let Some(at) = rec.torn_at {
                            let what = format!("a torn tail of {} bytes", rec.dropped_bytes);
                            if self.options.read_only {
                                report.notes.push(format!(
                                    "{wpath}: {what} at offset {at} (an open for writing drops it)"
                                ));
                            } else {
                                report.problem(&wpath, Some(at), what);
                            }
                        }
                    }
                    Err(e) => report.error(&wpath, &e.into()),
                }
            }
            (Ok(_), None) => {}
            (Err(e), _) => report.error(&wpath, &e.into()),
        }

        // The vector file: its header, and every live slot's bytes.
        let vpath = self.vectors.path().to_string();
        if let Err(e) = self.vectors.check_header(&self.config) {
            report.error(&vpath, &e.into());
        }
        let mut buf = vec![0u8; self.codec.slot_size()];
        for (slot, owner) in self.owners.iter().enumerate() {
            let Some(id) = owner else { continue };
            let bytes = match self.slot_bytes(slot as u32, &mut buf, false) {
                Ok(bytes) => bytes,
                Err(e) => {
                    report.error(&vpath, &e.into());
                    break;
                }
            };
            report.bytes_checked += bytes.len() as u64;
            if let Some(rows) = &self.sq8 {
                let dim = self.codec.dimension() as usize;
                let want = with_f32(bytes, quantize);
                if rows.get(slot * dim..(slot + 1) * dim) != Some(&want[..]) {
                    report.problem(
                        &vpath,
                        None,
                        format!("slot {slot}: the SQ8 copy in memory is stale"),
                    );
                }
            }
            if !self.staged.contains_key(&(slot as u32))
                && let Err(e) = self.vectors.verify(slot as u32, bytes)
            {
                report.error(&vpath, &e.into());
            } else if let Some(why) = self.codec.check_stored(bytes) {
                let at = self.vectors.offset(slot as u32);
                report.problem(&vpath, Some(at), format!("slot {slot} (id {id}): {why}"));
            }
        }

        // The id map, the free list and the payloads agree.
        for (&id, &slot) in &self.ids {
            if self.owners.get(slot as usize).copied().flatten() != Some(id) {
                report.problem(
                    &cpath,
                    None,
                    format!("id {id} maps to slot {slot}, which is not its"),
                );
            }
        }
        for (slot, owner) in self.owners.iter().enumerate() {
            let free = self.free.contains(&(slot as u32));
            match owner {
                Some(id) if self.ids.get(id) != Some(&(slot as u32)) => {
                    report.problem(
                        &cpath,
                        None,
                        format!("slot {slot} names id {id}, which maps elsewhere"),
                    );
                }
                Some(_) if free => report.problem(
                    &cpath,
                    None,
                    format!("live slot {slot} is on the free list"),
                ),
                None if !free => report.problem(
                    &cpath,
                    None,
                    format!("free slot {slot} is not on the free list"),
                ),
                _ => {}
            }
        }
        if let Some(id) = self.payloads.keys().find(|id| !self.ids.contains_key(id)) {
            report.problem(
                &cpath,
                None,
                format!("a payload for id {id}, which does not exist"),
            );
        }

        // The graph: its structure, its coverage, and that search reaches every live node.
        let gpath = graph_file(&self.path, self.generation);
        if let Some(graph) = &self.graph {
            if let Err(why) = graph.validate() {
                report.problem(&gpath, None, format!("graph in memory: {why}"));
            } else {
                let missing = (0..self.owners.len() as u32)
                    .filter(|&s| self.owners[s as usize].is_some() && !graph.contains(s))
                    .count();
                if missing > 0 {
                    report.problem(
                        &gpath,
                        None,
                        format!("{missing} live points are not in the graph"),
                    );
                }
                let lost: Vec<u32> = graph
                    .unreachable()
                    .into_iter()
                    .filter(|&n| self.owners.get(n as usize).copied().flatten().is_some())
                    .collect();
                if let Some(first) = lost.first() {
                    report.problem(
                        &gpath,
                        None,
                        format!("{} live nodes cannot be reached from the entry point (first: slot {first})", lost.len()),
                    );
                }
            }
            match self.dir.read_file(&gpath) {
                Ok(Some(bytes)) => {
                    report.bytes_checked += bytes.len() as u64;
                    let params = self.config.hnsw_params();
                    if let Err(why) =
                        hnsw::file::decode(&bytes, self.generation, params, self.owners.len())
                    {
                        report.problem(&gpath, None, why);
                    }
                }
                Ok(None) if checkpoint_points > 0 => report.notes.push(format!(
                    "{gpath}: missing, so the graph was rebuilt on open"
                )),
                Ok(None) => {}
                Err(e) => report.error(&gpath, &e.into()),
            }
        }
        if let Some(why) = &self.recovery.graph_problem {
            report.notes.push(format!("graph rebuilt on open: {why}"));
        }
    }

    /// Removes files of other generations than the checkpoint's: what a crash left of a
    /// checkpoint or compaction that did not commit, or of one whose clean-up it cut short.
    fn remove_leftovers(&mut self) -> Result<(), StorageError> {
        let keep = [
            format!("vectors-{}", self.vectors_generation),
            format!("vectors-{}.crc", self.vectors_generation),
            format!("graph-{}", self.generation),
        ];
        for e in self.dir.list(&self.path)? {
            let stale = !e.is_dir
                && !keep.contains(&e.name)
                && (e.name.starts_with("vectors-")
                    || e.name.starts_with("graph-")
                    || e.name.ends_with(".tmp"));
            if stale {
                self.dir.remove_file(&file(&self.path, &e.name))?;
            }
        }
        Ok(())
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
        let next = self.generation + 1;
        let cp = self.checkpoint_body(next, self.vectors_generation, |s| s)?;
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
        let gpath = graph_file(&self.path, next);
        let old_graph = graph_file(&self.path, self.generation);
        self.guard(|st| {
            st.vectors.sync()?;
            // The graph first: a checkpoint that exists always has its graph, and the old
            // checkpoint keeps its own until the new one is durable.
            if let Some(g) = &graph {
                st.dir.write_atomic(&gpath, g)?;
            }
            st.dir.write_atomic(&cpath, &bytes)?;
            st.pinned = st.owners.iter().map(Option::is_some).collect();
            let lsn = st.wal.next_lsn();
            st.wal.reset(next, lsn)?;
            st.generation = next;
            st.dir.remove_file(&old_graph)
        })
    }

    /// The checkpoint of the current state as generation `generation`, with each slot
    /// renamed by `slot_of`.
    fn checkpoint_body(
        &self,
        generation: u32,
        vectors_generation: u32,
        slot_of: impl Fn(u32) -> u32,
    ) -> Result<Checkpoint> {
        let mut entries: Vec<checkpoint::Entry> = Vec::with_capacity(self.ids.len());
        for (&id, &slot) in &self.ids {
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
            slot_count: self.owners.len() as u32,
            entries,
        })
    }

    /// Compaction (docs/format.md): live slots are copied densely, in slot order, into a new
    /// vector file `vectors-<g+1>`; the graph drops its tombstones and is renumbered into
    /// `graph-<g+1>`; then the checkpoint of generation `g + 1`, which names both, is written
    /// atomically. That write is the commit: a crash before it leaves the old checkpoint and
    /// its files untouched (the new files are leftovers, removed on open); a crash after it
    /// finds the new state (the old log is of an older generation and is discarded; its
    /// records are all in the new checkpoint). Old files go last.
    fn compact(&mut self) -> Result<CompactReport> {
        self.flush()?;
        let before = self.vectors.len() + self.wal.len();
        let slots_before = self.owners.len() as u32;
        let tombstones = self
            .graph
            .as_ref()
            .map_or(0, |g| g.nodes() - self.ids.len());
        let mut map: Vec<Option<u32>> = vec![None; self.owners.len()];
        let mut next_slot = 0u32;
        for (slot, owner) in self.owners.iter().enumerate() {
            if owner.is_some() {
                map[slot] = Some(next_slot);
                next_slot += 1;
            }
        }
        let live = next_slot;
        let next = self.generation + 1;
        let cp = self.checkpoint_body(next, next, |s| map[s as usize].expect("live slot"))?;
        // Slot counts shrink to the live points: slot_count is the new high-water mark.
        let cp = Checkpoint {
            slot_count: live,
            ..cp
        };
        let vpath = vectors_file(&self.path, next);
        let gpath = graph_file(&self.path, next);
        let cpath = file(&self.path, "checkpoint");
        let (old_vectors, old_graph) = (
            self.vectors.path().to_string(),
            graph_file(&self.path, self.generation),
        );
        let config = self.config.clone();
        let codec = self.codec;
        let vectors = self.guard(|st| {
            let mut vectors = VectorFile::create(
                st.dir.open_region(&vpath, Access::Random)?,
                st.dir.open_region(&sums_path(&vpath), Access::Sequential)?,
                &vpath,
                &config,
                codec.slot_size(),
            )?;
            vectors.reserve(live)?;
            let mut buf = vec![0u8; codec.slot_size()];
            for (slot, to) in map.iter().enumerate() {
                if let Some(to) = to {
                    st.vectors.read(slot as u32, &mut buf)?;
                    vectors.write(*to, &buf)?;
                }
            }
            vectors.sync()?;
            Ok(vectors)
        })?;
        let graph = match (
            &self.graph,
            self.vectors.slots_slice(),
            vectors.slots_slice(),
        ) {
            (Some(g), Some(old), Some(new)) => {
                let old_space = SlotSpace {
                    codec,
                    slots: old,
                    staged: &self.staged,
                };
                let new_space = SlotSpace {
                    codec,
                    slots: new,
                    staged: &self.staged,
                };
                // Past a quarter of tombstones the repaired graph falls behind a fresh one
                // (recall@10 0.93 against 0.985 at half deleted): rebuild, as checkpoints do.
                let mut g = if tombstones * 4 > g.nodes() {
                    let mut fresh = Graph::new(self.config.hnsw_params(), u64::from(next));
                    let all: Vec<u32> = (0..live).collect();
                    for batch in all.chunks(LINK_BATCH) {
                        let threads = build_threads(batch.len());
                        fresh.insert_batch(
                            &new_space,
                            &new_space,
                            batch,
                            threads,
                            &mut self.scratch,
                        );
                    }
                    fresh
                } else {
                    g.compact(&old_space, &map)
                };
                g.reconnect(&new_space, &mut self.scratch);
                Some(g)
            }
            _ => None,
        };
        let graph_bytes = graph.as_ref().map(|g| hnsw::file::encode(g, next));
        let bytes = cp.encode();
        self.guard(|st| {
            if let Some(g) = &graph_bytes {
                st.dir.write_atomic(&gpath, g)?;
            }
            st.dir.write_atomic(&cpath, &bytes)
        })?;
        // Committed: the in-memory state follows.
        self.vectors = vectors;
        self.graph = graph;
        self.owners = self
            .owners
            .iter()
            .filter(|o| o.is_some())
            .copied()
            .collect();
        for (slot, owner) in self.owners.iter().enumerate() {
            self.ids.insert(owner.expect("live"), slot as u32);
        }
        self.free.clear();
        self.pinned = vec![true; self.owners.len()];
        self.vectors_generation = next;
        self.guard(|st| st.sq8_rebuild())?;
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
            bytes_after: self.vectors.len() + self.wal.len(),
        })
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

/// Copies the files of the collection at `from` in `src` to `to` in `dest`: everything but
/// temporary files, the checkpoint last (it is the collection's existence marker). Regions are
/// copied in runs, skipping whole zero pages so that holes stay holes. Each file is durable
/// before the checkpoint is written.
pub(crate) fn copy_collection_files(
    src: &dyn Directory,
    from: &str,
    dest: &dyn Directory,
    to: &str,
) -> Result<u64, StorageError> {
    const RUN: usize = 1 << 20;
    let mut copied = 0u64;
    dest.create_dir(to)?;
    for e in src.list(from)? {
        if e.is_dir || e.name == "checkpoint" || e.name.ends_with(".tmp") {
            continue;
        }
        let (s, d) = (file(from, &e.name), file(to, &e.name));
        let input = src.open_region(&s, Access::Sequential)?;
        let mut output = dest.open_region(&d, Access::Sequential)?;
        output.set_len(0)?;
        let len = input.len();
        let mut buf = vec![0u8; RUN];
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(RUN as u64) as usize;
            input.read(at, &mut buf[..n])?;
            for (i, page) in buf[..n].chunks(PAGE as usize).enumerate() {
                if page.iter().any(|&b| b != 0) {
                    output.write(at + (i * PAGE as usize) as u64, page)?;
                }
            }
            at += n as u64;
        }
        output.set_len(len)?;
        output.sync()?;
        copied += len;
    }
    let cpath = file(from, "checkpoint");
    let bytes = src
        .read_file(&cpath)?
        .ok_or_else(|| StorageError::corrupted(&cpath, 0, "the checkpoint file is missing"))?;
    dest.write_atomic(&file(to, "checkpoint"), &bytes)?;
    Ok(copied + bytes.len() as u64)
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
