//! The WebAssembly component: `wit/veles.wit` exported with wit-bindgen. Calls only; the
//! conversions are the one table of `wit_convert/`, the logic is the library's.

wit_bindgen::generate!({ path: "wit", world: "veles" });

use exports::veles::db::engine::{
    Collection as CollectionHandle, Database as DatabaseHandle, Guest, GuestCollection,
    GuestDatabase,
};
use veles::db::types as t;

/// The conversion table, over wit-bindgen's types.
#[allow(dead_code)]
mod convert {
    use super::t;
    crate::wit_convert!();
}
use convert::*;

struct Component;
export!(Component);

impl Guest for Component {
    type Database = Database;
    type Collection = Collection;

    fn describe(e: t::Error) -> String {
        error_from_wit(e).to_string()
    }
}

struct Database(crate::Database);
struct Collection(crate::Collection);

type R<T> = Result<T, t::Error>;

/// The engine's result as the WIT result.
fn wit<T, U>(r: crate::Result<T>, f: impl FnOnce(T) -> U) -> R<U> {
    r.map(f).map_err(error_to_wit)
}

impl GuestDatabase for Database {
    fn open(path: String) -> R<DatabaseHandle> {
        wit(crate::Database::open(path), |d| {
            DatabaseHandle::new(Database(d))
        })
    }

    fn open_read_only(path: String) -> R<DatabaseHandle> {
        wit(crate::Database::open_read_only(path), |d| {
            DatabaseHandle::new(Database(d))
        })
    }

    fn open_with(path: String, options: t::OpenOptions) -> R<DatabaseHandle> {
        let options = open_options_from_wit(options);
        wit(crate::Database::open_with(path, options), |d| {
            DatabaseHandle::new(Database(d))
        })
    }

    fn in_memory() -> DatabaseHandle {
        DatabaseHandle::new(Database(crate::Database::in_memory()))
    }

    fn create_collection(&self, name: String, config: t::CollectionConfig) -> R<CollectionHandle> {
        let c = self.0.create_collection(&name, config_from_wit(config));
        wit(c, |c| CollectionHandle::new(Collection(c)))
    }

    fn collection(&self, name: String) -> R<CollectionHandle> {
        wit(self.0.collection(&name), |c| {
            CollectionHandle::new(Collection(c))
        })
    }

    fn list(&self) -> R<Vec<String>> {
        wit(self.0.list(), |l| l)
    }

    fn drop_collection(&self, name: String) -> R<()> {
        wit(self.0.drop_collection(&name), |r| r)
    }

    fn flush(&self) -> R<()> {
        wit(self.0.flush(), |r| r)
    }

    fn check(&self) -> R<Vec<t::CheckReport>> {
        wit(self.0.check(), |rs| {
            rs.into_iter().map(check_report_to_wit).collect()
        })
    }

    fn snapshot(&self, dest: String) -> R<t::SnapshotReport> {
        wit(self.0.snapshot(dest), snapshot_report_to_wit)
    }
}

fn hits(hs: Vec<crate::Hit>) -> Vec<t::Hit> {
    hs.into_iter().map(hit_to_wit).collect()
}

impl GuestCollection for Collection {
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn config(&self) -> t::CollectionConfig {
        config_to_wit(self.0.config())
    }

    fn upsert(&self, points: Vec<t::Point>) -> R<()> {
        let batch: crate::Result<Vec<_>> = points.into_iter().map(point_from_wit).collect();
        wit(batch.and_then(|b| self.0.upsert(&b)), |r| r)
    }

    fn get(&self, ids: Vec<u64>) -> R<Vec<Option<t::Point>>> {
        wit(self.0.get(&ids), |ps| {
            ps.iter().map(|p| p.as_ref().map(point_to_wit)).collect()
        })
    }

    fn get_with(
        &self,
        ids: Vec<u64>,
        with_vector: bool,
        with_payload: bool,
    ) -> R<Vec<Option<t::Point>>> {
        let include = crate::Include::new(with_vector, with_payload);
        wit(self.0.get_with(&ids, include), |ps| {
            ps.iter().map(|p| p.as_ref().map(point_to_wit)).collect()
        })
    }

    fn delete(&self, ids: Vec<u64>) -> R<u64> {
        wit(self.0.delete(&ids), |n| n as u64)
    }

    fn delete_by_filter(&self, filter: t::PointFilter) -> R<u64> {
        let n = point_filter_from_wit(filter)
            .and_then(|f| crate::Filter::required(f, "delete-by-filter"))
            .and_then(|f| self.0.delete_by_filter(&f));
        wit(n, |n| n as u64)
    }

    fn scroll(
        &self,
        start: u64,
        limit: u32,
        filter: t::PointFilter,
        with_vector: bool,
        with_payload: bool,
    ) -> R<t::Page> {
        let include = crate::Include::new(with_vector, with_payload);
        let page = point_filter_from_wit(filter)
            .and_then(|f| self.0.scroll(start, limit as usize, f.as_ref(), include));
        wit(page, page_to_wit)
    }

    fn count(&self, filter: t::PointFilter) -> R<u64> {
        let n = point_filter_from_wit(filter).and_then(|f| self.0.count(f.as_ref()));
        wit(n, |n| n)
    }

    fn set_payload(&self, ids: Vec<u64>, fields: String) -> R<u64> {
        let n = crate::parse_payload_fields(&fields).and_then(|m| self.0.set_payload(&ids, &m));
        wit(n, |n| n as u64)
    }

    fn overwrite_payload(&self, ids: Vec<u64>, payload: Option<String>) -> R<u64> {
        let n = payload
            .map(|p| crate::parse_payload(None, &p))
            .transpose()
            .and_then(|p| self.0.overwrite_payload(&ids, p.as_ref()));
        wit(n, |n| n as u64)
    }

    fn delete_payload_keys(&self, ids: Vec<u64>, keys: Vec<String>) -> R<u64> {
        wit(self.0.delete_payload_keys(&ids, &keys), |n| n as u64)
    }

    fn create_index(&self, key: String, kind: t::IndexKind) -> R<bool> {
        wit(self.0.create_index(&key, index_kind_from_wit(kind)), |b| b)
    }

    fn create_text_index(&self, key: String, config: t::TextConfig) -> R<bool> {
        let config = text_config_from_wit(config);
        wit(self.0.create_text_index(&key, config), |b| b)
    }

    fn drop_index(&self, key: String, kind: t::IndexKind) -> R<bool> {
        wit(self.0.drop_index(&key, index_kind_from_wit(kind)), |b| b)
    }

    fn indexes(&self) -> R<Vec<t::IndexInfo>> {
        wit(self.0.indexes(), |is| {
            is.into_iter().map(index_info_to_wit).collect()
        })
    }

    fn query_batch(&self, queries: Vec<t::Query>) -> R<Vec<Vec<t::Hit>>> {
        let found = queries
            .into_iter()
            .map(query_from_wit)
            .collect::<crate::Result<Vec<_>>>()
            .and_then(|qs| self.0.query_batch(&qs));
        wit(found, |all| all.into_iter().map(hits).collect())
    }

    fn explain_query(&self, query: t::Query) -> R<Vec<t::Plan>> {
        let plans = query_from_wit(query).and_then(|q| self.0.query_plan(&q));
        wit(plans, |ps| ps.into_iter().map(plan_to_wit).collect())
    }

    fn explain(&self, k: u32, options: t::SearchOptions) -> R<t::Plan> {
        let plan = with_options_from_wit(options, |p| self.0.plan(k as usize, p));
        wit(plan, plan_to_wit)
    }

    fn search(&self, query: Vec<f32>, k: u32, options: t::SearchOptions) -> R<Vec<t::Hit>> {
        let found = with_options_from_wit(options, |p| self.0.search_with(&query, k as usize, p));
        wit(found, hits)
    }

    fn search_batch(
        &self,
        queries: Vec<Vec<f32>>,
        k: u32,
        options: t::SearchOptions,
    ) -> R<Vec<Vec<t::Hit>>> {
        let found = with_options_from_wit(options, |p| {
            let qs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
            self.0.search_batch(&qs, k as usize, p)
        });
        wit(found, |all| all.into_iter().map(hits).collect())
    }

    fn flush(&self) -> R<()> {
        wit(self.0.flush(), |r| r)
    }

    fn refresh(&self) -> R<()> {
        wit(self.0.refresh(), |r| r)
    }

    fn checkpoint(&self) -> R<()> {
        wit(self.0.checkpoint(), |r| r)
    }

    fn optimize(&self, max_points: Option<u32>) -> R<u64> {
        wit(self.0.optimize(max_points.map(|n| n as usize)), |n| {
            n as u64
        })
    }

    fn len(&self) -> R<u64> {
        wit(self.0.len(), |n| n as u64)
    }

    fn check(&self) -> R<t::CheckReport> {
        wit(self.0.check(), check_report_to_wit)
    }

    fn compact(&self) -> R<t::CompactReport> {
        wit(self.0.compact(), compact_report_to_wit)
    }

    fn stats(&self) -> R<t::Stats> {
        wit(self.0.stats(), stats_to_wit)
    }
}
