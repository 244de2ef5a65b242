//! Repairs: dropping tombstones (compaction) and re-linking nodes a search cannot reach.

use super::graph::{Graph, Space};
use crate::index::{Scored, Scratch};

impl Graph {
    /// The graph without its tombstones, renumbered: `map[n]` is node `n`'s number in the
    /// result, `None` for a node to drop (`map` covers every node). Each surviving node that
    /// linked to a dropped one picks its links again, with the heuristic, from its surviving
    /// links and the dropped neighbours' surviving links (the 2-hop repair of FreshDiskANN's
    /// delete consolidation). `space` measures the old numbering. Call
    /// [`Graph::reconnect`] on the result: a repair can leave a node without in-links.
    pub fn compact<S: Space>(&self, space: &S, map: &[Option<u32>]) -> Graph {
        let live = |n: u32| self.contains(n) && map.get(n as usize).copied().flatten().is_some();
        // Repair in the old numbering: new links for nodes that lost some, then the reverse
        // links of those (as an insert adds them), all among surviving nodes.
        let mut g = self.clone();
        let mut added: Vec<(u32, u32, u8)> = Vec::new();
        for n in 0..self.level.len() as u32 {
            if !live(n) {
                continue;
            }
            for layer in 0..=self.level[n as usize] {
                let links = self.links(n, layer);
                if links.iter().all(|&x| live(x)) {
                    continue;
                }
                let mut cands: Vec<u32> = Vec::new();
                for &x in links {
                    if live(x) {
                        cands.push(x);
                    } else {
                        cands.extend(self.links(x, layer).iter().filter(|&&y| y != n && live(y)));
                    }
                }
                cands.sort_unstable();
                cands.dedup();
                let mut scored: Vec<Scored> = cands
                    .iter()
                    .map(|&c| Scored(space.between(n, c), c))
                    .collect();
                scored.sort_unstable();
                let max = if layer == 0 { self.m0() } else { self.params.m };
                let chosen: Vec<u32> = self
                    .select(space, n, &scored, max)
                    .iter()
                    .map(|s| s.1)
                    .collect();
                added.extend(
                    chosen
                        .iter()
                        .filter(|c| !links.contains(c))
                        .map(|&c| (c, n, layer)),
                );
                g.set_links(n, layer, &chosen);
            }
        }
        for (c, n, layer) in added {
            let max = if layer == 0 { self.m0() } else { self.params.m };
            g.add_link(space, c, n, layer, max);
        }

        let kept = (0..self.level.len() as u32).filter(|&n| live(n)).count();
        let mut out = Graph::new(self.params, self.rng);
        if kept == 0 {
            return out;
        }
        out.grow(kept as u32 - 1);
        out.count = kept;
        for n in 0..self.level.len() as u32 {
            if !live(n) {
                continue;
            }
            let to = map[n as usize].expect("live");
            let level = self.level[n as usize];
            out.level[to as usize] = level;
            out.upper[to as usize] = vec![0; level as usize * (self.params.m + 1)];
            for layer in 0..=level {
                let mapped: Vec<u32> = g
                    .links(n, layer)
                    .iter()
                    .map(|&x| map[x as usize].expect("links name surviving nodes"))
                    .collect();
                out.set_links(to, layer, &mapped);
            }
        }
        // The entry: the old one if it survives, else the surviving node of the highest level
        // (the first such).
        let entry = match self.entry {
            Some(e) if live(e) => e,
            _ => (0..self.level.len() as u32)
                .filter(|&n| live(n))
                .max_by_key(|&n| (self.level[n as usize], std::cmp::Reverse(n)))
                .expect("kept > 0"),
        };
        out.entry = map[entry as usize];
        out.max_level = self.level[entry as usize];
        out
    }

    /// Re-links the nodes a search cannot reach (see [`Graph::unreachable`]) by inserting
    /// them again: their new neighbours link back to them. A node whose reverse links the
    /// heuristic still drops gets one forced on level 0 (see [`Graph::force_in_link`]).
    /// Returns how many remain unreachable (bounded work either way).
    pub fn reconnect<S: Space>(&mut self, space: &S, scratch: &mut Scratch) -> usize {
        for round in 0..6 {
            let lost = self.unreachable();
            if lost.is_empty() {
                return 0;
            }
            let mut in_links = (round >= 2).then(|| self.in_links0());
            for n in lost {
                match in_links.as_mut() {
                    None => self.insert(space, n, scratch),
                    Some(in_links) => self.force_in_link(space, n, in_links, scratch),
                }
            }
        }
        self.unreachable().len()
    }

    /// How many level-0 links point at each node.
    fn in_links0(&self) -> Vec<u32> {
        let mut count = vec![0u32; self.level.len()];
        for n in (0..self.level.len() as u32).filter(|&n| self.contains(n)) {
            for &x in self.links(n, 0) {
                count[x as usize] += 1;
            }
        }
        count
    }

    /// Gives `n` an in-link on level 0 from the nearest node a search reaches, `e`: appended
    /// when `e` has room, else in place of a link `e -> x` where `n -> x` too, else of the
    /// link to the node with the most other in-links (`in_links`, kept up to date), else of
    /// `e`'s farthest link. A replaced `x` that `n` did not link to is added to `n`'s links
    /// (in place of `n`'s farthest when full), so `x` stays reachable through `n`: every
    /// forced link makes `n` reachable and leaves every reachable node reachable. (Without
    /// that, many identical vectors, whose nearest reachable node is the same `e`, took turns
    /// evicting each other and a node stayed unreachable.)
    fn force_in_link<S: Space>(
        &mut self,
        space: &S,
        n: u32,
        in_links: &mut [u32],
        scratch: &mut Scratch,
    ) {
        let q = space.query_of(n);
        let found = self.search(space, &q, 2, self.params.ef_construction, None, scratch);
        let Some(Scored(_, e)) = found.into_iter().find(|s| s.1 != n) else {
            return;
        };
        let own: Vec<u32> = self.links(n, 0).to_vec();
        let mut links = self.links(e, 0).to_vec();
        if links.contains(&n) {
            return;
        }
        let shared = || links.iter().rposition(|x| own.contains(x));
        let most_linked = || {
            (0..links.len())
                .filter(|&i| in_links[links[i] as usize] > 1)
                .max_by_key(|&i| (in_links[links[i] as usize], i))
        };
        let replace = match links.len() < self.m0() {
            true => None,
            false => Some(shared().or_else(most_linked).unwrap_or(links.len() - 1)),
        };
        match replace {
            None => links.push(n),
            Some(i) => {
                let x = links[i];
                links[i] = n;
                if own.contains(&x) {
                    in_links[x as usize] -= 1;
                } else {
                    // `n` unreachable until now: its own links kept nothing reachable, so
                    // the one it gives up costs nothing.
                    let mut own = own.clone();
                    match own.len() < self.m0() {
                        true => own.push(x),
                        false => {
                            let last = own.len() - 1;
                            in_links[own[last] as usize] -= 1;
                            own[last] = x;
                        }
                    }
                    self.set_links(n, 0, &own);
                }
            }
        }
        in_links[n as usize] += 1;
        self.set_links(e, 0, &links);
    }
}
