//! Keeping the collection's HNSW graph over its slots: linking new points, loading the graph
//! file, rebuilding.

use super::state::{State, threads};
use crate::error::StorageError;
use crate::index::Scratch;
use crate::index::hnsw::file::Stamp;
use crate::index::hnsw::{self, Graph, Params, Space};
use crate::vectors::SlotSpace;

/// New graph nodes are inserted in batches of this many (see `Graph::insert_batch`).
const LINK_BATCH: usize = 256;

/// True when a graph's tombstones (nodes of deleted points) are past a quarter of its nodes:
/// then they cost more traversal than one rebuild, and a repaired graph falls behind a fresh
/// one, so checkpoints and compactions rebuild instead.
pub(super) fn too_many_tombstones(graph: &Graph, live: usize) -> bool {
    (graph.nodes() - live) * 4 > graph.nodes()
}

/// Inserts `fresh` (slots not yet in `graph`) in batches, walking with `walk` and choosing
/// links with `space`; each batch's searches use `threads(batch)` threads.
pub(super) fn insert_fresh<S, W>(
    graph: &mut Graph,
    space: &S,
    walk: &W,
    fresh: &[u32],
    threads: impl Fn(usize) -> usize,
    scratch: &mut Scratch,
) where
    S: Space + Sync,
    W: Space + Sync,
{
    for batch in fresh.chunks(LINK_BATCH) {
        graph.insert_batch(space, walk, batch, threads(batch.len()), scratch);
    }
}

/// A fresh graph over `slots` (in order) of `space`, seeded with `seed`.
pub(super) fn build(
    params: Params,
    seed: u64,
    space: &SlotSpace<'_>,
    slots: &[u32],
    threads: impl Fn(usize) -> usize,
    scratch: &mut Scratch,
) -> Graph {
    let mut g = Graph::new(params, seed);
    insert_fresh(&mut g, space, space, slots, threads, scratch);
    g.reconnect(space, scratch);
    g
}

impl State {
    /// The stamp a graph file of `generation` over the current slots carries.
    pub(super) fn graph_stamp(&self, generation: u32, ids: &crate::idmap::IdMap) -> Stamp {
        let live = ids
            .live_slots()
            .map(|s| (s, ids.owner(s).unwrap_or_default()));
        Stamp::new(&self.path, generation, live)
    }

    /// Links `slots` (in order, each once) into the graph: slots already in it are re-linked
    /// one by one; new ones are inserted in batches, whose searches run on every core natively
    /// (see `Graph::insert_batch`: the result does not depend on it).
    pub(super) fn link_all(&mut self, slots: &[u32]) {
        let cores = self.cores();
        let threads = move |n| threads(cores, n);
        let (Some(graph), Some(space)) = (self.graph.as_mut(), self.vectors.exact_space()) else {
            return;
        };
        let mut seen = std::collections::HashSet::with_capacity(slots.len());
        let mut fresh = Vec::with_capacity(slots.len());
        for &slot in slots {
            if !seen.insert(slot) {
                continue;
            }
            if graph.contains(slot) {
                graph.insert(&space, slot, &mut self.scratch);
            } else {
                fresh.push(slot);
            }
        }
        match self.vectors.sq8_space() {
            Some(walk) => insert_fresh(graph, &space, &walk, &fresh, threads, &mut self.scratch),
            None => insert_fresh(graph, &space, &space, &fresh, threads, &mut self.scratch),
        }
    }

    /// Loads the graph file if it belongs to this checkpoint, else builds the graph over the
    /// live slots (in slot order: deterministic).
    pub(super) fn load_graph(&mut self, path: &str) -> Result<(), StorageError> {
        if self.vectors.exact_space().is_none() {
            return Ok(());
        }
        let params = self.config.hnsw_params();
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
            self.config.hnsw_params(),
            u64::from(self.generation),
        ));
        let live: Vec<u32> = self.ids.live_slots().collect();
        self.link_all(&live);
    }
}
