//! What scripts rely on from the `veles` binary: ids never wrap, closed or full stdout ends a
//! command without a panic, one JSON shape (errors too), exit code 2 for usage errors, no
//! user data dropped implicitly, a failed import says where and how to resume, `checkpoint`,
//! bounded npy headers, and compaction reporting the disk space really given back.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn veles(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veles"))
        .args(args)
        .output()
        .expect("veles runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn jsonl(path: &Path, n: u64, bad_at: Option<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let v = if Some(i) == bad_at {
            "[1,2]"
        } else {
            "[1,2,3]"
        };
        writeln!(f, "{{\"id\":{i},\"vector\":{v}}}").unwrap();
    }
}

/// A temporary directory and the path of a database inside it.
fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").to_str().unwrap().to_string();
    (dir, db)
}

fn count(db: &str, name: &str) -> u64 {
    let out = ok(veles(&["--native", "--json", "count", db, name]));
    serde_json::from_str::<Value>(&out).unwrap()["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn ids_never_wrap_and_start_id_is_refused_for_jsonl() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let fv = dir.path().join("v.fvecs");
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.extend_from_slice(&3i32.to_le_bytes());
        for x in [3f32, 2.0, 1.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(&fv, bytes).unwrap();
    let jl = dir.path().join("p.jsonl");
    jsonl(&jl, 10, None);
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        jl.to_str().unwrap(),
    ]));
    let o = veles(&[
        "--native",
        "import",
        db,
        "c",
        fv.to_str().unwrap(),
        "--start-id",
        "18446744073709551614",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("18446744073709551615"), "{}", text(&o));
    // The two ids that fit are imported; ids 0..9 are untouched (no wrap onto them).
    assert_eq!(count(db, "c"), 12);
    let got = ok(veles(&["--native", "get", db, "c", "0", "--no-payload"]));
    assert!(got.contains("[0.26726124,0.5345225,0.80178374]"), "{got}");
    let o = veles(&[
        "--native",
        "import",
        db,
        "c",
        jl.to_str().unwrap(),
        "--start-id",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_closed_or_full_stdout_ends_commands_without_a_panic() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let jl = dir.path().join("p.jsonl");
    jsonl(&jl, 2000, None);
    for args in [
        vec!["--native", "info", db],
        vec!["--native", "check", db],
        vec!["--native", "export", db, "c"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_veles"))
        .args(["--native", "compact", db])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("No space left"), "{}", text(&o));
    // An import whose reader goes away still imports everything, durably.
    let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
        .args([
            "--native",
            "--json",
            "import",
            db,
            "c",
            jl.to_str().unwrap(),
            "--batch",
            "100",
            "--flush-every",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    assert_eq!(count(db, "c"), 2000);
}

#[test]
fn search_prints_one_json_shape_and_errors_are_json_with_exit_code_2_for_usage() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let jl = dir.path().join("p.jsonl");
    jsonl(&jl, 20, None);
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        jl.to_str().unwrap(),
    ]));
    let one = ok(veles(&[
        "--native", "--json", "search", db, "c", "--vector", "[1,2,3]", "-k", "2",
    ]));
    let v: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v[0]["query"], 0);
    assert_eq!(v[0]["hits"].as_array().unwrap().len(), 2);
    let qf = dir.path().join("q.jsonl");
    jsonl(&qf, 2, None);
    let two = ok(veles(&[
        "--native",
        "--json",
        "search",
        db,
        "c",
        "--query-file",
        qf.to_str().unwrap(),
        "-k",
        "2",
    ]));
    let v: Value = serde_json::from_str(&two).unwrap();
    assert_eq!(
        (
            v[1]["query"].as_u64(),
            v[1]["hits"].as_array().map(Vec::len)
        ),
        (Some(1), Some(2))
    );
    for (args, code, kind) in [
        (vec!["search", db, "c", "--vector", "1,2"], 2, "usage"),
        (
            vec!["search", db, "c", "--vector", "[1,2,3]", "--filter", "{bad"],
            2,
            "usage",
        ),
        (
            vec!["create", db, "d", "--dim", "3", "--metric", "manhattan"],
            2,
            "usage",
        ),
        (
            vec!["search", db, "nope", "--vector", "[1,2,3]"],
            1,
            "not-found",
        ),
        (
            vec!["search", db, "c", "--vector", "[1,2]"],
            1,
            "dimension-mismatch",
        ),
    ] {
        let o = veles(&[&["--native", "--json"], &args[..]].concat());
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
        let err: Value =
            serde_json::from_slice(&o.stderr).unwrap_or_else(|_| panic!("{}", text(&o)));
        assert_eq!(err["error"]["kind"], kind, "{args:?}");
    }
    let o = veles(&[
        "--native",
        "bench",
        db,
        "--component",
        "--base",
        "x",
        "--queries",
        "y",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn bench_and_demo_never_drop_a_users_collection() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "bench", "--dim", "3"]));
    ok(veles(&["--native", "create", db, "packages", "--dim", "3"]));
    let fv = dir.path().join("b.fvecs");
    let mut bytes = Vec::new();
    for i in 0..50 {
        bytes.extend_from_slice(&3i32.to_le_bytes());
        for x in [1f32, i as f32, 3.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(&fv, bytes).unwrap();
    let f = fv.to_str().unwrap();
    let o = veles(&[
        "--native",
        "bench",
        db,
        "--base",
        f,
        "--queries",
        f,
        "--m",
        "1",
    ]);
    assert_ne!(o.status.code(), Some(0));
    let o = veles(&[
        "--native",
        "bench",
        db,
        "--base",
        f,
        "--queries",
        f,
        "--ef",
        "16",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("already has a collection named 'bench'"),
        "{}",
        text(&o)
    );
    let o = veles(&["--native", "demo", "--dir", db]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let list = ok(veles(&["--native", "--json", "info", db]));
    assert!(
        list.contains("\"bench\"") && list.contains("\"packages\""),
        "{list}"
    );
}

#[test]
fn a_failed_import_keeps_and_reports_what_came_before_and_resumes() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let jl = dir.path().join("p.jsonl");
    jsonl(&jl, 6000, Some(5500));
    let o = veles(&["--native", "import", db, "c", jl.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let msg = text(&o);
    assert!(
        msg.contains("record 5501") && msg.contains("--skip 5500"),
        "{msg}"
    );
    assert_eq!(
        count(db, "c"),
        5500,
        "the points before the bad record are kept"
    );
    // After a checkpoint nothing is left to replay.
    let info = ok(veles(&["--native", "--json", "info", db]));
    let v: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        v["collections"][0]["recovery"]["replayed_records"], 0,
        "{info}"
    );
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        jl.to_str().unwrap(),
        "--skip",
        "5501",
    ]));
    assert_eq!(count(db, "c"), 5999);
    let out = ok(veles(&["--native", "checkpoint", db]));
    assert!(out.contains("checkpointed c: 5999 points"), "{out}");
}

/// An npy file (version 1.0) with this dtype, shape and raw data.
fn write_npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn npy_headers_are_bounded_by_the_file_and_float16_reads() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "2"]));
    let npy = write_npy;
    let huge = dir.path().join("huge.npy");
    npy(&huge, "<f4", "(1, 1099511627776)", &[0; 16]);
    let o = veles(&["--native", "import", db, "c", huge.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("memory allocation"), "{}", text(&o));
    let rows = dir.path().join("rows.npy");
    npy(&rows, "<f4", "(1099511627776, 2)", &[0; 16]);
    let o = veles(&["--native", "import", db, "c", rows.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let half = dir.path().join("half.npy");
    // float16 1.0, 2.0 and 0.5, -2.0
    npy(
        &half,
        "<f2",
        "(2, 2)",
        &[0x00, 0x3c, 0x00, 0x40, 0x00, 0x38, 0x00, 0xc0],
    );
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        half.to_str().unwrap(),
    ]));
    let got = ok(veles(&["--native", "get", db, "c", "0", "1"]));
    let v: Vec<Value> = got
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let x = |i: usize, j: usize| v[i]["vector"][j].as_f64().unwrap();
    // Cosine stores unit vectors: [1, 2] and [0.5, -2] normalised.
    assert!((x(0, 1) / x(0, 0) - 2.0).abs() < 1e-6, "{got}");
    assert!((x(1, 1) / x(1, 0) + 4.0).abs() < 1e-6, "{got}");
}

#[test]
fn compaction_reports_the_disk_space_it_gave_back() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let jl = dir.path().join("p.jsonl");
    jsonl(&jl, 3000, None);
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        jl.to_str().unwrap(),
    ]));
    let report = |o: String| -> (u64, u64) {
        let v: Value = serde_json::from_str(&o).unwrap();
        (
            v["disk_before"].as_u64().unwrap(),
            v["disk_after"].as_u64().unwrap(),
        )
    };
    // Nothing deleted: next to nothing given back (preallocated holes were never on disk).
    let (before, after) = report(ok(veles(&["--native", "--json", "compact", db])));
    assert!(before.abs_diff(after) <= before / 4, "{before} -> {after}");
    ok(veles(&[
        "--native",
        "delete",
        db,
        "c",
        "--filter",
        r#"{"and":[]}"#,
    ]));
    let (before, after) = report(ok(veles(&["--native", "--json", "compact", db])));
    assert!(after < before, "{before} -> {after}");
}

/// The README's first command: the demo builds, searches, reopens, and compares the two
/// engines on the same directory (both read-only, sharing its lock).
#[test]
fn the_demo_runs_to_the_end_with_identical_results() {
    let o = veles(&["demo"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("results identical: yes").count(), 2, "{out}");
    // What loading the component cost is said for what it was: a compile or a cache hit.
    assert!(
        out.contains("component compiled in") || out.contains("from the compile cache"),
        "{out}"
    );
    // --json: one object, nothing else on stdout.
    let o = veles(&["--json", "demo"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["engine"], "component");
    assert_eq!(v["searches"].as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(v["reopened"]["top_hit_unchanged"], true);
    let cmp = v["component_vs_native"].as_array().unwrap();
    assert!(cmp.iter().all(|c| c["identical"] == true), "{v}");
    assert!(v["component_load"]["from_cache"].is_boolean());
}

/// The demo opens with the global options like every other command: a passed deadline
/// stops it (exit 3), a memory limit too small for its vectors is refused with the typed
/// error (exit 1), and `--deadline none` runs it to the end.
#[test]
fn the_demo_takes_the_global_deadline_and_memory_limit() {
    let o = veles(&["--deadline", "0.000001", "demo"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("deadline"), "{}", text(&o));
    let o = veles(&["--memory-limit", "8", "demo"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("exceeds the limit"), "{}", text(&o));
    let o = veles(&["--deadline", "none", "demo"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("results identical: yes").count(), 2);
}

#[test]
fn payloads_keep_their_key_order_and_fields_print_in_full() {
    let (dir, db) = temp_db();
    let db = db.as_str();
    ok(veles(&["--native", "create", db, "c", "--dim", "3"]));
    let long = "x".repeat(300);
    let file = dir.path().join("p.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"id\":1,\"vector\":[1,0,0],\"payload\":{{\"zeta\":1,\"alpha\":\"{long}\",\"mid\":{{\"b\":2,\"a\":1}}}}}}\n"
        ),
    )
    .unwrap();
    ok(veles(&[
        "--native",
        "import",
        db,
        "c",
        file.to_str().unwrap(),
    ]));
    // Key order as written, natively and through the component.
    for mode in [&["--native"][..], &[][..]] {
        let args: Vec<&str> = mode
            .iter()
            .copied()
            .chain(["get", db, "c", "1", "--no-vector"])
            .collect();
        let out = ok(veles(&args));
        let zeta = out.find("zeta").unwrap();
        assert!(
            zeta < out.find("alpha").unwrap() && out.find("\"b\"") < out.find("\"a\""),
            "{out}"
        );
    }
    // --fields: only those keys (dotted paths too), and in full in the text listing.
    let out = ok(veles(&[
        "--native",
        "get",
        db,
        "c",
        "1",
        "--no-vector",
        "--fields",
        "mid.a,zeta",
    ]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["payload"],
        serde_json::json!({"mid.a": 1, "zeta": 1}),
        "{out}"
    );
    let out = ok(veles(&[
        "--native", "search", db, "c", "--vector", "[1,0,0]", "-k", "1", "--fields", "alpha",
    ]));
    assert!(out.contains(&long) && !out.contains('…'), "{out}");
    assert!(
        out.lines().all(|l| !l.ends_with(' ')),
        "trailing spaces: {out:?}"
    );
    let out = ok(veles(&[
        "--native", "search", db, "c", "--vector", "[1,0,0]", "-k", "1",
    ]));
    assert!(out.contains('…'), "an unchosen long payload is cut: {out}");
}

#[test]
fn info_on_an_unfolded_log_builds_no_graph_and_checkpoint_links_it() {
    use veles::{CollectionConfig, Database, Metric, Point};
    let (_dir, db) = temp_db();
    {
        // Left as a process killed after its flush leaves it: no checkpoint at close.
        let options = veles::Options::default().with_checkpoint_at_close(false);
        let d = Database::open_with(Path::new(&db), options).unwrap();
        let c = d
            .create_collection("c", CollectionConfig::new(8, Metric::Euclidean))
            .unwrap();
        let points: Vec<Point> = (0..3000u64)
            .map(|i| Point::new(i, (0..8).map(|j| ((i * 7 + j) % 13) as f32).collect()))
            .collect();
        c.upsert(&points).unwrap();
        c.flush().unwrap();
        // Dropped without a checkpoint: every point is in the log only.
    }
    let info = |mode: &str| -> Value {
        let mut args = vec!["--json", "info", &db];
        if !mode.is_empty() {
            args.insert(0, mode);
        }
        let out = ok(veles(&args));
        serde_json::from_str::<Value>(&out).unwrap()["collections"][0].clone()
    };
    // Natively and through the component (the default).
    for mode in ["--native", ""] {
        let c = info(mode);
        assert_eq!(c["points"], 3000, "{mode}: {c}");
        assert_eq!(c["recovery"]["replayed_records"], 1, "{mode}: {c}");
        // The replayed points wait: info (a read-only open) linked none of them.
        assert_eq!(
            (c["graph_nodes"].as_u64(), c["unindexed"].as_u64()),
            (Some(0), Some(3000))
        );
    }
    let text = ok(veles(&["--native", "info", &db]));
    assert!(text.contains("(3000 points waiting for it)"), "{text}");
    // Searches over waiting points are exact.
    let out = ok(veles(&[
        "--native",
        "--json",
        "search",
        &db,
        "c",
        "--vector",
        "[0,1,2,3,4,5,6,7]",
        "-k",
        "1",
    ]));
    let hits: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(hits[0]["hits"][0]["score"], 0.0, "{hits}");
    ok(veles(&["--native", "checkpoint", &db]));
    let c = info("--native");
    assert_eq!(
        (c["graph_nodes"].as_u64(), c["unindexed"].as_u64()),
        (Some(3000), Some(0))
    );
    assert_eq!(c["recovery"]["replayed_records"], 0, "{c}");
}

#[test]
fn bench_reads_npy_finds_its_own_ground_truth_and_plots_the_curve() {
    let dir = tempfile::tempdir().unwrap();
    let f32s = |n: usize, seed: u64| -> Vec<u8> {
        let mut x = seed;
        (0..n * 8)
            .flat_map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u64 << 24) as f32).to_le_bytes()
            })
            .collect()
    };
    let (base, queries) = (dir.path().join("base.npy"), dir.path().join("q.npy"));
    write_npy(&base, "<f4", "(1500, 8)", &f32s(1500, 1));
    write_npy(&queries, "<f4", "(20, 8)", &f32s(20, 2));
    let (db, svg) = (dir.path().join("db"), dir.path().join("curve.svg"));
    let out = ok(veles(&[
        "--native",
        "--json",
        "bench",
        db.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--ef",
        "16,64",
        "--metric",
        "euclidean",
        "--plot",
        svg.to_str().unwrap(),
    ]));
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["vectors"], 1500, "{run}");
    // Without --gt the exact answers come from the engine's exact scan; the points waiting
    // for the graph right after ingest are scored exactly, so that pass is exact too.
    assert_eq!(run["search_while_waiting"]["recall"], 1.0, "{run}");
    assert!(run["ingest_points_per_second"].as_f64().unwrap() > 0.0);
    let rows = run["runs"][0]["search"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[1]["recall"].as_f64().unwrap() >= 0.9, "{run}");
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(
        doc.starts_with("<svg") && doc.matches("<circle").count() == 2,
        "{doc}"
    );
    // `veles plot` draws saved runs, several in one picture.
    let saved = dir.path().join("run.json");
    std::fs::write(&saved, &out).unwrap();
    let both = dir.path().join("both.svg");
    let (a, b) = (saved.to_str().unwrap(), saved.to_str().unwrap());
    ok(veles(&["plot", both.to_str().unwrap(), a, b]));
    let doc = std::fs::read_to_string(&both).unwrap();
    assert_eq!(doc.matches("<polyline").count(), 2);
    let o = veles(&["plot", both.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn every_argument_and_option_has_help_text() {
    let commands = [
        "create",
        "import",
        "search",
        "get",
        "delete",
        "count",
        "scroll",
        "export",
        "index create",
        "index drop",
        "index list",
        "checkpoint",
        "info",
        "check",
        "compact",
        "snapshot",
        "restore",
        "bench",
        "plot",
        "demo",
    ];
    let mut missing = Vec::new();
    for c in commands {
        let mut args: Vec<&str> = c.split(' ').collect();
        args.push("--help");
        let out = ok(veles(&args));
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let entry = l.starts_with("  <") || l.starts_with("  -");
            if !entry {
                continue;
            }
            let same_line = l
                .trim_start()
                .split_once("  ")
                .is_some_and(|(_, h)| !h.trim().is_empty());
            let next_line = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            if !same_line && !next_line {
                missing.push(format!("veles {c}: {}", l.trim()));
            }
        }
    }
    assert!(missing.is_empty(), "without help text: {missing:#?}");
}

#[test]
fn deadline_takes_seconds_or_none_and_a_passed_deadline_exits_3() {
    let (d, db) = temp_db();
    ok(veles(&["create", &db, "c", "--dim", "3"]));
    for bad in ["0", "-1", "soon", "inf"] {
        let o = veles(&[&format!("--deadline={bad}"), "count", &db, "c"]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("seconds (> 0) or `none`"), "{}", text(&o));
    }
    // No deadline: the component runs without interruption checks, and answers the same.
    let out = ok(veles(&["--deadline", "none", "--json", "count", &db, "c"]));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 0);
    // A deadline far shorter than building a graph of 3,000 points (one call of at least
    // tens of milliseconds, against one 10 ms tick): stopped, exit code 3.
    let points = d.path().join("p.jsonl");
    jsonl(&points, 3000, None);
    let points = points.to_str().unwrap();
    let bench = d.path().join("bench");
    let o = veles(&[
        "--deadline",
        "0.000001",
        "bench",
        bench.to_str().unwrap(),
        "--base",
        points,
        "--queries",
        points,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("deadline"), "{}", text(&o));
}

/// `--json` errors name a WIT error variant (or `usage`) for what the CLI itself refuses too:
/// a database or point that is not there is `not-found`, an unreadable query file `io`; a
/// missing directory is said to be missing, not "not a veles database".
#[test]
fn refusals_of_the_cli_itself_have_a_kind_and_say_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let db_s = db.to_str().unwrap();
    ok(veles(&["--native", "create", db_s, "c", "--dim", "2"]));
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = d.path().join("missing");
    let query_file = d.path().join("nope.fvecs");
    for mode in ["--native", "--deadline=none"] {
        let cases: [(Vec<&str>, &str, &str); 4] = [
            (
                vec!["count", missing.to_str().unwrap(), "c"],
                "not-found",
                "does not exist",
            ),
            (
                vec!["count", empty.to_str().unwrap(), "c"],
                "not-found",
                "is not a veles database",
            ),
            (
                vec!["get", db_s, "c", "5"],
                "not-found",
                "no point with id 5",
            ),
            (
                vec![
                    "search",
                    db_s,
                    "c",
                    "--query-file",
                    query_file.to_str().unwrap(),
                ],
                "io",
                "nope.fvecs",
            ),
        ];
        for (args, kind, words) in cases {
            let mut all = vec![mode, "--json"];
            all.extend(&args);
            let o = veles(&all);
            assert_eq!(o.status.code(), Some(1), "{mode} {args:?}: {}", text(&o));
            let e: Value = serde_json::from_slice(&o.stderr).unwrap();
            assert_eq!(e["error"]["kind"], kind, "{mode} {args:?}: {e}");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(message.contains(words), "{mode} {args:?}: {message}");
        }
    }
}

/// A command that only changes what is there refuses a missing database instead of leaving an
/// empty one behind (a failed import into a mistyped directory used to create it).
#[test]
fn commands_that_change_a_database_do_not_create_one() {
    let d = tempfile::tempdir().unwrap();
    let points = d.path().join("p.jsonl");
    jsonl(&points, 3, None);
    let missing = d.path().join("typo");
    let m = missing.to_str().unwrap();
    for mode in ["--native", "--deadline=none"] {
        for args in [
            vec!["import", m, "c", points.to_str().unwrap()],
            vec!["delete", m, "c", "1"],
            vec!["index", m, "c", "create", "k", "keyword"],
            vec!["checkpoint", m],
            vec!["compact", m],
        ] {
            let mut all = vec![mode, "--json"];
            all.extend(&args);
            let o = veles(&all);
            assert_eq!(o.status.code(), Some(1), "{mode} {args:?}: {}", text(&o));
            let e: Value = serde_json::from_slice(&o.stderr).unwrap();
            assert_eq!(e["error"]["kind"], "not-found", "{mode} {args:?}: {e}");
            assert!(!missing.exists(), "{mode} {args:?} created {m}");
        }
    }
}

/// `drop` removes a collection (and refuses one that is not there); `export --no-vector`
/// leaves the vectors out; `search --format` reads a query file whose name says nothing
/// (stdin), and a search with neither `--vector` nor `--query-file` names both.
#[test]
fn drop_export_without_vectors_and_search_from_stdin() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let db_s = db.to_str().unwrap();
    let points = d.path().join("p.jsonl");
    jsonl(&points, 5, None);
    ok(veles(&["--native", "create", db_s, "c", "--dim", "3"]));
    ok(veles(&[
        "--native",
        "import",
        db_s,
        "c",
        points.to_str().unwrap(),
    ]));
    let lines = ok(veles(&["--native", "export", db_s, "c", "--no-vector"]));
    assert_eq!(lines.lines().count(), 5);
    assert!(lines.lines().all(|l| !l.contains("\"vector\"")), "{lines}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
        .args([
            "--native",
            "--json",
            "search",
            db_s,
            "c",
            "--query-file",
            "-",
        ])
        .args(["--format", "jsonl", "-k", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"id\": 0, \"vector\": [1, 2, 3]}\n")
        .unwrap();
    let hits: Value = serde_json::from_str(&ok(child.wait_with_output().unwrap())).unwrap();
    assert_eq!(hits[0]["hits"].as_array().unwrap().len(), 1, "{hits}");
    let neither = veles(&["--native", "search", db_s, "c"]);
    assert_eq!(neither.status.code(), Some(2));
    let why = text(&neither);
    assert!(
        why.contains("--vector") && why.contains("--query-file"),
        "{why}"
    );
    for mode in ["--native", "--deadline=none"] {
        ok(veles(&[mode, "create", db_s, "gone", "--dim", "2"]));
        let dropped: Value =
            serde_json::from_str(&ok(veles(&[mode, "--json", "drop", db_s, "gone"]))).unwrap();
        assert_eq!(dropped["dropped"], "gone");
        assert!(!ok(veles(&[mode, "info", db_s])).contains("gone"));
        let again = veles(&[mode, "--json", "drop", db_s, "gone"]);
        assert_eq!(again.status.code(), Some(1), "{}", text(&again));
        let e: Value = serde_json::from_slice(&again.stderr).unwrap();
        assert_eq!(e["error"]["kind"], "not-found", "{e}");
    }
}

/// What would otherwise pass in silence is noted on stderr (results unchanged): `--ef` below
/// `k`, and a filter that matches nothing because no point has the key, or because the values
/// at the key are of another kind than the operand.
#[test]
fn ef_below_k_and_filters_that_cannot_match_are_noted() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    let db_s = db.to_str().unwrap();
    let points = d.path().join("p.jsonl");
    let lines: Vec<String> = (0..20)
        .map(|i| {
            serde_json::json!({"id": i, "vector": [i, 1], "payload": {"year": 2000 + i}})
                .to_string()
        })
        .collect();
    std::fs::write(&points, lines.join("\n")).unwrap();
    ok(veles(&["--native", "create", db_s, "c", "--dim", "2"]));
    ok(veles(&[
        "--native",
        "import",
        db_s,
        "c",
        points.to_str().unwrap(),
    ]));
    let ef = veles(&[
        "--native", "search", db_s, "c", "--vector", "[1, 1]", "-k", "5", "--ef", "2",
    ]);
    assert!(ef.status.success());
    assert!(
        String::from_utf8_lossy(&ef.stderr).contains("--ef 2 is below -k 5"),
        "{}",
        text(&ef)
    );
    let string_year = r#"{"key": "year", "gte": "2010"}"#;
    let o = veles(&["--native", "count", db_s, "c", "--filter", string_year]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("strings"),
        "{}",
        text(&o)
    );
    let typo = r#"{"key": "yaer", "eq": 2010}"#;
    let o = veles(&[
        "--native", "--json", "search", db_s, "c", "--vector", "[1, 1]", "--filter", typo,
    ]);
    assert!(o.status.success());
    let note: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stderr).lines().next().unwrap()).unwrap();
    assert!(
        note["note"].as_str().unwrap().contains("\"yaer\""),
        "{note}"
    );
    // A filter that matches says nothing.
    let o = veles(&[
        "--native",
        "count",
        db_s,
        "c",
        "--filter",
        r#"{"key": "year", "gte": 2010}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "10");
    assert!(o.stderr.is_empty(), "{}", text(&o));
}

/// `restore --force` replaces a database (and only a database no one has open), after
/// checking the snapshot; without it a non-empty directory is refused with the hint.
#[test]
fn restore_force_replaces_a_database_and_nothing_else() {
    let (dir, db) = temp_db();
    let file = dir.path().join("p.jsonl");
    jsonl(&file, 50, None);
    let (snap, other) = (format!("{db}-snap"), format!("{db}-other"));
    for mode in ["--native", ""] {
        let run = |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            if !mode.is_empty() {
                all.insert(0, mode);
            }
            veles(&all)
        };
        for d in [&db, &snap, &other] {
            let _ = std::fs::remove_dir_all(d);
        }
        ok(run(&["create", &db, "c", "--dim", "3"]));
        ok(run(&["import", &db, "c", file.to_str().unwrap()]));
        ok(run(&["snapshot", &db, &snap]));
        ok(run(&["create", &other, "d", "--dim", "3"]));
        let refused = run(&["restore", &snap, &other]);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(text(&refused).contains("--force"), "{}", text(&refused));
        ok(run(&["restore", &snap, &other, "--force"]));
        assert_eq!(count(&other, "c"), 50, "{mode}");
        let list = ok(veles(&["--native", "--json", "info", &other]));
        assert!(
            !list.contains("\"d\""),
            "{mode}: the old database is gone: {list}"
        );
        // Nothing is left beside it.
        let siblings: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".restoring-") || n.contains(".replaced-"))
            .collect();
        assert!(siblings.is_empty(), "{siblings:?}");
    }
    // Not a database: refused, untouched.
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), "mine").unwrap();
    let refused = veles(&["restore", &snap, plain.to_str().unwrap(), "--force"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("not a veles database"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(plain.join("notes.txt")).unwrap(),
        "mine"
    );
    // A database someone has open: refused, untouched.
    let held = veles::Database::open(Path::new(&other)).unwrap();
    let refused = veles(&["--native", "restore", &snap, &other, "--force"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    drop(held);
    assert_eq!(count(&other, "c"), 50);
}

/// At a terminal, `scroll` and `get` print a line a person reads: the vector's first
/// components and its dimension, not 384 numbers; piped, JSON lines as before. (`script`
/// gives the command a terminal; util-linux has it on every Linux this runs on.)
#[test]
fn scroll_and_get_print_a_human_view_at_a_terminal() {
    let (dir, db) = temp_db();
    let file = dir.path().join("p.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for i in 0..3 {
        let v: Vec<String> = (0..384)
            .map(|j| format!("{}", (i * 384 + j) as f32 / 1e4))
            .collect();
        writeln!(
            f,
            "{{\"id\":{i},\"vector\":[{}],\"payload\":{{\"n\":{i}}}}}",
            v.join(",")
        )
        .unwrap();
    }
    drop(f);
    ok(veles(&[
        "create",
        &db,
        "c",
        "--dim",
        "384",
        "--metric",
        "euclidean",
    ]));
    ok(veles(&["import", &db, "c", file.to_str().unwrap()]));
    let bin = env!("CARGO_BIN_EXE_veles");
    for cmd in [
        format!("{bin} scroll {db} c --limit 2"),
        format!("{bin} get {db} c 1"),
    ] {
        let Ok(o) = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "`script` (util-linux) is missing"
            );
            eprintln!("skipped: no `script` to give the CLI a terminal");
            return;
        };
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{out}");
        assert!(out.contains("… 384 dims]"), "{cmd}: {out}");
        assert!(out.contains("{\"n\":1}"), "{cmd}: {out}");
        assert!(out.lines().all(|l| l.len() < 200), "{cmd}: {out}");
    }
    // Piped: JSON lines, every component.
    let piped = ok(veles(&["scroll", &db, "c", "--limit", "1"]));
    let line: Value = serde_json::from_str(piped.lines().next().unwrap()).unwrap();
    assert_eq!(line["vector"].as_array().unwrap().len(), 384);
}

/// `veles plot` of several runs: the legend fits the picture, no two ef labels overlap, and
/// the QPS axis spans what was measured (each failed before: a legend cut at a fixed width,
/// every label beside its marker, whole decades).
#[test]
fn plot_of_several_runs_fits_its_legend_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let efs = [16, 24, 32, 48, 64, 96, 128, 256, 512];
    let mut files = Vec::new();
    for mode in ["native", "component"] {
        let runs: Vec<Value> = [
            Value::Null,
            serde_json::json!({"key": "year", "gte": 2020, "note": "a long filter"}),
        ]
        .iter()
        .enumerate()
        .map(|(f, filter)| {
            let rows: Vec<Value> = efs
                .iter()
                .map(|&ef| {
                    let qps = 30_000.0 / (1.0 + ef as f64 / 40.0) / (1 + f) as f64;
                    serde_json::json!({"ef": ef, "recall": 1.0 - 0.5 / ef as f64, "qps": qps})
                })
                .collect();
            serde_json::json!({"filter": filter, "search": rows})
        })
        .collect();
        let path = dir.path().join(format!("{mode}.json"));
        std::fs::write(
            &path,
            serde_json::json!({"mode": mode, "runs": runs}).to_string(),
        )
        .unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let out = dir.path().join("plot.svg");
    ok(veles(&[
        "plot",
        out.to_str().unwrap(),
        &files[0],
        &files[1],
    ]));
    let svg = std::fs::read_to_string(&out).unwrap();
    let attr = |line: &str, k: &str| -> f64 {
        let at = line.find(k).unwrap() + k.len();
        line[at..].split('"').next().unwrap().parse().unwrap()
    };
    let width = attr(svg.lines().next().unwrap(), "width=\"");
    // The legend: 12px text, at most 7px a character.
    for l in svg
        .lines()
        .filter(|l| l.starts_with("<text x=") && l.contains(", "))
    {
        let text = l.split('>').nth(1).unwrap().split('<').next().unwrap();
        let text = text.replace("&quot;", "\"");
        let end = attr(l, "x=\"") + text.chars().count() as f64 * 7.0;
        assert!(
            end <= width,
            "{l}: ends at {end}, the picture is {width} wide"
        );
    }
    // The ef labels: 10px text, at most 24 x 11 pixels each.
    let labels: Vec<(f64, f64)> = svg
        .lines()
        .filter(|l| l.contains("font-size=\"10\""))
        .map(|l| (attr(l, "x=\""), attr(l, "y=\"")))
        .collect();
    assert!(!labels.is_empty());
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            assert!(
                (a.0 - b.0).abs() >= 24.0 || (a.1 - b.1).abs() >= 11.0,
                "ef labels at {a:?} and {b:?} overlap"
            );
        }
    }
    // The markers use most of the plot's height.
    let ys: Vec<f64> = svg
        .lines()
        .filter(|l| l.starts_with("<circle"))
        .map(|l| attr(l, "cy=\""))
        .collect();
    let (lo, hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    let height = attr(svg.lines().next().unwrap(), "height=\"");
    assert!(
        hi - lo >= 0.6 * height,
        "markers span {} of {height} pixels",
        hi - lo
    );
}
