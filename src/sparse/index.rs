//! One sparse field of a collection: each slot's vector, and the inverted index over them
//! that answers the top-k by dot product (MaxScore, exact), with an optional IDF modifier.

use super::vector::SparseVector;
use crate::index::inverted::{Postings, Scorer, Term, top_k};
use std::collections::HashMap;

/// Invariants: `vectors[s]` is the vector of the live point in slot `s` in this field (`None`
/// when it has none or the slot is free); `postings[d]` holds `(s, value)` exactly for the
/// slots whose vector has dimension `d`; `docs` counts the slots with a vector.
#[derive(Debug, Default)]
pub(crate) struct SparseIndex {
    vectors: Vec<Option<SparseVector>>,
    postings: HashMap<u32, Postings>,
    docs: u64,
}

impl SparseIndex {
    /// Sets `slot`'s vector (`None`: removes it).
    pub(crate) fn set(&mut self, slot: u32, vector: Option<SparseVector>) {
        let at = slot as usize;
        if let Some(old) = self.vectors.get_mut(at).and_then(Option::take) {
            for d in &old.indices {
                if let Some(p) = self.postings.get_mut(d) {
                    p.remove(slot);
                    if p.len() == 0 {
                        self.postings.remove(d);
                    }
                }
            }
            self.docs -= 1;
        }
        let Some(v) = vector.filter(|v| !v.is_empty()) else {
            return;
        };
        for (d, w) in v.indices.iter().zip(&v.values) {
            self.postings.entry(*d).or_default().insert(slot, *w);
        }
        if self.vectors.len() <= at {
            self.vectors.resize(at + 1, None);
        }
        self.vectors[at] = Some(v);
        self.docs += 1;
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&SparseVector> {
        self.vectors.get(slot as usize)?.as_ref()
    }

    /// `(slot, vector)` of every slot with one, by slot.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &SparseVector)> {
        self.vectors
            .iter()
            .enumerate()
            .filter_map(|(s, v)| Some((s as u32, v.as_ref()?)))
    }

    /// Slots with a vector.
    #[cfg(test)]
    pub(crate) fn docs(&self) -> u64 {
        self.docs
    }

    /// The top `k` of `(score, id, slot)` by `Σ query[d] · value[d] (· idf(d))`, best first,
    /// ties by smaller id, among the slots `accept` passes that share a dimension with the
    /// query. IDF as BM25's: `ln(1 + (N - df + 0.5) / (df + 0.5))`, N the slots with a vector.
    pub(crate) fn top_k(
        &self,
        query: &SparseVector,
        k: usize,
        idf: bool,
        id: &dyn Fn(u32) -> u64,
        accept: &mut dyn FnMut(u32) -> bool,
    ) -> Vec<(f32, u64, u32)> {
        let n = self.docs as f32;
        let mut weights = Vec::new();
        let mut terms = Vec::new();
        for (d, q) in query.indices.iter().zip(&query.values) {
            let Some(p) = self.postings.get(d) else {
                continue;
            };
            let w = match idf {
                true => {
                    let df = p.len() as f32;
                    q * (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
                }
                false => *q,
            };
            let bound = match w >= 0.0 {
                true => w * p.max(),
                false => w * p.min(),
            };
            weights.push(w);
            terms.push(Term { postings: p, bound });
        }
        let mut scorer = Dot {
            weights: &weights,
            id,
            accept,
        };
        top_k(&terms, k, &mut scorer)
    }

    /// The same vectors over renumbered slots (`to`: a slot's new number, `None`: gone).
    pub(crate) fn remapped(&self, to: impl Fn(u32) -> Option<u32>) -> SparseIndex {
        let mut out = SparseIndex::default();
        for (s, v) in self.iter() {
            if let Some(t) = to(s) {
                out.set(t, Some(v.clone()));
            }
        }
        out
    }

    /// Whether the postings hold exactly what the vectors say (for `check`).
    pub(crate) fn consistent(&self) -> bool {
        let mut rebuilt = SparseIndex::default();
        for (s, v) in self.iter() {
            rebuilt.set(s, Some(v.clone()));
        }
        rebuilt.docs == self.docs
            && rebuilt.postings.len() == self.postings.len()
            && rebuilt
                .postings
                .iter()
                .all(|(d, p)| self.postings.get(d).is_some_and(|q| q.slots() == p.slots()))
    }
}

struct Dot<'a> {
    weights: &'a [f32],
    id: &'a dyn Fn(u32) -> u64,
    accept: &'a mut dyn FnMut(u32) -> bool,
}

impl Scorer for Dot<'_> {
    fn score(&self, term: usize, value: f32, _: u32) -> f32 {
        self.weights[term] * value
    }

    fn id(&self, slot: u32) -> u64 {
        (self.id)(slot)
    }

    fn accept(&mut self, slot: u32) -> bool {
        (self.accept)(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    /// The inverted top-k equals scoring every vector, with and without IDF, through
    /// replacements and removals.
    #[test]
    fn top_k_equals_scoring_every_vector() {
        let mut rng = Rng::new(3);
        let mut ix = SparseIndex::default();
        let random = |rng: &mut Rng| {
            let mut dims: Vec<u32> = (0..1 + rng.below(6))
                .map(|_| rng.below(30) as u32)
                .collect();
            dims.sort_unstable();
            dims.dedup();
            let values = dims
                .iter()
                .map(|_| (rng.below(9) as f32 - 2.0) * 0.25)
                .collect();
            SparseVector::new(dims, values)
        };
        for round in 0..600u32 {
            let slot = rng.below(200) as u32;
            match rng.below(5) {
                0 => ix.set(slot, None),
                _ => ix.set(slot, Some(random(&mut rng))),
            }
            if round % 50 != 49 {
                continue;
            }
            assert!(ix.consistent());
            for idf in [false, true] {
                let q = random(&mut rng);
                let id = |s: u32| u64::from(s) * 3 % 1000;
                let got = ix.top_k(&q, 7, idf, &id, &mut |s| s % 5 != 0);
                let n = ix.docs() as f32;
                let mut all: Vec<(f32, u64, u32)> = ix
                    .iter()
                    .filter(|(s, v)| s % 5 != 0 && v.indices.iter().any(|d| q.indices.contains(d)))
                    .map(|(s, v)| {
                        let score = q
                            .indices
                            .iter()
                            .zip(&q.values)
                            .filter(|(d, _)| ix.postings.contains_key(d))
                            .map(|(d, w)| {
                                let df = ix.postings[d].len() as f32;
                                let w = match idf {
                                    true => w * (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
                                    false => *w,
                                };
                                w * v.get(*d)
                            })
                            .sum::<f32>();
                        (score, id(s), s)
                    })
                    .collect();
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                all.truncate(7);
                let close = got.len() == all.len()
                    && got
                        .iter()
                        .zip(&all)
                        .all(|(g, w)| (g.0 - w.0).abs() < 1e-4 && g.1 == w.1);
                assert!(close, "round {round} idf {idf}: {got:?} != {all:?}");
            }
        }
    }
}
