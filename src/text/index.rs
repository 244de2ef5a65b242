//! A text index on one payload key: each term's postings (slot, term frequency), each slot's
//! length in terms, and what they answer: `match` conditions and BM25 rankings.
//!
//! The text at the key is a string, or the strings of an array there (analysed as one
//! text, each string a phrase apart from the next). Other values are not text: the slot is
//! not in the index.

use super::analyze::{Analyzer, Side};
use super::config::{MatchMode, TextConfig, TextMatch};
use crate::index::inverted::{Postings, Scorer, Term, top_k};
use crate::keypath::lookup;
use roaring::RoaringBitmap;
use serde_json::Value;
use std::collections::HashMap;

/// Positions between two strings of one array: a phrase never spans them.
const STRING_GAP: u32 = 100;

/// BM25's parameters (Robertson & Zaragoza): term-frequency saturation `k1` and length
/// normalisation `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalisation, 0 to 1 (default 0.75).
    pub b: f32,
}

impl Default for Bm25 {
    fn default() -> Bm25 {
        Bm25 { k1: 1.2, b: 0.75 }
    }
}

/// Invariants: for every live slot with text at the key, `lengths[slot]` is its number of
/// terms and each of its terms' postings holds `(slot, frequency)`; no other slot is in any
/// postings; `shortest[t]` is at most the length of every text in term `t`'s postings (a
/// bound: removals leave it); `docs` counts the slots with at least one term and `total` sums
/// `lengths`.
#[derive(Debug)]
pub(crate) struct TextIndex {
    pub(super) key: String,
    pub(super) analyzer: Analyzer,
    pub(super) terms: HashMap<Box<str>, u32>,
    pub(super) postings: Vec<Postings>,
    pub(super) shortest: Vec<u32>,
    pub(super) lengths: Vec<u32>,
    pub(super) docs: u64,
    pub(super) total: u64,
}

/// The text at a payload value: a string, or an array's strings.
fn texts(x: &Value) -> Vec<&str> {
    match x {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl TextIndex {
    pub(crate) fn new(key: &str, config: TextConfig) -> TextIndex {
        TextIndex {
            key: key.to_string(),
            analyzer: Analyzer::new(config),
            terms: HashMap::new(),
            postings: Vec::new(),
            shortest: Vec::new(),
            lengths: Vec::new(),
            docs: 0,
            total: 0,
        }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn config(&self) -> TextConfig {
        *self.analyzer.config()
    }

    /// The terms of the text at the key of `payload`, with positions.
    fn analyse(&self, payload: &Value, side: Side) -> Vec<(String, u32)> {
        analyse(&self.analyzer, &self.key, payload, side)
    }

    /// Adds (`on`) or removes `slot` with this payload.
    pub(crate) fn update(&mut self, slot: u32, payload: &Value, on: bool) {
        let mut terms = self.analyse(payload, Side::Document);
        if terms.is_empty() {
            return;
        }
        let n = terms.len() as u32;
        terms.sort_unstable();
        let mut i = 0;
        while i < terms.len() {
            let j = i + terms[i..].partition_point(|t| t.0 == terms[i].0);
            let tf = (j - i) as f32;
            let term = terms[i].0.as_str();
            match on {
                true => {
                    let next = self.postings.len() as u32;
                    let t = *self.terms.entry(term.into()).or_insert(next);
                    if t == next {
                        self.postings.push(Postings::default());
                        self.shortest.push(n);
                    }
                    let p = &mut self.postings[t as usize];
                    if p.len() == 0 {
                        self.shortest[t as usize] = n;
                    }
                    self.shortest[t as usize] = self.shortest[t as usize].min(n);
                    p.insert(slot, tf);
                }
                false => {
                    if let Some(&t) = self.terms.get(term) {
                        self.postings[t as usize].remove(slot);
                    }
                }
            }
            i = j;
        }
        let at = slot as usize;
        if on {
            if self.lengths.len() <= at {
                self.lengths.resize(at + 1, 0);
            }
            self.lengths[at] = n;
            self.docs += 1;
            self.total += u64::from(n);
        } else if let Some(l) = self.lengths.get_mut(at).filter(|l| **l > 0) {
            self.total -= u64::from(std::mem::take(l));
            self.docs -= 1;
        }
    }

    fn postings_of(&self, term: &str) -> Option<&Postings> {
        self.terms.get(term).map(|&t| &self.postings[t as usize])
    }

    /// A term's postings and the length of its shortest text (a bound).
    fn postings_and_shortest(&self, term: &str) -> Option<(&Postings, u32)> {
        self.terms
            .get(term)
            .map(|&t| (&self.postings[t as usize], self.shortest[t as usize]))
    }

    /// The distinct terms of a query string.
    fn query_terms(&self, text: &str) -> Vec<String> {
        let mut terms: Vec<String> = self
            .analyzer
            .terms(text, Side::Query)
            .into_iter()
            .map(|t| t.0)
            .collect();
        terms.sort_unstable();
        terms.dedup();
        terms
    }

    /// The slots holding the query's terms: all of them (`All`, `Phrase`) or any.
    /// A query without terms (only stop words, say) matches nothing.
    fn postings_for(&self, m: &TextMatch) -> RoaringBitmap {
        let terms = self.query_terms(&m.text);
        let lists: Vec<Option<&Postings>> = terms.iter().map(|t| self.postings_of(t)).collect();
        let bitmap = |p: &Postings| {
            RoaringBitmap::from_sorted_iter(p.slots().iter().copied()).expect("postings are sorted")
        };
        match m.mode {
            MatchMode::Any => lists
                .iter()
                .flatten()
                .map(|p| bitmap(p))
                .fold(RoaringBitmap::new(), |a, b| a | b),
            MatchMode::All | MatchMode::Phrase => {
                if lists.is_empty() || lists.iter().any(Option::is_none) {
                    return RoaringBitmap::new();
                }
                let mut lists: Vec<&Postings> = lists.into_iter().flatten().collect();
                lists.sort_by_key(|p| p.len());
                let both = lists[0]
                    .slots()
                    .iter()
                    .copied()
                    .filter(|&s| lists[1..].iter().all(|p| p.contains(s)));
                RoaringBitmap::from_sorted_iter(both).expect("postings are sorted")
            }
        }
    }

    /// The slots passing `m`, and whether that is exact (a phrase's candidates still need
    /// their positions checked).
    pub(crate) fn answer(&self, m: &TextMatch) -> (RoaringBitmap, bool) {
        (self.postings_for(m), m.mode != MatchMode::Phrase)
    }

    /// An upper bound on the slots passing `m`, and whether it is exact; from list sizes.
    pub(crate) fn estimate(&self, m: &TextMatch) -> (u64, bool) {
        let terms = self.query_terms(&m.text);
        let sizes: Vec<u64> = terms
            .iter()
            .map(|t| self.postings_of(t).map_or(0, |p| p.len() as u64))
            .collect();
        match m.mode {
            MatchMode::Any => (sizes.iter().sum::<u64>().min(self.docs), sizes.len() <= 1),
            _ => (
                sizes.iter().copied().min().unwrap_or(0),
                sizes.len() <= 1 && m.mode == MatchMode::All,
            ),
        }
    }

    /// Whether the point in `slot`, with this payload, passes `m`.
    pub(crate) fn check(&self, slot: u32, m: &TextMatch, payload: Option<&Value>) -> bool {
        let terms = self.query_terms(&m.text);
        match m.mode {
            MatchMode::Any => terms
                .iter()
                .any(|t| self.postings_of(t).is_some_and(|p| p.contains(slot))),
            MatchMode::All => {
                !terms.is_empty()
                    && terms
                        .iter()
                        .all(|t| self.postings_of(t).is_some_and(|p| p.contains(slot)))
            }
            MatchMode::Phrase => {
                payload.is_some_and(|p| phrase(&self.analyzer, &self.key, p, &m.text))
            }
        }
    }

    /// The BM25 top `k` of the slots `accept` passes, for the query string `text`:
    /// `(score, id, slot)` best first, ties by smaller id; only slots with a query term.
    pub(crate) fn bm25(
        &self,
        text: &str,
        k: usize,
        params: Bm25,
        id: &dyn Fn(u32) -> u64,
        accept: &mut dyn FnMut(u32) -> bool,
    ) -> Vec<(f32, u64, u32)> {
        let terms = self.query_terms(text);
        let n = self.docs as f32;
        let avg = if self.docs == 0 {
            1.0
        } else {
            self.total as f32 / n
        };
        let mut scorer_terms = Vec::with_capacity(terms.len());
        let mut idfs = Vec::with_capacity(terms.len());
        for t in &terms {
            let Some((p, shortest)) = self.postings_and_shortest(t).filter(|(p, _)| p.len() > 0)
            else {
                continue;
            };
            let df = p.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            scorer_terms.push(Term {
                postings: p,
                // Rises with the frequency, falls with the length: the list's largest
                // frequency at its shortest text's length bounds every posting.
                bound: idf * saturate(p.max(), shortest as f32, avg, params),
            });
            idfs.push(idf);
        }
        let mut scorer = Bm25Scorer {
            idfs: &idfs,
            lengths: &self.lengths,
            avg,
            params,
            id,
            accept,
        };
        top_k(&scorer_terms, k, &mut scorer)
    }

    /// `(distinct terms, slots with text)`, for stats.
    pub(crate) fn describe(&self) -> (usize, u64) {
        let terms = self.postings.iter().filter(|p| p.len() > 0).count();
        (terms, self.docs)
    }
}

/// BM25's term-frequency part for frequency `tf` in a text of `len` terms.
fn saturate(tf: f32, len: f32, avg: f32, p: Bm25) -> f32 {
    tf * (p.k1 + 1.0) / (tf + p.k1 * (1.0 - p.b + p.b * len / avg))
}

struct Bm25Scorer<'a> {
    idfs: &'a [f32],
    lengths: &'a [u32],
    avg: f32,
    params: Bm25,
    id: &'a dyn Fn(u32) -> u64,
    accept: &'a mut dyn FnMut(u32) -> bool,
}

impl Scorer for Bm25Scorer<'_> {
    fn score(&self, term: usize, tf: f32, slot: u32) -> f32 {
        let len = self.lengths.get(slot as usize).copied().unwrap_or(0) as f32;
        self.idfs[term] * saturate(tf, len, self.avg, self.params)
    }

    fn id(&self, slot: u32) -> u64 {
        (self.id)(slot)
    }

    fn accept(&mut self, slot: u32) -> bool {
        (self.accept)(slot)
    }
}

/// The terms of the text at `key` in `payload`, with positions (strings of an array a gap
/// apart).
pub(crate) fn analyse(a: &Analyzer, key: &str, payload: &Value, side: Side) -> Vec<(String, u32)> {
    let Some(x) = lookup(payload, key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut base = 0u32;
    for s in texts(x) {
        let mut last = 0;
        a.run(s, side, &mut |t, p| {
            out.push((t.to_string(), base + p));
            last = last.max(p);
        });
        base += last + STRING_GAP;
    }
    out
}

/// Whether the text at `key` holds the query's terms in the query's order and gaps.
pub(crate) fn phrase(a: &Analyzer, key: &str, payload: &Value, query: &str) -> bool {
    let q = a.terms(query, Side::Query);
    let Some((head, first)) = q.first().map(|(t, p)| (t.as_str(), *p)) else {
        return false;
    };
    let doc = analyse(a, key, payload, Side::Document);
    let mut at: HashMap<&str, Vec<u32>> = HashMap::new();
    for (t, p) in &doc {
        at.entry(t.as_str()).or_default().push(*p);
    }
    let has = |t: &str, p: u32| at.get(t).is_some_and(|ps| ps.contains(&p));
    at.get(head).into_iter().flatten().any(|&start| {
        q.iter().all(|(t, p)| {
            start
                .checked_add(*p)
                .and_then(|x| x.checked_sub(first))
                .is_some_and(|x| has(t, x))
        })
    })
}

/// `m` evaluated on one payload with `a`'s analysis, no index needed.
pub(crate) fn evaluate(a: &Analyzer, key: &str, payload: Option<&Value>, m: &TextMatch) -> bool {
    let Some(p) = payload else {
        return false;
    };
    if m.mode == MatchMode::Phrase {
        return phrase(a, key, p, &m.text);
    }
    let doc: std::collections::HashSet<String> = analyse(a, key, p, Side::Document)
        .into_iter()
        .map(|t| t.0)
        .collect();
    let mut q = a
        .terms(&m.text, Side::Query)
        .into_iter()
        .map(|t| t.0)
        .peekable();
    match m.mode {
        MatchMode::Any => q.any(|t| doc.contains(&t)),
        _ => q.peek().is_some() && q.all(|t| doc.contains(&t)),
    }
}
