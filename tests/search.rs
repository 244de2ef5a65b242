//! Exact search against a naive reference, for every metric, with and without filters.

use serde_json::{Value, json};
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Filter, Metric, Point};

/// The reference score of `a` against stored vector `b`, in f64, as documented per metric.
fn reference_score(metric: Metric, q: &[f32], v: &[f32]) -> f64 {
    let dot: f64 = q.iter().zip(v).map(|(x, y)| *x as f64 * *y as f64).sum();
    match metric {
        Metric::Cosine => {
            let nq: f64 = q.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            let nv: f64 = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nq * nv)
        }
        Metric::Dot => dot,
        Metric::Euclidean => q
            .iter()
            .zip(v)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum::<f64>()
            .sqrt(),
        Metric::Hamming => q.iter().zip(v).filter(|(x, y)| x != y).count() as f64,
        Metric::Jaccard => {
            let inter = q
                .iter()
                .zip(v)
                .filter(|(x, y)| **x == 1.0 && **y == 1.0)
                .count();
            let union = q
                .iter()
                .zip(v)
                .filter(|(x, y)| **x == 1.0 || **y == 1.0)
                .count();
            if union == 0 {
                1.0
            } else {
                inter as f64 / union as f64
            }
        }
    }
}

fn random_vector(rng: &mut Rng, metric: Metric, dim: usize) -> Vec<f32> {
    rng.vector(metric, dim, 3)
}

fn random_filter(rng: &mut Rng) -> Filter {
    match rng.below(6) {
        0 => Filter::eq("group", rng.below(5) as i64),
        1 => Filter::lt("x", rng.unit_f32() as f64),
        2 => Filter::is_in("group", vec![json!(1), json!(3)]),
        3 => Filter::And(vec![Filter::gte("x", 0.2), Filter::ne("group", 2)]),
        4 => Filter::Or(vec![Filter::eq("tags", "even"), Filter::exists("rare")]),
        _ => !Filter::eq("nested.flag", true),
    }
}

fn check_metric(metric: Metric, seed: u64) {
    let mut rng = Rng::new(seed);
    let dim = 13; // odd on purpose: exercises the kernels' remainder paths
    let db = Database::in_memory();
    let c = db
        .create_collection("s", CollectionConfig::new(dim as u32, metric))
        .unwrap();
    let n = 600u64;
    let points: Vec<Point> = (0..n)
        .map(|i| {
            let mut p = json!({
                "group": i % 5,
                "x": rng.unit_f32(),
                "tags": [if i % 2 == 0 { "even" } else { "odd" }],
                "nested": {"flag": i % 7 == 0},
            });
            if i % 50 == 0 {
                p["rare"] = Value::Bool(true);
            }
            Point::new(i, random_vector(&mut rng, metric, dim)).with_payload(p)
        })
        .collect();
    c.upsert(&points).unwrap();
    // Some deletes and updates, half flushed, so that both staged and on-file slots are read.
    c.delete(&(0..n).filter(|i| i % 11 == 0).collect::<Vec<_>>())
        .unwrap();
    c.flush().unwrap();
    let updates: Vec<Point> = (0..n)
        .filter(|i| i % 13 == 0)
        .map(|i| {
            Point::new(i, random_vector(&mut rng, metric, dim))
                .with_payload(json!({"group": 1, "x": 0.5}))
        })
        .collect();
    c.upsert(&updates).unwrap();

    let live: Vec<Point> = c
        .get(&(0..n).collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    for round in 0..40 {
        let q = random_vector(&mut rng, metric, dim);
        if metric == Metric::Cosine && q.iter().all(|&x| x == 0.0) {
            continue;
        }
        let filter = (round % 2 == 1).then(|| random_filter(&mut rng));
        let k = [1, 5, 10, 50][round % 4];
        let mut expected: Vec<(f64, u64)> = live
            .iter()
            .filter(|p| {
                filter
                    .as_ref()
                    .is_none_or(|f| f.matches(p.payload.as_ref()))
            })
            .map(|p| (reference_score(metric, &q, &p.vector), p.id))
            .collect();
        let sign = if metric.higher_is_better() { -1.0 } else { 1.0 };
        expected.sort_by(|a, b| (sign * a.0).total_cmp(&(sign * b.0)).then(a.1.cmp(&b.1)));
        expected.truncate(k);

        let hits = c.search(&q, k, filter.as_ref()).unwrap();
        assert_eq!(hits.len(), expected.len(), "{metric} round {round}");
        for (rank, (h, (want, want_id))) in hits.iter().zip(&expected).enumerate() {
            let ctx = format!("{metric} seed {seed} round {round} rank {rank} filter {filter:?}");
            assert!(
                (h.score as f64 - want).abs() < 1e-4,
                "{ctx}: score {} vs {want}",
                h.score
            );
            if metric.is_binary() {
                // Integer-valued scores: ties are exact and must break by id.
                assert_eq!(h.id, *want_id, "{ctx}");
            } else {
                let own = live.iter().find(|p| p.id == h.id).unwrap();
                assert!(
                    (reference_score(metric, &q, &own.vector) - h.score as f64).abs() < 1e-4,
                    "{ctx}"
                );
            }
            if let Some(f) = &filter {
                assert!(f.matches(h.payload.as_ref()), "{ctx}: hit fails the filter");
            }
        }
        for w in hits.windows(2) {
            let ordered = if metric.higher_is_better() {
                w[0].score >= w[1].score
            } else {
                w[0].score <= w[1].score
            };
            assert!(ordered, "{metric}: hits not best first");
        }
    }
}

#[test]
fn exact_search_matches_the_reference_for_cosine() {
    check_metric(Metric::Cosine, 1);
}

#[test]
fn exact_search_matches_the_reference_for_euclidean() {
    check_metric(Metric::Euclidean, 2);
}

#[test]
fn exact_search_matches_the_reference_for_dot() {
    check_metric(Metric::Dot, 3);
}

#[test]
fn exact_search_matches_the_reference_for_hamming() {
    check_metric(Metric::Hamming, 4);
}

#[test]
fn exact_search_matches_the_reference_for_jaccard() {
    check_metric(Metric::Jaccard, 5);
}

#[test]
fn a_filter_that_matches_nothing_returns_nothing_and_k_above_len_returns_all() {
    let db = Database::in_memory();
    let c = db
        .create_collection("s", CollectionConfig::new(2, Metric::Euclidean))
        .unwrap();
    c.upsert(&[Point::new(1, vec![0.0, 0.0]), Point::new(2, vec![1.0, 1.0])])
        .unwrap();
    assert!(
        c.search(&[0.0, 0.0], 5, Some(&Filter::eq("nope", 1)))
            .unwrap()
            .is_empty()
    );
    let all = c.search(&[0.0, 0.0], 100, None).unwrap();
    assert_eq!(all.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1, 2]);
    assert!(
        (all[1].score - 2f32.sqrt()).abs() < 1e-6,
        "euclidean scores are distances, not squared"
    );
}
