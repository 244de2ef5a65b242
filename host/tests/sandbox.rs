//! The component's sandbox: only its directory, bounded memory, bounded time.

use std::sync::OnceLock;
use std::time::Duration;
use veles::{CollectionConfig, Error, Metric, Point, SearchParams};
use veles_host::runtime::veles::db::types as t;
use veles_host::{Backend, ComponentBackend, HostError, Limits, Runtime};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("the component loads"))
}

/// Calls `database.open(path)` inside a store that preopens only `dir`.
fn open_in_guest(dir: &std::path::Path, path: &str) -> Result<(), t::Error> {
    let (mut store, bindings) = runtime().instantiate(dir, &Limits::default()).unwrap();
    let engine = bindings.veles_db_engine();
    engine
        .database()
        .call_open(&mut store, path)
        .expect("no trap")
        .map(drop)
}

#[test]
fn the_component_cannot_reach_outside_its_directory() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("inside");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, inside.join("link")).unwrap();

    // The preopened directory itself and a subdirectory work.
    open_in_guest(&inside, ".").unwrap();
    open_in_guest(&inside, "sub/db").unwrap();
    assert!(inside.join("sub/db/VELES").exists());

    // Climbing out, directly or through a symlink, is refused.
    for path in [
        "..",
        "../outside",
        "link",
        "link/db",
        "sub/../../outside",
        "../../../../etc",
    ] {
        let r = open_in_guest(&inside, path);
        assert!(
            matches!(r, Err(t::Error::Io(_))),
            "{path:?} should be refused, got {r:?}"
        );
    }
    // Absolute paths name the guest's root, which is the preopened directory: `/etc` there is
    // a fresh directory inside the sandbox, never the host's.
    open_in_guest(&inside, "/abs-db").unwrap();
    assert!(inside.join("abs-db/VELES").exists());
    open_in_guest(&inside, "/etc").unwrap();
    assert!(
        inside.join("etc/VELES").exists(),
        "/etc is the sandbox's own"
    );
    assert!(!std::path::Path::new("/etc/VELES").exists());
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written outside"
    );
    let top: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top.len(), 2, "only 'inside' and 'outside' exist: {top:?}");
}

#[test]
fn collection_names_that_look_like_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = ComponentBackend::open(runtime(), dir.path(), &Limits::default()).unwrap();
    for name in ["../x", "a/b", "..", "/etc", "a\0b", &"n".repeat(1000)] {
        let e = db
            .create_collection(name, CollectionConfig::new(2, Metric::Dot))
            .unwrap_err();
        assert!(
            matches!(e, HostError::Engine(Error::InvalidName { .. })),
            "{name:?}: {e}"
        );
    }
    assert!(db.list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("collections"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn the_memory_cap_stops_the_component_with_an_error_and_the_host_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let mut db = ComponentBackend::open(runtime(), dir.path(), &limits).unwrap();
    db.create_collection("m", CollectionConfig::new(1024, Metric::Dot))
        .unwrap();
    db.upsert("m", &[Point::new(0, vec![1.0; 1024])]).unwrap();
    db.flush("m").unwrap();
    // 64 MiB of vectors in one batch cannot fit in 32 MiB of guest memory.
    let big: Vec<Point> = (1..16_385u64)
        .map(|i| Point::new(i, vec![0.5; 1024]))
        .collect();
    let e = db.upsert("m", &big).unwrap_err();
    assert!(matches!(e, HostError::Trap { .. }), "{e}");
    // The backend refuses further calls with a clear error; a reopen works and kept the data.
    assert!(matches!(db.list(), Err(HostError::Trap { .. })));
    drop(db);
    let mut db = ComponentBackend::open(runtime(), dir.path(), &Limits::default()).unwrap();
    assert_eq!(db.stats("m").unwrap().len, 1);
}

#[test]
fn a_vector_file_past_the_guest_memory_is_refused_with_a_typed_error_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory_bytes: 96 << 20,
        ..Limits::default()
    };
    let mut db = ComponentBackend::open(runtime(), dir.path(), &limits).unwrap();
    db.create_collection("m", CollectionConfig::new(1024, Metric::Dot))
        .unwrap();
    // 1 MiB batches: the component holds the whole vector file in its memory, so the file
    // cannot grow past the cap; the batch that would is refused, not trapped.
    let mut stored = 0u64;
    let refusal = loop {
        let batch: Vec<Point> = (stored..stored + 256)
            .map(|i| Point::new(i, vec![(i % 7) as f32 + 1.0; 1024]))
            .collect();
        match db.upsert("m", &batch) {
            Ok(()) => stored += 256,
            Err(e) => break e,
        }
        assert!(stored < 200_000, "96 MiB never ran out");
    };
    assert!(
        matches!(
            refusal,
            HostError::Engine(Error::LimitExceeded {
                limit: veles::Limit::MemoryBytes,
                ..
            })
        ),
        "{refusal}"
    );
    // Growing the mirror reallocates it (old and new side by side), so about a quarter of the
    // cap holds vectors; a reopen needs the file's size once; the text analysis's static
    // tables (word boundaries, stemmers) take their share of the guest's memory too.
    assert!(stored >= 5_500, "only {stored} points fit");
    // Nothing was lost or latched: the collection still answers and flushes.
    assert_eq!(db.len("m").unwrap(), stored);
    db.flush("m").unwrap();
    let hits = db
        .search("m", &vec![1.0; 1024], 3, &SearchParams::default())
        .unwrap();
    assert_eq!(hits.len(), 3);
    drop(db);
    // It reopens under the same cap with every acknowledged point.
    let mut db = ComponentBackend::open(runtime(), dir.path(), &limits).unwrap();
    assert_eq!(db.len("m").unwrap(), stored);
}

#[test]
fn a_runaway_call_is_stopped_by_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut db = ComponentBackend::open(runtime(), dir.path(), &Limits::default()).unwrap();
        db.create_collection(
            "d",
            CollectionConfig::new(256, Metric::Euclidean).with_hnsw(8, 32),
        )
        .unwrap();
        for c in 0..20u64 {
            let pts: Vec<Point> = (0..1000)
                .map(|i| Point::new(c * 1000 + i, vec![((c * 1000 + i) % 17) as f32; 256]))
                .collect();
            db.upsert("d", &pts).unwrap();
        }
        db.checkpoint("d").unwrap();
    }
    let limits = Limits {
        call_timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let mut db = ComponentBackend::open(runtime(), dir.path(), &limits).unwrap();
    assert_eq!(
        db.stats("d").unwrap().len,
        20_000,
        "opening with the graph file fits the deadline"
    );
    // The largest k and ef the limits allow are bounded work: the graph has 20k nodes.
    let most = SearchParams::default().with_ef(Some(veles::MAX_EF));
    let hits = db.search("d", &[1.0; 256], veles::MAX_K, &most).unwrap();
    assert_eq!(hits.len(), veles::MAX_K);
    let e = db
        .search("d", &[1.0; 256], veles::MAX_K + 1, &most)
        .unwrap_err();
    assert!(e.to_string().contains("exceeds the limit"), "{e}");
    // Thousands of exact scans over 20k vectors: seconds, far beyond 300 ms.
    let queries = vec![vec![1.0f32; 256]; 5000];
    let exact = SearchParams::default().with_exact(true);
    let e = db.search_batch("d", &queries, 10, &exact).unwrap_err();
    assert!(e.is_deadline(), "{e}");
    assert!(e.to_string().contains("deadline"), "{e}");
}

#[test]
fn a_runtime_without_deadlines_refuses_a_timeout_and_runs_without_one() {
    let rt = Runtime::without_deadlines().expect("the component loads");
    assert_eq!(rt.interruption(), veles_host::Interruption::Off);
    let dir = tempfile::tempdir().unwrap();
    // It cannot stop a call, so it will not pretend to.
    let Err(e) = ComponentBackend::open(&rt, dir.path(), &Limits::default()) else {
        panic!("a runtime without deadlines took a call timeout");
    };
    assert!(
        e.to_string().contains("needs a runtime with deadlines"),
        "{e}"
    );
    let unbounded = Limits {
        call_timeout: None,
        ..Limits::default()
    };
    let mut db = ComponentBackend::open(&rt, dir.path(), &unbounded).unwrap();
    db.create_collection("d", CollectionConfig::new(4, Metric::Cosine))
        .unwrap();
    db.upsert("d", &[Point::new(7, vec![1.0, 0.0, 0.0, 0.0])])
        .unwrap();
    let hits = db
        .search("d", &[1.0, 0.1, 0.0, 0.0], 1, &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].id, 7);
    // A runtime with deadlines takes `None` as no limit.
    drop(db);
    let mut db = ComponentBackend::open(runtime(), dir.path(), &unbounded).unwrap();
    assert_eq!(db.stats("d").unwrap().len, 1);
}

/// recall@10 of `db`'s searches at ef 64 against `truth`.
fn recall_at_10(db: &mut dyn Backend, queries: &[Vec<f32>], truth: &[Vec<u64>]) -> f64 {
    let params = SearchParams::default().with_ef(Some(64));
    let found = db.search_batch("big", queries, 10, &params).unwrap();
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|h| t.contains(&h.id)).count())
        .sum();
    hits as f64 / (10 * queries.len()) as f64
}

#[test]
fn a_collection_larger_than_the_guest_memory_imports_reopens_and_searches_on_its_sq8_copy() {
    use veles::VectorMemory;
    use veles_host::{NativeBackend, OpenOptions};
    const DIM: usize = 1024;
    const N: u64 = 16_384;
    let limits = Limits {
        memory_bytes: 48 << 20,
        ..Limits::default()
    };
    let quantized = OpenOptions {
        vector_memory: VectorMemory::Quantized,
        limits: limits.clone(),
        ..OpenOptions::default()
    };
    let full = OpenOptions {
        limits: limits.clone(),
        ..OpenOptions::default()
    };
    let (dir, native_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = CollectionConfig::new(DIM as u32, Metric::Cosine).with_hnsw(12, 100);
    let mut comp = ComponentBackend::open_with(runtime(), dir.path(), &quantized).unwrap();
    let mut native = NativeBackend::open(native_dir.path()).unwrap();
    comp.create_collection("big", config.clone()).unwrap();
    native.create_collection("big", config).unwrap();
    let mut rng = veles::testing::Rng::new(21);
    let mut vectors = Vec::with_capacity(N as usize);
    for first in (0..N).step_by(256) {
        let batch: Vec<Point> = (first..first + 256)
            .map(|i| Point::new(i, rng.clustered(DIM)))
            .collect();
        vectors.extend(batch.iter().map(|p| p.vector.clone()));
        comp.upsert("big", &batch).unwrap();
        native.upsert("big", &batch).unwrap();
        // Checkpoints keep the log (which an open reads whole) well inside the cap.
        if (first + 256) % 4096 == 0 {
            comp.checkpoint("big").unwrap();
        }
    }
    native.checkpoint("big").unwrap();
    let file: u64 = std::fs::read_dir(dir.path().join("collections/big"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("vectors-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        file > limits.memory_bytes as u64,
        "the f32 file ({file} bytes) exceeds the cap"
    );

    // The exact neighbours, by brute force on the unit vectors.
    let unit = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let units: Vec<Vec<f32>> = vectors.iter().map(|v| unit(v)).collect();
    let queries: Vec<Vec<f32>> = (0..40).map(|_| rng.clustered(DIM)).collect();
    let truth: Vec<Vec<u64>> = queries
        .iter()
        .map(|q| {
            let q = unit(q);
            let mut scored: Vec<(f32, u64)> = units
                .iter()
                .enumerate()
                .map(|(i, u)| (-u.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), i as u64))
                .collect();
            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
            scored.iter().take(10).map(|s| s.1).collect()
        })
        .collect();
    let native_recall = recall_at_10(&mut native, &queries, &truth);
    let comp_recall = recall_at_10(&mut comp, &queries, &truth);
    eprintln!(
        "recall@10, ef 64: native (full) {native_recall:.4}, component (quantized) {comp_recall:.4}"
    );
    assert!(
        comp_recall >= native_recall - 0.01,
        "component (quantized) {comp_recall} vs native {native_recall}"
    );
    let params = SearchParams::default().with_ef(Some(64));
    let before = comp.search_batch("big", &queries, 10, &params).unwrap();
    // Both build their links on the SQ8 copy and score exactly: the same hits, bit for bit.
    assert_eq!(
        native.search_batch("big", &queries, 10, &params).unwrap(),
        before
    );
    drop(comp);

    // The whole file does not fit: the full mode refuses with a typed error, no trap.
    let full =
        ComponentBackend::open_with(runtime(), dir.path(), &full).and_then(|mut db| db.len("big"));
    assert!(matches!(full, Err(HostError::Engine(_))), "{full:?}");
    // The quantized mode reopens under the same cap, loads its graph, answers the same.
    let mut comp = ComponentBackend::open_with(runtime(), dir.path(), &quantized).unwrap();
    let stats = comp.stats("big").unwrap();
    assert_eq!((stats.len, stats.graph_nodes), (N as usize, N as usize));
    assert!(stats.recovery.graph_loaded);
    assert_eq!(
        comp.search_batch("big", &queries, 10, &params).unwrap(),
        before
    );
    assert!(comp.check().unwrap().iter().all(|r| r.is_ok()));
}

/// The component the CLI embeds, which the README's documented command builds too (the
/// `component` profile), carries no debug info: it stays about a megabyte, not ten.
#[test]
fn the_shipped_component_has_no_debug_info() {
    let wasm = std::fs::read(env!("VELES_COMPONENT_PATH")).unwrap();
    assert!(
        !wasm
            .windows(b".debug_info".len())
            .any(|w| w == b".debug_info"),
        "the component carries DWARF"
    );
    assert!(wasm.len() < 4 << 20, "{} bytes", wasm.len());
}
