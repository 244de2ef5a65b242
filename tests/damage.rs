//! Damage that no crash explains, one case per defect that once passed silently: each must be
//! reported (file and offset), never taken for "empty", and never served as data.

use std::path::Path;
use veles::{CollectionConfig, Database, Error, Metric, Options, Point, StorageError};

const DIM: usize = 8;

/// Point `i`: a distinct vector of its own (seeded by `i`).
fn point(i: u64) -> Point {
    Point::new(
        i,
        veles::testing::Rng::new(i).vector(Metric::Euclidean, DIM, 2),
    )
}

/// A database whose collection `c` holds `n` points, flushed in batches of 100 (so the log
/// has many frames), and nothing checkpointed after its creation (as a process killed after
/// its last flush leaves it: no checkpoint at close).
fn flushed(root: &Path, n: u64) {
    flushed_with(root, n, Metric::Euclidean)
}

fn flushed_with(root: &Path, n: u64, metric: Metric) {
    let options = Options::default().with_checkpoint_at_close(false);
    let db = Database::open_with(root, options).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, metric))
        .unwrap();
    for start in (0..n).step_by(100) {
        let pts: Vec<Point> = (start..(start + 100).min(n)).map(point).collect();
        c.upsert(&pts).unwrap();
        c.flush().unwrap();
    }
}

fn corrupted_file(e: &Error) -> Option<&str> {
    match e {
        Error::Storage(StorageError::Corrupted { file, .. }) => Some(file),
        _ => None,
    }
}

fn open_c(root: &Path) -> Result<veles::Collection, Error> {
    Database::open(root)?.collection("c")
}

#[test]
fn a_zeroed_first_sector_of_the_log_is_damage_not_an_empty_log() {
    let d = tempfile::tempdir().unwrap();
    flushed(d.path(), 1300);
    let wal = d.path().join("collections/c/wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[..512].fill(0);
    std::fs::write(&wal, &bytes).unwrap();
    let e = open_c(d.path()).unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/wal"), "{e}");
    // Nothing was cut: the intact frames are all still there for a repair.
    assert_eq!(std::fs::read(&wal).unwrap(), bytes);
}

/// The short-log twin: a checkpoint, then one durable delete whose frame shares the header's
/// sector. Zeroing that sector leaves no intact frame behind the header to prove anything, but
/// no crash damages a header, so it is damage: the delete must not come undone.
#[test]
fn a_zeroed_header_sector_of_a_short_log_does_not_undo_a_durable_delete() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Database::open(d.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Euclidean))
            .unwrap();
        c.upsert(&[point(1), point(2)]).unwrap();
        c.checkpoint().unwrap();
        assert_eq!(c.delete(&[1]).unwrap(), 1);
        c.flush().unwrap();
    }
    let wal = d.path().join("collections/c/wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    assert!(bytes.len() <= 512, "the whole log is in its first sector");
    bytes.fill(0);
    std::fs::write(&wal, &bytes).unwrap();
    let e = open_c(d.path()).unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/wal"), "{e}");
    let reports = Database::open_read_only(d.path()).unwrap().check().unwrap();
    assert!(
        reports.iter().any(|r| !r.is_ok()),
        "check reports the damage: {reports:?}"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "nothing was cut");
}

#[test]
fn a_missing_or_truncated_log_is_damage() {
    for cut in [None, Some(0), Some(10)] {
        let d = tempfile::tempdir().unwrap();
        flushed(d.path(), 300);
        let wal = d.path().join("collections/c/wal");
        match cut {
            None => std::fs::remove_file(&wal).unwrap(),
            Some(len) => std::fs::File::options()
                .write(true)
                .open(&wal)
                .unwrap()
                .set_len(len)
                .unwrap(),
        }
        let e = open_c(d.path()).unwrap_err();
        assert_eq!(
            corrupted_file(&e),
            Some("collections/c/wal"),
            "{cut:?}: {e}"
        );
        let e = Database::open_read_only(d.path())
            .unwrap()
            .collection("c")
            .unwrap_err();
        assert_eq!(
            corrupted_file(&e),
            Some("collections/c/wal"),
            "{cut:?}: {e}"
        );
    }
}

#[test]
fn a_missing_checkpoint_is_reported_and_create_does_not_wipe_the_files() {
    let d = tempfile::tempdir().unwrap();
    flushed(d.path(), 300);
    {
        let db = Database::open(d.path()).unwrap();
        db.collection("c").unwrap().checkpoint().unwrap();
    }
    std::fs::remove_file(d.path().join("collections/c/checkpoint")).unwrap();
    let db = Database::open(d.path()).unwrap();
    let reports = db.check().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].is_ok());
    assert_eq!(reports[0].problems[0].file, "collections/c/checkpoint");
    let e = db
        .create_collection("c", CollectionConfig::new(2, Metric::Dot))
        .unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/checkpoint"), "{e}");
    assert!(
        d.path().join("collections/c/wal").exists(),
        "nothing was wiped"
    );
    // Dropping is how a user says "discard": then the name is free again.
    db.drop_collection("c").unwrap();
    db.create_collection("c", CollectionConfig::new(2, Metric::Dot))
        .unwrap();
}

#[test]
fn an_interrupted_create_is_not_mistaken_for_damage() {
    let d = tempfile::tempdir().unwrap();
    let db = Database::open(d.path()).unwrap();
    db.create_collection("c", CollectionConfig::new(4, Metric::Dot))
        .unwrap();
    drop(db);
    // What a crash before the checkpoint's write leaves: empty files, no checkpoint.
    std::fs::remove_file(d.path().join("collections/c/checkpoint")).unwrap();
    let db = Database::open(d.path()).unwrap();
    assert!(db.check().unwrap().is_empty());
    db.create_collection("c", CollectionConfig::new(4, Metric::Dot))
        .unwrap();
}

/// Writes `bytes` at `offset` of `file` in place.
fn patch(file: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::options().write(true).open(file).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

#[test]
fn a_search_never_returns_a_vector_that_fails_its_checksum() {
    let d = tempfile::tempdir().unwrap();
    flushed_with(d.path(), 300, Metric::Dot);
    {
        let db = Database::open(d.path()).unwrap();
        db.collection("c").unwrap().checkpoint().unwrap();
    }
    // Slot 7's first component becomes NaN: for the inner product it would be every exact
    // query's best hit.
    let vectors = d.path().join("collections/c/vectors-1");
    patch(&vectors, 4096 + 7 * DIM as u64 * 4, &f32::NAN.to_le_bytes());
    let c = open_c(d.path()).unwrap();
    let e = c
        .search_with(
            &point(3).vector,
            5,
            &veles::SearchParams::default().with_exact(true),
        )
        .unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
    assert!(!c.check().unwrap().is_ok());
}

/// A zeroed page of the vector file makes its points score as far away: an exact search
/// that needs them must report the damage, not silently answer without them. Every search
/// that has to score a damaged slot does (exact scans, walks, filtered scans); a filter
/// that leaves the damaged points out, `get` of other points, and a rewrite of the damaged
/// points go on working; compaction refuses to copy damage under a fresh checksum.
#[test]
fn a_zeroed_page_of_vectors_is_reported_by_every_search_that_must_score_it() {
    const N: u64 = 3000;
    let dim = 16u32;
    let d = tempfile::tempdir().unwrap();
    let mut rng = veles::testing::Rng::new(5);
    let pts: Vec<Point> = (0..N)
        .map(|i| {
            Point::new(i, rng.clustered(dim as usize)).with_payload(serde_json::json!({ "i": i }))
        })
        .collect();
    {
        let db = Database::open(d.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(dim, Metric::Euclidean))
            .unwrap();
        c.upsert(&pts).unwrap();
        c.checkpoint().unwrap();
    }
    // The page after the header: slots 0..64 (64 bytes each).
    let vectors = d.path().join("collections/c/vectors-1");
    patch(&vectors, 4096, &[0u8; 4096]);
    let damaged = 0..64u64;
    let c = open_c(d.path()).unwrap();
    let exact = veles::SearchParams::default().with_exact(true);
    for q in [&pts[5].vector, &pts[2000].vector] {
        let e = c.search_with(q, 10, &exact).unwrap_err();
        assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
        assert!(e.to_string().contains("offset"), "{e}");
    }
    // The walk starts wherever the graph's entry is; a query next to a damaged point
    // reaches it.
    let e = c.search(&pts[5].vector, 10, None).unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
    // Filters that pass a damaged point need it scored; those that do not, do not.
    let some_damaged = veles::Filter::lt("i", 100);
    assert!(
        c.search_with(&pts[5].vector, 10, &exact.with_filter(Some(&some_damaged)))
            .is_err()
    );
    let none_damaged = veles::Filter::gte("i", damaged.end);
    let hits = c
        .search_with(
            &pts[2000].vector,
            10,
            &exact.with_filter(Some(&none_damaged)),
        )
        .unwrap();
    assert_eq!(hits[0].id, 2000);
    assert_eq!(c.get(&[2000]).unwrap().len(), 1);
    // Compaction would launder the damage under new checksums: refused, nothing written.
    let e = c.compact().unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
    // Rewriting the damaged points repairs them.
    c.upsert(&pts[..damaged.end as usize]).unwrap();
    let hits = c.search_with(&pts[5].vector, 10, &exact).unwrap();
    assert_eq!(hits[0].id, 5);
    c.compact().unwrap();
}

#[test]
fn deleted_points_keep_their_bytes_while_the_graph_still_routes_through_them() {
    let d = tempfile::tempdir().unwrap();
    flushed(d.path(), 2000);
    let c = open_c(d.path()).unwrap();
    // The replayed points wait for the graph: link them, so the deletes leave tombstones.
    assert_eq!(c.optimize(None).unwrap(), 0);
    c.delete(&(0..100).collect::<Vec<_>>()).unwrap();
    c.flush().unwrap();
    assert!(
        c.stats().unwrap().graph_nodes >= 2000,
        "tombstones stay in the graph"
    );
    // The deleted slots were not punched: a search that walks through them reads data, not
    // holes (which on a full tmpfs would be a SIGBUS).
    let bytes = std::fs::read(d.path().join("collections/c/vectors-1")).unwrap();
    let slot = |s: usize| &bytes[4096 + s * DIM * 4..4096 + (s + 1) * DIM * 4];
    assert!(slot(5).iter().any(|&b| b != 0));
    for q in 0..50 {
        c.search(&point(q).vector, 10, None).unwrap();
    }
    // Compaction drops the tombstones and gives their space back.
    let r = c.compact().unwrap();
    assert_eq!((r.tombstones_dropped, r.slots_after), (100, 1900));
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn a_graph_file_of_another_collection_is_rebuilt_not_trusted() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Database::open(d.path()).unwrap();
        for (name, shift) in [("a", 0.0f32), ("b", 50.0)] {
            let c = db
                .create_collection(name, CollectionConfig::new(DIM as u32, Metric::Euclidean))
                .unwrap();
            let pts: Vec<Point> = (0..1500)
                .map(|i| {
                    let mut p = point(i);
                    p.vector
                        .iter_mut()
                        .for_each(|x| *x = *x * (1.0 + shift) - shift);
                    p
                })
                .collect();
            c.upsert(&pts).unwrap();
            c.checkpoint().unwrap();
        }
    }
    let (ga, gb) = (
        d.path().join("collections/a/graph-2"),
        d.path().join("collections/b/graph-2"),
    );
    std::fs::copy(&gb, &ga).unwrap();
    let c = Database::open_read_only(d.path())
        .unwrap()
        .collection("a")
        .unwrap();
    let s = c.stats().unwrap();
    assert!(!s.recovery.graph_loaded, "the foreign graph was trusted");
    assert!(
        s.recovery
            .graph_problem
            .as_deref()
            .unwrap_or("")
            .contains("another collection"),
        "{:?}",
        s.recovery.graph_problem
    );
    let r = c.check().unwrap();
    assert!(!r.is_ok(), "check names the foreign graph file");
    assert!(r.problems.iter().any(|p| p.file == "collections/a/graph-2"));
}

/// A vector or payload file copied in from another collection of the same shape (same
/// dimension, metric, slot count and payload sizes) carries the other collection's stamp: it
/// is refused with its file and offset, never served as this collection's data.
#[test]
fn vector_and_payload_files_of_another_collection_are_refused_not_served() {
    for (file, extra) in [("vectors-1", Some("vectors-1.crc")), ("payloads-1", None)] {
        let d = tempfile::tempdir().unwrap();
        {
            let db = Database::open(d.path()).unwrap();
            for (name, tag) in [("a", "x"), ("b", "y")] {
                let c = db
                    .create_collection(name, CollectionConfig::new(DIM as u32, Metric::Euclidean))
                    .unwrap();
                let pts: Vec<Point> = (0..50)
                    .map(|i| {
                        let seed = if name == "a" { i } else { i + 1000 };
                        Point::new(i, point(seed).vector)
                            .with_payload(serde_json::json!({ "t": tag }))
                    })
                    .collect();
                c.upsert(&pts).unwrap();
                c.checkpoint().unwrap();
            }
        }
        let (a, b) = (
            d.path().join("collections/a"),
            d.path().join("collections/b"),
        );
        for f in std::iter::once(file).chain(extra) {
            std::fs::copy(b.join(f), a.join(f)).unwrap();
        }
        let e = Database::open(d.path())
            .unwrap()
            .collection("a")
            .unwrap_err();
        let want = format!("collections/a/{file}");
        assert_eq!(corrupted_file(&e), Some(want.as_str()), "{e}");
        let reports = Database::open_read_only(d.path()).unwrap().check().unwrap();
        assert!(
            reports.iter().any(|r| r.collection == "a" && !r.is_ok()),
            "{reports:?}"
        );
    }
}

#[test]
fn a_snapshot_into_the_database_itself_is_refused() {
    let d = tempfile::tempdir().unwrap();
    flushed(d.path(), 100);
    let db = Database::open(d.path()).unwrap();
    for dest in ["collections/snap", "", "collections/c/x"] {
        let e = db.snapshot(d.path().join(dest)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{dest}: {e}");
    }
    assert!(!d.path().join("collections/snap").exists());
}

#[test]
fn a_checkpoint_with_a_valid_checksum_and_a_huge_slot_count_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    flushed(d.path(), 100);
    {
        let db = Database::open(d.path()).unwrap();
        db.collection("c").unwrap().checkpoint().unwrap();
    }
    let cp = d.path().join("collections/c/checkpoint");
    let bytes = std::fs::read(&cp).unwrap();
    let crafted = veles::testing::with_checkpoint_slot_count(&bytes, u32::MAX);
    std::fs::write(&cp, crafted).unwrap();
    let e = open_c(d.path()).unwrap_err();
    assert!(corrupted_file(&e).is_some(), "{e}");
}

/// The SQ8 copy saved at a checkpoint (`sq8-<g>`) is what an open walks on: the same
/// answers as a copy rebuilt from the vectors. Damaged, or gone, it is rebuilt (answers
/// unchanged) and `check` names the damage with its file and offset; and with the saved
/// copy, a damaged vector is still reported by the searches that score it (checked when
/// read, since the open read none).
#[test]
fn a_saved_sq8_copy_is_used_and_a_damaged_one_is_rebuilt_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let dim = 48usize;
    let mut rng = veles::testing::Rng::new(11);
    let pts: Vec<Point> = (0..2000u64)
        .map(|i| Point::new(i, rng.clustered(dim)))
        .collect();
    {
        let db = Database::open(d.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(dim as u32, Metric::Cosine))
            .unwrap();
        c.upsert(&pts).unwrap();
        c.checkpoint().unwrap();
    }
    let sq8 = d.path().join("collections/c/sq8-2");
    assert!(sq8.exists(), "the checkpoint saved the SQ8 copy");
    let answers = |root: &Path| -> Vec<Vec<(u64, u32)>> {
        let c = open_c(root).unwrap();
        pts.iter()
            .step_by(40)
            .map(|p| {
                let hits = c.search(&p.vector, 10, None).unwrap();
                hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
            })
            .collect()
    };
    let saved = answers(d.path());
    assert!(open_c(d.path()).unwrap().check().unwrap().is_ok());
    // One bit of the first segment flipped: rebuilt, the same answers, reported.
    let mut b = [0u8; 1];
    {
        use std::os::unix::fs::FileExt;
        std::fs::File::open(&sq8)
            .unwrap()
            .read_exact_at(&mut b, 5000)
            .unwrap();
    }
    patch(&sq8, 5000, &[b[0] ^ 0x10]);
    assert_eq!(answers(d.path()), saved);
    let report = open_c(d.path()).unwrap().check().unwrap();
    let p = report
        .problems
        .iter()
        .find(|p| p.file == "collections/c/sq8-2")
        .expect("the damaged copy is reported");
    assert_eq!(p.offset, Some(4096), "{p}");
    // Gone: rebuilt, the same answers, and no problem (it is derived).
    std::fs::remove_file(&sq8).unwrap();
    assert_eq!(answers(d.path()), saved);
    assert!(open_c(d.path()).unwrap().check().unwrap().is_ok());
    // A checkpoint saves it again; a damaged vector is then found as searches read it.
    open_c(d.path()).unwrap().checkpoint().unwrap();
    assert!(d.path().join("collections/c/sq8-3").exists());
    let vectors = d.path().join("collections/c/vectors-1");
    patch(&vectors, 4096 + 7 * dim as u64 * 4, &[0xff; 16]);
    let c = open_c(d.path()).unwrap();
    let e = c.search(&pts[7].vector, 10, None).unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
    let e = c.get(&[7]).unwrap_err();
    assert_eq!(corrupted_file(&e), Some("collections/c/vectors-1"), "{e}");
    assert_eq!(c.get(&[8]).unwrap().len(), 1);
    assert!(!c.check().unwrap().is_ok());
}
