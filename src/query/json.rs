//! The JSON form of a query (what the CLI, and later the HTTP API and bindings, take):
//!
//! ```json
//! {"legs": [{"dense": [0.1, 0.2], "ef": 64, "exact": false, "limit": 50, "weight": 1},
//!           {"text": "red shoes", "key": "body", "k1": 1.2, "b": 0.75, "filter": {…}}],
//!  "fusion": "rrf" | "dbsf" | "relative" | {"rrf": {"k": 2}},
//!  "limit": 10, "score_threshold": 0.5, "with_payload": true, "with_vector": false}
//! ```
//! A sparse leg: `{"sparse": {"indices": [3, 17], "values": [0.5, 1.2]}, "field": "bm25"}`.
//! Every member but `legs` is optional (defaults as [`Query::new`] with limit 10); a leg has
//! exactly one of `dense`, `text` and `sparse` (a text leg's `key` defaults to `"text"`; a
//! sparse leg needs its `field`).

use super::types::{Fusion, Leg, Query, Source};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::text::Bm25;
use serde_json::{Map, Value};

fn bad(m: String) -> Error {
    Error::InvalidArgument(format!("query: {m}"))
}

fn number(k: &str, v: &Value) -> Result<f64> {
    v.as_f64()
        .ok_or_else(|| bad(format!("{k:?} takes a number, got {v}")))
}

fn count(k: &str, v: &Value) -> Result<usize> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad(format!("{k:?} takes a whole number, got {v}")))
}

fn flag(k: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| bad(format!("{k:?} takes true or false, got {v}")))
}

impl Query {
    /// Parses the JSON form (see the module docs).
    pub fn from_json(v: &Value) -> Result<Query> {
        let obj = v
            .as_object()
            .ok_or_else(|| bad(format!("a query is a JSON object, got {v}")))?;
        let mut q = Query::new(10);
        let mut legs = None;
        for (k, x) in obj {
            match k.as_str() {
                "legs" => {
                    let items = x
                        .as_array()
                        .ok_or_else(|| bad("\"legs\" takes an array of legs".into()))?;
                    legs = Some(items.iter().map(leg).collect::<Result<Vec<_>>>()?);
                }
                "fusion" => q.fusion = fusion(x)?,
                "limit" => q.limit = count(k, x)?,
                "score_threshold" => q.score_threshold = Some(number(k, x)? as f32),
                "with_payload" => q.include.payload = flag(k, x)?,
                "with_vector" => q.include.vector = flag(k, x)?,
                other => return Err(bad(format!("unknown member {other:?}"))),
            }
        }
        q.legs = legs.ok_or_else(|| bad("a query needs \"legs\"".into()))?;
        q.validate()?;
        Ok(q)
    }

    /// Parses JSON text.
    pub fn from_json_str(text: &str) -> Result<Query> {
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        Query::from_json(&v)
    }
}

fn fusion(x: &Value) -> Result<Fusion> {
    let named = |name: &str, k: Option<f32>| -> Result<Fusion> {
        match name {
            "rrf" => Ok(Fusion::Rrf {
                k: k.unwrap_or(super::types::DEFAULT_RRF_K),
            }),
            "dbsf" => Ok(Fusion::Dbsf),
            "relative" => Ok(Fusion::Relative),
            other => Err(bad(format!(
                "unknown fusion {other:?} (expected rrf, dbsf or relative)"
            ))),
        }
    };
    match x {
        Value::String(s) => named(s, None),
        Value::Object(o) if o.len() == 1 => {
            let (name, params) = o.iter().next().expect("one member");
            let k = match params.get("k") {
                Some(k) => Some(number("k", k)? as f32),
                None => None,
            };
            named(name, k)
        }
        other => Err(bad(format!(
            "\"fusion\" takes \"rrf\", \"dbsf\", \"relative\" or {{\"rrf\": {{\"k\": 2}}}}, got {other}"
        ))),
    }
}

fn leg(v: &Value) -> Result<Leg> {
    let obj: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| bad(format!("a leg is a JSON object, got {v}")))?;
    let source = match (obj.get("dense"), obj.get("text"), obj.get("sparse")) {
        (None, None, Some(sp)) => Source::Sparse {
            field: String::new(),
            vector: crate::SparseVector::from_json(sp)?,
        },
        (Some(d), None, None) => {
            let vector = d
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_f64().map(|f| f as f32))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad("\"dense\" takes an array of numbers".into()))?;
            Source::Dense {
                vector,
                ef: None,
                exact: false,
            }
        }
        (None, Some(t), None) => Source::Text {
            key: "text".into(),
            text: t
                .as_str()
                .ok_or_else(|| bad("\"text\" takes a string".into()))?
                .to_string(),
            bm25: Bm25::default(),
        },
        _ => {
            return Err(bad(format!(
                "a leg has exactly one of \"dense\" and \"text\": {v}"
            )));
        }
    };
    let mut leg = Leg::new(source);
    let sparse_unnamed = matches!(&leg.source, Source::Sparse { .. }) && obj.get("field").is_none();
    if sparse_unnamed {
        return Err(bad("a sparse leg needs its \"field\"".into()));
    }
    for (k, x) in obj {
        match (k.as_str(), &mut leg.source) {
            ("dense" | "text" | "sparse", _) => {}
            ("field", Source::Sparse { field, .. }) => {
                *field = x
                    .as_str()
                    .ok_or_else(|| bad("\"field\" takes a string".into()))?
                    .to_string()
            }
            ("limit", _) => leg.limit = Some(count(k, x)?),
            ("weight", _) => leg.weight = number(k, x)? as f32,
            ("filter", _) => leg.filter = Some(Filter::from_json(x)?),
            ("ef", Source::Dense { ef, .. }) => *ef = Some(count(k, x)?),
            ("exact", Source::Dense { exact, .. }) => *exact = flag(k, x)?,
            ("key", Source::Text { key, .. }) => {
                *key = x
                    .as_str()
                    .ok_or_else(|| bad("\"key\" takes a string".into()))?
                    .to_string()
            }
            ("k1", Source::Text { bm25, .. }) => bm25.k1 = number(k, x)? as f32,
            ("b", Source::Text { bm25, .. }) => bm25.b = number(k, x)? as f32,
            (other, _) => return Err(bad(format!("unknown leg member {other:?} for this leg"))),
        }
    }
    Ok(leg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_json_form_parses_and_bad_forms_are_refused() {
        let q = Query::from_json(&json!({
            "legs": [
                {"dense": [1, 0.5], "ef": 80, "limit": 30, "weight": 0.5},
                {"text": "red shoes", "key": "body", "b": 0.3, "filter": {"key": "n", "lt": 3}}
            ],
            "fusion": {"rrf": {"k": 60}},
            "limit": 5,
            "with_payload": false
        }))
        .unwrap();
        let want = Query::new(5)
            .with_payload(false)
            .with_fusion(Fusion::Rrf { k: 60.0 })
            .leg(
                Leg::dense(vec![1.0, 0.5])
                    .with_ef(80)
                    .with_limit(30)
                    .with_weight(0.5),
            )
            .leg(
                Leg::text("body", "red shoes")
                    .with_bm25(Bm25 { k1: 1.2, b: 0.3 })
                    .with_filter(Filter::lt("n", 3)),
            );
        assert_eq!(q, want);
        assert_eq!(
            Query::from_json(&json!({"legs": [{"text": "x"}], "fusion": "dbsf"}))
                .unwrap()
                .fusion,
            Fusion::Dbsf
        );
        for bad in [
            json!({}),
            json!({"legs": []}),
            json!({"legs": [{"dense": [1], "text": "x"}]}),
            json!({"legs": [{"dense": "x"}]}),
            json!({"legs": [{"text": "x", "ef": 3}]}),
            json!({"legs": [{"text": "x"}], "fusion": "max"}),
            json!({"legs": [{"text": "x"}], "limit": -1}),
            json!({"legs": [{"text": "x"}], "colour": 1}),
            json!([]),
        ] {
            assert!(Query::from_json(&bad).is_err(), "{bad}");
        }
    }
}
