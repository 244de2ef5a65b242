//! Sparse vectors: declared fields, checked vectors, exact top-k by dot product (with and
//! without IDF) against a brute-force scoring, through writes, reopens (log, checkpoint,
//! compaction) and fusion; the sparse file's damage reported with its name.

use std::sync::Arc;
use veles::region::MemoryDirectory;
use veles::testing::Rng;
use veles::{
    CollectionConfig, Database, Error, Filter, Fusion, Leg, Metric, Options, Point, Query,
    SparseField, SparseVector,
};

fn config() -> CollectionConfig {
    CollectionConfig::new(4, Metric::Cosine)
        .with_sparse(SparseField::new("terms", true))
        .with_sparse(SparseField::new("splade", false))
}

fn random_sparse(rng: &mut Rng) -> SparseVector {
    let mut dims: Vec<u32> = (0..1 + rng.below(8))
        .map(|_| rng.below(40) as u32)
        .collect();
    dims.sort_unstable();
    dims.dedup();
    let values = dims
        .iter()
        .map(|_| (1 + rng.below(8)) as f32 * 0.25)
        .collect();
    SparseVector::new(dims, values)
}

fn point(rng: &mut Rng, id: u64) -> Point {
    let v = (0..4).map(|_| rng.unit_f32() + 0.1).collect();
    let mut p = Point::new(id, v).with_payload(serde_json::json!({ "n": id % 10 }));
    if rng.below(4) != 0 {
        p = p.with_sparse("terms", random_sparse(rng));
    }
    if rng.below(2) == 0 {
        p = p.with_sparse("splade", random_sparse(rng));
    }
    p
}

/// The brute-force top `k` in `field` for `q` (IDF as BM25's), ids best first.
fn brute(
    points: &[Point],
    field: &str,
    q: &SparseVector,
    idf: bool,
    k: usize,
    keep: impl Fn(&Point) -> bool,
) -> Vec<u64> {
    let of = |p: &Point| {
        p.sparse
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
    };
    let n = points.iter().filter(|p| of(p).is_some()).count() as f32;
    let mut scored: Vec<(f32, u64)> = points
        .iter()
        .filter(|p| keep(p))
        .filter_map(|p| {
            let v = of(p)?;
            if !v.indices.iter().any(|d| q.indices.contains(d)) {
                return None;
            }
            let score = q
                .indices
                .iter()
                .zip(&q.values)
                .map(|(d, w)| {
                    let df = points
                        .iter()
                        .filter(|p| of(p).is_some_and(|v| v.indices.contains(d)))
                        .count() as f32;
                    let w = match idf {
                        true => w * (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
                        false => *w,
                    };
                    w * v.get(*d)
                })
                .sum();
            Some((score, p.id))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|s| s.1).collect()
}

fn top(
    col: &veles::Collection,
    field: &str,
    q: &SparseVector,
    k: usize,
    filter: Option<Filter>,
) -> Vec<u64> {
    let mut leg = Leg::sparse(field, q.clone()).with_limit(k);
    if let Some(f) = filter {
        leg = leg.with_filter(f);
    }
    let hits = col
        .query(&Query::new(k).with_payload(false).leg(leg))
        .unwrap();
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn sparse_legs_rank_as_brute_force_through_writes_and_reopens() {
    let dir = Arc::new(MemoryDirectory::new());
    let mut rng = Rng::new(11);
    let mut points: Vec<Point> = (0..300).map(|i| point(&mut rng, i)).collect();
    {
        let db = Database::open_in(dir.clone(), Options::default()).unwrap();
        let col = db.create_collection("s", config()).unwrap();
        col.upsert(&points).unwrap();
        // Replace some (their sparse vectors go with the rest of the point), delete others.
        for i in (0..300).step_by(7) {
            points[i] = point(&mut rng, i as u64);
            col.upsert(std::slice::from_ref(&points[i])).unwrap();
        }
        let gone: Vec<u64> = (0..300).step_by(11).collect();
        col.delete(&gone).unwrap();
        points.retain(|p| !gone.contains(&p.id));
        col.flush().unwrap();
        let q = random_sparse(&mut rng);
        assert_eq!(
            top(&col, "terms", &q, 10, None),
            brute(&points, "terms", &q, true, 10, |_| true)
        );
    }
    // Reopened from the log, then from a checkpoint, then after a compaction.
    for step in 0..3 {
        let db = Database::open_in(dir.clone(), Options::default()).unwrap();
        let col = db.collection("s").unwrap();
        for _ in 0..20 {
            let q = random_sparse(&mut rng);
            for (field, idf) in [("terms", true), ("splade", false)] {
                assert_eq!(
                    top(&col, field, &q, 10, None),
                    brute(&points, field, &q, idf, 10, |_| true),
                    "step {step}, {field}"
                );
            }
            let f = Filter::lt("n", 3);
            assert_eq!(
                top(&col, "splade", &q, 5, Some(f)),
                brute(&points, "splade", &q, false, 5, |p| p.id % 10 < 3),
                "step {step}, filtered"
            );
        }
        // `get` with the vector gives the sparse vectors back.
        let p = &points[5];
        let got = col.get(&[p.id]).unwrap().pop().unwrap().unwrap();
        let mut want = p.sparse.clone();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let mut have = got.sparse.clone();
        have.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(have, want);
        let report = col.check().unwrap();
        assert!(report.is_ok(), "step {step}: {report:?}");
        match step {
            0 => col.checkpoint().unwrap(),
            1 => {
                col.compact().unwrap();
            }
            _ => {}
        }
    }
}

#[test]
fn bad_sparse_vectors_are_refused_and_change_nothing() {
    let db = Database::in_memory();
    let col = db.create_collection("s", config()).unwrap();
    let v = || vec![1.0, 0.0, 0.0, 0.0];
    let bad = [
        Point::new(1, v()).with_sparse("nope", SparseVector::new(vec![1], vec![1.0])),
        Point::new(1, v()).with_sparse("terms", SparseVector::new(vec![2, 1], vec![1.0, 1.0])),
        Point::new(1, v()).with_sparse("terms", SparseVector::new(vec![1], vec![f32::NAN])),
        Point::new(1, v()).with_sparse("terms", SparseVector::new(vec![1, 2], vec![1.0])),
        Point::new(1, v())
            .with_sparse("terms", SparseVector::new(vec![1], vec![1.0]))
            .with_sparse("terms", SparseVector::new(vec![2], vec![1.0])),
    ];
    for p in bad {
        let e = col.upsert(&[Point::new(0, v()), p.clone()]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{p:?}: {e}");
    }
    assert_eq!(col.len().unwrap(), 0, "a refused batch changes nothing");
    let e = col
        .query(&Query::new(3).leg(Leg::sparse("nope", SparseVector::new(vec![1], vec![1.0]))))
        .unwrap_err();
    assert!(e.to_string().contains("no sparse field \"nope\""), "{e}");
    for bad in [
        CollectionConfig::new(4, Metric::Cosine).with_sparse(SparseField::new("a b", false)),
        CollectionConfig::new(4, Metric::Cosine)
            .with_sparse(SparseField::new("a", false))
            .with_sparse(SparseField::new("a", true)),
    ] {
        assert!(db.create_collection("t", bad).is_err());
    }
}

#[test]
fn dense_and_sparse_legs_fuse() {
    let db = Database::in_memory();
    let col = db.create_collection("s", config()).unwrap();
    let mut rng = Rng::new(5);
    let points: Vec<Point> = (0..200).map(|i| point(&mut rng, i)).collect();
    col.upsert(&points).unwrap();
    let q = random_sparse(&mut rng);
    let dense = points[3].vector.clone();
    let fused = |w: f32| {
        let query = Query::new(5)
            .with_fusion(Fusion::Rrf { k: 2.0 })
            .leg(Leg::dense(dense.clone()).with_limit(20).with_weight(w))
            .leg(Leg::sparse("terms", q.clone()).with_limit(20));
        col.query(&query)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(fused(100.0)[0], 3, "the dense leg decides");
    assert_eq!(
        fused(0.0),
        top(&col, "terms", &q, 5, None),
        "the sparse leg decides"
    );
    assert_eq!(fused(1.0), fused(1.0), "deterministic");
}

#[test]
fn a_damaged_or_missing_sparse_file_is_reported_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = db.create_collection("s", config()).unwrap();
        let mut rng = Rng::new(1);
        let points: Vec<Point> = (0..50).map(|i| point(&mut rng, i)).collect();
        col.upsert(&points).unwrap();
        col.checkpoint().unwrap();
    }
    let dir = tmp.path().join("collections/s");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sparse-")
        })
        .expect("a sparse file");
    let bytes = std::fs::read(&file).unwrap();
    let mut damaged = bytes.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x55;
    std::fs::write(&file, &damaged).unwrap();
    let e = Database::open(tmp.path())
        .and_then(|db| db.collection("s").map(drop))
        .unwrap_err();
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(e.to_string().contains(&name), "{e}");
    std::fs::remove_file(&file).unwrap();
    let e = Database::open(tmp.path())
        .and_then(|db| db.collection("s").map(drop))
        .unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    std::fs::write(&file, &bytes).unwrap();
    let db = Database::open(tmp.path()).unwrap();
    assert_eq!(db.collection("s").unwrap().len().unwrap(), 50);
}

/// A read-only open (a reader beside the writer) ranks as the writer does, from the sparse
/// file of the last checkpoint and the log after it.
#[test]
fn a_read_only_open_ranks_as_the_writer_does() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(21);
    let points: Vec<Point> = (0..200).map(|i| point(&mut rng, i)).collect();
    let q = random_sparse(&mut rng);
    let db = Database::open(tmp.path()).unwrap();
    let col = db.create_collection("s", config()).unwrap();
    col.upsert(&points[..150]).unwrap();
    col.checkpoint().unwrap();
    col.upsert(&points[150..]).unwrap();
    col.flush().unwrap();
    let want = top(&col, "terms", &q, 10, None);
    assert_eq!(want, brute(&points, "terms", &q, true, 10, |_| true));
    let reader = Database::open_read_only(tmp.path()).unwrap();
    let r = reader.collection("s").unwrap();
    assert_eq!(top(&r, "terms", &q, 10, None), want);
}
