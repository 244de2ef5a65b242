//! The SQ8 traversal copy: every slot's vector (a unit vector for cosine) as i8 codes scaled
//! to its own largest component, and that scale (and, for euclidean collections, the squared
//! norm of what the codes stand for), in memory, in segments of rows. Graph walks read it (a
//! quarter of the memory traffic of f32) and rerank what they found with the exact vectors.
//! Derived: saved at checkpoints (`sq8_file.rs`) and loaded by an open that finds the saved
//! copy valid, else rebuilt from the vectors.

use super::codec::with_f32;
use crate::error::StorageError;
use crate::region::{Pages, out_of_memory};

/// A vector's SQ8 form: codes in `-127..=127` and the scale that maps them back
/// (`v[i] ≈ scale * codes[i]`). The inner product of two vectors is approximated by
/// `scale_a * scale_b * dot(codes_a, codes_b)`, an exact integer product times one float;
/// their squared euclidean distance by `norm2_a + norm2_b - 2 * that`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sq8Query {
    pub(crate) codes: Vec<i8>,
    pub(crate) scale: f32,
    /// The squared norm of the vector the codes stand for ([`norm2`]).
    pub(crate) norm2: f32,
}

/// One row of the copy: a slot's codes, scale and (euclidean copies only, else 0) squared norm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row<'a> {
    pub(crate) codes: &'a [i8],
    pub(crate) scale: f32,
    pub(crate) norm2: f32,
}

/// The squared norm of `scale * codes`: exact integers, then two float multiplies, so every
/// target computes the same value.
pub(crate) fn norm2(codes: &[i8], scale: f32) -> f32 {
    (scale * scale) * crate::distance::dot_i8(codes, codes) as f32
}

/// Writes `v`'s codes into `out` and returns its scale: the largest |component| maps to 127,
/// so every vector uses the whole code range (a unit vector's components are mostly far
/// below 1: a fixed scale of 127 would leave most codes unused). A vector of zeros, or one
/// whose largest component is not a normal finite number, gets zero codes and scale 0.
pub(crate) fn quantize_into(v: &[f32], out: &mut [i8]) -> f32 {
    // The largest |x| by its bits (positive floats order as their bits): vectorises, where a
    // float max reduction does not. A NaN's bits are above infinity's.
    let top = v.iter().fold(0u32, |m, x| m.max(x.to_bits() & 0x7fff_ffff));
    let max = f32::from_bits(top);
    let (inv, scale) = match max.is_normal() {
        true => (127.0 / max, max / 127.0),
        false => (0.0, 0.0),
    };
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even) for
    // |y| < 2^22, which the clamp guarantees: two additions that vectorise on every target,
    // where `f32::round` is a libm call per component. NaN stays NaN and casts to 0.
    const ROUND: f32 = 12_582_912.0;
    for (o, x) in out.iter_mut().zip(v) {
        let y = (x * inv).clamp(-127.0, 127.0);
        // In range after the clamp: the plain conversion through i32 (which vectorises, where
        // a saturating one to i8 does not everywhere) gives the same code; NaN gives 0.
        *o = ((y + ROUND) - ROUND) as i32 as i8;
    }
    if inv.is_finite() { scale } else { 0.0 }
}

pub(crate) fn quantize(v: &[f32]) -> Sq8Query {
    let mut codes = vec![0i8; v.len()];
    let scale = quantize_into(v, &mut codes);
    let norm2 = norm2(&codes, scale);
    Sq8Query {
        codes,
        scale,
        norm2,
    }
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
    segments: Vec<Pages>,
    pub(crate) dim: usize,
    /// Rows hold the squared norm (for euclidean distances).
    pub(crate) euclidean: bool,
    /// Bytes of a row: the scale and, for euclidean copies, the squared norm (f32,
    /// little-endian), then the codes. The scale comes first so that it shares the first
    /// cache line with the codes a distance reads first: one miss per row, not two, where
    /// nothing prefetches (WebAssembly).
    stride: usize,
    /// log2 of the rows per segment.
    shift: u32,
    /// Rows in use (the slots covered).
    rows: usize,
}

/// Where the rows are, by value: a walk holds this in its (immutable) space, so the compiler
/// can keep it in registers for the whole walk, where fields read through a reference to the
/// copy are read again after every store the walk makes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    segments: &'a [Pages],
    shift: u32,
    stride: usize,
    /// Bytes before the codes: the scale, and the squared norm when `euclidean`.
    head: usize,
    rows: usize,
    pub(crate) euclidean: bool,
}

impl<'a> Rows<'a> {
    /// The segment holding `slot`'s row and the row's byte offset in it.
    #[inline(always)]
    fn locate(self, slot: usize) -> (usize, usize) {
        (
            slot >> self.shift,
            (slot & ((1 << self.shift) - 1)) * self.stride,
        )
    }

    /// `slot`'s row. Panics past the covered rows, as indexing a slice does.
    #[inline(always)]
    pub(crate) fn row_at(self, slot: u32) -> Row<'a> {
        let (seg, at) = self.locate(slot as usize);
        let row = &self.segments[seg].as_slice()[at..at + self.stride];
        let (head, codes) = row.split_at(self.head);
        // One bounds check a float, none per byte. The head always holds the floats asked
        // for (`stride` is `dim + 4`, `+ 4` more when euclidean): the `0.0` arm is never taken.
        let f32_at = |i: usize| match head.get(i..i + 4) {
            Some(&[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
            _ => 0.0,
        };
        Row {
            codes: bytemuck::cast_slice(codes),
            scale: f32_at(0),
            norm2: if self.euclidean { f32_at(4) } else { 0.0 },
        }
    }

    /// `slot`'s whole row (head and codes), for a prefetch; empty past the covered rows.
    #[inline(always)]
    pub(crate) fn row_bytes(self, slot: u32) -> &'a [u8] {
        let (seg, at) = self.locate(slot as usize);
        match self.segments.get(seg) {
            Some(s) if (slot as usize) < self.rows => &s.as_slice()[at..at + self.stride],
            _ => &[],
        }
    }
}

impl Sq8 {
    /// Zeroed rows for `slots` slots (with squared norms when `euclidean`); memory that cannot
    /// be had is an error, not an abort.
    pub(crate) fn new(dim: usize, euclidean: bool, slots: usize) -> Result<Sq8, StorageError> {
        let stride = dim + 4 + 4 * euclidean as usize;
        let per = (SEGMENT_BYTES / stride).max(1);
        let mut sq8 = Sq8 {
            segments: Vec::new(),
            dim,
            euclidean,
            stride,
            shift: per.ilog2(),
            rows: 0,
        };
        sq8.reserve(slots)?;
        sq8.rows = slots;
        Ok(sq8)
    }

    #[inline(always)]
    fn per_segment(&self) -> usize {
        1 << self.shift
    }

    /// Bytes the rows of `slots` slots take.
    pub(crate) fn bytes_for(&self, slots: usize) -> u64 {
        (slots.div_ceil(self.per_segment()) * self.per_segment() * self.stride) as u64
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        (self.segments.len() * self.per_segment() * self.stride) as u64
    }

    /// What a reader needs to find rows, by value (see [`Rows`]).
    #[inline(always)]
    pub(crate) fn rows(&self) -> Rows<'_> {
        Rows {
            segments: &self.segments,
            shift: self.shift,
            stride: self.stride,
            head: self.stride - self.dim,
            rows: self.rows,
            euclidean: self.euclidean,
        }
    }

    /// `slot`'s row. Panics past the covered rows, as indexing a slice does.
    pub(crate) fn row_at(&self, slot: u32) -> Row<'_> {
        self.rows().row_at(slot)
    }

    fn row_mut(&mut self, slot: usize) -> &mut [u8] {
        let (seg, at) = self.rows().locate(slot);
        &mut self.segments[seg].as_mut_slice()[at..at + self.stride]
    }

    /// `slot`'s row, when the copy covers it.
    pub(crate) fn row(&self, slot: u32) -> Option<Row<'_>> {
        (slot as usize).lt(&self.rows).then(|| self.row_at(slot))
    }

    /// Quantizes `v` into `slot`'s row (a slot the copy covers).
    pub(crate) fn quantize_row(&mut self, slot: usize, v: &[f32]) {
        let (dim, euclidean) = (self.dim, self.euclidean);
        let head = self.stride - dim;
        let (rest, codes) = self.row_mut(slot).split_at_mut(head);
        let codes: &mut [i8] = bytemuck::cast_slice_mut(codes);
        let scale = quantize_into(v, codes);
        let norm = if euclidean { norm2(codes, scale) } else { 0.0 };
        rest[..4].copy_from_slice(&scale.to_le_bytes());
        if euclidean {
            rest[4..8].copy_from_slice(&norm.to_le_bytes());
        }
    }

    /// Makes room for `slots` rows, a segment at a time, or fails with [`out_of_memory`]
    /// (the segments added before the failure stay, unused: nothing else changes).
    pub(crate) fn reserve(&mut self, slots: usize) -> Result<(), StorageError> {
        let want = slots.div_ceil(self.per_segment());
        let size = self.per_segment() * self.stride;
        while self.segments.len() < want {
            let seg = Pages::zeroed(size).map_err(|_| out_of_memory(self.bytes_for(slots)))?;
            self.segments.push(seg);
        }
        Ok(())
    }

    /// Sets `slot`'s row from its encoded (f32) bytes, growing the copy to cover `slots`
    /// (room is reserved before the write is logged: see `Store::reserve`; where it was not,
    /// memory that cannot be had is an error).
    pub(crate) fn set(
        &mut self,
        slot: u32,
        bytes: &[u8],
        slots: usize,
    ) -> Result<(), StorageError> {
        let rows = (slot as usize + 1).max(slots);
        if rows > self.rows {
            self.reserve(rows)?;
            self.rows = rows;
        }
        with_f32(bytes, |v| self.quantize_row(slot as usize, v));
        Ok(())
    }

    /// A renumbered copy ([`Sq8::remap`]), which compaction builds beside readers.
    pub(crate) fn remapped(&self, map: &[Option<u32>], slots: u32) -> Result<Sq8, StorageError> {
        let mut copy = Sq8 {
            segments: self
                .segments
                .iter()
                .map(Pages::try_clone)
                .collect::<Result<_, _>>()?,
            ..*self
        };
        copy.remap(map, slots);
        Ok(copy)
    }

    /// The segments, each of [`Sq8::segment_bytes`] bytes, and the rows in use (to save).
    pub(crate) fn segments(&self) -> (&[Pages], usize) {
        (&self.segments, self.rows)
    }

    /// Bytes of a segment.
    pub(crate) fn segment_bytes(&self) -> usize {
        self.per_segment() * self.stride
    }

    /// The layout as the saved file states it: stride and log2 of the rows per segment.
    pub(crate) fn layout(&self) -> (usize, u32) {
        (self.stride, self.shift)
    }

    /// A copy of `rows` rows over `segments` (a saved copy's, loaded): `None` unless they
    /// are as many and as large as a new copy of this shape lays out.
    pub(crate) fn from_segments(
        dim: usize,
        euclidean: bool,
        rows: usize,
        segments: Vec<Pages>,
    ) -> Option<Sq8> {
        let mut sq8 = Sq8::new(dim, euclidean, 0).ok()?;
        let fits = segments.len() == rows.div_ceil(sq8.per_segment())
            && segments.iter().all(|s| s.len() == sq8.segment_bytes());
        fits.then(|| {
            sq8.segments = segments;
            sq8.rows = rows;
            sq8
        })
    }

    /// Renumbers the rows by `map` (old slot -> new slot), keeping `slots` rows, as compaction
    /// renumbers the vector file: the same codes, nothing quantized again. `map` never moves
    /// a slot up (live slots are packed in slot order), so rows move down in one pass.
    pub(crate) fn remap(&mut self, map: &[Option<u32>], slots: u32) {
        let mut row = vec![0u8; self.stride];
        for (old, new) in map.iter().enumerate() {
            if let Some(new) = *new
                && (new as usize) < old
                && old < self.rows
            {
                row.copy_from_slice(self.row_mut(old));
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
    use super::{Sq8, quantize};

    #[test]
    fn quantizing_scales_to_the_largest_component_and_rounds_to_the_nearest_code() {
        let step = 1.0 / 127.0;
        let v = [
            0.0,
            1.0,
            -1.0,
            0.4 * step,
            0.6 * step,
            -0.6 * step,
            10.4 * step,
        ];
        let q = quantize(&v);
        assert_eq!(q.codes, vec![0, 127, -127, 0, 1, -1, 10]);
        assert_eq!(q.scale, 1.0 / 127.0);
        // The largest component maps to 127 whatever its size (ties round to even).
        let q = quantize(&[0.1, -0.05, 0.025]);
        assert_eq!((q.codes, q.scale), (vec![127, -64, 32], 0.1 / 127.0));
        // Every code is the nearest one: no component is more than half a step off.
        let w: Vec<f32> = (0..2000)
            .map(|i| 0.2 * ((i as f32 / 1000.0) - 1.0))
            .collect();
        let q = quantize(&w);
        for (x, c) in w.iter().zip(&q.codes) {
            assert!(
                (x / q.scale - f32::from(*c)).abs() <= 0.5 + 1e-3,
                "{x} -> {c}"
            );
        }
        // Zeros and damage (NaN, infinity) give zero codes and scale, never a panic.
        for bad in [
            [0.0, 0.0],
            [f32::NAN, 0.5],
            [f32::INFINITY, 0.5],
            [1e-40, 0.0],
        ] {
            let q = quantize(&bad);
            assert_eq!((q.codes, q.scale), (vec![0, 0], 0.0), "{bad:?}");
        }
    }

    /// A copy of `vs`, one slot each, grown a slot at a time as writes grow it.
    fn filled(vs: &[Vec<f32>], euclidean: bool) -> Sq8 {
        let mut sq8 = Sq8::new(vs[0].len(), euclidean, 0).unwrap();
        for (i, v) in vs.iter().enumerate() {
            sq8.reserve(i + 1).unwrap();
            sq8.set(i as u32, bytemuck::cast_slice(v), i + 1).unwrap();
        }
        sq8
    }

    #[test]
    fn a_euclidean_copy_keeps_norms_and_approximates_squared_distances() {
        let mut rng = crate::testing::Rng::new(4);
        // Not centred: every component near 3.
        let vs: Vec<Vec<f32>> = (0..50)
            .map(|_| rng.clustered(64).iter().map(|x| x + 3.0).collect())
            .collect();
        let sq8 = filled(&vs, true);
        for (a, b) in [(0, 1), (7, 30), (12, 12)] {
            let (ra, rb) = (sq8.row(a).unwrap(), sq8.row(b).unwrap());
            assert_eq!(
                ra.norm2,
                super::norm2(ra.codes, ra.scale),
                "the stored norm"
            );
            let product =
                crate::distance::dot_i8(ra.codes, rb.codes) as f32 * (ra.scale * rb.scale);
            let approx = (ra.norm2 + rb.norm2) - 2.0 * product;
            let exact: f32 = vs[a as usize]
                .iter()
                .zip(&vs[b as usize])
                .map(|(x, y)| (x - y) * (x - y))
                .sum();
            let norm: f32 = vs[a as usize].iter().map(|x| x * x).sum();
            assert!(
                (approx - exact).abs() < 0.01 * norm,
                "{a},{b}: {approx} vs {exact}"
            );
            if a == b {
                assert_eq!(approx, 0.0, "a vector is at distance 0 from itself");
            }
        }
        // A cosine copy's rows carry no norm.
        let plain = filled(&vs[..1], false);
        assert_eq!(plain.row(0).unwrap().norm2, 0.0);
    }

    #[test]
    fn the_copy_approximates_inner_products_and_renumbers_like_the_file() {
        let mut rng = crate::testing::Rng::new(9);
        let unit = |v: Vec<f32>| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let vs: Vec<Vec<f32>> = (0..300).map(|_| unit(rng.clustered(96))).collect();
        let mut sq8 = filled(&vs, false);
        for (a, b) in [(0, 1), (5, 200), (17, 299)] {
            let (ra, rb) = (sq8.row(a).unwrap(), sq8.row(b).unwrap());
            let approx = ra.scale * rb.scale * crate::distance::dot_i8(ra.codes, rb.codes) as f32;
            let exact: f32 = vs[a as usize]
                .iter()
                .zip(&vs[b as usize])
                .map(|(x, y)| x * y)
                .sum();
            assert!(
                (approx - exact).abs() < 0.01,
                "{a},{b}: {approx} vs {exact}"
            );
        }
        // Compaction's renumbering keeps every row's codes and scale.
        let map: Vec<Option<u32>> = (0..300u32)
            .map(|s| (s % 3 != 0).then(|| s - s / 3 - 1))
            .collect();
        let before: Vec<(Vec<i8>, f32)> = (0..300)
            .map(|s| sq8.row(s).map(|r| (r.codes.to_vec(), r.scale)).unwrap())
            .collect();
        sq8.remap(&map, 200);
        assert_eq!(sq8.rows, 200);
        for (old, new) in map.iter().enumerate() {
            if let Some(new) = new {
                let r = sq8.row(*new).unwrap();
                assert_eq!(
                    (r.codes.to_vec(), r.scale),
                    before[old],
                    "slot {old} -> {new}"
                );
            }
        }
        assert!(sq8.row(200).is_none());
    }
}
