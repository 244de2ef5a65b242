//! The map cannot drift: every source, test, benchmark and script file of the repository is
//! named in ARCHITECTURE.md (by its file name). `mod.rs` files only declare, and fuzz targets
//! are a workspace of their own with its own README.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | "fuzz" | ".git")
                && !name.starts_with('.')
                && !name.starts_with("gen-")
            {
                files(&path, out);
            }
        } else if [".rs", ".py", ".mjs"].iter().any(|x| name.ends_with(x)) && name != "mod.rs" {
            out.push(path);
        }
    }
}

#[test]
fn every_source_and_test_file_is_named_in_the_architecture_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut all = Vec::new();
    for dir in ["src", "tests", "benches", "bench", "host"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 50, "found only {} files", all.len());
    let unnamed: Vec<String> = all
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !map.contains(&format!("{name}`")) && !map.contains(&format!("{name} "))
        })
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        unnamed.is_empty(),
        "not named in ARCHITECTURE.md (add a line where the file belongs): {unnamed:?}"
    );
}
