//! The public API: behaviour and failure paths, on every kind of directory.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use veles::region::{FsDirectory, MemoryDirectory, RegionBackend};
use veles::{
    CollectionConfig, Database, Error, Filter, Limit, Metric, Options, Point, StorageError,
    VectorProblem,
};

fn cfg(dim: u32, metric: Metric) -> CollectionConfig {
    CollectionConfig::new(dim, metric)
}

#[test]
fn upsert_get_delete_round_trip() {
    let db = Database::in_memory();
    let c = db
        .create_collection("c", cfg(3, Metric::Euclidean))
        .unwrap();
    c.upsert(&[
        Point::new(1, vec![1.0, 2.0, 3.0]).with_payload(json!({"a": 1})),
        Point::new(2, vec![4.0, 5.0, 6.0]),
    ])
    .unwrap();
    assert_eq!(c.len().unwrap(), 2);
    let got = c.get(&[2, 1, 99]).unwrap();
    assert_eq!(got[0].as_ref().unwrap().vector, vec![4.0, 5.0, 6.0]);
    assert_eq!(got[1].as_ref().unwrap().payload, Some(json!({"a": 1})));
    assert!(got[2].is_none());

    // Update in place: same slot count, new vector and payload.
    c.upsert(&[Point::new(1, vec![0.0, 0.0, 1.0])]).unwrap();
    let p = c.get(&[1]).unwrap().remove(0).unwrap();
    assert_eq!((p.vector, p.payload), (vec![0.0, 0.0, 1.0], None));
    assert_eq!(c.stats().unwrap().slots, 2);

    assert_eq!(c.delete(&[1, 1, 42]).unwrap(), 1);
    assert_eq!(c.len().unwrap(), 1);
    assert!(c.get(&[1]).unwrap()[0].is_none());
    // The freed slot is reused.
    c.upsert(&[Point::new(3, vec![1.0, 1.0, 1.0])]).unwrap();
    assert_eq!(c.stats().unwrap().slots, 2);
}

#[test]
fn duplicate_ids_in_one_batch_last_one_wins() {
    let db = Database::in_memory();
    let c = db.create_collection("c", cfg(2, Metric::Dot)).unwrap();
    c.upsert(&[Point::new(5, vec![1.0, 0.0]), Point::new(5, vec![0.0, 1.0])])
        .unwrap();
    assert_eq!(c.len().unwrap(), 1);
    assert_eq!(
        c.get(&[5]).unwrap()[0].as_ref().unwrap().vector,
        vec![0.0, 1.0]
    );
}

#[test]
fn bad_input_gets_typed_errors_and_loses_nothing() {
    let db = Database::in_memory();
    let c = db.create_collection("c", cfg(2, Metric::Cosine)).unwrap();
    c.upsert(&[Point::new(1, vec![1.0, 0.0]).with_payload(json!({"k": "v"}))])
        .unwrap();
    c.flush().unwrap();

    // A batch with one bad point is refused whole.
    let e = c
        .upsert(&[Point::new(2, vec![0.0, 1.0]), Point::new(3, vec![1.0])])
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::DimensionMismatch {
                expected: 2,
                actual: 1,
                id: Some(3)
            }
        ),
        "{e}"
    );
    let e = c.upsert(&[Point::new(2, vec![f32::NAN, 1.0])]).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidVector {
            id: Some(2),
            problem: VectorProblem::NotFinite { index: 0 }
        }
    ));
    let e = c.upsert(&[Point::new(2, vec![0.0, 0.0])]).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidVector {
            problem: VectorProblem::ZeroNorm,
            ..
        }
    ));
    let e = c
        .upsert(&[Point::new(2, vec![0.0, 1.0]).with_payload(json!("not an object"))])
        .unwrap_err();
    assert!(matches!(e, Error::InvalidPayload { id: Some(2), .. }));
    assert_eq!(c.len().unwrap(), 1);
    assert!(c.get(&[2]).unwrap()[0].is_none());

    assert!(matches!(
        c.search(&[1.0], 1, None),
        Err(Error::DimensionMismatch { id: None, .. })
    ));
    assert!(matches!(
        c.search(&[1.0, f32::INFINITY], 1, None),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        c.search(&[1.0, 0.0], 0, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.search(&[1.0, 0.0], 1_000_000, None),
        Err(Error::LimitExceeded {
            limit: Limit::K,
            ..
        })
    ));
    let bad = Filter::lt("k", json!({"obj": 1}));
    assert!(matches!(
        c.search(&[1.0, 0.0], 1, Some(&bad)),
        Err(Error::InvalidFilter(_))
    ));

    assert!(matches!(
        db.collection("missing"),
        Err(Error::CollectionNotFound(_))
    ));
    assert!(matches!(
        db.create_collection("c", cfg(2, Metric::Dot)),
        Err(Error::CollectionExists(_))
    ));
    for name in ["../escape", "a/b", "..", "", "x\0y", &"n".repeat(1000)] {
        assert!(
            matches!(
                db.create_collection(name, cfg(2, Metric::Dot)),
                Err(Error::InvalidName { .. })
            ),
            "{name:?}"
        );
        assert!(matches!(
            db.collection(name),
            Err(Error::InvalidName { .. })
        ));
    }
    assert!(matches!(
        db.create_collection("z", cfg(0, Metric::Dot)),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        db.create_collection("z", cfg(veles::MAX_DIMENSION + 1, Metric::Dot)),
        Err(Error::LimitExceeded {
            limit: Limit::Dimension,
            ..
        })
    ));

    // Everything stored before is intact and the collection still works.
    let p = c.get(&[1]).unwrap().remove(0).unwrap();
    assert_eq!(p.payload, Some(json!({"k": "v"})));
    c.upsert(&[Point::new(9, vec![0.0, 1.0])]).unwrap();
    assert_eq!(c.search(&[0.0, 1.0], 1, None).unwrap()[0].id, 9);
    assert_eq!(db.list().unwrap(), vec!["c"]);
}

#[test]
fn empty_batches_are_no_ops() {
    let db = Database::in_memory();
    let c = db.create_collection("c", cfg(2, Metric::Dot)).unwrap();
    let before = c.stats().unwrap().wal_bytes;
    c.upsert(&[]).unwrap();
    assert_eq!(c.delete(&[]).unwrap(), 0);
    assert_eq!(c.stats().unwrap().wal_bytes, before);
}

#[test]
fn dropped_collections_vanish_and_their_handles_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db.create_collection("gone", cfg(2, Metric::Dot)).unwrap();
    c.upsert(&[Point::new(1, vec![1.0, 1.0])]).unwrap();
    db.create_collection("kept", cfg(2, Metric::Dot)).unwrap();
    db.drop_collection("gone").unwrap();
    assert!(matches!(
        c.upsert(&[Point::new(2, vec![1.0, 1.0])]),
        Err(Error::CollectionNotFound(_))
    ));
    assert!(matches!(
        c.search(&[1.0, 1.0], 1, None),
        Err(Error::CollectionNotFound(_))
    ));
    assert!(matches!(
        db.drop_collection("gone"),
        Err(Error::CollectionNotFound(_))
    ));
    assert_eq!(db.list().unwrap(), vec!["kept"]);
    assert!(!dir.path().join("collections/gone").exists());
    // The name can be used again, starting empty.
    let again = db
        .create_collection("gone", cfg(3, Metric::Euclidean))
        .unwrap();
    assert!(again.is_empty().unwrap());
    // Collection handles keep the directory (and its lock) alive, like open files.
    drop((again, db));
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.list().unwrap(), vec!["gone", "kept"]);
    assert_eq!(db.collection("gone").unwrap().config().dimension, 3);
}

/// Writes, flushes, reopens; then writes without flushing and "kills" the process (drops the
/// handle without any flush): the OS still has the log, so recovery replays it.
fn persistence_scenario(open: &dyn Fn() -> Database) {
    {
        let db = open();
        let c = db.create_collection("p", cfg(4, Metric::Cosine)).unwrap();
        let points: Vec<Point> = (0..300)
            .map(|i| {
                Point::new(i, vec![1.0 + i as f32, 2.0, 3.0, 4.0]).with_payload(json!({"i": i}))
            })
            .collect();
        c.upsert(&points).unwrap();
        c.delete(&[5, 6, 7]).unwrap();
        c.flush().unwrap();
        c.checkpoint().unwrap();
        c.upsert(&[Point::new(1000, vec![0.0, 0.0, 0.0, 1.0])])
            .unwrap();
        c.delete(&[8]).unwrap();
        c.upsert(&[Point::new(9, vec![0.0, 0.0, 1.0, 0.0]).with_payload(json!({"new": true}))])
            .unwrap();
    }
    let db = open();
    let c = db.collection("p").unwrap();
    assert_eq!(c.len().unwrap(), 300 - 4 + 1);
    let s = c.stats().unwrap();
    assert_eq!(s.recovery.replayed_records, 3);
    assert_eq!(s.recovery.dropped_bytes, 0);
    assert!(c.get(&[5]).unwrap()[0].is_none());
    assert!(c.get(&[8]).unwrap()[0].is_none());
    let p9 = c.get(&[9]).unwrap().remove(0).unwrap();
    assert_eq!(p9.payload, Some(json!({"new": true})));
    assert_eq!(p9.vector, vec![0.0, 0.0, 1.0, 0.0]);
    let hits = c.search(&[0.0, 0.0, 0.0, 1.0], 1, None).unwrap();
    assert_eq!(hits[0].id, 1000);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    let hits = c
        .search(&[1.0, 2.0, 3.0, 4.0], 3, Some(&Filter::lt("i", 3)))
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![0, 1, 2]);
}

#[test]
fn data_survives_reopen_with_mmap_regions() {
    let dir = tempfile::tempdir().unwrap();
    persistence_scenario(&|| Database::open(dir.path()).unwrap());
}

#[test]
fn data_survives_reopen_with_file_regions() {
    let dir = tempfile::tempdir().unwrap();
    persistence_scenario(&|| {
        let d = FsDirectory::with_backend(dir.path(), RegionBackend::File).unwrap();
        Database::open_in(Arc::new(d), Options::default()).unwrap()
    });
}

#[test]
fn data_survives_reopen_with_cached_file_regions() {
    let dir = tempfile::tempdir().unwrap();
    persistence_scenario(&|| {
        let d = FsDirectory::with_backend(dir.path(), RegionBackend::CachedFile).unwrap();
        Database::open_in(Arc::new(d), Options::default()).unwrap()
    });
}

#[test]
fn data_survives_reopen_in_a_memory_directory() {
    let mem = MemoryDirectory::new();
    persistence_scenario(&|| Database::open_in(Arc::new(mem.clone()), Options::default()).unwrap());
}

#[test]
fn mmap_and_file_backends_write_byte_identical_files() {
    for metric in [Metric::Euclidean, Metric::Cosine] {
        backends_write_byte_identical_files(metric);
    }
}

fn backends_write_byte_identical_files(metric: Metric) {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for (root, backend) in [
        (a.path(), RegionBackend::Mmap),
        (b.path(), RegionBackend::File),
        (c.path(), RegionBackend::CachedFile),
    ] {
        let d = FsDirectory::with_backend(root, backend).unwrap();
        // Linking at flush: the background thread's steps would land between the deletes
        // at moments that differ from run to run.
        let options = Options::default().with_linking(veles::Linking::AtFlush);
        let db = Database::open_in(Arc::new(d), options).unwrap();
        let c = db.create_collection("x", cfg(8, metric)).unwrap();
        for round in 0..5u64 {
            let pts: Vec<Point> = (0..200)
                .map(|i| {
                    let v = (0..8).map(|j| ((i * 3 + j + round) % 11) as f32 + 1.0);
                    Point::new(i * 7 + round, v.collect())
                })
                .collect();
            c.upsert(&pts).unwrap();
            c.delete(&(0..50).map(|i| i * 3).collect::<Vec<_>>())
                .unwrap();
            c.flush().unwrap();
            if round == 2 {
                c.checkpoint().unwrap();
            }
        }
    }
    // Every file, compared across all three. Cosine collections choose links on the SQ8 copy
    // on every backend, so every file is the same; for other metrics the memory map and the
    // cached file lend their bytes, so both keep a graph, and the bare positional backend
    // (`VectorMemory::Quantized`) searches exactly and writes none.
    let (ma, fb, cc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert!(ma.keys().any(|f| f.contains(".crc")) && ma.keys().any(|f| f.contains("graph-")));
    assert_eq!(
        ma, cc,
        "{metric:?}: the mmap and cached-file backends wrote different files"
    );
    let no_graph = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(f, _)| metric == Metric::Cosine || !f.contains("graph-"))
            .map(|(f, b)| (f.clone(), b.clone()))
            .collect()
    };
    assert_eq!(
        no_graph(&ma),
        no_graph(&fb),
        "{metric:?}: the mmap and file backends wrote different files"
    );
}

fn tree(root: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    veles::testing::directory_image(root)
}

#[test]
fn the_log_is_checkpointed_when_it_passes_its_size_bound() {
    let mem = MemoryDirectory::new();
    let opts = Options::default().with_checkpoint_bytes(64 * 1024);
    let db = Database::open_in(Arc::new(mem.clone()), opts.clone()).unwrap();
    let c = db.create_collection("c", cfg(16, Metric::Dot)).unwrap();
    for i in 0..2000u64 {
        c.upsert(&[Point::new(i, vec![i as f32; 16])]).unwrap();
    }
    let s = c.stats().unwrap();
    assert!(s.generation > 1, "no checkpoint happened");
    assert!(
        s.wal_bytes < 64 * 1024 + 4096,
        "log grew to {}",
        s.wal_bytes
    );
    drop((c, db));
    let db = Database::open_in(Arc::new(mem), opts).unwrap();
    assert_eq!(db.collection("c").unwrap().len().unwrap(), 2000);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Database::open(dir.path()).unwrap();
    let e = Database::open(dir.path()).unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::Locked { .. })),
        "{e}"
    );
}

#[test]
fn a_corrupted_frame_in_the_middle_of_the_log_fails_the_open_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let c = db.create_collection("c", cfg(4, Metric::Dot)).unwrap();
        for i in 0..10 {
            c.upsert(&[Point::new(i, vec![i as f32; 4])]).unwrap();
            c.flush().unwrap();
        }
    }
    let wal = dir.path().join("collections/c/wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[200] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();
    let db = Database::open(dir.path()).unwrap();
    match db.collection("c") {
        Err(Error::Storage(StorageError::Corrupted { file, offset, .. })) => {
            assert_eq!(file, "collections/c/wal");
            assert!(offset <= 200 && offset > 0, "offset {offset}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // The database itself stays usable.
    db.create_collection("other", cfg(2, Metric::Dot)).unwrap();
}

#[test]
fn a_torn_log_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let c = db.create_collection("c", cfg(4, Metric::Dot)).unwrap();
        for i in 0..10 {
            c.upsert(&[Point::new(i, vec![i as f32; 4])]).unwrap();
        }
        c.flush().unwrap();
        // Not flushed: a crash may tear it.
        c.upsert(&[Point::new(10, vec![1.0; 4])]).unwrap();
    }
    let wal = dir.path().join("collections/c/wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 10).unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.len().unwrap(), 10);
    let r = c.stats().unwrap().recovery;
    assert_eq!(r.replayed_records, 10);
    assert!(r.dropped_bytes > 0 && r.torn_at.is_some());
    drop((c, db));
    // Cutting into what `flush` made durable is damage, not a torn tail.
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 10).unwrap();
    let e = Database::open(dir.path())
        .unwrap()
        .collection("c")
        .unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::Corrupted { .. })),
        "{e}"
    );
}

#[test]
fn a_damaged_checkpoint_is_reported_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_collection("c", cfg(4, Metric::Dot)).unwrap();
    }
    let cp = dir.path().join("collections/c/checkpoint");
    let bytes = std::fs::read(&cp).unwrap();
    std::fs::write(&cp, &bytes[..bytes.len() - 3]).unwrap();
    let db = Database::open(dir.path()).unwrap();
    let e = db.collection("c").unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::Corrupted { .. })),
        "{e}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn deleted_vectors_give_disk_blocks_back_once_they_leave_the_graph() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let c = db.create_collection("c", cfg(384, Metric::Dot)).unwrap();
    let n = 4000u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let pts: Vec<Point> = chunk
            .iter()
            .map(|&i| Point::new(i, vec![1.0 + i as f32; 384]))
            .collect();
        c.upsert(&pts).unwrap();
    }
    c.flush().unwrap();
    c.checkpoint().unwrap();
    let vectors = dir.path().join("collections/c/vectors-1");
    let before = std::fs::metadata(&vectors).unwrap().blocks();
    c.delete(&(0..n / 2).collect::<Vec<_>>()).unwrap();
    c.flush().unwrap();
    // Deleted points stay graph nodes (tombstones, which searches walk through): their bytes
    // stay until the graph drops them.
    let kept = std::fs::metadata(&vectors).unwrap().blocks();
    assert!(
        kept >= before * 9 / 10,
        "st_blocks {before} -> {kept} while tombstones"
    );
    // Past a quarter of tombstones the checkpoint rebuilds the graph without them.
    c.checkpoint().unwrap();
    let after = std::fs::metadata(&vectors).unwrap().blocks();
    eprintln!("vectors st_blocks before delete {before}, after deleting half: {after}");
    assert!(after < before * 6 / 10, "st_blocks {before} -> {after}");
    // The remaining half is intact.
    let hits = c.search(&vec![1.0 + (n - 1) as f32; 384], 1, None).unwrap();
    assert_eq!(hits[0].id, n - 1);
    assert_eq!(c.len().unwrap(), (n / 2) as usize);
}

/// A read-only open replays the log into memory and writes nothing: there is nothing for it to
/// flush, so `stats` never calls it unflushed (it once did, for the replayed points).
#[test]
fn a_read_only_open_of_a_replayed_log_is_not_unflushed() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Database::open(d.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclidean))
            .unwrap();
        c.upsert(&[Point::new(1, vec![1.0, 0.0])]).unwrap();
        c.checkpoint().unwrap();
        c.upsert(&[Point::new(1, vec![0.0, 1.0]), Point::new(2, vec![1.0, 1.0])])
            .unwrap();
        c.flush().unwrap();
    }
    let db = Database::open_read_only(d.path()).unwrap();
    let stats = db.collection("c").unwrap().stats().unwrap();
    assert_eq!(stats.recovery.replayed_records, 1);
    assert!(!stats.unflushed, "{stats:?}");
}
