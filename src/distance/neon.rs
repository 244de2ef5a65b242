//! NEON kernels (aarch64, where NEON is part of the base instruction set): the portable
//! definitions' arithmetic in 128-bit registers, bit-identical to them. LLVM vectorises the
//! portable `f32` loop to 64-bit halves there, and the `i8` one with a widening step per
//! product; these use whole registers and NEON's widening multiply-accumulates.

use super::LANES;
use std::arch::aarch64::*;

/// The portable `dot` (`l2`: `l2_squared`): the 16 accumulators as four `float32x4_t`, a
/// multiply then an add (no fused multiply-add), reduced in the portable order.
#[inline]
pub(super) fn f32(a: &[f32], b: &[f32], l2: bool) -> f32 {
    let n = a.len().min(b.len());
    let body = n / LANES * LANES;
    // SAFETY: NEON is always present on aarch64; every load reads 4 floats at
    // `i + 4 * j + 4 <= i + 16 <= body`, within both slices.
    let q = unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i < body {
            for (j, v) in acc.iter_mut().enumerate() {
                let x = vld1q_f32(a.as_ptr().add(i + 4 * j));
                let y = vld1q_f32(b.as_ptr().add(i + 4 * j));
                let p = match l2 {
                    true => {
                        let d = vsubq_f32(x, y);
                        vmulq_f32(d, d)
                    }
                    false => vmulq_f32(x, y),
                };
                *v = vaddq_f32(*v, p);
            }
            i += LANES;
        }
        // reduce(): half = acc[i] + acc[i + 8], quarter = half[i] + half[i + 4].
        let q = vaddq_f32(vaddq_f32(acc[0], acc[2]), vaddq_f32(acc[1], acc[3]));
        [
            vgetq_lane_f32::<0>(q),
            vgetq_lane_f32::<1>(q),
            vgetq_lane_f32::<2>(q),
            vgetq_lane_f32::<3>(q),
        ]
    };
    let mut sum = (q[0] + q[2]) + (q[1] + q[3]);
    for j in body..n {
        sum += match l2 {
            true => (a[j] - b[j]) * (a[j] - b[j]),
            false => a[j] * b[j],
        };
    }
    sum
}

/// The exact inner product of any i8 vectors, 16 components per step: `smull` multiplies
/// each half into i16 (|product| <= 128^2 = 2^14, exact) and `sadalp` adds neighbouring
/// pairs into i32 accumulators.
#[inline]
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n / 16 * 16;
    // SAFETY: NEON is always present on aarch64; loads read 16 bytes at i + 16 <= body.
    let mut sum = unsafe {
        let (mut lo, mut hi) = (vdupq_n_s32(0), vdupq_n_s32(0));
        let mut i = 0;
        while i < body {
            let x = vld1q_s8(a.as_ptr().add(i));
            let y = vld1q_s8(b.as_ptr().add(i));
            lo = vpadalq_s16(lo, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
            hi = vpadalq_s16(hi, vmull_high_s8(x, y));
            i += 16;
        }
        vaddvq_s32(vaddq_s32(lo, hi))
    };
    for j in body..n {
        sum += a[j] as i32 * b[j] as i32;
    }
    sum
}

/// 16 products of `x` and `y` (components in `-127..=127`) summed into i16 pairs: `smull`
/// of the low halves, then `smlal2` adds the high halves' products (|two products| <=
/// 2 * 127^2 < 2^15: exact).
#[inline(always)]
fn products_127(x: int8x16_t, y: int8x16_t) -> int16x8_t {
    // SAFETY: NEON is always present on aarch64; register operations only.
    unsafe { vmlal_high_s8(vmull_s8(vget_low_s8(x), vget_low_s8(y)), x, y) }
}

/// [`dot_i8`] for components in `-127..=127` (the SQ8 copy's range): one multiply-
/// accumulate fewer per 16 components.
#[inline]
pub(super) fn dot_i8_127(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n / 16 * 16;
    // SAFETY: NEON is always present on aarch64; loads read 16 bytes at i + 16 <= body.
    let mut sum = unsafe {
        let load = |p: &[i8], i: usize| vld1q_s8(p.as_ptr().add(i));
        let (mut even, mut odd) = (vdupq_n_s32(0), vdupq_n_s32(0));
        let mut i = 0;
        while i + 32 <= body {
            even = vpadalq_s16(even, products_127(load(a, i), load(b, i)));
            odd = vpadalq_s16(odd, products_127(load(a, i + 16), load(b, i + 16)));
            i += 32;
        }
        if i < body {
            even = vpadalq_s16(even, products_127(load(a, i), load(b, i)));
        }
        vaddvq_s32(vaddq_s32(even, odd))
    };
    for j in body..n {
        sum += a[j] as i32 * b[j] as i32;
    }
    sum
}

/// [`dot_i8_127`] of `q` with each of four rows, the query loaded once per step.
#[inline]
pub(super) fn dot_i8_127_x4(q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let body = n / 16 * 16;
    // SAFETY: NEON is always present on aarch64; loads read 16 bytes at i + 16 <= body,
    // within `q` and every row.
    let sums = unsafe {
        let mut acc = [vdupq_n_s32(0); 4];
        let mut i = 0;
        while i < body {
            let x = vld1q_s8(q.as_ptr().add(i));
            for (s, r) in acc.iter_mut().zip(rows) {
                *s = vpadalq_s16(*s, products_127(x, vld1q_s8(r.as_ptr().add(i))));
            }
            i += 16;
        }
        acc.map(|s| vaddvq_s32(s))
    };
    std::array::from_fn(|r| {
        let tail: i32 = (body..n).map(|j| q[j] as i32 * rows[r][j] as i32).sum();
        sums[r] + tail
    })
}
