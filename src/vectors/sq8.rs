//! The SQ8 traversal copy: every slot's unit vector scaled by 127 and rounded to i8, in
//! memory, `dimension` i8 per slot, in segments of rows. Graph walks read it (a quarter of
//! the memory traffic of f32) and rerank what they found with the exact vectors. Derived:
//! rebuilt on open, never stored.

use super::codec::with_f32;
use crate::error::StorageError;
use crate::region::out_of_memory;

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

/// Bytes of one segment of rows (at most; a power of two rows).
const SEGMENT_BYTES: usize = 1 << 20;

/// The rows of the copy, in segments of a fixed number of rows: growing allocates a segment
/// and never moves the rows already there, so the copy needs its own size in memory and not
/// the two or three times that reallocating one buffer takes at its peak (which is what
/// bounds a guest whose memory is capped). Invariant: covers every slot below the high-water
/// mark; a live slot's row is the quantized form of its current bytes.
#[derive(Debug, Default)]
pub(crate) struct Sq8 {
    segments: Vec<Box<[i8]>>,
    pub(crate) dim: usize,
    /// log2 of the rows per segment.
    shift: u32,
    /// Rows in use (the slots covered).
    rows: usize,
}

impl Sq8 {
    /// Zeroed rows for `slots` slots; memory that cannot be had is an error, not an abort.
    pub(crate) fn new(dim: usize, slots: usize) -> Result<Sq8, StorageError> {
        let per = (SEGMENT_BYTES / dim.max(1)).max(1);
        let mut sq8 = Sq8 {
            segments: Vec::new(),
            dim,
            shift: per.ilog2(),
            rows: 0,
        };
        sq8.reserve(slots)?;
        sq8.rows = slots;
        Ok(sq8)
    }

    fn per_segment(&self) -> usize {
        1 << self.shift
    }

    /// Rows the copy covers.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Bytes the rows of `slots` slots take.
    pub(crate) fn bytes_for(&self, slots: usize) -> u64 {
        (slots.div_ceil(self.per_segment()) * self.per_segment() * self.dim) as u64
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        (self.segments.len() * self.per_segment() * self.dim) as u64
    }

    /// `slot`'s row. Panics past the covered rows, as indexing a slice does.
    #[inline]
    pub(crate) fn row_at(&self, slot: u32) -> &[i8] {
        let (seg, at) = (
            slot as usize >> self.shift,
            (slot as usize & (self.per_segment() - 1)) * self.dim,
        );
        &self.segments[seg][at..at + self.dim]
    }

    fn row_mut(&mut self, slot: usize) -> &mut [i8] {
        let (seg, at) = (
            slot >> self.shift,
            (slot & (self.per_segment() - 1)) * self.dim,
        );
        &mut self.segments[seg][at..at + self.dim]
    }

    pub(crate) fn row(&self, slot: u32) -> Option<&[i8]> {
        (slot as usize).lt(&self.rows).then(|| self.row_at(slot))
    }

    /// Makes room for `slots` rows, a segment at a time, or fails with [`out_of_memory`]
    /// (the segments added before the failure stay, unused: nothing else changes).
    pub(crate) fn reserve(&mut self, slots: usize) -> Result<(), StorageError> {
        let want = slots.div_ceil(self.per_segment());
        let size = self.per_segment() * self.dim;
        while self.segments.len() < want {
            let mut seg = Vec::new();
            seg.try_reserve_exact(size)
                .map_err(|_| out_of_memory(self.bytes_for(slots)))?;
            seg.resize(size, 0);
            self.segments.push(seg.into_boxed_slice());
        }
        Ok(())
    }

    /// Sets `slot`'s row from its encoded (f32) bytes, growing the copy to cover `slots`
    /// (room was reserved before the write was logged: see `Store::reserve`).
    pub(crate) fn set(&mut self, slot: u32, bytes: &[u8], slots: usize) {
        self.cover((slot as usize + 1).max(slots));
        with_f32(bytes, |v| quantize_into(v, self.row_mut(slot as usize)));
    }

    /// Quantizes `v` into `slot`'s row (a slot the copy covers).
    pub(crate) fn quantize_row(&mut self, slot: usize, v: &[f32]) {
        quantize_into(v, self.row_mut(slot));
    }

    /// Covers `rows` rows; new rows are zero.
    fn cover(&mut self, rows: usize) {
        if rows > self.rows {
            let size = self.per_segment() * self.dim;
            while self.segments.len() < rows.div_ceil(self.per_segment()) {
                self.segments.push(vec![0; size].into_boxed_slice());
            }
            self.rows = rows;
        }
    }

    /// Renumbers the rows by `map` (old slot -> new slot), keeping `slots` rows, as compaction
    /// renumbers the vector file: the same codes, nothing quantized again. `map` never moves
    /// a slot up (live slots are packed in slot order), so rows move down in one pass.
    pub(crate) fn remap(&mut self, map: &[Option<u32>], slots: u32) {
        let mut row = vec![0i8; self.dim];
        for (old, new) in map.iter().enumerate() {
            if let Some(new) = *new
                && (new as usize) < old
                && old < self.rows
            {
                row.copy_from_slice(self.row_at(old as u32));
                self.row_mut(new as usize).copy_from_slice(&row);
            }
        }
        let slots = slots as usize;
        self.segments.truncate(slots.div_ceil(self.per_segment()));
        // Rows past the end of the last segment's use are zero again, as new rows are.
        for s in slots..(self.segments.len() * self.per_segment()).min(self.rows) {
            self.row_mut(s).fill(0);
        }
        self.rows = slots;
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
