//! Model-based: random operations against a plain in-memory model, with injected I/O
//! failures. After a failure the handle must refuse writes (latched); the database is then
//! reopened (process-kill image: every completed write kept), must hold the model's state
//! before or after the failed operation, and must pass `check`. Reads must always agree with
//! the model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::Arc;
use veles::region::crash::{CrashDirectory, CrashMode};
use veles::{CollectionConfig, Database, Metric, Options, Point};

type Model = BTreeMap<u64, Vec<f32>>;

fn state(db: &Database) -> Model {
    let c = db.collection("c").unwrap();
    let ids: Vec<u64> = (0..16).collect();
    c.get(&ids)
        .unwrap()
        .into_iter()
        .flatten()
        .map(|p| (p.id, p.vector))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut dir = CrashDirectory::new(0);
    let opts = Options::default().with_checkpoint_bytes(600);
    let mut db = Database::open_in(Arc::new(dir.clone()), opts.clone()).unwrap();
    db.create_collection("c", CollectionConfig::new(2, Metric::Euclidean)).unwrap();
    let mut model = Model::new();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        if op & 0xE0 == 0xE0 {
            // The next 1..4 storage operations fail.
            dir.fail_next_ops(1 + (arg % 4) as u64);
            continue;
        }
        let c = db.collection("c").unwrap();
        let id = (arg % 16) as u64;
        let mut next = model.clone();
        let result = match op % 6 {
            0 | 1 => {
                let v = vec![arg as f32, op as f32 - 100.0];
                next.insert(id, v.clone());
                c.upsert(&[Point::new(id, v)])
            }
            2 => {
                next.remove(&id);
                c.delete(&[id]).map(drop)
            }
            3 => c.flush(),
            4 => c.checkpoint(),
            _ => c.compact().map(drop),
        };
        match result {
            Ok(()) => model = next,
            Err(e) => {
                assert!(e.is_storage(), "{e}");
                assert!(c.upsert(&[Point::new(0, vec![0.0, 0.0])]).is_err(), "not latched");
                drop((c, db));
                dir = dir.crash(CrashMode::ProcessKill);
                db = Database::open_in(Arc::new(dir.clone()), opts.clone()).expect("reopen after a failed operation");
                let got = state(&db);
                assert!(got == model || got == next, "recovered a state the model never had");
                model = got;
                let report = db.collection("c").unwrap().check().unwrap();
                assert!(report.is_ok(), "{:?}", report.problems);
                continue;
            }
        }
        assert_eq!(state(&db), model);
    }
    let report = db.collection("c").unwrap().check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
});
