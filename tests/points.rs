//! Payload indexes, the query planner and the points API: what they return is what the
//! unindexed engine returns, across reopens and compactions.

use serde_json::{Value, json};
use veles::testing::Rng;
use veles::{
    CollectionConfig, Database, Error, Filter, Include, IndexKind, Metric, PlanKind, Point,
    SearchParams,
};

const N: u64 = 3000;
const DIM: usize = 16;

fn payload(i: u64) -> Value {
    json!({
        "bucket": i % 100,
        "tag": format!("t{}", i % 7),
        "price": (i % 50) as f64 + 0.5,
        "flag": i.is_multiple_of(3),
        "big": u64::MAX - i % 4,
        "tags": [format!("a{}", i % 5), format!("b{}", i % 11)],
    })
}

fn points(rng: &mut Rng) -> Vec<Point> {
    (0..N)
        .map(|i| Point::new(i, rng.clustered(DIM)).with_payload(payload(i)))
        .collect()
}

fn filters() -> Vec<Filter> {
    vec![
        Filter::eq("bucket", 7),
        Filter::lt("bucket", 20),
        Filter::is_in("bucket", vec![json!(1), json!(2), json!(3)]),
        Filter::eq("tag", "t3"),
        Filter::ne("tag", "t3"),
        Filter::gte("price", 40.5),
        Filter::eq("flag", true),
        Filter::eq("big", u64::MAX - 1),
        Filter::gt("big", u64::MAX - 1),
        Filter::eq("tags", "b4"),
        Filter::exists("nope"),
        Filter::And(vec![Filter::eq("tag", "t1"), Filter::lt("bucket", 50)]),
        Filter::Or(vec![Filter::eq("bucket", 5), Filter::eq("tag", "t6")]),
        !Filter::lt("bucket", 98),
        // Partly indexed: `unindexed` has no index.
        Filter::And(vec![Filter::eq("bucket", 9), Filter::exists("unindexed")]),
    ]
}

fn index_all(c: &veles::Collection) {
    for (key, kind) in [
        ("bucket", IndexKind::Integer),
        ("tag", IndexKind::Keyword),
        ("price", IndexKind::Float),
        ("flag", IndexKind::Bool),
        ("big", IndexKind::Integer),
        ("tags", IndexKind::Keyword),
        ("nope", IndexKind::Exists),
    ] {
        assert!(c.create_index(key, kind).unwrap());
    }
    assert!(!c.create_index("bucket", IndexKind::Integer).unwrap());
}

/// The exact filtered top-k, by brute force over the model.
fn truth(pts: &[Point], q: &[f32], f: &Filter, k: usize) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> = pts
        .iter()
        .filter(|p| f.matches(p.payload.as_ref()))
        .map(|p| {
            let d: f32 = p.vector.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            (d, p.id)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

#[test]
fn indexed_filters_give_the_unindexed_answers_with_exact_counts_and_k_hits() {
    let mut rng = Rng::new(11);
    let pts = points(&mut rng);
    let db = Database::in_memory();
    let plain = db
        .create_collection(
            "plain",
            CollectionConfig::new(DIM as u32, Metric::Euclidean),
        )
        .unwrap();
    let indexed = db
        .create_collection(
            "indexed",
            CollectionConfig::new(DIM as u32, Metric::Euclidean),
        )
        .unwrap();
    plain.upsert(&pts).unwrap();
    indexed.upsert(&pts[..N as usize / 2]).unwrap();
    index_all(&indexed); // half before, half after: built, then maintained
    indexed.upsert(&pts[N as usize / 2..]).unwrap();
    let queries: Vec<Vec<f32>> = (0..20).map(|_| rng.clustered(DIM)).collect();
    let (mut hit, mut total) = (0usize, 0usize);
    for f in filters() {
        let want = pts.iter().filter(|p| f.matches(p.payload.as_ref())).count() as u64;
        assert_eq!(plain.count(Some(&f)).unwrap(), want, "{f:?}");
        assert_eq!(indexed.count(Some(&f)).unwrap(), want, "{f:?}");
        let params = SearchParams::default().with_filter(Some(&f));
        let plan = indexed.plan(10, &params).unwrap();
        if plan.matches.is_some() {
            assert_eq!(plan.matches, Some(want), "{f:?}");
        }
        for q in &queries {
            let got: Vec<u64> = indexed
                .search_with(q, 10, &params)
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            let exact = truth(&pts, q, &f, 10);
            assert_eq!(got.len(), exact.len(), "{f:?}: k hits when k match");
            hit += got.iter().filter(|id| exact.contains(id)).count();
            total += exact.len();
            let exact_scan: Vec<u64> = indexed
                .search_with(q, 10, &params.with_exact(true))
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(exact_scan, exact, "{f:?}: the exact plan is exact");
        }
    }
    let recall = hit as f64 / total as f64;
    assert!(recall >= 0.97, "filtered recall@10 {recall}");

    // Logically equal filters: the same answers.
    let q = &queries[0];
    let a = Filter::is_in("bucket", vec![json!(3), json!(4)]);
    let b = Filter::Or(vec![Filter::eq("bucket", 4), Filter::eq("bucket", 3.0)]);
    let run = |f: &Filter| indexed.search(q, 10, Some(f)).unwrap();
    assert_eq!(run(&a), run(&b));

    // Plans: a 1 % filter scores its matches; none walks the graph.
    let one = Filter::eq("bucket", 7);
    let p = indexed
        .plan(10, &SearchParams::default().with_filter(Some(&one)))
        .unwrap();
    assert_eq!((p.kind, p.matches), (PlanKind::IndexedScan, Some(30)));
    let none = indexed.plan(10, &SearchParams::default()).unwrap();
    assert_eq!(none.kind, PlanKind::Graph);
}

#[test]
fn indexes_and_payloads_survive_reopen_checkpoint_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(5);
    let pts = points(&mut rng);
    let cfg = CollectionConfig::new(DIM as u32, Metric::Cosine);
    {
        let db = Database::open(dir.path()).unwrap();
        let c = db.create_collection("c", cfg).unwrap();
        c.upsert(&pts).unwrap();
        index_all(&c);
        c.checkpoint().unwrap();
        c.delete_by_filter(&Filter::eq("tag", "t0")).unwrap();
        let fields = json!({"bucket": 1000, "extra": "x"});
        assert_eq!(
            c.set_payload(&[1, 2, 99_999], fields.as_object().unwrap())
                .unwrap(),
            2
        );
        c.delete_payload_keys(&[3], &["tags".into()]).unwrap();
        c.overwrite_payload(&[4], None).unwrap();
        c.flush().unwrap(); // in the log only: replay must restore it all
    }
    let expect = |c: &veles::Collection| {
        let live = (0..N).filter(|i| i % 7 != 0).count() as u64;
        assert_eq!(c.count(None).unwrap(), live);
        assert_eq!(c.count(Some(&Filter::eq("tag", "t0"))).unwrap(), 0);
        assert_eq!(c.count(Some(&Filter::eq("bucket", 1000))).unwrap(), 2);
        assert_eq!(c.count(Some(&Filter::eq("extra", "x"))).unwrap(), 2);
        let p = c.get(&[1, 3, 4]).unwrap();
        assert_eq!(
            p[0].as_ref().unwrap().payload.as_ref().unwrap()["bucket"],
            1000
        );
        assert!(
            p[1].as_ref()
                .unwrap()
                .payload
                .as_ref()
                .unwrap()
                .get("tags")
                .is_none()
        );
        assert_eq!(p[2].as_ref().unwrap().payload, None);
        assert_eq!(c.indexes().unwrap().len(), 7);
        assert!(
            c.check().unwrap().is_ok(),
            "{:?}",
            c.check().unwrap().problems
        );
    };
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("c").unwrap();
    expect(&c);
    c.checkpoint().unwrap();
    c.compact().unwrap();
    expect(&c);
    drop((c, db));
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("c").unwrap();
    expect(&c);
    assert!(c.drop_index("nope", IndexKind::Exists).unwrap());
    assert!(!c.drop_index("nope", IndexKind::Exists).unwrap());
    assert!(matches!(
        c.create_index("a..b", IndexKind::Keyword),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_checkpoint_writes_only_the_payloads_that_changed_and_payloads_cost_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(4, Metric::Dot))
        .unwrap();
    let pts: Vec<Point> = (0..20_000u64)
        .map(|i| {
            Point::new(i, vec![i as f32, 1.0, 0.0, 0.0]).with_payload(json!({"bucket": i % 100}))
        })
        .collect();
    c.upsert(&pts).unwrap();
    c.checkpoint().unwrap();
    let s = c.stats().unwrap();
    let json_bytes: u64 = pts
        .iter()
        .map(|p| {
            serde_json::to_string(p.payload.as_ref().unwrap())
                .unwrap()
                .len() as u64
        })
        .sum();
    assert_eq!(s.payload_bytes, json_bytes);
    assert!(
        s.payload_memory <= 2 * json_bytes,
        "payload memory {} for {json_bytes} bytes of JSON",
        s.payload_memory
    );
    let before = s.payload_file_bytes;
    let fields = json!({"bucket": 7});
    c.set_payload(&[123], fields.as_object().unwrap()).unwrap();
    c.checkpoint().unwrap();
    let grown = c.stats().unwrap().payload_file_bytes - before;
    assert!(grown < 64, "one changed payload appended {grown} bytes");
    assert_eq!(
        c.get(&[123]).unwrap()[0].as_ref().unwrap().payload,
        Some(json!({"bucket": 7}))
    );
}

#[test]
fn scroll_lists_every_point_once_by_id_and_reads_leave_out_what_is_not_asked() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Euclidean))
        .unwrap();
    let ids: Vec<u64> = (0..2500u64).map(|i| i * 7 % 2503).collect();
    let pts: Vec<Point> = ids
        .iter()
        .map(|&i| Point::new(i, vec![i as f32, 0.0]).with_payload(json!({"odd": i % 2 == 1})))
        .collect();
    c.upsert(&pts).unwrap();
    let mut seen = Vec::new();
    let mut at = Some(0);
    while let Some(start) = at {
        let page = c.scroll(start, 333, None, Include::ALL).unwrap();
        assert!(page.points.len() <= 333);
        seen.extend(page.points.iter().map(|p| p.id));
        at = page.next;
    }
    let mut want = ids.clone();
    want.sort_unstable();
    assert_eq!(seen, want);
    let odd = Filter::eq("odd", true);
    let page = c
        .scroll(0, 10_000, Some(&odd), Include::new(false, false))
        .unwrap();
    assert!(
        page.points
            .iter()
            .all(|p| p.id % 2 == 1 && p.vector.is_empty() && p.payload.is_none())
    );
    assert_eq!(page.points.len() as u64, c.count(Some(&odd)).unwrap());
    assert!(c.scroll(0, 10_001, None, Include::ALL).is_err());

    // Score threshold (euclidean: lower is better), vectors on request, batches.
    let params = SearchParams::default()
        .with_score_threshold(Some(2.5))
        .with_include(Include::new(true, false));
    let hits = c.search_with(&[10.0, 0.0], 10, &params).unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.score <= 2.5));
    assert!(
        hits.iter()
            .all(|h| h.payload.is_none() && h.vector.as_ref().is_some_and(|v| v[0] == h.id as f32))
    );
    let qs: [&[f32]; 2] = [&[1.0, 0.0], &[500.0, 0.0]];
    let batch = c.search_batch(&qs, 3, &SearchParams::default()).unwrap();
    assert_eq!(batch[0], c.search(&[1.0, 0.0], 3, None).unwrap());
    assert_eq!(batch[1][0].id, 500);
    assert!(
        c.search_with(
            &[1.0, 0.0],
            3,
            &SearchParams::default().with_score_threshold(Some(f32::NAN))
        )
        .is_err()
    );
}

#[test]
fn reads_past_the_result_limit_are_refused_and_scroll_pages_stop_short_of_it() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Euclidean))
        .unwrap();
    let blob = "x".repeat(8 << 10);
    let pts: Vec<Point> = (0..10_000u64)
        .map(|i| Point::new(i, vec![i as f32, 0.0]).with_payload(json!({ "blob": blob })))
        .collect();
    for chunk in pts.chunks(2000) {
        c.upsert(chunk).unwrap();
    }
    let q: [&[f32]; 2] = [&[1.0, 0.0], &[2.0, 0.0]];
    let err = c
        .search_batch(&q, 10_000, &SearchParams::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: veles::Limit::ResultBytes,
                ..
            }
        ),
        "{err}"
    );
    // Without payloads the same batch fits.
    let lean = SearchParams::default().with_include(Include::new(false, false));
    assert_eq!(c.search_batch(&q, 10_000, &lean).unwrap()[1].len(), 10_000);
    let all: Vec<u64> = (0..10_000).collect();
    assert!(matches!(
        c.get(&all),
        Err(Error::LimitExceeded {
            limit: veles::Limit::ResultBytes,
            ..
        })
    ));
    let page = c.scroll(0, 10_000, None, Include::ALL).unwrap();
    let n = page.points.len();
    assert!(n > 1000 && n < 10_000, "{n}");
    assert_eq!(page.next, Some(n as u64));
}

/// Points 1: `{"n": -0.0}`, 2: `{"n": 0}`, 3: `{"n": 0.0}` are all zero: every condition
/// treats them alike, with or without an index, in counts, scrolls and every search plan.
#[test]
fn negative_zero_is_zero_in_every_filter_with_or_without_an_index() {
    let db = Database::in_memory();
    for indexed in [false, true] {
        let name = if indexed { "indexed" } else { "plain" };
        let c = db
            .create_collection(name, CollectionConfig::new(2, Metric::Euclidean))
            .unwrap();
        let zeros = [json!(-0.0), json!(0), json!(0.0)];
        let pts: Vec<Point> = zeros
            .iter()
            .enumerate()
            .map(|(i, z)| {
                Point::new(i as u64 + 1, vec![1.0, i as f32]).with_payload(json!({ "n": z }))
            })
            .collect();
        c.upsert(&pts).unwrap();
        if indexed {
            assert!(c.create_index("n", IndexKind::Float).unwrap());
        }
        let all = vec![1, 2, 3];
        for (f, want) in [
            (Filter::eq("n", 0), all.clone()),
            (Filter::eq("n", 0.0), all.clone()),
            (Filter::eq("n", -0.0), all.clone()),
            (Filter::gte("n", 0), all.clone()),
            (Filter::gte("n", 0.0), all.clone()),
            (Filter::lte("n", -0.0), all.clone()),
            (Filter::is_in("n", vec![json!(-0.0)]), all.clone()),
            (Filter::lt("n", 0), vec![]),
            (Filter::gt("n", -0.0), vec![]),
            (Filter::ne("n", 0.0), vec![]),
        ] {
            assert_eq!(
                c.count(Some(&f)).unwrap(),
                want.len() as u64,
                "{name} {f:?}"
            );
            let page = c
                .scroll(0, 10, Some(&f), Include::default())
                .unwrap()
                .points
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>();
            assert_eq!(page, want, "{name} {f:?}: scroll");
            for exact in [false, true] {
                let params = SearchParams::default()
                    .with_filter(Some(&f))
                    .with_exact(exact);
                let mut ids: Vec<u64> = c
                    .search_with(&[1.0, 0.0], 10, &params)
                    .unwrap()
                    .iter()
                    .map(|h| h.id)
                    .collect();
                ids.sort_unstable();
                assert_eq!(ids, want, "{name} {f:?}: search (exact {exact})");
            }
        }
    }
}

/// `Collection::points` yields every point passing the filter once, by id, over many pages,
/// and a write between pages shows in the pages after it.
#[test]
fn the_points_iterator_lists_every_point_once_across_pages() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(3);
    c.upsert(&points(&mut rng)).unwrap();
    let all: Vec<u64> = c
        .points(None, Include::new(false, false))
        .map(|p| p.unwrap().id)
        .collect();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
    let tagged = c.points(Some(Filter::eq("tag", "t3")), Include::default());
    let got: Vec<u64> = tagged.map(|p| p.unwrap().id).collect();
    let want: Vec<u64> = (0..N).filter(|i| i % 7 == 3).collect();
    assert_eq!(got, want);
    // A point written past the first page while iterating shows up.
    let mut it = c.points(None, Include::new(false, false));
    assert_eq!(it.next().unwrap().unwrap().id, 0);
    c.upsert(&[Point::new(N + 5, rng.clustered(DIM))]).unwrap();
    assert_eq!(it.last().unwrap().unwrap().id, N + 5);
    // A bad filter is an error, then the end.
    let mut bad = c.points(Some(Filter::lt("a", json!([1]))), Include::default());
    assert!(bad.next().unwrap().is_err());
    assert!(bad.next().is_none());
}

/// `has_id` passes exactly the points with those ids, alone and combined, in every plan:
/// counts, scrolls, graph walks and exact scans, deletes; it survives the JSON and flat forms.
#[test]
fn has_id_passes_exactly_the_points_with_those_ids_in_every_path() {
    let mut rng = Rng::new(12);
    let pts = points(&mut rng);
    let db = Database::in_memory();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Euclidean))
        .unwrap();
    c.upsert(&pts).unwrap();
    index_all(&c);
    // 40 ids spread over the collection, and two that name no point.
    let few: Vec<u64> = (0..40u64)
        .map(|i| i * 71 % N)
        .chain([N + 5, u64::MAX])
        .collect();
    let many: Vec<u64> = (0..N).filter(|i| i % 3 != 0).collect();
    type Pass = Box<dyn Fn(&Point) -> bool>;
    let (f1, f2) = (few.clone(), few.clone());
    let (m1, m2) = (many.clone(), many.clone());
    let cases: Vec<(Filter, Pass)> = vec![
        (
            Filter::has_id(few.clone()),
            Box::new(move |p| f1.contains(&p.id)),
        ),
        (
            Filter::has_id(many.clone()),
            Box::new(move |p| m1.contains(&p.id)),
        ),
        (
            !Filter::has_id(few.clone()),
            Box::new(move |p| !f2.contains(&p.id)),
        ),
        (
            Filter::And(vec![Filter::has_id(many.clone()), Filter::eq("tag", "t3")]),
            Box::new(move |p| m2.contains(&p.id) && p.id % 7 == 3),
        ),
        (
            Filter::Or(vec![Filter::has_id([1, 2]), Filter::eq("bucket", 7)]),
            Box::new(|p| p.id < 3 && p.id > 0 || p.id % 100 == 7),
        ),
        (Filter::has_id([]), Box::new(|_| false)),
    ];
    let queries: Vec<Vec<f32>> = (0..5).map(|_| rng.clustered(DIM)).collect();
    for (f, pass) in &cases {
        assert_eq!(Filter::from_json(&f.to_json()).unwrap(), *f);
        assert_eq!(Filter::from_flat(&f.flatten()).unwrap(), *f);
        let want: Vec<u64> = pts.iter().filter(|p| pass(p)).map(|p| p.id).collect();
        assert_eq!(c.count(Some(f)).unwrap(), want.len() as u64, "{f:?}");
        let page = c
            .scroll(0, 10_000, Some(f), Include::new(false, false))
            .unwrap();
        assert_eq!(
            page.points.iter().map(|p| p.id).collect::<Vec<_>>(),
            want,
            "{f:?}"
        );
        let params = SearchParams::default().with_filter(Some(f));
        for q in &queries {
            let mut scored: Vec<(f32, u64)> = pts
                .iter()
                .filter(|p| pass(p))
                .map(|p| {
                    (
                        p.vector.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(),
                        p.id,
                    )
                })
                .collect();
            scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let exact: Vec<u64> = scored.iter().take(10).map(|s| s.1).collect();
            let ids = |params: &SearchParams| -> Vec<u64> {
                c.search_with(q, 10, params)
                    .unwrap()
                    .iter()
                    .map(|h| h.id)
                    .collect()
            };
            assert_eq!(ids(&params.with_exact(true)), exact, "{f:?}");
            let walked = ids(&params);
            assert_eq!(walked.len(), exact.len(), "{f:?}: k hits when k match");
            assert!(walked.iter().all(|id| want.contains(id)), "{f:?}");
        }
    }
    assert_eq!(
        c.delete_by_filter(&Filter::has_id(few.clone())).unwrap(),
        40
    );
    assert_eq!(c.count(Some(&Filter::has_id(few))).unwrap(), 0);
    assert_eq!(c.len().unwrap(), N as usize - 40);
}
