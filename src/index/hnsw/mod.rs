//! HNSW: Hierarchical Navigable Small World graphs (Malkov & Yashunin, TPAMI 2018).
//!
//! Nodes are the collection's slot numbers, so a node's vector is read in place from the
//! vector region. Level 0 is one flat array (`links0`, per node `[count | 2M links]`, as in
//! hnswlib); upper levels are per node. Deleted points stay in the graph as tombstones: they
//! are traversed but never returned (the caller's `accept` says which nodes may be results).
//!
//! - `graph.rs`: the [`Graph`] structure, its invariants and parameters; the [`Space`] a
//!   graph is walked over.
//! - `insert.rs`: INSERT (one node, or a batch built on every core).
//! - `search.rs`: SEARCH-LAYER and K-NN-SEARCH.
//! - `repair.rs`: dropping tombstones and re-linking unreachable nodes.
//! - `file.rs`: the graph file.

pub mod file;
mod graph;
mod insert;
mod repair;
mod search;

#[cfg(test)]
mod tests;

pub use graph::{Graph, Params, Space};
pub use insert::BatchPlan;
