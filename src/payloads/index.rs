//! Payload indexes: for one key, which slots hold which value.
//!
//! An index is derived from the payloads, like the SQ8 copy from the vectors: its
//! declaration is logged and checkpointed, its contents are rebuilt from the payloads on open
//! and kept current by every write. An index answers a condition exactly or not at all
//! ([`FieldIndex::answer`] returns `None`), so a filter gives the same points with or without
//! indexes.

use super::column::{Column, Tag, number_code, string_code};
use crate::filter::{Condition, Num};
use crate::keypath::lookup;
use roaring::{MultiOps, RoaringBitmap};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Bound;

/// What an index holds for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IndexKind {
    /// Strings: `eq`, `ne`, `in` and ranges (by bytes) on strings.
    Keyword,
    /// Numbers: `eq`, `ne`, `in` and ranges. Every number at the key is indexed by its exact
    /// value, integers past 2^53 included, so `integer` and `float` answer the same
    /// conditions; the name says what the field holds.
    Integer,
    /// Numbers, as [`IndexKind::Integer`].
    Float,
    /// Booleans: `eq`, `ne`, `in`.
    Bool,
    /// Only `exists` and `is_null` (every kind answers those too).
    Exists,
    /// Full text: `match` conditions and BM25 ranking, with a [`crate::TextConfig`]
    /// (the default one when declared by kind alone).
    Text,
}

impl IndexKind {
    /// Every kind.
    pub const ALL: [IndexKind; 6] = [
        IndexKind::Keyword,
        IndexKind::Integer,
        IndexKind::Float,
        IndexKind::Bool,
        IndexKind::Exists,
        IndexKind::Text,
    ];

    /// The kind's name in the CLI, JSON and WIT (`keyword`, ...).
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Keyword => "keyword",
            IndexKind::Integer => "integer",
            IndexKind::Float => "float",
            IndexKind::Bool => "bool",
            IndexKind::Exists => "exists",
            IndexKind::Text => "text",
        }
    }

    /// The kind of a name (`keyword`, `string`, `integer`, `int`, `float`, `bool`, `exists`,
    /// `text`).
    pub fn parse(name: &str) -> Option<IndexKind> {
        Some(match name {
            "keyword" | "string" => IndexKind::Keyword,
            "integer" | "int" => IndexKind::Integer,
            "float" => IndexKind::Float,
            "bool" => IndexKind::Bool,
            "exists" => IndexKind::Exists,
            "text" => IndexKind::Text,
            _ => return None,
        })
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            IndexKind::Keyword => 1,
            IndexKind::Integer => 2,
            IndexKind::Float => 3,
            IndexKind::Bool => 4,
            IndexKind::Exists => 5,
            IndexKind::Text => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<IndexKind> {
        IndexKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl std::fmt::Display for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Default)]
enum Values {
    Keyword(BTreeMap<Box<str>, RoaringBitmap>),
    Number(BTreeMap<Num, RoaringBitmap>),
    Bool([RoaringBitmap; 2]),
    #[default]
    Nothing,
}

/// The index of one key.
///
/// Invariants: `present` holds the slots whose payload has a value at the key (null
/// included), `null` those where it is null; `values` maps each scalar of the index's kind
/// found at the key (the value itself, or an element of an array there) to the slots holding
/// it; `column` says what each slot holds at the key, and `arrays` counts the slots holding
/// an array there.
#[derive(Debug)]
pub(crate) struct FieldIndex {
    key: String,
    kind: IndexKind,
    present: RoaringBitmap,
    null: RoaringBitmap,
    values: Values,
    column: Column,
    arrays: u64,
}

/// What the column says of a condition for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Yes,
    No,
    /// The payload must be evaluated.
    Unknown,
}

impl From<bool> for Verdict {
    fn from(b: bool) -> Verdict {
        if b { Verdict::Yes } else { Verdict::No }
    }
}

impl FieldIndex {
    pub(crate) fn new(key: &str, kind: IndexKind) -> FieldIndex {
        let values = match kind {
            IndexKind::Keyword => Values::Keyword(BTreeMap::new()),
            IndexKind::Integer | IndexKind::Float => Values::Number(BTreeMap::new()),
            IndexKind::Bool => Values::Bool(Default::default()),
            IndexKind::Exists | IndexKind::Text => Values::Nothing,
        };
        FieldIndex {
            key: key.to_string(),
            kind,
            present: RoaringBitmap::new(),
            null: RoaringBitmap::new(),
            values,
            column: Column::default(),
            arrays: 0,
        }
    }

    /// The code of a scalar of this index's kind (`None` for other values).
    fn code(&self, v: &Value) -> Option<(u64, bool)> {
        match (&self.values, v) {
            (Values::Keyword(_), Value::String(s)) => Some((string_code(s), true)),
            (Values::Number(_), Value::Number(n)) => Some(number_code(n)),
            (Values::Bool(_), Value::Bool(b)) => Some((u64::from(*b), true)),
            _ => None,
        }
    }

    /// True when this index holds the kind of every operand of `c` (so it can answer it).
    fn answers(&self, c: &Condition) -> bool {
        let kind_of = |v: &Value| self.code(v).is_some();
        match c {
            Condition::Exists | Condition::IsNull => true,
            Condition::Eq(v) | Condition::Ne(v) => kind_of(v),
            Condition::In(vs) => vs.iter().all(kind_of),
            Condition::Lt(v) | Condition::Lte(v) | Condition::Gt(v) | Condition::Gte(v) => {
                kind_of(v) && !matches!(self.values, Values::Bool(_))
            }
            Condition::Match(_) => false,
        }
    }

    /// Whether the point in `slot` passes `c`, from the column alone where it can tell.
    pub(crate) fn check(&self, slot: u32, c: &Condition) -> Verdict {
        let (tag, code) = self.column.get(slot);
        match c {
            Condition::Exists => return (tag != Tag::Absent).into(),
            Condition::IsNull => return (tag == Tag::Null).into(),
            _ if !self.answers(c) => return Verdict::Unknown,
            _ => {}
        }
        match tag {
            Tag::Array => Verdict::Unknown,
            Tag::Absent | Tag::Null | Tag::Other => matches!(c, Condition::Ne(_)).into(),
            Tag::Exact | Tag::Rounded => self.check_scalar(slot, tag, code, c),
        }
    }

    fn check_scalar(&self, slot: u32, tag: Tag, code: u64, c: &Condition) -> Verdict {
        let eq = |v: &Value| -> Verdict {
            match (&self.values, v) {
                (Values::Keyword(m), Value::String(s)) => (code == string_code(s)
                    && m.get(s.as_str()).is_some_and(|b| b.contains(slot)))
                .into(),
                (Values::Number(_), Value::Number(n)) => match cmp_number(tag, code, n) {
                    Some(o) => (o == std::cmp::Ordering::Equal).into(),
                    None => Verdict::Unknown,
                },
                (Values::Bool(_), Value::Bool(b)) => (code == u64::from(*b)).into(),
                _ => Verdict::No,
            }
        };
        let range = |v: &Value, ok: fn(std::cmp::Ordering) -> bool| -> Verdict {
            match v {
                Value::Number(n) => match cmp_number(tag, code, n) {
                    Some(o) => ok(o).into(),
                    None => Verdict::Unknown,
                },
                // Strings compare by bytes, which a hash does not keep.
                _ => Verdict::Unknown,
            }
        };
        use std::cmp::Ordering::{Greater, Less};
        match c {
            Condition::Eq(v) => eq(v),
            Condition::Ne(v) => match eq(v) {
                Verdict::Yes => Verdict::No,
                Verdict::No => Verdict::Yes,
                Verdict::Unknown => Verdict::Unknown,
            },
            Condition::In(vs) => {
                let mut out = Verdict::No;
                for v in vs {
                    match eq(v) {
                        Verdict::Yes => return Verdict::Yes,
                        Verdict::Unknown => out = Verdict::Unknown,
                        Verdict::No => {}
                    }
                }
                out
            }
            Condition::Lt(v) => range(v, |o| o == Less),
            Condition::Lte(v) => range(v, |o| o != Greater),
            Condition::Gt(v) => range(v, |o| o == Greater),
            Condition::Gte(v) => range(v, |o| o != Less),
            Condition::Exists | Condition::IsNull | Condition::Match(_) => Verdict::Unknown,
        }
    }

    /// An upper bound on the slots passing `c` (`live` slots in all), and whether it is
    /// exact; `None` when this index cannot answer `c`. Reads at most a few thousand
    /// posting lists.
    pub(crate) fn estimate(&self, c: &Condition, live: u64) -> Option<(u64, bool)> {
        if !self.answers(c) {
            return None;
        }
        const MOST: usize = 4096;
        let single = self.arrays == 0;
        let eq_len = |v: &Value| -> u64 {
            match (&self.values, v) {
                (Values::Keyword(m), Value::String(s)) => m.get(s.as_str()).map_or(0, |b| b.len()),
                (Values::Number(m), Value::Number(n)) => m.get(&Num::of(n)).map_or(0, |b| b.len()),
                (Values::Bool(b), Value::Bool(t)) => b[*t as usize].len(),
                _ => 0,
            }
        };
        let sum = |it: &mut dyn Iterator<Item = u64>| -> Option<u64> {
            let mut total = 0u64;
            for (i, n) in it.enumerate() {
                if i >= MOST {
                    return None;
                }
                total += n;
            }
            Some(total)
        };
        let range = |v: &Value, side: Side| -> Option<u64> {
            match (&self.values, v) {
                (Values::Keyword(m), Value::String(s)) => sum(&mut m
                    .range::<str, _>(side.bounds(s.as_str()))
                    .map(|(_, b)| b.len())),
                (Values::Number(m), Value::Number(n)) => {
                    sum(&mut m.range(side.bounds(&Num::of(n))).map(|(_, b)| b.len()))
                }
                _ => Some(0),
            }
        };
        let present = self.present.len();
        Some(match c {
            Condition::Exists => (present, true),
            Condition::IsNull => (self.null.len(), true),
            Condition::Eq(v) => (eq_len(v), true),
            Condition::Ne(v) => (live.saturating_sub(eq_len(v)), true),
            // Each distinct value once: `in [0, 0.0]` names one posting list.
            Condition::In(vs) => {
                let mut keyed: Vec<(Key<'_>, &Value)> =
                    vs.iter().filter_map(|v| Some((Key::of(v)?, v))).collect();
                keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                keyed.dedup_by(|a, b| a.0 == b.0);
                let total: u64 = keyed.iter().map(|(_, v)| eq_len(v)).sum();
                (total.min(live), single)
            }
            Condition::Lt(v) => range(v, Side::Lt).map_or((present, false), |n| (n, single)),
            Condition::Lte(v) => range(v, Side::Lte).map_or((present, false), |n| (n, single)),
            Condition::Gt(v) => range(v, Side::Gt).map_or((present, false), |n| (n, single)),
            Condition::Gte(v) => range(v, Side::Gte).map_or((present, false), |n| (n, single)),
            Condition::Match(_) => return None,
        })
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn kind(&self) -> IndexKind {
        self.kind
    }

    /// Adds (`on`) or removes `slot` with this payload.
    pub(crate) fn update(&mut self, slot: u32, payload: &Value, on: bool) {
        let Some(x) = lookup(payload, &self.key) else {
            return;
        };
        let (tag, code) = Column::describe(x, |v| self.code(v));
        match on {
            true => self.column.set(slot, tag, code),
            false => self.column.set(slot, Tag::Absent, 0),
        }
        if tag == Tag::Array {
            match on {
                true => self.arrays += 1,
                false => self.arrays -= 1,
            }
        }
        set(&mut self.present, slot, on);
        if x.is_null() {
            set(&mut self.null, slot, on);
        }
        let scalars: &[Value] = match x {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        };
        for v in scalars {
            match (&mut self.values, v) {
                (Values::Keyword(m), Value::String(s)) => entry(m, s.as_str().into(), slot, on),
                (Values::Number(m), Value::Number(n)) => entry(m, Num::of(n), slot, on),
                (Values::Bool(b), Value::Bool(t)) => set(&mut b[*t as usize], slot, on),
                _ => {}
            }
        }
    }

    /// The slots whose payload passes `c` at this key, when the index can tell exactly;
    /// `live` is every live slot (for `ne`, which a missing key passes).
    pub(crate) fn answer(&self, c: &Condition, live: &RoaringBitmap) -> Option<RoaringBitmap> {
        Some(match c {
            Condition::Exists => self.present.clone(),
            Condition::IsNull => self.null.clone(),
            Condition::Eq(v) => self.eq(v)?,
            Condition::Ne(v) => live - self.eq(v)?,
            Condition::In(vs) => vs
                .iter()
                .map(|v| self.eq(v))
                .collect::<Option<Vec<_>>>()?
                .union(),
            Condition::Lt(v) => self.range(v, Side::Lt)?,
            Condition::Lte(v) => self.range(v, Side::Lte)?,
            Condition::Gt(v) => self.range(v, Side::Gt)?,
            Condition::Gte(v) => self.range(v, Side::Gte)?,
            Condition::Match(_) => return None,
        })
    }

    fn eq(&self, v: &Value) -> Option<RoaringBitmap> {
        let empty = RoaringBitmap::new;
        match (&self.values, v) {
            (Values::Keyword(m), Value::String(s)) => {
                Some(m.get(s.as_str()).cloned().unwrap_or_else(empty))
            }
            (Values::Number(m), Value::Number(n)) => {
                Some(m.get(&Num::of(n)).cloned().unwrap_or_else(empty))
            }
            (Values::Bool(b), Value::Bool(t)) => Some(b[*t as usize].clone()),
            _ => None,
        }
    }

    fn range(&self, v: &Value, side: Side) -> Option<RoaringBitmap> {
        match (&self.values, v) {
            (Values::Keyword(m), Value::String(s)) => Some(union(m, side.bounds(s.as_str()))),
            (Values::Number(m), Value::Number(n)) => Some(union(m, side.bounds(&Num::of(n)))),
            _ => None,
        }
    }

    /// Distinct values held (for stats).
    pub(crate) fn distinct(&self) -> usize {
        match &self.values {
            Values::Keyword(m) => m.len(),
            Values::Number(m) => m.len(),
            Values::Bool(b) => b.iter().filter(|b| !b.is_empty()).count(),
            Values::Nothing => 0,
        }
    }

    /// Slots with a value at the key.
    pub(crate) fn present(&self) -> u64 {
        self.present.len()
    }
}

/// A scalar operand as the indexes key it (numbers by exact value, one zero), so that
/// operands that name the same posting list compare equal.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Bool(bool),
    Num(Num),
    Str(&'a str),
}

impl<'a> Key<'a> {
    fn of(v: &'a Value) -> Option<Key<'a>> {
        match v {
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Number(n) => Some(Key::Num(Num::of(n))),
            Value::String(s) => Some(Key::Str(s)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Side {
    fn bounds<K: ?Sized>(self, k: &K) -> (Bound<&K>, Bound<&K>) {
        match self {
            Side::Lt => (Bound::Unbounded, Bound::Excluded(k)),
            Side::Lte => (Bound::Unbounded, Bound::Included(k)),
            Side::Gt => (Bound::Excluded(k), Bound::Unbounded),
            Side::Gte => (Bound::Included(k), Bound::Unbounded),
        }
    }
}

/// The column's number (of tag `tag`) against `n`: `None` when their nearest f64s are equal
/// but one of them may not be exact (integers past 2^53; the payload decides). Rounding to
/// the nearest f64 keeps order, so unequal f64s order the exact values the same way.
fn cmp_number(tag: Tag, code: u64, n: &serde_json::Number) -> Option<std::cmp::Ordering> {
    let (other, exact) = number_code(n);
    let (a, b) = (f64::from_bits(code), f64::from_bits(other));
    match a.total_cmp(&b) {
        std::cmp::Ordering::Equal if !(exact && tag == Tag::Exact) => None,
        o => Some(o),
    }
}

/// The union of the bitmaps of the keys in a range.
fn union<K, Q>(m: &BTreeMap<K, RoaringBitmap>, range: (Bound<&Q>, Bound<&Q>)) -> RoaringBitmap
where
    K: Ord + std::borrow::Borrow<Q>,
    Q: Ord + ?Sized,
{
    m.range::<Q, _>(range).map(|(_, b)| b).union()
}

fn set(b: &mut RoaringBitmap, slot: u32, on: bool) {
    if on {
        b.insert(slot);
    } else {
        b.remove(slot);
    }
}

fn entry<K: Ord>(m: &mut BTreeMap<K, RoaringBitmap>, k: K, slot: u32, on: bool) {
    if on {
        m.entry(k).or_default().insert(slot);
    } else if let Some(b) = m.get_mut(&k) {
        b.remove(slot);
        if b.is_empty() {
            m.remove(&k);
        }
    }
}
