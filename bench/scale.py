#!/usr/bin/env python3
"""Scale: Veles against hnswlib, Qdrant Edge int8 and faiss HNSW-SQ8 at N points, side by side.

    python/.venv/bin/python bench/scale.py [--n 1000000] [--seed 7] [--skip NAME,...]

The data set is synthetic and seeded: N x 384-d unit vectors drawn from 4,096 Gaussian
clusters (unit centres; per-component noise 0.5/sqrt(d), so the noise is half as long as
the centre), and 1,000 queries drawn the same way, with their exact top-10 by numpy. It is
written once under target/scale-<N>-<seed>/ and reused.

Every engine builds on all cores (M 16, efConstruction 200) and saves to disk; Veles by its
CLI (`veles --native create` + `import`: durable, indexed, checkpointed at the end). Then a
fresh process per engine opens what was saved, and reports the open's time and its
resident set after the open and after the 1,000 queries. It sweeps the search effort on one
thread with the whole batch in one call and reports recall@10 and QPS. Printed per engine:
build wall time and CPU use (100 % = one core), disk, open, RSS, and the QPS where recall
crosses 0.95. Also Veles' open through the component (`veles search` of one query, quantized
and full vector memory, less the same on an empty collection) and its peak resident set.
Needs in the venv: numpy, hnswlib, faiss-cpu, qdrant-edge-py (installed on first use) and
the package `veles` (`maturin develop --release` in python/); the release `veles` binary.
"""
import json, os, resource, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unfiltered_vs_peers import faiss_hnsw_sq8, peak_rss_mib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VELES = os.path.join(ROOT, "target", "release", "veles")
DIM, CLUSTERS, K, M, EFC = 384, 4096, 10, 16, 200
# Per-component noise, in units of 1/sqrt(d): the noise vector is this long against a unit centre.
NOISE = 0.5
EFS = [16, 24, 32, 48, 64, 96, 128, 192, 256]
PEERS = {"hnswlib": "hnswlib", "faiss": "faiss-cpu", "qdrant_edge": "qdrant-edge-py"}


def ensure_peers():
    missing = []
    for module, package in PEERS.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + missing)


def write_vecs(path, rows, dtype):
    import numpy as np
    n, d = rows.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = rows.astype(dtype).view(np.int32)
    out.tofile(path)


def read_vecs(path, dtype):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:].view(dtype)


def dataset(n, seed):
    """The set's folder: base.fvecs, query.fvecs, groundtruth.ivecs (made once)."""
    import numpy as np
    folder = os.path.join(ROOT, "target", f"scale-{n}-{seed}")
    if os.path.exists(os.path.join(folder, "groundtruth.ivecs")):
        return folder
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count):
        rows = centres[rng.integers(0, CLUSTERS, count)]
        rows += rng.standard_normal((count, DIM), dtype=np.float32) * (NOISE / np.sqrt(DIM))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        return rows

    base = np.concatenate([draw(min(100_000, n - i)) for i in range(0, n, 100_000)])
    queries = draw(1000)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, n, 100_000):
        scores = queries @ base[start:start + 100_000].T
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        best_ids = np.concatenate([best_ids, top + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")[:, :K]
    write_vecs(os.path.join(folder, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(folder, "query.fvecs"), queries, np.float32)
    write_vecs(os.path.join(folder, "groundtruth.ivecs"), np.take_along_axis(best_ids, order, 1), np.int32)
    return folder


def disk_mib(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(dirpath, f)).st_blocks * 512
    return total / 2**20


def cpu_seconds():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# ---- builds (in this process, or by the CLI), each saved to a folder

def build_veles(data, out):
    subprocess.check_call([VELES, "--native", "create", out, "bench", "--dim", str(DIM),
                           "--metric", "cosine"], stdout=subprocess.DEVNULL)
    subprocess.check_call([VELES, "--native", "import", out, "bench", f"{data}/base.fvecs"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_hnswlib(base, out):
    import hnswlib
    idx = hnswlib.Index(space="ip", dim=DIM)
    idx.init_index(max_elements=len(base), M=M, ef_construction=EFC, random_seed=100)
    idx.add_items(base, num_threads=os.cpu_count())
    os.makedirs(out)
    idx.save_index(os.path.join(out, "index.bin"))


def build_faiss(base, out):
    import faiss
    faiss.omp_set_num_threads(os.cpu_count())
    idx = faiss_hnsw_sq8(base, M, EFC)
    os.makedirs(out)
    faiss.write_index(idx, os.path.join(out, "index.faiss"))


def build_qdrant(base, out):
    import qdrant_edge as q
    config = q.EdgeConfig(
        vectors=q.EdgeVectorParams(size=DIM, distance=q.Distance.Cosine),
        hnsw_config=q.HnswIndexConfig(m=M, ef_construct=EFC, full_scan_threshold=10,
                                      max_indexing_threads=os.cpu_count()),
        quantization_config=q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True),
        max_search_threads=1,
    )
    shard = q.EdgeShard.create(out, config)
    for i in range(0, len(base), 1000):
        shard.update(q.UpdateOperation.upsert_points(
            [q.Point(int(j), base[j].tolist()) for j in range(i, min(len(base), i + 1000))]))
    shard.flush()
    shard.optimize()
    shard.close() if hasattr(shard, "close") else None


# ---- a fresh process per engine: open, RSS, the sweep on one thread, RSS

def rss_mib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) / 1024


def child(engine, folder, data):
    import numpy as np
    queries = np.ascontiguousarray(read_vecs(f"{data}/query.fvecs", np.float32))
    gt = read_vecs(f"{data}/groundtruth.ivecs", np.int32)[:, :K]
    if engine == "veles":
        import veles
        before = rss_mib()
        t = time.perf_counter()
        db = veles.open(folder, read_only=True)
        c = db.collection("bench")
        len(c)
        search = lambda ef: c.search_batch(queries, K, ef=ef, with_payload=False).ids
    elif engine == "hnswlib":
        import hnswlib
        before = rss_mib()
        t = time.perf_counter()
        idx = hnswlib.Index(space="ip", dim=DIM)
        idx.load_index(os.path.join(folder, "index.bin"))
        idx.set_num_threads(1)

        def search(ef):
            idx.set_ef(max(ef, K))
            return idx.knn_query(queries, k=K, num_threads=1)[0]
    elif engine == "faiss":
        import faiss
        faiss.omp_set_num_threads(1)
        before = rss_mib()
        t = time.perf_counter()
        idx = faiss.read_index(os.path.join(folder, "index.faiss"))

        def search(ef):
            faiss.downcast_index(idx.base_index).hnsw.efSearch = max(ef, 2 * K)
            return idx.search(queries, K)[1]
    else:
        import qdrant_edge as q
        before = rss_mib()
        t = time.perf_counter()
        shard = q.EdgeShard.load(folder)
        qs = [v.tolist() for v in queries]
        quant = q.QuantizationSearchParams(rescore=True, oversampling=2.0)

        def search(ef):
            reqs = [q.QueryRequest(limit=K, query=q.Query.Nearest(v),
                                   params=q.SearchParams(hnsw_ef=ef, quantization=quant)) for v in qs]
            return [[int(p.id) for p in r] for r in shard.query_batch(q.QueryBatchRequest(reqs))]
    opened = time.perf_counter() - t
    after_open = rss_mib() - before
    sweep = []
    for ef in EFS:
        search(ef)  # warm
        best, ids = None, None
        for _ in range(2):
            t = time.perf_counter()
            ids = search(ef)
            s = time.perf_counter() - t
            best = s if best is None else min(best, s)
        hits = sum(len(set(map(int, r[:K])) & set(map(int, g))) for r, g in zip(ids, gt))
        sweep.append((ef, hits / gt.size, len(queries) / best))
    print(json.dumps({"open_s": opened, "rss_open_mib": after_open,
                      "rss_queries_mib": rss_mib() - before, "sweep": sweep}))


def crossing(sweep, target=0.95):
    """QPS where the recall curve, in effort order, first reaches `target` (linear between)."""
    for (_, r0, q0), (_, r1, q1) in zip(sweep, sweep[1:]):
        if r0 < target <= r1:
            return q0 + (q1 - q0) * (target - r0) / (r1 - r0)
    return sweep[0][2] if sweep and sweep[0][1] >= target else None


def component_open(folder, data, memory):
    """Seconds and peak RSS (MiB) of one search through the component on `folder` (the open,
    then one query), less the same on a database whose collection is empty (the process,
    the runtime, the compiled component)."""
    import numpy as np
    empty = tempfile.mkdtemp(prefix="veles-empty-")
    subprocess.check_call([VELES, "--native", "create", empty, "bench", "--dim", str(DIM)],
                          stdout=subprocess.DEVNULL)
    vector = json.dumps(read_vecs(f"{data}/query.fvecs", np.float32)[0].tolist())

    def one(d):
        best_s, peak = None, 0.0
        for _ in range(3):
            t = time.perf_counter()
            rss, _ = peak_rss_mib([VELES, "--vector-memory", memory, "search", d, "bench",
                                   "--vector", vector, "-k", str(K)])
            s = time.perf_counter() - t
            best_s = s if best_s is None else min(best_s, s)
            peak = max(peak, rss)
        return best_s, peak

    (s, rss), (s0, rss0) = one(folder), one(empty)
    shutil.rmtree(empty)
    return s - s0, rss - rss0


def main():
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        return child(*args[1:4])
    n = int(args[args.index("--n") + 1]) if "--n" in args else 1_000_000
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 7
    skip = set(args[args.index("--skip") + 1].split(",")) if "--skip" in args else set()
    ensure_peers()
    import numpy as np
    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "veles-host"], cwd=ROOT)
    print(f"data: {n} x {DIM}-d, seed {seed} ...", file=sys.stderr)
    data = dataset(n, seed)
    base = np.ascontiguousarray(read_vecs(f"{data}/base.fvecs", np.float32))
    work = tempfile.mkdtemp(prefix="veles-scale-", dir=os.path.join(ROOT, "target"))
    builds = {
        "veles": lambda out: build_veles(data, out),
        "hnswlib": lambda out: build_hnswlib(base, out),
        "faiss": lambda out: build_faiss(base, out),
        "qdrant_edge": lambda out: build_qdrant(base, out),
    }
    rows = {}
    try:
        for name, build in builds.items():
            if name in skip:
                continue
            out = os.path.join(work, name)
            print(f"{name}: building ...", file=sys.stderr)
            cpu, t = cpu_seconds(), time.perf_counter()
            build(out)
            wall = time.perf_counter() - t
            row = {"build_s": wall, "cpu_pct": 100 * (cpu_seconds() - cpu) / wall, "disk_mib": disk_mib(out)}
            got = subprocess.run([sys.executable, __file__, "--child", name, out, data],
                                 capture_output=True, text=True)
            if got.returncode != 0:
                sys.exit(f"{name}: the searching process failed: {got.stderr[-800:]}")
            row.update(json.loads(got.stdout.strip().splitlines()[-1]))
            if name == "veles":
                for memory in ("quantized", "full"):
                    row[f"component_{memory}"] = component_open(out, data, memory)
            rows[name] = row
            print(f"  {json.dumps(row)}", file=sys.stderr)
            if name != "veles":
                shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{n} x {DIM}-d cosine, {CLUSTERS} clusters, k {K}, 1,000 queries; builds on "
          f"{os.cpu_count()} cores, searches on one thread")
    print(f"{'engine':<12} {'build s':>8} {'CPU %':>6} {'disk MiB':>9} {'open s':>7} "
          f"{'RSS open':>9} {'RSS +1k q':>10} {'QPS@0.95':>9}")
    for name, r in rows.items():
        qps = crossing(r["sweep"])
        print(f"{name:<12} {r['build_s']:>8.1f} {r['cpu_pct']:>6.0f} {r['disk_mib']:>9.0f} "
              f"{r['open_s']:>7.3f} {r['rss_open_mib']:>9.0f} {r['rss_queries_mib']:>10.0f} "
              f"{(f'{qps:.0f}' if qps else '-'):>9}")
    for name, r in rows.items():
        print(f"  {name} sweep: " + ", ".join(f"{e}: {rc:.3f} {q:.0f}/s" for e, rc, q in r["sweep"]))
    if "veles" in rows:
        v = rows["veles"]
        for memory in ("quantized", "full"):
            s, rss = v[f"component_{memory}"]
            print(f"veles open + 1 search through the component ({memory}): {s:.3f} s, peak RSS +{rss:.0f} MiB")
        vq = crossing(v["sweep"])
        peers = [(crossing(r["sweep"]), name) for name, r in rows.items() if name != "veles"]
        peers = [p for p in peers if p[0]]
        if vq and peers:
            top, who = max(peers)
            print(f"QPS at recall 0.95: veles / best peer ({who}) = {vq / top:.2f}x")
        if "qdrant_edge" in rows:
            print(f"RSS after the queries: veles / Qdrant Edge int8 = "
                  f"{v['rss_queries_mib'] / rows['qdrant_edge']['rss_queries_mib']:.2f}x")


if __name__ == "__main__":
    main()
