#!/usr/bin/env python3
"""The Python package side by side with Rust and with qdrant-edge-py, on minilm-20k.

    python/.venv/bin/python bench/python_vs_peers.py [DATA_DIR]

Needs the package built into python/.venv (`maturin develop --release` in python/) and
qdrant-edge-py there (`pip install qdrant-edge-py`), and the release `veles` binary (for the
Rust figures, `cargo build --release -p veles-host`). One thread for every search; peers get
the whole query batch in one call. Prints one JSON object with every figure:

- batch QPS from Python against `veles --native bench`'s batch QPS (same ef) from Rust;
- one query per call: the time each call adds over Rust's one-query-per-call latency;
- QPS at recall@10 >= 0.95 (the best grid point, and where each curve crosses 0.95) against
  qdrant-edge-py's batch call, and
  durable ingest from numpy (upserts of 1,000 + flush) against its rate;
- two Python threads searching against one, and searches done during `compact()` and
  `optimize()` on another thread (zero would mean the GIL was held).
"""

import json, os, subprocess, sys, tempfile, threading, time

import numpy as np

import veles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EFS = [16, 24, 32, 40, 48, 64, 128]
K = 10


def fvecs(p):
    raw = np.fromfile(p, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:].view(np.float32)


def ivecs(p):
    raw = np.fromfile(p, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:]


def best_of(rounds, f):
    """The fastest of `rounds` timings of `f` (seconds), and its last result."""
    best, out = float("inf"), None
    for _ in range(rounds):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall(ids, gt):
    return float(np.mean([len(set(map(int, r)) & set(map(int, g[:K]))) / K for r, g in zip(ids, gt)]))


def at_target(rows, target=0.95):
    ok = [r for r in rows if r["recall"] >= target]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def crossing(rows, target=0.95):
    """QPS where the recall curve crosses `target`, linear between the grid points around it."""
    rows = sorted(rows, key=lambda r: r["ef"])
    for a, b in zip(rows, rows[1:]):
        if a["recall"] < target <= b["recall"]:
            f = (target - a["recall"]) / (b["recall"] - a["recall"])
            return a["qps"] + f * (b["qps"] - a["qps"])
    first = rows[0]
    return first["qps"] if first["recall"] >= target else None


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "minilm-20k")
    base, queries, gt = fvecs(f"{data}/base.fvecs"), fvecs(f"{data}/query.fvecs"), ivecs(f"{data}/groundtruth.ivecs")
    n, dim, nq = len(base), base.shape[1], len(queries)
    out = {"vectors": n, "dimension": dim, "queries": nq}

    # Veles from Python.
    tmp = tempfile.mkdtemp(prefix="veles-py-")
    db = veles.open(os.path.join(tmp, "db"))
    c = db.create_collection("c", dim, metric="cosine")
    t = time.perf_counter()
    for i in range(0, n, 1000):
        c.upsert(np.arange(i, min(n, i + 1000)), base[i : i + 1000])
        c.flush()
    out["veles_ingest_per_s"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    c.optimize()
    out["veles_index_s"] = time.perf_counter() - t
    rows = []
    for ef in EFS:
        secs, hits = best_of(3, lambda: c.search_batch(queries, k=K, ef=ef))
        rows.append({"ef": ef, "recall": recall(hits.ids, gt), "qps": nq / secs})
    out["veles_python_batch"] = rows
    single = []
    for ef in (32, 64):
        secs, _ = best_of(3, lambda: [c.search(q, k=K, ef=ef, with_payload=False) for q in queries])
        single.append({"ef": ef, "us_per_query": secs / nq * 1e6})
    out["veles_python_single"] = single

    # Two threads against one (each thread searches the whole batch, one query per call).
    def searches(count):
        for q in queries[:count]:
            c.search(q, k=K, ef=64, with_payload=False)

    one, _ = best_of(3, lambda: searches(nq))
    def two_threads():
        ts = [threading.Thread(target=searches, args=(nq,)) for _ in range(2)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
    two, _ = best_of(3, two_threads)
    out["two_threads_speedup"] = (2 * nq / two) / (nq / one)

    # Searches during compact() and optimize() on another thread.
    during = {}
    for name, work in [("optimize", lambda: (c.upsert(np.arange(n, n + 2000), base[:2000]), c.optimize())),
                       ("compact", lambda: (c.delete(list(range(0, n, 4))), c.compact()))]:
        done, count = [], [0]
        def searcher():
            while not done:
                c.search(queries[count[0] % nq], k=K, ef=32, with_payload=False)
                count[0] += 1
        th = threading.Thread(target=searcher)
        th.start()
        t = time.perf_counter()
        work()
        elapsed = time.perf_counter() - t
        done.append(True)
        th.join()
        during[name] = {"seconds": elapsed, "searches_meanwhile": count[0]}
    out["searches_during"] = during

    # Veles from Rust: the same searches through `veles --native bench`, one thread.
    binary = os.path.join(ROOT, "target", "release", "veles")
    rust = subprocess.run(
        [binary, "--native", "--json", "bench", os.path.join(tmp, "rust"), "--base", f"{data}/base.fvecs",
         "--queries", f"{data}/query.fvecs", "--gt", f"{data}/groundtruth.ivecs", "--ef", ",".join(map(str, EFS))],
        capture_output=True, text=True, env=dict(os.environ, VELES_THREADS="1"), check=True)
    r = json.loads(rust.stdout)["runs"][0]["search"]
    out["veles_rust"] = [{"ef": x["ef"], "recall": x["recall"], "qps": x["qps"], "batch_qps": x["batch_qps"]} for x in r]
    out["python_over_rust_batch"] = {x["ef"]: p["qps"] / x["batch_qps"] for x, p in zip(r, rows)}
    out["python_single_adds_us"] = {s["ef"]: s["us_per_query"] - 1e6 / next(x["qps"] for x in r if x["ef"] == s["ef"]) for s in single}

    # qdrant-edge-py, its batch call.
    import qdrant_edge as q
    qtmp = tempfile.mkdtemp(prefix="qdrant-edge-")
    config = q.EdgeConfig(
        vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine),
        hnsw_config=q.HnswIndexConfig(m=16, ef_construct=200, full_scan_threshold=10, max_indexing_threads=1),
        quantization_config=q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True),
        max_search_threads=1,
    )
    shard = q.EdgeShard.create(qtmp, config)
    t = time.perf_counter()
    for i in range(0, n, 1000):
        shard.update(q.UpdateOperation.upsert_points([q.Point(int(j), base[j].tolist()) for j in range(i, min(n, i + 1000))]))
        shard.flush()
    out["qdrant_ingest_per_s"] = n / (time.perf_counter() - t)
    shard.optimize()
    qlist = [v.tolist() for v in queries]
    qrows = []
    for ef in EFS:
        quant = q.QuantizationSearchParams(rescore=True, oversampling=2.0)
        reqs = [q.QueryRequest(limit=K, query=q.Query.Nearest(v), params=q.SearchParams(hnsw_ef=ef, quantization=quant)) for v in qlist]
        secs, res = best_of(3, lambda: shard.query_batch(q.QueryBatchRequest(reqs)))
        qrows.append({"ef": ef, "recall": recall([[int(p.id) for p in r] for r in res], gt), "qps": nq / secs})
    out["qdrant_batch"] = qrows
    v95, q95 = at_target(rows), at_target(qrows)
    out["at_0.95"] = {"veles": v95, "qdrant": q95, "ratio": v95["qps"] / q95["qps"] if v95 and q95 else None}
    vc, qc = crossing(rows), crossing(qrows)
    out["crossing_0.95"] = {"veles": vc, "qdrant": qc, "ratio": vc / qc if vc and qc else None}
    out["ingest_ratio"] = out["veles_ingest_per_s"] / out["qdrant_ingest_per_s"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
