#!/usr/bin/env python3
"""Filtered search: Veles vs Qdrant Edge, side by side in one run.

    python3 bench/filtered_vs_qdrant.py [DATA_DIR] [--ef 16,32,64,128,256] [--buckets 1000] [--int8]

DATA_DIR holds base.fvecs and query.fvecs (default ../shared/data/minilm-20k). Point i gets
the payload {"bucket": i % BUCKETS} and both engines an integer index on it. Filters
`bucket == 7` and `bucket < n` give selectivities 0.1 %, 1 %, 5 %, 20 % and 50 % (with 1000
buckets). Installs numpy and qdrant-edge-py (PyPI) into target/bench-venv on first use and
builds the veles CLI (release). Qdrant Edge runs on one search thread with the whole query
batch in one call (`query_batch`), so Python's per-call cost does not count against it; Veles
runs in-process natively (`veles --native bench`, one query per call). Both return payloads.
Recall is against the exact filtered top-k (numpy for Qdrant; Veles' exact scan for Veles,
the same cosine ranking). Prints QPS per ef, recall, the ratio Veles / Qdrant at equal ef,
and the best QPS each reaches at recall >= 0.95 and >= 0.99 over the measured ef values.
"""
import json, os, subprocess, sys, tempfile, time, venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")


def in_venv():
    py = os.path.join(VENV, "bin", "python")
    if sys.executable != py:
        if not os.path.exists(py):
            venv.create(VENV, with_pip=True)
        os.execv(py, [py] + sys.argv)
    try:
        import numpy, qdrant_edge  # noqa: F401
    except ImportError:
        subprocess.check_call([py, "-m", "pip", "install", "-q", "numpy", "qdrant-edge-py"])


def fvecs(np, p):
    raw = np.fromfile(p, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)


def main():
    in_venv()
    import numpy as np
    import qdrant_edge as q

    args = sys.argv[1:]
    opt = lambda name, default: args[args.index(name) + 1] if name in args else default
    efs = [int(x) for x in opt("--ef", "16,32,64,128,256").split(",")]
    buckets = int(opt("--buckets", "1000"))
    int8 = "--int8" in args
    data = next((a for a in args if not a.startswith("--") and os.path.isdir(a)),
                os.path.join(ROOT, "..", "shared", "data", "minilm-20k"))
    k = 10
    base, queries = fvecs(np, f"{data}/base.fvecs"), fvecs(np, f"{data}/query.fvecs")
    n, dim = base.shape
    bucket = np.arange(n) % buckets
    # (label, veles filter, qdrant condition, numpy mask)
    cuts = [("bucket == 7", {"key": "bucket", "eq": 7},
             q.FieldCondition(key="bucket", match=q.MatchValue(7)), bucket == 7)]
    for frac in (0.01, 0.05, 0.2, 0.5):
        lt = int(buckets * frac)
        cuts.append((f"bucket < {lt}", {"key": "bucket", "lt": lt},
                     q.FieldCondition(key="bucket", range=q.RangeFloat(lt=lt)), bucket < lt))

    # Exact filtered ground truth (cosine = inner product of unit vectors).
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    qs = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = qs @ unit.T
    truth = {}
    for label, _, _, mask in cuts:
        s = np.where(mask[None, :], scores, -np.inf)
        truth[label] = [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in s]

    # Qdrant Edge.
    tmp = tempfile.mkdtemp(prefix="qdrant-edge-")
    quant = q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True) if int8 else None
    config = q.EdgeConfig(
        vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine),
        hnsw_config=q.HnswIndexConfig(m=16, ef_construct=200, full_scan_threshold=10000),
        quantization_config=quant,
        max_search_threads=1,
    )
    shard = q.EdgeShard.create(tmp, config)
    t = time.perf_counter()
    for i in range(0, n, 1000):
        pts = [q.Point(int(j), base[j].tolist(), {"bucket": int(bucket[j])})
               for j in range(i, min(n, i + 1000))]
        shard.update(q.UpdateOperation.upsert_points(pts))
    shard.update(q.UpdateOperation.create_field_index("bucket", q.PayloadSchemaType.Integer))
    shard.flush()
    shard.optimize()
    qbuild = time.perf_counter() - t
    qlist = [v.tolist() for v in queries]
    qdrant = {}
    for label, _, cond, _ in cuts:
        for ef in efs:
            reqs = [q.QueryRequest(limit=k, query=q.Query.Nearest(v), filter=q.Filter(must=[cond]),
                                   params=q.SearchParams(hnsw_ef=ef), with_payload=True)
                    for v in qlist]
            batch = q.QueryBatchRequest(reqs)
            shard.query_batch(batch)  # warm
            t = time.perf_counter()
            res = shard.query_batch(batch)
            secs = time.perf_counter() - t
            hit = sum(len({int(p.id) for p in r} & tr) for r, tr in zip(res, truth[label]))
            qdrant[(label, ef)] = (hit / (k * len(qlist)), len(qlist) / secs)
    shard.close()

    # Veles, natively, in-process.
    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "veles-host"], cwd=ROOT)
    vdir = tempfile.mkdtemp(prefix="veles-bench-")
    cmd = [os.path.join(ROOT, "target", "release", "veles"), "--native", "--json", "bench", vdir,
           "--base", f"{data}/base.fvecs", "--queries", f"{data}/query.fvecs",
           "--buckets", str(buckets), "--ef", ",".join(map(str, efs))]
    for _, f, _, _ in cuts:
        cmd += ["--filter", json.dumps(f)]
    out = json.loads(subprocess.check_output(cmd))
    veles = {}
    for run in out["runs"]:
        if run["filter"] is None:
            continue
        label = next(l for l, f, _, _ in cuts if f == run["filter"] or
                     json.dumps(f, sort_keys=True) == json.dumps(run["filter"], sort_keys=True))
        for row in run["search"]:
            veles[(label, row["ef"])] = (row["recall"], row["qps"], row["plan"]["kind"])

    print(f"filtered search, {n} x {dim}-d cosine, k {k}, {len(qlist)} queries, one thread; "
          f"Qdrant Edge {'int8' if int8 else 'f32'} (build+optimize {qbuild:.1f} s), "
          f"Veles native (build {out['build_seconds']:.1f} s)")
    print(f"{'filter':<14} {'ef':>4}  {'qdrant recall':>13} {'qdrant QPS':>10}  "
          f"{'veles recall':>12} {'veles QPS':>10} {'plan':>13}  {'veles/qdrant':>12}")
    for label, _, _, mask in cuts:
        for ef in efs:
            qr, qq = qdrant[(label, ef)]
            vr, vq, plan = veles[(label, ef)]
            print(f"{label:<14} {ef:>4}  {qr:>13.4f} {qq:>10.0f}  {vr:>12.4f} {vq:>10.0f} "
                  f"{plan:>13}  {vq / qq:>11.2f}x")
    print("at equal recall (best QPS over the ef values reaching it):")
    for label, _, _, _ in cuts:
        for target in (0.95, 0.99):
            best = lambda d: max((v[1] for (l, _), v in d.items() if l == label and v[0] >= target),
                                 default=None)
            qb, vb = best(qdrant), best(veles)
            ratio = f"{vb / qb:.2f}x" if qb and vb else "n/a"
            show = lambda x: f"{x:.0f}" if x else "not reached"
            print(f"  {label:<14} recall >= {target}: qdrant {show(qb):>11} QPS, "
                  f"veles {show(vb):>11} QPS, veles/qdrant {ratio}")


if __name__ == "__main__":
    main()
