//! The same engine natively and in the component: same results, same files.

use serde_json::json;
use std::path::Path;
use std::sync::OnceLock;
use veles::testing::Rng;
use veles::{
    CollectionConfig, Error, Filter, Fusion, IndexKind, Leg, MatchMode, Metric, Point, Query,
    SearchParams, SparseField, SparseVector, TextConfig, Tokenizer,
};
use veles_host::{Backend, ComponentBackend, HostError, Limits, NativeBackend, Runtime};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("the component loads"))
}

fn open(dir: &Path, native: bool) -> Box<dyn Backend> {
    if native {
        // Linking at flush, as the component does: the same graph at the same moments.
        let options = veles_host::OpenOptions {
            linking: Some(veles::Linking::AtFlush),
            ..Default::default()
        };
        Box::new(NativeBackend::open_with(dir, &options).unwrap())
    } else {
        Box::new(ComponentBackend::open(runtime(), dir, &Limits::default()).unwrap())
    }
}

/// Everything observable from one scenario: search results, gets, errors, stats.
#[derive(Debug, PartialEq)]
struct Transcript(Vec<String>);

fn scenario(dir: &Path, native: bool) -> Transcript {
    let mut out = Vec::new();
    let mut log = |s: String| out.push(s);
    let mut rng = Rng::new(42);
    let vec = |rng: &mut Rng| (0..24).map(|_| rng.unit_f32() - 0.5).collect::<Vec<f32>>();
    {
        let mut db = open(dir, native);
        for (name, metric) in [
            ("cos", Metric::Cosine),
            ("l2", Metric::Euclidean),
            ("bits", Metric::Hamming),
        ] {
            db.create_collection(name, CollectionConfig::new(24, metric))
                .unwrap();
            let points: Vec<Point> = (0..1500u64)
                .map(|i| {
                    let v = if metric.is_binary() {
                        vec(&mut rng)
                            .iter()
                            .map(|x| (*x > 0.0) as u8 as f32)
                            .collect()
                    } else {
                        vec(&mut rng)
                    };
                    let words = ["red", "green", "blue", "shoe", "hat", "東京", "タワー"];
                    let body = format!("{} {}", words[i as usize % 7], words[i as usize / 7 % 5]);
                    Point::new(i, v).with_payload(json!({
                        "group": i % 4,
                        "name": format!("p{i}"),
                        "tags": ["t", i % 3],
                        "body": body,
                    }))
                })
                .collect();
            for chunk in points.chunks(64) {
                db.upsert(name, chunk).unwrap();
            }
            log(format!(
                "deleted {}",
                db.delete(name, &[1, 2, 3, 999]).unwrap()
            ));
            db.flush(name).unwrap();
        }
        db.upsert(
            "cos",
            &[Point::new(5, vec(&mut rng)).with_payload(json!({"group": 9}))],
        )
        .unwrap();
        for name in ["cos", "l2", "bits"] {
            let q: Vec<f32> = if name == "bits" {
                vec(&mut rng)
                    .iter()
                    .map(|x| (*x > 0.0) as u8 as f32)
                    .collect()
            } else {
                vec(&mut rng)
            };
            for f in [
                None,
                Some(Filter::eq("group", 2)),
                Some(Filter::And(vec![
                    Filter::gte("group", 1),
                    !Filter::eq("tags", 0),
                ])),
                Some(Filter::is_in(
                    "name",
                    vec![json!("p10"), json!("p20"), json!("p30")],
                )),
                // Ids cross the WIT boundary as a node of their own.
                Some(Filter::Or(vec![
                    Filter::has_id([3, 7, 11, 400]),
                    !Filter::has_id([]),
                ])),
                Some(Filter::And(vec![
                    Filter::has_id([3, 7, 11, 400]),
                    Filter::gte("group", 1),
                ])),
            ] {
                let hits = db
                    .search(
                        name,
                        &q,
                        7,
                        &SearchParams::default().with_filter(f.as_ref()),
                    )
                    .unwrap();
                log(format!("{name} {f:?} {hits:?}"));
            }
            log(format!(
                "{name} get {:?}",
                db.get(name, &[0, 3, 5, 77]).unwrap()
            ));
        }
        // Text indexes, match filters and fused queries.
        db.create_text_index(
            "cos",
            "body",
            TextConfig::default().with_tokenizer(Tokenizer::Cjk),
        )
        .unwrap();
        db.create_index("l2", "body", IndexKind::Text).unwrap();
        let q = vec(&mut rng);
        for (name, fusion) in [
            ("cos", Fusion::Rrf { k: 2.0 }),
            ("cos", Fusion::Dbsf),
            ("l2", Fusion::Relative),
        ] {
            let query = Query::new(8)
                .leg(Leg::dense(q.clone()).with_limit(20).with_weight(0.5))
                .leg(Leg::text("body", "red shoe 東").with_filter(Filter::eq("group", 1)))
                .with_fusion(fusion);
            log(format!(
                "{name} {fusion:?} {:?}",
                db.query_batch(name, std::slice::from_ref(&query)).unwrap()
            ));
            log(format!(
                "{name} plans {:?}",
                db.query_plan(name, &query).unwrap()
            ));
            let phrase = Filter::text("body", "red shoe", MatchMode::Phrase);
            log(format!(
                "{name} phrase {}",
                db.count(name, Some(&phrase)).unwrap()
            ));
        }
        let e = db
            .query_batch("cos", &[Query::new(3).leg(Leg::text("name", "p1"))])
            .unwrap_err();
        log(format!("no text index: {e}"));
        // Sparse vectors: stored, ranked, fused, read back, checkpointed.
        let config = CollectionConfig::new(24, Metric::Dot)
            .with_sparse(SparseField::new("terms", true))
            .with_sparse(SparseField::new("raw", false));
        db.create_collection("sp", config).unwrap();
        let sparse = |rng: &mut Rng| {
            let mut dims: Vec<u32> = (0..6).map(|_| rng.below(50) as u32).collect();
            dims.sort_unstable();
            dims.dedup();
            let values = dims.iter().map(|_| rng.unit_f32()).collect();
            SparseVector::new(dims, values)
        };
        let points: Vec<Point> = (0..400u64)
            .map(|i| {
                let p = Point::new(i, vec(&mut rng)).with_sparse("terms", sparse(&mut rng));
                match i % 3 {
                    0 => p.with_sparse("raw", sparse(&mut rng)),
                    _ => p,
                }
            })
            .collect();
        db.upsert("sp", &points).unwrap();
        let q = sparse(&mut rng);
        let queries = [
            Query::new(6).leg(Leg::sparse("terms", q.clone())),
            Query::new(6)
                .leg(Leg::sparse("raw", q.clone()).with_filter(Filter::lt("nothing", 1)))
                .leg(Leg::dense(vec(&mut rng)).with_limit(30))
                .with_fusion(Fusion::Dbsf),
        ];
        log(format!(
            "sparse {:?}",
            db.query_batch("sp", &queries).unwrap()
        ));
        db.checkpoint("sp").unwrap();
        log(format!(
            "sparse get {:?}",
            db.get("sp", &[0, 1, 399]).unwrap()
        ));
        // Errors cross the boundary typed.
        let e = db
            .upsert("cos", &[Point::new(1, vec![1.0; 3])])
            .unwrap_err();
        assert!(
            matches!(
                e,
                HostError::Engine(Error::DimensionMismatch {
                    expected: 24,
                    actual: 3,
                    ..
                })
            ),
            "{e}"
        );
        let e = db
            .search("nope", &[0.0; 24], 1, &SearchParams::default())
            .unwrap_err();
        assert!(
            matches!(e, HostError::Engine(Error::CollectionNotFound(_))),
            "{e}"
        );
        let e = db
            .search("cos", &[0.0; 24], 0, &SearchParams::default())
            .unwrap_err();
        assert!(
            matches!(e, HostError::Engine(Error::InvalidArgument(_))),
            "{e}"
        );
        let e = db
            .search("cos", &[f32::NAN; 24], 1, &SearchParams::default())
            .unwrap_err();
        assert!(
            matches!(e, HostError::Engine(Error::InvalidVector { .. })),
            "{e}"
        );
        log(format!("list {:?}", db.list().unwrap()));
        db.flush("cos").unwrap();
        db.checkpoint("l2").unwrap();
        db.drop_collection("bits").unwrap();
    }
    // Reopen: the same answers.
    let mut db = open(dir, native);
    log(format!("after reopen list {:?}", db.list().unwrap()));
    let q = vec![0.1f32; 24];
    for name in ["cos", "l2"] {
        log(format!(
            "{name} reopened {:?}",
            db.search(name, &q, 5, &SearchParams::default()).unwrap()
        ));
        let s = db.stats(name).unwrap();
        log(format!(
            "{name} stats len {} slots {} generation {}",
            s.len, s.slots, s.generation
        ));
    }
    Transcript(out)
}

#[test]
fn native_and_component_give_identical_results_and_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let native = scenario(a.path(), true);
    let component = scenario(b.path(), false);
    assert_eq!(native.0.len(), component.0.len());
    for (n, c) in native.0.iter().zip(&component.0) {
        assert_eq!(n, c);
    }
    // Byte for byte the same files.
    for f in [
        "VELES",
        "collections/cos/checkpoint",
        "collections/cos/wal",
        "collections/cos/vectors-1",
        "collections/cos/vectors-1.crc",
        "collections/l2/checkpoint",
        "collections/l2/wal",
        "collections/l2/vectors-1",
    ] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        assert!(
            x == y,
            "{f} differs: native {} bytes, component {} bytes",
            x.len(),
            y.len()
        );
    }
    assert!(!b.path().join("collections/bits").exists());
}

#[test]
fn a_database_written_natively_opens_in_the_component_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<Point> = (0..100u64)
        .map(|i| Point::new(i, vec![i as f32, 1.0, 2.0]).with_payload(json!({"i": i})))
        .collect();
    {
        let mut n = open(dir.path(), true);
        n.create_collection("x", CollectionConfig::new(3, Metric::Euclidean))
            .unwrap();
        n.upsert("x", &pts[..50]).unwrap();
        n.flush("x").unwrap();
        n.upsert("x", &pts[50..60]).unwrap(); // left in the log, unflushed: recovered by the component
    }
    {
        let mut c = open(dir.path(), false);
        assert_eq!(c.stats("x").unwrap().len, 60);
        assert_eq!(c.stats("x").unwrap().recovery.replayed_records, 2);
        c.upsert("x", &pts[60..]).unwrap();
        c.delete("x", &[0]).unwrap();
        c.flush("x").unwrap();
    }
    let mut n = open(dir.path(), true);
    assert_eq!(n.stats("x").unwrap().len, 99);
    let hits = n
        .search(
            "x",
            &[99.0, 1.0, 2.0],
            1,
            &SearchParams::default().with_filter(Some(&Filter::gte("i", 90))),
        )
        .unwrap();
    assert_eq!(hits[0].id, 99);
    assert_eq!(hits[0].payload, Some(json!({"i": 99})));
}

/// The component's four-row SQ8 kernel has three paths (128-byte turns, 16-byte steps, a
/// scalar tail) that 24 dimensions never reach: at 149 (one of each) and 384 (three turns)
/// both builds must link the same graph and answer the same, bit for bit. (Enough points
/// that searches walk the graph rather than scan: [`veles::EXACT_BELOW`].)
#[test]
fn every_kernel_path_builds_the_same_graph_natively_and_in_the_component() {
    for dim in [149usize, 384] {
        let mut rng = Rng::new(dim as u64);
        let n = veles::EXACT_BELOW as u64 + 200;
        let points: Vec<Point> = (0..n)
            .map(|i| Point::new(i, (0..dim).map(|_| rng.unit_f32() - 0.5).collect()))
            .collect();
        let queries: Vec<Vec<f32>> = (0..20)
            .map(|_| (0..dim).map(|_| rng.unit_f32() - 0.5).collect())
            .collect();
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let mut answers = Vec::new();
        for (dir, native) in dirs.iter().zip([true, false]) {
            let mut db = open(dir.path(), native);
            let mut found = Vec::new();
            for (name, metric) in [("cos", Metric::Cosine), ("l2", Metric::Euclidean)] {
                let config = CollectionConfig::new(dim as u32, metric).with_hnsw(8, 40);
                db.create_collection(name, config).unwrap();
                db.upsert(name, &points).unwrap();
                db.optimize(name, None).unwrap();
                db.checkpoint(name).unwrap();
                let params = SearchParams::default().with_ef(Some(32));
                found.push(db.search_batch(name, &queries, 10, &params).unwrap());
            }
            answers.push(found);
        }
        let differ = answers[0]
            .iter()
            .flatten()
            .zip(answers[1].iter().flatten())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differ, 0,
            "{dim} dimensions: {differ} queries answered differently"
        );
        for name in ["cos", "l2"] {
            let files = |d: &tempfile::TempDir| {
                let dir = d.path().join("collections").join(name);
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
                names.sort();
                names
                    .into_iter()
                    .map(|f| (std::fs::read(dir.join(&f)).unwrap(), f))
                    .collect::<Vec<_>>()
            };
            let [a, b] = dirs.each_ref().map(files);
            assert!(
                a.iter().any(|(_, f)| f.starts_with("graph")),
                "no graph file"
            );
            for ((x, f), (y, _)) in a.iter().zip(&b) {
                assert!(x == y, "{dim} dimensions: {name}/{f} differs");
            }
            assert_eq!(a.len(), b.len());
        }
    }
}
