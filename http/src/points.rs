//! Points: upsert (list and batch forms), get, delete (by ids or filter), payload updates,
//! scroll and count. A write with `wait=true` is flushed (durable) before it is answered.

use crate::filter;
use crate::json::{self, Payloads};
use crate::reply::{ApiError, ApiResult, update};
use serde_json::{Value, json};
use veles::{Collection, Include, Point};

/// `PUT /collections/{name}/points`: `{"points": [{id, vector, payload}]}` or
/// `{"batch": {"ids", "vectors", "payloads"}}`, applied as one batch.
pub(crate) fn upsert(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    let points: Vec<Point> = match (body.get("points"), body.get("batch")) {
        (Some(Value::Array(list)), None) => list
            .iter()
            .map(|p| {
                json::point(
                    p.get("id").unwrap_or(&Value::Null),
                    p.get("vector"),
                    p.get("payload"),
                )
            })
            .collect::<ApiResult<_>>()?,
        (None, Some(batch)) => {
            let ids = batch
                .get("ids")
                .and_then(Value::as_array)
                .ok_or_else(|| ApiError::bad("`batch.ids` must be a list"))?;
            let vectors = columns(batch.get("vectors"), ids.len(), "vectors")?;
            let payloads = match batch.get("payloads") {
                None | Some(Value::Null) => vec![Value::Null; ids.len()],
                Some(Value::Array(p)) if p.len() == ids.len() => p.clone(),
                Some(_) => return Err(ApiError::bad("`batch.payloads` must match `batch.ids`")),
            };
            ids.iter()
                .zip(vectors)
                .zip(&payloads)
                .map(|((id, v), p)| json::point(id, Some(&v), Some(p)))
                .collect::<ApiResult<_>>()?
        }
        _ => return Err(ApiError::bad("give `points` (a list) or `batch`")),
    };
    c.upsert(&points)?;
    finish(c, wait)
}

/// The batch form's vectors, one value per point: a list of lists, or named columns
/// (`{"": [...], "sparse": [...]}`) turned into one object per point.
fn columns(v: Option<&Value>, n: usize, what: &str) -> ApiResult<Vec<Value>> {
    match v {
        Some(Value::Array(rows)) if rows.len() == n => Ok(rows.clone()),
        Some(Value::Object(named)) => {
            let mut out = vec![serde_json::Map::new(); n];
            for (name, col) in named {
                let col = col.as_array().filter(|c| c.len() == n).ok_or_else(|| {
                    ApiError::bad(format!("`batch.{what}.{name}` must match the ids"))
                })?;
                for (row, x) in out.iter_mut().zip(col) {
                    row.insert(name.clone(), x.clone());
                }
            }
            Ok(out.into_iter().map(Value::Object).collect())
        }
        _ => Err(ApiError::bad(format!(
            "`batch.{what}` must match `batch.ids`"
        ))),
    }
}

/// A write's answer: flushed first when `wait`.
fn finish(c: &Collection, wait: bool) -> ApiResult {
    if wait {
        c.flush()?;
    }
    Ok(update(wait))
}

/// `POST /collections/{name}/points`: `{"ids", "with_payload", "with_vector"}`, the points
/// found, in the order asked (missing ones left out, as Qdrant does).
pub(crate) fn get(c: &Collection, body: &Value) -> ApiResult {
    let ids = json::ids(body.get("ids"), "ids")?;
    let payloads = Payloads::of(body, true)?;
    let with_vector = json::with_vector(body);
    let include = Include::new(with_vector, payloads.wanted());
    let found = c.get_with(&ids, include)?;
    let out: Vec<Value> = found
        .into_iter()
        .flatten()
        .map(|p| json::record(p, &payloads, with_vector))
        .collect();
    Ok(Value::Array(out))
}

/// `GET /collections/{name}/points/{id}`.
pub(crate) fn get_one(c: &Collection, id: &str) -> ApiResult {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("point id `{id}` is not an unsigned integer")))?;
    match c.get(&[id])?.pop().flatten() {
        Some(p) => Ok(json::record(p, &Payloads::All, true)),
        None => Err(ApiError::not_found(format!("No point with id {id} found"))),
    }
}

/// The points a payload or delete request names: `points` (ids) or `filter`.
enum Selector {
    Ids(Vec<u64>),
    Filter(veles::Filter),
}

fn selector(body: &Value) -> ApiResult<Selector> {
    match (body.get("points"), filter::optional(body)?) {
        (Some(_), Some(_)) => Err(ApiError::bad("give `points` or `filter`, not both")),
        (Some(p), None) => Ok(Selector::Ids(json::ids(Some(p), "points")?)),
        (None, Some(f)) => Ok(Selector::Filter(f)),
        (None, None) => Err(ApiError::bad("give `points` (ids) or `filter`")),
    }
}

/// The ids a selector names (a filter's, read in one consistent pass).
fn selected(c: &Collection, s: Selector) -> ApiResult<Vec<u64>> {
    match s {
        Selector::Ids(ids) => Ok(ids),
        Selector::Filter(f) => {
            let none = Include::new(false, false);
            Ok(c.points(Some(f), none)
                .map(|p| p.map(|p| p.id))
                .collect::<Result<_, _>>()?)
        }
    }
}

/// `POST /collections/{name}/points/delete`.
pub(crate) fn delete(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    match selector(body)? {
        Selector::Ids(ids) => c.delete(&ids).map(drop)?,
        Selector::Filter(f) => c.delete_by_filter(&f).map(drop)?,
    }
    finish(c, wait)
}

fn payload_of(body: &Value) -> ApiResult<&serde_json::Map<String, Value>> {
    body.get("payload")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad("`payload` must be a JSON object"))
}

/// `POST /collections/{name}/points/payload`: set these keys, keeping the others.
pub(crate) fn set_payload(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    if body.get("key").is_some_and(|k| !k.is_null()) {
        return Err(ApiError::unsupported("set_payload.key"));
    }
    let fields = payload_of(body)?;
    let ids = selected(c, selector(body)?)?;
    c.set_payload(&ids, fields)?;
    finish(c, wait)
}

/// `PUT /collections/{name}/points/payload`: replace the whole payload.
pub(crate) fn overwrite_payload(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    let payload = Value::Object(payload_of(body)?.clone());
    let ids = selected(c, selector(body)?)?;
    c.overwrite_payload(&ids, Some(&payload))?;
    finish(c, wait)
}

/// `POST /collections/{name}/points/payload/delete`: `{"keys", "points" | "filter"}`.
pub(crate) fn delete_payload(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    let keys: Vec<String> = body
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|k| k.as_str().map(str::to_string)).collect())
        .ok_or_else(|| ApiError::bad("`keys` must be a list of strings"))?;
    let ids = selected(c, selector(body)?)?;
    c.delete_payload_keys(&ids, &keys)?;
    finish(c, wait)
}

/// `POST /collections/{name}/points/payload/clear`: `{"points" | "filter"}`.
pub(crate) fn clear_payload(c: &Collection, body: &Value, wait: bool) -> ApiResult {
    let ids = selected(c, selector(body)?)?;
    c.overwrite_payload(&ids, None)?;
    finish(c, wait)
}

/// `POST /collections/{name}/points/scroll`: by id from `offset`, `limit` (10) at a time.
pub(crate) fn scroll(c: &Collection, body: &Value) -> ApiResult {
    if body.get("order_by").is_some_and(|o| !o.is_null()) {
        return Err(ApiError::unsupported("order_by"));
    }
    let start = match body.get("offset") {
        None | Some(Value::Null) => 0,
        Some(v) => json::id(v)?,
    };
    let limit = json::count(body, "limit", 10)?;
    let filter = filter::optional(body)?;
    let payloads = Payloads::of(body, true)?;
    let with_vector = json::with_vector(body);
    let include = Include::new(with_vector, payloads.wanted());
    let page = c.scroll(start, limit, filter.as_ref(), include)?;
    let points: Vec<Value> = page
        .points
        .into_iter()
        .map(|p| json::record(p, &payloads, with_vector))
        .collect();
    Ok(json!({"points": points, "next_page_offset": page.next}))
}

/// `POST /collections/{name}/points/count`: always exact.
pub(crate) fn count(c: &Collection, body: &Value) -> ApiResult {
    let filter = filter::optional(body)?;
    Ok(json!({"count": c.count(filter.as_ref())?}))
}
