//! One interface over the engine, whether it runs natively (linked as a library) or as the
//! component under wasmtime. The CLI and the equivalence tests use it.

use crate::runtime::exports::veles::db::engine::Guest as Engine;
use crate::runtime::veles::db::types as t;
use crate::runtime::{HostState, Limits, Mount, Runtime, Veles, ensure_dir, ticks};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use veles::{
    CheckReport, CollectionConfig, CompactReport, Condition, Filter, FlatNode, Hit, Metric, Point,
    Problem, RecoveryStats, SearchParams, SnapshotReport, Stats,
};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

/// An error from either backend.
#[derive(Debug)]
pub enum HostError {
    /// A typed engine error: from the library, or the component's error mapped back.
    Engine(veles::Error),
    /// The component was stopped by a trap (`Interrupt` when its deadline passed; memory
    /// exhaustion shows as the guest's abort). The database must be reopened.
    Trap {
        trap: Option<wasmtime::Trap>,
        message: String,
    },
    /// The component could not be loaded or instantiated, or returned malformed data.
    Runtime(anyhow::Error),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Engine(e) => e.fmt(f),
            HostError::Trap {
                trap: Some(wasmtime::Trap::Interrupt),
                ..
            } => {
                write!(
                    f,
                    "the component was stopped: the call ran past its deadline"
                )
            }
            HostError::Trap { message, .. } => write!(f, "the component was stopped: {message}"),
            HostError::Runtime(e) => write!(f, "the component could not run: {e:#}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<veles::Error> for HostError {
    fn from(e: veles::Error) -> Self {
        HostError::Engine(e)
    }
}

impl HostError {
    /// True when the component was interrupted by its call deadline.
    pub fn is_deadline(&self) -> bool {
        matches!(
            self,
            HostError::Trap {
                trap: Some(wasmtime::Trap::Interrupt),
                ..
            }
        )
    }
}

pub type HostResult<T> = Result<T, HostError>;

/// The engine's operations, addressed by collection name.
pub trait Backend {
    /// "native" or "component".
    fn kind(&self) -> &'static str;
    fn create_collection(&mut self, name: &str, config: CollectionConfig) -> HostResult<()>;
    fn list(&mut self) -> HostResult<Vec<String>>;
    fn drop_collection(&mut self, name: &str) -> HostResult<()>;
    fn config(&mut self, name: &str) -> HostResult<CollectionConfig>;
    fn upsert(&mut self, name: &str, points: &[Point]) -> HostResult<()>;
    fn get(&mut self, name: &str, ids: &[u64]) -> HostResult<Vec<Option<Point>>>;
    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64>;
    fn search(
        &mut self,
        name: &str,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Hit>>;
    fn search_batch(
        &mut self,
        name: &str,
        queries: &[Vec<f32>],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Vec<Hit>>>;
    fn flush(&mut self, name: &str) -> HostResult<()>;
    fn checkpoint(&mut self, name: &str) -> HostResult<()>;
    fn stats(&mut self, name: &str) -> HostResult<Stats>;
    /// Checks every collection of the database.
    fn check(&mut self) -> HostResult<Vec<CheckReport>>;
    fn compact(&mut self, name: &str) -> HostResult<CompactReport>;
    /// Copies the database into `dest` (for the component: the directory given as
    /// [`OpenOptions::snapshot_dest`] when it was opened).
    fn snapshot(&mut self, dest: &Path) -> HostResult<SnapshotReport>;
}

/// How to open a database.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Open for reading only (`veles check`): nothing on disk changes; the component gets a
    /// read-only preopen.
    pub read_only: bool,
    /// A second directory the component may write, as the destination of `snapshot`.
    pub snapshot_dest: Option<PathBuf>,
}

/// Where the component sees `OpenOptions::snapshot_dest`.
const SNAPSHOT_MOUNT: &str = "/snapshot";

/// Opens the database in `dir` natively or through the component.
pub fn open(
    dir: &Path,
    native: bool,
    runtime: Option<&Runtime>,
) -> anyhow::Result<Box<dyn Backend>> {
    open_with(dir, native, runtime, &OpenOptions::default())
}

/// [`open`] with options.
pub fn open_with(
    dir: &Path,
    native: bool,
    runtime: Option<&Runtime>,
    options: &OpenOptions,
) -> anyhow::Result<Box<dyn Backend>> {
    if native {
        return Ok(Box::new(NativeBackend::open_with(dir, options.read_only)?));
    }
    let owned;
    let runtime = match runtime {
        Some(r) => r,
        None => {
            owned = Runtime::new()?;
            &owned
        }
    };
    Ok(Box::new(ComponentBackend::open_with(
        runtime,
        dir,
        &Limits::default(),
        options,
    )?))
}

/// The engine linked as a library.
pub struct NativeBackend {
    db: veles::Database,
    open: HashMap<String, veles::Collection>,
}

impl NativeBackend {
    pub fn open(dir: &Path) -> HostResult<NativeBackend> {
        Self::open_with(dir, false)
    }

    pub fn open_with(dir: &Path, read_only: bool) -> HostResult<NativeBackend> {
        let db = match read_only {
            true => veles::Database::open_read_only(dir)?,
            false => veles::Database::open(dir)?,
        };
        Ok(NativeBackend {
            db,
            open: HashMap::new(),
        })
    }

    fn c(&mut self, name: &str) -> HostResult<&veles::Collection> {
        if !self.open.contains_key(name) {
            let c = self.db.collection(name)?;
            self.open.insert(name.to_string(), c);
        }
        Ok(&self.open[name])
    }
}

impl Backend for NativeBackend {
    fn kind(&self) -> &'static str {
        "native"
    }

    fn create_collection(&mut self, name: &str, config: CollectionConfig) -> HostResult<()> {
        let c = self.db.create_collection(name, config)?;
        self.open.insert(name.to_string(), c);
        Ok(())
    }

    fn list(&mut self) -> HostResult<Vec<String>> {
        Ok(self.db.list()?)
    }

    fn drop_collection(&mut self, name: &str) -> HostResult<()> {
        self.open.remove(name);
        Ok(self.db.drop_collection(name)?)
    }

    fn config(&mut self, name: &str) -> HostResult<CollectionConfig> {
        Ok(self.c(name)?.config().clone())
    }

    fn upsert(&mut self, name: &str, points: &[Point]) -> HostResult<()> {
        Ok(self.c(name)?.upsert(points)?)
    }

    fn get(&mut self, name: &str, ids: &[u64]) -> HostResult<Vec<Option<Point>>> {
        Ok(self.c(name)?.get(ids)?)
    }

    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64> {
        Ok(self.c(name)?.delete(ids)? as u64)
    }

    fn search(
        &mut self,
        name: &str,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Hit>> {
        Ok(self.c(name)?.search_with(query, k, params)?)
    }

    fn search_batch(
        &mut self,
        name: &str,
        queries: &[Vec<f32>],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Vec<Hit>>> {
        let c = self.c(name)?;
        Ok(queries
            .iter()
            .map(|q| c.search_with(q, k, params))
            .collect::<veles::Result<_>>()?)
    }

    fn flush(&mut self, name: &str) -> HostResult<()> {
        Ok(self.c(name)?.flush()?)
    }

    fn check(&mut self) -> HostResult<Vec<CheckReport>> {
        Ok(self.db.check()?)
    }

    fn compact(&mut self, name: &str) -> HostResult<CompactReport> {
        Ok(self.c(name)?.compact()?)
    }

    fn snapshot(&mut self, dest: &Path) -> HostResult<SnapshotReport> {
        Ok(self.db.snapshot(dest)?)
    }

    fn checkpoint(&mut self, name: &str) -> HostResult<()> {
        Ok(self.c(name)?.checkpoint()?)
    }

    fn stats(&mut self, name: &str) -> HostResult<Stats> {
        Ok(self.c(name)?.stats()?)
    }
}

/// The engine as a component in its own store, seeing only its directory.
pub struct ComponentBackend {
    snapshot_dest: Option<PathBuf>,
    store: Store<HostState>,
    bindings: Veles,
    db: ResourceAny,
    open: HashMap<String, ResourceAny>,
    deadline: u64,
    stopped: bool,
}

impl ComponentBackend {
    /// Instantiates the component with only `dir` preopened and opens the database there.
    pub fn open(runtime: &Runtime, dir: &Path, limits: &Limits) -> HostResult<ComponentBackend> {
        Self::open_with(runtime, dir, limits, &OpenOptions::default())
    }

    /// [`ComponentBackend::open`] with options: a read-only preopen and open, and a second
    /// preopened directory for a snapshot.
    pub fn open_with(
        runtime: &Runtime,
        dir: &Path,
        limits: &Limits,
        options: &OpenOptions,
    ) -> HostResult<ComponentBackend> {
        if options.read_only {
            if !dir.is_dir() {
                return Err(HostError::Runtime(anyhow::anyhow!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
        } else {
            ensure_dir(dir).map_err(HostError::Runtime)?;
        }
        let mut mounts = vec![Mount {
            host: dir.to_path_buf(),
            guest: ".".into(),
            writable: !options.read_only,
        }];
        if let Some(dest) = &options.snapshot_dest {
            ensure_dir(dest).map_err(HostError::Runtime)?;
            mounts.push(Mount {
                host: dest.clone(),
                guest: SNAPSHOT_MOUNT.into(),
                writable: true,
            });
        }
        let (mut store, bindings) = runtime
            .instantiate_with(&mounts, limits)
            .map_err(HostError::Runtime)?;
        let deadline = ticks(limits.call_timeout);
        store.set_epoch_deadline(deadline);
        let engine = bindings.veles_db_engine().database();
        let db = outcome(match options.read_only {
            true => engine.call_open_read_only(&mut store, "."),
            false => engine.call_open(&mut store, "."),
        })?;
        Ok(ComponentBackend {
            snapshot_dest: options.snapshot_dest.clone(),
            store,
            bindings,
            db,
            open: HashMap::new(),
            deadline,
            stopped: false,
        })
    }

    /// Runs one call into the component under the deadline; maps its errors.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&Engine, &mut Store<HostState>) -> wasmtime::Result<Result<T, t::Error>>,
    ) -> HostResult<T> {
        if self.stopped {
            return Err(HostError::Trap {
                trap: None,
                message: "it stopped during an earlier call; reopen the database".into(),
            });
        }
        self.store.set_epoch_deadline(self.deadline);
        let result = f(self.bindings.veles_db_engine(), &mut self.store);
        // A trap leaves the instance unusable: refuse further calls with a clear error.
        self.stopped = result.is_err();
        outcome(result)
    }

    fn c(&mut self, name: &str) -> HostResult<ResourceAny> {
        if let Some(c) = self.open.get(name) {
            return Ok(*c);
        }
        let db = self.db;
        let c = self.call(|e, s| e.database().call_collection(s, db, name))?;
        self.open.insert(name.to_string(), c);
        Ok(c)
    }
}

/// A call's outcome: the engine's typed error, or the trap that stopped the component.
fn outcome<T>(r: wasmtime::Result<Result<T, t::Error>>) -> HostResult<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(HostError::Engine(from_wit(e))),
        Err(trap) => Err(runtime_error(trap)),
    }
}

fn runtime_error(e: wasmtime::Error) -> HostError {
    HostError::Trap {
        trap: e.downcast_ref::<wasmtime::Trap>().copied(),
        message: format!("{e:#}"),
    }
}

impl Backend for ComponentBackend {
    fn kind(&self) -> &'static str {
        "component"
    }

    fn create_collection(&mut self, name: &str, config: CollectionConfig) -> HostResult<()> {
        let db = self.db;
        let cfg = t::CollectionConfig {
            dimension: config.dimension,
            metric: metric_to_wit(config.metric),
            m: config.m,
            ef_construction: config.ef_construction,
        };
        let c = self.call(|e, s| e.database().call_create_collection(s, db, name, cfg))?;
        self.open.insert(name.to_string(), c);
        Ok(())
    }

    fn list(&mut self) -> HostResult<Vec<String>> {
        let db = self.db;
        self.call(|e, s| e.database().call_list(s, db))
    }

    fn drop_collection(&mut self, name: &str) -> HostResult<()> {
        if let Some(c) = self.open.remove(name) {
            let _ = c.resource_drop(&mut self.store);
        }
        let db = self.db;
        self.call(|e, s| e.database().call_drop_collection(s, db, name))
    }

    fn config(&mut self, name: &str) -> HostResult<CollectionConfig> {
        let c = self.c(name)?;
        let cfg = self.call(|e, s| e.collection().call_config(s, c).map(Ok))?;
        Ok(
            CollectionConfig::new(cfg.dimension, metric_from_wit(cfg.metric))
                .with_hnsw(cfg.m, cfg.ef_construction),
        )
    }

    fn upsert(&mut self, name: &str, points: &[Point]) -> HostResult<()> {
        let c = self.c(name)?;
        let wire: Vec<t::Point> = points
            .iter()
            .map(|p| t::Point {
                id: p.id,
                vector: p.vector.clone(),
                payload: p.payload.as_ref().map(|v| v.to_string()),
            })
            .collect();
        self.call(|e, s| e.collection().call_upsert(s, c, &wire))
    }

    fn get(&mut self, name: &str, ids: &[u64]) -> HostResult<Vec<Option<Point>>> {
        let c = self.c(name)?;
        let got = self.call(|e, s| e.collection().call_get(s, c, ids))?;
        got.into_iter()
            .map(|p| {
                p.map(|p| {
                    Ok(Point {
                        id: p.id,
                        vector: p.vector,
                        payload: parse_json(p.payload)?,
                    })
                })
                .transpose()
            })
            .collect()
    }

    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64> {
        let c = self.c(name)?;
        self.call(|e, s| e.collection().call_delete(s, c, ids))
    }

    fn search(
        &mut self,
        name: &str,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Hit>> {
        let c = self.c(name)?;
        let options = options_to_wit(params);
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let hits = self.call(|e, s| e.collection().call_search(s, c, query, k, &options))?;
        hits_from_wit(hits)
    }

    fn search_batch(
        &mut self,
        name: &str,
        queries: &[Vec<f32>],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Vec<Hit>>> {
        let c = self.c(name)?;
        let options = options_to_wit(params);
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let all = self.call(|e, s| e.collection().call_search_batch(s, c, queries, k, &options))?;
        all.into_iter().map(hits_from_wit).collect()
    }

    fn flush(&mut self, name: &str) -> HostResult<()> {
        let c = self.c(name)?;
        self.call(|e, s| e.collection().call_flush(s, c))
    }

    fn checkpoint(&mut self, name: &str) -> HostResult<()> {
        let c = self.c(name)?;
        self.call(|e, s| e.collection().call_checkpoint(s, c))
    }

    fn check(&mut self) -> HostResult<Vec<CheckReport>> {
        let db = self.db;
        let reports = self.call(|e, s| e.database().call_check(s, db))?;
        Ok(reports.into_iter().map(check_report_from_wit).collect())
    }

    fn compact(&mut self, name: &str) -> HostResult<CompactReport> {
        let c = self.c(name)?;
        let r = self.call(|e, s| e.collection().call_compact(s, c))?;
        Ok(CompactReport {
            points: r.points,
            slots_before: r.slots_before,
            slots_after: r.slots_after,
            tombstones_dropped: r.tombstones_dropped,
            bytes_before: r.bytes_before,
            bytes_after: r.bytes_after,
        })
    }

    fn snapshot(&mut self, dest: &Path) -> HostResult<SnapshotReport> {
        if self.snapshot_dest.as_deref() != Some(dest) {
            return Err(HostError::Runtime(anyhow::anyhow!(
                "{} was not given to the component when the database was opened",
                dest.display()
            )));
        }
        let db = self.db;
        let r = self.call(|e, s| e.database().call_snapshot(s, db, SNAPSHOT_MOUNT))?;
        Ok(SnapshotReport {
            collections: r.collections,
            bytes: r.bytes,
        })
    }

    fn stats(&mut self, name: &str) -> HostResult<Stats> {
        let c = self.c(name)?;
        let s = self.call(|e, s| e.collection().call_stats(s, c))?;
        Ok(Stats {
            len: s.len as usize,
            dimension: s.dimension,
            metric: metric_from_wit(s.metric),
            slots: s.slots,
            free_slots: s.free_slots as usize,
            wal_bytes: s.wal_bytes,
            vector_file_bytes: s.vector_file_bytes,
            unflushed: s.unflushed,
            generation: s.generation,
            recovery: RecoveryStats {
                replayed_records: s.recovery.replayed_records,
                dropped_bytes: s.recovery.dropped_bytes,
                torn_at: s.recovery.torn_at,
                graph_loaded: s.recovery.graph_loaded,
                graph_problem: s.recovery.graph_problem,
            },
            graph_nodes: s.graph_nodes as usize,
        })
    }
}

fn parse_json(text: Option<String>) -> HostResult<Option<serde_json::Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| {
            HostError::Runtime(anyhow::anyhow!(
                "the component returned a payload that is not JSON: {e}"
            ))
        })
}

fn hits_from_wit(hits: Vec<t::Hit>) -> HostResult<Vec<Hit>> {
    hits.into_iter()
        .map(|h| {
            Ok(Hit {
                id: h.id,
                score: h.score,
                payload: parse_json(h.payload)?,
            })
        })
        .collect()
}

fn metric_to_wit(m: Metric) -> t::Metric {
    match m {
        Metric::Cosine => t::Metric::Cosine,
        Metric::Euclidean => t::Metric::Euclidean,
        Metric::Dot => t::Metric::Dot,
        Metric::Hamming => t::Metric::Hamming,
        Metric::Jaccard => t::Metric::Jaccard,
    }
}

fn metric_from_wit(m: t::Metric) -> Metric {
    match m {
        t::Metric::Cosine => Metric::Cosine,
        t::Metric::Euclidean => Metric::Euclidean,
        t::Metric::Dot => Metric::Dot,
        t::Metric::Hamming => Metric::Hamming,
        t::Metric::Jaccard => Metric::Jaccard,
    }
}

/// Search parameters in their WIT form.
fn options_to_wit(p: &SearchParams<'_>) -> t::SearchOptions {
    t::SearchOptions {
        filter: p.filter.map(filter_to_wit),
        ef: p.ef.map(|e| u32::try_from(e).unwrap_or(u32::MAX)),
        exact: p.exact,
    }
}

/// A filter in its flattened WIT form.
pub fn filter_to_wit(f: &Filter) -> t::Filter {
    let text = |v: &serde_json::Value| v.to_string();
    t::Filter {
        nodes: f
            .flatten()
            .into_iter()
            .map(|n| match n {
                FlatNode::And(cs) => t::FilterNode::And(cs),
                FlatNode::Or(cs) => t::FilterNode::Or(cs),
                FlatNode::Not(c) => t::FilterNode::Not(c),
                FlatNode::Field { key, condition } => t::FilterNode::Field(t::FieldCondition {
                    key,
                    condition: match condition {
                        Condition::Eq(v) => t::Condition::Eq(text(&v)),
                        Condition::Ne(v) => t::Condition::Ne(text(&v)),
                        Condition::Lt(v) => t::Condition::Lt(text(&v)),
                        Condition::Lte(v) => t::Condition::Lte(text(&v)),
                        Condition::Gt(v) => t::Condition::Gt(text(&v)),
                        Condition::Gte(v) => t::Condition::Gte(text(&v)),
                        Condition::In(vs) => t::Condition::In(vs.iter().map(text).collect()),
                        Condition::Exists => t::Condition::Exists,
                        Condition::IsNull => t::Condition::IsNull,
                    },
                }),
            })
            .collect(),
    }
}

fn check_report_from_wit(r: t::CheckReport) -> CheckReport {
    CheckReport {
        collection: r.collection,
        points: r.points,
        slots: r.slots,
        graph_nodes: r.graph_nodes,
        wal_records: r.wal_records,
        bytes_checked: r.bytes_checked,
        problems: r
            .problems
            .into_iter()
            .map(|p| Problem {
                file: p.file,
                offset: p.offset,
                message: p.message,
            })
            .collect(),
        notes: r.notes,
    }
}

/// The component's error, as the library's typed error.
fn from_wit(e: t::Error) -> veles::Error {
    use veles::{Error as E, Limit as L, StorageError as S, VectorProblem as P};
    match e {
        t::Error::DimensionMismatch(d) => E::DimensionMismatch {
            expected: d.expected,
            actual: d.actual as usize,
            id: d.id,
        },
        t::Error::InvalidVector(v) => E::InvalidVector {
            id: v.id,
            problem: match v.problem {
                t::VectorProblem::NotFinite(i) => P::NotFinite { index: i as usize },
                t::VectorProblem::ZeroNorm => P::ZeroNorm,
                t::VectorProblem::NotBinary(i) => P::NotBinary { index: i as usize },
                t::VectorProblem::NormOverflow => P::NormOverflow,
            },
        },
        t::Error::InvalidName(name) => E::InvalidName {
            name,
            reason: "not 1 to 64 of [A-Za-z0-9_-]",
        },
        t::Error::InvalidConfig(m) => E::InvalidConfig(m),
        t::Error::InvalidArgument(m) => E::InvalidArgument(m),
        t::Error::InvalidFilter(m) => E::InvalidFilter(m),
        t::Error::InvalidPayload(m) => E::InvalidPayload {
            id: None,
            reason: m,
        },
        t::Error::LimitExceeded(l) => E::LimitExceeded {
            limit: match l.limit {
                t::Limit::Dimension => L::Dimension,
                t::Limit::K => L::K,
                t::Limit::Ef => L::Ef,
                t::Limit::BatchBytes => L::BatchBytes,
                t::Limit::PayloadBytes => L::PayloadBytes,
                t::Limit::PayloadDepth => L::PayloadDepth,
                t::Limit::FilterDepth => L::FilterDepth,
            },
            max: l.max,
            actual: l.actual,
        },
        t::Error::NotFound(n) => E::CollectionNotFound(n),
        t::Error::AlreadyExists(n) => E::CollectionExists(n),
        t::Error::Corrupted(c) => E::Storage(S::Corrupted {
            file: c.file,
            offset: c.offset,
            reason: c.reason,
        }),
        t::Error::UnsupportedVersion(u) => E::Storage(S::UnsupportedVersion {
            file: u.file,
            found: u.found,
            supported: u.supported,
        }),
        t::Error::Io(io) => E::Storage(S::Io {
            path: io.path,
            op: "component I/O",
            source: std::io::Error::other(format!("{}: {}", io.op, io.message)),
        }),
        t::Error::PreviousIo => E::Storage(S::PreviousIo),
        t::Error::Locked(p) => E::Storage(S::Locked { path: p }),
        t::Error::ReadOnly => E::ReadOnly,
    }
}
