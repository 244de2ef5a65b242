//! One query against four rows at once (the SQ8 copy's codes): the four rows' loads are in
//! flight together and the query is loaded once per step. Integer arithmetic is exact, so
//! each result equals [`super::dot_i8`] of that row.

/// `dot_i8(q, row)` for each of the four rows (components in `-127..=127`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) fn dot_i8_127_x4_avx2(q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    use std::arch::x86_64::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let body = n / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i < body {
        // SAFETY: i + 32 <= body <= the length of every slice; loads are unaligned.
        unsafe {
            let qv = _mm256_loadu_si256(q.as_ptr().add(i).cast());
            let qa = _mm256_sign_epi8(qv, qv);
            for (a, r) in acc.iter_mut().zip(rows) {
                let rv = _mm256_loadu_si256(r.as_ptr().add(i).cast());
                let p = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(rv, qv));
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(p, ones));
            }
        }
        i += 32;
    }
    // The four sums at once: pairwise adds within each 128-bit half give [a, b, c, d] per
    // half, then the halves are added. In this function's body, not in a closure: a closure
    // does not inherit the AVX2 feature, so what it calls here could not be inlined.
    let t0 = _mm256_hadd_epi32(acc[0], acc[1]);
    let t1 = _mm256_hadd_epi32(acc[2], acc[3]);
    let t = _mm256_hadd_epi32(t0, t1);
    let half = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    let mut sums = [0i32; 4];
    // SAFETY: a 16-byte unaligned store into four i32.
    unsafe { _mm_storeu_si128(sums.as_mut_ptr().cast(), half) };
    for (sum, r) in sums.iter_mut().zip(rows) {
        for j in body..n {
            *sum += q[j] as i32 * r[j] as i32;
        }
    }
    sums
}

/// `dot_i8(q, row)` for each of the four rows. The accumulators are four named values: held
/// in an array, they lived in linear memory (a load and a store per row per step).
///
/// The code is shaped for the host's compiler (Cranelift) as much as for the CPU:
/// - A loop turn takes 128 bytes. A host that can interrupt a call (wasmtime's epoch
///   deadline) checks at every back-edge, and the check's out-of-line call loses every vector
///   register, so the accumulators go to the stack and back once per turn: fewer turns, less
///   of that.
/// - Within a turn each 16-byte step ends in volatile stores of the four sums. Cranelift
///   places a block's loads in program order but its arithmetic where the value is first
///   needed by something with an effect; without a store per step, all of a turn's 80 loads
///   would be held at once (and spilled) until the sums were needed at the turn's end.
/// - Every load is a turn's row address plus a constant ([`turn`], [`bases`]), so the
///   constant is the load's `offset` immediate and the host adds nothing before a load.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) fn dot_i8_x4_simd128(q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    use core::arch::wasm32::*;
    type Sums = (v128, v128, v128, v128);
    const TURN: usize = 128;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let turns = n / TURN * TURN;
    let body = n / 16 * 16;
    let [r0, r1, r2, r3] = rows.map(|r| r.as_ptr());
    // 16 bytes of the query and of each row at `o` past `at`, added to the sums.
    // SAFETY: callers pass `at` and `o` with 16 bytes at `o` past each address within its
    // slice (`i + o + 16 <= body <= n`); the loads read 8 bytes each and take no alignment.
    let step = |at: [*const i8; 5], o: usize, (a0, a1, a2, a3): Sums| unsafe {
        let [qp, p0, p1, p2, p3] = at;
        let qp = qp.add(o);
        let q0 = i16x8_load_extend_i8x8(qp);
        let q1 = i16x8_load_extend_i8x8(qp.add(8));
        let dot = |p: *const i8| {
            let p = p.add(o);
            i32x4_add(
                i32x4_dot_i16x8(q0, i16x8_load_extend_i8x8(p)),
                i32x4_dot_i16x8(q1, i16x8_load_extend_i8x8(p.add(8))),
            )
        };
        (
            i32x4_add(a0, dot(p0)),
            i32x4_add(a1, dot(p1)),
            i32x4_add(a2, dot(p2)),
            i32x4_add(a3, dot(p3)),
        )
    };
    let starts = [q.as_ptr(), r0, r1, r2, r3];
    let mut sink = [i32x4_splat(0); 4];
    let mut stored_step = |at: [*const i8; 5], o: usize, acc: Sums| {
        let acc = step(at, o, acc);
        keep(&mut sink, [acc.0, acc.1, acc.2, acc.3]);
        acc
    };
    let zero = i32x4_splat(0);
    let mut acc = (zero, zero, zero, zero);
    let mut i = 0;
    while i < turns {
        acc = turn(bases(starts, i), acc, &mut stored_step);
        i += TURN;
    }
    while i < body {
        // SAFETY: i < body <= n, within every slice.
        acc = step(starts.map(|p| unsafe { p.add(i) }), 0, acc);
        i += 16;
    }
    let acc = [acc.0, acc.1, acc.2, acc.3];
    std::array::from_fn(|r| {
        let a = acc[r];
        let mut sum = i32x4_extract_lane::<0>(a)
            + i32x4_extract_lane::<1>(a)
            + i32x4_extract_lane::<2>(a)
            + i32x4_extract_lane::<3>(a);
        for j in body..n {
            sum += q[j] as i32 * rows[r][j] as i32;
        }
        sum
    })
}

/// `step` at the eight 16-byte offsets of the 128-byte turn whose rows start at `at`, in
/// order. Written out: a loop here would be one more back-edge for the host's deadline check.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(super) fn turn<P: Copy, A>(at: P, acc: A, step: &mut impl FnMut(P, usize, A) -> A) -> A {
    let acc = step(at, 0, acc);
    let acc = step(at, 16, acc);
    let acc = step(at, 32, acc);
    let acc = step(at, 48, acc);
    let acc = step(at, 64, acc);
    let acc = step(at, 80, acc);
    let acc = step(at, 96, acc);
    step(at, 112, acc)
}

/// The addresses `i` elements past each of `starts`, opaque to the optimizer.
///
/// WebAssembly can add a constant to a load's address for free (the load's `offset`), but
/// only where LLVM knows the addition does not wrap. Its loop strength reduction rewrites
/// addresses that follow the loop counter without that knowledge, and every load then had
/// an addition of its own (in the host's code, an `lea` per load). Behind `black_box` the
/// turn's addresses are plain values: each is computed once per turn, and the loads within
/// it are that address plus a constant.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(super) fn bases<T, const N: usize>(starts: [*const T; N], i: usize) -> [*const T; N] {
    // `wrapping_add`: only an address; the caller's loads are what must be within bounds.
    core::hint::black_box(starts.map(|p| p.wrapping_add(i)))
}

/// Stores `sums` into `sink` with volatile writes, which the compiler must keep: the host's
/// compiler then computes the sums at this point (see [`dot_i8_x4_simd128`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(super) fn keep<const N: usize>(
    sink: &mut [core::arch::wasm32::v128; N],
    sums: [core::arch::wasm32::v128; N],
) {
    for (slot, v) in sink.iter_mut().zip(sums) {
        // SAFETY: a write to a local the caller owns.
        unsafe { std::ptr::write_volatile(slot, v) };
    }
}
