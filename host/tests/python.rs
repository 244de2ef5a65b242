//! The Python package (`python/`) as a user installs it: maturin builds the extension into the
//! virtual environment `python/.venv` (which `.ci/run` makes from `python/requirements-dev.txt`),
//! and pytest runs `python/tests` against it, with this build's `veles` binary for the tests
//! that cross formats with the CLI.
//!
//! Skipped with a message where the environment is absent, a failure when `CI` is set.

use std::path::Path;
use std::process::Command;

#[test]
fn the_python_package_passes_its_pytest_suite() {
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
}
