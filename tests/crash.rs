//! Simulated power loss: random operations on the crash-simulating directory, a power cut at a
//! random moment (between operations, or at a random I/O inside one), then reopen and compare
//! with an in-memory model.
//!
//! The contract checked: the open never fails; the recovered collection equals the model after
//! some prefix of the operations, no shorter than the last one acknowledged by a completed
//! `flush`/`checkpoint` (nothing acknowledged is lost, nothing is half-applied).
//!
//! `VELES_CRASH_SEEDS=N` runs N seeds (default 300, well under a minute); `VELES_CRASH_SEED=S`
//! runs seed S alone, to reproduce a failure.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use veles::region::crash::{CrashDirectory, CrashMode};
use veles::testing::Rng;
use veles::{
    CollectionConfig, Database, Error, Filter, IndexKind, MatchMode, Metric, Options, Point,
    SparseField, SparseVector, TextConfig, Tokenizer,
};

const IDS: u64 = 40;
const DIM: usize = 6;

type Model = BTreeMap<u64, (Vec<f32>, Option<Value>)>;

fn stored_form(metric: Metric, v: &[f32]) -> Vec<f32> {
    if metric == Metric::Cosine {
        let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        v.iter().map(|x| (*x as f64 / n) as f32).collect()
    } else {
        v.to_vec()
    }
}

fn same_state(a: &Model, b: &Model) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ia, (va, pa)), (ib, (vb, pb)))| {
            ia == ib
                && pa == pb
                && va.len() == vb.len()
                && va.iter().zip(vb).all(|(x, y)| (x - y).abs() < 1e-5)
        })
}

/// A point as the model holds it: its stored vector, then its sparse vectors (each as its
/// length, indices and values; an empty one is none), so one comparison covers both.
fn modelled(dense: Vec<f32>, sparse: &[(String, SparseVector)]) -> Vec<f32> {
    let mut out = dense;
    let mut sparse = sparse.to_vec();
    sparse.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, v) in sparse.into_iter().filter(|(_, v)| !v.is_empty()) {
        out.push(v.indices.len() as f32);
        out.extend(v.indices.iter().map(|&i| i as f32));
        out.extend(&v.values);
    }
    out
}

fn random_vector(rng: &mut Rng, metric: Metric) -> Vec<f32> {
    rng.vector(metric, DIM, 2)
}

fn read_all(db: &Database) -> Result<Model, Error> {
    let c = db.collection("c")?;
    let mut m = Model::new();
    for p in c
        .get(&(0..IDS + 2).collect::<Vec<_>>())?
        .into_iter()
        .flatten()
    {
        m.insert(p.id, (modelled(p.vector, &p.sparse), p.payload));
    }
    assert_eq!(c.len()?, m.len(), "len() disagrees with get()");
    Ok(m)
}

enum Op {
    Upsert(Vec<Point>),
    Delete(Vec<u64>),
    Flush,
    Checkpoint,
    Compact,
    /// Merge `{"v": n}` into these points' payloads.
    SetPayload(Vec<u64>, u64),
    /// Remove key "s" from these points' payloads.
    DeletePayloadKey(Vec<u64>),
    /// Delete the points with `v < n`.
    DeleteByFilter(u64),
    /// Declare an index: 0 on `v` (a number), 1 on `s` (a string), 2 a text index on `t`.
    CreateIndex(u64),
}

/// The filters the recovered indexes are asked (and compared with the model on).
fn probe_filters() -> Vec<Filter> {
    vec![
        Filter::lt("v", 500),
        Filter::eq("v", 7),
        Filter::exists("s"),
        Filter::ne("s", "xx"),
        !Filter::gte("v", 200),
        Filter::text("t", "alpha beta", MatchMode::All),
        Filter::text("t", "gamma zeta", MatchMode::Any),
        Filter::text("t", "beta gamma", MatchMode::Phrase),
    ]
}

fn run_seed(seed: u64) {
    let mut rng = Rng::new(seed);
    let metric = Metric::ALL[rng.below(5) as usize];
    // Small logs force checkpoints in the middle of the run; a small waiting limit links the
    // graph inside writes (0: every write), a large one leaves it to the checkpoints.
    let opts = Options::default()
        .with_checkpoint_bytes(512 + rng.below(8192))
        .with_max_unindexed([0, 7, 50, 10_000][rng.below(4) as usize]);
    let dir = CrashDirectory::new(seed);
    let db = Database::open_in(Arc::new(dir.clone()), opts.clone()).unwrap();
    // Half the seeds declare a sparse field, and their upserts carry sparse vectors.
    let sparse = rng.chance(1, 2);
    let mut config = CollectionConfig::new(DIM as u32, metric);
    if sparse {
        config = config.with_sparse(SparseField::new("sp", true));
    }
    let c = db.create_collection("c", config).unwrap();

    // A reader beside the writer, as another process opens one (read-only, no lock): whatever
    // it returns is a state that existed, and after a refresh the newest. It is checked after
    // every operation, across the writer's checkpoints and compactions.
    let reader =
        Database::open_in(Arc::new(dir.clone()), opts.clone().with_read_only(true)).unwrap();
    let mut reading = true;

    // history[i] = the state after the first i operations that may have applied.
    let mut history: Vec<Model> = vec![Model::new()];
    let mut durable = 0;
    let cut_inside = rng.chance(1, 2);
    if cut_inside {
        dir.power_off_after(1 + rng.below(400));
    }
    let steps = 1 + rng.below(80);
    for _ in 0..steps {
        let op = match rng.below(15) {
            0..=4 => Op::Upsert(
                (0..1 + rng.below(6))
                    .map(|_| {
                        let id = rng.below(IDS);
                        let mut p = Point::new(id, random_vector(&mut rng, metric));
                        if sparse && rng.chance(2, 3) {
                            let mut dims: Vec<u32> =
                                (0..rng.below(5)).map(|_| rng.below(20) as u32).collect();
                            dims.sort_unstable();
                            dims.dedup();
                            let values = dims.iter().map(|&d| d as f32 * 0.5 + 1.0).collect();
                            p = p.with_sparse("sp", SparseVector::new(dims, values));
                        }
                        if rng.chance(1, 2) {
                            let words = ["alpha", "beta", "gamma", "delta", "zeta"];
                            let t: Vec<&str> = (0..rng.below(5))
                                .map(|_| words[rng.below(5) as usize])
                                .collect();
                            p.with_payload(json!({
                                "v": rng.below(1000),
                                "s": "x".repeat(rng.below(40) as usize),
                                "t": t.join(" "),
                            }))
                        } else {
                            p
                        }
                    })
                    .collect(),
            ),
            5..=6 => Op::Delete((0..1 + rng.below(4)).map(|_| rng.below(IDS)).collect()),
            7..=8 => Op::Flush,
            9 if rng.chance(1, 2) => Op::Compact,
            9 => Op::Checkpoint,
            10 => Op::SetPayload(
                (0..1 + rng.below(4)).map(|_| rng.below(IDS)).collect(),
                rng.below(1000),
            ),
            11 => Op::DeletePayloadKey((0..1 + rng.below(4)).map(|_| rng.below(IDS)).collect()),
            12 => Op::DeleteByFilter(rng.below(150)),
            _ => Op::CreateIndex(rng.below(3)),
        };
        let mut next = history.last().unwrap().clone();
        let result = match &op {
            Op::Upsert(points) => {
                for p in points {
                    let v = modelled(stored_form(metric, &p.vector), &p.sparse);
                    next.insert(p.id, (v, p.payload.clone()));
                }
                c.upsert(points)
            }
            Op::Delete(ids) => {
                for id in ids {
                    next.remove(id);
                }
                c.delete(ids).map(drop)
            }
            Op::Flush => c.flush(),
            Op::Checkpoint => c.checkpoint(),
            Op::Compact => c.compact().map(drop),
            Op::SetPayload(ids, v) => {
                for id in ids {
                    if let Some((_, p)) = next.get_mut(id) {
                        let mut m = p
                            .take()
                            .and_then(|p| p.as_object().cloned())
                            .unwrap_or_default();
                        m.insert("v".into(), json!(v));
                        *p = Some(Value::Object(m));
                    }
                }
                let fields = json!({ "v": v });
                c.set_payload(ids, fields.as_object().unwrap()).map(drop)
            }
            Op::DeletePayloadKey(ids) => {
                for id in ids {
                    if let Some((_, Some(Value::Object(m)))) = next.get_mut(id) {
                        m.remove("s");
                    }
                }
                c.delete_payload_keys(ids, &["s".to_string()]).map(drop)
            }
            Op::DeleteByFilter(n) => {
                let f = Filter::lt("v", *n);
                next.retain(|_, (_, p)| !f.matches(p.as_ref()));
                c.delete_by_filter(&f).map(drop)
            }
            // The text index's config is not the default one (so the log and the checkpoint
            // must carry it); on these lowercase words it analyses as the default does.
            Op::CreateIndex(2) => c
                .create_text_index("t", TextConfig::plain(Tokenizer::Whitespace))
                .map(drop),
            Op::CreateIndex(which) => {
                let (key, kind) = match which {
                    0 => ("v", IndexKind::Integer),
                    _ => ("s", IndexKind::Keyword),
                };
                c.create_index(key, kind).map(drop)
            }
        };
        let changes = !matches!(
            op,
            Op::Flush | Op::Checkpoint | Op::Compact | Op::CreateIndex(_)
        );
        if changes && !same_state(&next, history.last().unwrap()) {
            history.push(next);
        }
        if reading && result.is_ok() {
            reading = reader_sees_states_that_existed(&reader, &history, seed);
        }
        match result {
            Ok(()) if matches!(op, Op::Flush | Op::Checkpoint | Op::Compact) => {
                durable = history.len() - 1
            }
            Ok(()) => {}
            Err(e) => {
                assert!(
                    e.is_storage(),
                    "seed {seed}: only the power cut may fail an op: {e}"
                );
                // Every later write is refused: the failure is latched.
                assert!(
                    c.upsert(&[Point::new(0, random_vector(&mut rng, metric))])
                        .is_err()
                );
                break;
            }
        }
    }

    let after = dir.crash(CrashMode::PowerLoss { seed });
    let db2 = Database::open_in(Arc::new(after.clone()), opts.clone())
        .unwrap_or_else(|e| panic!("seed {seed}: database open failed after crash: {e}"));
    let recovered = read_all(&db2)
        .unwrap_or_else(|e| panic!("seed {seed}: collection open failed after crash: {e}"));
    let matched = (durable..history.len()).find(|&i| same_state(&history[i], &recovered));
    assert!(
        matched.is_some(),
        "seed {seed} ({metric}, cut inside: {cut_inside}): recovered {} points, matching no state in {durable}..{} \
         (durable prefix {durable}, last state {} points)",
        recovered.len(),
        history.len(),
        history.last().unwrap().len()
    );

    // What recovery left passes the integrity check, and its indexes agree with the model.
    let c2 = db2.collection("c").unwrap();
    let state = &history[matched.unwrap()];
    for f in probe_filters() {
        let want = state
            .values()
            .filter(|(_, p)| f.matches(p.as_ref()))
            .count() as u64;
        assert_eq!(
            c2.count(Some(&f)).unwrap(),
            want,
            "seed {seed}: count of {f:?}"
        );
    }
    let report = c2.check().unwrap();
    assert!(
        report.is_ok(),
        "seed {seed}: check after recovery: {:?}",
        report.problems
    );

    // The recovered database takes writes, and a second crash right after a flush keeps them.
    let extra = random_vector(&mut rng, metric);
    c2.upsert(&[Point::new(IDS + 1, extra.clone())]).unwrap();
    c2.flush().unwrap();
    let again = after.crash(CrashMode::PowerLoss {
        seed: seed ^ 0xdead,
    });
    let db3 = Database::open_in(Arc::new(again), opts).unwrap();
    let c3 = db3.collection("c").unwrap();
    let got = c3.get(&[IDS + 1]).unwrap().remove(0);
    assert!(
        got.is_some(),
        "seed {seed}: a flushed write after recovery was lost"
    );
    let mut expected = history[matched.unwrap()].clone();
    expected.insert(IDS + 1, (stored_form(metric, &extra), None));
    let now = read_all(&db3).unwrap();
    assert!(
        same_state(&expected, &now),
        "seed {seed}: second crash changed acknowledged state"
    );
    let report = c3.check().unwrap();
    assert!(
        report.is_ok(),
        "seed {seed}: check after the second crash: {:?}",
        report.problems
    );
    // Exact search runs over whatever was recovered.
    c3.search(&random_vector(&mut rng, metric), 5, None)
        .unwrap();
}

/// What the reader returns now is one of `history`'s states, and after a refresh the last;
/// false once the power is off (its reads of what is gone then fail, as a process's would).
fn reader_sees_states_that_existed(reader: &Database, history: &[Model], seed: u64) -> bool {
    let Ok(c) = reader.collection("c") else {
        return false;
    };
    match read_all(reader) {
        Ok(m) => assert!(
            history.iter().any(|h| same_state(h, &m)),
            "seed {seed}: a reader returned {} points, a state that never existed",
            m.len()
        ),
        Err(e) if e.is_storage() => return false,
        Err(e) => panic!("seed {seed}: reader: {e}"),
    }
    if c.refresh().is_err() {
        return false;
    }
    match read_all(reader) {
        Ok(m) => assert!(
            same_state(history.last().unwrap(), &m),
            "seed {seed}: after a refresh a reader returned {} points, not the newest state ({})",
            m.len(),
            history.last().unwrap().len()
        ),
        Err(e) if e.is_storage() => return false,
        Err(e) => panic!("seed {seed}: reader: {e}"),
    }
    true
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("VELES_CRASH_SEED") {
        return vec![s.parse().expect("VELES_CRASH_SEED is a number")];
    }
    let n = std::env::var("VELES_CRASH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    (0..n).collect()
}

#[test]
fn acknowledged_writes_survive_power_loss_and_nothing_is_half_applied() {
    let seeds = seeds();
    for &seed in &seeds {
        run_seed(seed);
    }
    eprintln!("power-loss simulation: {} seeds passed", seeds.len());
}

#[test]
fn a_failed_sync_latches_until_reopen() {
    let dir = CrashDirectory::new(7);
    let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::Dot))
        .unwrap();
    c.upsert(&[Point::new(1, vec![1.0, 2.0])]).unwrap();
    c.flush().unwrap();
    c.upsert(&[Point::new(2, vec![3.0, 4.0])]).unwrap();
    dir.fail_next_ops(1); // the flush's fsync fails once (EIO); the device works again after
    let e = c.flush().unwrap_err();
    assert!(e.is_storage(), "{e}");
    // Writes are refused even though the device recovered: what reached it is unknown.
    let e = c.upsert(&[Point::new(3, vec![5.0, 6.0])]).unwrap_err();
    assert!(
        matches!(e, Error::Storage(veles::StorageError::PreviousIo)),
        "{e}"
    );
    assert!(matches!(
        c.flush(),
        Err(Error::Storage(veles::StorageError::PreviousIo))
    ));
    // Reads still answer from memory.
    assert_eq!(c.len().unwrap(), 2);
    drop((c, db));
    // Reopening runs recovery and accepts writes again. Point 1 was acknowledged.
    let after = dir.crash(CrashMode::ProcessKill);
    let db = Database::open_in(Arc::new(after), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    assert!(c.get(&[1]).unwrap()[0].is_some());
    c.upsert(&[Point::new(3, vec![5.0, 6.0])]).unwrap();
    c.flush().unwrap();
}

#[test]
fn collection_create_and_drop_are_atomic_under_power_loss() {
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let dir = CrashDirectory::new(seed);
        let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
        let keep = db
            .create_collection("keep", CollectionConfig::new(2, Metric::Dot))
            .unwrap();
        keep.upsert(&[Point::new(1, vec![1.0, 1.0])]).unwrap();
        keep.flush().unwrap();
        let dropping = rng.chance(1, 2);
        // Half the collections have a sparse field (their create writes `sparse-1` too).
        let d_config = match rng.chance(1, 2) {
            true => CollectionConfig::new(3, Metric::Euclidean)
                .with_sparse(SparseField::new("sp", false)),
            false => CollectionConfig::new(3, Metric::Euclidean),
        };
        if dropping {
            db.create_collection("d", d_config.clone()).unwrap();
        }
        dir.power_off_after(1 + rng.below(12));
        let done = if dropping {
            db.drop_collection("d").is_ok()
        } else {
            db.create_collection("d", d_config.clone()).is_ok()
        };
        let after = dir.crash(CrashMode::PowerLoss { seed });
        let db = Database::open_in(Arc::new(after), Options::default())
            .unwrap_or_else(|e| panic!("seed {seed}: open failed: {e}"));
        let names = db.list().unwrap();
        if done {
            assert_eq!(
                names.contains(&"d".to_string()),
                !dropping,
                "seed {seed}: acknowledged {dropping} lost"
            );
        }
        if names.contains(&"d".to_string()) {
            let d = db
                .collection("d")
                .unwrap_or_else(|e| panic!("seed {seed}: half-made collection: {e}"));
            assert!(d.is_empty().unwrap());
        } else {
            // The name is free again.
            db.create_collection("d", d_config).unwrap();
        }
        assert_eq!(
            db.collection("keep").unwrap().len().unwrap(),
            1,
            "seed {seed}"
        );
    }
}

/// A snapshot cut short by a power loss in its destination is refused on open (never taken
/// for an empty database); one that finished holds exactly the state at its barrier,
/// acknowledged writes included. The source is untouched either way.
#[test]
fn a_snapshot_is_all_or_refused_under_power_loss() {
    let seeds = seeds();
    let (mut complete, mut refused) = (0, 0);
    for &seed in seeds.iter().take(200) {
        let mut rng = Rng::new(seed);
        let metric = Metric::ALL[rng.below(5) as usize];
        let src = CrashDirectory::new(seed);
        let db = Database::open_in(Arc::new(src.clone()), Options::default()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(DIM as u32, metric))
            .unwrap();
        let mut model = Model::new();
        for round in 0..1 + rng.below(4) {
            let pts: Vec<Point> = (0..1 + rng.below(10))
                .map(|_| Point::new(rng.below(IDS), random_vector(&mut rng, metric)))
                .collect();
            for p in &pts {
                model.insert(p.id, (stored_form(metric, &p.vector), None));
            }
            c.upsert(&pts).unwrap();
            if round == 1 {
                c.checkpoint().unwrap();
            }
            if rng.chance(1, 3) {
                let id = rng.below(IDS);
                model.remove(&id);
                c.delete(&[id]).unwrap();
            }
        }
        let dest = CrashDirectory::new(seed ^ 1);
        dest.power_off_after(1 + rng.below(80));
        let done = db.snapshot_to(&dest).is_ok();
        let after = dest.crash(CrashMode::PowerLoss { seed });
        match Database::open_in(Arc::new(after), Options::default()) {
            // The power went out before the marker of an unfinished snapshot was durable:
            // nothing was copied at all.
            Ok(copy) if copy.list().unwrap().is_empty() => assert!(!done, "seed {seed}"),
            Ok(copy) => {
                let got = read_all(&copy).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert!(
                    same_state(&got, &model),
                    "seed {seed}: the snapshot differs"
                );
                assert!(copy.collection("c").unwrap().check().unwrap().is_ok());
                complete += 1;
            }
            Err(e) => {
                assert!(!done, "seed {seed}: a finished snapshot does not open: {e}");
                assert!(
                    matches!(&e, Error::Storage(veles::StorageError::Corrupted { file, .. }) if file == "INCOMPLETE"),
                    "seed {seed}: {e}"
                );
                refused += 1;
            }
        }
        assert!(
            same_state(&read_all(&db).unwrap(), &model),
            "seed {seed}: source changed"
        );
    }
    eprintln!("snapshot under power loss: {complete} complete, {refused} refused as incomplete");
    assert!(complete > 0 && refused > 0, "both outcomes are exercised");
}

/// Restoring a collection from a snapshot, cut short by a power loss at any step, leaves
/// either the old collection or the snapshot's, whole (a finished restore always the
/// snapshot's), and the database's other collections untouched.
#[test]
fn a_collection_restore_is_all_or_nothing_under_power_loss() {
    let (mut old, mut new) = (0, 0);
    for &seed in seeds().iter().take(150) {
        let mut rng = Rng::new(seed);
        let metric = Metric::ALL[rng.below(5) as usize];
        let fill = |db: &Database, rng: &mut Rng, n: u64| {
            let c = match db.collection("c") {
                Ok(c) => c,
                Err(_) => db
                    .create_collection("c", CollectionConfig::new(DIM as u32, metric))
                    .unwrap(),
            };
            let mut model = Model::new();
            let pts: Vec<Point> = (0..n)
                .map(|i| Point::new(i, random_vector(rng, metric)))
                .collect();
            for p in &pts {
                model.insert(p.id, (stored_form(metric, &p.vector), None));
            }
            c.upsert(&pts).unwrap();
            if rng.chance(1, 2) {
                c.checkpoint().unwrap();
            }
            c.flush().unwrap();
            model
        };
        let snapshot =
            Database::open_in(Arc::new(CrashDirectory::new(seed ^ 7)), Options::default()).unwrap();
        let n = 1 + rng.below(IDS);
        let want_new = fill(&snapshot, &mut rng, n);
        let dir = CrashDirectory::new(seed);
        let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
        let n = 1 + rng.below(IDS);
        let want_old = fill(&db, &mut rng, n);
        let keep = db
            .create_collection("keep", CollectionConfig::new(2, Metric::Euclidean))
            .unwrap();
        keep.upsert(&[Point::new(1, vec![1.0, 2.0])]).unwrap();
        keep.flush().unwrap();
        drop(keep);
        dir.power_off_after(1 + rng.below(80));
        let done = db.restore_collection("c", &snapshot).is_ok();
        drop(db);
        let after = Database::open_in(
            Arc::new(dir.crash(CrashMode::PowerLoss { seed })),
            Options::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let got = read_all(&after).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if same_state(&got, &want_new) {
            new += 1;
        } else {
            assert!(!done, "seed {seed}: a finished restore was undone");
            assert!(same_state(&got, &want_old), "seed {seed}: neither state");
            old += 1;
        }
        assert!(after.collection("c").unwrap().check().unwrap().is_ok());
        assert_eq!(after.collection("keep").unwrap().len().unwrap(), 1);
        assert_eq!(after.list().unwrap(), ["c", "keep"], "seed {seed}");
    }
    eprintln!("restore under power loss: {new} restored, {old} left as before");
    assert!(old > 0 && new > 0, "both outcomes are exercised");
}
