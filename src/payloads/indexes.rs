//! A collection's payload indexes, and what a filter's indexed conditions say about which
//! slots can match.

use super::index::{FieldIndex, IndexKind, Verdict};
use crate::filter::{Condition, Filter};
use crate::idmap::IdMap;
use crate::text::{TextConfig, TextIndex};
use roaring::RoaringBitmap;
use serde_json::Value;

/// What the indexes know of the slots a filter passes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidates {
    /// Every matching slot is in here.
    pub(crate) slots: RoaringBitmap,
    /// Every slot in here matches (the filter needs no evaluation).
    pub(crate) exact: bool,
}

/// Invariants: `live` holds exactly the live slots; each index holds what
/// [`FieldIndex::update`] (or [`TextIndex::update`]) put there for every live slot's
/// payload, and nothing else. A key has at most one text index.
#[derive(Debug, Default)]
pub(crate) struct PayloadIndexes {
    live: RoaringBitmap,
    fields: Vec<FieldIndex>,
    texts: Vec<TextIndex>,
}

impl PayloadIndexes {
    /// The declared indexes, `(key, kind)`, sorted.
    pub(crate) fn declared(&self) -> Vec<(String, IndexKind)> {
        let mut out: Vec<_> = self
            .fields
            .iter()
            .map(|f| (f.key().to_string(), f.kind()))
            .chain(
                self.texts
                    .iter()
                    .map(|t| (t.key().to_string(), IndexKind::Text)),
            )
            .collect();
        out.sort();
        out
    }

    pub(crate) fn has(&self, key: &str, kind: IndexKind) -> bool {
        match kind {
            IndexKind::Text => self.text(key).is_some(),
            _ => self
                .fields
                .iter()
                .any(|f| f.key() == key && f.kind() == kind),
        }
    }

    /// The text index of `key`.
    pub(crate) fn text(&self, key: &str) -> Option<&TextIndex> {
        self.texts.iter().find(|t| t.key() == key)
    }

    /// The text indexes, by key (what a checkpoint saves).
    pub(crate) fn texts(&self) -> Vec<&TextIndex> {
        let mut out: Vec<&TextIndex> = self.texts.iter().collect();
        out.sort_by(|a, b| a.key().cmp(b.key()));
        out
    }

    /// Adopts a text index loaded whole (from a checkpoint's text file) for a key that has
    /// none.
    pub(crate) fn adopt_text(&mut self, index: TextIndex) {
        if self.text(index.key()).is_none() {
            self.texts.push(index);
        }
    }

    /// Declares a text index and fills it from `payloads` (as [`PayloadIndexes::create`]).
    /// False when `key` has one (whatever its config).
    pub(crate) fn create_text(
        &mut self,
        key: &str,
        config: TextConfig,
        payloads: impl Iterator<Item = (u32, Value)>,
    ) -> bool {
        if self.text(key).is_some() {
            return false;
        }
        let mut t = TextIndex::new(key, config);
        for (slot, p) in payloads {
            t.update(slot, &p, true);
        }
        self.texts.push(t);
        true
    }

    /// Declares an index and fills it from `payloads` (`(slot, payload)` of every live slot
    /// with one). False when it already existed.
    pub(crate) fn create(
        &mut self,
        key: &str,
        kind: IndexKind,
        payloads: impl Iterator<Item = (u32, Value)>,
    ) -> bool {
        if kind == IndexKind::Text {
            return self.create_text(key, TextConfig::default(), payloads);
        }
        if self.has(key, kind) {
            return false;
        }
        let mut f = FieldIndex::new(key, kind);
        for (slot, p) in payloads {
            f.update(slot, &p, true);
        }
        self.fields.push(f);
        true
    }

    /// False when there was no such index.
    pub(crate) fn remove(&mut self, key: &str, kind: IndexKind) -> bool {
        let before = self.fields.len() + self.texts.len();
        match kind {
            IndexKind::Text => self.texts.retain(|t| t.key() != key),
            _ => self
                .fields
                .retain(|f| !(f.key() == key && f.kind() == kind)),
        }
        self.fields.len() + self.texts.len() != before
    }

    /// `slot` went from payload `old` to `new`; `live` says whether it still holds a point.
    pub(crate) fn update(
        &mut self,
        slot: u32,
        old: Option<&Value>,
        new: Option<&Value>,
        live: bool,
    ) {
        if live {
            self.live.insert(slot);
        } else {
            self.live.remove(slot);
        }
        for f in &mut self.fields {
            if let Some(o) = old {
                f.update(slot, o, false);
            }
            if let Some(n) = new {
                f.update(slot, n, true);
            }
        }
        for t in &mut self.texts {
            if let Some(o) = old {
                t.update(slot, o, false);
            }
            if let Some(n) = new {
                t.update(slot, n, true);
            }
        }
    }

    /// The same declared indexes, built over renumbered slots: `slots` gives each live slot's
    /// payload. What compaction builds beside readers.
    pub(crate) fn rebuilt(&self, slots: impl Iterator<Item = (u32, Option<Value>)>) -> Self {
        let mut fresh = PayloadIndexes {
            live: RoaringBitmap::new(),
            fields: self
                .fields
                .iter()
                .map(|f| FieldIndex::new(f.key(), f.kind()))
                .collect(),
            texts: self
                .texts
                .iter()
                .map(|t| TextIndex::new(t.key(), t.config()))
                .collect(),
        };
        for (slot, p) in slots {
            fresh.update(slot, None, p.as_ref(), true);
        }
        fresh
    }

    /// Needs the payloads of the live slots: `(slot, payload)` of each one with a payload.
    pub(crate) fn needs_payloads(&self) -> bool {
        !self.fields.is_empty() || !self.texts.is_empty()
    }

    /// The declared indexes with their parameters, `(key, kind, parameters)`, sorted (what
    /// a checkpoint records): a text index's config bytes, nothing for other kinds.
    pub(crate) fn declarations(&self) -> Vec<(String, IndexKind, Vec<u8>)> {
        self.declared()
            .into_iter()
            .map(|(k, kind)| {
                let params = match kind {
                    IndexKind::Text => self
                        .text(&k)
                        .map_or(Vec::new(), |t| t.config().encode().to_vec()),
                    _ => Vec::new(),
                };
                (k, kind, params)
            })
            .collect()
    }

    /// What the indexes say of `f`; `None` when they bound nothing (every live slot may
    /// match). `ids` resolves `has_id` conditions (exact: the live slots of those ids).
    pub(crate) fn candidates(&self, f: &Filter, ids: &IdMap) -> Option<Candidates> {
        match f {
            Filter::HasId(wanted) => Some(Candidates {
                slots: wanted.iter().filter_map(|&id| ids.slot(id)).collect(),
                exact: true,
            }),
            Filter::Field {
                key,
                condition: Condition::Match(m),
            } => self.text(key).map(|t| {
                let (slots, exact) = t.answer(m);
                Candidates { slots, exact }
            }),
            Filter::Field { key, condition } => self
                .fields
                .iter()
                .filter(|i| i.key() == key)
                .find_map(|i| i.answer(condition, &self.live))
                .map(|slots| Candidates { slots, exact: true }),
            Filter::And(fs) => {
                let mut out: Option<Candidates> = None;
                let mut exact = true;
                for c in fs {
                    match self.candidates(c, ids) {
                        None => exact = false,
                        Some(c) => {
                            out = Some(match out {
                                None => c,
                                Some(o) => Candidates {
                                    slots: o.slots & c.slots,
                                    exact: o.exact && c.exact,
                                },
                            })
                        }
                    }
                }
                match out {
                    Some(o) => Some(Candidates {
                        exact: o.exact && exact,
                        ..o
                    }),
                    // `and` of nothing: every point.
                    None if fs.is_empty() => Some(Candidates {
                        slots: self.live.clone(),
                        exact: true,
                    }),
                    None => None,
                }
            }
            Filter::Or(fs) => {
                let mut slots = RoaringBitmap::new();
                let mut exact = true;
                for c in fs {
                    let c = self.candidates(c, ids)?;
                    slots |= c.slots;
                    exact &= c.exact;
                }
                Some(Candidates { slots, exact })
            }
            Filter::Not(inner) => match self.candidates(inner, ids)? {
                Candidates { slots, exact: true } => Some(Candidates {
                    slots: &self.live - slots,
                    exact: true,
                }),
                _ => None,
            },
        }
    }

    /// Does the point in `slot` pass `f`? Each condition is checked on an index's column
    /// where one answers it; the payload (`load`, parsed at most once) decides the rest.
    pub(crate) fn matches(
        &self,
        slot: u32,
        f: &Filter,
        ids: &IdMap,
        load: &dyn Fn() -> Option<Value>,
    ) -> bool {
        let parsed = std::cell::OnceCell::new();
        let payload = || parsed.get_or_init(load).as_ref();
        self.eval(slot, f, ids, &payload)
    }

    fn eval<'v>(
        &self,
        slot: u32,
        f: &Filter,
        ids: &IdMap,
        payload: &dyn Fn() -> Option<&'v Value>,
    ) -> bool {
        match f {
            Filter::And(fs) => fs.iter().all(|c| self.eval(slot, c, ids, payload)),
            Filter::Or(fs) => fs.iter().any(|c| self.eval(slot, c, ids, payload)),
            Filter::Not(c) => !self.eval(slot, c, ids, payload),
            Filter::HasId(wanted) => ids.owner(slot).is_some_and(|id| wanted.contains(&id)),
            Filter::Field {
                key,
                condition: Condition::Match(m),
            } => match self.text(key) {
                Some(t) => t.check(slot, m, payload()),
                None => f.matches(payload()),
            },
            Filter::Field { key, condition } => {
                for i in self.fields.iter().filter(|i| i.key() == key) {
                    match i.check(slot, condition) {
                        Verdict::Yes => return true,
                        Verdict::No => return false,
                        Verdict::Unknown => {}
                    }
                }
                f.matches(payload())
            }
        }
    }

    /// An upper bound on the slots passing `f` and whether it is exact, from the posting
    /// lists' sizes (nothing is materialised); `None` when the indexes bound nothing.
    pub(crate) fn estimate(&self, f: &Filter, ids: &IdMap) -> Option<(u64, bool)> {
        let live = self.live.len();
        match f {
            Filter::HasId(wanted) => {
                let found = wanted.iter().filter(|&&id| ids.contains(id)).count() as u64;
                Some((found, true))
            }
            Filter::Field {
                key,
                condition: Condition::Match(m),
            } => self.text(key).map(|t| t.estimate(m)),
            Filter::Field { key, condition } => self
                .fields
                .iter()
                .filter(|i| i.key() == key)
                .find_map(|i| i.estimate(condition, live)),
            Filter::And(fs) => {
                if fs.is_empty() {
                    return Some((live, true));
                }
                let known: Vec<_> = fs.iter().filter_map(|c| self.estimate(c, ids)).collect();
                let least = known.iter().map(|e| e.0).min()?;
                Some((least, fs.len() == 1 && known[0].1))
            }
            Filter::Or(fs) => {
                let each = fs
                    .iter()
                    .map(|c| self.estimate(c, ids))
                    .collect::<Option<Vec<_>>>()?;
                let total: u64 = each.iter().map(|e| e.0).sum();
                let exact = each.len() <= 1 && each.iter().all(|e| e.1);
                Some((total.min(live), exact))
            }
            Filter::Not(c) => match self.estimate(c, ids)? {
                (n, true) => Some((live - n.min(live), true)),
                _ => None,
            },
        }
    }

    /// `(key, kind, distinct values, slots with the key)` of each index.
    pub(crate) fn describe(&self) -> Vec<(String, IndexKind, usize, u64)> {
        let mut out: Vec<_> = self
            .fields
            .iter()
            .map(|f| (f.key().to_string(), f.kind(), f.distinct(), f.present()))
            .chain(self.texts.iter().map(|t| {
                let (terms, docs) = t.describe();
                (t.key().to_string(), IndexKind::Text, terms, docs)
            }))
            .collect();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use serde_json::json;

    /// Every filter gives, through the indexes, exactly the slots evaluation gives.
    #[test]
    fn indexed_answers_equal_evaluated_ones() {
        let payloads: Vec<Value> = (0..300u64)
            .map(|i| match i % 7 {
                0 => json!({"b": i % 10, "s": format!("k{}", i % 5), "t": true}),
                1 => json!({"b": (i % 10) as f64 + 0.5, "s": ["k1", "k2"], "t": false}),
                2 => json!({"b": null, "s": 3}),
                3 => json!({"b": [1, 2, 18446744073709551615u64], "s": "k9"}),
                4 => json!({"other": 1}),
                5 => json!({"b": "7", "t": [true, false]}),
                _ => json!({"b": -(i as i64), "s": "k0"}),
            })
            .collect();
        let mut ix = PayloadIndexes::default();
        for (s, p) in payloads.iter().enumerate() {
            ix.update(s as u32, None, Some(p), true);
        }
        for kind in [IndexKind::Integer, IndexKind::Keyword, IndexKind::Bool] {
            let key = match kind {
                IndexKind::Integer => "b",
                IndexKind::Keyword => "s",
                _ => "t",
            };
            let all = payloads
                .iter()
                .cloned()
                .enumerate()
                .map(|(s, p)| (s as u32, p));
            assert!(ix.create(key, kind, all));
        }
        ix.create("b", IndexKind::Exists, std::iter::empty());
        let filters = [
            Filter::eq("b", 3),
            Filter::eq("b", 3.0),
            Filter::eq("b", 18446744073709551615u64),
            Filter::ne("b", 3),
            Filter::lt("b", 4),
            Filter::gte("b", 4.5),
            Filter::gt("b", -100),
            Filter::is_in("b", vec![json!(1), json!(2)]),
            // One value named twice is one posting list, not two (an exact estimate).
            Filter::is_in("b", vec![json!(3), json!(3.0), json!(-0.0), json!(0)]),
            !Filter::is_in("b", vec![json!(3), json!(3)]),
            Filter::eq("b", "7"),
            Filter::exists("b"),
            Filter::is_null("b"),
            Filter::eq("s", "k1"),
            Filter::gt("s", "k1"),
            Filter::ne("s", "k0"),
            Filter::eq("t", true),
            Filter::ne("t", false),
            Filter::And(vec![Filter::eq("s", "k1"), Filter::lt("b", 5)]),
            Filter::And(vec![Filter::eq("s", "k1"), Filter::eq("other", 1)]),
            Filter::Or(vec![Filter::eq("s", "k1"), Filter::eq("t", false)]),
            !Filter::And(vec![Filter::eq("s", "k1"), Filter::lt("b", 5)]),
            Filter::And(vec![]),
            Filter::Or(vec![]),
        ];
        // No filter here names ids: the id map is empty.
        let ids = IdMap::default();
        for f in &filters {
            let want: RoaringBitmap = payloads
                .iter()
                .enumerate()
                .filter(|(_, p)| f.matches(Some(p)))
                .map(|(s, _)| s as u32)
                .collect();
            let c = ix.candidates(f, &ids).unwrap_or(Candidates {
                slots: ix.live.clone(),
                exact: false,
            });
            if c.exact {
                assert_eq!(c.slots, want, "{f:?}");
            } else {
                assert!(want.is_subset(&c.slots), "{f:?}");
            }
            let by_column: RoaringBitmap = (0..payloads.len() as u32)
                .filter(|&s| ix.matches(s, f, &ids, &|| Some(payloads[s as usize].clone())))
                .collect();
            assert_eq!(by_column, want, "{f:?} checked per slot");
            if let Some((n, exact)) = ix.estimate(f, &ids) {
                assert!(n >= want.len(), "{f:?}: {n} bounds {}", want.len());
                if exact {
                    assert_eq!(n, want.len(), "{f:?}");
                }
            }
        }
        assert!(ix.candidates(&Filter::eq("s", "k1"), &ids).unwrap().exact);
        assert!(!ix.candidates(&filters[19], &ids).unwrap().exact);
        assert!(ix.candidates(&Filter::eq("other", 1), &ids).is_none());
        // Removing a slot's payload removes it everywhere.
        ix.update(0, Some(&payloads[0]), None, false);
        assert!(
            !ix.candidates(&Filter::eq("b", 0), &ids)
                .unwrap()
                .slots
                .contains(0)
        );
        assert!(
            !ix.candidates(&Filter::ne("b", 3), &ids)
                .unwrap()
                .slots
                .contains(0)
        );
    }
}
