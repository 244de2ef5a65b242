//! The component on a host we did not write: jco + Node (`host/node/`, pinned in its
//! package-lock.json; `.ci/run` installs it). A database written through jco is read natively
//! and through wasmtime, and one written natively is read through jco.
//!
//! Needs `node` and `host/node/node_modules`: skipped with a message where they are absent,
//! a failure when `CI` is set.

use std::process::Command;
use veles::{CollectionConfig, Database, Metric};
use veles_host::{Backend, ComponentBackend, Limits, Runtime};

#[path = "support/jco.rs"]
mod jco;
use jco::*;

#[test]
fn a_database_written_through_jco_reads_natively_and_one_written_natively_reads_through_jco() {
    // Generated code must sit below host/node so that Node finds the shim's package.
    let Some((_dir, generated)) = generated() else {
        return;
    };

    // jco writes; the library and wasmtime read.
    let a = tempfile::tempdir().unwrap();
    let out = run_node(&generated, a.path(), "write");
    assert_eq!(out["deleted"], 3, "{out}");
    let live = N - 3;
    // The flush linked whole steps of 256 (the component's default, `Linking::AtFlush`);
    // the rest waits until `optimize` links it.
    assert_eq!(out["waiting"], live % 256, "{out}");
    assert_eq!(out["leftAfterStep"], 0, "{out}");
    assert_eq!(out["waitingAfterCheckpoint"], 0, "{out}");
    assert_eq!(out["indexed"], true, "{out}");
    assert_eq!(out["evens"], (3..N).filter(|i| i % 2 == 0).count(), "{out}");
    assert_eq!(out["updated"], 1, "{out}");
    assert_eq!(out["page"], serde_json::json!([3, 4, 5, 6]), "{out}");
    assert_eq!(out["next"], 7, "{out}");
    assert_eq!(out["len"], 298, "{out}");
    assert_eq!(out["wrongDim"], "dimension-mismatch", "{out}");
    assert_eq!(out["check"][0]["problems"], 0, "{out}");
    let filtered = out["filtered"].as_array().unwrap();
    assert_eq!(filtered.len(), 5);
    assert!(
        filtered.iter().all(|id| id.as_u64().unwrap() % 2 == 0),
        "{out}"
    );
    let want: Vec<u64> = (3..N).chain([1000]).collect();
    {
        let db = Database::open_read_only(a.path()).unwrap();
        let c = db.collection("docs").unwrap();
        let got = c.get(&want).unwrap();
        for (id, p) in want.iter().zip(&got) {
            let p = p.as_ref().unwrap_or_else(|| panic!("point {id} missing"));
            assert!(close(&p.vector, &unit(&vector_of(*id))), "point {id}");
            let mut want = payload_of(*id);
            if *id == 3 {
                want["tag"] = "x".into();
            }
            assert_eq!(p.payload.as_ref(), Some(&want), "point {id}");
        }
        let indexes = c.indexes().unwrap();
        assert_eq!(indexes.len(), 1);
        assert_eq!(
            (indexes[0].key.as_str(), indexes[0].kind),
            ("even", veles::IndexKind::Bool)
        );
        assert!(c.get(&[0, 1, 2]).unwrap().iter().all(Option::is_none));
        assert!(db.check().unwrap().iter().all(|r| r.is_ok()));
        let snap = Database::open_read_only(a.path().join("snap")).unwrap();
        assert_eq!(snap.collection("docs").unwrap().len().unwrap(), 298);
        // The fused query jco ran, natively on the same files: the same answer.
        let h = db.collection("hybrid").unwrap();
        let query = veles::Query::new(5)
            .with_payload(false)
            .with_fusion(veles::Fusion::Dbsf)
            .leg(veles::Leg::text("body", "red shoes"))
            .leg(veles::Leg::sparse(
                "terms",
                veles::SparseVector::new(vec![3, 8], vec![1.0, 2.0]),
            ));
        let native: Vec<u64> = h.query(&query).unwrap().iter().map(|x| x.id).collect();
        assert_eq!(native.len(), 5);
        assert_eq!(out["hybrid"], serde_json::json!(native), "{out}");
    }
    let rt = Runtime::new().unwrap();
    let mut component = ComponentBackend::open(&rt, a.path(), &Limits::default()).unwrap();
    assert_eq!(component.get("docs", &want).unwrap().len(), want.len());
    assert!(component.check().unwrap().iter().all(|r| r.is_ok()));
    drop(component);

    // The library writes; jco reads.
    let b = tempfile::tempdir().unwrap();
    write_native_docs(
        b.path(),
        CollectionConfig::new(4, Metric::Cosine).with_hnsw(16, 100),
    );
    let out = run_node(&generated, b.path(), "read");
    assert_eq!(out["readOnly"], "read-only", "{out}");
    assert_eq!(out["evens"], N.div_ceil(2), "{out}");
    assert_eq!(out["stats"]["len"], N, "{out}");
    assert_the_points(&out);
    // The same filtered search natively.
    let db = Database::open_read_only(b.path()).unwrap();
    let filter = veles::Filter::eq("even", true);
    let native: Vec<u64> = db
        .collection("docs")
        .unwrap()
        .search(&vector_of(10), 5, Some(&filter))
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    let through_jco: Vec<u64> = out["filtered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(native, through_jco);
}

/// The jco host takes the same directory lock as every other host: a Node writer is refused
/// while another process writes (and writes nothing). A reader takes no lock.
#[test]
fn a_node_writer_takes_the_directory_lock() {
    let Some((_dir, generated)) = generated() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    Database::open(d.path()).unwrap(); // the directory, its marker and its LOCK
    let writer = veles::region::DirectoryLock::exclusive(d.path()).unwrap();
    {
        let mode = "write";
        let o = Command::new("node")
            .arg(node_dir().join("roundtrip.mjs"))
            .arg(&generated)
            .arg(d.path())
            .arg(mode)
            .output()
            .unwrap();
        assert!(!o.status.success(), "node {mode} ran beside a writer");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("locked"), "node {mode}: {err}");
    }
    drop(writer);
    assert!(
        Database::open_read_only(d.path())
            .unwrap()
            .list()
            .unwrap()
            .is_empty(),
        "Node wrote nothing"
    );
}
