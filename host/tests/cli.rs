//! The `veles` binary: commands, output, exit codes, and crashes of the real process.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use veles::testing::Rng;

fn veles(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veles"))
        .args(args)
        .output()
        .expect("veles runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write_fvecs(path: &Path, n: usize, dim: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..n {
        f.write_all(&(dim as i32).to_le_bytes()).unwrap();
        for _ in 0..dim {
            f.write_all(&(rng.unit_f32() - 0.5).to_le_bytes()).unwrap();
        }
    }
}

#[test]
fn create_import_search_info_through_the_component_and_natively() {
    for native in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let db = db.to_str().unwrap();
        let mode: &[&str] = if native { &["--native"] } else { &[] };
        let run = |args: &[&str]| veles(&[mode, args].concat());

        let o = run(&["create", db, "docs", "--dim", "3", "--metric", "euclidean"]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).0.contains("created collection 'docs'"));

        let jl = dir.path().join("p.jsonl");
        std::fs::write(
            &jl,
            "{\"id\": 1, \"vector\": [0, 0, 0], \"payload\": {\"city\": \"Oslo\"}}\n\
             {\"id\": 2, \"vector\": [1, 1, 1], \"payload\": {\"city\": \"Rome\"}}\n\
             {\"id\": 3, \"vector\": [2, 2, 2]}\n",
        )
        .unwrap();
        let o = run(&["import", db, "docs", jl.to_str().unwrap()]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).0.contains("imported 3 points"), "{:?}", text(&o));

        let o = run(&[
            "--json",
            "search",
            db,
            "docs",
            "--vector",
            "[0.9, 0.9, 0.9]",
            "-k",
            "2",
        ]);
        assert!(o.status.success(), "{:?}", text(&o));
        let hits: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(hits[0]["hits"][0]["id"], 2);
        assert_eq!(hits[0]["hits"][1]["id"], 1);

        let o = run(&[
            "search",
            db,
            "docs",
            "--vector",
            "[0.9, 0.9, 0.9]",
            "-k",
            "5",
            "--filter",
            r#"{"key": "city", "eq": "Oslo"}"#,
        ]);
        let (out, _) = text(&o);
        assert!(
            o.status.success() && out.contains("id 1") && !out.contains("id 2"),
            "{out}"
        );

        let o = run(&["--json", "info", db]);
        let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(info["collections"][0]["name"], "docs");
        assert_eq!(info["collections"][0]["points"], 3);
        let o = run(&["info", db]);
        assert!(
            text(&o)
                .0
                .contains("docs: 3 points, 3 dimensions, euclidean"),
            "{:?}",
            text(&o)
        );
    }
}

#[test]
fn bad_input_gives_clear_messages_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["create", db, "c", "--dim", "4", "--metric", "manhattan"],
            2,
            "invalid value 'manhattan'",
        ),
        (&["create", db, "../evil", "--dim", "4"], 1, "invalid name"),
        (
            &["create", db, "c", "--dim", "0"],
            1,
            "dimension must be at least 1",
        ),
        (
            &["search", db, "missing", "--vector", "[1,2,3,4]"],
            1,
            "not found",
        ),
        (
            &["search", db, "c"],
            2,
            "required arguments were not provided",
        ),
        (&["frobnicate"], 2, "unrecognized subcommand"),
    ];
    for (args, code, msg) in cases {
        let o = veles(args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {err}");
        assert!(
            err.to_lowercase().contains(&msg.to_lowercase()),
            "{args:?}: {err}"
        );
    }
    assert!(veles(&["create", db, "c", "--dim", "4"]).status.success());
    let o = veles(&["search", db, "c", "--vector", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("dimension mismatch: expected 4, got 2"),
        "{:?}",
        text(&o)
    );
    let o = veles(&[
        "search",
        db,
        "c",
        "--vector",
        "[1,2,3,4]",
        "--filter",
        "{\"key\": \"a\", \"like\": 1}",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("invalid filter"), "{:?}", text(&o));
}

/// Kills `veles import` with SIGKILL at random moments; every point acknowledged by a completed
/// flush (reported on stdout) must be present afterwards, and the database must open.
#[test]
fn killing_an_import_at_random_moments_loses_nothing_that_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("big.fvecs");
    let (n, dim) = (120_000usize, 32usize);
    write_fvecs(&data, n, dim, 1);
    let db = dir.path().join("db");
    let db_s = db.to_str().unwrap();
    assert!(
        veles(&["create", db_s, "big", "--dim", "32", "--metric", "dot"])
            .status
            .success()
    );
    let mut rng = Rng::new(7);
    let mut acknowledged_max = 0u64;
    for run in 0..4 {
        let native = run % 2 == 1;
        let mut args = vec![
            "--json",
            "import",
            db_s,
            "big",
            data.to_str().unwrap(),
            "--batch",
            "2000",
            "--flush-every",
            "2",
        ];
        if native {
            args.insert(0, "--native");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                if v["event"] == "flushed" || v["event"] == "done" {
                    tx.send(v["points"].as_u64().unwrap()).ok();
                }
            }
        });
        // Kill after the first acknowledgement plus a random delay.
        let first = rx.recv_timeout(Duration::from_secs(120));
        let delay = Duration::from_millis(rng.below(400));
        let start = Instant::now();
        while start.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = first.into_iter().chain(rx.try_iter()).max().unwrap_or(0);
        acknowledged_max = acknowledged_max.max(acked);

        // Every acknowledged point is there (ids 0..acked), with its vector.
        let mut check = veles_host::NativeBackend::open(&db)
            .unwrap_or_else(|e| panic!("run {run}: open failed: {e}"));
        use veles_host::Backend;
        let stats = check.stats("big").unwrap();
        assert!(
            stats.len as u64 >= acknowledged_max,
            "run {run}: {} points present, {acknowledged_max} acknowledged",
            stats.len
        );
        let probe: Vec<u64> = (0..acknowledged_max)
            .step_by(997)
            .chain([acknowledged_max.saturating_sub(1)])
            .collect();
        let got = check.get("big", &probe).unwrap();
        assert!(
            got.iter().all(Option::is_some),
            "run {run}: an acknowledged point is missing"
        );
        eprintln!(
            "run {run} ({}): killed after {} acknowledged points; {} present; recovery {:?}",
            if native { "native" } else { "component" },
            acked,
            stats.len,
            stats.recovery
        );
    }
    assert!(acknowledged_max > 0);
}

#[test]
fn check_compact_snapshot_and_restore_through_the_component_and_natively() {
    for native in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
        let (db, snap, restored) = (path("db"), path("snap"), path("restored"));
        let mode: &[&str] = if native { &["--native"] } else { &[] };
        let run = |args: &[&str]| veles(&[mode, args].concat());

        assert!(
            run(&["create", &db, "v", "--dim", "8", "--metric", "dot"])
                .status
                .success()
        );
        let fv = dir.path().join("v.fvecs");
        write_fvecs(&fv, 1500, 8, 11);
        assert!(
            run(&["import", &db, "v", fv.to_str().unwrap()])
                .status
                .success()
        );
        // Delete half (through the library: the CLI has no delete), then compact.
        {
            let d = veles::Database::open(&db).unwrap();
            let c = d.collection("v").unwrap();
            c.delete(&(0..750).collect::<Vec<_>>()).unwrap();
            c.flush().unwrap();
        }
        let o = run(&["check", &db]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).0.contains("no problems"), "{:?}", text(&o));

        let o = run(&["--json", "compact", &db]);
        assert!(o.status.success(), "{:?}", text(&o));
        let r: serde_json::Value = serde_json::from_str(text(&o).0.trim()).unwrap();
        assert_eq!(
            (r["slots_before"].as_u64(), r["slots_after"].as_u64()),
            (Some(1500), Some(750))
        );
        assert!(
            r["bytes_after"].as_u64() < r["bytes_before"].as_u64(),
            "{r}"
        );

        let o = run(&["snapshot", &db, &snap]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).0.contains("1 collection(s) [v]"), "{:?}", text(&o));
        let o = run(&["snapshot", &db, &snap]);
        assert_eq!(o.status.code(), Some(1), "not over a non-empty directory");

        let o = run(&["restore", &snap, &restored]);
        assert!(o.status.success(), "{:?}", text(&o));
        let o = run(&[
            "--json",
            "search",
            &restored,
            "v",
            "--vector",
            "[1,1,1,1,1,1,1,1]",
            "-k",
            "3",
        ]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert_eq!(text(&o).0.matches("\"id\"").count(), 3, "{:?}", text(&o));

        // Damage: check says where, exits 1; restore refuses a damaged snapshot.
        let vectors = dir.path().join("snap/collections/v/vectors-3");
        let mut b = std::fs::read(&vectors).unwrap();
        b[4096 + 3] ^= 0x7F; // slot 0's first component's exponent
        std::fs::write(&vectors, &b).unwrap();
        let o = run(&["check", &snap]);
        assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
        assert!(
            text(&o).0.contains("collections/v/vectors-3 @ 4096"),
            "{:?}",
            text(&o)
        );
        let o = run(&["restore", &snap, &path("again")]);
        assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
        assert!(
            text(&o).1.contains("does not check clean"),
            "{:?}",
            text(&o)
        );
    }
}
