//! Qdrant's filter JSON as a [`veles::Filter`].
//!
//! `must` (all), `should` (any), `must_not` (none), nested filters, and the conditions:
//! `{"key", "match": {"value" | "any" | "except" | "text" | "text_any" | "phrase"}}`,
//! `{"key", "range": {"gt", "gte", "lt", "lte"}}` (several in one condition all hold),
//! `{"is_empty": {"key"}}` (absent, null or `[]`), `{"is_null": {"key"}}` and
//! `{"has_id": [ids]}` (unsigned integers; a UUID is a 400 like every UUID id). Anything else
//! (`nested`, geo, `values_count`, `min_should`, datetime ranges) is a 400 naming it: a filter
//! Veles would read differently is never run.

use crate::reply::{ApiError, ApiResult};
use serde_json::{Map, Value};
use veles::{Filter, MatchMode, TextMatch};

/// The deepest nesting of filters accepted: deeper is a 400 (the engine's own bound applies
/// too), so a hostile body cannot exhaust the stack here.
const MAX_DEPTH: usize = 32;

/// The filter of a request body's `filter` member: `None` when absent or null.
pub(crate) fn optional(body: &Value) -> ApiResult<Option<Filter>> {
    match body.get("filter") {
        None | Some(Value::Null) => Ok(None),
        Some(f) => filter(f, 0).map(Some),
    }
}

/// A Qdrant filter object.
pub(crate) fn filter(v: &Value, depth: usize) -> ApiResult<Filter> {
    if depth > MAX_DEPTH {
        return Err(ApiError::bad(format!(
            "a filter nested deeper than {MAX_DEPTH}"
        )));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad("a filter must be a JSON object"))?;
    let mut all = Vec::new();
    for (k, x) in obj {
        match k.as_str() {
            "must" => {
                for c in conditions(x, depth)? {
                    // A field's several bounds come as one `And`: flattened, as written.
                    match c {
                        Filter::And(parts) => all.extend(parts),
                        other => all.push(other),
                    }
                }
            }
            "should" => {
                let any = conditions(x, depth)?;
                if !any.is_empty() {
                    all.push(Filter::Or(any));
                }
            }
            "must_not" => {
                let none = conditions(x, depth)?;
                if !none.is_empty() {
                    all.push(Filter::not(Filter::Or(none)));
                }
            }
            "min_should" => return Err(ApiError::unsupported("filter.min_should")),
            other => return Err(ApiError::bad(format!("unknown filter member `{other}`"))),
        }
    }
    Ok(match all.len() {
        1 => all.pop().unwrap_or(Filter::And(Vec::new())),
        _ => Filter::And(all),
    })
}

/// One condition or a list of them.
fn conditions(v: &Value, depth: usize) -> ApiResult<Vec<Filter>> {
    match v {
        Value::Array(xs) => xs.iter().map(|x| condition(x, depth)).collect(),
        Value::Null => Ok(Vec::new()),
        x => Ok(vec![condition(x, depth)?]),
    }
}

fn key_of(v: &Value, what: &str) -> ApiResult<String> {
    v.get("key")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad(format!("`{what}` needs a string `key`")))
}

fn condition(v: &Value, depth: usize) -> ApiResult<Filter> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad("a filter condition must be a JSON object"))?;
    if obj.contains_key("must") || obj.contains_key("should") || obj.contains_key("must_not") {
        return filter(v, depth + 1);
    }
    if let Some(x) = obj.get("is_empty") {
        let key = key_of(x, "is_empty")?;
        return Ok(Filter::Or(vec![
            Filter::not(Filter::exists(key.clone())),
            Filter::is_null(key.clone()),
            Filter::eq(key, Value::Array(Vec::new())),
        ]));
    }
    if let Some(x) = obj.get("is_null") {
        return Ok(Filter::is_null(key_of(x, "is_null")?));
    }
    if let Some(x) = obj.get("has_id") {
        let ids = x
            .as_array()
            .ok_or_else(|| ApiError::bad("`has_id` takes a list of ids"))?;
        return Ok(Filter::has_id(
            ids.iter()
                .map(crate::json::id)
                .collect::<ApiResult<Vec<u64>>>()?,
        ));
    }
    for unsupported in ["nested", "has_vector"] {
        if obj.contains_key(unsupported) {
            return Err(ApiError::unsupported(unsupported));
        }
    }
    let key = key_of(v, "a field condition")?;
    let mut all = Vec::new();
    for (k, x) in obj {
        match k.as_str() {
            "key" => {}
            "match" => all.push(matches(&key, x)?),
            "range" => all.extend(range(&key, x)?),
            other => return Err(ApiError::unsupported(&format!("condition.{other}"))),
        }
    }
    match all.len() {
        0 => Err(ApiError::bad(format!(
            "the condition on `{key}` has no `match` or `range`"
        ))),
        1 => Ok(all.remove(0)),
        _ => Ok(Filter::And(all)),
    }
}

fn matches(key: &str, m: &Value) -> ApiResult<Filter> {
    let obj = m
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::bad("`match` takes one of value, any, except, text, phrase"))?;
    let (kind, x) = obj.iter().next().expect("one member, checked above");
    let list = |x: &Value| -> ApiResult<Vec<Value>> {
        x.as_array()
            .cloned()
            .ok_or_else(|| ApiError::bad(format!("`match.{kind}` takes an array")))
    };
    let text = |x: &Value, mode| -> ApiResult<Filter> {
        let t = x
            .as_str()
            .ok_or_else(|| ApiError::bad(format!("`match.{kind}` takes a string")))?;
        let condition = veles::Condition::Match(TextMatch::new(t, mode));
        Ok(Filter::field(key, condition))
    };
    match kind.as_str() {
        "value" => match x {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(Filter::eq(key, x.clone())),
            _ => Err(ApiError::bad(
                "`match.value` takes a string, number or boolean",
            )),
        },
        "any" => Ok(Filter::is_in(key, list(x)?)),
        "except" => Ok(Filter::not(Filter::is_in(key, list(x)?))),
        "text" => text(x, MatchMode::All),
        "text_any" => text(x, MatchMode::Any),
        "phrase" => text(x, MatchMode::Phrase),
        other => Err(ApiError::unsupported(&format!("match.{other}"))),
    }
}

fn range(key: &str, r: &Value) -> ApiResult<Vec<Filter>> {
    let obj: &Map<String, Value> = r
        .as_object()
        .ok_or_else(|| ApiError::bad("`range` takes an object"))?;
    let mut out = Vec::new();
    for (k, x) in obj {
        if x.is_null() {
            continue;
        }
        if !x.is_number() {
            return Err(ApiError::unsupported(&format!(
                "range.{k} of a non-number (datetime ranges)"
            )));
        }
        out.push(match k.as_str() {
            "gt" => Filter::gt(key, x.clone()),
            "gte" => Filter::gte(key, x.clone()),
            "lt" => Filter::lt(key, x.clone()),
            "lte" => Filter::lte(key, x.clone()),
            other => return Err(ApiError::bad(format!("unknown range bound `{other}`"))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> ApiResult<Filter> {
        filter(&v, 0)
    }

    #[test]
    fn qdrant_filters_translate_and_what_veles_lacks_is_a_400_naming_it() {
        let got = f(
            json!({"must": [{"key": "year", "range": {"gte": 2020, "lt": 2024}}],
                             "must_not": {"key": "lang", "match": {"value": "en"}}}),
        )
        .unwrap();
        let want = Filter::And(vec![
            Filter::gte("year", 2020),
            Filter::lt("year", 2024),
            Filter::not(Filter::Or(vec![Filter::eq("lang", "en")])),
        ]);
        assert_eq!(got, want);
        assert_eq!(
            f(json!({"should": [{"key": "t", "match": {"any": ["a", "b"]}}]})).unwrap(),
            Filter::Or(vec![Filter::is_in("t", vec![json!("a"), json!("b")])])
        );
        assert_eq!(
            f(json!({"must_not": [{"has_id": [1, 2]}]})).unwrap(),
            Filter::not(Filter::Or(vec![Filter::has_id([1, 2])]))
        );
        for (body, named) in [
            (json!({"must": [{"has_id": [1, "x"]}]}), "id"),
            (json!({"must": [{"nested": {}}]}), "nested"),
            (
                json!({"must": [{"key": "a", "geo_radius": {}}]}),
                "geo_radius",
            ),
            (
                json!({"min_should": {"conditions": [], "min_count": 1}}),
                "min_should",
            ),
            (
                json!({"must": [{"key": "d", "range": {"gte": "2020-01-01"}}]}),
                "range.gte",
            ),
        ] {
            let e = f(body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(named), "{}", e.message);
        }
        let mut deep = json!({"must": [{"key": "a", "match": {"value": 1}}]});
        for _ in 0..100 {
            deep = json!({"must": [deep]});
        }
        assert_eq!(f(deep).unwrap_err().status, 400);
    }
}
