//! The Python package (`python/`) as a user installs it: maturin builds the extension into the
//! virtual environment `python/.venv` (which `.ci/run` makes from `python/requirements-dev.txt`),
//! and pytest runs `python/tests` against it, with this build's `veles` binary for the tests
//! that cross formats with the CLI.
//!
//! Then the jco leg of "the same files everywhere": a database Python writes is read through
//! jco + Node, and one that jco writes is read from Python.
//!
//! Skipped with a message where the environment is absent, a failure when `CI` is set.

#[path = "support/jco.rs"]
mod jco;

use jco::{N, assert_the_points, payload_of, run_node};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs `code` in the package's Python with `args` in `sys.argv[1:]`; its stdout.
fn python(venv: &Path, code: &str, args: &[&Path]) -> String {
    let o = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Python writes the points roundtrip.mjs knows; jco reads them. jco writes; Python reads.
fn crosses_with_jco(venv: &Path) {
    let Some((_dir, generated)) = jco::generated() else {
        return;
    };
    let a = tempfile::tempdir().unwrap();
    let write = r#"
import sys, numpy as np, veles
n = 300
v = np.array([[(i % 7) + 1, (i % 5) + 1, (i % 3) + 1, 1 + i / n] for i in range(n)], dtype=np.float32)
with veles.open(sys.argv[1]) as db:
    c = db.create_collection("docs", 4, metric="cosine", m=16, ef_construction=100)
    c.upsert(np.arange(n), v, [{"i": i, "even": i % 2 == 0} for i in range(n)])
"#;
    python(venv, write, &[a.path()]);
    let out = run_node(&generated, a.path(), "read");
    assert_eq!(out["stats"]["len"], N, "{out}");
    assert_the_points(&out);
    let b = tempfile::tempdir().unwrap();
    let wrote = run_node(&generated, b.path(), "write");
    let read = r#"
import sys, json, veles
c = veles.open(sys.argv[1], read_only=True).collection("docs")
print(json.dumps({"len": len(c), "p10": c.get([10])[0]["payload"]}))
"#;
    let got: Value = serde_json::from_str(&python(venv, read, &[b.path()])).unwrap();
    assert_eq!(got["len"], wrote["len"], "{got} {wrote}");
    assert_eq!(got["p10"], payload_of(10), "{got}");
}

#[test]
fn the_python_package_passes_its_pytest_suite_and_shares_files_with_jco() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let package = root.join("python");
    let venv = package.join(".venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import maturin, pytest, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let why = format!(
            "{} has no maturin, pytest and numpy (python3 -m venv python/.venv && \
             python/.venv/bin/pip install -r python/requirements-dev.txt)",
            venv.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{why}; CI must have them");
        eprintln!("skipped: {why}");
        return;
    }
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = Command::new(&python)
        .args(["-m", "maturin", "develop", "--release", "--quiet"])
        .current_dir(&package)
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "maturin develop: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let tests = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&package)
        .env("VELES_BIN", env!("CARGO_BIN_EXE_veles"))
        .env("PATH", &path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&tests.stdout);
    eprintln!("{out}");
    assert!(
        tests.status.success(),
        "pytest failed:\n{out}{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    crosses_with_jco(&venv);
}
