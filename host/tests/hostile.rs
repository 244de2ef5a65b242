//! Hostile input, natively and through the component: every case gets a typed error (or a
//! documented no-op), nothing already stored is lost, and the database stays usable.
//! `cargo test --release -p veles-host --test hostile -- --nocapture` prints the table.

use serde_json::{Value, json};
use std::path::Path;
use veles::{
    CollectionConfig, Error, Filter, Limit, MAX_DIMENSION, MAX_EF, MAX_K, Metric, Point,
    SearchParams, StorageError, VectorProblem,
};
use veles_host::{Backend, HostError, Runtime, backend};

type Check = fn(&Error) -> bool;

fn engine(e: HostError) -> Error {
    match e {
        HostError::Engine(e) => e,
        other => panic!("expected a typed engine error, got {other}"),
    }
}

fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!({ "a": v });
    }
    v
}

/// A database with collection "c" (4-d euclidean) holding points 1..=3, flushed.
fn seeded(dir: &Path, native: bool, rt: &Runtime) -> Box<dyn Backend> {
    let mut db = backend::open(dir, native, Some(rt)).unwrap();
    db.create_collection("c", CollectionConfig::new(4, Metric::Euclidean))
        .unwrap();
    let pts: Vec<Point> = (1..=3)
        .map(|i| Point::new(i, vec![i as f32; 4]).with_payload(json!({"n": i})))
        .collect();
    db.upsert("c", &pts).unwrap();
    db.flush("c").unwrap();
    db
}

/// Nothing stored was lost and the database still takes writes and answers.
fn still_usable(db: &mut dyn Backend, case: &str) {
    let got = db.get("c", &[1, 2, 3]).unwrap();
    assert!(
        got.iter().all(Option::is_some),
        "{case}: stored points lost"
    );
    assert_eq!(got[1].as_ref().unwrap().vector, vec![2.0; 4], "{case}");
    db.upsert("c", &[Point::new(9, vec![9.0; 4])])
        .unwrap_or_else(|e| panic!("{case}: no longer takes writes: {e}"));
    let hits = db
        .search("c", &[9.0; 4], 1, &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].id, 9, "{case}");
    db.delete("c", &[9]).unwrap();
}

#[test]
fn hostile_calls_get_typed_errors_and_lose_nothing() {
    let rt = Runtime::new().unwrap();
    type Call = Box<dyn Fn(&mut dyn Backend) -> Result<(), HostError>>;
    let search = |q: Vec<f32>, k: usize, ef: Option<usize>| -> Call {
        Box::new(move |db| {
            let p = SearchParams::default().with_ef(ef);
            db.search("c", &q, k, &p).map(drop)
        })
    };
    let upsert = |points: Vec<Point>| -> Call { Box::new(move |db| db.upsert("c", &points)) };
    let create = |name: String, config: CollectionConfig| -> Call {
        Box::new(move |db| db.create_collection(&name, config.clone()))
    };
    let cases: Vec<(&str, Call, Check)> = vec![
        (
            "NaN component",
            upsert(vec![Point::new(5, vec![1.0, f32::NAN, 0.0, 0.0])]),
            |e| {
                matches!(
                    e,
                    Error::InvalidVector {
                        problem: VectorProblem::NotFinite { index: 1 },
                        ..
                    }
                )
            },
        ),
        (
            "infinite component",
            upsert(vec![Point::new(5, vec![f32::INFINITY, 0.0, 0.0, 0.0])]),
            |e| {
                matches!(
                    e,
                    Error::InvalidVector {
                        problem: VectorProblem::NotFinite { index: 0 },
                        ..
                    }
                )
            },
        ),
        ("NaN in a query", search(vec![f32::NAN; 4], 3, None), |e| {
            matches!(e, Error::InvalidVector { id: None, .. })
        }),
        (
            "finite but overflowing (3e38 x 4)",
            upsert(vec![Point::new(5, vec![3e38; 4])]),
            |e| {
                matches!(
                    e,
                    Error::InvalidVector {
                        problem: VectorProblem::NormOverflow,
                        ..
                    }
                )
            },
        ),
        (
            "wrong dimension",
            upsert(vec![Point::new(5, vec![1.0; 3])]),
            |e| {
                matches!(
                    e,
                    Error::DimensionMismatch {
                        expected: 4,
                        actual: 3,
                        id: Some(5)
                    }
                )
            },
        ),
        (
            "wrong query dimension",
            search(vec![1.0; 7], 3, None),
            |e| {
                matches!(
                    e,
                    Error::DimensionMismatch {
                        expected: 4,
                        actual: 7,
                        id: None
                    }
                )
            },
        ),
        (
            "bad point in a batch: nothing of the batch applies",
            upsert(vec![
                Point::new(1, vec![0.0; 4]),
                Point::new(6, vec![0.0; 2]),
            ]),
            |e| matches!(e, Error::DimensionMismatch { .. }),
        ),
        (
            "zero dimension",
            create("z".into(), CollectionConfig::new(0, Metric::Cosine)),
            |e| matches!(e, Error::InvalidConfig(_)),
        ),
        (
            "dimension above the maximum",
            create(
                "z".into(),
                CollectionConfig::new(MAX_DIMENSION + 1, Metric::Cosine),
            ),
            |e| {
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: Limit::Dimension,
                        ..
                    }
                )
            },
        ),
        (
            "HNSW M = 0",
            create(
                "z".into(),
                CollectionConfig::new(4, Metric::Dot).with_hnsw(0, 200),
            ),
            |e| matches!(e, Error::InvalidConfig(_)),
        ),
        ("k = 0", search(vec![1.0; 4], 0, None), |e| {
            matches!(e, Error::InvalidArgument(_))
        }),
        (
            "k = 4 billion",
            search(vec![1.0; 4], u32::MAX as usize, None),
            |e| matches!(e, Error::LimitExceeded { limit: Limit::K, max, .. } if *max == MAX_K as u64),
        ),
        (
            "ef = 4 billion",
            search(vec![1.0; 4], 3, Some(u32::MAX as usize)),
            |e| matches!(e, Error::LimitExceeded { limit: Limit::Ef, max, .. } if *max == MAX_EF as u64),
        ),
        (
            "payload that is not an object",
            upsert(vec![
                Point::new(5, vec![1.0; 4]).with_payload(json!([1, 2])),
            ]),
            |e| matches!(e, Error::InvalidPayload { .. }),
        ),
        (
            "payload nested 1,000 deep",
            upsert(vec![Point::new(5, vec![1.0; 4]).with_payload(nested(1000))]),
            |e| {
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: Limit::PayloadDepth,
                        ..
                    } | Error::InvalidPayload { .. }
                )
            },
        ),
        (
            "payload of 2 MiB",
            upsert(vec![
                Point::new(5, vec![1.0; 4]).with_payload(json!({"s": "x".repeat(2 << 20)})),
            ]),
            |e| {
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: Limit::PayloadBytes,
                        ..
                    }
                )
            },
        ),
        (
            "unknown collection",
            Box::new(|db: &mut dyn Backend| db.get("nope", &[1]).map(drop)),
            |e| matches!(e, Error::CollectionNotFound(_)),
        ),
        (
            "name with /",
            create("a/b".into(), CollectionConfig::new(4, Metric::Dot)),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "name ..",
            create("..".into(), CollectionConfig::new(4, Metric::Dot)),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "name with NUL",
            create("a\0b".into(), CollectionConfig::new(4, Metric::Dot)),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "name of 1,000 characters",
            create("n".repeat(1000), CollectionConfig::new(4, Metric::Dot)),
            |e| matches!(e, Error::InvalidName { .. }),
        ),
        (
            "an existing name",
            create("c".into(), CollectionConfig::new(4, Metric::Dot)),
            |e| matches!(e, Error::CollectionExists(_)),
        ),
    ];
    let mut table = Vec::new();
    for (case, call, ok) in &cases {
        let mut row = vec![case.to_string()];
        for native in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut db = seeded(dir.path(), native, &rt);
            let e = engine(call(db.as_mut()).expect_err(case));
            assert!(ok(&e), "{case} ({}): unexpected error {e:?}", db.kind());
            row.push(e.to_string());
            still_usable(db.as_mut(), case);
            // The batch that failed left nothing behind.
            assert_eq!(db.get("c", &[5, 6]).unwrap(), vec![None, None], "{case}");
        }
        table.push(row);
    }

    // Accepted by design (documented), not errors.
    for native in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut db = seeded(dir.path(), native, &rt);
        db.upsert("c", &[]).unwrap(); // an empty batch is a no-op
        db.upsert(
            "c",
            &[Point::new(7, vec![1.0; 4]), Point::new(7, vec![2.0; 4])],
        )
        .unwrap(); // duplicate ids: the later one wins
        assert_eq!(
            db.get("c", &[7]).unwrap()[0].as_ref().unwrap().vector,
            vec![2.0; 4]
        );
        let f = Filter::from_json_str(r#"{"key": "missing", "eq": 1}"#).unwrap();
        let p = SearchParams::default().with_filter(Some(&f));
        assert!(db.search("c", &[1.0; 4], 3, &p).unwrap().is_empty()); // filter on a missing key
        still_usable(db.as_mut(), "accepted cases");
    }
    table.push(vec![
        "empty batch / duplicate ids / filter on a missing key".into(),
        "accepted: no-op / last wins / no match".into(),
        "same".into(),
    ]);
    // Input the CLI parses before the engine sees it.
    assert!(matches!(
        "cosinus".parse::<Metric>(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Filter::from_json_str(r#"{"key": "a", "eq": "#),
        Err(Error::InvalidFilter(_))
    ));
    let deep = format!("{}{}", r#"{"not": "#.repeat(100), "}".repeat(100));
    assert!(
        Filter::from_json_str(&deep).is_err(),
        "a filter nested 100 deep"
    );

    eprintln!("| case | native | component |\n|---|---|---|");
    for r in table {
        eprintln!("| {} | {} | {} |", r[0], r[1], r[2]);
    }
}

/// Damaged or foreign files: each open gives a typed error naming the file, and the other
/// collections stay usable.
#[test]
fn damaged_files_get_typed_errors_natively_and_in_the_component() {
    let rt = Runtime::new().unwrap();
    type Damage = fn(&Path);
    let cases: [(&str, Damage, Check); 4] = [
        (
            "a WAL frame whose length field says 4 GiB",
            |d| {
                // The last frame's length: a torn tail, dropped on open.
                let wal = d.join("collections/c/wal");
                let mut b = std::fs::read(&wal).unwrap();
                let last = find_last_frame(&b);
                b[last..last + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                std::fs::write(&wal, &b).unwrap();
            },
            |_| true,
        ),
        (
            "a truncated checkpoint",
            |d| {
                let cp = d.join("collections/c/checkpoint");
                let b = std::fs::read(&cp).unwrap();
                std::fs::write(&cp, &b[..b.len() / 2]).unwrap();
            },
            |e| matches!(e, Error::Storage(StorageError::Corrupted { file, .. }) if file == "collections/c/checkpoint"),
        ),
        (
            "a database of a future format version",
            |d| {
                let mut m = std::fs::read(d.join("VELES")).unwrap();
                m[8] = 9;
                let crc = crc32fast::hash(&m[..12]);
                m[12..].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(d.join("VELES"), &m).unwrap();
            },
            |e| {
                matches!(
                    e,
                    Error::Storage(StorageError::UnsupportedVersion { found: 9, .. })
                )
            },
        ),
        (
            "a vector file of a future format version",
            |d| {
                let v = d.join("collections/c/vectors-1");
                let mut b = std::fs::read(&v).unwrap();
                b[8] = 7;
                let crc = crc32fast::hash(&b[..24]);
                b[24..28].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&v, &b).unwrap();
            },
            |e| {
                matches!(
                    e,
                    Error::Storage(StorageError::UnsupportedVersion { found: 7, .. })
                )
            },
        ),
    ];
    for (case, damage, ok) in cases {
        for native in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            {
                let mut db = seeded(dir.path(), native, &rt);
                db.create_collection("other", CollectionConfig::new(2, Metric::Dot))
                    .unwrap();
                db.upsert("other", &[Point::new(1, vec![1.0, 2.0])])
                    .unwrap();
                db.flush("other").unwrap();
                // One more record in c's log, to be damaged.
                db.upsert("c", &[Point::new(4, vec![4.0; 4])]).unwrap();
                db.flush("c").unwrap();
            }
            damage(dir.path());
            let mode = if native { "native" } else { "component" };
            let opened = backend::open(dir.path(), native, Some(&rt));
            let mut db = match opened {
                Err(e) => {
                    let e = match e.downcast::<HostError>() {
                        Ok(h) => engine(h),
                        Err(e) => e.downcast::<Error>().expect("a typed error"),
                    };
                    assert!(ok(&e), "{case} ({mode}): {e:?}");
                    eprintln!("{case} ({mode}): {e}");
                    continue;
                }
                Ok(db) => db,
            };
            match db.get("c", &[1, 2, 3, 4]) {
                Err(e) => {
                    let e = engine(e);
                    assert!(ok(&e), "{case} ({mode}): {e:?}");
                    eprintln!("{case} ({mode}): {e}");
                }
                Ok(points) => {
                    // The torn record is gone; everything before it is there.
                    assert!(points[..3].iter().all(Option::is_some), "{case} ({mode})");
                    assert!(points[3].is_none(), "{case} ({mode})");
                    let s = db.stats("c").unwrap();
                    assert!(s.recovery.dropped_bytes > 0, "{case} ({mode})");
                    eprintln!(
                        "{case} ({mode}): dropped as a torn tail ({} bytes)",
                        s.recovery.dropped_bytes
                    );
                    still_usable(db.as_mut(), case);
                }
            }
            // The other collection is unaffected.
            assert_eq!(
                db.get("other", &[1]).unwrap()[0].as_ref().unwrap().vector,
                vec![1.0, 2.0]
            );
        }
    }
}

/// The offset of the last frame in a log image (frames are 8-aligned and start after the
/// 32-byte header; each begins with its payload length).
fn find_last_frame(b: &[u8]) -> usize {
    let mut at = 32;
    let mut last = at;
    while at + 4 <= b.len() {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let size = (25 + len + 4).div_ceil(8) * 8;
        if at + size > b.len() {
            break;
        }
        last = at;
        at += size;
    }
    last
}
