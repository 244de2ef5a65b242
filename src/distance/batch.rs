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
    std::array::from_fn(|r| {
        let mut sum = super::hsum_epi32(acc[r]);
        for j in body..n {
            sum += q[j] as i32 * rows[r][j] as i32;
        }
        sum
    })
}

/// `dot_i8(q, row)` for each of the four rows. The accumulators are four named values: held
/// in an array, they lived in linear memory (a load and a store per row per step).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) fn dot_i8_x4_simd128(q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    use core::arch::wasm32::*;
    let n = rows.iter().fold(q.len(), |n, r| n.min(r.len()));
    let body = n / 16 * 16;
    let [r0, r1, r2, r3] = rows.map(|r| r.as_ptr());
    let (mut a0, mut a1, mut a2, mut a3) = (
        i32x4_splat(0),
        i32x4_splat(0),
        i32x4_splat(0),
        i32x4_splat(0),
    );
    let mut i = 0;
    while i < body {
        // SAFETY: i + 16 <= body <= the length of every slice; the loads read 8 bytes each
        // and take no alignment.
        unsafe {
            let q0 = i16x8_load_extend_i8x8(q.as_ptr().add(i));
            let q1 = i16x8_load_extend_i8x8(q.as_ptr().add(i + 8));
            let dot = |p: *const i8| {
                i32x4_add(
                    i32x4_dot_i16x8(q0, i16x8_load_extend_i8x8(p.add(i))),
                    i32x4_dot_i16x8(q1, i16x8_load_extend_i8x8(p.add(i + 8))),
                )
            };
            a0 = i32x4_add(a0, dot(r0));
            a1 = i32x4_add(a1, dot(r1));
            a2 = i32x4_add(a2, dot(r2));
            a3 = i32x4_add(a3, dot(r3));
        }
        i += 16;
    }
    let acc = [a0, a1, a2, a3];
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
