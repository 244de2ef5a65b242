//! The engine linked as a library.

use super::{Backend, HostResult, OpenOptions};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use veles::{
    CheckReport, CollectionConfig, CompactReport, Filter, Hit, Include, IndexInfo, IndexKind, Page,
    Plan, Point, Query, SearchParams, SnapshotReport, Stats, TextConfig,
};

/// Engine options from the environment, for measuring: `VELES_THREADS=N` (graph build
/// threads), `VELES_NO_SQ8` (walk the f32 vectors), `VELES_NO_AVX2` (the portable kernels).
/// The library reads no environment; its embedder (this host) chooses.
pub fn options_from_env() -> veles::Options {
    let threads = std::env::var("VELES_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    let kernels = match std::env::var_os("VELES_NO_AVX2") {
        Some(_) => veles::Kernels::Portable,
        None => veles::Kernels::Best,
    };
    veles::Options::default()
        .with_threads(threads)
        .with_sq8_search(std::env::var_os("VELES_NO_SQ8").is_none())
        .with_kernels(kernels)
}

/// The engine linked as a library.
pub struct NativeBackend {
    db: veles::Database,
    open: HashMap<String, veles::Collection>,
}

impl NativeBackend {
    pub fn open(dir: &Path) -> HostResult<NativeBackend> {
        Self::open_with(dir, &OpenOptions::default())
    }

    /// [`NativeBackend::open`] read-only or with [`OpenOptions::vector_memory`].
    pub fn open_with(dir: &Path, options: &OpenOptions) -> HostResult<NativeBackend> {
        let mut wanted = options_from_env()
            .with_read_only(options.read_only)
            .with_vector_memory(options.vector_memory);
        if let Some(linking) = options.linking {
            wanted = wanted.with_linking(linking);
        }
        let options = wanted;
        let db = veles::Database::open_with(dir, options)?;
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

    fn get_with(
        &mut self,
        name: &str,
        ids: &[u64],
        include: Include,
    ) -> HostResult<Vec<Option<Point>>> {
        Ok(self.c(name)?.get_with(ids, include)?)
    }

    fn delete(&mut self, name: &str, ids: &[u64]) -> HostResult<u64> {
        Ok(self.c(name)?.delete(ids)? as u64)
    }

    fn delete_by_filter(&mut self, name: &str, filter: &Filter) -> HostResult<u64> {
        Ok(self.c(name)?.delete_by_filter(filter)? as u64)
    }

    fn scroll(
        &mut self,
        name: &str,
        start: u64,
        limit: usize,
        filter: Option<&Filter>,
        include: Include,
    ) -> HostResult<Page> {
        Ok(self.c(name)?.scroll(start, limit, filter, include)?)
    }

    fn count(&mut self, name: &str, filter: Option<&Filter>) -> HostResult<u64> {
        Ok(self.c(name)?.count(filter)?)
    }

    fn set_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        fields: &Map<String, Value>,
    ) -> HostResult<u64> {
        Ok(self.c(name)?.set_payload(ids, fields)? as u64)
    }

    fn overwrite_payload(
        &mut self,
        name: &str,
        ids: &[u64],
        payload: Option<&Value>,
    ) -> HostResult<u64> {
        Ok(self.c(name)?.overwrite_payload(ids, payload)? as u64)
    }

    fn delete_payload_keys(&mut self, name: &str, ids: &[u64], keys: &[String]) -> HostResult<u64> {
        Ok(self.c(name)?.delete_payload_keys(ids, keys)? as u64)
    }

    fn create_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool> {
        Ok(self.c(name)?.create_index(key, kind)?)
    }

    fn create_text_index(&mut self, name: &str, key: &str, config: TextConfig) -> HostResult<bool> {
        Ok(self.c(name)?.create_text_index(key, config)?)
    }

    fn query_batch(&mut self, name: &str, queries: &[Query]) -> HostResult<Vec<Vec<Hit>>> {
        Ok(self.c(name)?.query_batch(queries)?)
    }

    fn query_plan(&mut self, name: &str, query: &Query) -> HostResult<Vec<Plan>> {
        Ok(self.c(name)?.query_plan(query)?)
    }

    fn drop_index(&mut self, name: &str, key: &str, kind: IndexKind) -> HostResult<bool> {
        Ok(self.c(name)?.drop_index(key, kind)?)
    }

    fn indexes(&mut self, name: &str) -> HostResult<Vec<IndexInfo>> {
        Ok(self.c(name)?.indexes()?)
    }

    fn plan(&mut self, name: &str, k: usize, params: &SearchParams<'_>) -> HostResult<Plan> {
        Ok(self.c(name)?.plan(k, params)?)
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
        let qs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        Ok(self.c(name)?.search_batch(&qs, k, params)?)
    }

    fn flush(&mut self, name: &str) -> HostResult<()> {
        Ok(self.c(name)?.flush()?)
    }

    fn flush_all(&mut self) -> HostResult<()> {
        Ok(self.db.flush()?)
    }

    fn len(&mut self, name: &str) -> HostResult<u64> {
        Ok(self.c(name)?.len()? as u64)
    }

    fn collection_name(&mut self, name: &str) -> HostResult<String> {
        Ok(self.c(name)?.name().to_string())
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

    fn optimize(&mut self, name: &str, max_points: Option<u32>) -> HostResult<u64> {
        Ok(self.c(name)?.optimize(max_points.map(|n| n as usize))? as u64)
    }

    fn stats(&mut self, name: &str) -> HostResult<Stats> {
        Ok(self.c(name)?.stats()?)
    }
}
