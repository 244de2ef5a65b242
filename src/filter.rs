//! Payload filters.
//!
//! A filter is a tree of conditions on payload fields. Keys are dotted paths (`a.b.c`): each
//! part names an object member, or indexes an array when it is a number (`tags.0`).
//!
//! Semantics, for a point whose payload has value `x` at the key (or nothing):
//! - `eq v`: `x == v` (numbers compare by value: `1 == 1.0 == 1e0`, `-0.0 == 0 == 0.0`, and
//!   so do numbers inside arrays and objects compared whole); when `x` is an array and `v` is
//!   not, any element equal to `v` matches.
//! - `ne v`: exactly `not (eq v)`, so a missing key matches.
//! - `lt`/`lte`/`gt`/`gte v`: `v` is a number or a string; `x` of the same kind compares
//!   (numbers numerically, strings by bytes); an array `x` matches when any element does;
//!   anything else does not match.
//! - `in [v…]`: `eq` any of the values.
//! - `exists`: the key is present (its value may be null). `is_null`: present and null.
//! - `match t` (text): the words of `t` against the text at the key (a string, or the
//!   strings of an array), both analysed by the key's text index, or by the default
//!   analysis ([`crate::TextConfig::default`]) where the key has none: `all` of the words
//!   (the default), `any` of them, or the `phrase` (the words in order, adjacent). A query
//!   without words (only stop words, say) matches nothing.
//! - `and` of nothing is true, `or` of nothing is false.
//! - `has_id [i…]`: the point's id is one of these (a condition on the point, not its
//!   payload: [`Filter::matches`], which sees only a payload, takes it as false).
//!
//! JSON form (what the CLI and the component take):
//! `{"key": "a.b", "eq": 5}`, `{"key": "n", "gte": 2}`, `{"key": "t", "in": ["x", "y"]}`,
//! `{"key": "a", "exists": true}`, `{"key": "a", "is_null": true}`,
//! `{"key": "body", "match": "red shoes"}`,
//! `{"key": "body", "match": {"text": "red shoes", "mode": "all" | "any" | "phrase"}}`,
//! `{"has_id": [1, 2]}`, `{"and": [f, …]}`, `{"or": [f, …]}`, `{"not": f}`.

use crate::error::{Error, Limit, Result};
pub(crate) use crate::keypath::lookup;
pub use crate::text::{MatchMode, TextMatch};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// The deepest nesting of `and`/`or`/`not` a filter may have.
pub const MAX_FILTER_DEPTH: usize = 32;

/// A condition on one payload field.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Equal (numbers by value: `1`, `1.0` and `-0.0`/`0` are equal; arrays by any element).
    Eq(Value),
    /// Not equal (a missing key passes).
    Ne(Value),
    /// Less than (numbers with numbers, strings with strings).
    Lt(Value),
    /// Less than or equal.
    Lte(Value),
    /// Greater than.
    Gt(Value),
    /// Greater than or equal.
    Gte(Value),
    /// Equal to one of these.
    In(Vec<Value>),
    /// The key is present (with any value, `null` included).
    Exists,
    /// The key is present with the value `null`.
    IsNull,
    /// Full text: see the module docs.
    Match(TextMatch),
}

/// A filter over payloads; see the module docs for the semantics.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// A condition on the value at `key` (a dotted path).
    Field {
        /// A dotted path into the payload.
        key: String,
        /// What the value there must satisfy.
        condition: Condition,
    },
    /// Every filter passes (an empty list passes every point).
    And(Vec<Filter>),
    /// At least one filter passes (an empty list passes none).
    Or(Vec<Filter>),
    /// The filter does not pass.
    Not(Box<Filter>),
    /// The point's id is one of these.
    HasId(Vec<u64>),
}

impl Filter {
    /// `condition` on the value at `key`.
    pub fn field(key: impl Into<String>, condition: Condition) -> Filter {
        Filter::Field {
            key: key.into(),
            condition,
        }
    }

    /// The value at `key` equals `v`.
    pub fn eq(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Eq(v.into()))
    }

    /// The value at `key` differs from `v`.
    pub fn ne(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Ne(v.into()))
    }

    /// The value at `key` is less than `v`.
    pub fn lt(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Lt(v.into()))
    }

    /// The value at `key` is at most `v`.
    pub fn lte(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Lte(v.into()))
    }

    /// The value at `key` is greater than `v`.
    pub fn gt(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Gt(v.into()))
    }

    /// The value at `key` is at least `v`.
    pub fn gte(key: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::field(key, Condition::Gte(v.into()))
    }

    /// The value at `key` equals one of `vs`.
    pub fn is_in(key: impl Into<String>, vs: Vec<Value>) -> Filter {
        Filter::field(key, Condition::In(vs))
    }

    /// `key` is present.
    pub fn exists(key: impl Into<String>) -> Filter {
        Filter::field(key, Condition::Exists)
    }

    /// `key` is present and `null`.
    pub fn is_null(key: impl Into<String>) -> Filter {
        Filter::field(key, Condition::IsNull)
    }

    /// Full text: the text at `key` has the words of `text` (all, any, or as a phrase).
    pub fn text(key: impl Into<String>, text: impl Into<String>, mode: MatchMode) -> Filter {
        Filter::field(key, Condition::Match(TextMatch::new(text, mode)))
    }

    /// Every one of `filters` (`and` of nothing: every point).
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::And(filters.into_iter().collect())
    }

    /// Any of `filters` (`or` of nothing: no point).
    pub fn or(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::Or(filters.into_iter().collect())
    }

    /// The points with one of these ids.
    pub fn has_id(ids: impl IntoIterator<Item = u64>) -> Filter {
        Filter::HasId(ids.into_iter().collect())
    }

    /// Exactly the points `filter` does not pass: `!filter`, callable without importing
    /// `std::ops::Not` (whose impl below is the same).
    #[allow(clippy::should_implement_trait)]
    pub fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    /// Checks the filter can be evaluated: depth, keys, comparable operands.
    pub fn validate(&self) -> Result<()> {
        let mut stack = vec![(self, 1usize)];
        while let Some((f, depth)) = stack.pop() {
            if depth > MAX_FILTER_DEPTH {
                return Err(Error::LimitExceeded {
                    limit: Limit::FilterDepth,
                    max: MAX_FILTER_DEPTH as u64,
                    actual: depth as u64,
                });
            }
            match f {
                Filter::Field { key, condition } => {
                    if key.is_empty() || key.split('.').any(str::is_empty) {
                        return Err(Error::InvalidFilter(format!("bad key {key:?}")));
                    }
                    if let Condition::Lt(v)
                    | Condition::Lte(v)
                    | Condition::Gt(v)
                    | Condition::Gte(v) = condition
                        && !(v.is_number() || v.is_string())
                    {
                        return Err(Error::InvalidFilter(format!(
                            "range comparison on {key:?} needs a number or a string, got {v}"
                        )));
                    }
                }
                Filter::And(fs) | Filter::Or(fs) => stack.extend(fs.iter().map(|f| (f, depth + 1))),
                Filter::Not(f) => stack.push((f, depth + 1)),
                Filter::HasId(_) => {}
            }
        }
        Ok(())
    }

    /// Does a point with this payload (None: no payload) match? A `has_id` condition needs
    /// the point's id, which a payload does not carry: it is false here (a collection's
    /// searches, counts and scrolls evaluate it).
    pub fn matches(&self, payload: Option<&Value>) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(payload)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(payload)),
            Filter::Not(f) => !f.matches(payload),
            Filter::HasId(_) => false,
            Filter::Field { key, condition } => {
                let x = payload.and_then(|p| lookup(p, key));
                match condition {
                    Condition::Eq(v) => x.is_some_and(|x| eq_or_contains(x, v)),
                    Condition::Ne(v) => !x.is_some_and(|x| eq_or_contains(x, v)),
                    Condition::In(vs) => x.is_some_and(|x| vs.iter().any(|v| eq_or_contains(x, v))),
                    Condition::Lt(v) => x.is_some_and(|x| any_cmp(x, v, |o| o == Ordering::Less)),
                    Condition::Lte(v) => {
                        x.is_some_and(|x| any_cmp(x, v, |o| o != Ordering::Greater))
                    }
                    Condition::Gt(v) => {
                        x.is_some_and(|x| any_cmp(x, v, |o| o == Ordering::Greater))
                    }
                    Condition::Gte(v) => x.is_some_and(|x| any_cmp(x, v, |o| o != Ordering::Less)),
                    Condition::Exists => x.is_some(),
                    Condition::IsNull => x.is_some_and(Value::is_null),
                    Condition::Match(m) => {
                        let a = crate::text::Analyzer::new(crate::TextConfig::default());
                        crate::text::evaluate(&a, key, payload, m)
                    }
                }
            }
        }
    }

    /// The filter of an operation that needs one (`what` names it), for boundaries where a
    /// filter is optional: deleting "everything that matches no filter" is refused (drop
    /// the collection instead), never taken for every point.
    pub fn required(filter: Option<Filter>, what: &str) -> Result<Filter> {
        filter.ok_or_else(|| {
            Error::InvalidFilter(format!(
                "{what} needs a filter (to delete everything, drop the collection)"
            ))
        })
    }

    /// Parses the JSON form (see the module docs).
    pub fn from_json(v: &Value) -> Result<Filter> {
        let f = parse(v, 1)?;
        f.validate()?;
        Ok(f)
    }

    /// Parses JSON text.
    pub fn from_json_str(text: &str) -> Result<Filter> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| Error::InvalidFilter(e.to_string()))?;
        Filter::from_json(&v)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match self {
            Filter::And(fs) => {
                m.insert("and".into(), fs.iter().map(Filter::to_json).collect());
            }
            Filter::Or(fs) => {
                m.insert("or".into(), fs.iter().map(Filter::to_json).collect());
            }
            Filter::Not(f) => {
                m.insert("not".into(), f.to_json());
            }
            Filter::HasId(ids) => {
                m.insert(
                    "has_id".into(),
                    ids.iter().copied().map(Value::from).collect(),
                );
            }
            Filter::Field { key, condition } => {
                m.insert("key".into(), Value::String(key.clone()));
                let (op, v) = match condition {
                    Condition::Eq(v) => ("eq", v.clone()),
                    Condition::Ne(v) => ("ne", v.clone()),
                    Condition::Lt(v) => ("lt", v.clone()),
                    Condition::Lte(v) => ("lte", v.clone()),
                    Condition::Gt(v) => ("gt", v.clone()),
                    Condition::Gte(v) => ("gte", v.clone()),
                    Condition::In(vs) => ("in", Value::Array(vs.clone())),
                    Condition::Exists => ("exists", Value::Bool(true)),
                    Condition::IsNull => ("is_null", Value::Bool(true)),
                    Condition::Match(m) => (
                        "match",
                        serde_json::json!({"text": m.text, "mode": m.mode.name()}),
                    ),
                };
                m.insert(op.into(), v);
            }
        }
        Value::Object(m)
    }
}

/// One node of a filter flattened into a list, for interfaces without recursive types (the
/// WIT interface). Children are indices into the list, each greater than its parent's index;
/// the root is node 0.
#[derive(Debug, Clone, PartialEq)]
pub enum FlatNode {
    /// Every child passes.
    And(Vec<u32>),
    /// At least one child passes.
    Or(Vec<u32>),
    /// The child does not pass.
    Not(u32),
    /// The point's id is one of these.
    HasId(Vec<u64>),
    /// A condition on the value at `key`.
    Field {
        /// A dotted path into the payload.
        key: String,
        /// What the value there must satisfy.
        condition: Condition,
    },
}

impl Filter {
    /// The filter as a node list (root first).
    pub fn flatten(&self) -> Vec<FlatNode> {
        let mut nodes = Vec::new();
        flatten_into(self, &mut nodes);
        nodes
    }

    /// Rebuilds a filter from a node list. Refuses empty lists, child indices that do not
    /// point forward (no cycles, no sharing), and trees deeper than [`MAX_FILTER_DEPTH`].
    pub fn from_flat(nodes: &[FlatNode]) -> Result<Filter> {
        if nodes.is_empty() {
            return Err(Error::InvalidFilter(
                "a filter needs at least one node".into(),
            ));
        }
        let mut used = vec![false; nodes.len()];
        let f = unflatten(nodes, 0, 1, &mut used)?;
        f.validate()?;
        Ok(f)
    }
}

fn flatten_into(f: &Filter, nodes: &mut Vec<FlatNode>) -> u32 {
    let at = nodes.len();
    nodes.push(FlatNode::And(Vec::new())); // placeholder until the children have indices
    let node = match f {
        Filter::Field { key, condition } => FlatNode::Field {
            key: key.clone(),
            condition: condition.clone(),
        },
        Filter::And(fs) => FlatNode::And(fs.iter().map(|c| flatten_into(c, nodes)).collect()),
        Filter::Or(fs) => FlatNode::Or(fs.iter().map(|c| flatten_into(c, nodes)).collect()),
        Filter::Not(c) => FlatNode::Not(flatten_into(c, nodes)),
        Filter::HasId(ids) => FlatNode::HasId(ids.clone()),
    };
    nodes[at] = node;
    at as u32
}

fn unflatten(nodes: &[FlatNode], at: usize, depth: usize, used: &mut [bool]) -> Result<Filter> {
    if depth > MAX_FILTER_DEPTH {
        return Err(Error::LimitExceeded {
            limit: Limit::FilterDepth,
            max: MAX_FILTER_DEPTH as u64,
            actual: depth as u64,
        });
    }
    used[at] = true;
    let mut child = |c: u32| -> Result<Filter> {
        let c = c as usize;
        if c <= at || c >= nodes.len() || used[c] {
            return Err(Error::InvalidFilter(format!(
                "node {at} has child {c}: children must point forward to unused nodes"
            )));
        }
        unflatten(nodes, c, depth + 1, used)
    };
    Ok(match &nodes[at] {
        FlatNode::Field { key, condition } => Filter::field(key.clone(), condition.clone()),
        FlatNode::And(cs) => Filter::And(cs.iter().map(|&c| child(c)).collect::<Result<_>>()?),
        FlatNode::Or(cs) => Filter::Or(cs.iter().map(|&c| child(c)).collect::<Result<_>>()?),
        FlatNode::Not(c) => Filter::Not(Box::new(child(*c)?)),
        FlatNode::HasId(ids) => Filter::HasId(ids.clone()),
    })
}

/// A filter serialises as its JSON form (what the CLI and the component take), and
/// deserialises from it with the same checks as [`Filter::from_json`].
impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Filter, D::Error> {
        let v = Value::deserialize(d)?;
        Filter::from_json(&v).map_err(serde::de::Error::custom)
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;

    /// `!f` matches exactly the points `f` does not.
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

fn parse(v: &Value, depth: usize) -> Result<Filter> {
    if depth > MAX_FILTER_DEPTH {
        return Err(Error::LimitExceeded {
            limit: Limit::FilterDepth,
            max: MAX_FILTER_DEPTH as u64,
            actual: depth as u64,
        });
    }
    let bad = |msg: String| Err(Error::InvalidFilter(msg));
    let Some(obj) = v.as_object() else {
        return bad(format!("a filter is a JSON object, got {v}"));
    };
    let list = |x: &Value, op: &str| -> Result<Vec<Filter>> {
        match x.as_array() {
            Some(items) => items.iter().map(|i| parse(i, depth + 1)).collect(),
            None => Err(Error::InvalidFilter(format!(
                "'{op}' takes an array of filters"
            ))),
        }
    };
    if obj.len() == 1 {
        if let Some(x) = obj.get("and") {
            return Ok(Filter::And(list(x, "and")?));
        }
        if let Some(x) = obj.get("or") {
            return Ok(Filter::Or(list(x, "or")?));
        }
        if let Some(x) = obj.get("not") {
            return Ok(Filter::Not(Box::new(parse(x, depth + 1)?)));
        }
        if let Some(x) = obj.get("has_id") {
            let ids = x
                .as_array()
                .and_then(|a| a.iter().map(Value::as_u64).collect());
            return match ids {
                Some(ids) => Ok(Filter::HasId(ids)),
                None => bad(format!(
                    "'has_id' takes an array of ids (integers in 0..2^64), got {x}"
                )),
            };
        }
    }
    let Some(key) = obj.get("key") else {
        return bad(format!(
            "expected {{\"and\"|\"or\"|\"not\"|\"has_id\": …}} or {{\"key\": …, <op>: …}}, got {v}"
        ));
    };
    let Some(key) = key.as_str() else {
        return bad("'key' must be a string".into());
    };
    if obj.len() != 2 {
        return bad(format!(
            "a condition has 'key' and exactly one operator: {v}"
        ));
    }
    let (op, x) = obj
        .iter()
        .find(|(k, _)| k.as_str() != "key")
        .expect("two members, one is 'key'");
    let flag = |x: &Value, op: &str| match x {
        Value::Bool(true) => Ok(()),
        _ => Err(Error::InvalidFilter(format!("'{op}' takes true"))),
    };
    let condition = match op.as_str() {
        "eq" => Condition::Eq(x.clone()),
        "ne" => Condition::Ne(x.clone()),
        "lt" => Condition::Lt(x.clone()),
        "lte" => Condition::Lte(x.clone()),
        "gt" => Condition::Gt(x.clone()),
        "gte" => Condition::Gte(x.clone()),
        "in" => match x.as_array() {
            Some(vs) => Condition::In(vs.clone()),
            None => return bad("'in' takes an array of values".into()),
        },
        "exists" => {
            flag(x, "exists")?;
            Condition::Exists
        }
        "is_null" => {
            flag(x, "is_null")?;
            Condition::IsNull
        }
        "match" => Condition::Match(parse_match(x)?),
        other => {
            return bad(format!(
                "unknown operator {other:?} (expected eq, ne, lt, lte, gt, gte, in, exists, is_null, match)"
            ));
        }
    };
    Ok(Filter::field(key, condition))
}

/// `"words"`, or `{"text": "words", "mode": "all" | "any" | "phrase"}`.
fn parse_match(x: &Value) -> Result<TextMatch> {
    let bad = |m: String| Error::InvalidFilter(m);
    match x {
        Value::String(s) => Ok(TextMatch::new(s.clone(), MatchMode::All)),
        Value::Object(o) => {
            let mut text = None;
            let mut mode = MatchMode::All;
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("text", Value::String(s)) => text = Some(s.clone()),
                    ("mode", Value::String(m)) => {
                        mode = MatchMode::ALL
                            .into_iter()
                            .find(|x| x.name() == m)
                            .ok_or_else(|| {
                                bad(format!(
                                    "unknown match mode {m:?} (expected all, any or phrase)"
                                ))
                            })?
                    }
                    (k, v) => {
                        return Err(bad(format!(
                            "'match' takes {{\"text\": string, \"mode\": string}}, not {k:?}: {v}"
                        )));
                    }
                }
            }
            let text = text.ok_or_else(|| bad("'match' needs a \"text\"".into()))?;
            Ok(TextMatch::new(text, mode))
        }
        other => Err(bad(format!(
            "'match' takes a string or {{\"text\": …, \"mode\": …}}, got {other}"
        ))),
    }
}

/// Equality by value: numbers as [`Num`], arrays and objects member by member.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON number as an exact value: an integer (any `i64` or `u64`), or a float.
///
/// Invariant: a `Float` is finite and never `-0.0` (zero has one form, `+0.0`), so the order
/// below is the order of the values: floats among themselves by `total_cmp` (which would put
/// `-0.0` before `0.0` while `0 == -0.0` and `0 == 0.0`), integers against floats exactly.
/// Everything that orders or hashes numbers (evaluation, index keys, index columns) goes
/// through [`Num::of`], so they all agree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn of(n: &serde_json::Number) -> Num {
        match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Num::Int(i128::from(i)),
            (None, Some(u)) => Num::Int(i128::from(u)),
            // serde_json numbers are finite; `-0.0 == 0.0` holds, so zero becomes `+0.0`.
            // (`f + 0.0` is `f` for every other float, and `+0.0` for `-0.0`.)
            _ => Num::Float(n.as_f64().unwrap_or(0.0) + 0.0),
        }
    }
}

/// `i` against `f`, exactly (no rounding of `i` to a float).
fn int_float_cmp(i: i128, f: f64) -> Ordering {
    const LIMIT: f64 = 1.7e38; // below 2^127: `as i128` is exact for integral floats here
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let floor = f.floor();
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        o => o,
    }
}

impl Ord for Num {
    /// By value: `1 == 1.0`, and integers above 2^53 compare exactly.
    fn cmp(&self, other: &Num) -> Ordering {
        match (*self, *other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (Num::Float(a), Num::Float(b)) => a.total_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_float_cmp(a, b),
            (Num::Float(a), Num::Int(b)) => int_float_cmp(b, a).reverse(),
        }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Num {}

fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    Num::of(a).cmp(&Num::of(b))
}

fn eq_or_contains(x: &Value, v: &Value) -> bool {
    json_eq(x, v)
        || (!v.is_array()
            && x.as_array()
                .is_some_and(|items| items.iter().any(|i| json_eq(i, v))))
}

fn compare(x: &Value, v: &Value) -> Option<Ordering> {
    match (x, v) {
        (Value::Number(a), Value::Number(b)) => Some(num_cmp(a, b)),
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

fn any_cmp(x: &Value, v: &Value, ok: impl Fn(Ordering) -> bool) -> bool {
    match x {
        Value::Array(items) => items.iter().any(|i| compare(i, v).is_some_and(&ok)),
        _ => compare(x, v).is_some_and(ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p() -> Value {
        json!({
            "city": "Oslo", "year": 2021, "price": 9.5, "tags": ["a", "b"],
            "meta": {"lang": "no", "score": null, "deep": {"x": 1}},
        })
    }

    #[test]
    fn conditions_follow_the_documented_semantics() {
        let p = p();
        let m = |f: Filter| f.matches(Some(&p));
        assert!(m(Filter::eq("city", "Oslo")));
        assert!(!m(Filter::eq("city", "oslo")));
        assert!(m(Filter::eq("year", 2021.0)), "numbers compare by value");
        assert!(m(Filter::eq("tags", "b")), "array contains");
        assert!(
            m(Filter::eq("tags", json!(["a", "b"]))),
            "whole-array equality"
        );
        assert!(m(Filter::eq("tags.0", "a")), "array index in a path");
        assert!(m(Filter::eq("meta.deep.x", 1)), "nested keys");
        assert!(m(Filter::ne("city", "Bergen")));
        assert!(m(Filter::ne("missing", 1)), "ne matches a missing key");
        assert!(m(Filter::lt("year", 2022)) && !m(Filter::lt("year", 2021)));
        assert!(m(Filter::lte("year", 2021)) && m(Filter::gte("price", 9.5)));
        assert!(m(Filter::gt("city", "Bergen")), "strings compare by bytes");
        assert!(
            !m(Filter::gt("city", 5)),
            "a string is not comparable with a number"
        );
        assert!(m(Filter::is_in("city", vec![json!("Rome"), json!("Oslo")])));
        assert!(m(Filter::exists("meta.score")) && m(Filter::is_null("meta.score")));
        assert!(!m(Filter::exists("meta.nope")) && !m(Filter::is_null("meta.nope")));
        assert!(!m(Filter::is_null("city")));
        assert!(m(Filter::And(vec![])) && !m(Filter::Or(vec![])));
        assert!(m(!Filter::eq("city", "Rome")));
        assert!(m(Filter::And(vec![
            Filter::eq("city", "Oslo"),
            Filter::Or(vec![
                Filter::lt("year", 2000),
                Filter::eq("meta.lang", "no")
            ])
        ])));
        assert!(
            !Filter::eq("city", "Oslo").matches(None),
            "no payload, no field"
        );
        assert!(Filter::ne("city", "Oslo").matches(None));
    }

    #[test]
    fn integers_past_2_pow_53_compare_exactly() {
        let p = json!({"u": 18446744073709551615u64, "i": -9223372036854775808i64, "f": 2.5});
        let m = |f: Filter| f.matches(Some(&p));
        assert!(m(Filter::eq("u", 18446744073709551615u64)));
        assert!(!m(Filter::eq("u", 18446744073709551614u64)));
        assert!(m(Filter::gt("u", 18446744073709551614u64)));
        assert!(!m(Filter::gt("u", 18446744073709551615u64)));
        assert!(m(Filter::lt("i", -9223372036854775807i64)));
        assert!(!m(Filter::eq("u", 18446744073709551615u64 as f64 - 4096.0)));
        assert!(m(Filter::lt("u", 1.9e19)) && m(Filter::gt("u", 1.8e19)));
        assert!(m(Filter::gt("f", 2)) && m(Filter::lt("f", 3)) && !m(Filter::eq("f", 2)));
        assert!(m(Filter::lt("i", -9.2e18)) && m(Filter::gt("i", -9.3e18)));
        assert_eq!(Num::Int(3), Num::Float(3.0));
        assert!(Num::Int(9_007_199_254_740_993) > Num::Float(9_007_199_254_740_992.0));
    }

    #[test]
    fn helpers_build_the_variants_and_serde_uses_the_json_form() {
        let f = Filter::and([
            Filter::eq("a", 1),
            Filter::or([Filter::not(Filter::exists("b")), Filter::gte("c", 2)]),
        ]);
        assert_eq!(
            f,
            Filter::And(vec![
                Filter::eq("a", 1),
                Filter::Or(vec![!Filter::exists("b"), Filter::gte("c", 2)]),
            ])
        );
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), f.to_json());
        assert_eq!(serde_json::from_str::<Filter>(&text).unwrap(), f);
        let bad = serde_json::from_str::<Filter>(r#"{"key": "a", "like": 1}"#);
        assert!(bad.unwrap_err().to_string().contains("unknown operator"));
    }

    #[test]
    fn json_form_round_trips() {
        let text = r#"{"and":[{"key":"a.b","eq":1},{"or":[{"key":"t","in":["x"]},{"not":{"key":"z","exists":true}}]},{"key":"n","gte":2},{"key":"q","is_null":true}]}"#;
        let f = Filter::from_json_str(text).unwrap();
        assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn flattened_filters_round_trip_and_bad_lists_are_refused() {
        let f = Filter::And(vec![
            Filter::eq("a", 1),
            Filter::Or(vec![!Filter::exists("b"), Filter::gte("c", 2)]),
        ]);
        let flat = f.flatten();
        assert_eq!(flat.len(), 6);
        assert_eq!(Filter::from_flat(&flat).unwrap(), f);
        assert!(Filter::from_flat(&[]).is_err());
        let cycle = vec![FlatNode::Not(0)];
        assert!(matches!(
            Filter::from_flat(&cycle),
            Err(Error::InvalidFilter(_))
        ));
        let shared = vec![
            FlatNode::And(vec![1, 1]),
            FlatNode::Field {
                key: "a".into(),
                condition: Condition::Exists,
            },
        ];
        assert!(Filter::from_flat(&shared).is_err());
        let out_of_range = vec![FlatNode::Not(7)];
        assert!(Filter::from_flat(&out_of_range).is_err());
        let mut deep: Vec<FlatNode> = (1..10_000).map(FlatNode::Not).collect();
        deep.push(FlatNode::Field {
            key: "a".into(),
            condition: Condition::Exists,
        });
        assert!(matches!(
            Filter::from_flat(&deep),
            Err(Error::LimitExceeded {
                limit: Limit::FilterDepth,
                ..
            })
        ));
    }

    #[test]
    fn bad_filters_get_typed_errors() {
        for bad in [
            r#"[1]"#,
            r#"{"key":"a"}"#,
            r#"{"key":"a","eq":1,"ne":2}"#,
            r#"{"key":"a","like":"x"}"#,
            r#"{"key":1,"eq":1}"#,
            r#"{"key":"a..b","eq":1}"#,
            r#"{"key":"a","lt":[1]}"#,
            r#"{"key":"a","in":3}"#,
            r#"{"key":"a","exists":false}"#,
            r#"{"and":{"key":"a","eq":1}}"#,
            r#"{"nope":[]}"#,
            r#"not json"#,
        ] {
            assert!(
                matches!(Filter::from_json_str(bad), Err(Error::InvalidFilter(_))),
                "{bad}"
            );
        }
        let mut deep = json!({"key": "a", "eq": 1});
        for _ in 0..40 {
            deep = json!({ "not": deep });
        }
        assert!(matches!(
            Filter::from_json(&deep),
            Err(Error::LimitExceeded {
                limit: Limit::FilterDepth,
                ..
            })
        ));
    }
}
