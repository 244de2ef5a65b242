//! The SQ8 traversal copy: every slot's unit vector scaled by 127 and rounded to i8, in
//! memory, `dimension` i8 per slot at `slot * dimension`. Graph walks read it (a quarter of
//! the memory traffic of f32) and rerank what they found with the exact vectors. Derived:
//! rebuilt on open, never stored.

use super::codec::with_f32;

/// A unit vector's SQ8 form: each component times 127, rounded (components of a unit vector
/// are within [-1, 1], so nothing clips).
pub(crate) fn quantize_into(v: &[f32], out: &mut [i8]) {
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even) for
    // |y| < 2^22, which the clamp guarantees: two additions that vectorise on every target,
    // where `f32::round` is a libm call per component. NaN stays NaN and casts to 0.
    const ROUND: f32 = 12_582_912.0;
    for (o, x) in out.iter_mut().zip(v) {
        let y = (x * 127.0).clamp(-127.0, 127.0);
        // In range after the clamp: the plain conversion through i32 (which vectorises, where
        // a saturating one to i8 does not everywhere) gives the same code; NaN gives 0.
        *o = ((y + ROUND) - ROUND) as i32 as i8;
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

#[cfg(test)]
mod tests {
    use super::quantize;

    #[test]
    fn quantizing_rounds_to_the_nearest_code_and_clamps() {
        let step = 1.0 / 127.0;
        let v = [
            0.0,
            1.0,
            -1.0,
            2.0,
            -3.0,
            0.4 * step,
            0.6 * step,
            -0.6 * step,
            10.4 * step,
        ];
        assert_eq!(quantize(&v), vec![0, 127, -127, 127, -127, 0, 1, -1, 10]);
        // Every code is the nearest one: no component is more than half a step off.
        let w: Vec<f32> = (0..2000).map(|i| (i as f32 / 1000.0) - 1.0).collect();
        for (x, q) in w.iter().zip(quantize(&w)) {
            assert!((x * 127.0 - f32::from(q)).abs() <= 0.5 + 1e-4, "{x} -> {q}");
        }
        assert_eq!(quantize(&[f32::NAN]), vec![0]);
    }
}
