//! The request parts every route shares, read as Qdrant writes them, and the point shapes it
//! answers with.
//!
//! Ids are unsigned integers: Qdrant also takes UUID strings, which a 400 refuses here
//! (Veles ids are `u64`). A point's `vector` is a list (the collection's dense vector), or an
//! object of named vectors: `""` for the dense one and a sparse field's name for
//! `{"indices", "values"}`; other named dense vectors are refused.

use crate::reply::{ApiError, ApiResult};
use serde_json::{Map, Value, json};
use veles::{Point, SparseVector};

/// A point id.
pub(crate) fn id(v: &Value) -> ApiResult<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| ApiError::bad(format!("point id {n} is not an unsigned integer"))),
        Value::String(_) => Err(ApiError::bad(
            "UUID point ids are not supported by this server (veles): use unsigned integers",
        )),
        other => Err(ApiError::bad(format!("{other} is not a point id"))),
    }
}

/// A list of point ids.
pub(crate) fn ids(v: Option<&Value>, what: &str) -> ApiResult<Vec<u64>> {
    v.and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad(format!("`{what}` must be a list of point ids")))?
        .iter()
        .map(id)
        .collect()
}

/// A dense vector: a list of numbers (finite or not: the engine refuses what its metric
/// cannot use, with its own message).
pub(crate) fn dense(v: &Value) -> ApiResult<Vec<f32>> {
    v.as_array()
        .ok_or_else(|| ApiError::bad("a vector must be a list of numbers"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| ApiError::bad(format!("{x} in a vector is not a number")))
        })
        .collect()
}

/// A sparse vector `{"indices", "values"}`.
pub(crate) fn sparse(v: &Value) -> ApiResult<SparseVector> {
    SparseVector::from_json(v).map_err(ApiError::from)
}

/// A point's sparse vectors, by field.
type Sparse = Vec<(String, SparseVector)>;

/// A point's vectors: the dense one and the sparse fields' (by name).
pub(crate) fn vectors(v: &Value) -> ApiResult<(Vec<f32>, Sparse)> {
    match v {
        Value::Array(_) => Ok((dense(v)?, Vec::new())),
        Value::Object(named) => {
            let mut dense_one = None;
            let mut sparse_ones = Vec::new();
            for (name, x) in named {
                match (name.as_str(), x) {
                    ("", _) => dense_one = Some(dense(x)?),
                    (_, Value::Object(_)) => sparse_ones.push((name.clone(), sparse(x)?)),
                    _ => {
                        return Err(ApiError::unsupported(&format!(
                            "named dense vector `{name}` (one unnamed dense vector per collection)"
                        )));
                    }
                }
            }
            let dense_one =
                dense_one.ok_or_else(|| ApiError::bad("a point needs its dense vector"))?;
            Ok((dense_one, sparse_ones))
        }
        _ => Err(ApiError::bad(
            "`vector` must be a list or an object of named vectors",
        )),
    }
}

/// A point to upsert from its id, vector(s) and payload.
pub(crate) fn point(
    id_v: &Value,
    vector: Option<&Value>,
    payload: Option<&Value>,
) -> ApiResult<Point> {
    let vector = vector.ok_or_else(|| ApiError::bad("a point needs a `vector`"))?;
    let (dense_one, sparse_ones) = vectors(vector)?;
    let mut p = Point::new(id(id_v)?, dense_one);
    for (name, v) in sparse_ones {
        p = p.with_sparse(name, v);
    }
    match payload {
        None | Some(Value::Null) => Ok(p),
        Some(obj @ Value::Object(_)) => Ok(p.with_payload(obj.clone())),
        Some(_) => Err(ApiError::bad("a payload must be a JSON object")),
    }
}

/// Which payload keys a request wants back (`with_payload`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payloads {
    All,
    No,
    Only(Vec<String>),
    AllBut(Vec<String>),
}

impl Payloads {
    /// `with_payload` from a body (`default` where absent: Qdrant's routes differ).
    pub(crate) fn of(body: &Value, default: bool) -> ApiResult<Payloads> {
        let keys = |x: &Value| -> ApiResult<Vec<String>> {
            x.as_array()
                .and_then(|a| a.iter().map(|k| k.as_str().map(str::to_string)).collect())
                .ok_or_else(|| ApiError::bad("`with_payload` keys must be strings"))
        };
        Ok(match body.get("with_payload") {
            None | Some(Value::Null) if default => Payloads::All,
            None | Some(Value::Null) => Payloads::No,
            Some(Value::Bool(true)) => Payloads::All,
            Some(Value::Bool(false)) => Payloads::No,
            Some(a @ Value::Array(_)) => Payloads::Only(keys(a)?),
            Some(Value::Object(o)) => match (o.get("include"), o.get("exclude")) {
                (Some(k), None) => Payloads::Only(keys(k)?),
                (None, Some(k)) => Payloads::AllBut(keys(k)?),
                _ => return Err(ApiError::bad("`with_payload` takes include or exclude")),
            },
            Some(other) => return Err(ApiError::bad(format!("`with_payload` {other}"))),
        })
    }

    pub(crate) fn wanted(&self) -> bool {
        *self != Payloads::No
    }

    /// The payload as asked for (top-level keys).
    pub(crate) fn apply(&self, payload: Option<Value>) -> Value {
        let Some(Value::Object(map)) = payload else {
            return match self {
                Payloads::No => Value::Null,
                _ => json!({}),
            };
        };
        let keep = |k: &String| match self {
            Payloads::All => true,
            Payloads::No => false,
            Payloads::Only(keys) => keys.contains(k),
            Payloads::AllBut(keys) => !keys.contains(k),
        };
        match self {
            Payloads::No => Value::Null,
            _ => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| keep(k))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// `with_vector` from a body: a bool, or a list of names (any name asks for them).
pub(crate) fn with_vector(body: &Value) -> bool {
    match body.get("with_vector").or_else(|| body.get("with_vectors")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    }
}

/// A point's vectors as Qdrant prints them: the list alone, or with sparse fields an
/// object of named vectors (`""` for the dense one).
fn vector_json(p: &Point) -> Value {
    if p.sparse.is_empty() {
        return json!(p.vector);
    }
    let mut named = Map::new();
    named.insert(String::new(), json!(p.vector));
    for (name, v) in &p.sparse {
        named.insert(name.clone(), v.to_json());
    }
    Value::Object(named)
}

/// A point as a `Record`.
pub(crate) fn record(p: Point, payloads: &Payloads, with_vector: bool) -> Value {
    let vector = if with_vector {
        vector_json(&p)
    } else {
        Value::Null
    };
    json!({
        "id": p.id,
        "payload": payloads.apply(p.payload),
        "vector": vector,
        "shard_key": null,
        "order_value": null,
    })
}

/// A hit as a `ScoredPoint`.
pub(crate) fn scored(h: veles::Hit, payloads: &Payloads) -> Value {
    json!({
        "id": h.id,
        "version": 0,
        "score": h.score,
        "payload": payloads.apply(h.payload),
        "vector": h.vector,
        "shard_key": null,
        "order_value": null,
    })
}

/// A non-negative integer member of `body`, or `default`.
pub(crate) fn count(body: &Value, key: &str, default: usize) -> ApiResult<usize> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ApiError::bad(format!("`{key}` must be a non-negative integer"))),
    }
}
