//! Media damage after a clean flush: a zeroed or a bit-flipped 512-byte sector, and a zeroed
//! 4 KiB page, at every sector (page) of every file of a database; and the same for a short
//! database whose every durable log frame lies in the log's first sector (a delete after a
//! checkpoint). The property: the open either gives back every acknowledged point exactly
//! (vector, payload and sparse vectors, and a text index that answers as the payloads say), or
//! fails with a typed error naming a file. It never silently returns less, never undoes a
//! delete, and never returns a damaged vector.
//!
//! `VELES_MEDIA_STRIDE=N` damages every N-th sector only (default 1: all of them).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use veles::testing::Rng;
use veles::{
    CollectionConfig, Database, Error, Filter, IndexKind, MatchMode, Metric, Point, SparseField,
    SparseVector, StorageError,
};

const DIM: usize = 8;
const SECTOR: usize = 512;

/// A point's vector, payload and sparse vectors.
type Model = BTreeMap<u64, (Vec<f32>, Option<Value>, Vec<(String, SparseVector)>)>;

/// A database with every kind of file: a checkpoint with payloads, its graph, its sparse
/// vectors and its text index, then more upserts, updates and deletes in the log, all
/// flushed. Returns what was acknowledged.
fn build(root: &Path) -> Model {
    let db = Database::open(root).unwrap();
    let config = CollectionConfig::new(DIM as u32, Metric::Euclidean)
        .with_sparse(SparseField::new("sp", true));
    let c = db.create_collection("c", config).unwrap();
    c.create_index("tag", IndexKind::Text).unwrap();
    let mut rng = Rng::new(11);
    let mut model = Model::new();
    let mut put = |c: &veles::Collection, ids: std::ops::Range<u64>, model: &mut Model| {
        let pts: Vec<Point> = ids
            .map(|i| {
                let v = rng.vector(Metric::Euclidean, DIM, 2);
                let p = (i % 3 != 0).then(|| json!({"i": i, "tag": format!("t{}", i % 7)}));
                let sparse = match i % 2 {
                    0 => vec![(
                        "sp".to_string(),
                        SparseVector::new(vec![(i % 11) as u32, 20], vec![1.0, 0.5]),
                    )],
                    _ => Vec::new(),
                };
                model.insert(i, (v.clone(), p.clone(), sparse.clone()));
                let mut point = Point::new(i, v).with_payload_opt(p);
                point.sparse = sparse;
                point
            })
            .collect();
        c.upsert(&pts).unwrap();
        c.flush().unwrap();
    };
    for start in (0..1200).step_by(200) {
        put(&c, start..start + 200, &mut model);
    }
    c.checkpoint().unwrap();
    put(&c, 1200..1300, &mut model);
    put(&c, 100..150, &mut model); // updates in place of checkpointed points
    let gone: Vec<u64> = (300..340).collect();
    c.delete(&gone).unwrap();
    c.flush().unwrap();
    for id in gone {
        model.remove(&id);
    }
    model
}

/// A short database: two points checkpointed, then one deleted and flushed, so the whole
/// durable log (the delete) lies in its first sector with the header.
fn build_short(root: &Path) -> Model {
    let db = Database::open(root).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM as u32, Metric::Euclidean))
        .unwrap();
    let mut rng = Rng::new(12);
    let mut model = Model::new();
    let pts: Vec<Point> = (1..=2)
        .map(|i| {
            let v = rng.vector(Metric::Euclidean, DIM, 2);
            model.insert(i, (v.clone(), Some(json!({"i": i})), Vec::new()));
            Point::new(i, v).with_payload(json!({"i": i}))
        })
        .collect();
    c.upsert(&pts).unwrap();
    c.checkpoint().unwrap();
    c.delete(&[1]).unwrap();
    c.flush().unwrap();
    model.remove(&1);
    model
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in veles::testing::directory_image(from) {
        let file = to.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
}

/// What the damaged copy gave back: `Ok` with every point exactly as acknowledged, or a
/// typed error naming a file. `Err` explains a violation.
fn verdict(root: &Path, model: &Model, damaged: &str) -> Result<&'static str, String> {
    let typed = |e: Error| -> Result<&'static str, String> {
        match &e {
            Error::Storage(StorageError::Corrupted { file, .. })
            | Error::Storage(StorageError::UnsupportedVersion { file, .. })
                if damaged.starts_with(file.as_str()) =>
            {
                Ok("refused")
            }
            _ => Err(format!("not a typed error naming {damaged}: {e}")),
        }
    };
    let db = match Database::open(root) {
        Ok(db) => db,
        Err(e) => return typed(e),
    };
    let c = match db.collection("c") {
        Ok(c) => c,
        Err(e) => return typed(e),
    };
    let ids: Vec<u64> = model.keys().copied().collect();
    let got = match c.get(&ids) {
        Ok(got) => got,
        Err(e) => return typed(e),
    };
    if c.len().map_err(|e| e.to_string())? != model.len() {
        return Err(format!(
            "{} points instead of {}",
            c.len().unwrap(),
            model.len()
        ));
    }
    for (p, (id, (v, payload, sparse))) in got.iter().zip(model) {
        let Some(p) = p else {
            return Err(format!("point {id} is missing"));
        };
        if p.vector != *v || p.payload != *payload || p.sparse != *sparse {
            return Err(format!("point {id} came back changed"));
        }
    }
    // The text index answers as the payloads say (loaded from its file, or rebuilt).
    let t3 = Filter::text("tag", "t3", MatchMode::All);
    let want = model
        .values()
        .filter(|(_, p, _)| p.as_ref().is_some_and(|p| p["tag"] == "t3"))
        .count() as u64;
    match c.count(Some(&t3)) {
        Ok(n) if n == want => {}
        Ok(n) => return Err(format!("the text index passes {n} points, not {want}")),
        Err(e) => return typed(e),
    }
    Ok("intact")
}

/// Damages every `unit`-byte piece (every `stride`-th) of every file of the database `build`
/// makes, zeroed and (for sectors) bit-flipped, and checks each copy's verdict. Returns the
/// copies made and how many were refused.
fn damage_every(build: fn(&Path) -> Model, unit: usize, stride: usize) -> (usize, usize) {
    let work = tempfile::tempdir().unwrap();
    let clean = work.path().join("clean");
    let model = build(&clean);
    let mut rng = Rng::new(5);
    let (mut cases, mut refused) = (0usize, 0usize);
    let flips: &[bool] = if unit == SECTOR {
        &[true, false]
    } else {
        &[true]
    };
    for (rel, bytes) in veles::testing::directory_image(&clean) {
        for (n, at) in (0..bytes.len()).step_by(unit).enumerate() {
            if n % stride != 0 {
                continue;
            }
            for &zero in flips {
                let case = work.path().join(format!("case-{cases}"));
                copy_tree(&clean, &case);
                let mut bad = bytes.clone();
                let end = (at + unit).min(bad.len());
                if zero {
                    bad[at..end].fill(0);
                } else {
                    let bit = rng.below(((end - at) * 8) as u64) as usize;
                    bad[at + bit / 8] ^= 1 << (bit % 8);
                }
                std::fs::write(case.join(&rel), &bad).unwrap();
                match verdict(&case, &model, &rel) {
                    Ok(outcome) => refused += (outcome == "refused") as usize,
                    Err(why) => panic!(
                        "{} {unit}-byte piece at {at} of {rel}: {why}",
                        if zero { "zeroed" } else { "bit-flipped" }
                    ),
                }
                std::fs::remove_dir_all(&case).unwrap();
                cases += 1;
            }
        }
    }
    (cases, refused)
}

fn stride() -> usize {
    std::env::var("VELES_MEDIA_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

#[test]
fn damage_to_any_sector_of_any_file_is_refused_or_harmless_never_a_silent_loss() {
    let (cases, refused) = damage_every(build, SECTOR, stride());
    eprintln!("{cases} damaged copies: {refused} refused with a typed error, the rest intact");
    assert!(cases > 100 && refused > 0);
}

#[test]
fn a_zeroed_page_of_any_file_is_refused_or_harmless_never_a_silent_loss() {
    let (cases, refused) = damage_every(build, 4096, stride());
    eprintln!("{cases} copies with a zeroed page: {refused} refused, the rest intact");
    assert!(cases > 10 && refused > 0);
}

#[test]
fn damage_to_a_short_log_never_undoes_its_durable_delete() {
    let (cases, refused) = damage_every(build_short, SECTOR, 1);
    eprintln!("{cases} damaged copies of a short database: {refused} refused, the rest intact");
    assert!(cases > 10 && refused > 0);
}
