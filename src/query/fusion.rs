//! Fusing rankings: each leg's ranked `(score, id, slot)` (best first, scores higher-better)
//! into one ranking.

use super::types::Fusion;
use std::collections::HashMap;

/// One leg's ranking, best first, with scores where higher is better, and its weight.
pub(crate) struct Ranking {
    pub(crate) hits: Vec<(f32, u64, u32)>,
    pub(crate) weight: f32,
}

/// The fused ranking, best first (ties: smaller id), all of it: the caller cuts it.
pub(crate) fn fuse(rankings: &[Ranking], fusion: Fusion) -> Vec<(f32, u64, u32)> {
    let mut sums: HashMap<u64, (f32, u32)> = HashMap::new();
    for r in rankings {
        let parts = parts(&r.hits, fusion);
        for (&(_, id, slot), part) in r.hits.iter().zip(parts) {
            let e = sums.entry(id).or_insert((0.0, slot));
            e.0 += r.weight * part;
        }
    }
    let mut out: Vec<(f32, u64, u32)> = sums
        .into_iter()
        .map(|(id, (s, slot))| (s, id, slot))
        .collect();
    out.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out
}

/// Each hit's part of the fused score under `fusion`, before the leg's weight.
fn parts(hits: &[(f32, u64, u32)], fusion: Fusion) -> Vec<f32> {
    match fusion {
        Fusion::Rrf { k } => (0..hits.len()).map(|pos| 1.0 / (k + pos as f32)).collect(),
        Fusion::Dbsf => {
            let n = hits.len();
            if n < 2 {
                return vec![0.5; n];
            }
            let mean = hits.iter().map(|h| f64::from(h.0)).sum::<f64>() / n as f64;
            let var = hits
                .iter()
                .map(|h| (f64::from(h.0) - mean).powi(2))
                .sum::<f64>()
                / (n - 1) as f64;
            let sd = var.sqrt();
            if sd == 0.0 || !sd.is_finite() {
                return vec![0.5; n];
            }
            let low = mean - 3.0 * sd;
            hits.iter()
                .map(|h| ((f64::from(h.0) - low) / (6.0 * sd)) as f32)
                .collect()
        }
        Fusion::Relative => {
            let (lo, hi) = hits
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), x| {
                    (l.min(x.0), h.max(x.0))
                });
            hits.iter()
                .map(|h| if hi > lo { (h.0 - lo) / (hi - lo) } else { 1.0 })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(ids: &[u64], scores: &[f32], weight: f32) -> Ranking {
        Ranking {
            hits: ids
                .iter()
                .zip(scores)
                .map(|(&id, &s)| (s, id, id as u32))
                .collect(),
            weight,
        }
    }

    fn ids(v: &[(f32, u64, u32)]) -> Vec<u64> {
        v.iter().map(|h| h.1).collect()
    }

    #[test]
    fn rrf_sums_reciprocal_positions_and_breaks_ties_by_id() {
        let a = ranking(&[7, 3, 5], &[0.9, 0.8, 0.7], 1.0);
        let b = ranking(&[3, 9, 7], &[10.0, 9.0, 1.0], 1.0);
        let out = fuse(&[a, b], Fusion::Rrf { k: 2.0 });
        // 3: 1/3 + 1/2; 7: 1/2 + 1/4; 9: 1/3; 5: 1/4.
        assert_eq!(ids(&out), [3, 7, 9, 5]);
        assert!((out[0].0 - (1.0 / 3.0 + 0.5)).abs() < 1e-6);
        // Mirror rankings tie everywhere: smaller id first, every time.
        let a = ranking(&[1, 2], &[1.0, 0.5], 1.0);
        let b = ranking(&[2, 1], &[1.0, 0.5], 1.0);
        assert_eq!(ids(&fuse(&[a, b], Fusion::Rrf { k: 60.0 })), [1, 2]);
    }

    #[test]
    fn weights_decide_between_legs() {
        let a = || ranking(&[1, 2], &[1.0, 0.0], 1.0);
        let b = |w| ranking(&[2, 1], &[1.0, 0.0], w);
        for f in [Fusion::Rrf { k: 2.0 }, Fusion::Dbsf, Fusion::Relative] {
            assert_eq!(ids(&fuse(&[a(), b(3.0)], f)), [2, 1], "{f:?}");
            assert_eq!(ids(&fuse(&[a(), b(0.2)], f)), [1, 2], "{f:?}");
        }
    }

    #[test]
    fn dbsf_and_relative_normalise_each_leg() {
        let hits = [(3.0, 1, 1), (1.0, 2, 2), (2.0, 3, 3)];
        assert_eq!(parts(&hits, Fusion::Relative), [1.0, 0.0, 0.5]);
        let d = parts(&hits, Fusion::Dbsf);
        // mean 2, sample sd 1: (s - (2 - 3)) / 6.
        assert_eq!(d, [4.0 / 6.0, 2.0 / 6.0, 0.5]);
        assert_eq!(parts(&hits[..1], Fusion::Dbsf), [0.5]);
        assert_eq!(
            parts(&[(2.0, 1, 1), (2.0, 2, 2)], Fusion::Relative),
            [1.0, 1.0]
        );
    }
}
