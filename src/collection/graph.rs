//! Keeping the collection's HNSW graph over its slots: the points waiting for it, linking
//! them in bulk, loading the graph file, rebuilding.

use super::handle::Collection;
use super::state::{State, threads};
use crate::error::Result;
use crate::error::StorageError;
use crate::index::Scratch;
use crate::index::hnsw::file::Stamp;
use crate::index::hnsw::{self, Graph, Params, Space};
use crate::vectors::LinkSpace;

/// New graph nodes are inserted in batches of this many (see `Graph::insert_batch`).
const LINK_BATCH: usize = 256;

impl Collection {
    /// Links up to `max_points` of the points waiting for the graph (all of them with `None`),
    /// oldest first, on every core natively; returns how many still wait. Writes never wait
    /// for the graph: it catches up here, at every checkpoint and compaction, and within a
    /// write that leaves more than [`Options::max_unindexed`](super::Options) points waiting.
    /// Searches scan the waiting points beside the walk either way; this only makes them faster.
    /// Allowed on a read-only open (the graph lives in memory; nothing is written).
    pub fn optimize(&self, max_points: Option<usize>) -> Result<usize> {
        self.with_state(|st| Ok(st.catch_up(max_points.unwrap_or(usize::MAX))))
    }
}

/// True when a graph's tombstones (nodes of deleted points) are past a quarter of its nodes:
/// then they cost more traversal than one rebuild, and a repaired graph falls behind a fresh
/// one, so checkpoints and compactions rebuild instead.
pub(super) fn too_many_tombstones(graph: &Graph, live: usize) -> bool {
    (graph.nodes() - live) * 4 > graph.nodes()
}

/// Inserts `fresh` (slots not yet in `graph`) in batches, walking and choosing links in
/// `space`; each batch's searches use `threads(batch)` threads.
pub(super) fn insert_fresh<S: Space + Sync>(
    graph: &mut Graph,
    space: &S,
    fresh: &[u32],
    threads: impl Fn(usize) -> usize,
    scratch: &mut Scratch,
) {
    for batch in fresh.chunks(LINK_BATCH) {
        graph.insert_batch(space, batch, threads(batch.len()), scratch);
    }
}

/// A fresh graph over `slots` (in order) of `space`, seeded with `seed`.
pub(super) fn build<S: Space + Sync>(
    params: Params,
    seed: u64,
    space: &S,
    slots: &[u32],
    threads: impl Fn(usize) -> usize,
    scratch: &mut Scratch,
) -> Graph {
    let mut g = Graph::new(params, seed);
    insert_fresh(&mut g, space, slots, threads, scratch);
    g.reconnect(space, scratch);
    g
}

/// [`State::link_all`] in `space`.
fn link<S: Space + Sync>(
    graph: &mut Graph,
    space: &S,
    slots: &[u32],
    threads: impl Fn(usize) -> usize,
    scratch: &mut Scratch,
) {
    let mut seen = std::collections::HashSet::with_capacity(slots.len());
    let mut fresh = Vec::with_capacity(slots.len());
    for &slot in slots {
        if !seen.insert(slot) {
            continue;
        }
        if graph.contains(slot) {
            graph.insert(space, slot, scratch);
        } else {
            fresh.push(slot);
        }
    }
    insert_fresh(graph, space, &fresh, threads, scratch);
}

/// Re-links the nodes no search reaches from the entry point, in `space`.
pub(super) fn reconnect(graph: &mut Graph, space: &LinkSpace<'_>, scratch: &mut Scratch) {
    match space {
        LinkSpace::Exact(s) => graph.reconnect(s, scratch),
        LinkSpace::Quantized(s) => graph.reconnect(s, scratch),
    };
}

impl State {
    /// The stamp a graph file of `generation` over the current slots carries.
    pub(super) fn graph_stamp(&self, generation: u32, ids: &crate::idmap::IdMap) -> Stamp {
        let live = ids
            .live_slots()
            .map(|s| (s, ids.owner(s).unwrap_or_default()));
        Stamp::new(&self.path, generation, live)
    }

    /// Links the first `max` waiting slots (write order) into the graph; returns how many
    /// still wait. The call that links the last of them re-links any node the inserts left
    /// unreachable (one walk of the graph per emptying, not per step).
    pub(super) fn catch_up(&mut self, max: usize) -> usize {
        if !self.unindexed.is_empty() {
            let slots = self.unindexed.take(max);
            match self.graph {
                Some(_) => self.link_all(&slots),
                None => self.virtual_nodes.extend(slots),
            }
            if self.unindexed.is_empty()
                && let (Some(g), Some(space)) = (self.graph.as_mut(), self.vectors.link_space())
            {
                reconnect(g, &space, &mut self.scratch);
            }
        }
        self.unindexed.len()
    }

    /// Links `slots` (in order, each once) into the graph: slots already in it are re-linked
    /// one by one; new ones are inserted in batches, whose searches run on every core natively
    /// (see `Graph::insert_batch`: the result does not depend on it). Walks and link choices
    /// are both made in the link space.
    pub(super) fn link_all(&mut self, slots: &[u32]) {
        let cores = self.cores();
        let threads = move |n| threads(cores, n);
        let (Some(graph), Some(space)) = (self.graph.as_mut(), self.vectors.link_space()) else {
            return;
        };
        let scratch = &mut self.scratch;
        match &space {
            LinkSpace::Exact(s) => link(graph, s, slots, threads, scratch),
            LinkSpace::Quantized(s) => link(graph, s, slots, threads, scratch),
        }
    }

    /// Loads the graph file if it belongs to this checkpoint, else builds the graph over the
    /// live slots (in slot order: deterministic).
    pub(super) fn load_graph(&mut self, path: &str) -> Result<(), StorageError> {
        if self.vectors.link_space().is_none() {
            // As a graph file keeps every slot it had, tombstones included.
            self.virtual_nodes.insert_range(0..self.ids.slots());
            return Ok(());
        }
        let params = Params::of(&self.config);
        let slots = self.ids.slots() as usize;
        let loaded = match self.dir.read_file(path)? {
            None => Err("no graph file".to_string()),
            Some(bytes) => {
                let stamp = self.graph_stamp(self.generation, &self.ids);
                hnsw::file::decode(&bytes, stamp, params, slots)
            }
        };
        match loaded {
            Ok(g) if self.ids.live_slots().all(|s| g.contains(s)) => {
                self.graph = Some(g);
                self.recovery.graph_loaded = true;
            }
            other => {
                self.recovery.graph_problem = Some(match other {
                    Err(why) => why,
                    Ok(_) => "graph misses live slots".into(),
                });
                self.rebuild_graph();
            }
        }
        Ok(())
    }

    /// A fresh graph over the live slots, in slot order.
    pub(super) fn rebuild_graph(&mut self) {
        self.graph = Some(Graph::new(
            Params::of(&self.config),
            u64::from(self.generation),
        ));
        let live: Vec<u32> = self.ids.live_slots().collect();
        self.unindexed.clear();
        self.link_all(&live);
    }
}
