//! How a vector becomes slot bytes, and how slot bytes are compared.
//!
//! f32 metrics store `dimension` little-endian f32s; cosine vectors are normalised to unit
//! length first, so cosine is an inner product at search time and `get` returns the unit
//! vector. Binary metrics store one bit per component (0.0 -> 0, 1.0 -> 1), packed into
//! little-endian u64 words, component `i` at bit `i % 64` of word `i / 64`.

use crate::config::{CollectionConfig, Metric};
use crate::distance::{self, Kernels};
use crate::error::{Error, Result, VectorProblem};

/// Encoding and comparison for one collection's vectors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Codec {
    dim: usize,
    metric: Metric,
    kernels: Kernels,
}

/// A query in the form the kernels take.
#[derive(Debug, Clone)]
pub(crate) enum Query {
    F32(Vec<f32>),
    Bits(Vec<u64>),
}

/// Calls `f` with `bytes` as a slice of `T`, copying only when `bytes` is misaligned (slots
/// from a memory map or an aligned buffer never are).
fn with_pod<T: bytemuck::Pod, R>(bytes: &[u8], f: impl FnOnce(&[T]) -> R) -> R {
    match bytemuck::try_cast_slice::<u8, T>(bytes) {
        Ok(v) => f(v),
        Err(_) => {
            let n = bytes.len() / size_of::<T>();
            let mut copy = vec![T::zeroed(); n];
            bytemuck::cast_slice_mut::<T, u8>(&mut copy)
                .copy_from_slice(&bytes[..n * size_of::<T>()]);
            f(&copy)
        }
    }
}

pub(crate) fn with_f32<R>(bytes: &[u8], f: impl FnOnce(&[f32]) -> R) -> R {
    with_pod(bytes, f)
}

fn with_u64<R>(bytes: &[u8], f: impl FnOnce(&[u64]) -> R) -> R {
    with_pod(bytes, f)
}

impl Codec {
    pub fn new(config: &CollectionConfig, kernels: Kernels) -> Codec {
        Codec {
            dim: config.dimension as usize,
            metric: config.metric,
            kernels,
        }
    }

    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    pub fn dimension(&self) -> u32 {
        self.dim as u32
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Bytes per stored vector.
    pub fn slot_size(&self) -> usize {
        if self.metric.is_binary() {
            self.dim.div_ceil(64) * 8
        } else {
            self.dim * 4
        }
    }

    /// Checks a caller's vector (dimension, finiteness, metric domain); returns its norm (in
    /// f64) for the float metrics, 0 for the binary ones.
    fn validate(&self, id: Option<u64>, v: &[f32]) -> Result<f64> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim as u32,
                actual: v.len(),
                id,
            });
        }
        let bad = |problem| Err(Error::InvalidVector { id, problem });
        // In f64, so that neither a huge vector overflows nor a tiny one underflows: the norm
        // is finite exactly when every component is.
        let norm = norm_f64(v);
        if !norm.is_finite()
            && let Some(index) = v.iter().position(|x| !x.is_finite())
        {
            return bad(VectorProblem::NotFinite { index });
        }
        if self.metric.is_binary() {
            if let Some(index) = v.iter().position(|&x| x != 0.0 && x != 1.0) {
                return bad(VectorProblem::NotBinary { index });
            }
            return Ok(0.0);
        }
        let squared = norm.powi(2);
        if squared > f32::MAX as f64 {
            return bad(VectorProblem::NormOverflow);
        }
        if self.metric == Metric::Cosine && squared == 0.0 {
            return bad(VectorProblem::ZeroNorm);
        }
        Ok(norm)
    }

    /// Appends the slot bytes of `v` to `out`.
    pub fn encode(&self, id: Option<u64>, v: &[f32], out: &mut Vec<u8>) -> Result<()> {
        let norm = self.validate(id, v)?;
        match self.metric {
            Metric::Hamming | Metric::Jaccard => {
                for word in pack_bits(v) {
                    out.extend_from_slice(&word.to_le_bytes());
                }
            }
            Metric::Cosine => out.extend(normalised(v, norm).flat_map(f32::to_le_bytes)),
            Metric::Euclidean | Metric::Dot => {
                out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            }
        }
        Ok(())
    }

    pub fn query(&self, v: &[f32]) -> Result<Query> {
        let norm = self.validate(None, v)?;
        Ok(match self.metric {
            Metric::Hamming | Metric::Jaccard => Query::Bits(pack_bits(v)),
            Metric::Cosine => Query::F32(normalised(v, norm).collect()),
            Metric::Euclidean | Metric::Dot => Query::F32(v.to_vec()),
        })
    }

    /// A stored vector as a query (already normalised or packed).
    pub fn stored_query(&self, bytes: &[u8]) -> Query {
        if self.metric.is_binary() {
            Query::Bits(with_u64(bytes, |w| w.to_vec()))
        } else {
            Query::F32(with_f32(bytes, |v| v.to_vec()))
        }
    }

    /// The vector stored in `bytes`.
    pub fn decode(&self, bytes: &[u8]) -> Vec<f32> {
        if self.metric.is_binary() {
            with_u64(bytes, |words| {
                (0..self.dim)
                    .map(|i| ((words[i / 64] >> (i % 64)) & 1) as f32)
                    .collect()
            })
        } else {
            with_f32(bytes, |v| v.to_vec())
        }
    }

    /// What is wrong with stored bytes that `encode` could not have written, if anything:
    /// a non-finite component, a cosine vector that is not of unit length, a bit set past the
    /// dimension of a binary vector.
    pub fn stored_problem(&self, bytes: &[u8]) -> Option<String> {
        if bytes.len() != self.slot_size() {
            return Some(format!(
                "{} bytes for a slot of {}",
                bytes.len(),
                self.slot_size()
            ));
        }
        if self.metric.is_binary() {
            let tail = self.dim % 64;
            return with_u64(bytes, |w| match w.last() {
                Some(&last) if tail != 0 && last >> tail != 0 => {
                    Some("bits set past the dimension".to_string())
                }
                _ => None,
            });
        }
        with_f32(bytes, |v| {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Some(format!("component {i} is not finite"));
            }
            let n = norm(v);
            (self.metric == Metric::Cosine && (n - 1.0).abs() > 1e-3)
                .then(|| format!("cosine vector of norm {n} (stored vectors have norm 1)"))
        })
    }

    /// The distance from `query` to the stored vector `slot`: lower is better, for every
    /// metric (the order search uses). [`Codec::score`] turns it into the documented score.
    #[inline]
    pub fn distance(&self, query: &Query, slot: &[u8]) -> f32 {
        match query {
            Query::F32(q) => with_f32(slot, |v| self.f32_distance(q, v)),
            Query::Bits(q) => with_u64(slot, |v| self.bit_distance(q, v)),
        }
    }

    /// The distance between two stored vectors, without copying either (the graph's
    /// neighbour selection compares stored vectors all the time).
    #[inline]
    pub fn distance_stored(&self, a: &[u8], b: &[u8]) -> f32 {
        if self.metric.is_binary() {
            with_u64(a, |x| with_u64(b, |y| self.bit_distance(x, y)))
        } else {
            with_f32(a, |x| with_f32(b, |y| self.f32_distance(x, y)))
        }
    }

    #[inline]
    fn f32_distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.metric {
            Metric::Cosine | Metric::Dot => -self.kernels.dot(a, b),
            Metric::Euclidean => self.kernels.l2_squared(a, b),
            // A query is always built by `query` for this codec's metric.
            Metric::Hamming | Metric::Jaccard => f32::INFINITY,
        }
    }

    #[inline]
    fn bit_distance(&self, a: &[u64], b: &[u64]) -> f32 {
        match self.metric {
            Metric::Hamming => distance::hamming(a, b) as f32,
            Metric::Jaccard => 1.0 - distance::jaccard(a, b),
            Metric::Cosine | Metric::Dot | Metric::Euclidean => f32::INFINITY,
        }
    }

    /// The score reported to users for an internal distance (see [`Metric`]).
    pub fn score(&self, distance: f32) -> f32 {
        match self.metric {
            Metric::Cosine | Metric::Dot => -distance,
            Metric::Euclidean => distance.max(0.0).sqrt(),
            Metric::Hamming => distance,
            Metric::Jaccard => 1.0 - distance,
        }
    }
}

/// `v` scaled to unit norm. A vector already of unit norm to f32 precision is kept as it is,
/// so normalising is idempotent: a stored vector read back and written again (an export
/// imported) stores the same bytes.
/// `v` divided by its norm `n` (from [`norm_f64`]), left as it is when already of unit length
/// within 1e-6.
fn normalised(v: &[f32], n: f64) -> impl Iterator<Item = f32> + '_ {
    let unit = (n - 1.0).abs() <= 1e-6;
    v.iter()
        .map(move |&x| if unit { x } else { (x as f64 / n) as f32 })
}

fn norm(v: &[f32]) -> f32 {
    distance::dot(v, v).sqrt()
}

/// The Euclidean norm, in f64: summed in eight lanes (so the loop vectorises), then the lanes
/// and the remainder.
fn norm_f64(v: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut eights = v.chunks_exact(8);
    for e in &mut eights {
        for (l, &x) in lanes.iter_mut().zip(e) {
            *l += x as f64 * x as f64;
        }
    }
    let rest: f64 = eights
        .remainder()
        .iter()
        .map(|&x| x as f64 * x as f64)
        .sum();
    (lanes.iter().sum::<f64>() + rest).sqrt()
}

fn pack_bits(v: &[f32]) -> Vec<u64> {
    let mut words = vec![0u64; v.len().div_ceil(64)];
    for (i, &x) in v.iter().enumerate() {
        if x == 1.0 {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(dim: u32, metric: Metric) -> Codec {
        Codec::new(&CollectionConfig::new(dim, metric), Kernels::Best)
    }

    #[test]
    fn binary_vectors_pack_one_bit_per_component_and_decode_back() {
        let c = codec(70, Metric::Hamming);
        let v: Vec<f32> = (0..70).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let mut bytes = Vec::new();
        c.encode(Some(1), &v, &mut bytes).unwrap();
        assert_eq!(bytes.len(), 16);
        assert_eq!(c.slot_size(), 16);
        assert_eq!(c.decode(&bytes), v);
    }

    #[test]
    fn normalising_is_idempotent() {
        let c = Codec::new(
            &CollectionConfig::new(5, Metric::Cosine),
            Default::default(),
        );
        let mut rng = crate::testing::Rng::new(3);
        for _ in 0..1000 {
            let v = rng.vector(Metric::Cosine, 5, 2);
            let (mut once, mut twice) = (Vec::new(), Vec::new());
            c.encode(None, &v, &mut once).unwrap();
            c.encode(None, &c.decode(&once), &mut twice).unwrap();
            assert_eq!(once, twice);
        }
    }

    #[test]
    fn cosine_vectors_are_stored_normalised() {
        let c = codec(2, Metric::Cosine);
        let mut bytes = Vec::new();
        c.encode(None, &[3.0, 4.0], &mut bytes).unwrap();
        assert_eq!(c.decode(&bytes), vec![0.6, 0.8]);
    }

    #[test]
    fn bad_vectors_get_typed_errors() {
        let mut out = Vec::new();
        let c = codec(3, Metric::Cosine);
        assert!(matches!(
            c.encode(Some(7), &[1.0, 2.0], &mut out),
            Err(Error::DimensionMismatch {
                expected: 3,
                actual: 2,
                id: Some(7)
            })
        ));
        assert!(matches!(
            c.encode(Some(7), &[1.0, f32::NAN, 0.0], &mut out),
            Err(Error::InvalidVector {
                problem: VectorProblem::NotFinite { index: 1 },
                ..
            })
        ));
        assert!(matches!(
            c.encode(None, &[0.0, f32::INFINITY, 0.0], &mut out),
            Err(Error::InvalidVector {
                problem: VectorProblem::NotFinite { index: 1 },
                ..
            })
        ));
        assert!(matches!(
            c.encode(None, &[0.0; 3], &mut out),
            Err(Error::InvalidVector {
                problem: VectorProblem::ZeroNorm,
                ..
            })
        ));
        assert!(matches!(
            codec(3, Metric::Jaccard).encode(None, &[1.0, 0.5, 0.0], &mut out),
            Err(Error::InvalidVector {
                problem: VectorProblem::NotBinary { index: 1 },
                ..
            })
        ));
        assert!(out.is_empty(), "nothing is written for a refused vector");
    }

    #[test]
    fn misaligned_slot_bytes_still_compare_correctly() {
        let c = codec(4, Metric::Euclidean);
        let mut bytes = vec![0u8];
        c.encode(None, &[1.0, 2.0, 3.0, 4.0], &mut bytes).unwrap();
        let q = c.query(&[1.0, 2.0, 3.0, 6.0]).unwrap();
        assert_eq!(c.distance(&q, &bytes[1..]), 4.0);
        assert_eq!(c.score(4.0), 2.0);
    }
}
