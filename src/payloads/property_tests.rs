//! Property test: over payloads and filters built from the values that once split the
//! engine's answers (`-0.0` against `0` and `0.0`, integers past 2^53, floats equal to big
//! integers, number-like strings, mixed types, arrays), every way the engine can answer a
//! filter gives the documented semantics: evaluation on the payload, the indexes' candidates
//! (the scans' plans), the per-slot columns (the walk's plan) and the estimates (the planner),
//! with each index kind alone and all of them at once, through inserts, overwrites and deletes.

use super::index::IndexKind;
use super::indexes::{Candidates, PayloadIndexes};
use crate::filter::{Condition, Filter};
use proptest::prelude::*;
use roaring::RoaringBitmap;
use serde_json::{Number, Value, json};
use std::cmp::Ordering;

fn scalars() -> Vec<Value> {
    vec![
        json!(-0.0),
        json!(0.0),
        json!(0),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(-1.5),
        json!(9_007_199_254_740_993u64),
        json!(9_007_199_254_740_992.0),
        json!(u64::MAX),
        json!(18_446_744_073_709_551_616.0),
        json!(i64::MIN),
        json!(-9_223_372_036_854_775_808.0),
        json!("NaN"),
        json!("nan"),
        json!("0"),
        json!("-0"),
        json!(""),
        json!(true),
        json!(false),
        json!(null),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop::sample::select(scalars())
}

/// A value at the key: a scalar, or an array of up to three.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
    ]
}

/// A payload: none, one without the key, or one with a value at `n`.
fn payload() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(json!({"other": 1}))),
        8 => value().prop_map(|v| Some(json!({ "n": v }))),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        value().prop_map(Condition::Eq),
        value().prop_map(Condition::Ne),
        scalar().prop_map(Condition::Lt),
        scalar().prop_map(Condition::Lte),
        scalar().prop_map(Condition::Gt),
        scalar().prop_map(Condition::Gte),
        prop::collection::vec(scalar(), 0..3).prop_map(Condition::In),
        Just(Condition::Exists),
        Just(Condition::IsNull),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = condition().prop_map(|c| Filter::field("n", c));
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
            inner.prop_map(|f| !f),
        ]
    })
}

/// The oracle: the module docs of `filter.rs`, written independently of the engine. Every
/// number of the pool times two is an integer, so values compare exactly as `i128`.
fn twice(n: &Number) -> i128 {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i128::from(i) * 2,
        (None, Some(u)) => i128::from(u) * 2,
        _ => (n.as_f64().expect("a pool number") * 2.0) as i128,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => twice(x) == twice(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(twice(x).cmp(&twice(y))),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn oracle(f: &Filter, payload: Option<&Value>) -> bool {
    match f {
        Filter::And(fs) => fs.iter().all(|f| oracle(f, payload)),
        Filter::Or(fs) => fs.iter().any(|f| oracle(f, payload)),
        Filter::Not(f) => !oracle(f, payload),
        // Not generated here: ids are not payloads (tests/points.rs checks `has_id`).
        Filter::HasId(_) => false,
        Filter::Field { key, condition } => {
            let x = payload.and_then(|p| p.get(key));
            let eq = |x: &Value, v: &Value| {
                same(x, v)
                    || (!v.is_array() && x.as_array().is_some_and(|a| a.iter().any(|i| same(i, v))))
            };
            let cmp = |x: &Value, v: &Value, ok: fn(Ordering) -> bool| {
                let one = |i: &Value| order(i, v).is_some_and(ok);
                match x {
                    Value::Array(a) => a.iter().any(one),
                    _ => one(x),
                }
            };
            match (condition, x) {
                (Condition::Exists, x) => x.is_some(),
                (Condition::IsNull, x) => x.is_some_and(Value::is_null),
                (Condition::Ne(v), x) => !x.is_some_and(|x| eq(x, v)),
                (_, None) => false,
                (Condition::Eq(v), Some(x)) => eq(x, v),
                (Condition::In(vs), Some(x)) => vs.iter().any(|v| eq(x, v)),
                (Condition::Lt(v), Some(x)) => cmp(x, v, |o| o == Ordering::Less),
                (Condition::Lte(v), Some(x)) => cmp(x, v, |o| o != Ordering::Greater),
                (Condition::Gt(v), Some(x)) => cmp(x, v, |o| o == Ordering::Greater),
                (Condition::Gte(v), Some(x)) => cmp(x, v, |o| o != Ordering::Less),
                (Condition::Match(_), Some(_)) => unreachable!("no text conditions are generated"),
            }
        }
    }
}

/// The index sets compared: each kind alone, and every kind at once.
fn index_sets() -> Vec<Vec<IndexKind>> {
    let mut sets: Vec<Vec<IndexKind>> = IndexKind::ALL.iter().map(|k| vec![*k]).collect();
    sets.push(IndexKind::ALL.to_vec());
    sets
}

/// Builds the indexes as a collection does: half the payloads before the indexes are
/// declared, the rest after, then `churn` overwrites and deletes.
fn build(
    kinds: &[IndexKind],
    payloads: &[Option<Value>],
    churn: &[(usize, Option<Value>, bool)],
) -> (PayloadIndexes, Vec<Option<Value>>, Vec<bool>) {
    let mut ix = PayloadIndexes::default();
    let mut now: Vec<Option<Value>> = vec![None; payloads.len()];
    let mut live = vec![false; payloads.len()];
    let put = |ix: &mut PayloadIndexes,
               now: &mut [Option<Value>],
               live: &mut [bool],
               s: usize,
               p: &Option<Value>,
               on: bool| {
        let p = p.clone().filter(|_| on);
        ix.update(s as u32, now[s].as_ref(), p.as_ref(), on);
        now[s] = p;
        live[s] = on;
    };
    let half = payloads.len() / 2;
    for (s, p) in payloads.iter().enumerate().take(half) {
        put(&mut ix, &mut now, &mut live, s, p, true);
    }
    for kind in kinds {
        let held = (0..now.len()).filter_map(|s| Some((s as u32, now[s].clone()?)));
        assert!(ix.create("n", *kind, held));
    }
    for (s, p) in payloads.iter().enumerate().skip(half) {
        put(&mut ix, &mut now, &mut live, s, p, true);
    }
    for (s, p, on) in churn {
        put(&mut ix, &mut now, &mut live, s % payloads.len(), p, *on);
    }
    (ix, now, live)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn every_answer_path_gives_the_documented_semantics(
        payloads in prop::collection::vec(payload(), 1..40),
        churn in prop::collection::vec((0usize..40, payload(), prop::bool::weighted(0.8)), 0..10),
        filters in prop::collection::vec(filter(), 1..12),
    ) {
        for kinds in index_sets() {
            let (ix, now, live) = build(&kinds, &payloads, &churn);
            // No filter here names ids: the id map is empty.
            let no_ids = crate::idmap::IdMap::default();
            for f in &filters {
                if f.validate().is_err() {
                    continue;
                }
                let want: RoaringBitmap = (0..now.len())
                    .filter(|&s| live[s] && oracle(f, now[s].as_ref()))
                    .map(|s| s as u32)
                    .collect();
                for s in (0..now.len()).filter(|&s| live[s]) {
                    prop_assert_eq!(f.matches(now[s].as_ref()), want.contains(s as u32),
                        "evaluation of {:?} on {:?}", f, now[s]);
                    let p = now[s].clone();
                    prop_assert_eq!(ix.matches(s as u32, f, &no_ids, &|| p.clone()), want.contains(s as u32),
                        "the column's verdict ({:?}) of {:?} on {:?}", kinds, f, now[s]);
                }
                let all = Candidates { slots: (0..now.len() as u32).filter(|&s| live[s as usize]).collect(), exact: false };
                let c = ix.candidates(f, &no_ids).unwrap_or(all);
                if c.exact {
                    prop_assert_eq!(&c.slots, &want, "candidates ({:?}) of {:?}", kinds, f);
                } else {
                    prop_assert!(want.is_subset(&c.slots), "candidates ({:?}) of {:?}", kinds, f);
                }
                if let Some((n, exact)) = ix.estimate(f, &no_ids) {
                    prop_assert!(n >= want.len(), "estimate ({:?}) of {:?}: {} < {}", kinds, f, n, want.len());
                    if exact {
                        prop_assert_eq!(n, want.len(), "exact estimate ({:?}) of {:?}", kinds, f);
                    }
                }
            }
        }
    }
}
