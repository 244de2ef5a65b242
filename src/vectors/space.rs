//! The spaces a graph is walked over: scoring is chosen here, in one place. [`SlotSpace`]
//! compares exact vectors (the vector file, with staged bytes over it); [`Sq8Space`] compares
//! the SQ8 copy (cheaper, for traversal; reranked exactly).

use super::codec::{Codec, Query};
use crate::distance::Kernels;
use crate::index::hnsw::Space;
use std::collections::HashMap;

/// Distances between a query and slots, over the vector region (and staged bytes).
pub(crate) struct SlotSpace<'a> {
    pub(crate) codec: Codec,
    pub(crate) slots: &'a [u8],
    pub(crate) staged: &'a HashMap<u32, Vec<u8>>,
}

impl SlotSpace<'_> {
    #[inline]
    pub(crate) fn bytes(&self, n: u32) -> &[u8] {
        if !self.staged.is_empty()
            && let Some(b) = self.staged.get(&n)
        {
            return b;
        }
        let size = self.codec.slot_size();
        &self.slots[n as usize * size..(n as usize + 1) * size]
    }
}

impl Space for SlotSpace<'_> {
    type Query = Query;

    #[inline]
    fn distance(&self, q: &Query, n: u32) -> f32 {
        self.codec.distance(q, self.bytes(n))
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        self.codec.distance_stored(self.bytes(a), self.bytes(b))
    }

    fn query_of(&self, n: u32) -> Query {
        self.codec.stored_query(self.bytes(n))
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        crate::sys::prefetch(self.slots, n as usize * self.codec.slot_size());
    }
}

/// Distances over the SQ8 copy: minus the integer inner product (lower is closer, as for
/// cosine), between the quantized query and a row.
pub(crate) struct Sq8Space<'a> {
    pub(crate) rows: &'a [i8],
    pub(crate) dim: usize,
    pub(crate) kernels: Kernels,
}

impl Sq8Space<'_> {
    #[inline]
    fn row(&self, n: u32) -> &[i8] {
        &self.rows[n as usize * self.dim..(n as usize + 1) * self.dim]
    }
}

impl Space for Sq8Space<'_> {
    type Query = Vec<i8>;

    #[inline]
    fn distance(&self, q: &Vec<i8>, n: u32) -> f32 {
        -(self.kernels.dot_i8_127(q, self.row(n)) as f32)
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        -(self.kernels.dot_i8_127(self.row(a), self.row(b)) as f32)
    }

    fn query_of(&self, n: u32) -> Vec<i8> {
        self.row(n).to_vec()
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        crate::sys::prefetch(bytemuck::cast_slice(self.rows), n as usize * self.dim);
    }
}
