//! Who may open a database directory, with real processes: one writer, and any number of
//! readers beside it, whichever host runs the engine (the CLI natively, the CLI through the
//! component, the library in this process). A read path never writes, and readers read
//! beside an import a state that existed.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use veles::{CollectionConfig, Database, Error, Metric, Point, StorageError};

fn veles(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veles"))
        .args(args)
        .output()
        .expect("veles runs")
}

/// A database with collection `c` of 50 points (3-d).
fn database(root: &Path) -> PathBuf {
    let db = root.join("db");
    let d = Database::open(&db).unwrap();
    let c = d
        .create_collection("c", CollectionConfig::new(3, Metric::Euclidean))
        .unwrap();
    let pts: Vec<Point> = (0..50u64)
        .map(|i| Point::new(i, vec![i as f32, 1.0, 2.0]))
        .collect();
    c.upsert(&pts).unwrap();
    c.checkpoint().unwrap();
    db
}

/// The kind of lock process `pid` holds on `db/LOCK` (from /proc/locks), if any.
fn held_by(db: &Path, pid: u32) -> Option<String> {
    let ino = std::fs::metadata(db.join("LOCK")).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (kind, owner, file) = (f.get(3)?, f.get(4)?, f.get(5)?);
        (owner.parse::<u32>().ok()? == pid && file.rsplit(':').next()? == ino.to_string())
            .then(|| kind.to_string())
    })
}

/// A `veles import` (a writer) that holds the directory's lock while it waits for standard
/// input.
struct Holder(Child);

impl Holder {
    fn start(db: &Path, native: bool) -> Holder {
        let db_s = db.to_str().unwrap();
        let mut args: Vec<&str> = if native { vec!["--native"] } else { vec![] };
        args.extend(["import", db_s, "c", "-", "--format", "jsonl"]);
        let log = db.with_extension(format!("holder-{}.log", std::process::id()));
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_veles"))
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap()
        };
        let mut child = spawn();
        let start = Instant::now();
        while held_by(db, child.id()).as_deref() != Some("WRITE") {
            // A holder that stopped says why, at once, instead of a timeout.
            if let Some(status) = child.try_wait().unwrap() {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                // A lock this process just released can live on for a moment in a child
                // another test thread is spawning (forked, not yet exec'd: it holds a copy of
                // every descriptor until exec closes them). Seen once; try again briefly.
                if err.contains("already open") && start.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(50));
                    child = spawn();
                    continue;
                }
                panic!(
                    "the holder `veles {}` exited ({status}): {err}",
                    args.join(" ")
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the holder `veles {}` did not open the directory in 120 s (held: {:?}; /proc/locks: {})",
                args.join(" "),
                held_by(db, child.id()),
                std::fs::read_to_string("/proc/locks").unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Holder(child)
    }

    /// Ends the holder's input; it finishes and exits 0.
    fn finish(mut self) {
        drop(self.0.stdin.take());
        let status = self.0.wait().unwrap();
        assert!(status.success(), "the holder failed: {status}");
    }
}

/// Runs one access from another process (or this one, for the library); true if it got in.
fn access(db: &Path, who: &str, writer: bool) -> bool {
    let db_s = db.to_str().unwrap();
    if who == "library" {
        let r = match writer {
            true => Database::open(db).map(drop),
            false => Database::open_read_only(db).map(drop),
        };
        return match r {
            Ok(()) => true,
            Err(Error::Storage(StorageError::Locked { .. })) => false,
            Err(e) => panic!("library: {e}"),
        };
    }
    let mode: &[&str] = if who == "native" { &["--native"] } else { &[] };
    let o = match writer {
        true => {
            let empty = db.parent().unwrap().join("empty.jsonl");
            std::fs::write(&empty, "").unwrap();
            veles(&[mode, &["import", db_s, "c", empty.to_str().unwrap()]].concat())
        }
        false => veles(&[mode, &["search", db_s, "c", "--vector", "[1,1,2]"]].concat()),
    };
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        return true;
    }
    assert!(err.contains("already open"), "{who}: {err}");
    assert_eq!(o.status.code(), Some(1), "{who}: {err}");
    false
}

#[test]
fn one_writer_and_many_readers_across_processes_and_hosts() {
    let root = tempfile::tempdir().unwrap();
    let db = database(root.path());
    for holder_native in [true, false] {
        // A reader holds nothing that could stop anyone (the library reader below, and the
        // reader processes of `readers_in_other_processes_read_beside_an_import`, show it).
        {
            let holder = Holder::start(&db, holder_native);
            for who in ["native", "component", "library"] {
                for writer in [true, false] {
                    // A writer stops other writers, never a reader.
                    let allowed = !writer;
                    assert_eq!(
                        access(&db, who, writer),
                        allowed,
                        "holder: {} writer; second: {who} {}",
                        if holder_native { "native" } else { "component" },
                        if writer { "writer" } else { "reader" },
                    );
                }
            }
            holder.finish();
        }
    }
    // The library as the holder.
    {
        let _w = Database::open(&db).unwrap();
        for who in ["native", "component"] {
            assert!(!access(&db, who, true), "{who} writer");
            assert!(access(&db, who, false), "{who} reader");
        }
    }
    {
        let r = Database::open_read_only(&db).unwrap();
        assert_eq!(r.collection("c").unwrap().len().unwrap(), 50);
        for who in ["native", "component"] {
            assert!(access(&db, who, true), "{who} writer");
            assert!(access(&db, who, false), "{who} reader");
        }
    }
    // Nothing was lost: the refused "imports" did nothing, none half-applied.
    assert_eq!(
        Database::open(&db)
            .unwrap()
            .collection("c")
            .unwrap()
            .len()
            .unwrap(),
        50
    );
}

#[test]
fn read_commands_change_no_byte_and_remove_no_file() {
    let root = tempfile::tempdir().unwrap();
    let db = database(root.path());
    // Leftovers of an unfinished compaction: what a writer's open removes, and a concurrent
    // compaction's new files look just like them to an older checkpoint.
    let col = db.join("collections/c");
    std::fs::write(col.join("vectors-9"), b"a compaction in progress").unwrap();
    std::fs::write(col.join("graph-9"), b"a checkpoint in progress").unwrap();
    let snapshot = |dir: &Path| veles::testing::directory_image(dir);
    let before = snapshot(&db);
    let db_s = db.to_str().unwrap();
    for mode in [&["--native"][..], &[]] {
        for args in [
            &["search", db_s, "c", "--vector", "[1,2,3]"][..],
            &["info", db_s],
            &["check", db_s],
        ] {
            let o = veles(&[mode, args].concat());
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                snapshot(&db),
                before,
                "{mode:?} {args:?} changed the directory"
            );
        }
    }
    // A search of a path that holds no database creates none.
    let missing = root.path().join("nothing-here");
    for mode in [&["--native"][..], &[]] {
        let o = veles(
            &[
                mode,
                &["search", missing.to_str().unwrap(), "c", "--vector", "[1]"],
            ]
            .concat(),
        );
        assert_eq!(o.status.code(), Some(1));
        assert!(!missing.exists(), "{mode:?} created {}", missing.display());
    }
}

#[test]
fn concurrent_native_searches_both_succeed() {
    let root = tempfile::tempdir().unwrap();
    let db = database(root.path());
    let db_s = db.to_str().unwrap().to_string();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let db_s = db_s.clone();
            std::thread::spawn(move || {
                veles(&["--native", "search", &db_s, "c", "--vector", "[1,1,2]"])
            })
        })
        .collect();
    for r in runs {
        let o = r.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn a_snapshot_into_its_own_database_is_refused_in_both_modes() {
    let root = tempfile::tempdir().unwrap();
    let db = database(root.path());
    for mode in [&["--native"][..], &[]] {
        let dest = db.join("collections/snap");
        let o = veles(
            &[
                mode,
                &["snapshot", db.to_str().unwrap(), dest.to_str().unwrap()],
            ]
            .concat(),
        );
        assert_eq!(o.status.code(), Some(1), "{mode:?}");
        assert!(!dest.exists(), "{mode:?}");
    }
}

/// Writes a flushed collection, then reads the checkpoint back for crafting.
#[test]
fn a_crafted_checkpoint_is_a_typed_error_through_the_component_too() {
    let root = tempfile::tempdir().unwrap();
    let db = database(root.path());
    let cp = db.join("collections/c/checkpoint");
    let crafted =
        veles::testing::with_checkpoint_slot_count(&std::fs::read(&cp).unwrap(), u32::MAX);
    let mut f = std::fs::File::create(&cp).unwrap();
    f.write_all(&crafted).unwrap();
    drop(f);
    for mode in [&["--native"][..], &[]] {
        let o = veles(
            &[
                mode,
                &["search", db.to_str().unwrap(), "c", "--vector", "[1,2,3]"],
            ]
            .concat(),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{mode:?}: {err}");
        assert!(
            err.contains("corrupted file 'collections/c/vectors-1'"),
            "{mode:?}: {err}"
        );
    }
}

/// The points of batch `b` (100 a batch), as JSON lines: point `id` carries its id in its
/// vector and in its payload.
fn batch_lines(b: u64) -> String {
    (b * 100..(b + 1) * 100)
        .map(|id| format!("{{\"id\":{id},\"vector\":[{id},1,2,3],\"payload\":{{\"id\":{id}}}}}\n"))
        .collect()
}

/// `veles count` of collection `c`, by a reader process.
fn count(db: &Path, native: bool) -> u64 {
    let mode: &[&str] = if native { &["--native"] } else { &[] };
    let o = veles(&[mode, &["count", db.to_str().unwrap(), "c"]].concat());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "count: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("count printed {out:?}"))
}

/// Readers in other processes (`count`, `search`, `info`, `check`, natively and through the
/// component) while `veles import` writes the same directory (natively and through the
/// component): each answer is a prefix of the import's batches, whole, and grows; after the
/// import, all of it; `check` is clean throughout. Then a writer killed by SIGKILL part way:
/// readers still get whole batches, and the next writer recovers every flushed one.
#[test]
fn readers_in_other_processes_read_beside_an_import() {
    for (writer_native, reader_native) in
        [(true, true), (true, false), (false, true), (false, false)]
    {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("db");
        let db_s = db.to_str().unwrap();
        let o = veles(&["create", db_s, "c", "--dim", "4", "--metric", "euclidean"]);
        assert!(o.status.success());
        let mode: &[&str] = if writer_native { &["--native"] } else { &[] };
        let args = [mode, &["import", db_s, "c", "-", "--format", "jsonl"]].concat();
        let spawn_writer = || {
            Command::new(env!("CARGO_BIN_EXE_veles"))
                .args(&args)
                .args(["--batch", "100", "--flush-every", "1"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut writer = spawn_writer();
        let rmode: &[&str] = if reader_native { &["--native"] } else { &[] };
        let mut stdin = writer.stdin.take().unwrap();
        let mut last = 0;
        for b in 0..12u64 {
            stdin.write_all(batch_lines(b).as_bytes()).unwrap();
            stdin.flush().unwrap();
            let n = count(&db, reader_native);
            assert!(
                n.is_multiple_of(100) && n >= last && n <= (b + 1) * 100,
                "count {n} after {b} batches (last {last})"
            );
            last = n;
            let which = ["search", "info", "check"][b as usize % 3];
            let o = match which {
                "search" => veles(
                    &[
                        rmode,
                        &["search", db_s, "c", "--vector", "[5,1,2,3]", "-k", "1"],
                    ]
                    .concat(),
                ),
                "info" => veles(&[rmode, &["info", db_s]].concat()),
                _ => veles(&[rmode, &["check", db_s]].concat()),
            };
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{which} beside the import: {err}");
            if which == "search" && n > 5 {
                // The nearest point to [5,1,2,3] is point 5, once its batch is in.
                assert!(
                    String::from_utf8_lossy(&o.stdout).contains("id 5 "),
                    "search: {}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
        drop(stdin);
        let out = writer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            count(&db, reader_native),
            1200,
            "after the import, all of it"
        );

        // A writer killed part way: what it flushed stays, readers see whole batches. A reader
        // killed beside it (one waiting for its queries) leaves nothing behind to stop anyone.
        let mut writer = spawn_writer();
        let mut reader = Command::new(env!("CARGO_BIN_EXE_veles"))
            .args([rmode, &["search", db_s, "c", "--query-file", "-"]].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = writer.stdin.take().unwrap();
        for b in 12..15u64 {
            stdin.write_all(batch_lines(b).as_bytes()).unwrap();
        }
        reader.kill().unwrap();
        reader.wait().unwrap();
        for b in 15..20u64 {
            stdin.write_all(batch_lines(b).as_bytes()).unwrap();
        }
        stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&db, reader_native) < 1600 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.kill().unwrap();
        writer.wait().unwrap();
        let seen = count(&db, reader_native);
        assert!(
            seen.is_multiple_of(100) && (1600..=2000).contains(&seen),
            "after SIGKILL: {seen}"
        );
        // The next writer recovers at least what readers saw, and the directory checks clean.
        let o = veles(&["checkpoint", db_s, "c"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let recovered = count(&db, true);
        assert!(
            recovered >= seen && recovered.is_multiple_of(100),
            "{recovered} recovered, {seen} seen"
        );
        assert!(veles(&["check", db_s]).status.success());
    }
}
