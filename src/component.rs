//! The WebAssembly component: `wit/veles.wit` exported with wit-bindgen. Type conversions
//! only; the logic is the library's.

wit_bindgen::generate!({ path: "wit", world: "veles" });

use crate::filter::{Condition, FlatNode};
use crate::{Error as E, Filter, Limit as L, StorageError as S, VectorProblem as P};
use exports::veles::db::engine::{
    Collection as CollectionHandle, Database as DatabaseHandle, Guest, GuestCollection,
    GuestDatabase,
};
use veles::db::types as t;

struct Component;
export!(Component);

impl Guest for Component {
    type Database = Database;
    type Collection = Collection;
}

struct Database(crate::Database);
struct Collection(crate::Collection);

fn metric_to_wit(m: crate::Metric) -> t::Metric {
    match m {
        crate::Metric::Cosine => t::Metric::Cosine,
        crate::Metric::Euclidean => t::Metric::Euclidean,
        crate::Metric::Dot => t::Metric::Dot,
        crate::Metric::Hamming => t::Metric::Hamming,
        crate::Metric::Jaccard => t::Metric::Jaccard,
    }
}

fn metric_from_wit(m: t::Metric) -> crate::Metric {
    match m {
        t::Metric::Cosine => crate::Metric::Cosine,
        t::Metric::Euclidean => crate::Metric::Euclidean,
        t::Metric::Dot => crate::Metric::Dot,
        t::Metric::Hamming => crate::Metric::Hamming,
        t::Metric::Jaccard => crate::Metric::Jaccard,
    }
}

fn limit_to_wit(l: L) -> t::Limit {
    match l {
        L::Dimension => t::Limit::Dimension,
        L::K => t::Limit::K,
        L::Ef => t::Limit::Ef,
        L::BatchBytes => t::Limit::BatchBytes,
        L::PayloadBytes => t::Limit::PayloadBytes,
        L::PayloadDepth => t::Limit::PayloadDepth,
        L::FilterDepth => t::Limit::FilterDepth,
    }
}

fn error(e: E) -> t::Error {
    match e {
        E::DimensionMismatch {
            expected,
            actual,
            id,
        } => t::Error::DimensionMismatch(t::DimensionMismatch {
            expected,
            actual: actual.min(u32::MAX as usize) as u32,
            id,
        }),
        E::InvalidVector { id, problem } => t::Error::InvalidVector(t::InvalidVector {
            id,
            problem: match problem {
                P::NotFinite { index } => t::VectorProblem::NotFinite(index as u32),
                P::ZeroNorm => t::VectorProblem::ZeroNorm,
                P::NotBinary { index } => t::VectorProblem::NotBinary(index as u32),
                P::NormOverflow => t::VectorProblem::NormOverflow,
            },
        }),
        E::InvalidName { name, .. } => t::Error::InvalidName(name),
        E::InvalidConfig(m) => t::Error::InvalidConfig(m),
        E::InvalidArgument(m) => t::Error::InvalidArgument(m),
        E::InvalidFilter(m) => t::Error::InvalidFilter(m),
        E::InvalidPayload { id, reason } => t::Error::InvalidPayload(match id {
            Some(id) => format!("{reason} (point {id})"),
            None => reason,
        }),
        E::LimitExceeded { limit, max, actual } => t::Error::LimitExceeded(t::LimitExceeded {
            limit: limit_to_wit(limit),
            max,
            actual,
        }),
        E::CollectionNotFound(n) => t::Error::NotFound(n),
        E::CollectionExists(n) => t::Error::AlreadyExists(n),
        E::ReadOnly => t::Error::ReadOnly,
        E::Storage(s) => match s {
            S::Io { path, op, source } => t::Error::Io(t::IoFailure {
                path,
                op: op.to_string(),
                message: source.to_string(),
            }),
            S::PreviousIo => t::Error::PreviousIo,
            S::Corrupted {
                file,
                offset,
                reason,
            } => t::Error::Corrupted(t::Corruption {
                file,
                offset,
                reason,
            }),
            S::UnsupportedVersion {
                file,
                found,
                supported,
            } => t::Error::UnsupportedVersion(t::UnsupportedVersion {
                file,
                found,
                supported,
            }),
            S::Locked { path } => t::Error::Locked(path),
        },
    }
}

fn json(text: &str) -> Result<serde_json::Value, t::Error> {
    serde_json::from_str(text)
        .map_err(|e| t::Error::InvalidFilter(format!("operand {text:?}: {e}")))
}

fn filter(f: Option<t::Filter>) -> Result<Option<Filter>, t::Error> {
    let Some(f) = f else { return Ok(None) };
    let mut nodes = Vec::with_capacity(f.nodes.len());
    for n in f.nodes {
        nodes.push(match n {
            t::FilterNode::And(cs) => FlatNode::And(cs),
            t::FilterNode::Or(cs) => FlatNode::Or(cs),
            t::FilterNode::Not(c) => FlatNode::Not(c),
            t::FilterNode::Field(fc) => FlatNode::Field {
                key: fc.key,
                condition: match fc.condition {
                    t::Condition::Eq(v) => Condition::Eq(json(&v)?),
                    t::Condition::Ne(v) => Condition::Ne(json(&v)?),
                    t::Condition::Lt(v) => Condition::Lt(json(&v)?),
                    t::Condition::Lte(v) => Condition::Lte(json(&v)?),
                    t::Condition::Gt(v) => Condition::Gt(json(&v)?),
                    t::Condition::Gte(v) => Condition::Gte(json(&v)?),
                    t::Condition::In(vs) => {
                        Condition::In(vs.iter().map(|v| json(v)).collect::<Result<_, _>>()?)
                    }
                    t::Condition::Exists => Condition::Exists,
                    t::Condition::IsNull => Condition::IsNull,
                },
            },
        });
    }
    Filter::from_flat(&nodes).map(Some).map_err(error)
}

/// Runs `f` with the library's search parameters for these options.
fn with_params<T>(
    o: t::SearchOptions,
    f: impl FnOnce(&crate::SearchParams<'_>) -> Result<T, t::Error>,
) -> Result<T, t::Error> {
    let filter = filter(o.filter)?;
    f(&crate::SearchParams::default()
        .with_filter(filter.as_ref())
        .with_ef(o.ef.map(|e| e as usize))
        .with_exact(o.exact))
}

fn payload_text(v: Option<&serde_json::Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

impl GuestDatabase for Database {
    fn open(path: String) -> Result<DatabaseHandle, t::Error> {
        crate::Database::open(path)
            .map(|d| DatabaseHandle::new(Database(d)))
            .map_err(error)
    }

    fn open_read_only(path: String) -> Result<DatabaseHandle, t::Error> {
        crate::Database::open_read_only(path)
            .map(|d| DatabaseHandle::new(Database(d)))
            .map_err(error)
    }

    fn in_memory() -> DatabaseHandle {
        DatabaseHandle::new(Database(crate::Database::in_memory()))
    }

    fn create_collection(
        &self,
        name: String,
        config: t::CollectionConfig,
    ) -> Result<CollectionHandle, t::Error> {
        let config = crate::CollectionConfig::new(config.dimension, metric_from_wit(config.metric))
            .with_hnsw(config.m, config.ef_construction);
        self.0
            .create_collection(&name, config)
            .map(|c| CollectionHandle::new(Collection(c)))
            .map_err(error)
    }

    fn collection(&self, name: String) -> Result<CollectionHandle, t::Error> {
        self.0
            .collection(&name)
            .map(|c| CollectionHandle::new(Collection(c)))
            .map_err(error)
    }

    fn list(&self) -> Result<Vec<String>, t::Error> {
        self.0.list().map_err(error)
    }

    fn drop_collection(&self, name: String) -> Result<(), t::Error> {
        self.0.drop_collection(&name).map_err(error)
    }

    fn flush(&self) -> Result<(), t::Error> {
        self.0.flush().map_err(error)
    }

    fn check(&self) -> Result<Vec<t::CheckReport>, t::Error> {
        Ok(self
            .0
            .check()
            .map_err(error)?
            .into_iter()
            .map(check_report)
            .collect())
    }

    fn snapshot(&self, dest: String) -> Result<t::SnapshotReport, t::Error> {
        let r = self.0.snapshot(dest).map_err(error)?;
        Ok(t::SnapshotReport {
            collections: r.collections,
            bytes: r.bytes,
        })
    }
}

fn check_report(r: crate::CheckReport) -> t::CheckReport {
    t::CheckReport {
        collection: r.collection,
        points: r.points,
        slots: r.slots,
        graph_nodes: r.graph_nodes,
        wal_records: r.wal_records,
        bytes_checked: r.bytes_checked,
        problems: r
            .problems
            .into_iter()
            .map(|p| t::Problem {
                file: p.file,
                offset: p.offset,
                message: p.message,
            })
            .collect(),
        notes: r.notes,
    }
}

fn hits(hs: Vec<crate::Hit>) -> Vec<t::Hit> {
    hs.into_iter()
        .map(|h| t::Hit {
            id: h.id,
            score: h.score,
            payload: payload_text(h.payload.as_ref()),
        })
        .collect()
}

impl GuestCollection for Collection {
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn config(&self) -> t::CollectionConfig {
        let c = self.0.config();
        t::CollectionConfig {
            dimension: c.dimension,
            metric: metric_to_wit(c.metric),
            m: c.m,
            ef_construction: c.ef_construction,
        }
    }

    fn upsert(&self, points: Vec<t::Point>) -> Result<(), t::Error> {
        let mut batch = Vec::with_capacity(points.len());
        for p in points {
            let payload = match p.payload {
                Some(text) => Some(crate::parse_payload(Some(p.id), &text).map_err(error)?),
                None => None,
            };
            batch.push(crate::Point {
                id: p.id,
                vector: p.vector,
                payload,
            });
        }
        self.0.upsert(&batch).map_err(error)
    }

    fn get(&self, ids: Vec<u64>) -> Result<Vec<Option<t::Point>>, t::Error> {
        let points = self.0.get(&ids).map_err(error)?;
        Ok(points
            .into_iter()
            .map(|p| {
                p.map(|p| t::Point {
                    id: p.id,
                    payload: payload_text(p.payload.as_ref()),
                    vector: p.vector,
                })
            })
            .collect())
    }

    fn delete(&self, ids: Vec<u64>) -> Result<u64, t::Error> {
        self.0.delete(&ids).map(|n| n as u64).map_err(error)
    }

    fn search(
        &self,
        query: Vec<f32>,
        k: u32,
        options: t::SearchOptions,
    ) -> Result<Vec<t::Hit>, t::Error> {
        with_params(options, |p| {
            self.0
                .search_with(&query, k as usize, p)
                .map(hits)
                .map_err(error)
        })
    }

    fn search_batch(
        &self,
        queries: Vec<Vec<f32>>,
        k: u32,
        options: t::SearchOptions,
    ) -> Result<Vec<Vec<t::Hit>>, t::Error> {
        with_params(options, |p| {
            queries
                .iter()
                .map(|q| {
                    self.0
                        .search_with(q, k as usize, p)
                        .map(hits)
                        .map_err(error)
                })
                .collect()
        })
    }

    fn flush(&self) -> Result<(), t::Error> {
        self.0.flush().map_err(error)
    }

    fn checkpoint(&self) -> Result<(), t::Error> {
        self.0.checkpoint().map_err(error)
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn check(&self) -> Result<t::CheckReport, t::Error> {
        self.0.check().map(check_report).map_err(error)
    }

    fn compact(&self) -> Result<t::CompactReport, t::Error> {
        let r = self.0.compact().map_err(error)?;
        Ok(t::CompactReport {
            points: r.points,
            slots_before: r.slots_before,
            slots_after: r.slots_after,
            tombstones_dropped: r.tombstones_dropped,
            bytes_before: r.bytes_before,
            bytes_after: r.bytes_after,
        })
    }

    fn stats(&self) -> Result<t::Stats, t::Error> {
        let s = self.0.stats().map_err(error)?;
        Ok(t::Stats {
            len: s.len as u64,
            dimension: s.dimension,
            metric: metric_to_wit(s.metric),
            slots: s.slots,
            free_slots: s.free_slots as u64,
            wal_bytes: s.wal_bytes,
            vector_file_bytes: s.vector_file_bytes,
            unflushed: s.unflushed,
            generation: s.generation,
            recovery: t::RecoveryStats {
                replayed_records: s.recovery.replayed_records,
                dropped_bytes: s.recovery.dropped_bytes,
                torn_at: s.recovery.torn_at,
                graph_loaded: s.recovery.graph_loaded,
                graph_problem: s.recovery.graph_problem,
            },
            graph_nodes: s.graph_nodes as u64,
        })
    }
}
