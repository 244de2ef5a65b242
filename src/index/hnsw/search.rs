//! SEARCH-LAYER (algorithm 2) and K-NN-SEARCH (algorithm 5).

use super::graph::{Graph, Space};
use crate::index::scratch::Marks;
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
            let links = self.links(cur.1, layer);
            let mut step = |nb: u32, d: f32| {
                if d < cur.0 {
                    cur = Scored(d, nb);
                    moved = true;
                }
            };
            // Four links per kernel call; the distances do not depend on `cur`, so taking
            // them in order gives the same walk as one at a time.
            let mut fours = links.chunks_exact(4);
            for f in &mut fours {
                let nodes = [f[0], f[1], f[2], f[3]];
                for (nb, d) in nodes.into_iter().zip(space.distance4(q, nodes)) {
                    step(nb, d);
                }
            }
            for &nb in fours.remainder() {
                step(nb, space.distance(q, nb));
            }
            if !moved {
                return cur;
            }
        }
    }

    /// SEARCH-LAYER (algorithm 2). Leaves up to `ef` nearest nodes accepted by `accept` in
    /// `scratch.found`, ascending. Nodes not accepted are traversed but never become results;
    /// then the search stops only when `ef` results are found or the candidates run out,
    /// which is why very selective filters go to the exact scan instead.
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
        scratch.marks.begin(self.level.len());
        match accept {
            None => self.search_layer_all(space, q, entry_points, ef, layer, scratch),
            Some(accept) => {
                self.search_layer_filtered(space, q, entry_points, ef, layer, accept, scratch)
            }
        }
    }

    /// SEARCH-LAYER where every node is a result: the candidates and the results are one
    /// sorted pool (see [`Pool`](crate::index::Pool)), the same walk as the two heaps.
    fn search_layer_all<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        entry_points: &[Scored],
        ef: usize,
        layer: u8,
        scratch: &mut Scratch,
    ) {
        let mut pool = std::mem::take(&mut scratch.pool);
        let mut fresh = std::mem::take(&mut scratch.fresh);
        pool.reset(ef);
        for &ep in entry_points {
            if scratch.marks.visit(ep.1) {
                pool.insert(ep);
            }
        }
        while let Some(c) = pool.expand_next() {
            // The next candidate's links are read after this one's neighbours are scored.
            if let Some(next) = pool.peek_next() {
                self.prefetch_links(next.1, layer);
            }
            self.expand(
                space,
                q,
                c.1,
                layer,
                &mut fresh,
                &mut scratch.marks,
                // Inline: `expand` calls it at five places, and a call per neighbour costs
                // more than the copies (in WebAssembly every register is saved around one).
                #[inline(always)]
                |nb, d| {
                    if pool.admits(d) {
                        pool.insert(Scored(d, nb));
                    }
                },
            );
        }
        scratch.found.clear();
        scratch.found.extend(pool.sorted());
        scratch.pool = pool;
        scratch.fresh = fresh;
    }

    /// SEARCH-LAYER with a filter: candidates (a min-heap) and accepted results (a max-heap
    /// of at most `ef`) apart, as in the paper.
    #[allow(clippy::too_many_arguments)]
    fn search_layer_filtered<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        entry_points: &[Scored],
        ef: usize,
        layer: u8,
        accept: &dyn Fn(u32) -> bool,
        scratch: &mut Scratch,
    ) {
        let mut results = std::mem::take(&mut scratch.results);
        let mut candidates: BinaryHeap<Reverse<Scored>> = std::mem::take(&mut scratch.candidates);
        let mut fresh = std::mem::take(&mut scratch.fresh);
        results.clear();
        candidates.clear();
        for &ep in entry_points {
            if scratch.marks.visit(ep.1) {
                candidates.push(Reverse(ep));
                if accept(ep.1) {
                    results.push(ep);
                }
            }
        }
        while results.len() > ef {
            results.pop();
        }
        while let Some(Reverse(c)) = candidates.pop() {
            let worst = results.peek().map_or(f32::INFINITY, |w| w.0);
            if c.0 > worst && results.len() >= ef {
                break;
            }
            if let Some(Reverse(next)) = candidates.peek() {
                self.prefetch_links(next.1, layer);
            }
            self.expand(
                space,
                q,
                c.1,
                layer,
                &mut fresh,
                &mut scratch.marks,
                |nb, d| {
                    let worst = results.peek().map_or(f32::INFINITY, |w| w.0);
                    if results.len() < ef || d < worst {
                        candidates.push(Reverse(Scored(d, nb)));
                        if accept(nb) {
                            results.push(Scored(d, nb));
                            if results.len() > ef {
                                results.pop();
                            }
                        }
                    }
                },
            );
        }
        scratch.found.clear();
        scratch.found.extend(results.drain());
        scratch.found.sort_unstable();
        scratch.results = results;
        scratch.candidates = candidates;
        scratch.fresh = fresh;
    }

    /// Scores `node`'s neighbours on `layer` that this search has not visited yet, handing
    /// each to `each` with its distance. Only those are read; they are scored four at a time
    /// (`Space::distance4`), while the next four vectors are prefetched: asking for every
    /// row at once fills the core's outstanding-miss slots and stalls it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn expand<S: Space>(
        &self,
        space: &S,
        q: &S::Query,
        node: u32,
        layer: u8,
        fresh: &mut Vec<u32>,
        marks: &mut Marks,
        mut each: impl FnMut(u32, f32),
    ) {
        /// Neighbours whose vectors are in flight while the four before them are scored.
        const AHEAD: usize = 4;
        // Every link is written and the length advances past the unvisited ones: no branch
        // on "visited", which the predictor cannot guess. `fresh` only grows (no zero fill
        // per call: in WebAssembly that is a call into the host); its first `n` are the ones.
        let links = self.links(node, layer);
        if fresh.len() < links.len() {
            fresh.resize(links.len(), 0);
        }
        let mut n = 0;
        let mut keep = |nb: u32| {
            fresh[n] = nb;
            n += marks.visit(nb) as usize;
        };
        // Eight links a turn, written out: the host's compiler checks its deadline at every
        // loop back-edge (WebAssembly), and this loop runs for every link of every expansion.
        let mut eights = links.chunks_exact(8);
        for e in &mut eights {
            let e: &[u32; 8] = e.try_into().expect("chunks of eight");
            e.iter().for_each(|&nb| keep(nb));
        }
        crate::sys::for_each_few(eights.remainder(), keep);
        let fresh = &fresh[..n];
        prefetch4(space, fresh, 0);
        let mut i = 0;
        while i + 4 <= fresh.len() {
            prefetch4(space, fresh, i + AHEAD);
            let nodes = [fresh[i], fresh[i + 1], fresh[i + 2], fresh[i + 3]];
            let [d0, d1, d2, d3] = space.distance4(q, nodes);
            each(nodes[0], d0);
            each(nodes[1], d1);
            each(nodes[2], d2);
            each(nodes[3], d3);
            i += 4;
        }
        for (j, &nb) in fresh.iter().enumerate().skip(i) {
            prefetch_at(space, fresh, j + AHEAD);
            each(nb, space.distance(q, nb));
        }
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
        scratch.found.iter().take(k).copied().collect()
    }
}

/// Prefetches the vectors of the (up to) four nodes at `fresh[from..]`, written out: in
/// WebAssembly a loop's back-edge is also a check of the host's deadline.
#[inline(always)]
fn prefetch4<S: Space>(space: &S, fresh: &[u32], from: usize) {
    prefetch_at(space, fresh, from);
    prefetch_at(space, fresh, from + 1);
    prefetch_at(space, fresh, from + 2);
    prefetch_at(space, fresh, from + 3);
}

/// Prefetches the vector of the node at `fresh[j]`, if there is one.
#[inline(always)]
fn prefetch_at<S: Space>(space: &S, fresh: &[u32], j: usize) {
    if let Some(&nb) = fresh.get(j) {
        space.prefetch(nb);
    }
}
