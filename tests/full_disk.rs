//! A full file system gives errors, never a signal: searches after deletes on a tmpfs that has
//! no page left (there, reading a hole through a memory map must allocate a page, and fails
//! with SIGBUS: deleted points that the graph still walks through keep their bytes).
//!
//! Mounts a small tmpfs, so it needs root: skipped with a message without it, a failure when
//! `CI` is set (CI runs as root).
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use veles::testing::Rng;
use veles::{CollectionConfig, Database, Metric, Point};

/// A tmpfs of `size` mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap().keep();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot mount a tmpfs, and CI must be able to"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn searching_after_deletes_on_a_full_tmpfs_is_no_sigbus() {
    let Some(fs) = Tmpfs::mount("3m") else { return };
    let db = Database::open(fs.path().join("db")).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(64, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(1);
    let pts: Vec<Point> = (0..4000u64)
        .map(|i| Point::new(i, rng.vector(Metric::Euclidean, 64, 2)))
        .collect();
    for chunk in pts.chunks(500) {
        c.upsert(chunk).unwrap();
    }
    c.checkpoint().unwrap();
    // Deleted slots stay graph nodes (under a quarter of the graph: no rebuild).
    c.delete(&(0..900u64).collect::<Vec<_>>()).unwrap();
    c.flush().unwrap();
    let mut filler = std::fs::File::create(fs.path().join("filler")).unwrap();
    let block = vec![1u8; 64 << 10];
    while filler.write_all(&block).is_ok() {}
    for q in &pts[..300] {
        let hits = c.search(&q.vector, 10, None).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.id >= 900));
    }
    // A write now fails with a typed error, not a signal either.
    let more: Vec<Point> = (5000..9000u64)
        .map(|i| Point::new(i, rng.vector(Metric::Euclidean, 64, 2)))
        .collect();
    let e = c.upsert(&more).and_then(|()| c.flush()).unwrap_err();
    assert!(matches!(e, veles::Error::Storage(_)), "{e}");
}
