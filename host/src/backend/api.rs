//! The one interface over the engine, native or through the component, its error, and opening
//! either.

use super::{ComponentBackend, NativeBackend};
use crate::runtime::{Limits, Runtime};
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use veles::{
    CheckReport, CollectionConfig, CompactReport, Filter, Hit, Include, IndexInfo, IndexKind, Page,
    Plan, Point, Query, SearchParams, SnapshotReport, Stats, TextConfig,
};

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
    fn get_with(
        &mut self,
        name: &str,
        ids: &[u64],
        include: Include,
    ) -> HostResult<Vec<Option<Point>>>;
    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64>;
    fn delete_by_filter(&mut self, name: &str, filter: &Filter) -> HostResult<u64>;
    fn scroll(
        &mut self,
        name: &str,
        start: u64,
        limit: usize,
        filter: Option<&Filter>,
        include: Include,
    ) -> HostResult<Page>;
    fn count(&mut self, name: &str, filter: Option<&Filter>) -> HostResult<u64>;
    fn set_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        fields: &Map<String, Value>,
    ) -> HostResult<u64>;
    fn overwrite_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        payload: Option<&Value>,
    ) -> HostResult<u64>;
    fn delete_payload_keys(&mut self, name: &str, ids: &[u64], keys: &[String]) -> HostResult<u64>;
    fn create_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool>;
    fn create_text_index(&mut self, name: &str, key: &str, config: TextConfig) -> HostResult<bool>;
    fn drop_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool>;
    fn indexes(&mut self, name: &str) -> HostResult<Vec<IndexInfo>>;
    /// How a search with these parameters runs.
    fn plan(&mut self, name: &str, k: usize, params: &SearchParams<'_>) -> HostResult<Plan>;
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
    /// Queries of one or more legs, fused ([`veles::Collection::query_batch`]).
    fn query_batch(&mut self, name: &str, queries: &[Query]) -> HostResult<Vec<Vec<Hit>>>;
    /// How each leg of a query runs ([`veles::Collection::query_plan`]).
    fn query_plan(&mut self, name: &str, query: &Query) -> HostResult<Vec<Plan>>;
    fn flush(&mut self, name: &str) -> HostResult<()>;
    /// Flushes every open collection of the database.
    fn flush_all(&mut self) -> HostResult<()>;
    fn checkpoint(&mut self, name: &str) -> HostResult<()>;
    /// Links up to `max_points` of the points waiting for the graph; returns how many wait.
    fn optimize(&mut self, name: &str, max_points: Option<u32>) -> HostResult<u64>;
    /// Live points.
    fn len(&mut self, name: &str) -> HostResult<u64>;
    /// The name the engine gives the collection opened as `name`.
    fn collection_name(&mut self, name: &str) -> HostResult<String>;
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
    /// What of the vectors lives in memory (the component's memory is capped).
    pub vector_memory: veles::VectorMemory,
    /// The component's memory cap and call deadline (unused natively). Without a deadline
    /// (`call_timeout: None`) the runtime [`open_with`] makes has no interruption checks
    /// ([`Runtime::for_limits`]).
    pub limits: Limits,
    /// How the graph keeps up by itself natively (`None`: the engine's default, a background
    /// thread). The component has no threads: it always links at flush
    /// ([`veles::Linking::AtFlush`]), which a native open chooses to match it step for step.
    pub linking: Option<veles::Linking>,
}

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
        return Ok(Box::new(NativeBackend::open_with(dir, options)?));
    }
    let owned;
    let runtime = match runtime {
        Some(r) => r,
        None => {
            owned = Runtime::for_limits(&options.limits)?;
            &owned
        }
    };
    Ok(Box::new(ComponentBackend::open_with(
        runtime, dir, options,
    )?))
}
