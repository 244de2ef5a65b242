//! The JavaScript package in a real browser (`js/test-browser/`): Debian's Chromium, driven by
//! playwright-core, runs the demo page over OPFS. A database the native library wrote is
//! imported into the page from a tar archive and searched there; the database the page
//! exported is unpacked and checked here, natively and by `veles --native check`. The suite
//! also kills the whole browser while a page writes and finds every flushed batch after.
//!
//! Needs `node`, `js/node_modules` (`npm ci --prefix js`) and Chromium (`/usr/bin/chromium`
//! or `$CHROMIUM`; `.ci/run` installs Debian's): skipped with a message where one is absent,
//! a failure when `CI` is set.

use std::path::PathBuf;
use std::process::Command;
use veles::{CollectionConfig, Database, Metric};

#[path = "support/jco.rs"]
mod jco;
use jco::*;

fn ready() -> bool {
    let chromium =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    requirements_met(&[
        ("node", node_runs()),
        (
            "js/node_modules (`npm ci --prefix js`)",
            js_dir().join("node_modules/playwright-core").exists(),
        ),
        (
            "Chromium at /usr/bin/chromium or $CHROMIUM (`apt-get install chromium`)",
            chromium.exists(),
        ),
    ])
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

#[test]
fn a_page_keeps_its_database_in_opfs_and_trades_archives_with_native_code() {
    if !ready() {
        return;
    }
    run(Command::new("node")
        .arg(js_dir().join("build.mjs"))
        .arg(env!("VELES_COMPONENT_PATH")));

    let scratch = tempfile::tempdir().unwrap();
    let native = scratch.path().join("native");
    write_native_docs(&native, CollectionConfig::new(4, Metric::Cosine));
    let archive = scratch.path().join("native.tar");
    run(Command::new("tar")
        .arg("cf")
        .arg(&archive)
        .arg("-C")
        .arg(&native)
        .arg("."));

    let exported = scratch.path().join("export.tar");
    let report = run(Command::new("node")
        .args(["--test", "test-browser/"])
        .current_dir(js_dir())
        .env("VELES_NATIVE_ARCHIVE", &archive)
        .env("VELES_NATIVE_LEN", N.to_string())
        .env("VELES_BROWSER_EXPORT", &exported));
    // Every test ran: none was skipped.
    assert!(
        report.contains("# pass 3") && report.contains("# skipped 0"),
        "{report}"
    );

    let unpacked = scratch.path().join("from-browser");
    std::fs::create_dir(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("xf")
        .arg(&exported)
        .arg("-C")
        .arg(&unpacked));
    run(Command::new(env!("CARGO_BIN_EXE_veles"))
        .arg("--native")
        .arg("check")
        .arg(&unpacked));
    let db = Database::open_read_only(&unpacked).unwrap();
    assert!(db.check().unwrap().iter().all(|r| r.is_ok()));
    let sentences = db.collection("sentences").unwrap();
    assert_eq!(sentences.len().unwrap(), 5000);
    // The page's writes: point 1 deleted, point 2 tagged, one point with a 2^60 id.
    assert!(sentences.get(&[1]).unwrap()[0].is_none());
    let two = sentences.get(&[2]).unwrap().remove(0).unwrap();
    assert_eq!(two.payload.unwrap()["tag"], "kept");
    assert!(sentences.get(&[1 << 60]).unwrap()[0].is_some());
}
