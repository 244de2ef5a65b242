//! The JavaScript package (`js/`) under Node: its build (`jco transpile` of the component the
//! native host embeds) and its node:test suite (`js/test/`), with a database the native
//! library wrote read through the package, and one the package wrote checked natively.
//!
//! Needs `node` and `js/node_modules` (`.ci/run` runs `npm ci --prefix js`): skipped with a
//! message where they are absent, a failure when `CI` is set.

use std::process::Command;
use veles::{CollectionConfig, Database, Metric};

#[path = "support/jco.rs"]
mod jco;
use jco::*;

fn ready() -> bool {
    requirements_met(&[
        ("node", node_runs()),
        (
            "js/node_modules (`npm ci --prefix js`)",
            js_dir().join("node_modules/@bytecodealliance/jco").exists(),
        ),
    ])
}

#[test]
fn the_package_passes_its_suite_and_shares_files_with_native_code() {
    if !ready() {
        return;
    }
    let build = Command::new("node")
        .arg(js_dir().join("build.mjs"))
        .arg(env!("VELES_COMPONENT_PATH"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "npm run build: {}",
        String::from_utf8_lossy(&build.stderr)
    );

    let native = tempfile::tempdir().unwrap();
    write_native_docs(native.path(), CollectionConfig::new(4, Metric::Cosine));
    let from_js = tempfile::tempdir().unwrap();
    let out = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(js_dir())
        .env("VELES_NATIVE_DB", native.path())
        .env("VELES_JS_DB", from_js.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every test ran: the native round trip was not skipped.
    assert!(report.contains("# skipped 0"), "{report}");

    let db = Database::open_read_only(from_js.path()).unwrap();
    let reports = db.check().unwrap();
    assert!(reports.iter().all(|r| r.is_ok()), "{reports:?}");
    let docs = db.collection("docs").unwrap();
    assert_eq!(docs.len().unwrap(), N as usize);
    let got = docs.get(&[10]).unwrap().remove(0).unwrap();
    assert_eq!(got.payload, Some(payload_of(10)));
    assert!(close(&got.vector, &unit(&vector_of(10))));
}
