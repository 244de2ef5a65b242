//! The core's unit tests on aarch64, where the distance kernels are NEON: built for
//! `aarch64-unknown-linux-gnu` and run under qemu's user-mode emulation. They check that the
//! kernels there are bit-identical to the portable definition (as on x86-64 and in the
//! component), so a database built on an ARM machine is the one built anywhere else.
//!
//! Needs the rustup target, a cross linker (`aarch64-linux-gnu-gcc`) and `qemu-aarch64`
//! (`.ci/run` installs them): skipped with a message where one is missing, a failure when
//! `CI` is set. The build goes to its own target directory (`target/aarch64`).

use std::path::Path;
use std::process::Command;

const TARGET: &str = "aarch64-unknown-linux-gnu";
const LINKER: &str = "aarch64-linux-gnu-gcc";
const QEMU: &str = "qemu-aarch64";
/// Where Debian's cross packages put the aarch64 C library (qemu loads it from there).
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether rustup's standard library for `TARGET` is installed.
fn has_target() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir())
}

#[test]
fn the_core_passes_its_unit_tests_on_aarch64() {
    let missing: Vec<&str> = [
        (!has_target()).then_some("the rustup target aarch64-unknown-linux-gnu"),
        (!runs(LINKER, "--version")).then_some(LINKER),
        (!runs(QEMU, "--version")).then_some(QEMU),
        (!Path::new(SYSROOT).is_dir()).then_some(SYSROOT),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} missing (`rustup target add {TARGET}`; Debian: qemu-user gcc-aarch64-linux-gnu)",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{why}; CI must have them");
        eprintln!("skipped: {why}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--release",
            "-p",
            "veles",
            "--lib",
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(root.join("target/aarch64"))
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", QEMU)
        .env("QEMU_LD_PREFIX", SYSROOT)
        // Flags meant for this machine's CPU (`-C target-cpu=native`) do not apply to aarch64.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the aarch64 unit tests failed:\n{stdout}\n{stderr}"
    );
    // Not vacuous: the kernels' tests ran there.
    assert!(
        stdout.contains("simd_kernels_are_bit_identical_to_the_portable_definition ... ok"),
        "{stdout}"
    );
    eprintln!(
        "{}",
        stdout
            .lines()
            .filter(|l| l.starts_with("test result"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
