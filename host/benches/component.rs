//! The component against the engine linked natively, on the same collection and the same
//! queries (`../shared/data/minilm-20k`: 20,000 x 384-d, cosine), one thread each: the 200
//! queries as one `search_batch` at ef 32, 64 and 128, and building the graph over points
//! already stored (`optimize`). The ratio of the two is what counts (issue 14's "component
//! QPS against native"); `VELES_NO_AVX2=1` makes the native side use the portable kernels,
//! whose SIMD width (128 bits) is the component's. The component runs twice: as the `veles`
//! host runs it (deadlines: wasmtime's epoch checks at every loop iteration and call), and
//! compiled without those checks (`--deadline none`). Skips, saying so, where the data is
//! absent.
//!
//! Time is this thread's CPU time (`benches/common/thread_cpu.rs` says why); the guest runs
//! on the thread that calls it, and the native side is given one thread.

#[path = "../../benches/common/thread_cpu.rs"]
mod thread_cpu;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use thread_cpu::ThreadCpu;
use veles::testing::{read_fvecs, shared_data};
use veles::{CollectionConfig, Metric, Point, SearchParams};
use veles_host::backend::options_from_env;
use veles_host::{Backend, ComponentBackend, Limits, Runtime};

/// The native side: the library on one thread, with the environment's kernel choice.
struct Native {
    db: veles::Database,
    col: Option<veles::Collection>,
}

impl Native {
    fn open(dir: &Path) -> Native {
        // Linking at flush, as the component does: both sides do the same work.
        let options = options_from_env()
            .with_threads(Some(1))
            .with_linking(veles::Linking::AtFlush);
        let db = veles::Database::open_with(dir, options).expect("the database opens");
        Native { db, col: None }
    }

    fn col(&mut self) -> &veles::Collection {
        let db = &self.db;
        self.col
            .get_or_insert_with(|| db.collection("b").expect("the collection opens"))
    }
}

/// What both sides are asked to do.
trait Side {
    fn store(&mut self, base: &[Vec<f32>]);
    fn optimize(&mut self);
    fn search(&mut self, queries: &[Vec<f32>], ef: usize) -> usize;
}

impl Side for Native {
    fn store(&mut self, base: &[Vec<f32>]) {
        let config = CollectionConfig::new(base[0].len() as u32, Metric::Cosine);
        let col = self.db.create_collection("b", config).expect("create");
        for points in points(base) {
            col.upsert(&points).expect("upsert");
        }
        col.flush().expect("flush");
        self.col = Some(col);
    }
    fn optimize(&mut self) {
        self.col().optimize(None).expect("optimize");
    }
    fn search(&mut self, queries: &[Vec<f32>], ef: usize) -> usize {
        let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        let params = SearchParams::default().with_ef(Some(ef));
        self.col()
            .search_batch(&queries, 10, &params)
            .expect("search")
            .len()
    }
}

impl Side for ComponentBackend {
    fn store(&mut self, base: &[Vec<f32>]) {
        let config = CollectionConfig::new(base[0].len() as u32, Metric::Cosine);
        self.create_collection("b", config).expect("create");
        for points in points(base) {
            self.upsert("b", &points).expect("upsert");
        }
        self.flush("b").expect("flush");
    }
    fn optimize(&mut self) {
        Backend::optimize(self, "b", None).expect("optimize");
    }
    fn search(&mut self, queries: &[Vec<f32>], ef: usize) -> usize {
        let params = SearchParams::default().with_ef(Some(ef));
        self.search_batch("b", queries, 10, &params)
            .expect("search")
            .len()
    }
}

/// Opens one side on a database directory.
type Opener<'a> = dyn Fn(&Path) -> Box<dyn Side> + 'a;

fn points(base: &[Vec<f32>]) -> impl Iterator<Item = Vec<Point>> + '_ {
    base.chunks(1000).enumerate().map(|(i, chunk)| {
        chunk
            .iter()
            .enumerate()
            .map(|(j, v)| Point::new((i * 1000 + j) as u64, v.clone()))
            .collect()
    })
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the database") {
        let entry = entry.expect("an entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            std::fs::create_dir_all(&dest).expect("make a directory");
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy a file");
        }
    }
}

fn compare(c: &mut Criterion<ThreadCpu>) {
    let Some(data) = shared_data("minilm-20k") else {
        return;
    };
    let base = read_fvecs(&data.join("base.fvecs")).expect("base.fvecs");
    let queries = read_fvecs(&data.join("query.fvecs")).expect("query.fvecs");
    let runtime = Runtime::new().expect("the component compiles");
    // The same component compiled without interruption checks (`veles --deadline none`).
    let unchecked = Runtime::without_deadlines().expect("the component compiles");
    let fresh = || tempfile::tempdir().expect("a temporary directory");
    let component = |dir: &Path| -> ComponentBackend {
        ComponentBackend::open(&runtime, dir, &Limits::default()).expect("the component opens")
    };
    let no_deadline = |dir: &Path| -> ComponentBackend {
        let limits = Limits {
            call_timeout: None,
            ..Limits::default()
        };
        ComponentBackend::open(&unchecked, dir, &limits).expect("the component opens")
    };

    // One collection, built natively; each side searches its own copy (a database has one
    // writer at a time).
    let built = fresh();
    let mut native = Native::open(built.path());
    native.store(&base);
    native.optimize();
    // Saved with the graph: reopened, nothing waits to be linked (or is scanned exactly).
    native.col().checkpoint().expect("checkpoint");
    drop(native);
    let (copy, unchecked_copy) = (fresh(), fresh());
    copy_dir(built.path(), copy.path());
    copy_dir(built.path(), unchecked_copy.path());
    let mut sides: Vec<(&str, Box<dyn Side>)> = vec![
        ("native", Box::new(Native::open(built.path()))),
        ("component", Box::new(component(copy.path()))),
        (
            "component, no deadline",
            Box::new(no_deadline(unchecked_copy.path())),
        ),
    ];
    let mut g = c.benchmark_group("minilm-20k, 200 queries, k 10");
    g.throughput(Throughput::Elements(queries.len() as u64));
    for ef in [32, 64, 128] {
        for (name, side) in &mut sides {
            g.bench_function(format!("{name}, ef {ef}"), |b| {
                b.iter(|| side.search(&queries, ef))
            });
        }
    }
    g.finish();
    drop(sides);

    let mut g = c.benchmark_group("minilm-20k, build");
    g.sample_size(10);
    let store = |mut side: Box<dyn Side>| {
        side.store(&base);
        side
    };
    let open: [(&str, &Opener); 3] = [
        ("native", &|dir| Box::new(Native::open(dir))),
        ("component", &|dir| Box::new(component(dir))),
        ("component, no deadline", &|dir| Box::new(no_deadline(dir))),
    ];
    for (name, open) in open {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = fresh();
                    (store(open(dir.path())), dir)
                },
                |(mut side, dir)| {
                    side.optimize();
                    (side, dir)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = compare
}
criterion_main!(benches);
