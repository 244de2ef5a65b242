//! A payload index's per-slot column: what each slot holds at the key, in 9 bytes, so a
//! filter can be checked for one point without parsing its payload or touching a posting
//! list.

use crate::filter::Num;
use serde_json::Value;

/// What a slot holds at the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Tag {
    /// Nothing (or no point).
    Absent = 0,
    /// A scalar of the index's kind; `code` holds it exactly.
    Exact = 1,
    /// A number whose `code` (its nearest f64) may not be exact: an integer past 2^53.
    Rounded = 2,
    Null = 3,
    /// An array: conditions match element-wise, which the column does not hold.
    Array = 4,
    /// A value of another kind (it can never equal or compare with this kind's operands).
    Other = 5,
}

/// Invariant: `tags[s]` and `codes[s]` describe slot `s` (slots past the end: absent).
#[derive(Debug, Default)]
pub(crate) struct Column {
    tags: Vec<u8>,
    codes: Vec<u64>,
}

/// A string's code: a 64-bit FNV-1a hash (equal strings, equal codes; a match is confirmed
/// against the posting list).
pub(crate) fn string_code(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A number's code (its nearest f64's bits) and whether that is exact.
pub(crate) fn number_code(n: &serde_json::Number) -> (u64, bool) {
    match Num::of(n) {
        Num::Float(f) => (f.to_bits(), true),
        Num::Int(i) => {
            let f = i as f64;
            (f.to_bits(), i.unsigned_abs() <= 1 << 53)
        }
    }
}

impl Column {
    pub(crate) fn get(&self, slot: u32) -> (Tag, u64) {
        let tag = match self.tags.get(slot as usize) {
            Some(1) => Tag::Exact,
            Some(2) => Tag::Rounded,
            Some(3) => Tag::Null,
            Some(4) => Tag::Array,
            Some(5) => Tag::Other,
            _ => Tag::Absent,
        };
        (tag, self.codes.get(slot as usize).copied().unwrap_or(0))
    }

    pub(crate) fn set(&mut self, slot: u32, tag: Tag, code: u64) {
        let s = slot as usize;
        if self.tags.len() <= s {
            if tag == Tag::Absent {
                return;
            }
            self.tags.resize(s + 1, Tag::Absent as u8);
            self.codes.resize(s + 1, 0);
        }
        self.tags[s] = tag as u8;
        self.codes[s] = code;
    }

    /// The tag and code of value `x` for an index whose scalars `code` recognises.
    pub(crate) fn describe(x: &Value, code: impl Fn(&Value) -> Option<(u64, bool)>) -> (Tag, u64) {
        match x {
            Value::Null => (Tag::Null, 0),
            Value::Array(_) => (Tag::Array, 0),
            v => match code(v) {
                Some((c, true)) => (Tag::Exact, c),
                Some((c, false)) => (Tag::Rounded, c),
                None => (Tag::Other, 0),
            },
        }
    }
}
