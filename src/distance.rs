//! Distance kernels. Portable scalar code written so the compiler vectorises it: 16 independent
//! accumulators, i.e. four 128-bit vectors per loop iteration. The width matters in the
//! component: wasmtime's deadline (epoch interruption) checks once per loop iteration, and 16
//! floats per check measured ~2x faster than 8 under wasmtime. Explicit SIMD kernels come with
//! the HNSW work and are checked against these.

/// Floats per loop iteration.
const LANES: usize = 16;

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Squared euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
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

    #[test]
    fn bit_kernels_count_as_sets() {
        let a = [0b1011u64, 0];
        let b = [0b0110u64, 1 << 63];
        assert_eq!(hamming(&a, &b), 4);
        assert!((jaccard(&a, &b) - 1.0 / 5.0).abs() < 1e-6);
        assert_eq!(jaccard(&[0, 0], &[0, 0]), 1.0);
    }
}
