//! Distance kernels. Portable scalar code written so the compiler vectorises it (8 independent
//! accumulators); explicit SIMD kernels come with the HNSW work and are checked against these.

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Squared euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        sum += d * d;
    }
    sum
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
