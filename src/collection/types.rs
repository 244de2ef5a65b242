//! The values a collection's API takes and returns.

use crate::config::Metric;
use crate::distance::Kernels;
use crate::filter::Filter;
use serde_json::Value;

/// The largest `k` a search may ask for.
pub const MAX_K: usize = 10_000;
/// The largest `ef` a search may ask for.
pub const MAX_EF: usize = 100_000;
/// The candidate list size of a search that does not choose one (at least `k`).
pub const DEFAULT_EF: usize = 64;
/// Collections smaller than this are searched exactly: a scan is as fast as the graph there.
pub const EXACT_BELOW: usize = 1_000;
/// A filter on fields without an index that an estimated fraction of points below this passes
/// is searched exactly: the graph would have to visit most of itself to find enough matches.
pub const EXACT_SELECTIVITY: f64 = 0.02;
/// A filter the payload indexes answer with at most `EXACT_MATCHES_PER_EF * ef` points is
/// searched by scoring exactly those points: fewer distances than a graph walk computes.
pub const EXACT_MATCHES_PER_EF: usize = 16;
/// A filter the payload indexes answer with `c` points, more than the exact bound, is
/// searched by scoring those points on the SQ8 copy (keeping the best `ef`, reranked
/// exactly) when `c² <= QUANTIZED_SCAN_FACTOR * ef * n`: a walk that only returns matches
/// visits about `1/selectivity` times the nodes of an unfiltered one, a scan costs `c`.
pub const QUANTIZED_SCAN_FACTOR: usize = 32;
/// The most bytes one read may return (a search batch, a `get`), counting every hit or point
/// ([`RESULT_ITEM_BYTES`]), every list of hits ([`RESULT_LIST_BYTES`]), payload text and
/// vectors; a scroll page stops short of it instead. Bounds the memory a call needs, which a
/// component's memory cap would otherwise turn into a trap, and stays under what a component
/// host lets one call return (wasmtime charges the host-side size of what it copies out
/// against 128 MiB a call by default).
pub const MAX_RESULT_BYTES: usize = 64 << 20;
/// What one hit or point costs a read besides its payload text and vector: the size a
/// 64-bit host holds it in across the component boundary (an id, a score, two optional
/// lists), which is what a host's per-call allowance is charged.
pub const RESULT_ITEM_BYTES: usize = 64;
/// What one list of hits (one query of a batch) costs a read: a list's size on a 64-bit host.
pub const RESULT_LIST_BYTES: usize = 24;
/// The default of [`Options::max_unindexed`]: the points a search may score exactly beside
/// the graph walk while the graph catches up.
pub const DEFAULT_MAX_UNINDEXED: usize = 20_000;
/// The most points one page of [`crate::Collection::scroll`] returns.
pub const MAX_SCROLL: usize = MAX_K;

/// How a search ran (see [`crate::Collection::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanKind {
    /// Every point scored (no graph, a small collection, `exact`, or an unindexed filter
    /// that few points pass).
    FullScan,
    /// Only the points the payload indexes say may match are scored.
    IndexedScan,
    /// Only the points the payload indexes say may match are scored, on the SQ8 copy; the
    /// best `ef` are reranked exactly.
    QuantizedScan,
    /// The graph walk: every node traversed (so the walk is as connected as the graph),
    /// only matches returned.
    Graph,
    /// A text leg: the postings of the query's terms walked by MaxScore, the filter checked
    /// only for the points that would enter the top `k`.
    Postings,
}

impl PlanKind {
    /// Every kind, for conversions that must cover them all (`wit_convert!`, whose host-side
    /// expansion needs a wildcard arm: a test round-trips each of these through it).
    pub const ALL: [PlanKind; 5] = [
        PlanKind::FullScan,
        PlanKind::IndexedScan,
        PlanKind::QuantizedScan,
        PlanKind::Graph,
        PlanKind::Postings,
    ];

    /// The kind's place in [`PlanKind::ALL`]: no wildcard, so a new kind does not compile
    /// until it is listed (a unit test checks the two agree).
    pub const fn position(self) -> usize {
        match self {
            PlanKind::FullScan => 0,
            PlanKind::IndexedScan => 1,
            PlanKind::QuantizedScan => 2,
            PlanKind::Graph => 3,
            PlanKind::Postings => 4,
        }
    }
}

/// A search's plan: how it runs, and what it knew of the filter.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// How the search runs.
    pub kind: PlanKind,
    /// The points the filter passes, when the indexes answered it whole; else `None`.
    pub matches: Option<u64>,
    /// The fraction of points estimated to pass (exact when `matches` is known).
    pub selectivity: f64,
}

impl Plan {
    /// A plan of `kind`, with the filter's estimated matches and selectivity.
    pub fn new(kind: PlanKind, matches: Option<u64>, selectivity: f64) -> Plan {
        Plan {
            kind,
            matches,
            selectivity,
        }
    }
}

/// What a read returns of each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Include {
    /// The vector (left out: an empty `vector`).
    pub vector: bool,
    /// The payload (left out: `None`).
    pub payload: bool,
}

impl Include {
    /// The vector and the payload.
    pub const ALL: Include = Include {
        vector: true,
        payload: true,
    };

    /// What to include of each point.
    pub fn new(vector: bool, payload: bool) -> Include {
        Include { vector, payload }
    }
}

impl Default for Include {
    fn default() -> Include {
        Include::ALL
    }
}

/// One page of [`crate::Collection::scroll`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// By id, ascending.
    pub points: Vec<Point>,
    /// The id the next page starts at; `None` when this is the last page.
    pub next: Option<u64>,
}

impl Page {
    /// A page of `points`, with the cursor of the next one (`None`: the last page).
    pub fn new(points: Vec<Point>, next: Option<u64>) -> Page {
        Page { points, next }
    }
}

/// How to search.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SearchParams<'a> {
    /// Only points whose payload passes.
    pub filter: Option<&'a Filter>,
    /// HNSW candidate list size (recall/speed trade-off); `None`: `max(k, DEFAULT_EF)`.
    pub ef: Option<usize>,
    /// Scan every point instead of walking the graph.
    pub exact: bool,
    /// Only hits scoring at least this well: `score >= t` where a higher score is better
    /// (cosine, dot, jaccard), `score <= t` where lower is (euclidean, hamming).
    pub score_threshold: Option<f32>,
    /// What hits carry: payloads by default, no vectors.
    pub include: Include,
}

impl Default for SearchParams<'_> {
    fn default() -> Self {
        SearchParams {
            filter: None,
            ef: None,
            exact: false,
            score_threshold: None,
            include: Include::new(false, true),
        }
    }
}

impl<'a> SearchParams<'a> {
    /// Sets [`SearchParams::filter`]: `with_filter(&f)`, or an `Option` where the caller
    /// has one.
    pub fn with_filter(mut self, filter: impl Into<Option<&'a Filter>>) -> Self {
        self.filter = filter.into();
        self
    }

    /// Sets [`SearchParams::ef`]: `with_ef(128)`, or an `Option`.
    pub fn with_ef(mut self, ef: impl Into<Option<usize>>) -> Self {
        self.ef = ef.into();
        self
    }

    /// Sets [`SearchParams::exact`].
    pub fn with_exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Sets [`SearchParams::score_threshold`]: `with_score_threshold(0.8)`, or an `Option`.
    pub fn with_score_threshold(mut self, t: impl Into<Option<f32>>) -> Self {
        self.score_threshold = t.into();
        self
    }

    /// Sets what hits carry ([`SearchParams::include`]).
    pub fn with_include(mut self, include: Include) -> Self {
        self.include = include;
        self
    }

    /// Sets whether hits carry their payloads.
    pub fn with_payload(mut self, on: bool) -> Self {
        self.include.payload = on;
        self
    }

    /// Sets whether hits carry their vectors.
    pub fn with_vector(mut self, on: bool) -> Self {
        self.include.vector = on;
        self
    }
}

/// A point to upsert, or one read back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Point {
    /// The point's id (any `u64`).
    pub id: u64,
    /// The vector, of the collection's dimension.
    pub vector: Vec<f32>,
    /// A JSON object, or nothing.
    pub payload: Option<Value>,
    /// Sparse vectors by field name (fields the collection declares, each at most once; an
    /// empty one is the same as none). Read back with the vector ([`Include::vector`]).
    pub sparse: Vec<(String, crate::SparseVector)>,
}

impl Point {
    /// A point without payload.
    pub fn new(id: u64, vector: Vec<f32>) -> Point {
        Point {
            id,
            vector,
            payload: None,
            sparse: Vec::new(),
        }
    }

    /// Adds a sparse vector in the field `name`.
    pub fn with_sparse(mut self, name: impl Into<String>, vector: crate::SparseVector) -> Point {
        self.sparse.push((name.into(), vector));
        self
    }

    /// Sets the payload (a JSON object).
    pub fn with_payload(mut self, payload: Value) -> Point {
        self.payload = Some(payload);
        self
    }

    /// Sets or clears the payload.
    pub fn with_payload_opt(mut self, payload: Option<Value>) -> Point {
        self.payload = payload;
        self
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Hit {
    /// The point's id.
    pub id: u64,
    /// The metric's score (see [`Metric`]): hits come best first.
    pub score: f32,
    /// The point's payload, when asked for.
    pub payload: Option<Value>,
    /// The vector, when asked for ([`SearchParams::with_vector`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl Hit {
    /// A hit without vector.
    pub fn new(id: u64, score: f32, payload: Option<Value>) -> Hit {
        Hit {
            id,
            score,
            payload,
            vector: None,
        }
    }
}

/// Engine options shared by the collections of a database.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Checkpoint once the log grows past this many bytes (it is checked at `flush` and after
    /// each write, so the log stays within this plus one batch).
    pub checkpoint_bytes: u64,
    /// Open without writing anything: no log repair, no file clean-up, every write refused
    /// with [`Error::ReadOnly`](crate::Error::ReadOnly). Replayed log records stay in memory.
    pub read_only: bool,
    /// Threads for graph builds; `None`: every core (one in WebAssembly). The graph built does
    /// not depend on it.
    pub threads: Option<usize>,
    /// Walk the graph over the SQ8 copy and rerank exactly (float metrics); false walks the f32
    /// vectors. Builds always walk and choose links on the SQ8 copy where there is one.
    pub sq8_search: bool,
    /// Which distance kernels run (results are bit-identical either way).
    pub kernels: Kernels,
    /// Writes never wait for the graph, up to this many waiting points: the write that leaves
    /// more links them all (see [`Collection::optimize`](super::Collection::optimize)).
    /// Searches scan the waiting points beside the walk, so this bounds what that costs them.
    pub max_unindexed: usize,
    /// What of a collection's vectors lives in memory.
    pub vector_memory: VectorMemory,
    /// How the graph keeps up with writes by itself.
    pub linking: Linking,
    /// A clean close (the last handle dropped, [`crate::Database::close`]) checkpoints a
    /// collection when a reopen would otherwise replay many points onto the graph's waiting
    /// list (at least a step of them, and a sixteenth of the collection). False leaves the
    /// log for the next open to replay, as after a crash.
    pub checkpoint_at_close: bool,
}

/// How a collection's graph keeps up with writes without being asked ([`Options::linking`]).
/// Writes never wait for it in any mode; searches scan the points still waiting beside the
/// walk. The catch-up links whole steps of the oldest waiting points, the same steps
/// whichever mode runs them, so an append-only workload ends with the same graph in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Linking {
    /// A thread of the database links waiting points, a step at a time, once writes pause
    /// (it steps aside for every writer). The default natively. Where there are no threads
    /// (WebAssembly) it is [`Linking::AtFlush`].
    Background,
    /// Each [`Collection::flush`](super::Collection::flush) links the waiting points in whole
    /// steps before it returns: the default in WebAssembly, and what a caller that wants the
    /// same graph at the same moment on every build chooses.
    AtFlush,
    /// Only the bound ([`Options::max_unindexed`]), `optimize`, checkpoints and compactions
    /// link.
    Manual,
}

impl Linking {
    /// The mode that runs here: [`Linking::Background`] needs threads.
    pub(crate) fn effective(self) -> Linking {
        match self {
            Linking::Background if cfg!(target_arch = "wasm32") => Linking::AtFlush,
            other => other,
        }
    }
}

/// What of a collection's vectors lives in memory: a choice of [`Options`] that matters
/// where memory is capped (a WebAssembly guest: 4 GiB at most, often far less).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VectorMemory {
    /// The whole vector file: memory-mapped natively, copied into memory in the component.
    /// Searches and builds read exact vectors in place.
    #[default]
    Full,
    /// Only the SQ8 copy (a quarter of the f32 bytes) and the graph, for float collections:
    /// the graph is built and walked on the SQ8 copy, and the exact vectors are read by
    /// position to rerank what a walk found. Bit vectors keep no copy: they scan by position.
    /// Files are the same format either way, and so is the graph (both modes choose links on
    /// the SQ8 copy).
    Quantized,
}

impl VectorMemory {
    /// Every mode (see [`PlanKind::ALL`]).
    pub const ALL: [VectorMemory; 2] = [VectorMemory::Full, VectorMemory::Quantized];

    /// The mode's place in [`VectorMemory::ALL`] (see [`PlanKind::position`]).
    pub const fn position(self) -> usize {
        match self {
            VectorMemory::Full => 0,
            VectorMemory::Quantized => 1,
        }
    }
}

impl Options {
    /// Sets [`Options::read_only`].
    pub fn with_read_only(mut self, read_only: bool) -> Options {
        self.read_only = read_only;
        self
    }

    /// Sets [`Options::threads`]: `with_threads(4)`, or an `Option` (`None`: every core).
    pub fn with_threads(mut self, threads: impl Into<Option<usize>>) -> Options {
        self.threads = threads.into();
        self
    }

    /// Sets [`Options::sq8_search`].
    pub fn with_sq8_search(mut self, on: bool) -> Options {
        self.sq8_search = on;
        self
    }

    /// Sets [`Options::kernels`].
    pub fn with_kernels(mut self, kernels: Kernels) -> Options {
        self.kernels = kernels;
        self
    }

    /// Sets [`Options::max_unindexed`].
    pub fn with_max_unindexed(mut self, points: usize) -> Options {
        self.max_unindexed = points;
        self
    }

    /// Sets [`Options::vector_memory`].
    pub fn with_vector_memory(mut self, memory: VectorMemory) -> Options {
        self.vector_memory = memory;
        self
    }

    /// Sets [`Options::linking`].
    pub fn with_linking(mut self, linking: Linking) -> Options {
        self.linking = linking;
        self
    }

    /// Sets [`Options::checkpoint_at_close`].
    pub fn with_checkpoint_at_close(mut self, on: bool) -> Options {
        self.checkpoint_at_close = on;
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
            threads: None,
            sq8_search: true,
            kernels: Kernels::Best,
            max_unindexed: DEFAULT_MAX_UNINDEXED,
            vector_memory: VectorMemory::Full,
            linking: Linking::Background.effective(),
            checkpoint_at_close: true,
        }
    }
}

/// What the last open's recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Why the graph was rebuilt, when it was.
    pub graph_problem: Option<String>,
}

/// What [`Collection::compact`](crate::Collection::compact) did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompactReport {
    /// Live points (unchanged by compaction).
    pub points: u64,
    /// Slots before the compaction (live points and holes).
    pub slots_before: u32,
    /// Equal to `points`: the slots are dense.
    pub slots_after: u32,
    /// Deleted points dropped from the graph.
    pub tombstones_dropped: u64,
    /// Length of the vector file plus the log, before and after. (Pages of deleted slots that
    /// already left the graph were given back as holes; these are the lengths the files span.)
    pub bytes_before: u64,
    /// Bytes of the collection's files after it.
    pub bytes_after: u64,
}

/// A snapshot of a collection's counters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Live points.
    pub len: usize,
    /// The vectors' dimension.
    pub dimension: u32,
    /// The metric searches rank by.
    pub metric: Metric,
    /// Slots below the high-water mark (live + free).
    pub slots: u32,
    /// Slots freed by deletes, to be reused by inserts.
    pub free_slots: usize,
    /// Bytes in the write-ahead log.
    pub wal_bytes: u64,
    /// Length of the vector file (holes included).
    pub vector_file_bytes: u64,
    /// True when some write is not yet durable (call `flush`); never on a read-only open,
    /// which writes nothing (what it replayed from the log was durable already).
    pub unflushed: bool,
    /// The current log generation (one more per checkpoint).
    pub generation: u32,
    /// What the last open's recovery did.
    pub recovery: RecoveryStats,
    /// Nodes in the HNSW graph (live and deleted-but-not-yet-rebuilt).
    pub graph_nodes: usize,
    /// Live points the graph does not reflect yet (new or rewritten since it last caught up;
    /// searches scan them beside the walk). See [`Collection::optimize`](super::Collection::optimize).
    pub unindexed: usize,
    /// Live payloads as compact JSON text, and the memory holding them.
    pub payload_bytes: u64,
    /// Bytes the payloads take in memory.
    pub payload_memory: u64,
    /// The length of the payload file that counts.
    pub payload_file_bytes: u64,
    /// Declared payload indexes.
    pub indexes: usize,
}
