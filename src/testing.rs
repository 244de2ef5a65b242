//! Helpers shared by the tests, benchmarks and fuzz targets (not part of the supported API):
//! a seeded generator, random vectors, the fvecs/ivecs readers for `../shared/data`.

use crate::config::Metric;
use std::path::{Path, PathBuf};

/// SplitMix64: a tiny seeded generator for reproducible tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        crate::splitmix::next(&mut self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        crate::splitmix::below(&mut self.0, n)
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// Uniform in `[0, 1)`.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A vector the metric accepts: components in `[-1, 1)`, or 0/1 bits (set with
    /// probability `1 / bit_odds`) for binary metrics; never the zero vector for cosine.
    pub fn vector(&mut self, metric: Metric, dim: usize, bit_odds: u64) -> Vec<f32> {
        loop {
            let v: Vec<f32> = if metric.is_binary() {
                (0..dim)
                    .map(|_| self.chance(1, bit_odds) as u8 as f32)
                    .collect()
            } else {
                (0..dim).map(|_| self.unit_f32() * 2.0 - 1.0).collect()
            };
            if metric != Metric::Cosine || v.iter().any(|&x| x != 0.0) {
                return v;
            }
        }
    }

    /// Clustered data (8 centres along a sine), harder for a graph than uniform noise.
    pub fn clustered(&mut self, dim: usize) -> Vec<f32> {
        let centre = self.below(8) as f32;
        (0..dim)
            .map(|i| ((i as f32 + centre) * 0.7).sin() + (self.unit_f32() - 0.5))
            .collect()
    }
}

/// recall@k of `c`'s graph searches at `ef` against its own exact scan, over `queries`.
pub fn recall_vs_exact(c: &crate::Collection, queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
    use crate::SearchParams;
    let mut found = 0;
    for q in queries {
        let exact = c
            .search_with(q, k, &SearchParams::default().with_exact(true))
            .unwrap();
        let got = c
            .search_with(q, k, &SearchParams::default().with_ef(Some(ef)))
            .unwrap();
        found += got
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
    }
    found as f64 / (k * queries.len()) as f64
}

/// The folder `../shared/data/<name>` beside the repository, if it is there. Where it is not,
/// a test skips (says so and returns `None`) in a user's clone, and fails when `CI` is set:
/// CI always has it, so its absence there is a broken set-up, not a reason to pass.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is absent, and CI must have it",
        dir.display()
    );
    eprintln!(
        "skipped: {} is absent (it ships beside the repository in CI)",
        dir.display()
    );
    None
}

/// The records of a TEXMEX file: per record a little-endian i32 count, then that many
/// 4-byte values.
fn read_vecs<T>(path: &Path, value: impl Fn([u8; 4]) -> T) -> std::io::Result<Vec<Vec<T>>> {
    let bytes = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + 4 + n * 4;
        let Some(body) = bytes.get(at + 4..end) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{}: record at byte {at} is cut short", path.display()),
            ));
        };
        out.push(
            body.chunks_exact(4)
                .map(|c| value(c.try_into().expect("4 bytes")))
                .collect(),
        );
        at = end;
    }
    Ok(out)
}

/// An fvecs file's vectors.
pub fn read_fvecs(path: &Path) -> std::io::Result<Vec<Vec<f32>>> {
    read_vecs(path, f32::from_le_bytes)
}

/// An ivecs file's rows (ground-truth ids).
pub fn read_ivecs(path: &Path) -> std::io::Result<Vec<Vec<u32>>> {
    read_vecs(path, u32::from_le_bytes)
}

/// A checkpoint file's bytes with its slot count replaced, re-encoded with a valid checksum:
/// a crafted file that only the decoder's bounds can refuse.
pub fn with_checkpoint_slot_count(bytes: &[u8], slot_count: u32) -> Vec<u8> {
    let mut cp = crate::checkpoint::Checkpoint::decode(bytes, "checkpoint")
        .expect("the checkpoint to craft from is valid");
    cp.slot_count = slot_count;
    cp.encode()
}

/// Every file below `root` (the `LOCK` file aside), by path relative to `root`, with its bytes:
/// for comparing what two runs or two builds wrote, or what a read changed.
pub fn directory_image(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("a readable directory") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n != crate::region::LOCK_FILE) {
                let rel = p
                    .strip_prefix(root)
                    .expect("below root")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(&p).expect("a readable file"));
            }
        }
    }
    out
}
