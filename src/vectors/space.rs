//! The spaces a graph is walked over: scoring is chosen here, in one place. [`SlotSpace`]
//! compares exact vectors (the vector file, with staged bytes over it); [`Sq8Space`] compares
//! the SQ8 copy (cheaper, for traversal; reranked exactly); [`LinkSpace`] is the one a graph's
//! links are chosen in.

use super::codec::{Codec, Query};
use super::sq8::{Sq8, Sq8Query};
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

/// The space a graph's links are chosen in: the SQ8 copy (cosine), else the exact vectors
/// where the vector file lends its bytes.
pub(crate) enum LinkSpace<'a> {
    Exact(SlotSpace<'a>),
    Quantized(Sq8Space<'a>),
}

/// Distances over the SQ8 copy: minus the approximate inner product (lower is closer, as for
/// cosine), the integer product of the codes times both scales. Every target computes the
/// same value (an exact integer, then one float multiply), so walks agree bit for bit.
pub(crate) struct Sq8Space<'a> {
    pub(crate) sq8: &'a Sq8,
    pub(crate) kernels: Kernels,
}

impl Space for Sq8Space<'_> {
    type Query = Sq8Query;

    #[inline(always)]
    fn distance(&self, q: &Sq8Query, n: u32) -> f32 {
        let (codes, scale) = self.sq8.row_at(n);
        -(self.kernels.dot_i8_127(&q.codes, codes) as f32) * (q.scale * scale)
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        let ((ca, sa), (cb, sb)) = (self.sq8.row_at(a), self.sq8.row_at(b));
        -(self.kernels.dot_i8_127(ca, cb) as f32) * (sa * sb)
    }

    fn query_of(&self, n: u32) -> Sq8Query {
        let (codes, scale) = self.sq8.row_at(n);
        Sq8Query {
            codes: codes.to_vec(),
            scale,
        }
    }

    /// Every cache line of the row: codes and scale are read together.
    #[inline(always)]
    fn prefetch(&self, n: u32) {
        let row: &[u8] = bytemuck::cast_slice(self.sq8.row_bytes(n));
        for at in (0..row.len()).step_by(64) {
            crate::sys::prefetch(row, at);
        }
    }
}
