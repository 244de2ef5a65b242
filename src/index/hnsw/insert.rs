//! INSERT (algorithm 1 of the paper), one node at a time or a batch at once.

use super::graph::{Graph, Space};
use crate::index::{Scored, Scratch};
use crate::sys::par_map;

/// A batch insert worked out on a graph that it leaves unchanged ([`Graph::plan_batch`]).
#[derive(Debug)]
pub struct BatchPlan {
    nodes: Vec<u32>,
    levels: Vec<u8>,
    /// Per node, per layer, its own links.
    own: Vec<Vec<Vec<u32>>>,
    /// (receiver, layer, its links with the new ones), each receiver and layer once.
    reverse: Vec<(u32, u8, Vec<u32>)>,
    /// The level generator's state after the batch drew its levels.
    rng: u64,
    /// The graph's node count the plan was made on.
    count: usize,
}

impl Graph {
    /// Inserts node `n` (INSERT, algorithm 1), or re-links it when it is already in the graph
    /// (its vector changed, or a deleted point's slot was reused).
    pub fn insert<S: Space>(&mut self, space: &S, n: u32, scratch: &mut Scratch) {
        self.grow(n);
        let q = space.query_of(n);
        let relink = self.contains(n);
        let level = if relink {
            self.level[n as usize]
        } else {
            self.count += 1;
            self.random_level()
        };
        // Where to start: the entry point, or (re-linking the entry itself) one of its
        // neighbours, found before its links are cleared.
        let start = match self.entry {
            None => None,
            Some(e) if e == n => (0..=self.max_level)
                .rev()
                .find_map(|l| self.links(n, l).first().copied()),
            Some(e) => Some(e),
        };
        self.level[n as usize] = level;
        self.upper[n as usize] = vec![0; level as usize * (self.params.m + 1)];
        self.set_links(n, 0, &[]);
        let Some(start) = start else {
            self.entry = Some(n);
            self.max_level = level;
            return;
        };

        let mut cur = Scored(space.distance(&q, start), start);
        for layer in (level.saturating_add(1)..=self.max_level).rev() {
            cur = self.greedy(space, &q, cur, layer);
        }
        // Search only the layers the starting node is on. It is below `level` only when the
        // entry itself is being re-linked and had no neighbours up there: `n` stays alone
        // (and the entry) on those layers.
        let top = level.min(self.max_level).min(self.level[cur.1 as usize]);
        let mut entry_points = vec![cur];
        for layer in (0..=top).rev() {
            self.search_layer(
                space,
                &q,
                &entry_points,
                self.params.ef_construction,
                layer,
                None,
                scratch,
            );
            let found: Vec<Scored> = scratch.found.iter().filter(|s| s.1 != n).copied().collect();
            let chosen = self.select(space, n, &found, self.params.m);
            let ids: Vec<u32> = chosen.iter().map(|s| s.1).collect();
            self.set_links(n, layer, &ids);
            let max = if layer == 0 { self.m0() } else { self.params.m };
            for &e in &ids {
                self.add_link(space, e, n, layer, max);
            }
            if !found.is_empty() {
                entry_points = found;
            }
        }
        if level > self.max_level || self.entry.is_none() {
            self.entry = Some(n);
            self.max_level = level;
        }
    }

    /// Inserts `nodes` (new to the graph, distinct) as a batch, in three phases that each run
    /// on `threads` threads:
    ///
    /// 1. Search: each node takes its level (drawn in order, as `insert` draws them) and
    ///    searches the graph as it was before the batch (greedy descent, then SEARCH-LAYER
    ///    with efConstruction on each of its layers).
    /// 2. Own links: each node chooses its links with the heuristic among what its search
    ///    found plus the batch's earlier nodes on that layer (compared directly: a batch is
    ///    small).
    /// 3. Reverse links: each node that was chosen gets all its new in-links at once, shrunk
    ///    with the heuristic when over capacity (one shrink per node, not one per link).
    ///
    /// Every phase reads only what the phase before produced, so the graph does not depend on
    /// `threads`: a build is deterministic for a given seed, order and batching, on any number
    /// of threads, natively and in the component alike.
    ///
    /// The searches of phase 1 and the link choices use the same `space` (the collection's
    /// link space), so what a search finds is already measured as links are chosen.
    pub fn insert_batch<S: Space + Sync>(
        &mut self,
        space: &S,
        nodes: &[u32],
        threads: usize,
        scratch: &mut Scratch,
    ) {
        let plan = self.plan_batch(space, nodes, threads, scratch);
        self.apply_batch(plan);
    }

    /// The three phases of [`Graph::insert_batch`], computed from the graph as it is without
    /// changing it: what a writer works out while searches still read the graph, and applies
    /// in one short step ([`Graph::apply_batch`]) while the graph has not changed meanwhile.
    pub fn plan_batch<S: Space + Sync>(
        &self,
        space: &S,
        nodes: &[u32],
        threads: usize,
        scratch: &mut Scratch,
    ) -> BatchPlan {
        debug_assert!(nodes.iter().all(|&n| !self.contains(n)));
        let mut rng = self.rng;
        let levels: Vec<u8> = nodes
            .iter()
            .map(|_| self.params.random_level(&mut rng))
            .collect();
        let mut plan = BatchPlan {
            nodes: nodes.to_vec(),
            levels,
            own: Vec::new(),
            reverse: Vec::new(),
            rng,
            count: self.count,
        };
        if nodes.is_empty() {
            return plan;
        }
        let levels = &plan.levels;
        let threads = threads.clamp(1, nodes.len());

        // Phase 1: per node, per layer it shares with the graph, the candidates found.
        let graph = self;
        let found: Vec<Vec<Vec<Scored>>> = par_map(nodes.len(), threads, scratch, |i, scratch| {
            let Some(entry) = graph.entry else {
                return Vec::new();
            };
            let q = space.query_of(nodes[i]);
            let mut cur = Scored(space.distance(&q, entry), entry);
            for layer in (levels[i].saturating_add(1)..=graph.max_level).rev() {
                cur = graph.greedy(space, &q, cur, layer);
            }
            let top = levels[i].min(graph.max_level);
            let mut found = vec![Vec::new(); top as usize + 1];
            let mut entry_points = vec![cur];
            for layer in (0..=top).rev() {
                graph.search_layer(
                    space,
                    &q,
                    &entry_points,
                    graph.params.ef_construction,
                    layer,
                    None,
                    scratch,
                );
                // Ascending already: the walk's results, in the space links are chosen in.
                let f: Vec<Scored> = scratch.found.clone();
                if !f.is_empty() {
                    entry_points.clone_from(&f);
                }
                found[layer as usize] = f;
            }
            found
        });

        // Phase 2: each node's own links, per layer 0..=level.
        let own: Vec<Vec<Vec<u32>>> = par_map(nodes.len(), threads, scratch, |i, _| {
            let n = nodes[i];
            (0..=levels[i])
                .map(|layer| {
                    let walked = found[i].get(layer as usize).map_or(&[][..], Vec::as_slice);
                    // The batch's earlier nodes on this layer, measured four at a time, sorted
                    // and merged with what the walk found (ascending already).
                    let peers = nodes[..i]
                        .iter()
                        .zip(levels)
                        .filter(|&(_, &l)| l >= layer)
                        .map(|(&m, _)| m);
                    let peers: Vec<u32> = peers.collect();
                    let mut peers = scored(space, n, &peers);
                    peers.sort_unstable();
                    let cands = merged(walked, &peers);
                    graph
                        .select(space, n, &cands, graph.params.m)
                        .iter()
                        .map(|s| s.1)
                        .collect()
                })
                .collect()
        });

        // Phase 3: reverse links, grouped by the node that receives them: (receiver, layer,
        // new node) sorted stably by receiver and layer, so each group is in batch order. A
        // receiver of the batch itself starts from the links phase 2 gave it.
        let in_batch: std::collections::HashMap<u32, usize> =
            nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut incoming: Vec<(u32, u8, u32)> = Vec::new();
        for (i, &n) in nodes.iter().enumerate() {
            for (layer, links) in own[i].iter().enumerate() {
                incoming.extend(links.iter().map(|&e| (e, layer as u8, n)));
            }
        }
        incoming.sort_by_key(|&(e, layer, _)| (e, layer));
        let incoming: Vec<&[(u32, u8, u32)]> =
            incoming.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).collect();
        let relinked: Vec<Vec<u32>> = par_map(incoming.len(), threads, scratch, |i, _| {
            // A group is never empty (`chunk_by`).
            let group = incoming[i];
            let (e, layer) = (group[0].0, group[0].1);
            let adds = group.iter().map(|&(_, _, n)| n);
            let max = if layer == 0 {
                graph.m0()
            } else {
                graph.params.m
            };
            let old = match in_batch.get(&e) {
                Some(&j) => own[j].get(layer as usize).map_or(&[][..], Vec::as_slice),
                None => graph.links(e, layer),
            };
            let mut all: Vec<u32> = old.to_vec();
            all.extend(adds.filter(|n| !old.contains(n)));
            if all.len() <= max {
                return all;
            }
            let mut all = scored(space, e, &all);
            all.sort_unstable();
            graph
                .select(space, e, &all, max)
                .iter()
                .map(|s| s.1)
                .collect()
        });
        plan.reverse = incoming
            .iter()
            .zip(relinked)
            .map(|(group, links)| (group[0].0, group[0].1, links))
            .collect();
        plan.own = own;
        plan
    }

    /// Applies a plan made by [`Graph::plan_batch`] on this graph as it still is (a plan made
    /// on another state of the graph is refused by a debug assertion: its links would be
    /// wrong).
    pub fn apply_batch(&mut self, plan: BatchPlan) {
        debug_assert_eq!(
            plan.count, self.count,
            "a plan applies to the graph it was made on"
        );
        self.rng = plan.rng;
        let Some(&max) = plan.nodes.iter().max() else {
            return;
        };
        self.grow(max);
        for (i, &n) in plan.nodes.iter().enumerate() {
            let level = plan.levels[i];
            self.level[n as usize] = level;
            self.upper[n as usize] = vec![0; level as usize * (self.params.m + 1)];
            for (layer, links) in plan.own[i].iter().enumerate() {
                self.set_links(n, layer as u8, links);
            }
            self.count += 1;
        }
        for (e, layer, links) in &plan.reverse {
            self.set_links(*e, *layer, links);
        }
        for (i, &n) in plan.nodes.iter().enumerate() {
            if self.entry.is_none() || plan.levels[i] > self.max_level {
                self.entry = Some(n);
                self.max_level = plan.levels[i];
            }
        }
    }

    /// Adds `n` to `e`'s links on `layer`, shrinking them with the heuristic when full.
    pub(super) fn add_link<S: Space>(&mut self, space: &S, e: u32, n: u32, layer: u8, max: usize) {
        if e == n || layer > self.level[e as usize] {
            return;
        }
        let current = self.links(e, layer);
        if current.contains(&n) {
            return;
        }
        if current.len() < max {
            let mut next = current.to_vec();
            next.push(n);
            self.set_links(e, layer, &next);
            return;
        }
        let mut all = scored(space, e, current);
        all.push(Scored(space.between(e, n), n));
        all.sort_unstable();
        let kept: Vec<u32> = self
            .select(space, e, &all, max)
            .iter()
            .map(|s| s.1)
            .collect();
        self.set_links(e, layer, &kept);
    }

    /// SELECT-NEIGHBORS-HEURISTIC (algorithm 4, without extending candidates): walking the
    /// candidates from the closest, keep one only if it is closer to the base than to every
    /// neighbour kept so far, which spreads links across directions. `sorted` is ascending.
    ///
    /// Candidates at equal distances are taken in an order that depends on `base` (a hash of
    /// both ids) rather than by id: otherwise every node among duplicates would link to the
    /// same lowest ids, reverse links to the others would be shrunk away, and those would be
    /// unreachable.
    pub(super) fn select<S: Space>(
        &self,
        space: &S,
        base: u32,
        sorted: &[Scored],
        m: usize,
    ) -> Vec<Scored> {
        let mut order: Vec<Scored> = sorted.to_vec();
        let mut i = 0;
        while i < order.len() {
            let mut j = i + 1;
            while j < order.len() && order[j].0 == order[i].0 {
                j += 1;
            }
            if j - i > 1 {
                order[i..j].sort_unstable_by_key(|s| tie_key(base, s.1));
            }
            i = j;
        }
        let sorted = &order;
        let mut kept: Vec<Scored> = Vec::with_capacity(m);
        for &c in sorted {
            if kept.len() >= m {
                break;
            }
            if kept.iter().all(|k| space.between(c.1, k.1) >= c.0) {
                kept.push(c);
            }
        }
        kept
    }
}

/// `nodes` with their distances from node `base`, in order, measured four at a time.
fn scored<S: Space>(space: &S, base: u32, nodes: &[u32]) -> Vec<Scored> {
    let mut out = Vec::with_capacity(nodes.len());
    let mut fours = nodes.chunks_exact(4);
    for f in &mut fours {
        let f = [f[0], f[1], f[2], f[3]];
        out.extend(
            f.into_iter()
                .zip(space.between4(base, f))
                .map(|(m, d)| Scored(d, m)),
        );
    }
    out.extend(
        fours
            .remainder()
            .iter()
            .map(|&m| Scored(space.between(base, m), m)),
    );
    out
}

/// Two ascending lists as one, ascending (a node in both would appear twice: the callers'
/// lists are disjoint).
fn merged(a: &[Scored], b: &[Scored]) -> Vec<Scored> {
    debug_assert!(a.is_sorted() && b.is_sorted());
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x <= y {
            out.push(*x);
            i += 1;
        } else {
            out.push(*y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// A deterministic pseudo-random order of `node` among equally distant candidates of `base`
/// (SplitMix64's finaliser over both ids).
fn tie_key(base: u32, node: u32) -> u64 {
    let mut z = (u64::from(base) << 32 | u64::from(node)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
