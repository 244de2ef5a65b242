//! Keeping the collection's HNSW graph over its slots: the points waiting for it, linking
//! them in bulk, loading the graph file, rebuilding.

use super::handle::Collection;
use super::state::{State, threads};
use super::unindexed::LINK_BATCH;
use super::writer::Writer;
use crate::error::Result;
use crate::error::StorageError;
use crate::index::Scratch;
use crate::index::hnsw::file::Stamp;
use crate::index::hnsw::{self, BatchPlan, Graph, Params, Space};
use crate::vectors::LinkSpace;

/// Nodes re-linked (already in the graph, their vector changed) in one step at most: each is
/// a walk made while readers wait.
const RELINK_STEP: usize = 8;

/// One step of the catch-up, worked out on the state as it is: the waiting slots it links
/// (write order), the batch insert of those new to the graph, and those to re-link.
struct LinkStep {
    slots: Vec<u32>,
    fresh: Option<BatchPlan>,
    relink: Vec<u32>,
}

impl Collection {
    /// Links up to `max_points` of the points waiting for the graph (all of them with `None`),
    /// oldest first, on every core natively; returns how many still wait. Writes never wait
    /// for the graph: it catches up here, at every checkpoint and compaction, and within a
    /// write that leaves more than [`Options::max_unindexed`](super::Options) points waiting.
    /// Searches scan the waiting points beside the walk either way; this only makes them faster.
    /// Allowed on a read-only open (the graph lives in memory; nothing is written).
    pub fn optimize(&self, max_points: Option<usize>) -> Result<usize> {
        self.writer().catch_up(max_points.unwrap_or(usize::MAX))
    }
}

impl Writer<'_> {
    /// Links up to `max` waiting slots, oldest first, one step at a time: each step's walks
    /// are made beside readers and its links published in one switch. The call that links
    /// the last of them re-links any node the inserts left unreachable (one walk of the graph
    /// per emptying, not per step). Returns how many still wait.
    pub(super) fn catch_up(&mut self, max: usize) -> Result<usize> {
        let mut left = max;
        let mut linked = false;
        while left > 0 {
            let Some(n) = self.link_step(left)? else {
                break;
            };
            left = left.saturating_sub(n);
            linked = true;
        }
        let waiting = self.read(|st, _| Ok(st.unindexed.len()))?;
        if linked && waiting == 0 {
            self.reconnect()?;
        }
        Ok(waiting)
    }

    /// One step of the catch-up over at most `max` waiting slots (and at most a batch):
    /// worked out beside readers, published in one switch. Returns how many it linked, or
    /// `None` when none wait.
    fn link_step(&mut self, max: usize) -> Result<Option<usize>> {
        let Some(step) = self.read(|st, scratch| Ok(st.link_step(max, scratch)))? else {
            return Ok(None);
        };
        let n = step.slots.len();
        self.write(|st, scratch| {
            st.apply_link_step(step, scratch);
            Ok(())
        })?;
        Ok(Some(n))
    }

    /// One whole step ([`LINK_BATCH`] slots, fewer where re-links end it early); returns how
    /// many still wait. The caller re-links the unreachable once it empties the list.
    pub(super) fn catch_up_step(&mut self) -> Result<usize> {
        self.link_step(LINK_BATCH)?;
        self.read(|st, _| Ok(st.unindexed.len()))
    }

    /// Re-links the nodes no search reaches from the entry point: found beside readers (one
    /// walk of the graph), re-linked in a switch where there are any.
    pub(super) fn reconnect(&mut self) -> Result<()> {
        let lost = self.read(|st, _| {
            Ok(st
                .graph
                .as_ref()
                .is_some_and(|g| !g.unreachable().is_empty()))
        })?;
        if lost {
            self.write(|st, scratch| {
                if let (Some(g), Some(space)) = (st.graph.as_mut(), st.vectors.link_space()) {
                    reconnect(g, &space, scratch);
                }
                Ok(())
            })?;
        }
        Ok(())
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

    /// The next catch-up step over at most `max` waiting slots, or `None` when none wait.
    fn link_step(&self, max: usize, scratch: &mut Scratch) -> Option<LinkStep> {
        let graph = self.graph.as_ref();
        let slots = self.unindexed.peek(max.min(LINK_BATCH), RELINK_STEP, |s| {
            graph.is_some_and(|g| g.contains(s))
        });
        if slots.is_empty() {
            return None;
        }
        let (Some(graph), Some(space)) = (graph, self.vectors.link_space()) else {
            return Some(LinkStep {
                slots,
                fresh: None,
                relink: Vec::new(),
            });
        };
        let (relink, fresh): (Vec<u32>, Vec<u32>) = slots.iter().partition(|&&s| graph.contains(s));
        let threads = threads(self.cores(), fresh.len());
        let fresh = (!fresh.is_empty()).then(|| match &space {
            LinkSpace::Exact(s) => graph.plan_batch(s, &fresh, threads, scratch),
            LinkSpace::Quantized(s) => graph.plan_batch(s, &fresh, threads, scratch),
        });
        Some(LinkStep {
            slots,
            fresh,
            relink,
        })
    }

    /// Publishes a step [`State::link_step`] worked out on this state: its slots leave the
    /// waiting list as they join the graph (a reader finds each in one or the other).
    fn apply_link_step(&mut self, step: LinkStep, scratch: &mut Scratch) {
        let taken = self.unindexed.take(step.slots.len());
        debug_assert_eq!(taken, step.slots, "the state did not change since the step");
        let (Some(graph), Some(space)) = (self.graph.as_mut(), self.vectors.link_space()) else {
            self.virtual_nodes.extend(taken);
            return;
        };
        // The batch first: it was worked out on the graph as it is now.
        if let Some(plan) = step.fresh {
            graph.apply_batch(plan);
        }
        for slot in step.relink {
            match &space {
                LinkSpace::Exact(s) => graph.insert(s, slot, scratch),
                LinkSpace::Quantized(s) => graph.insert(s, slot, scratch),
            }
        }
    }

    /// A fresh graph over the live slots, in slot order, seeded with the generation.
    pub(super) fn fresh_graph(&self, scratch: &mut Scratch) -> Option<Graph> {
        let space = self.vectors.link_space()?;
        let mut g = Graph::new(Params::of(&self.config), u64::from(self.generation));
        let live: Vec<u32> = self.ids.live_slots().collect();
        let cores = self.cores();
        let threads = move |n| threads(cores, n);
        match &space {
            LinkSpace::Exact(s) => link(&mut g, s, &live, threads, scratch),
            LinkSpace::Quantized(s) => link(&mut g, s, &live, threads, scratch),
        }
        Some(g)
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

    /// Replaces the graph with a fresh one over the live slots (nothing waits for it then).
    fn rebuild_graph(&mut self) {
        self.graph = self.fresh_graph(&mut Scratch::default());
        self.unindexed.clear();
    }
}
