//! The engine as a component in its own store, seeing only its directory. Every call converts
//! through the one table in `crate::wit`.

use super::{Backend, HostError, HostResult, OpenOptions};
use crate::runtime::exports::veles::db::engine::Guest as Engine;
use crate::runtime::veles::db::types as t;
use crate::runtime::{HostState, Limits, Mount, Runtime, Veles, ensure_dir, ticks};
use crate::wit;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use veles::region::DirectoryLock;
use veles::{
    CheckReport, CollectionConfig, CompactReport, Filter, Hit, Include, IndexInfo, IndexKind, Page,
    Plan, Point, Query, SearchParams, SnapshotReport, Stats, TextConfig,
};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

/// Where the component sees `OpenOptions::snapshot_dest`.
const SNAPSHOT_MOUNT: &str = "/snapshot";

pub struct ComponentBackend {
    /// The directory's lock, held on the host side for the component (WASI has no locks):
    /// the same lock a native open takes, so every pairing of hosts and processes keeps one
    /// writer or many readers.
    _locks: Vec<DirectoryLock>,
    snapshot_dest: Option<PathBuf>,
    store: Store<HostState>,
    bindings: Veles,
    db: ResourceAny,
    open: HashMap<String, ResourceAny>,
    deadline: u64,
    stopped: bool,
}

impl Drop for ComponentBackend {
    /// Closes the database in the guest, as dropping it natively does: the guest's handles
    /// are released, so its clean close runs (a checkpoint where one is worth it). Dropping
    /// the store alone would run no guest code. A trap here loses nothing: the log holds
    /// every acknowledged write.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        self.store.set_epoch_deadline(self.deadline);
        for (_, c) in self.open.drain() {
            let _ = c.resource_drop(&mut self.store);
        }
        let _ = self.db.resource_drop(&mut self.store);
    }
}

impl ComponentBackend {
    /// Instantiates the component with only `dir` preopened and opens the database there.
    pub fn open(runtime: &Runtime, dir: &Path, limits: &Limits) -> HostResult<ComponentBackend> {
        let options = OpenOptions {
            limits: limits.clone(),
            ..OpenOptions::default()
        };
        Self::open_with(runtime, dir, &options)
    }

    /// [`ComponentBackend::open`] with options: the limits, a read-only preopen and open, and
    /// a second preopened directory for a snapshot.
    pub fn open_with(
        runtime: &Runtime,
        dir: &Path,
        options: &OpenOptions,
    ) -> HostResult<ComponentBackend> {
        let limits = &options.limits;
        let mut locks = Vec::new();
        if options.read_only {
            if !dir.is_dir() {
                return Err(HostError::Runtime(anyhow::anyhow!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            // A reader takes no lock: it reads beside a writer (veles' collection/rewrites.rs).
        } else {
            ensure_dir(dir).map_err(HostError::Runtime)?;
            locks.push(DirectoryLock::exclusive(dir).map_err(engine)?);
        }
        let mut mounts = vec![Mount {
            host: dir.to_path_buf(),
            guest: ".".into(),
            writable: !options.read_only,
        }];
        if let Some(dest) = &options.snapshot_dest {
            refuse_nested(dir, dest)?;
            ensure_dir(dest).map_err(HostError::Runtime)?;
            locks.push(DirectoryLock::exclusive(dest).map_err(engine)?);
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
        let wanted = veles::Options::default()
            .with_read_only(options.read_only)
            .with_vector_memory(options.vector_memory);
        let db =
            outcome(engine.call_open_with(&mut store, ".", wit::open_options_to_wit(&wanted)))?;
        Ok(ComponentBackend {
            _locks: locks,
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

    /// A call on the database resource.
    fn on_db<T>(
        &mut self,
        f: impl FnOnce(
            &Engine,
            &mut Store<HostState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<T, t::Error>>,
    ) -> HostResult<T> {
        let db = self.db;
        self.call(|e, s| f(e, s, db))
    }

    /// A call on the collection resource opened as `name`.
    fn on<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(
            &Engine,
            &mut Store<HostState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<T, t::Error>>,
    ) -> HostResult<T> {
        let c = match self.open.get(name) {
            Some(c) => *c,
            None => {
                let c = self.on_db(|e, s, db| e.database().call_collection(s, db, name))?;
                self.open.insert(name.to_string(), c);
                c
            }
        };
        self.call(|e, s| f(e, s, c))
    }
}

fn engine(e: veles::StorageError) -> HostError {
    HostError::Engine(e.into())
}

/// Refuses a snapshot destination inside the database or around it: the copy would copy
/// itself, or a later `create` in the source would take it for a collection.
fn refuse_nested(dir: &Path, dest: &Path) -> HostResult<()> {
    if veles::region::nested(dir, dest) {
        return Err(HostError::Engine(veles::Error::InvalidArgument(format!(
            "the snapshot destination {} is inside the database {} or contains it",
            dest.display(),
            dir.display()
        ))));
    }
    Ok(())
}

/// A call's outcome: the engine's typed error, or the trap that stopped the component.
fn outcome<T>(r: wasmtime::Result<Result<T, t::Error>>) -> HostResult<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(HostError::Engine(wit::error_from_wit(e))),
        Err(trap) => Err(HostError::Trap {
            trap: trap.downcast_ref::<wasmtime::Trap>().copied(),
            message: format!("{trap:#}"),
        }),
    }
}

/// A value the component returned that does not decode (a payload that is not JSON).
fn malformed<T>(r: veles::Result<T>) -> HostResult<T> {
    r.map_err(|e| HostError::Runtime(anyhow::anyhow!("the component returned {e}")))
}

fn hits(hits: Vec<t::Hit>) -> HostResult<Vec<Hit>> {
    malformed(hits.into_iter().map(wit::hit_from_wit).collect())
}

impl Backend for ComponentBackend {
    fn kind(&self) -> &'static str {
        "component"
    }

    fn create_collection(&mut self, name: &str, config: CollectionConfig) -> HostResult<()> {
        let cfg = wit::config_to_wit(&config);
        let c = self.on_db(|e, s, db| e.database().call_create_collection(s, db, name, &cfg))?;
        self.open.insert(name.to_string(), c);
        Ok(())
    }

    fn list(&mut self) -> HostResult<Vec<String>> {
        self.on_db(|e, s, db| e.database().call_list(s, db))
    }

    fn drop_collection(&mut self, name: &str) -> HostResult<()> {
        if let Some(c) = self.open.remove(name) {
            let _ = c.resource_drop(&mut self.store);
        }
        self.on_db(|e, s, db| e.database().call_drop_collection(s, db, name))
    }

    fn config(&mut self, name: &str) -> HostResult<CollectionConfig> {
        let cfg = self.on(name, |e, s, c| e.collection().call_config(s, c).map(Ok))?;
        Ok(wit::config_from_wit(cfg))
    }

    fn upsert(&mut self, name: &str, points: &[Point]) -> HostResult<()> {
        let wire: Vec<t::Point> = points.iter().map(wit::point_to_wit).collect();
        self.on(name, |e, s, c| e.collection().call_upsert(s, c, &wire))
    }

    fn get(&mut self, name: &str, ids: &[u64]) -> HostResult<Vec<Option<Point>>> {
        let got = self.on(name, |e, s, c| e.collection().call_get(s, c, ids))?;
        malformed(
            got.into_iter()
                .map(|p| p.map(wit::point_from_wit).transpose())
                .collect(),
        )
    }

    fn get_with(
        &mut self,
        name: &str,
        ids: &[u64],
        include: Include,
    ) -> HostResult<Vec<Option<Point>>> {
        let got = self.on(name, |e, s, c| {
            e.collection()
                .call_get_with(s, c, ids, include.vector, include.payload)
        })?;
        malformed(
            got.into_iter()
                .map(|p| p.map(wit::point_from_wit).transpose())
                .collect(),
        )
    }

    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64> {
        self.on(name, |e, s, c| e.collection().call_delete(s, c, ids))
    }

    fn delete_by_filter(&mut self, name: &str, filter: &Filter) -> HostResult<u64> {
        let f = wit::point_filter_to_wit(Some(filter));
        self.on(name, |e, s, c| {
            e.collection().call_delete_by_filter(s, c, &f)
        })
    }

    fn scroll(
        &mut self,
        name: &str,
        start: u64,
        limit: usize,
        filter: Option<&Filter>,
        include: Include,
    ) -> HostResult<Page> {
        let f = wit::point_filter_to_wit(filter);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let page = self.on(name, |e, s, c| {
            e.collection()
                .call_scroll(s, c, start, limit, &f, include.vector, include.payload)
        })?;
        malformed(wit::page_from_wit(page))
    }

    fn count(&mut self, name: &str, filter: Option<&Filter>) -> HostResult<u64> {
        let f = wit::point_filter_to_wit(filter);
        self.on(name, |e, s, c| e.collection().call_count(s, c, &f))
    }

    fn set_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        fields: &Map<String, Value>,
    ) -> HostResult<u64> {
        let text = Value::Object(fields.clone()).to_string();
        self.on(name, |e, s, c| {
            e.collection().call_set_payload(s, c, ids, &text)
        })
    }

    fn overwrite_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        payload: Option<&Value>,
    ) -> HostResult<u64> {
        let text = payload.map(Value::to_string);
        self.on(name, |e, s, c| {
            e.collection()
                .call_overwrite_payload(s, c, ids, text.as_deref())
        })
    }

    fn delete_payload_keys(&mut self, name: &str, ids: &[u64], keys: &[String]) -> HostResult<u64> {
        self.on(name, |e, s, c| {
            e.collection().call_delete_payload_keys(s, c, ids, keys)
        })
    }

    fn create_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool> {
        let kind = wit::index_kind_to_wit(kind);
        self.on(name, |e, s, c| {
            e.collection().call_create_index(s, c, key, kind)
        })
    }

    fn create_text_index(&mut self, name: &str, key: &str, config: TextConfig) -> HostResult<bool> {
        let config = wit::text_config_to_wit(&config);
        self.on(name, |e, s, c| {
            e.collection().call_create_text_index(s, c, key, config)
        })
    }

    fn query_batch(&mut self, name: &str, queries: &[Query]) -> HostResult<Vec<Vec<Hit>>> {
        let queries: Vec<t::Query> = queries.iter().map(wit::query_to_wit).collect();
        let all = self.on(name, |e, s, c| {
            e.collection().call_query_batch(s, c, &queries)
        })?;
        all.into_iter().map(hits).collect()
    }

    fn query_plan(&mut self, name: &str, query: &Query) -> HostResult<Vec<Plan>> {
        let query = wit::query_to_wit(query);
        let plans = self.on(name, |e, s, c| {
            e.collection().call_explain_query(s, c, &query)
        })?;
        Ok(plans.into_iter().map(wit::plan_from_wit).collect())
    }

    fn drop_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool> {
        let kind = wit::index_kind_to_wit(kind);
        self.on(name, |e, s, c| {
            e.collection().call_drop_index(s, c, key, kind)
        })
    }

    fn indexes(&mut self, name: &str) -> HostResult<Vec<IndexInfo>> {
        let all = self.on(name, |e, s, c| e.collection().call_indexes(s, c))?;
        Ok(all.into_iter().map(wit::index_info_from_wit).collect())
    }

    fn plan(&mut self, name: &str, k: usize, params: &SearchParams<'_>) -> HostResult<Plan> {
        let options = wit::options_to_wit(params);
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let p = self.on(name, |e, s, c| {
            e.collection().call_explain(s, c, k, &options)
        })?;
        Ok(wit::plan_from_wit(p))
    }

    fn search(
        &mut self,
        name: &str,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Hit>> {
        let options = wit::options_to_wit(params);
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        hits(self.on(name, |e, s, c| {
            e.collection().call_search(s, c, query, k, &options)
        })?)
    }

    fn search_batch(
        &mut self,
        name: &str,
        queries: &[Vec<f32>],
        k: usize,
        params: &SearchParams<'_>,
    ) -> HostResult<Vec<Vec<Hit>>> {
        let options = wit::options_to_wit(params);
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let all = self.on(name, |e, s, c| {
            e.collection().call_search_batch(s, c, queries, k, &options)
        })?;
        all.into_iter().map(hits).collect()
    }

    fn flush(&mut self, name: &str) -> HostResult<()> {
        self.on(name, |e, s, c| e.collection().call_flush(s, c))
    }

    fn flush_all(&mut self) -> HostResult<()> {
        self.on_db(|e, s, db| e.database().call_flush(s, db))
    }

    fn checkpoint(&mut self, name: &str) -> HostResult<()> {
        self.on(name, |e, s, c| e.collection().call_checkpoint(s, c))
    }

    fn optimize(&mut self, name: &str, max_points: Option<u32>) -> HostResult<u64> {
        self.on(name, |e, s, c| {
            e.collection().call_optimize(s, c, max_points)
        })
    }

    fn len(&mut self, name: &str) -> HostResult<u64> {
        self.on(name, |e, s, c| e.collection().call_len(s, c))
    }

    fn collection_name(&mut self, name: &str) -> HostResult<String> {
        self.on(name, |e, s, c| e.collection().call_name(s, c).map(Ok))
    }

    fn check(&mut self) -> HostResult<Vec<CheckReport>> {
        let reports = self.on_db(|e, s, db| e.database().call_check(s, db))?;
        Ok(reports
            .into_iter()
            .map(wit::check_report_from_wit)
            .collect())
    }

    fn compact(&mut self, name: &str) -> HostResult<CompactReport> {
        let r = self.on(name, |e, s, c| e.collection().call_compact(s, c))?;
        Ok(wit::compact_report_from_wit(r))
    }

    fn snapshot(&mut self, dest: &Path) -> HostResult<SnapshotReport> {
        if self.snapshot_dest.as_deref() != Some(dest) {
            return Err(HostError::Runtime(anyhow::anyhow!(
                "{} was not given to the component when the database was opened",
                dest.display()
            )));
        }
        let r = self.on_db(|e, s, db| e.database().call_snapshot(s, db, SNAPSHOT_MOUNT))?;
        Ok(wit::snapshot_report_from_wit(r))
    }

    fn stats(&mut self, name: &str) -> HostResult<Stats> {
        let st = self.on(name, |e, s, c| e.collection().call_stats(s, c))?;
        Ok(wit::stats_from_wit(st))
    }
}
