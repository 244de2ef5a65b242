//! Distance kernels.
//!
//! The definition is the portable code below: 16 independent accumulators (lane `i` sums the
//! products of elements `i mod 16`), a fixed pairwise reduction, then the tail in order. The
//! compiler vectorises it to four 128-bit vectors per iteration (SSE2, NEON, wasm `simd128`).
//! The width matters in the component: wasmtime's deadline check runs once per loop
//! iteration, and 16 floats per check measured ~2x faster than 8.
//!
//! On x86-64 with AVX2 (detected at run time, unless [`Kernels::Portable`] is chosen) the same arithmetic runs in two 256-bit
//! registers: same lanes, a separate multiply and add (no FMA), same reduction. The results
//! are bit-identical to the portable kernel, so a native build and the component compute the
//! same distances, build the same graph and write the same files. FMA would change the last
//! bits; that identity is worth more than FMA's few percent.

mod batch;

/// Floats per loop iteration.
const LANES: usize = 16;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Sums `[f32; 16]` held as two 256-bit halves in the portable kernel's order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce(lo: __m256, hi: __m256) -> f32 {
        let half = _mm256_add_ps(lo, hi); // acc[i] + acc[i + 8]
        let quarter = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1)); // h[i] + h[i + 4]
        let pairs = _mm_add_ps(quarter, _mm_movehl_ps(quarter, quarter)); // (q0 + q2), (q1 + q3)
        _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
    }

    #[target_feature(enable = "avx2")]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let body = n / super::LANES * super::LANES;
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i < body {
            // SAFETY: i + 16 <= body <= len of both slices.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb)));
                hi = _mm256_add_ps(
                    hi,
                    _mm256_mul_ps(_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8))),
                );
            }
            i += super::LANES;
        }
        let mut sum = reduce(lo, hi);
        for j in body..n {
            sum += a[j] * b[j];
        }
        sum
    }

    #[target_feature(enable = "avx2")]
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let body = n / super::LANES * super::LANES;
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i < body {
            // SAFETY: i + 16 <= body <= len of both slices.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb));
                let d1 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8)));
                lo = _mm256_add_ps(lo, _mm256_mul_ps(d0, d0));
                hi = _mm256_add_ps(hi, _mm256_mul_ps(d1, d1));
            }
            i += super::LANES;
        }
        let mut sum = reduce(lo, hi);
        for j in body..n {
            let d = a[j] - b[j];
            sum += d * d;
        }
        sum
    }
}

/// Inner product of i8 vectors (the SQ8 traversal copy): exact integer arithmetic, so every
/// target computes the same value. The body is plain code; LLVM vectorises it (`pmaddwd` on
/// AVX2, `i32x4.dot_i16x8_s` on wasm `simd128`).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    Kernels::Best.dot_i8(a, b)
}

/// 16 components per iteration: `v128.load8x8_s` sign-extends 8 i8 to i16, and
/// `i32x4.dot_i16x8_s` sums pairs of products into i32 (exact, like `pmaddwd`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot_i8_simd128(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let body = n / 16 * 16;
    // 16 components at `i`, added to the two sums.
    // SAFETY: callers pass i + 16 <= body <= the length of both slices; the loads read 8
    // bytes each and take no alignment.
    let step = |i: usize, (acc0, acc1): (v128, v128)| unsafe {
        let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
        (
            i32x4_add(
                acc0,
                i32x4_dot_i16x8(i16x8_load_extend_i8x8(pa), i16x8_load_extend_i8x8(pb)),
            ),
            i32x4_add(
                acc1,
                i32x4_dot_i16x8(
                    i16x8_load_extend_i8x8(pa.add(8)),
                    i16x8_load_extend_i8x8(pb.add(8)),
                ),
            ),
        )
    };
    // Turns of 128 components, each step's sums stored (volatile), as the four-row kernel
    // does (`batch.rs` says why).
    let turns = n / 128 * 128;
    let mut sink = [i32x4_splat(0); 2];
    let mut stored_step = |i: usize, acc: (v128, v128)| {
        let acc = step(i, acc);
        batch::keep(&mut sink, [acc.0, acc.1]);
        acc
    };
    let mut acc = (i32x4_splat(0), i32x4_splat(0));
    let mut i = 0;
    while i < turns {
        acc = batch::turn(i, acc, &mut stored_step);
        i += 128;
    }
    while i < body {
        acc = step(i, acc);
        i += 16;
    }
    let (acc0, acc1) = acc;
    let acc = i32x4_add(acc0, acc1);
    let mut sum = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    for j in body..n {
        sum += a[j] as i32 * b[j] as i32;
    }
    sum
}

/// The portable `dot` (`l2`: `l2_squared`) in wasm SIMD: the 16 accumulators as four
/// `f32x4`, multiplied then added (no fused multiply-add) and reduced in the portable order,
/// so bit-identical to it.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn f32_simd128(a: &[f32], b: &[f32], l2: bool) -> f32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let body = n / LANES * LANES;
    let mut acc = [f32x4_splat(0.0); 4];
    // The 16 products at `i`, added to the accumulators.
    let step = |i: usize, acc: &mut [v128; 4]| {
        for (j, v) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16 <= body <= the length of both slices; loads take no alignment.
            let (x, y) = unsafe {
                (
                    v128_load(a.as_ptr().add(i + 4 * j).cast()),
                    v128_load(b.as_ptr().add(i + 4 * j).cast()),
                )
            };
            let p = if l2 {
                let d = f32x4_sub(x, y);
                f32x4_mul(d, d)
            } else {
                f32x4_mul(x, y)
            };
            *v = f32x4_add(*v, p);
        }
    };
    // As in the four-row SQ8 kernel (`batch.rs`): turns of four steps, each ending in
    // volatile stores of the sums, so the deadline check's spill happens once per turn and
    // each step is computed before the next one's loads.
    let turns = n / (4 * LANES) * (4 * LANES);
    let mut sink = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i < turns {
        for s in [0, LANES, 2 * LANES, 3 * LANES] {
            step(i + s, &mut acc);
            batch::keep(&mut sink, acc);
        }
        i += 4 * LANES;
    }
    while i < body {
        step(i, &mut acc);
        i += LANES;
    }
    // reduce(): half = acc[i] + acc[i + 8], quarter = half[i] + half[i + 4].
    let q = f32x4_add(f32x4_add(acc[0], acc[2]), f32x4_add(acc[1], acc[3]));
    let (q0, q1) = (f32x4_extract_lane::<0>(q), f32x4_extract_lane::<1>(q));
    let (q2, q3) = (f32x4_extract_lane::<2>(q), f32x4_extract_lane::<3>(q));
    let mut sum = (q0 + q2) + (q1 + q3);
    for j in body..n {
        sum += if l2 {
            let d = a[j] - b[j];
            d * d
        } else {
            a[j] * b[j]
        };
    }
    sum
}

/// 32 components per iteration: sign-extend to i16, `pmaddwd` (pairs of products summed
/// into i32: |sum| <= 2 * 127^2, exact), accumulate in two registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let body = n / 32 * 32;
    let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < body {
        // SAFETY: i + 32 <= body <= the length of both slices; loads are unaligned.
        unsafe {
            let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
            let a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.cast()));
            let b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.cast()));
            let a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(16).cast()));
            let b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(16).cast()));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
        }
        i += 32;
    }
    let mut sum = hsum_epi32(_mm256_add_epi32(acc0, acc1));
    for j in body..n {
        sum += a[j] as i32 * b[j] as i32;
    }
    sum
}

/// The sum of the eight i32 lanes (exact: integer addition).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum_epi32(acc: std::arch::x86_64::__m256i) -> i32 {
    use std::arch::x86_64::*;
    let half = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    );
    let quarter = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0b01_00_11_10));
    let one = _mm_add_epi32(quarter, _mm_shuffle_epi32(quarter, 0b00_00_00_01));
    _mm_cvtsi128_si32(one)
}

/// `dot_i8` for components in `-127..=127` (the SQ8 copy's range), 32 per iteration in
/// three instructions: `vpsignb` moves `a`'s sign onto `b`, `vpmaddubsw` multiplies `|a|`
/// (unsigned) by it and adds pairs into i16 (|pair| <= 2 * 127^2 < 2^15: no saturation),
/// `vpmaddwd` widens pairs into i32. Exact, so equal to `dot_i8`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_127_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let body = n / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 64 <= body {
        // SAFETY: i + 64 <= body <= the length of both slices; loads are unaligned.
        unsafe {
            let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
            let a0 = _mm256_loadu_si256(pa.cast());
            let b0 = _mm256_loadu_si256(pb.cast());
            let a1 = _mm256_loadu_si256(pa.add(32).cast());
            let b1 = _mm256_loadu_si256(pb.add(32).cast());
            let p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(a0, a0), _mm256_sign_epi8(b0, a0));
            let p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(a1, a1), _mm256_sign_epi8(b1, a1));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
        }
        i += 64;
    }
    if i < body {
        // SAFETY: i + 32 <= body.
        unsafe {
            let a0 = _mm256_loadu_si256(a.as_ptr().add(i).cast());
            let b0 = _mm256_loadu_si256(b.as_ptr().add(i).cast());
            let p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(a0, a0), _mm256_sign_epi8(b0, a0));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
        }
    }
    let mut sum = hsum_epi32(_mm256_add_epi32(acc0, acc1));
    for j in body..n {
        sum += a[j] as i32 * b[j] as i32;
    }
    sum
}

#[inline(always)]
fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] as i16 as i32 * y[i] as i16 as i32;
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += *x as i32 * *y as i32;
    }
    sum
}

/// Which kernels compute distances: a choice of [`crate::Options`], so a test or a benchmark
/// can compare the SIMD kernels with the portable definition in one process. Both give
/// bit-identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The widest the CPU runs (AVX2 when present, detected at run time).
    #[default]
    Best,
    /// The portable definition only.
    Portable,
}

impl Kernels {
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn avx2(self) -> bool {
        self == Kernels::Best && crate::sys::has_avx2()
    }

    /// Inner product.
    #[inline]
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { avx2::dot(a, b) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if self == Kernels::Best {
            return f32_simd128(a, b, false);
        }
        dot_portable(a, b)
    }

    /// Squared euclidean distance.
    #[inline]
    pub fn l2_squared(self, a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { avx2::l2_squared(a, b) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if self == Kernels::Best {
            return f32_simd128(a, b, true);
        }
        l2_squared_portable(a, b)
    }

    /// Inner product of i8 vectors (see [`dot_i8`]).
    #[inline]
    pub fn dot_i8(self, a: &[i8], b: &[i8]) -> i32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { dot_i8_avx2(a, b) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return dot_i8_simd128(a, b);
        #[allow(unreachable_code)]
        dot_i8_portable(a, b)
    }

    /// [`Kernels::dot_i8`] for components in `-127..=127` (what SQ8 quantisation yields),
    /// with a faster AVX2 kernel; the same value.
    #[inline]
    pub fn dot_i8_127(self, a: &[i8], b: &[i8]) -> i32 {
        debug_assert!(!a.contains(&i8::MIN) && !b.contains(&i8::MIN));
        #[cfg(target_arch = "x86_64")]
        if self.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { dot_i8_127_avx2(a, b) };
        }
        self.dot_i8(a, b)
    }

    /// [`Kernels::dot_i8_127`] of `q` with each of four rows, computed together.
    #[inline]
    pub fn dot_i8_127_x4(self, q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
        debug_assert!(!q.contains(&i8::MIN) && rows.iter().all(|r| !r.contains(&i8::MIN)));
        #[cfg(target_arch = "x86_64")]
        if self.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { batch::dot_i8_127_x4_avx2(q, rows) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return batch::dot_i8_x4_simd128(q, rows);
        #[allow(unreachable_code)]
        rows.map(|r| self.dot_i8(q, r))
    }
}

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    Kernels::Best.dot(a, b)
}

/// Squared euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    Kernels::Best.l2_squared(a, b)
}

/// Inner product: the portable definition.
#[inline]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = reduce(&acc);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Squared euclidean distance: the portable definition.
#[inline]
pub fn l2_squared_portable(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum = reduce(&acc);
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Pairwise sum of the accumulators (a fixed order: results are the same on every target).
#[inline]
fn reduce(acc: &[f32; LANES]) -> f32 {
    let mut half = [0f32; LANES / 2];
    for i in 0..LANES / 2 {
        half[i] = acc[i] + acc[i + LANES / 2];
    }
    let quarter: [f32; 4] = std::array::from_fn(|i| half[i] + half[i + 4]);
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// Number of differing bits.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Jaccard similarity of two bit sets; 1.0 for two empty sets.
#[inline]
pub fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    let (mut inter, mut union) = (0u32, 0u32);
    for (x, y) in a.iter().zip(b) {
        inter += (x & y).count_ones();
        union += (x | y).count_ones();
    }
    if union == 0 {
        1.0
    } else {
        inter as f32 / union as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_match_the_naive_definitions_on_odd_dimensions() {
        let mut rng = crate::region::crash::Rng::new(3);
        for dim in [1usize, 3, 7, 8, 9, 15, 16, 17, 33, 384, 1023] {
            let a: Vec<f32> = (0..dim).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
            let b: Vec<f32> = (0..dim).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
            let tol = 1e-4 * dim as f64;
            assert!(
                (dot(&a, &b) as f64 - naive_dot(&a, &b)).abs() < tol,
                "dot dim {dim}"
            );
            let l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            assert!((l2_squared(&a, &b) as f64 - l2).abs() < tol, "l2 dim {dim}");
        }
    }

    /// The dispatched kernels (AVX2 where the CPU has it) are bit-identical to the portable
    /// definition, on every length from 0 to 70 and a few large ones.
    #[test]
    fn simd_kernels_are_bit_identical_to_the_portable_definition() {
        let mut rng = crate::region::crash::Rng::new(9);
        for dim in (0..=70).chain([127, 128, 129, 384, 385, 1536]) {
            for _ in 0..5 {
                let a: Vec<f32> = (0..dim).map(|_| (rng.unit_f32() - 0.5) * 100.0).collect();
                let b: Vec<f32> = (0..dim).map(|_| (rng.unit_f32() - 0.5) * 100.0).collect();
                assert_eq!(
                    dot(&a, &b).to_bits(),
                    dot_portable(&a, &b).to_bits(),
                    "dot dim {dim}"
                );
                assert_eq!(
                    l2_squared(&a, &b).to_bits(),
                    l2_squared_portable(&a, &b).to_bits(),
                    "l2 dim {dim}"
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        eprintln!("avx2 kernels in use: {}", Kernels::Best.avx2());
    }

    #[test]
    fn the_four_row_kernel_equals_the_one_row_kernel_per_row() {
        let mut rng = crate::region::crash::Rng::new(11);
        let mut code = || (rng.below(255) as i32 - 127) as i8;
        for dim in (0..=100).chain([384, 1025]) {
            let q: Vec<i8> = (0..dim).map(|_| code()).collect();
            let rows: Vec<Vec<i8>> = (0..4).map(|_| (0..dim).map(|_| code()).collect()).collect();
            let rows = [&rows[0][..], &rows[1], &rows[2], &rows[3]];
            let want: [i32; 4] =
                rows.map(|r| q.iter().zip(r).map(|(x, y)| *x as i32 * *y as i32).sum());
            for k in [Kernels::Best, Kernels::Portable] {
                assert_eq!(k.dot_i8_127_x4(&q, rows), want, "{k:?} dim {dim}");
            }
        }
        let (q, r) = (vec![-127i8; 1000], vec![127i8; 1000]);
        let rows = [&r[..], &q[..], &r[..], &q[..]];
        assert_eq!(
            Kernels::Best.dot_i8_127_x4(&q, rows),
            [-16_129_000, 16_129_000, -16_129_000, 16_129_000]
        );
    }

    #[test]
    fn the_i8_kernel_is_the_exact_integer_inner_product() {
        for (x, y) in [(-127i8, -127i8), (127, -127), (127, 127)] {
            let (a, b) = (vec![x; 1000], vec![y; 1000]);
            let want = 1000 * x as i32 * y as i32;
            assert_eq!(Kernels::Best.dot_i8_127(&a, &b), want);
            assert_eq!(dot_i8(&a, &b), want);
        }
        let mut rng = crate::region::crash::Rng::new(5);
        // Every tail length of the 32- and 64-byte steps, and common sizes.
        for dim in (0..=200).chain([384, 1025]) {
            let a: Vec<i8> = (0..dim)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let b: Vec<i8> = (0..dim)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let want: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            assert_eq!(dot_i8(&a, &b), want, "dim {dim}");
            assert_eq!(dot_i8_portable(&a, &b), want, "dim {dim}");
            if !a.contains(&i8::MIN) && !b.contains(&i8::MIN) {
                assert_eq!(Kernels::Best.dot_i8_127(&a, &b), want, "dim {dim}");
            }
        }
    }

    #[test]
    fn bit_kernels_count_as_sets() {
        let a = [0b1011u64, 0];
        let b = [0b0110u64, 1 << 63];
        assert_eq!(hamming(&a, &b), 4);
        assert!((jaccard(&a, &b) - 1.0 / 5.0).abs() < 1e-6);
        assert_eq!(jaccard(&[0, 0], &[0, 0]), 1.0);
    }
}
