//! Distance kernels.
//!
//! The definition is the portable code below: 16 independent accumulators (lane `i` sums the
//! products of elements `i mod 16`), a fixed pairwise reduction, then the tail in order.
//! The width matters in the component: wasmtime's deadline check runs once per loop
//! iteration, and 16 floats per check measured ~2x faster than 8.
//!
//! [`Kernels::Best`] runs the same arithmetic in SIMD registers: AVX2 on x86-64 (detected at
//! run time; two 256-bit registers), NEON on aarch64 and `simd128` in WebAssembly (four
//! 128-bit ones). Same lanes, a separate multiply and add (no FMA), same reduction, so the
//! results are bit-identical to the portable kernel: a native build on any CPU and the
//! component compute the same distances, build the same graph and write the same files.
//! FMA would change the last bits; that identity is worth more than FMA's few percent. The
//! i8 kernels are exact integer arithmetic, identical by construction.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod batch;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

/// Floats per loop iteration.
const LANES: usize = 16;

/// Inner product of i8 vectors (the SQ8 traversal copy): exact integer arithmetic, so every
/// target computes the same value, whichever kernel [`Kernels::Best`] picks.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    Kernels::Best.dot_i8(a, b)
}

#[inline]
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

/// The one kernel dispatch: the target's SIMD kernel when the choice is [`Kernels::Best`]
/// (on x86_64, when the CPU has AVX2, which the AVX2 kernels need), else the portable one.
/// Each target's expression is only compiled on that target.
macro_rules! dispatch {
    ($kernels:expr,
     avx2: $avx2:expr,
     neon: $neon:expr,
     simd128: $simd128:expr,
     portable: $portable:expr $(,)?) => {{
        #[cfg(target_arch = "x86_64")]
        if $kernels.avx2() {
            // SAFETY: AVX2 is present (checked at run time).
            return unsafe { $avx2 };
        }
        #[cfg(target_arch = "aarch64")]
        if $kernels == Kernels::Best {
            return $neon;
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if $kernels == Kernels::Best {
            return $simd128;
        }
        $portable
    }};
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
        self.f32::<false>(a, b)
    }

    /// Squared euclidean distance.
    #[inline]
    pub fn l2_squared(self, a: &[f32], b: &[f32]) -> f32 {
        self.f32::<true>(a, b)
    }

    /// The f32 kernels: the squared euclidean distance when `L2`, else the inner product.
    #[inline(always)]
    fn f32<const L2: bool>(self, a: &[f32], b: &[f32]) -> f32 {
        dispatch!(self,
            avx2: avx2::f32::<L2>(a, b),
            neon: neon::f32(a, b, L2),
            simd128: simd128::f32(a, b, L2),
            portable: if L2 { l2_squared_portable(a, b) } else { dot_portable(a, b) })
    }

    /// Inner product of i8 vectors (see [`dot_i8`]).
    #[inline]
    pub fn dot_i8(self, a: &[i8], b: &[i8]) -> i32 {
        dispatch!(self,
            avx2: avx2::dot_i8(a, b),
            neon: neon::dot_i8(a, b),
            simd128: simd128::dot_i8(a, b),
            portable: dot_i8_portable(a, b))
    }

    /// [`Kernels::dot_i8`] for components in `-127..=127` (what SQ8 quantisation yields),
    /// with faster AVX2 and NEON kernels; the same value.
    #[inline(always)]
    pub fn dot_i8_127(self, a: &[i8], b: &[i8]) -> i32 {
        debug_assert!(!a.contains(&i8::MIN) && !b.contains(&i8::MIN));
        dispatch!(self,
            avx2: avx2::dot_i8_127(a, b),
            neon: neon::dot_i8_127(a, b),
            simd128: simd128::dot_i8(a, b),
            portable: dot_i8_portable(a, b))
    }

    /// [`Kernels::dot_i8_127`] of `q` with each of four rows, computed together.
    #[inline]
    pub fn dot_i8_127_x4(self, q: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
        debug_assert!(!q.contains(&i8::MIN) && rows.iter().all(|r| !r.contains(&i8::MIN)));
        dispatch!(self,
            avx2: batch::dot_i8_127_x4_avx2(q, rows),
            neon: neon::dot_i8_127_x4(q, rows),
            simd128: batch::dot_i8_x4_simd128(q, rows),
            portable: rows.map(|r| dot_i8_portable(q, r)))
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
        let mut rng = crate::testing::Rng::new(3);
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
        let mut rng = crate::testing::Rng::new(9);
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
        let mut rng = crate::testing::Rng::new(11);
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
        let mut rng = crate::testing::Rng::new(5);
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

    /// The general i8 kernel takes the whole i8 range, -128 included (products up to 2^14).
    #[test]
    fn the_i8_kernel_is_exact_over_the_whole_i8_range() {
        let mut rng = crate::testing::Rng::new(6);
        for dim in (0..=70).chain([127, 384, 1025]) {
            let mut a: Vec<i8> = (0..dim).map(|_| rng.below(256) as u8 as i8).collect();
            let b: Vec<i8> = (0..dim).map(|_| rng.below(256) as u8 as i8).collect();
            let want =
                |a: &[i8]| -> i32 { a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum() };
            assert_eq!(dot_i8(&a, &b), want(&a), "dim {dim}");
            assert_eq!(Kernels::Portable.dot_i8(&a, &b), want(&a), "dim {dim}");
            a.fill(i8::MIN);
            assert_eq!(dot_i8(&a, &b), want(&a), "dim {dim}, -128s");
        }
        let m = vec![i8::MIN; 1000];
        assert_eq!(dot_i8(&m, &m), 1000 * 128 * 128);
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
