//! The SQ8 traversal copy: every slot's unit vector scaled by 127 and rounded to i8, in
//! memory, `dimension` i8 per slot at `slot * dimension`. Graph walks read it (a quarter of
//! the memory traffic of f32) and rerank what they found with the exact vectors. Derived:
//! rebuilt on open, never stored.

use super::codec::with_f32;

/// A unit vector's SQ8 form: each component times 127, rounded (components of a unit vector
/// are within [-1, 1], so nothing clips).
pub(crate) fn quantize_into(v: &[f32], out: &mut [i8]) {
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x * 127.0).round().clamp(-127.0, 127.0) as i8;
    }
}

pub(crate) fn quantize(v: &[f32]) -> Vec<i8> {
    let mut out = vec![0i8; v.len()];
    quantize_into(v, &mut out);
    out
}

/// The rows of the copy. Invariant: covers every slot below the high-water mark; a live
/// slot's row is the quantized form of its current bytes.
#[derive(Debug, Default)]
pub(crate) struct Sq8 {
    pub(crate) rows: Vec<i8>,
    pub(crate) dim: usize,
}

impl Sq8 {
    pub(crate) fn new(dim: usize, slots: usize) -> Sq8 {
        Sq8 {
            rows: vec![0; slots * dim],
            dim,
        }
    }

    pub(crate) fn row(&self, slot: u32) -> Option<&[i8]> {
        self.rows
            .get(slot as usize * self.dim..(slot as usize + 1) * self.dim)
    }

    /// Sets `slot`'s row from its encoded (f32) bytes, growing the copy to cover `slots`.
    pub(crate) fn set(&mut self, slot: u32, bytes: &[u8], slots: usize) {
        let dim = self.dim;
        let need = (slot as usize + 1).max(slots) * dim;
        if self.rows.len() < need {
            self.rows.resize(need, 0);
        }
        let row = &mut self.rows[slot as usize * dim..(slot as usize + 1) * dim];
        with_f32(bytes, |v| quantize_into(v, row));
    }
}
