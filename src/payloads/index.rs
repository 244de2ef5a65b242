//! Payload indexes: for one key, which slots hold which value.
//!
//! An index is derived from the payloads, like the SQ8 copy from the vectors: its
//! declaration is logged and checkpointed, its contents are rebuilt from the payloads on open
//! and kept current by every write. An index answers a condition exactly or not at all
//! ([`FieldIndex::answer`] returns `None`), so a filter gives the same points with or without
//! indexes.

use crate::filter::{Condition, Num, lookup};
use roaring::RoaringBitmap;
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
}

impl IndexKind {
    pub const ALL: [IndexKind; 5] = [
        IndexKind::Keyword,
        IndexKind::Integer,
        IndexKind::Float,
        IndexKind::Bool,
        IndexKind::Exists,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Keyword => "keyword",
            IndexKind::Integer => "integer",
            IndexKind::Float => "float",
            IndexKind::Bool => "bool",
            IndexKind::Exists => "exists",
        }
    }

    /// The kind of a name (`keyword`, `string`, `integer`, `int`, `float`, `bool`, `exists`).
    pub fn parse(name: &str) -> Option<IndexKind> {
        Some(match name {
            "keyword" | "string" => IndexKind::Keyword,
            "integer" | "int" => IndexKind::Integer,
            "float" => IndexKind::Float,
            "bool" => IndexKind::Bool,
            "exists" => IndexKind::Exists,
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
/// it.
#[derive(Debug)]
pub(crate) struct FieldIndex {
    key: String,
    kind: IndexKind,
    present: RoaringBitmap,
    null: RoaringBitmap,
    values: Values,
}

impl FieldIndex {
    pub(crate) fn new(key: &str, kind: IndexKind) -> FieldIndex {
        let values = match kind {
            IndexKind::Keyword => Values::Keyword(BTreeMap::new()),
            IndexKind::Integer | IndexKind::Float => Values::Number(BTreeMap::new()),
            IndexKind::Bool => Values::Bool(Default::default()),
            IndexKind::Exists => Values::Nothing,
        };
        FieldIndex {
            key: key.to_string(),
            kind,
            present: RoaringBitmap::new(),
            null: RoaringBitmap::new(),
            values,
        }
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
            Condition::In(vs) => {
                let mut out = RoaringBitmap::new();
                for v in vs {
                    out |= self.eq(v)?;
                }
                out
            }
            Condition::Lt(v) => self.range(v, Side::Lt)?,
            Condition::Lte(v) => self.range(v, Side::Lte)?,
            Condition::Gt(v) => self.range(v, Side::Gt)?,
            Condition::Gte(v) => self.range(v, Side::Gte)?,
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

/// The union of the bitmaps of the keys in a range.
fn union<K, Q>(m: &BTreeMap<K, RoaringBitmap>, range: (Bound<&Q>, Bound<&Q>)) -> RoaringBitmap
where
    K: Ord + std::borrow::Borrow<Q>,
    Q: Ord + ?Sized,
{
    let mut out = RoaringBitmap::new();
    for (_, b) in m.range::<Q, _>(range) {
        out |= b;
    }
    out
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
