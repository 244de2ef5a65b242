//! WebAssembly `simd128` kernels: the portable definitions' arithmetic in 128-bit vectors,
//! bit-identical to them, shaped for the host's compiler (see `batch.rs`).

use super::{LANES, batch};
use core::arch::wasm32::*;

/// 16 components per iteration: `v128.load8x8_s` sign-extends 8 i8 to i16, and
/// `i32x4.dot_i16x8_s` sums pairs of products into i32 (exact, like `pmaddwd`).
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n / 16 * 16;
    // 16 components at `o` past `[pa, pb]`, added to the two sums.
    // SAFETY: callers pass 16 components at `o` past each address within its slice
    // (`i + o + 16 <= body`); the loads read 8 bytes each and take no alignment.
    let step = |[pa, pb]: [*const i8; 2], o: usize, (acc0, acc1): (v128, v128)| unsafe {
        let (pa, pb) = (pa.add(o), pb.add(o));
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
    let starts = [a.as_ptr(), b.as_ptr()];
    let mut sink = [i32x4_splat(0); 2];
    let mut stored_step = |at: [*const i8; 2], o: usize, acc: (v128, v128)| {
        let acc = step(at, o, acc);
        batch::keep(&mut sink, [acc.0, acc.1]);
        acc
    };
    let mut acc = (i32x4_splat(0), i32x4_splat(0));
    let mut i = 0;
    while i < turns {
        acc = batch::turn(batch::bases(starts, i), acc, &mut stored_step);
        i += 128;
    }
    while i < body {
        // SAFETY: i < body <= n, within both slices.
        acc = step(starts.map(|p| unsafe { p.add(i) }), 0, acc);
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
#[inline(always)]
pub(super) fn f32(a: &[f32], b: &[f32], l2: bool) -> f32 {
    let n = a.len().min(b.len());
    let body = n / LANES * LANES;
    let mut acc = [f32x4_splat(0.0); 4];
    // The 16 products at `o` past `[pa, pb]`, added to the accumulators.
    let step = |[pa, pb]: [*const f32; 2], o: usize, acc: &mut [v128; 4]| {
        for (j, v) in acc.iter_mut().enumerate() {
            // SAFETY: callers pass 16 components at `o` past each address within its slice
            // (`i + o + 16 <= body`); loads take no alignment.
            let (x, y) = unsafe {
                (
                    v128_load(pa.add(o + 4 * j).cast()),
                    v128_load(pb.add(o + 4 * j).cast()),
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
    // each step is computed before the next one's loads; the loads within a turn are its
    // addresses plus constants (`batch::bases`). The steps are written out: a loop would be
    // one more back-edge for the host's deadline check.
    let turns = n / (4 * LANES) * (4 * LANES);
    let starts = [a.as_ptr(), b.as_ptr()];
    let mut sink = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i < turns {
        let at = batch::bases(starts, i);
        step(at, 0, &mut acc);
        batch::keep(&mut sink, acc);
        step(at, LANES, &mut acc);
        batch::keep(&mut sink, acc);
        step(at, 2 * LANES, &mut acc);
        batch::keep(&mut sink, acc);
        step(at, 3 * LANES, &mut acc);
        batch::keep(&mut sink, acc);
        i += 4 * LANES;
    }
    while i < body {
        // SAFETY: i < body <= n, within both slices.
        step(starts.map(|p| unsafe { p.add(i) }), 0, &mut acc);
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
