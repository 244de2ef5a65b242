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
            if !matches!(
                name.as_str(),
                "target" | "node_modules" | "fuzz" | ".git" | "dist" | "dist-browser"
            ) && !name.starts_with('.')
                && !name.starts_with("gen-")
            {
                files(&path, out);
            }
        } else if [".rs", ".py", ".mjs", ".js", ".ts"]
            .iter()
            .any(|x| name.ends_with(x))
            && name != "mod.rs"
        {
            out.push(path);
        }
    }
}

#[test]
fn every_source_and_test_file_is_named_in_the_architecture_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut all = Vec::new();
    for dir in [
        "src",
        "tests",
        "benches",
        "bench",
        "host",
        "http",
        "http-wasi",
        "js",
        "python",
    ] {
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

/// The modules a file of `src/` refers to: `super::x` from a folder's file, `crate::x::y` to a
/// file of folder `x` (as `x/y`) or a top-level file `x`.
fn references(file: &Path, folder: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words = |from: usize| -> Vec<String> {
        text[from..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or_default()
            .split("::")
            .map(str::to_string)
            .collect()
    };
    for (at, _) in text.match_indices("super::") {
        if let Some(m) = words(at + "super::".len())
            .first()
            .filter(|m| !m.is_empty())
        {
            out.push(format!("{folder}{m}"));
        }
    }
    for (at, _) in text.match_indices("crate::") {
        let w = words(at + "crate::".len());
        if let Some(first) = w.first() {
            let sub = w
                .get(1)
                .filter(|s| !s.is_empty() && s.chars().next().unwrap().is_lowercase());
            out.push(match sub {
                Some(s)
                    if Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("src")
                        .join(first)
                        .is_dir() =>
                {
                    format!("{first}/{s}")
                }
                _ => first.clone(),
            });
        }
    }
    let me = file.file_stem().unwrap().to_string_lossy().to_string();
    out.retain(|m| *m != format!("{folder}{me}"));
    out
}

/// No circle of imports between the files of `src/` (a file's own tests excepted): the
/// rooms of the core build on each other one way. `#[cfg(test)]` modules are left out.
#[test]
fn the_files_of_the_core_import_each_other_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut graph: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let name = |p: &Path| {
        let rel = p.strip_prefix(&src).unwrap().with_extension("");
        let rel = rel.to_string_lossy().to_string();
        rel.strip_suffix("/mod").map(str::to_string).unwrap_or(rel)
    };
    for p in &all {
        let text = std::fs::read_to_string(p).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let me = name(p);
        let folder = match me.rsplit_once('/') {
            Some((f, _)) => format!("{f}/"),
            None => String::new(),
        };
        let mut deps = references(p, &folder, text);
        deps.sort();
        deps.dedup();
        graph.insert(me, deps);
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &std::collections::BTreeMap<String, Vec<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| p == n).unwrap();
                let mut cycle = path[from..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if graph.contains_key(d)
                && let Some(c) = visit(d, graph, state, path)
            {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    // The test kit serves tests: no production file reaches into it (files their folder
    // declares only under `#[cfg(test)]` are tests).
    let test_only = |n: &str| {
        let (folder, file) = n.rsplit_once('/').unwrap_or(("", n));
        let decl = src.join(folder).join("mod.rs");
        let text = std::fs::read_to_string(decl).unwrap_or_default();
        text.contains(&format!("#[cfg(test)]\nmod {file};"))
    };
    let users: Vec<&String> = graph
        .iter()
        .filter(|(n, _)| *n != "testing" && !test_only(n))
        .filter(|(_, deps)| deps.iter().any(|d| d == "testing"))
        .map(|(n, _)| n)
        .collect();
    assert!(
        users.is_empty(),
        "production files import `testing`: {users:?}"
    );
    let mut state = Default::default();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            panic!("an import circle: {}", cycle.join(" -> "));
        }
    }
}
