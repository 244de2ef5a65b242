#!/usr/bin/env python3
"""Unfiltered search and build: Veles vs the strongest peers, side by side in one run.

    python3 bench/unfiltered_vs_peers.py [DATA_DIR] [--skip NAME,...]

DATA_DIR holds base.fvecs, query.fvecs, groundtruth.ivecs (default ../shared/data/minilm-20k;
cosine, unit vectors). Peers from PyPI, installed into target/bench-venv on first use:
Qdrant Edge (int8 scalar quantization, rescored), glass (HNSW, SQ8U + FP32 refine), faiss
(HNSW-SQ8 + flat refine), ScaNN (tree + AH + reorder), hnswlib (f32). Every engine builds and
searches on one thread; peers get the whole query batch in one call; Veles runs natively
in-process (`VELES_THREADS=1 veles --native bench`, its batch figure). M 16 and
efConstruction 200 where the engine has them. Prints build seconds, and the best QPS each
reaches at recall@10 >= 0.95 and >= 0.99 over its search-effort sweep, and the QPS where its
recall curve crosses 0.95 and 0.99 (linear between effort points), with Veles' ratios; every
engine's curve goes to stderr.
Every engine is built first; then ROUNDS (environment variable, default 3) rounds go through
all of them in turn (each peer's whole sweep, then one Veles `bench` run, which builds anew),
and each search keeps its fastest round (Veles: the fastest search per ef and the median
build), so load on a shared machine, which comes and goes over minutes, does not decide a
ratio. Then memory against Qdrant Edge int8: a fresh process of each opens the built
collection and answers the queries at ef 64; its peak resident set less its own before it
opens anything.
"""
import json, os, subprocess, sys, tempfile, time, venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")
PEERS = ["numpy", "qdrant-edge-py", "pyglass-portable", "faiss-cpu", "scann", "hnswlib"]


def in_venv():
    py = os.path.join(VENV, "bin", "python")
    if sys.executable != py:
        if not os.path.exists(py):
            venv.create(VENV, with_pip=True)
        os.execv(py, [py] + sys.argv)
    try:
        import numpy, qdrant_edge, glass, faiss, scann, hnswlib  # noqa: F401
    except ImportError:
        subprocess.check_call([py, "-m", "pip", "install", "-q"] + PEERS)


def fvecs(np, p):
    raw = np.fromfile(p, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:].view(np.float32)


def ivecs(np, p):
    raw = np.fromfile(p, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:]


ROUNDS = int(os.environ.get("ROUNDS", "3"))


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def peak_rss_mib(cmd, fails=False):
    """The peak resident set (VmHWM) of one child process, in MiB, and its standard output;
    the child must succeed (or, with `fails`, must not). VmHWM is read from /proc every
    2 ms until the child exits (the high-water mark only grows, so the last read is the
    peak up to then). Not wait4's ru_maxrss: a child forked from this large Python process
    inherits its figure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = 0.0
        while p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    hwm = next((l for l in f if l.startswith("VmHWM")), None)
                if hwm:
                    peak = max(peak, int(hwm.split()[1]) / 1024)
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        if (p.returncode != 0) != fails:
            err.seek(0)
            sys.exit(f"{' '.join(cmd[:4])}... exited {p.returncode}: {err.read().decode()[-500:]}")
        out.seek(0)
        return peak, out.read()


def faiss_hnsw_sq8(base, m, efc):
    """faiss HNSW over SQ8 codes (inner product), refined by the flat f32 vectors (k_factor 2),
    built on the threads faiss is set to."""
    import faiss
    hnsw = faiss.IndexHNSWSQ(base.shape[1], faiss.ScalarQuantizer.QT_8bit, m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = efc
    hnsw.train(base)
    idx = faiss.IndexRefineFlat(hnsw)
    idx.k_factor = 2
    idx.add(base)
    return idx


# A child that opens a built Qdrant Edge shard and answers the queries once: prints its
# resident set (MiB) after the imports, before the shard is opened.
QDRANT_CHILD = """
import sys, numpy as np, qdrant_edge as q
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
base = rss()
shard = q.EdgeShard.load(sys.argv[1])
raw = np.fromfile(sys.argv[2], dtype=np.int32)
qs = raw.reshape(-1, raw[0] + 1)[:, 1:].view(np.float32)
quant = q.QuantizationSearchParams(rescore=True, oversampling=2.0)
reqs = [q.QueryRequest(limit=10, query=q.Query.Nearest(v.tolist()),
                       params=q.SearchParams(hnsw_ef=64, quantization=quant)) for v in qs]
shard.query_batch(q.QueryBatchRequest(reqs))
print(base)
"""


def main():
    in_venv()
    import numpy as np

    args = sys.argv[1:]
    skip = set(args[args.index("--skip") + 1].split(",")) if "--skip" in args else set()
    data = next((a for a in args if not a.startswith("--") and os.path.isdir(a)),
                os.path.join(ROOT, "..", "shared", "data", "minilm-20k"))
    k, m, efc = 10, 16, 200
    base = np.ascontiguousarray(fvecs(np, f"{data}/base.fvecs"))
    queries = np.ascontiguousarray(fvecs(np, f"{data}/query.fvecs"))
    gt = ivecs(np, f"{data}/groundtruth.ivecs")[:, :k]
    n, dim = base.shape
    efs = [16, 24, 32, 40, 48, 64, 96, 128, 192, 256]

    def recall(ids):
        return sum(len(set(map(int, r[:k])) & set(map(int, t))) for r, t in zip(ids, gt)) / gt.size

    results = {}  # name -> (build seconds, [(effort, recall, qps)])
    built = []  # (name, index, search, efforts), searched once all are built

    def sweep(name, build, search, efforts):
        if name in skip:
            return
        index, secs = timed(build)
        results[name] = (secs, [])
        built.append((name, index, search, efforts))
        print(f"  {name}: built in {secs:.1f} s", file=sys.stderr)

    import hnswlib
    def hnsw_build():
        idx = hnswlib.Index(space="ip", dim=dim)
        idx.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
        idx.set_num_threads(1)
        idx.add_items(base, num_threads=1)
        return idx
    def hnsw_search(idx, ef):
        idx.set_ef(max(ef, k))
        return idx.knn_query(queries, k=k, num_threads=1)[0]
    sweep("hnswlib f32", hnsw_build, hnsw_search, efs)

    import faiss
    faiss.omp_set_num_threads(1)
    faiss_build = lambda: faiss_hnsw_sq8(base, m, efc)
    def faiss_search(idx, ef):
        faiss.downcast_index(idx.base_index).hnsw.efSearch = max(ef, k * 2)
        return idx.search(queries, k)[1]
    sweep("faiss HNSW-SQ8+refine", faiss_build, faiss_search, efs)

    import glass
    glass.set_num_threads(1)
    def glass_build():
        graph = glass.Index("HNSW", metric="IP", quant="SQ8U", R=2 * m, L=efc).build(base)
        s = glass.Searcher(graph, base, "IP", "SQ8U", "FP32")
        s.optimize(1)
        return s
    def glass_search(s, ef):
        s.set_ef(ef)
        out = s.batch_search(queries, k, 1)
        ids = out[0] if isinstance(out, (tuple, list)) else out  # (ids, distances)
        return np.asarray(ids).reshape(len(queries), k)
    sweep("glass SQ8U+refine", glass_build, glass_search, efs)

    import scann
    def scann_build():
        return (scann.scann_ops_pybind.builder(base, k, "dot_product")
                .tree(num_leaves=200, num_leaves_to_search=20, training_sample_size=n)
                .score_ah(2, anisotropic_quantization_threshold=0.2)
                .reorder(100).set_n_training_threads(1).build())
    def scann_search(s, leaves):
        return s.search_batched(queries, final_num_neighbors=k, leaves_to_search=leaves,
                                pre_reorder_num_neighbors=max(100, 4 * leaves))[0]
    sweep("ScaNN", scann_build, scann_search, [4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64])

    import qdrant_edge as q
    qdrant_dirs = []
    def qdrant_build():
        tmp = tempfile.mkdtemp(prefix="qdrant-edge-")
        config = q.EdgeConfig(
            vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine),
            hnsw_config=q.HnswIndexConfig(m=m, ef_construct=efc, full_scan_threshold=10,
                                          max_indexing_threads=1),
            quantization_config=q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True),
            max_search_threads=1,
        )
        shard = q.EdgeShard.create(tmp, config)
        for i in range(0, n, 1000):
            shard.update(q.UpdateOperation.upsert_points(
                [q.Point(int(j), base[j].tolist()) for j in range(i, min(n, i + 1000))]))
        shard.flush()
        shard.optimize()
        qdrant_dirs.append(tmp)
        return shard
    qlist = [v.tolist() for v in queries]
    def qdrant_search(shard, ef):
        quant = q.QuantizationSearchParams(rescore=True, oversampling=2.0)
        reqs = [q.QueryRequest(limit=k, query=q.Query.Nearest(v),
                               params=q.SearchParams(hnsw_ef=ef, quantization=quant))
                for v in qlist]
        return [[int(p.id) for p in r] for r in shard.query_batch(q.QueryBatchRequest(reqs))]
    sweep("Qdrant Edge int8", qdrant_build, qdrant_search, efs)

    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "veles-host"], cwd=ROOT)
    env = dict(os.environ, VELES_THREADS="1")

    def veles_run():  # builds anew: the median build, the fastest search per ef
        vdir = tempfile.mkdtemp(prefix="veles-bench-")
        out = json.loads(subprocess.check_output(
            [os.path.join(ROOT, "target", "release", "veles"), "--native", "--json", "bench",
             vdir, "--base", f"{data}/base.fvecs", "--queries", f"{data}/query.fvecs",
             "--gt", f"{data}/groundtruth.ivecs", "--ef", ",".join(map(str, efs))], env=env))
        return vdir, out

    # Rounds go through every engine in turn (each peer's whole sweep, then one Veles run),
    # and each search keeps its fastest round: load on this shared machine that lasts
    # minutes then slows every engine in some round, instead of one engine in all of its own.
    fastest = {name: {} for name, *_ in built}  # name -> effort -> (recall, seconds)
    runs = []
    for r in range(ROUNDS):
        for name, index, search, efforts in built:
            for e in efforts:
                if r == 0:
                    search(index, e)  # warm
                ids, t = timed(lambda: search(index, e))
                if e not in fastest[name] or t < fastest[name][e][1]:
                    fastest[name][e] = (recall(ids), t)
        vdir, out = veles_run()
        runs.append(out)
        print(f"  round {r + 1} of {ROUNDS} done", file=sys.stderr)
    for name, _, _, efforts in built:
        rows = [(e, fastest[name][e][0], len(queries) / fastest[name][e][1]) for e in efforts]
        results[name] = (results[name][0], rows)
    rows = [(r["ef"], r["recall"], max(run["runs"][0]["search"][i]["batch_qps"] for run in runs))
            for i, r in enumerate(runs[0]["runs"][0]["search"])]
    builds = sorted(run["build_seconds"] for run in runs)
    results["veles"] = (builds[len(builds) // 2], rows)
    # Close every peer's index (Qdrant's shard holds its directory's lock, which the memory
    # child below must take).
    built.clear()
    index = search = None
    import gc
    gc.collect()

    def best(rows, target):
        return max((qps for _, r, qps in rows if r >= target), default=None)

    def crossing(rows, target):
        """QPS where the curve, in effort order, first reaches `target`, read linearly
        between the two effort points around it: with 200 queries a recall moves in steps of
        0.0005, so the grid point that happens to clear a target by one hit can decide `best`."""
        for (_, r0, q0), (_, r1, q1) in zip(rows, rows[1:]):
            if r0 < target <= r1:
                return q0 + (q1 - q0) * (target - r0) / (r1 - r0)
        return rows[0][2] if rows and rows[0][1] >= target else None

    show = lambda x: f"{x:.0f}" if x else "-"
    print(f"{n} x {dim}-d cosine, k {k}, {len(queries)} queries, one thread each")
    print(f"{'engine':<24} {'build s':>8} {'QPS@0.95':>10} {'QPS@0.99':>10}"
          f" {'at 0.95':>9} {'at 0.99':>9}")
    for name, (secs, rows) in results.items():
        cells = [best(rows, 0.95), best(rows, 0.99), crossing(rows, 0.95), crossing(rows, 0.99)]
        print(f"{name:<24} {secs:>8.1f} {show(cells[0]):>10} {show(cells[1]):>10}"
              f" {show(cells[2]):>9} {show(cells[3]):>9}")
    print("QPS@R: the best grid point with recall >= R; at R: where the curve crosses R")
    v = results["veles"]
    for target in (0.95, 0.99):
        for how, f in (("best grid point", best), ("curve crossing", crossing)):
            peers = [(f(r, target), name) for name, (_, r) in results.items() if name != "veles"]
            peers = [p for p in peers if p[0]]
            if peers and f(v[1], target):
                top, who = max(peers)
                print(f"recall {target} ({how}): veles / best peer ({who}) = "
                      f"{f(v[1], target) / top:.2f}x")
    for name, (_, rows) in results.items():
        print(f"  {name}: " + ", ".join(f"{e}: {r:.4f} {q:.0f}/s" for e, r, q in rows),
              file=sys.stderr)
    fastest = min((s, name) for name, (s, _) in results.items() if name != "veles")
    print(f"build: fastest peer {fastest[1]} {fastest[0]:.1f} s, veles {v[0]:.1f} s "
          f"({fastest[0] / v[0]:.2f}x)")

    # Memory: a fresh process opens the built collection and answers the queries at ef 64;
    # its peak resident set less what the process holds before opening anything (Python
    # and the module for Qdrant; for veles the same command on a directory with no
    # collection, which fails after the binary and runtime are up).
    if qdrant_dirs:
        q_dir = qdrant_dirs[-1]
        q_peak, out = peak_rss_mib([sys.executable, "-c", QDRANT_CHILD, q_dir,
                                    f"{data}/query.fvecs"])
        q_mem = q_peak - float(out.decode().split()[-1])
        veles = os.path.join(ROOT, "target", "release", "veles")
        search = lambda d: [veles, "--native", "search", d, "bench", "--query-file",
                            f"{data}/query.fvecs", "--ef", "64", "--json"]
        v_peak, _ = peak_rss_mib(search(vdir))  # the last run's collection
        v_base, _ = peak_rss_mib(search(tempfile.mkdtemp(prefix="veles-empty-")), fails=True)
        v_mem = v_peak - v_base
        print(f"memory (open + {len(queries)} queries at ef 64, peak resident less the process's "
              f"own): Qdrant Edge int8 {q_mem:.1f} MiB, veles {v_mem:.1f} MiB "
              f"({v_mem / q_mem:.2f}x)")


if __name__ == "__main__":
    main()
