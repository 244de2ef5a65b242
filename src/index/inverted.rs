//! Inverted indexes: posting lists (slots with a weight, by slot) and the exact top-k of a
//! sum of per-term scores over them, by MaxScore (Turtle & Flood, 1995), so a query does not
//! score every posting.
//!
//! A text index (term frequencies, scored by BM25) and a sparse-vector index (values,
//! scored by dot product) are both a map from a term to one [`Postings`].

use super::exact::TopK;

/// One term's postings.
///
/// Invariants: `slots` is strictly ascending and as long as `weights`; `max` is at least
/// every weight and `min` at most every weight (bounds: a removal leaves them, so they may
/// be looser than the list, never wrong).
#[derive(Debug, Clone, Default)]
pub(crate) struct Postings {
    slots: Vec<u32>,
    weights: Vec<f32>,
    max: f32,
    min: f32,
}

impl Postings {
    /// Postings from their parts; `None` unless the slots are strictly ascending, as many
    /// as the weights, and the weights finite.
    pub(crate) fn from_parts(slots: Vec<u32>, weights: Vec<f32>) -> Option<Postings> {
        let sorted = slots.windows(2).all(|w| w[0] < w[1]);
        if !sorted || slots.len() != weights.len() || !weights.iter().all(|w| w.is_finite()) {
            return None;
        }
        let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let min = weights.iter().copied().fold(f32::INFINITY, f32::min);
        Some(Postings {
            slots,
            weights,
            max: if max.is_finite() { max } else { 0.0 },
            min: if min.is_finite() { min } else { 0.0 },
        })
    }

    /// The weights, in slot order.
    pub(crate) fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Sets `slot`'s weight (adds it when absent).
    pub(crate) fn insert(&mut self, slot: u32, weight: f32) {
        (self.max, self.min) = match self.slots.is_empty() {
            true => (weight, weight),
            false => (self.max.max(weight), self.min.min(weight)),
        };
        // Slots mostly come in ascending order (new points): appending is the common case.
        if self.slots.last().is_none_or(|&l| l < slot) {
            self.slots.push(slot);
            self.weights.push(weight);
            return;
        }
        match self.slots.binary_search(&slot) {
            Ok(i) => self.weights[i] = weight,
            Err(i) => {
                self.slots.insert(i, slot);
                self.weights.insert(i, weight);
            }
        }
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        if let Ok(i) = self.slots.binary_search(&slot) {
            self.slots.remove(i);
            self.weights.remove(i);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn slots(&self) -> &[u32] {
        &self.slots
    }

    pub(crate) fn contains(&self, slot: u32) -> bool {
        self.slots.binary_search(&slot).is_ok()
    }

    /// At least the largest weight (see the invariants).
    pub(crate) fn max(&self) -> f32 {
        self.max
    }

    /// At most the smallest weight (see the invariants).
    pub(crate) fn min(&self) -> f32 {
        self.min
    }

    #[cfg(test)]
    pub(crate) fn weight(&self, slot: u32) -> Option<f32> {
        self.slots
            .binary_search(&slot)
            .ok()
            .map(|i| self.weights[i])
    }
}

/// One query term in a top-k: its postings and the most it adds to a slot's score.
pub(crate) struct Term<'a> {
    pub(crate) postings: &'a Postings,
    /// At least the score this term adds to any slot in its postings.
    pub(crate) bound: f32,
}

/// What a top-k needs from its caller.
pub(crate) trait Scorer {
    /// The score term `term` (its index in the query) adds to `slot`, whose weight there is
    /// `weight`.
    fn score(&self, term: usize, weight: f32, slot: u32) -> f32;
    /// The id of the point in `slot` (ties go to the smaller id).
    fn id(&self, slot: u32) -> u64;
    /// Whether `slot` may be returned (the filter); asked only of slots that would enter the
    /// top-k.
    fn accept(&mut self, slot: u32) -> bool;
}

/// A cursor on one term's postings.
struct Cursor<'a> {
    term: usize,
    slots: &'a [u32],
    weights: &'a [f32],
    at: usize,
}

impl Cursor<'_> {
    fn current(&self) -> Option<u32> {
        self.slots.get(self.at).copied()
    }

    /// Moves to the first slot `>= slot` (galloping, then binary search).
    fn seek(&mut self, slot: u32) {
        let rest = &self.slots[self.at..];
        let mut step = 1;
        while step < rest.len() && rest[step] < slot {
            step *= 2;
        }
        let lo = step / 2;
        let hi = step.min(rest.len());
        self.at += lo + rest[lo..hi].partition_point(|&s| s < slot);
    }
}

/// The top `k` of `(score, id, slot)`, best first: higher score, then smaller id. Exact:
/// a slot is left unscored only when the terms it could still match cannot lift it past the
/// `k`-th, with ties counted (so the answer is the one a full scoring gives).
pub(crate) fn top_k(
    terms: &[Term<'_>],
    k: usize,
    scorer: &mut impl Scorer,
) -> Vec<(f32, u64, u32)> {
    if k == 0 {
        return Vec::new();
    }
    // Bounds slightly loosened: a sum of bounds is added in another order than a score.
    let loose = |b: f32| b.max(0.0) * (1.0 + 1e-5) + 1e-30;
    // Ascending by bound: the first ones are the non-essential terms once the heap fills.
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by(|&a, &b| terms[a].bound.total_cmp(&terms[b].bound).then(a.cmp(&b)));
    let mut cursors: Vec<Cursor<'_>> = order
        .iter()
        .map(|&t| Cursor {
            term: t,
            slots: &terms[t].postings.slots,
            weights: &terms[t].postings.weights,
            at: 0,
        })
        .collect();
    // upto[i]: the most the terms 0..=i (in `order`) add together.
    let upto: Vec<f32> = order
        .iter()
        .scan(0.0f32, |s, &t| {
            *s += loose(terms[t].bound);
            Some(*s)
        })
        .collect();
    // Scores kept negated, as distances: the exact scan's top-k, ties to the smaller id.
    let mut heap = TopK::new(k);
    let kth = |h: &TopK| h.worst().map(|d| -d);
    // Terms before `first` are non-essential: a slot in none of the others cannot enter.
    let mut first = 0;
    // Each term's part of the current slot's score: the score is their sum in query order,
    // whichever terms were essential when the slot came up, so equal slots score equal.
    let mut parts = vec![0.0f32; terms.len()];
    while let Some(slot) = cursors[first..].iter().filter_map(Cursor::current).min() {
        parts.fill(0.0);
        let mut score = 0.0f32;
        for c in &mut cursors[first..] {
            if c.current() == Some(slot) {
                let s = scorer.score(c.term, c.weights[c.at], slot);
                parts[c.term] = s;
                score += s;
                c.at += 1;
            }
        }
        let threshold = kth(&heap);
        let mut pruned = false;
        for i in (0..first).rev() {
            if threshold.is_some_and(|t| score + upto[i] < t) {
                pruned = true;
                break;
            }
            let c = &mut cursors[i];
            c.seek(slot);
            if c.current() == Some(slot) {
                let s = scorer.score(c.term, c.weights[c.at], slot);
                parts[c.term] = s;
                score += s;
            }
        }
        if pruned {
            continue;
        }
        let score: f32 = parts.iter().sum();
        // Below the `k`-th cannot enter; equal may (ties go to the smaller id).
        if kth(&heap).is_some_and(|t| score < t) {
            continue;
        }
        let id = scorer.id(slot);
        if heap.accepts(-score, id) && scorer.accept(slot) {
            heap.push(-score, id, slot);
            if let Some(t) = kth(&heap) {
                while first < cursors.len() && upto[first] < t {
                    first += 1;
                }
            }
        }
    }
    heap.into_sorted()
        .into_iter()
        .map(|(d, id, slot)| (-d, id, slot))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    struct Dot<'a> {
        query: &'a [f32],
        refused: u32,
    }

    impl Scorer for Dot<'_> {
        fn score(&self, term: usize, weight: f32, _: u32) -> f32 {
            self.query[term] * weight
        }
        fn id(&self, slot: u32) -> u64 {
            u64::from(slot) ^ 5
        }
        fn accept(&mut self, slot: u32) -> bool {
            slot % 7 != self.refused
        }
    }

    /// MaxScore returns exactly what scoring every posting returns, ties included.
    #[test]
    fn max_score_equals_scoring_everything() {
        let mut rng = Rng::new(7);
        for case in 0..200 {
            let terms = 1 + case % 6;
            let lists: Vec<Postings> = (0..terms)
                .map(|_| {
                    let mut p = Postings::default();
                    for s in 0..300u32 {
                        if rng.below(4) == 0 {
                            // Few distinct weights: many ties.
                            p.insert(s, (1 + rng.below(4)) as f32 * 0.5);
                        }
                    }
                    for _ in 0..10 {
                        p.remove(rng.below(300) as u32);
                    }
                    p
                })
                .collect();
            let query: Vec<f32> = (0..terms).map(|_| (1 + rng.below(3)) as f32).collect();
            let k = 1 + rng.below(20) as usize;
            let mut scorer = Dot {
                query: &query,
                refused: (case % 7) as u32,
            };
            let ts: Vec<Term<'_>> = lists
                .iter()
                .zip(&query)
                .map(|(p, q)| Term {
                    postings: p,
                    bound: q * p.max(),
                })
                .collect();
            let got = top_k(&ts, k, &mut scorer);
            let mut all: Vec<(f32, u64, u32)> = (0..300u32)
                .filter(|s| lists.iter().any(|p| p.contains(*s)) && s % 7 != scorer.refused)
                .map(|s| {
                    let score: f32 = lists
                        .iter()
                        .enumerate()
                        .filter_map(|(t, p)| p.weight(s).map(|w| query[t] * w))
                        .sum();
                    (score, scorer.id(s), s)
                })
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            assert_eq!(got, all, "case {case}");
        }
    }

    #[test]
    fn postings_stay_sorted_and_bounded() {
        let mut p = Postings::default();
        for (s, w) in [(5, 1.0), (2, 3.0), (9, -1.0), (5, 2.0)] {
            p.insert(s, w);
        }
        assert_eq!(p.slots(), [2, 5, 9]);
        assert_eq!(p.weight(5), Some(2.0));
        assert_eq!((p.max(), p.min()), (3.0, -1.0));
        p.remove(2);
        p.remove(4);
        assert_eq!(p.slots(), [5, 9]);
        assert!(p.max() >= 2.0);
    }
}
