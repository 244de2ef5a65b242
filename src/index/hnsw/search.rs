//! SEARCH-LAYER (algorithm 2) and K-NN-SEARCH (algorithm 5).

use super::graph::{Graph, Space};
use crate::index::{Scored, Scratch};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

impl Graph {
    /// Greedy descent on one layer (SEARCH-LAYER with ef = 1).
    pub(super) fn greedy<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        mut cur: Scored,
        layer: u8,
    ) -> Scored {
        loop {
            let mut moved = false;
            for &nb in self.links(cur.1, layer) {
                let d = space.distance(q, nb);
                if d < cur.0 {
                    cur = Scored(d, nb);
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// SEARCH-LAYER (algorithm 2). Leaves up to `ef` nearest nodes accepted by `accept` in
    /// `scratch.results` (a max-heap). Nodes not accepted are traversed but never become
    /// results; then the search stops only when `ef` results are found or the candidates run
    /// out, which is why very selective filters go to the exact scan instead.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_layer<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        entry_points: &[Scored],
        ef: usize,
        layer: u8,
        accept: Option<&dyn Fn(u32) -> bool>,
        scratch: &mut Scratch,
    ) {
        scratch.begin(self.level.len());
        scratch.results.clear();
        let mut candidates: BinaryHeap<Reverse<Scored>> = std::mem::take(&mut scratch.candidates);
        candidates.clear();
        let ok = |n: u32| accept.is_none_or(|a| a(n));
        for &ep in entry_points {
            if scratch.visit(ep.1) {
                candidates.push(Reverse(ep));
                if ok(ep.1) {
                    scratch.results.push(ep);
                }
            }
        }
        while scratch.results.len() > ef {
            scratch.results.pop();
        }
        while let Some(Reverse(c)) = candidates.pop() {
            let worst = scratch.results.peek().map_or(f32::INFINITY, |w| w.0);
            if c.0 > worst && scratch.results.len() >= ef {
                break;
            }
            // Only the neighbours not visited yet are read: they alone are prefetched (the
            // rest would only pull in bytes nobody reads), then scored.
            let mut fresh = std::mem::take(&mut scratch.fresh);
            fresh.clear();
            for &nb in self.links(c.1, layer) {
                if scratch.visit(nb) {
                    space.prefetch(nb);
                    fresh.push(nb);
                }
            }
            for &nb in &fresh {
                let d = space.distance(q, nb);
                let worst = scratch.results.peek().map_or(f32::INFINITY, |w| w.0);
                if scratch.results.len() < ef || d < worst {
                    candidates.push(Reverse(Scored(d, nb)));
                    if ok(nb) {
                        scratch.results.push(Scored(d, nb));
                        if scratch.results.len() > ef {
                            scratch.results.pop();
                        }
                    }
                }
            }
            scratch.fresh = fresh;
        }
        scratch.candidates = candidates;
    }

    /// K-NN-SEARCH (algorithm 5): the `k` nearest accepted nodes, ascending, searching level 0
    /// with a candidate list of `max(ef, k)`.
    pub fn search<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
        scratch: &mut Scratch,
    ) -> Vec<Scored> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut cur = Scored(space.distance(q, entry), entry);
        for layer in (1..=self.max_level).rev() {
            cur = self.greedy(space, q, cur, layer);
        }
        self.search_layer(space, q, &[cur], ef.max(k), 0, accept, scratch);
        let mut found: Vec<Scored> = scratch.results.drain().collect();
        found.sort_unstable();
        found.truncate(k);
        found
    }
}
