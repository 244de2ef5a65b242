//! Ordered candidates and the per-query working memory of a graph search.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::Pool;

/// A node and its distance to the query, ordered by distance, then node (total order, NaN last).
#[derive(Debug, Clone, Copy)]
pub struct Scored(pub f32, pub u32);

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Per-query working memory, reused across queries so that a search allocates nothing once
/// warm (instant-distance's `Search`).
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) marks: Marks,
    pub(crate) candidates: BinaryHeap<Reverse<Scored>>,
    pub(crate) results: BinaryHeap<Scored>,
    /// The candidate list of a walk without a filter.
    pub(crate) pool: Pool,
    /// What the last SEARCH-LAYER found, ascending.
    pub(crate) found: Vec<Scored>,
    /// Room for the unvisited neighbours of the node being expanded (it only grows).
    pub(crate) fresh: Vec<u32>,
}

/// The visited set of a search, generation-stamped (hnswlib's `VisitedList`): node `n` is
/// visited in the current search iff `marks[n] == stamp`; starting a search bumps `stamp`,
/// which clears the set in O(1), and on wrap-around the marks are zeroed once. A stamp is a
/// byte so that the marks of a walk's working set stay in the first-level cache (one zeroing
/// per 255 searches is far cheaper than the misses of wider stamps).
#[derive(Debug, Default)]
pub(crate) struct Marks {
    marks: Vec<u8>,
    stamp: u8,
}

impl Marks {
    /// Starts a search over `nodes` nodes.
    pub(crate) fn begin(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill(0);
            self.stamp = 1;
        }
    }

    /// True when `n` was visited in the current (or last) search.
    pub(crate) fn seen(&self, n: u32) -> bool {
        self.marks.get(n as usize).is_some_and(|&m| m == self.stamp)
    }

    /// Marks `n` visited; true if it was not visited yet in this search.
    #[inline(always)]
    pub(crate) fn visit(&mut self, n: u32) -> bool {
        // Without a branch: whether a neighbour was seen is a coin toss to the predictor.
        let m = &mut self.marks[n as usize];
        let fresh = *m != self.stamp;
        *m = self.stamp;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visited_set_clears_by_generation_and_survives_wrap_around() {
        let mut s = Marks::default();
        s.begin(4);
        assert!(s.visit(2) && !s.visit(2));
        s.begin(4);
        assert!(s.visit(2), "a new search starts with nothing visited");
        s.stamp = u8::MAX;
        s.marks[1] = u8::MAX;
        s.begin(4);
        assert!(s.visit(1), "stale marks from before the wrap never count");
        // Every stamp is used once per cycle: a node marked 255 searches ago is unvisited.
        s.visit(3);
        for _ in 0..255 {
            s.begin(4);
        }
        assert!(s.visit(3));
    }
}
