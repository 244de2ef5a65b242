//! The point commands of the `veles` binary (`get`, `delete`, `count`, `scroll`, `export`,
//! `index`) and `bench` with filters, through the component and natively.

use serde_json::Value;
use std::process::{Command, Output};

fn veles(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veles"))
        .args(args)
        .output()
        .expect("veles runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn points_are_listed_counted_deleted_indexed_and_exported_for_import_to_read_back() {
    for native in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let db = db.to_str().unwrap();
        let mode: &[&str] = if native { &["--native"] } else { &[] };
        let run = |args: &[&str]| veles(&[mode, args].concat());
        let jl = dir.path().join("p.jsonl");
        let mut text = String::new();
        for i in 0..500u64 {
            let big = u64::MAX - i % 3;
            text += &format!(
                "{{\"id\":{i},\"vector\":[{},{},1.5],\"payload\":{{\"bucket\":{},\"big\":{big}}}}}\n",
                i % 13,
                i % 7,
                i % 10
            );
        }
        std::fs::write(&jl, text).unwrap();
        ok(run(&[
            "create",
            db,
            "c",
            "--dim",
            "3",
            "--metric",
            "euclidean",
        ]));
        ok(run(&["import", db, "c", jl.to_str().unwrap()]));

        let out = ok(run(&["index", db, "c", "create", "bucket", "integer"]));
        assert!(out.contains("created"), "{out}");
        let out = ok(run(&["index", db, "c", "create", "bucket", "integer"]));
        assert!(out.contains("already existed"), "{out}");
        let o = run(&["index", db, "c", "create", "bucket", "colour"]);
        assert_eq!(o.status.code(), Some(2), "a bad kind is a usage error");
        let out = ok(run(&["--json", "index", db, "c", "list"]));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["indexes"][0]["key"], "bucket");
        assert_eq!(v["indexes"][0]["values"], 10);

        let count = |f: &str| -> u64 {
            let out = ok(run(&["--json", "count", db, "c", "--filter", f]));
            serde_json::from_str::<Value>(&out).unwrap()["count"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(count(r#"{"key":"bucket","eq":3}"#), 50);
        assert_eq!(count(r#"{"key":"bucket","lt":3}"#), 150);
        // Exact past 2^53: u64::MAX - 1 is neither u64::MAX nor u64::MAX - 2.
        assert_eq!(count(r#"{"key":"big","eq":18446744073709551614}"#), 167);
        assert_eq!(count(r#"{"key":"big","gt":18446744073709551614}"#), 167);

        let got = lines(&ok(run(&["get", db, "c", "7", "3", "--no-vector"])));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["id"], 7);
        assert!(got[0].get("vector").is_none());
        assert_eq!(got[1]["payload"]["bucket"], 3);
        let o = run(&["get", db, "c", "7", "100000"]);
        assert_eq!(o.status.code(), Some(1), "a missing id is reported");
        assert_eq!(lines(&String::from_utf8_lossy(&o.stdout)).len(), 1);

        let o = run(&["scroll", db, "c", "--start", "10", "--limit", "3"]);
        let page = lines(&ok(o.clone()));
        assert_eq!(
            page.iter()
                .map(|p| p["id"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [10, 11, 12]
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("--start 13"));

        let out = ok(run(&[
            "--json",
            "delete",
            db,
            "c",
            "--filter",
            r#"{"key":"bucket","eq":0}"#,
        ]));
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["deleted"], 50);
        let out = ok(run(&["delete", db, "c", "1", "2", "1000"]));
        assert!(out.contains("deleted 2 point(s)"), "{out}");
        assert_eq!(count(r#"{"and":[]}"#), 448);

        // export | import is the identity.
        let exported = ok(run(&["export", db, "c"]));
        assert_eq!(exported.lines().count(), 448);
        let file = dir.path().join("e.jsonl");
        std::fs::write(&file, &exported).unwrap();
        ok(run(&[
            "create",
            db,
            "d",
            "--dim",
            "3",
            "--metric",
            "euclidean",
        ]));
        ok(run(&["import", db, "d", file.to_str().unwrap()]));
        assert_eq!(ok(run(&["export", db, "d"])), exported);

        // A closed pipe ends the export quietly (SIGPIPE's 141), no panic. The export is
        // larger than a pipe's buffer, so it cannot finish before the pipe closes.
        let big = dir.path().join("big.jsonl");
        let lines: String = (0..4000u64)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"vector\":[{i},1,2],\"payload\":{{\"pad\":\"{}\"}}}}\n",
                    "x".repeat(40)
                )
            })
            .collect();
        std::fs::write(&big, lines).unwrap();
        ok(run(&[
            "create",
            db,
            "big",
            "--dim",
            "3",
            "--metric",
            "euclidean",
        ]));
        ok(run(&["import", db, "big", big.to_str().unwrap()]));
        let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
            .args([mode, &["export", db, "big"]].concat())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(141),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );

        let out = ok(run(&["check", db]));
        assert!(out.contains("no problems"), "{out}");
    }
}

/// Text indexes, sparse fields and fused queries from the command line: `create --sparse`,
/// `import` and `export` of sparse vectors (a round trip), `index create … text`, `query`
/// (JSON and JSON lines, `--explain`), the same answers natively and through the component.
#[test]
fn sparse_fields_text_indexes_and_fused_queries_from_the_command_line() {
    let mut answers = Vec::new();
    for native in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let db = db.to_str().unwrap();
        let mode: &[&str] = if native { &["--native"] } else { &[] };
        let run = |args: &[&str]| veles(&[mode, args].concat());
        ok(run(&[
            "create",
            db,
            "c",
            "--dim",
            "2",
            "--sparse",
            "terms:idf",
            "--sparse",
            "raw",
        ]));
        let jl = dir.path().join("p.jsonl");
        let words = ["red shoe", "blue shoe", "red hat", "東京 タワー"];
        let text: String = (0..40u64)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"vector\":[{},1],\"payload\":{{\"body\":\"{}\"}},\"sparse\":{{\"terms\":{{\"indices\":[{},{}],\"values\":[1,{}]}}}}}}\n",
                    i % 5,
                    words[i as usize % 4],
                    i % 7,
                    7 + i % 3,
                    i % 4
                )
            })
            .collect();
        std::fs::write(&jl, &text).unwrap();
        ok(run(&["import", db, "c", jl.to_str().unwrap()]));
        ok(run(&[
            "index",
            db,
            "c",
            "create",
            "body",
            "text",
            "--config",
            "{\"tokenizer\": \"cjk\"}",
        ]));
        let q = r#"{"legs": [{"text": "red shoes", "key": "body"}, {"sparse": {"indices": [3, 8], "values": [1, 2]}, "field": "terms"}], "fusion": "dbsf", "limit": 5}"#;
        let out = ok(run(&["--json", "query", db, "c", q]));
        let hits: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(hits[0]["hits"].as_array().unwrap().len(), 5, "{out}");
        answers.push(out);
        let plans = ok(run(&["query", db, "c", q, "--explain"]));
        assert!(plans.contains("Postings"), "{plans}");
        // JSON lines on stdin: one list of hits per line.
        let mut child = Command::new(env!("CARGO_BIN_EXE_veles"))
            .args([mode, &["--json", "query", db, "c", "-"]].concat())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let lines = format!("{q}\n{{\"legs\": [{{\"text\": \"東京\", \"key\": \"body\"}}]}}\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let both: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(both.as_array().unwrap().len(), 2);
        assert_eq!(both[1]["hits"][0]["payload"]["body"], "東京 タワー");
        // Export gives back what import took, sparse vectors included.
        let exported = ok(run(&["export", db, "c"]));
        let first: Value = serde_json::from_str(exported.lines().next().unwrap()).unwrap();
        assert_eq!(
            first["sparse"]["terms"]["indices"],
            serde_json::json!([0, 7])
        );
        // A bad sparse vector is refused with the record named; a leg on no such field too.
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{\"id\":99,\"vector\":[1,1],\"sparse\":{\"terms\":{\"indices\":[2,1],\"values\":[1,1]}}}\n").unwrap();
        let o = run(&["import", db, "c", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        let o = run(&[
            "query",
            db,
            "c",
            r#"{"legs": [{"sparse": {"indices": [1], "values": [1]}, "field": "nope"}]}"#,
        ]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = ok(run(&["check", db]));
        assert!(out.contains("no problems"), "{out}");
    }
    assert_eq!(answers[0], answers[1], "native and component agree");
}
