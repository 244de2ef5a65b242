//! AVX2 kernels (x86-64, detected at run time): the portable definitions' arithmetic in
//! 256-bit registers, bit-identical to them.

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

/// The portable `dot` (`L2`: `l2_squared`): its 16 accumulators as two 256-bit registers, a
/// multiply then an add (no fused multiply-add), reduced in the portable order.
#[target_feature(enable = "avx2")]
pub(super) fn f32<const L2: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let body = n / super::LANES * super::LANES;
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i < body {
        // SAFETY: i + 16 <= body <= len of both slices.
        unsafe {
            let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
            let (x0, y0) = (_mm256_loadu_ps(pa), _mm256_loadu_ps(pb));
            let (x1, y1) = (_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8)));
            let (p0, p1) = match L2 {
                true => {
                    let (d0, d1) = (_mm256_sub_ps(x0, y0), _mm256_sub_ps(x1, y1));
                    (_mm256_mul_ps(d0, d0), _mm256_mul_ps(d1, d1))
                }
                false => (_mm256_mul_ps(x0, y0), _mm256_mul_ps(x1, y1)),
            };
            lo = _mm256_add_ps(lo, p0);
            hi = _mm256_add_ps(hi, p1);
        }
        i += super::LANES;
    }
    let mut sum = reduce(lo, hi);
    for j in body..n {
        sum += match L2 {
            true => (a[j] - b[j]) * (a[j] - b[j]),
            false => a[j] * b[j],
        };
    }
    sum
}

/// 32 components per iteration: sign-extend to i16, `pmaddwd` (pairs of products summed
/// into i32: |sum| <= 2 * 128^2, exact), accumulate in two registers.
#[target_feature(enable = "avx2")]
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
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
#[target_feature(enable = "avx2")]
pub(super) fn hsum_epi32(acc: __m256i) -> i32 {
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
#[target_feature(enable = "avx2")]
pub(super) fn dot_i8_127(a: &[i8], b: &[i8]) -> i32 {
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
