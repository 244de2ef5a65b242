//! The graph structure and the space it is walked over.

/// Distances between the query and nodes, and between nodes. Lower is closer.
pub trait Space {
    type Query;
    fn distance(&self, q: &Self::Query, node: u32) -> f32;
    /// [`Space::distance`] of four nodes (a space may compute them together).
    #[inline(always)]
    fn distance4(&self, q: &Self::Query, nodes: [u32; 4]) -> [f32; 4] {
        nodes.map(|n| self.distance(q, n))
    }
    fn between(&self, a: u32, b: u32) -> f32;
    /// [`Space::between`] of `a` and each of four nodes (a space may compute them together).
    #[inline(always)]
    fn between4(&self, a: u32, nodes: [u32; 4]) -> [f32; 4] {
        nodes.map(|b| self.between(a, b))
    }
    /// The node's own vector as a query (to insert it).
    fn query_of(&self, node: u32) -> Self::Query;
    /// A hint that `node`'s vector is about to be read.
    fn prefetch(&self, _node: u32) {}
}

/// Graph parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// `M` in the paper: links per node on upper levels; level 0 has `2M`.
    pub m: usize,
    /// `efConstruction`: the candidate list size while inserting.
    pub ef_construction: usize,
}

impl Params {
    /// A new node's level, drawn from `rng`: floor(-ln(U) * mL) with mL = 1 / ln(M).
    pub(super) fn random_level(&self, rng: &mut u64) -> u8 {
        let z = crate::splitmix::next(rng);
        // U in (0, 1].
        let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.m.max(2) as f64).ln();
        ((-u.ln() * ml) as u64).min(16) as u8
    }

    /// A collection's graph parameters.
    pub(crate) fn of(config: &crate::config::CollectionConfig) -> Params {
        Params {
            m: config.m as usize,
            ef_construction: config.ef_construction as usize,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            m: 16,
            ef_construction: 200,
        }
    }
}

pub(crate) const NO_LEVEL: u8 = u8::MAX;

/// The graph.
///
/// Invariants:
/// - `level[n] == NO_LEVEL` iff slot `n` is not in the graph; otherwise `upper[n]` holds
///   `level[n]` blocks of `m + 1` words (count, then links) for levels `1..=level[n]`.
/// - `links0[n * (m0 + 1)]` is node `n`'s level-0 link count `<= m0`, followed by its links.
/// - every link names a node in the graph, never the node itself.
/// - `entry` is `None` iff the graph is empty, else a node of level `max_level`.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub(crate) params: Params,
    pub(crate) level: Vec<u8>,
    pub(crate) links0: Vec<u32>,
    pub(crate) upper: Vec<Vec<u32>>,
    pub(crate) entry: Option<u32>,
    pub(crate) max_level: u8,
    /// SplitMix64 state for levels: a build is deterministic for a given seed and order.
    pub(crate) rng: u64,
    /// Nodes in the graph (slots whose level is not `NO_LEVEL`).
    pub(crate) count: usize,
}

impl Graph {
    pub fn new(params: Params, seed: u64) -> Graph {
        Graph {
            params,
            level: Vec::new(),
            links0: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            rng: seed,
            count: 0,
        }
    }

    pub fn params(&self) -> Params {
        self.params
    }

    pub(super) fn m0(&self) -> usize {
        2 * self.params.m
    }

    /// Nodes in the graph (live or tombstoned).
    pub fn nodes(&self) -> usize {
        self.count
    }

    pub fn contains(&self, n: u32) -> bool {
        self.level.get(n as usize).is_some_and(|&l| l != NO_LEVEL)
    }

    /// Node `n`'s links on `layer`.
    #[inline(always)]
    pub fn links(&self, n: u32, layer: u8) -> &[u32] {
        let block = if layer == 0 {
            let w = self.m0() + 1;
            &self.links0[n as usize * w..(n as usize + 1) * w]
        } else {
            let w = self.params.m + 1;
            let at = (layer as usize - 1) * w;
            &self.upper[n as usize][at..at + w]
        };
        &block[1..1 + block[0] as usize]
    }

    /// A hint that node `n`'s links on `layer` are about to be read (level 0 only: upper
    /// levels are few and small). None in WebAssembly: there a "prefetch" is a load, which
    /// holds up everything after it until its miss is served, and for the links that cost
    /// more than it saved.
    #[inline(always)]
    pub(crate) fn prefetch_links(&self, n: u32, layer: u8) {
        if layer == 0 && !cfg!(target_family = "wasm") {
            let w = self.m0() + 1;
            let block: &[u8] = bytemuck::cast_slice(&self.links0);
            crate::sys::prefetch_range(block, n as usize * w * 4..(n as usize + 1) * w * 4);
        }
    }

    pub(super) fn set_links(&mut self, n: u32, layer: u8, links: &[u32]) {
        let block = if layer == 0 {
            let w = self.m0() + 1;
            &mut self.links0[n as usize * w..(n as usize + 1) * w]
        } else {
            let w = self.params.m + 1;
            let at = (layer as usize - 1) * w;
            &mut self.upper[n as usize][at..at + w]
        };
        block[0] = links.len() as u32;
        block[1..1 + links.len()].copy_from_slice(links);
    }

    pub(super) fn random_level(&mut self) -> u8 {
        self.params.random_level(&mut self.rng)
    }

    pub(super) fn grow(&mut self, n: u32) {
        let need = n as usize + 1;
        if self.level.len() < need {
            self.level.resize(need, NO_LEVEL);
            self.upper.resize(need, Vec::new());
            self.links0.resize(need * (self.m0() + 1), 0);
        }
    }

    /// Checks every structural invariant (see the type), so that search can index without
    /// checks: what loading a graph file and `check` rely on.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.level.len();
        let (m, m0) = (self.params.m, self.m0());
        if self.links0.len() != n * (m0 + 1) || self.upper.len() != n {
            return Err("link arrays do not match the node count".into());
        }
        if self.count != self.level.iter().filter(|&&l| l != NO_LEVEL).count() {
            return Err("node count does not match the levels".into());
        }
        match self.entry {
            None if self.count > 0 => return Err("nodes but no entry".into()),
            Some(e) if self.level.get(e as usize) != Some(&self.max_level) => {
                return Err("bad entry".into());
            }
            _ => {}
        }
        for i in 0..n as u32 {
            let l = self.level[i as usize];
            if l == NO_LEVEL {
                continue;
            }
            if l > 16 || self.upper[i as usize].len() != l as usize * (m + 1) {
                return Err(format!("node {i} has level {l}"));
            }
            for layer in 0..=l {
                let w = if layer == 0 { m0 + 1 } else { m + 1 };
                let block = if layer == 0 {
                    &self.links0[i as usize * w..(i as usize + 1) * w]
                } else {
                    &self.upper[i as usize][(layer as usize - 1) * w..layer as usize * w]
                };
                if block[0] as usize >= w {
                    return Err(format!("node {i} has {} links on level {layer}", block[0]));
                }
                for &x in &block[1..1 + block[0] as usize] {
                    let ok = x != i
                        && (x as usize) < n
                        && self.level[x as usize] != NO_LEVEL
                        && self.level[x as usize] >= layer;
                    if !ok {
                        return Err(format!("node {i} links to {x} on level {layer}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The nodes a search can never reach: not linked, on any level, from anything reachable
    /// from the entry point. Ascending.
    pub fn unreachable(&self) -> Vec<u32> {
        let mut seen = vec![false; self.level.len()];
        let mut stack: Vec<u32> = self.entry.into_iter().collect();
        for &e in &stack {
            seen[e as usize] = true;
        }
        while let Some(n) = stack.pop() {
            for layer in 0..=self.level[n as usize] {
                for &x in self.links(n, layer) {
                    if !std::mem::replace(&mut seen[x as usize], true) {
                        stack.push(x);
                    }
                }
            }
        }
        (0..self.level.len() as u32)
            .filter(|&n| self.contains(n) && !seen[n as usize])
            .collect()
    }
}
