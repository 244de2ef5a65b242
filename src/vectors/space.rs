//! The spaces a graph is walked over: scoring is chosen here, in one place. [`SlotSpace`]
//! compares exact vectors (the vector file, with staged bytes over it); [`Sq8Space`] compares
//! the SQ8 copy (cheaper, for traversal; reranked exactly); [`LinkSpace`] is the one a graph's
//! links are chosen in.

use super::codec::{Codec, Query};
use super::sq8::{Row, Rows, Sq8Query};
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

/// The space a graph's links are chosen in: the SQ8 copy (float metrics), else the exact vectors
/// where the vector file lends its bytes.
pub(crate) enum LinkSpace<'a> {
    Exact(SlotSpace<'a>),
    Quantized(Sq8Space<'a>),
}

/// Distances over the SQ8 copy: minus the approximate inner product (lower is closer, as for
/// cosine and dot), the integer product of the codes times both scales; for euclidean copies
/// the approximate squared distance, both squared norms minus twice that product. Every
/// target computes the same value (an exact integer, then the same float operations in the
/// same order), so walks agree bit for bit.
pub(crate) struct Sq8Space<'a> {
    pub(crate) rows: Rows<'a>,
    pub(crate) kernels: Kernels,
}

impl Sq8Space<'_> {
    /// The distance from the product of two rows' codes (`dot`), their scales and norms.
    #[inline(always)]
    fn distance_of(&self, dot: i32, (scale_a, norm_a): (f32, f32), b: Row<'_>) -> f32 {
        let product = dot as f32 * (scale_a * b.scale);
        match self.rows.euclidean {
            true => (norm_a + b.norm2) - 2.0 * product,
            false => -product,
        }
    }

    /// The distances from codes `a` (with their scale and norm) to four nodes' rows, the
    /// four products computed together.
    #[inline(always)]
    fn distances4(&self, a: &[i8], head: (f32, f32), nodes: [u32; 4]) -> [f32; 4] {
        // Written out: `array::map` here left an out-of-line call per row.
        let [n0, n1, n2, n3] = nodes;
        let r = self.rows;
        let rows = [r.row_at(n0), r.row_at(n1), r.row_at(n2), r.row_at(n3)];
        let codes = [rows[0].codes, rows[1].codes, rows[2].codes, rows[3].codes];
        let [d0, d1, d2, d3] = self.kernels.dot_i8_127_x4(a, codes);
        [
            self.distance_of(d0, head, rows[0]),
            self.distance_of(d1, head, rows[1]),
            self.distance_of(d2, head, rows[2]),
            self.distance_of(d3, head, rows[3]),
        ]
    }
}

impl Space for Sq8Space<'_> {
    type Query = Sq8Query;

    #[inline(always)]
    fn distance(&self, q: &Sq8Query, n: u32) -> f32 {
        let row = self.rows.row_at(n);
        let dot = self.kernels.dot_i8_127(&q.codes, row.codes);
        self.distance_of(dot, (q.scale, q.norm2), row)
    }

    #[inline(always)]
    fn distance4(&self, q: &Sq8Query, nodes: [u32; 4]) -> [f32; 4] {
        self.distances4(&q.codes, (q.scale, q.norm2), nodes)
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        let (ra, rb) = (self.rows.row_at(a), self.rows.row_at(b));
        let dot = self.kernels.dot_i8_127(ra.codes, rb.codes);
        self.distance_of(dot, (ra.scale, ra.norm2), rb)
    }

    #[inline(always)]
    fn between4(&self, a: u32, nodes: [u32; 4]) -> [f32; 4] {
        let ra = self.rows.row_at(a);
        self.distances4(ra.codes, (ra.scale, ra.norm2), nodes)
    }

    fn query_of(&self, n: u32) -> Sq8Query {
        let row = self.rows.row_at(n);
        Sq8Query {
            codes: row.codes.to_vec(),
            scale: row.scale,
            norm2: super::sq8::norm2(row.codes, row.scale),
        }
    }

    /// The row's first cache line (its header and first codes). The four-row kernel's
    /// parallel loads and the hardware's stream prefetch bring the rest: asking for every
    /// line as well was no faster (it spends a load slot per line).
    #[inline(always)]
    fn prefetch(&self, n: u32) {
        let row = self.rows.row_bytes(n);
        crate::sys::prefetch(row, 0);
    }
}
