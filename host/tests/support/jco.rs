//! What the tests that run the component under jco + Node share (`node.rs`, `python.rs`,
//! `js.rs`, `browser.rs`): the
//! deterministic points both sides write (`vectorOf` / `payloadOf` in roundtrip.mjs), the
//! transpiled component, and one run of roundtrip.mjs.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const N: u64 = 300;

/// The points both sides write: the same as `vectorOf` / `payloadOf` in roundtrip.mjs.
pub fn vector_of(i: u64) -> Vec<f32> {
    vec![
        (i % 7) as f32 + 1.0,
        (i % 5) as f32 + 1.0,
        (i % 3) as f32 + 1.0,
        1.0 + i as f32 / N as f32,
    ]
}

pub fn payload_of(i: u64) -> Value {
    serde_json::json!({"i": i, "even": i.is_multiple_of(2)})
}

/// Writes the points both sides write natively into a new database at `dir`: collection
/// `docs` (`config`: 4-d cosine), flushed.
pub fn write_native_docs(dir: &Path, config: veles::CollectionConfig) {
    let db = veles::Database::open(dir).unwrap();
    let c = db.create_collection("docs", config).unwrap();
    let points: Vec<veles::Point> = (0..N)
        .map(|i| veles::Point::new(i, vector_of(i)).with_payload(payload_of(i)))
        .collect();
    c.upsert(&points).unwrap();
    c.flush().unwrap();
}

/// Cosine vectors come back normalised.
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

pub fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

pub fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// The JavaScript package's folder.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../js")
}

/// Whether `node` runs here.
pub fn node_runs() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when every requirement (what it is and how to get it, whether it holds) holds; else
/// the test is skipped with a message naming what is missing, a failure when `CI` is set.
pub fn requirements_met(requirements: &[(&str, bool)]) -> bool {
    let missing: Vec<&str> = requirements
        .iter()
        .filter(|(_, holds)| !holds)
        .map(|(what, _)| *what)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing: {}", missing.join("; "));
    assert!(std::env::var_os("CI").is_none(), "{why}; CI must have them");
    eprintln!("skipped: {why}");
    false
}

/// The transpiled component, or `None` (with a message) where Node or the packages are absent.
pub fn transpiled(out: &Path) -> Option<PathBuf> {
    let jco = node_dir().join("node_modules/@bytecodealliance/jco/dist/jco.js");
    let have_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_node || !jco.exists() {
        let why = format!(
            "node ({have_node}) or {} is missing: run `npm ci --prefix host/node`",
            jco.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{why}; CI must have them");
        eprintln!("skipped: {why}");
        return None;
    }
    let o = Command::new("node")
        .arg(&jco)
        .args([
            "transpile",
            env!("VELES_COMPONENT_PATH"),
            "--name",
            "veles",
            "--quiet",
            "-o",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "jco transpile: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(out.to_path_buf())
}

pub fn run_node(generated: &Path, db: &Path, mode: &str) -> Value {
    let o = Command::new("node")
        .arg(node_dir().join("roundtrip.mjs"))
        .arg(generated)
        .arg(db)
        .arg(mode)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "node {mode}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The transpiled component in a temporary directory below `host/node` (where Node finds the
/// shim's package), kept while the first value lives; `None` (with a message) where Node or
/// the packages are absent.
pub fn generated() -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("gen-")
        .tempdir_in(node_dir())
        .unwrap();
    let generated = transpiled(dir.path())?;
    Some((dir, generated))
}

/// What roundtrip.mjs's `read` printed holds the `N` points both sides write, exactly.
pub fn assert_the_points(out: &Value) {
    let points = out["points"].as_array().unwrap();
    assert_eq!(points.len() as u64, N, "{out}");
    for (i, p) in points.iter().enumerate() {
        let v: Vec<f32> = p["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert!(
            close(&v, &unit(&vector_of(i as u64))),
            "point {i} through jco"
        );
        let payload: Value = serde_json::from_str(p["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, payload_of(i as u64), "point {i} through jco");
    }
}
