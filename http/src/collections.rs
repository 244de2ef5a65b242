//! Collections (create, info, list, exists, delete) and payload indexes, as Qdrant's routes
//! shape them.
//!
//! A collection has one unnamed dense vector (`"vectors": {"size", "distance"}`; distances
//! Cosine, Euclid, Dot) and optionally sparse fields (`"sparse_vectors": {name: {"modifier":
//! "idf"}}`). Deployment hints that change no answer (shards, replicas, `on_disk`, optimizer
//! and WAL settings) are accepted and ignored; scalar int8 quantization is what Veles always
//! walks on; what would change answers or storage (named dense vectors, multivectors, other
//! quantizations) is a 400 naming it.

use crate::reply::{ApiError, ApiResult};
use serde_json::{Map, Value, json};
use veles::{CollectionConfig, Database, IndexKind, Metric, SparseField};

/// Members of a create request that are deployment hints: accepted, changing nothing.
const HINTS: [&str; 10] = [
    "shard_number",
    "sharding_method",
    "replication_factor",
    "write_consistency_factor",
    "on_disk_payload",
    "optimizers_config",
    "wal_config",
    "strict_mode_config",
    "timeout",
    "metadata",
];

fn metric_of(distance: &str) -> ApiResult<Metric> {
    match distance {
        "Cosine" => Ok(Metric::Cosine),
        "Euclid" => Ok(Metric::Euclidean),
        "Dot" => Ok(Metric::Dot),
        other => Err(ApiError::unsupported(&format!("distance {other}"))),
    }
}

fn distance_of(m: Metric) -> &'static str {
    match m {
        Metric::Cosine => "Cosine",
        Metric::Euclidean => "Euclid",
        Metric::Dot => "Dot",
        // No Qdrant name: clients that know only Qdrant's four cannot read these.
        Metric::Hamming => "Hamming",
        _ => "Jaccard",
    }
}

/// `PUT /collections/{name}`.
pub(crate) fn create(db: &Database, name: &str, body: &Value) -> ApiResult {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad("the body must be a JSON object"))?;
    let mut config: Option<CollectionConfig> = None;
    let mut hnsw: Option<(u32, u32)> = None;
    let mut sparse = Vec::new();
    for (k, v) in obj {
        if v.is_null() || HINTS.contains(&k.as_str()) {
            continue;
        }
        match k.as_str() {
            "vectors" => config = Some(vectors_config(v)?),
            "hnsw_config" => {
                let m = v.get("m").and_then(Value::as_u64).unwrap_or(16);
                let ef = v.get("ef_construct").and_then(Value::as_u64).unwrap_or(200);
                hnsw = Some((
                    u32::try_from(m).map_err(|_| ApiError::bad("hnsw_config.m"))?,
                    u32::try_from(ef).map_err(|_| ApiError::bad("hnsw_config.ef_construct"))?,
                ));
            }
            "sparse_vectors" => {
                for (field, params) in v
                    .as_object()
                    .ok_or_else(|| ApiError::bad("`sparse_vectors` takes an object"))?
                {
                    let idf = match params.get("modifier").and_then(Value::as_str) {
                        None | Some("none") => false,
                        Some("idf") => true,
                        Some(other) => {
                            return Err(ApiError::unsupported(&format!("modifier {other}")));
                        }
                    };
                    sparse.push(SparseField::new(field.clone(), idf));
                }
            }
            "quantization_config" if v.get("scalar").is_some() => {}
            other => return Err(ApiError::unsupported(other)),
        }
    }
    let mut config =
        config.ok_or_else(|| ApiError::bad("`vectors` {size, distance} is required"))?;
    if let Some((m, ef)) = hnsw {
        config = config.with_hnsw(m, ef);
    }
    for field in sparse {
        config = config.with_sparse(field);
    }
    db.create_collection(name, config)?;
    Ok(json!(true))
}

fn vectors_config(v: &Value) -> ApiResult<CollectionConfig> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad("`vectors` takes {size, distance}"))?;
    if !obj.contains_key("size") {
        return Err(ApiError::unsupported(
            "named dense vectors (one unnamed dense vector per collection)",
        ));
    }
    for (k, x) in obj {
        match k.as_str() {
            "size" | "distance" | "on_disk" | "hnsw_config" => {}
            "datatype" if x == "float32" || x.is_null() => {}
            "quantization_config" if x.is_null() || x.get("scalar").is_some() => {}
            _ if x.is_null() => {}
            other => return Err(ApiError::unsupported(&format!("vectors.{other}"))),
        }
    }
    let size = obj
        .get("size")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| ApiError::bad("`vectors.size` must be a positive integer"))?;
    let distance = obj
        .get("distance")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("`vectors.distance` is required"))?;
    Ok(CollectionConfig::new(size, metric_of(distance)?))
}

/// `GET /collections`.
pub(crate) fn list(db: &Database) -> ApiResult {
    let names = db.list()?;
    let all: Vec<Value> = names.into_iter().map(|n| json!({"name": n})).collect();
    Ok(json!({"collections": all}))
}

/// `GET /collections/{name}/exists`.
pub(crate) fn exists(db: &Database, name: &str) -> ApiResult {
    Ok(json!({"exists": db.list()?.iter().any(|n| n == name)}))
}

/// `DELETE /collections/{name}`: true when it existed.
pub(crate) fn delete(db: &Database, name: &str) -> ApiResult {
    match db.drop_collection(name) {
        Ok(()) => Ok(json!(true)),
        Err(veles::Error::CollectionNotFound(_)) => Ok(json!(false)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /collections/{name}`: a `CollectionInfo`.
pub(crate) fn info(db: &Database, name: &str) -> ApiResult {
    let c = db.collection(name)?;
    let s = c.stats()?;
    let cfg = c.config();
    let mut schema = Map::new();
    for i in c.indexes()? {
        schema.insert(
            i.key.clone(),
            json!({"data_type": i.kind.name(), "points": i.points, "params": null}),
        );
    }
    let sparse: Map<String, Value> = cfg
        .sparse
        .iter()
        .map(|f| {
            let modifier = if f.idf { "idf" } else { "none" };
            (f.name.clone(), json!({"modifier": modifier}))
        })
        .collect();
    // Yellow while the graph has a whole step to link (Qdrant: optimizing); a partial step
    // waits for the next write or checkpoint and is scanned meanwhile.
    let status = if s.unindexed < veles::LINK_STEP {
        "green"
    } else {
        "yellow"
    };
    Ok(json!({
        "status": status,
        "optimizer_status": "ok",
        "indexed_vectors_count": s.graph_nodes.min(s.len),
        "points_count": s.len,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": {"size": cfg.dimension, "distance": distance_of(cfg.metric)},
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": true,
                "sparse_vectors": if sparse.is_empty() { Value::Null } else { Value::Object(sparse) },
            },
            "hnsw_config": {
                "m": cfg.m,
                "ef_construct": cfg.ef_construction,
                "full_scan_threshold": veles::EXACT_BELOW,
                "max_indexing_threads": 0,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.25,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 1,
                "max_segment_size": null,
                "memmap_threshold": null,
                "indexing_threshold": veles::DEFAULT_MAX_UNINDEXED,
                "flush_interval_sec": 0,
                "max_optimization_threads": null,
            },
            "wal_config": {"wal_capacity_mb": 64, "wal_segments_ahead": 0},
            "quantization_config": {"scalar": {"type": "int8", "always_ram": true}},
        },
        "payload_schema": schema,
    }))
}

fn index_kind(schema: &Value) -> ApiResult<IndexKind> {
    let name = match schema {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad("`field_schema` needs a `type`"))?,
        _ => return Err(ApiError::bad("`field_schema` must be a name or {type, …}")),
    };
    match name {
        "keyword" => Ok(IndexKind::Keyword),
        "integer" => Ok(IndexKind::Integer),
        "float" => Ok(IndexKind::Float),
        "bool" => Ok(IndexKind::Bool),
        "text" => Ok(IndexKind::Text),
        other => Err(ApiError::unsupported(&format!("field_schema {other}"))),
    }
}

/// `PUT /collections/{name}/index`: `{"field_name", "field_schema"}`; flushed when `wait`.
pub(crate) fn create_index(db: &Database, name: &str, body: &Value, wait: bool) -> ApiResult {
    let key = body
        .get("field_name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("`field_name` is required"))?;
    let schema = body
        .get("field_schema")
        .ok_or_else(|| ApiError::bad("`field_schema` is required"))?;
    let c = db.collection(name)?;
    c.create_index(key, index_kind(schema)?)?;
    if wait {
        c.flush()?;
    }
    Ok(crate::reply::update(wait))
}

/// `DELETE /collections/{name}/index/{field}`: every index on the key; flushed when `wait`.
pub(crate) fn delete_index(db: &Database, name: &str, key: &str, wait: bool) -> ApiResult {
    let c = db.collection(name)?;
    for i in c.indexes()?.into_iter().filter(|i| i.key == key) {
        c.drop_index(key, i.kind)?;
    }
    if wait {
        c.flush()?;
    }
    Ok(crate::reply::update(wait))
}
