//! Builds the Veles component (the core crate for `wasm32-wasip2`) so that `cargo build`,
//! `cargo run` and `cargo test` need no manual step, and the `veles` binary embeds it; and
//! the wasi:http component (`http-wasi/`), which the tests run under `wasmtime serve`.
//!
//! The nested cargo gets its own target directory (sharing the outer one deadlocks on cargo's
//! lock), and none of the outer build's flags: cargo's build-script variables would otherwise
//! leak into it and, for instance, replace the wasm target's `+simd128` flag.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out; one component build directory
    // under <target> serves every profile (check, dev, release), so clippy and tests do not
    // each build the component again.
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("veles-component"))
        .unwrap_or_else(|| out_dir.join("component-target"));

    for path in [
        "src",
        "wit",
        "http/src",
        "http/Cargo.toml",
        "http-wasi/src",
        "http-wasi/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=VELES_COMPONENT");
    println!("cargo:rerun-if-env-changed=VELES_HTTP_COMPONENT");

    // Prebuilt components can be supplied (e.g. by a packager).
    let prebuilt = (
        env::var("VELES_COMPONENT"),
        env::var("VELES_HTTP_COMPONENT"),
    );
    if let (Ok(core), Ok(http)) = prebuilt {
        println!("cargo:rustc-env=VELES_COMPONENT_PATH={core}");
        println!("cargo:rustc-env=VELES_HTTP_COMPONENT_PATH={http}");
        return;
    }

    ensure_wasm_target(&root);
    // Two builds, not one: in one, cargo would unify the core's features and the wasi:http
    // component would export the core's own interface too. And two target directories: the
    // second build makes the core's cdylib again (without its export) under the same name.
    let core = component(&root, &target_dir, "veles", "veles.wasm");
    let http_dir = target_dir.with_file_name("veles-http-component");
    let http = component(&root, &http_dir, "veles-http-wasi", "veles_http_wasi.wasm");
    println!("cargo:rustc-env=VELES_COMPONENT_PATH={}", core.display());
    println!(
        "cargo:rustc-env=VELES_HTTP_COMPONENT_PATH={}",
        http.display()
    );
}

/// Builds package `package` for `wasm32-wasip2` with the `component` profile, and returns
/// the path of its `file`.
fn component(root: &Path, target_dir: &Path, package: &str, file: &str) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "component",
            "--lib",
            "-p",
            package,
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in env::vars() {
        let leaks = key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("DEP_")
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTFLAGS"
                    | "CARGO_BUILD_RUSTFLAGS"
                    | "CARGO_TARGET_DIR"
                    | "CARGO_BUILD_TARGET"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_CRATE_NAME"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTDOC"
            );
        if leaks {
            cmd.env_remove(&key);
        }
    }
    // The component is shipped: the `component` profile (Cargo.toml) optimises it fully and
    // leaves out debug info, the same build the README documents.
    let status = cmd.status().expect("failed to run cargo for the component");
    if !status.success() {
        panic!("building {package} for wasm32-wasip2 failed ({status})");
    }
    let wasm = target_dir.join("wasm32-wasip2/component").join(file);
    assert!(wasm.exists(), "component not found at {}", wasm.display());
    wasm
}

/// Makes sure the toolchain building us has the `wasm32-wasip2` standard library. rustup adds
/// a toolchain file's targets only when it installs the toolchain, so a machine that already
/// had the pinned toolchain lacks it; then this adds it (for the active toolchain), or says
/// plainly what to do where rustup is absent.
fn ensure_wasm_target(root: &std::path::Path) {
    const TARGET: &str = "wasm32-wasip2";
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        panic!("cannot ask {rustc} for its sysroot");
    };
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target is missing from {}; adding it with rustup",
        sysroot.display()
    );
    let mut add = Command::new("rustup");
    add.current_dir(root).args(["target", "add", TARGET]);
    // The toolchain this build runs with (rustup's proxies set it), not some default one.
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        add.args(["--toolchain", &toolchain]);
    }
    match add.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`rustup target add {TARGET}` failed ({s}); the component needs it"),
        Err(e) => panic!(
            "the {TARGET} target is not installed for {} and rustup cannot be run ({e}): \
             install the target with your toolchain manager, then build again",
            sysroot.display()
        ),
    }
}
