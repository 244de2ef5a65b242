#!/usr/bin/env python3
"""Hybrid retrieval side by side: Qdrant Edge (qdrant-edge-py) and Veles on hybrid-20k.

Usage: bench/hybrid_vs_qdrant.py [SHARED_DATA_DIR]   (default ../shared/data)

Needs numpy and qdrant-edge-py in the running Python (pip install qdrant-edge-py numpy).
Qdrant Edge: a dense field (cosine, HNSW m 16, ef_construct 200, ef 64) and a sparse field
with the IDF modifier filled by its Bm25 embedder (defaults: English stop words, Snowball
stemmer, avg_len 256); prefetch [dense 50, sparse 50] fused with RRF (k 2) and DBSF, final
10; one search thread; every query set as one query_batch call. Its query embedding is timed
with the queries (Veles tokenizes inside its query). Ingest: embedding, upsert in batches of
1,000 and a flush after each. Then runs `cargo bench --bench hybrid` for Veles in the same
run and prints both tables (MRR@10 and recall@10 of the known item, all / known / para).
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fvecs(np, path):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)


def main():
    import numpy as np
    import qdrant_edge as q

    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    texts = open(f"{data}/minilm-20k/base.txt").read().splitlines()
    base = fvecs(np, f"{data}/minilm-20k/base.fvecs")
    queries = open(f"{data}/hybrid-20k/queries.txt").read().splitlines()
    qvecs = fvecs(np, f"{data}/hybrid-20k/query.fvecs")
    targets = [int(line.split("\t")[1]) for line in open(f"{data}/hybrid-20k/qrels.tsv")]
    meta = open(f"{data}/hybrid-20k/query_meta.tsv").read().splitlines()[1:]
    para = [line.split("\t")[1] == "paraphrase" for line in meta]

    bm25 = q.Bm25(q.Bm25Config())
    tmp = tempfile.mkdtemp(prefix="qdrant-edge-hybrid-")
    config = q.EdgeConfig(
        vectors={"dense": q.EdgeVectorParams(size=384, distance=q.Distance.Cosine)},
        sparse_vectors={"bm25": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        hnsw_config=q.HnswIndexConfig(m=16, ef_construct=200, full_scan_threshold=10,
                                      max_indexing_threads=1),
        max_search_threads=1,
    )
    shard = q.EdgeShard.create(tmp, config)
    start = time.perf_counter()
    for i in range(0, len(texts), 1000):
        points = [
            q.Point(j, {"dense": base[j].tolist(), "bm25": bm25.embed_document(texts[j])},
                    {"text": texts[j]})
            for j in range(i, min(len(texts), i + 1000))
        ]
        shard.update(q.UpdateOperation.upsert_points(points))
        shard.flush()
    ingest = len(texts) / (time.perf_counter() - start)
    shard.optimize()
    print(f"Qdrant Edge ingest, durable (embedding + upsert of 1,000 + flush): {ingest:.0f} documents/s")

    dense_params = q.SearchParams(hnsw_ef=64)

    def dense(i):
        return q.Query.Nearest(qvecs[i].tolist(), using="dense")

    def sparse(i):
        return q.Query.Nearest(bm25.embed_query(queries[i]), using="bm25")

    def fused(fusion):
        def make(i):
            return q.QueryRequest(
                limit=10,
                prefetches=[q.Prefetch(50, query=dense(i), params=dense_params),
                            q.Prefetch(50, query=sparse(i))],
                query=fusion,
            )
        return make

    methods = [
        ("dense (HNSW, ef 64)", lambda i: q.QueryRequest(limit=10, query=dense(i), params=dense_params)),
        ("BM25 (Bm25 embedder, IDF modifier)", lambda i: q.QueryRequest(limit=10, query=sparse(i))),
        ("RRF k=2, dense 50 + BM25 50", fused(q.Fusion.Rrf(k=2))),
        ("DBSF, dense 50 + BM25 50", fused(q.Fusion.Dbsf())),
    ]
    print("| method | MRR@10 all | R@10 all | MRR@10 known | R@10 known | MRR@10 para | R@10 para | QPS |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in methods:
        best, results = float("inf"), None
        for _ in range(3):
            t = time.perf_counter()
            reqs = [make(i) for i in range(len(queries))]
            out = shard.query_batch(q.QueryBatchRequest(reqs))
            best = min(best, time.perf_counter() - t)
            results = [[int(p.id) for p in r] for r in out]

        def quality(which):
            rr = found = n = 0
            for i, ids in enumerate(results):
                if not which(i):
                    continue
                n += 1
                if targets[i] in ids[:10]:
                    rr += 1 / (ids[:10].index(targets[i]) + 1)
                    found += 1
            return rr / n, found / n

        a, k, p = quality(lambda i: True), quality(lambda i: not para[i]), quality(lambda i: para[i])
        print(f"| {name} | {a[0]:.3f} | {a[1]:.3f} | {k[0]:.3f} | {k[1]:.3f} | {p[0]:.3f} | {p[1]:.3f} | {len(queries) / best:.0f} |")

    print("\nVeles (cargo bench --bench hybrid), same run:")
    sys.stdout.flush()
    subprocess.check_call(["cargo", "bench", "-q", "--bench", "hybrid"], cwd=ROOT)


if __name__ == "__main__":
    main()
