//! Search (`points/search`, its batch form) and Qdrant's universal `points/query`: a nearest
//! query (dense, or sparse `using` a sparse field), or prefetch legs fused by `{"fusion":
//! "rrf" | "dbsf"}` (or `{"rrf": {"k"}}`). Re-scoring prefetched points by another query,
//! recommend, discover, context, formulas and server-side inference are 400s naming them.

use crate::filter;
use crate::json::{self, Payloads};
use crate::reply::{ApiError, ApiResult, Deadline};
use serde_json::{Value, json};
use veles::Source;
use veles::{Collection, Filter, Fusion, Hit, Leg, Query};

/// The most prefetch legs one query may fuse (the engine's own bound).
const MAX_PREFETCH: usize = veles::MAX_LEGS;

/// Queries of a batch answered from one view, between two looks at the deadline.
const BATCH_PART: usize = 64;

/// `params` of a search: `hnsw_ef` and `exact`.
fn params(body: &Value) -> ApiResult<(Option<usize>, bool)> {
    let Some(p) = body.get("params").filter(|p| !p.is_null()) else {
        return Ok((None, false));
    };
    let ef = match p.get("hnsw_ef") {
        None | Some(Value::Null) => None,
        Some(_) => Some(json::count(p, "hnsw_ef", 0)?),
    };
    Ok((ef, p.get("exact").and_then(Value::as_bool).unwrap_or(false)))
}

/// `POST /collections/{name}/points/search`.
pub(crate) fn search(c: &Collection, body: &Value) -> ApiResult {
    let q = search_query(body)?;
    let hits = c.query(&q.query)?;
    Ok(render(hits, q.offset, &q.payloads))
}

/// `POST /collections/{name}/points/search/batch`: `{"searches": [...]}`.
pub(crate) fn search_batch(c: &Collection, body: &Value, deadline: &Deadline) -> ApiResult {
    let searches = body
        .get("searches")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad("`searches` must be a list"))?;
    let parsed: Vec<Parsed> = searches
        .iter()
        .map(search_query)
        .collect::<ApiResult<_>>()?;
    let all = in_parts(c, &parsed, deadline)?;
    Ok(Value::Array(
        all.into_iter()
            .zip(&parsed)
            .map(|(hits, p)| render(hits, p.offset, &p.payloads))
            .collect(),
    ))
}

/// The queries of a batch, run [`BATCH_PART`] at a time (each part from one view of the
/// collection), stopping with a 503 when the deadline passes between parts.
fn in_parts(c: &Collection, parsed: &[Parsed], deadline: &Deadline) -> ApiResult<Vec<Vec<Hit>>> {
    let mut all = Vec::with_capacity(parsed.len());
    for part in parsed.chunks(BATCH_PART) {
        deadline.check()?;
        let queries: Vec<Query> = part.iter().map(|p| p.query.clone()).collect();
        all.extend(c.query_batch(&queries)?);
    }
    Ok(all)
}

/// A request made into a query, with what the answer keeps of it.
struct Parsed {
    query: Query,
    offset: usize,
    payloads: Payloads,
}

fn search_query(body: &Value) -> ApiResult<Parsed> {
    let (ef, exact) = params(body)?;
    let v = body
        .get("vector")
        .ok_or_else(|| ApiError::bad("`vector` is required"))?;
    // `{"name", "vector"}` names the vector searched: "" the dense one, else a sparse field.
    let (using, v) = match v {
        Value::Object(o) if o.contains_key("vector") => (
            o.get("name").and_then(Value::as_str).unwrap_or(""),
            &o["vector"],
        ),
        other => ("", other),
    };
    let leg = nearest(v, using, ef, exact)?;
    let payloads = Payloads::of(body, false)?;
    finish(vec![leg], Fusion::default(), body, payloads)
}

/// A nearest leg: `v` a list (the dense vector) or `{"indices", "values"}` (with `using`
/// naming a sparse field).
fn nearest(v: &Value, using: &str, ef: Option<usize>, exact: bool) -> ApiResult<Leg> {
    match v {
        Value::Array(_) if using.is_empty() => Ok(Leg::new(Source::Dense {
            vector: json::dense(v)?,
            ef,
            exact,
        })),
        Value::Array(_) => Err(ApiError::unsupported(&format!(
            "named dense vector `{using}` (one unnamed dense vector per collection)"
        ))),
        Value::Object(o) if o.contains_key("indices") => {
            if using.is_empty() {
                return Err(ApiError::bad(
                    "a sparse query needs `using`: the sparse field",
                ));
            }
            Ok(Leg::sparse(using, json::sparse(v)?))
        }
        Value::Object(o) if o.contains_key("nearest") => nearest(&o["nearest"], using, ef, exact),
        Value::Object(o) => {
            let kind = o.keys().next().map_or("{}", String::as_str);
            Err(ApiError::unsupported(&format!("query {kind}")))
        }
        other => Err(ApiError::bad(format!("{other} is not a query vector"))),
    }
}

/// The query's limit, offset, threshold and filter applied to `legs`.
fn finish(legs: Vec<Leg>, fusion: Fusion, body: &Value, payloads: Payloads) -> ApiResult<Parsed> {
    let limit = json::count(body, "limit", 10)?;
    let offset = json::count(body, "offset", 0)?;
    let top = filter::optional(body)?;
    let mut q = Query::new(limit.saturating_add(offset)).with_fusion(fusion);
    for mut leg in legs {
        // The top-level filter holds for every leg, with the leg's own.
        leg.filter = match (leg.filter.take(), &top) {
            (Some(own), Some(t)) => Some(Filter::And(vec![own, t.clone()])),
            (own, t) => own.or_else(|| t.clone()),
        };
        q = q.leg(leg);
    }
    if let Some(t) = body.get("score_threshold").and_then(Value::as_f64) {
        q = q.with_score_threshold(t as f32);
    }
    q = q
        .with_payload(payloads.wanted())
        .with_vector(json::with_vector(body));
    Ok(Parsed {
        query: q,
        offset,
        payloads,
    })
}

fn render(hits: Vec<veles::Hit>, offset: usize, payloads: &Payloads) -> Value {
    Value::Array(
        hits.into_iter()
            .skip(offset)
            .map(|h| json::scored(h, payloads))
            .collect(),
    )
}

/// `POST /collections/{name}/points/query`: `{"points": [...]}`.
pub(crate) fn query(c: &Collection, body: &Value) -> ApiResult {
    let p = query_of(body)?;
    let hits = c.query(&p.query)?;
    Ok(json!({"points": render(hits, p.offset, &p.payloads)}))
}

/// `POST /collections/{name}/points/query/batch`: `{"searches": [...]}`.
pub(crate) fn query_batch(c: &Collection, body: &Value, deadline: &Deadline) -> ApiResult {
    let searches = body
        .get("searches")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad("`searches` must be a list"))?;
    let parsed: Vec<Parsed> = searches.iter().map(query_of).collect::<ApiResult<_>>()?;
    let all = in_parts(c, &parsed, deadline)?;
    Ok(Value::Array(
        all.into_iter()
            .zip(&parsed)
            .map(|(hits, p)| json!({"points": render(hits, p.offset, &p.payloads)}))
            .collect(),
    ))
}

fn using(body: &Value) -> &str {
    body.get("using").and_then(Value::as_str).unwrap_or("")
}

fn query_of(body: &Value) -> ApiResult<Parsed> {
    for unsupported in ["lookup_from", "shard_key"] {
        if body.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported(unsupported));
        }
    }
    let (ef, exact) = params(body)?;
    let payloads = Payloads::of(body, false)?;
    let prefetch: Vec<&Value> = match body.get("prefetch") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(ApiError::bad("`prefetch` must be a list")),
    };
    if prefetch.len() > MAX_PREFETCH {
        return Err(ApiError::bad(format!(
            "more than {MAX_PREFETCH} prefetches"
        )));
    }
    let query = body.get("query").filter(|q| !q.is_null());
    if prefetch.is_empty() {
        let q = query.ok_or_else(|| ApiError::bad("`query` is required without `prefetch`"))?;
        let leg = nearest(q, using(body), ef, exact)?;
        return finish(vec![leg], Fusion::default(), body, payloads);
    }
    let fusion = match query {
        Some(q) => fusion_of(q)?,
        None => return Err(ApiError::unsupported("prefetch without a fusion query")),
    };
    let legs = prefetch
        .into_iter()
        .map(|p| {
            if p.get("prefetch").is_some_and(|x| !x.is_null()) {
                return Err(ApiError::unsupported("nested prefetch"));
            }
            let (ef, exact) = params(p)?;
            let q = p
                .get("query")
                .ok_or_else(|| ApiError::bad("a prefetch needs a `query`"))?;
            let mut leg = nearest(q, using(p), ef, exact)?;
            if let Some(limit) = p.get("limit").filter(|l| !l.is_null()) {
                let n = limit
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| ApiError::bad("a prefetch `limit` must be an integer"))?;
                leg = leg.with_limit(n);
            }
            if let Some(f) = filter::optional(p)? {
                leg = leg.with_filter(f);
            }
            Ok(leg)
        })
        .collect::<ApiResult<Vec<Leg>>>()?;
    finish(legs, fusion, body, payloads)
}

/// `{"fusion": "rrf" | "dbsf"}` or `{"rrf": {"k"}}`.
fn fusion_of(q: &Value) -> ApiResult<Fusion> {
    match (q.get("fusion").and_then(Value::as_str), q.get("rrf")) {
        (Some("rrf"), _) => Ok(Fusion::default()),
        (Some("dbsf"), _) => Ok(Fusion::Dbsf),
        (None, Some(rrf)) => {
            let k = rrf
                .get("k")
                .and_then(Value::as_f64)
                .map_or(veles::DEFAULT_RRF_K, |k| k as f32);
            Ok(Fusion::Rrf { k })
        }
        (Some(other), _) => Err(ApiError::unsupported(&format!("fusion {other}"))),
        _ => Err(ApiError::unsupported(
            "re-scoring prefetched points (only fusion: rrf or dbsf)",
        )),
    }
}
