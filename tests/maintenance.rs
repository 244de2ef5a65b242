//! check, compact, snapshot and read-only opens, on real directories.

use std::collections::BTreeMap;
use std::path::Path;
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Error, Metric, Point, SearchParams, StorageError};

fn vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.unit_f32() - 0.5).collect()
}

fn image(root: &Path) -> BTreeMap<String, Vec<u8>> {
    veles::testing::directory_image(root)
}

/// A collection of `n` points with payloads, a checkpoint in the middle, some updates and
/// deletes after it, all flushed.
fn populate(db: &Database, name: &str, n: u64, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let c = db
        .create_collection(name, CollectionConfig::new(dim as u32, Metric::Cosine))
        .unwrap();
    let mut rng = Rng::new(seed);
    let pts: Vec<Point> = (0..n)
        .map(|i| {
            Point::new(i, vector(&mut rng, dim))
                .with_payload(serde_json::json!({"i": i, "odd": i % 2 == 1}))
        })
        .collect();
    for chunk in pts.chunks(500) {
        c.upsert(chunk).unwrap();
    }
    c.checkpoint().unwrap();
    c.upsert(&[Point::new(3, vector(&mut rng, dim))]).unwrap();
    c.delete(&[5, 6]).unwrap();
    c.flush().unwrap();
    (0..20).map(|_| vector(&mut rng, dim)).collect()
}

fn answers(db: &Database, name: &str, queries: &[Vec<f32>]) -> Vec<Vec<(u64, String)>> {
    let c = db.collection(name).unwrap();
    queries
        .iter()
        .map(|q| {
            c.search_with(q, 10, &SearchParams::default().with_exact(true))
                .unwrap()
                .into_iter()
                .map(|h| (h.id, format!("{:.5}", h.score)))
                .collect()
        })
        .collect()
}

#[test]
fn a_sound_database_checks_clean_and_checking_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        populate(&db, "a", 3000, 16, 1);
        populate(&db, "b", 200, 8, 2);
        let reports = db.check().unwrap();
        assert_eq!(reports.len(), 2);
        for r in &reports {
            assert!(r.is_ok(), "{}: {:?}", r.collection, r.problems);
            assert!(r.bytes_checked > 0);
        }
        assert_eq!(reports[0].points, 2998);
        assert_eq!(reports[0].wal_records, 2);
    }
    let before = image(dir.path());
    let db = Database::open_read_only(dir.path()).unwrap();
    let reports = db.check().unwrap();
    assert!(reports.iter().all(|r| r.is_ok()), "{reports:?}");
    drop(db);
    assert_eq!(before, image(dir.path()), "a check wrote something");
}

#[test]
fn a_read_only_open_refuses_writes_and_leaves_a_torn_tail_in_place() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        populate(&db, "a", 100, 8, 3);
    }
    // A torn tail: half a frame of garbage after the last record.
    let wal = dir.path().join("collections/a/wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0xAB; 40]);
    std::fs::write(&wal, &bytes).unwrap();
    let before = image(dir.path());

    let db = Database::open_read_only(dir.path()).unwrap();
    assert!(db.is_read_only());
    // It takes no lock (a writer may open beside it; not here, where one would repair the
    // tail this test keeps).
    let c = db.collection("a").unwrap();
    assert_eq!(c.len().unwrap(), 98, "log records are replayed in memory");
    assert!(c.search(&[0.5; 8], 3, None).unwrap().len() == 3);
    assert!(matches!(
        c.upsert(&[Point::new(1, vec![1.0; 8])]),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(c.delete(&[1]), Err(Error::ReadOnly)));
    assert!(matches!(c.flush(), Err(Error::ReadOnly)));
    assert!(matches!(c.compact(), Err(Error::ReadOnly)));
    assert!(matches!(
        db.create_collection("z", CollectionConfig::new(2, Metric::Dot)),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(db.drop_collection("a"), Err(Error::ReadOnly)));
    let report = c.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("torn tail of 40 bytes")),
        "{:?}",
        report.notes
    );
    drop((c, db));
    assert_eq!(
        before,
        image(dir.path()),
        "the read-only open wrote something"
    );
    // An open for writing drops the tail.
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(
        db.collection("a")
            .unwrap()
            .stats()
            .unwrap()
            .recovery
            .dropped_bytes,
        40
    );
    assert!(db.check().unwrap()[0].is_ok());
}

/// Damages one byte of `file` at `offset` (from the end when negative).
fn flip(root: &Path, file: &str, offset: i64) {
    let p = root.join(file);
    let mut b = std::fs::read(&p).unwrap();
    let at = if offset < 0 {
        b.len() as i64 + offset
    } else {
        offset
    } as usize;
    b[at] ^= 0x5A;
    std::fs::write(&p, &b).unwrap();
}

#[test]
fn damage_is_reported_with_its_file_and_offset() {
    let cases: [(&str, i64, &str); 4] = [
        // A live slot's bytes (slot 0 starts after the 4096-byte header).
        ("collections/a/vectors-1", 4096 + 2, "slot 0"),
        ("collections/a/checkpoint", 40, "checksum"),
        ("collections/a/graph-2", 100, "checksum"),
        // The log's header: a damaged header in front of intact frames.
        ("collections/a/wal", 4, "header"),
    ];
    for (file, offset, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::open(dir.path()).unwrap();
            populate(&db, "a", 1500, 16, 4);
            populate(&db, "ok", 10, 4, 5);
        }
        flip(dir.path(), file, offset);
        let db = Database::open_read_only(dir.path()).unwrap();
        let reports = db.check().unwrap();
        let a = &reports[0];
        assert!(!a.is_ok(), "{file}: damage not found ({:?})", a.notes);
        let p = &a.problems[0];
        assert_eq!(p.file, file, "{:?}", a.problems);
        assert!(
            p.message.contains(words) || p.to_string().contains(words),
            "{file}: {:?}",
            a.problems
        );
        if file.contains("vectors") {
            assert_eq!(p.offset, Some(4096));
        }
        assert!(reports[1].is_ok(), "the other collection is sound");
    }
}

#[test]
fn compaction_reclaims_deleted_space_and_keeps_every_answer() {
    compaction_case(2);
}

#[test]
fn compaction_repairs_the_graph_around_a_few_deletes() {
    compaction_case(10);
}

/// Deletes every `every`-th point, then compacts.
fn compaction_case(every: u64) {
    let dir = tempfile::tempdir().unwrap();
    let dim = 64;
    let db = Database::open(dir.path()).unwrap();
    let queries = populate(&db, "c", 4000, dim, 6);
    let c = db.collection("c").unwrap();
    // Linked first, so the deletes leave tombstones in the graph.
    assert_eq!(c.optimize(None).unwrap(), 0);
    let doomed: Vec<u64> = (0..4000).filter(|i| i % every == 0).collect();
    c.delete(&doomed).unwrap();
    c.flush().unwrap();
    let exact = answers(&db, "c", &queries);
    let recall = |c: &veles::Collection| {
        let mut hits = 0;
        for (q, want) in queries.iter().zip(&exact) {
            let got = c.search(q, 10, None).unwrap();
            hits += got
                .iter()
                .filter(|h| want.iter().any(|w| w.0 == h.id))
                .count();
        }
        hits as f64 / (10 * queries.len()) as f64
    };
    let recall_before = recall(&c);
    let points_before = c.get(&(0..4000).collect::<Vec<_>>()).unwrap();
    let report = c.compact().unwrap();
    let live = c.len().unwrap() as u64;
    eprintln!("compaction of 4000 x {dim}-d cosine, 1 in {every} deleted: {report:?}");
    assert_eq!(report.points, live);
    assert_eq!(
        (report.slots_before, report.slots_after),
        (4000, live as u32)
    );
    let expected = 4096 + live * dim as u64 * 4;
    assert!(report.bytes_after <= expected + 4096, "{report:?}");
    assert!(report.tombstones_dropped >= 4000 - live - 2, "{report:?}");
    assert_eq!(c.stats().unwrap().graph_nodes as u64, live);
    assert!(
        c.check().unwrap().is_ok(),
        "{:?}",
        c.check().unwrap().problems
    );
    assert_eq!(answers(&db, "c", &queries), exact);
    assert_eq!(
        c.get(&(0..4000).collect::<Vec<_>>()).unwrap(),
        points_before
    );
    // The graph lost its tombstones, not its recall: as good as a graph built afresh over
    // the same points.
    let fresh = db
        .create_collection("fresh", CollectionConfig::new(dim as u32, Metric::Cosine))
        .unwrap();
    let survivors: Vec<Point> = points_before.iter().flatten().cloned().collect();
    fresh.upsert(&survivors).unwrap();
    fresh.optimize(None).unwrap();
    let (recall_after, recall_fresh) = (recall(&c), recall(&fresh));
    eprintln!(
        "recall@10 (ef 64): {recall_before:.3} with tombstones, {recall_after:.3} compacted, {recall_fresh:.3} built afresh"
    );
    assert!(
        recall_after >= recall_before,
        "{recall_after} < {recall_before}"
    );
    assert!(
        recall_after >= recall_fresh - 0.03,
        "{recall_after} vs {recall_fresh}"
    );
    db.drop_collection("fresh").unwrap();
    // Only the new generation's files are left; a reopen loads the compacted graph.
    drop((c, db));
    let names: Vec<String> = image(dir.path())
        .keys()
        .filter(|k| k.starts_with("collections/c/"))
        .cloned()
        .collect();
    assert_eq!(
        names,
        [
            "collections/c/checkpoint",
            "collections/c/graph-3",
            "collections/c/payloads-3",
            "collections/c/rewrites",
            "collections/c/sq8-3",
            "collections/c/vectors-3",
            "collections/c/vectors-3.crc",
            "collections/c/wal"
        ]
    );
    let db = Database::open(dir.path()).unwrap();
    let c = db.collection("c").unwrap();
    assert!(c.stats().unwrap().recovery.graph_loaded);
    assert_eq!(answers(&db, "c", &queries), exact);
    // And it takes writes again, reusing nothing it should not.
    c.upsert(&[Point::new(100_000, vec![1.0; dim])]).unwrap();
    assert_eq!(c.search(&vec![1.0; dim], 1, None).unwrap()[0].id, 100_000);
    assert_eq!(c.len().unwrap() as u64, live + 1);
    assert!(c.check().unwrap().is_ok());
}

#[test]
fn a_snapshot_holds_every_acknowledged_write_and_opens_as_is() {
    let parent = tempfile::tempdir().unwrap();
    let (src, snap) = (parent.path().join("src"), parent.path().join("snap"));
    let db = Database::open(&src).unwrap();
    let queries = populate(&db, "a", 1200, 16, 7);
    populate(&db, "b", 50, 4, 8);
    // Unflushed writes are acknowledged: the snapshot's barrier includes them.
    let a = db.collection("a").unwrap();
    a.upsert(&[Point::new(77_777, vec![0.25; 16])]).unwrap();
    let want = answers(&db, "a", &queries);
    let report = db.snapshot(&snap).unwrap();
    assert_eq!(report.collections, ["a", "b"]);
    assert!(report.bytes > 0);
    // Later writes stay out of the copy.
    a.upsert(&[Point::new(88_888, vec![0.5; 16])]).unwrap();
    assert!(
        matches!(db.snapshot(&snap), Err(Error::InvalidArgument(_))),
        "not over a database"
    );
    assert!(db.snapshot(&src).is_err(), "not onto itself");

    let copy = Database::open_read_only(&snap).unwrap();
    assert!(copy.check().unwrap().iter().all(|r| r.is_ok()));
    assert_eq!(answers(&copy, "a", &queries), want);
    let ca = copy.collection("a").unwrap();
    assert!(ca.get(&[77_777]).unwrap()[0].is_some());
    assert!(ca.get(&[88_888]).unwrap()[0].is_none());
    assert_eq!(copy.collection("b").unwrap().len().unwrap(), 48);
    drop((ca, copy));

    // Restoring is a snapshot of the snapshot: the result opens for writing.
    let restored = parent.path().join("restored");
    let from = Database::open_read_only(&snap).unwrap();
    from.snapshot(&restored).unwrap();
    let r = Database::open(&restored).unwrap();
    assert_eq!(answers(&r, "a", &queries), want);
    r.collection("b")
        .unwrap()
        .upsert(&[Point::new(1, vec![1.0; 4])])
        .unwrap();
    assert!(r.check().unwrap().iter().all(|x| x.is_ok()));
}

#[test]
fn an_in_memory_database_snapshots_to_disk_and_opens_there() {
    // A memory directory lends each file to one open at a time: the copy reads the files the
    // open collections hold through their own regions.
    let db = Database::in_memory();
    let queries = populate(&db, "a", 700, 8, 11);
    let want = answers(&db, "a", &queries);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let report = db.snapshot(&snap).unwrap();
    assert_eq!(report.collections, ["a"]);

    let copy = Database::open_read_only(&snap).unwrap();
    assert!(copy.check().unwrap().iter().all(|r| r.is_ok()));
    assert_eq!(answers(&copy, "a", &queries), want);
    assert_eq!(copy.collection("a").unwrap().len().unwrap(), 698);
    // The in-memory database goes on as before.
    let a = db.collection("a").unwrap();
    a.upsert(&[Point::new(9_999, vec![0.5; 8])]).unwrap();
    assert_eq!(a.len().unwrap(), 699);
}

#[test]
fn an_incomplete_snapshot_is_refused_not_taken_for_an_empty_database() {
    let parent = tempfile::tempdir().unwrap();
    let (src, snap) = (parent.path().join("src"), parent.path().join("snap"));
    let db = Database::open(&src).unwrap();
    populate(&db, "a", 100, 4, 9);
    db.snapshot(&snap).unwrap();
    drop(db);
    // A copy cut short: the marker of an unfinished snapshot is still there.
    std::fs::write(snap.join("INCOMPLETE"), b"").unwrap();
    let e = Database::open(&snap).unwrap_err();
    assert!(
        matches!(&e, Error::Storage(StorageError::Corrupted { file, .. }) if file == "INCOMPLETE"),
        "{e:?}"
    );
    // Collections without a database marker are not a database either.
    std::fs::remove_file(snap.join("INCOMPLETE")).unwrap();
    std::fs::remove_file(snap.join("VELES")).unwrap();
    let e = Database::open(&snap).unwrap_err();
    assert!(
        matches!(&e, Error::Storage(StorageError::Corrupted { file, .. }) if file == "VELES"),
        "{e:?}"
    );
    assert!(
        !snap.join("VELES").exists(),
        "the refused open wrote a marker"
    );
}
