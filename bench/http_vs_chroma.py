#!/usr/bin/env python3
"""Over HTTP on loopback, side by side: `veles serve` (Qdrant's REST API) and a Chroma server
(`chroma run`, PyPI chromadb) on minilm-20k (20,000 x 384-d, cosine).

Usage: bench/http_vs_chroma.py VELES_BIN CHROMA_BIN [SHARED_DATA_DIR]
  VELES_BIN: target/release/veles; CHROMA_BIN: the `chroma` script of a venv with chromadb.

Both servers get the same requests from the same plain HTTP client (http.client, one
keep-alive connection per client thread; no vendor client's own cost is measured):
- ingest: the 20,000 points in batches of 500 (the JSON bodies encoded before the clock
  starts: Python's encoding would otherwise be most of the time, and the same for both),
  each acknowledged durably where the server offers it (Veles `wait=true`; Chroma
  acknowledges after its write-ahead log);
- search: the 200 queries, k 10, by 2 concurrent clients, three rounds, the best round's QPS
  and its p50/p99 latency; recall@10 against the ground truth. Veles searches at ef 64
  (its default); Chroma with its defaults (HNSW M 16, ef_search 100 for cosine space).
Prints one table with the ratios Veles / Chroma.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS = 2
BATCH = 500
K = 10


def fvecs(path):
    import numpy as np

    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)


def ivecs(path):
    import numpy as np

    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    """One keep-alive connection; `call` returns the parsed JSON body."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None):
        data = body if body is None or isinstance(body, str) else json.dumps(body)
        self.c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        text = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {text[:300]!r}")
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text.decode()


def concurrently(client, queries, clients):
    """Runs `client(part)` on `clients` threads, each a share of the queries; returns QPS."""
    threads = [threading.Thread(target=client, args=(queries[j::clients],)) for j in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(queries) / (time.perf_counter() - t0)


def wait_up(port, path):
    for _ in range(600):
        try:
            Conn(port).call("GET", path)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


class Veles:
    name = "veles serve"

    def __init__(self, binary, port, tmp):
        self.port = port
        self.proc = subprocess.Popen(
            [binary, "serve", os.path.join(tmp, "veles"), "--addr", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(port, "/healthz")
        Conn(port).call("PUT", "/collections/bench",
                        {"vectors": {"size": 384, "distance": "Cosine"}})

    def upsert_request(self, ids, vecs):
        points = [{"id": int(i), "vector": v.tolist()} for i, v in zip(ids, vecs)]
        return "PUT", "/collections/bench/points?wait=true", json.dumps({"points": points})

    def settle(self, conn):
        # Linked and saved as a user's clean restart would leave it: the graph in place.
        while conn.call("GET", "/collections/bench")["result"]["status"] != "green":
            time.sleep(0.2)

    def search(self, conn, q):
        r = conn.call("POST", "/collections/bench/points/query",
                      {"query": q.tolist(), "limit": K})
        return [p["id"] for p in r["result"]["points"]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Chroma:
    name = "chroma run"
    BASE = "/api/v2/tenants/default_tenant/databases/default_database"

    def __init__(self, binary, port, tmp):
        self.port = port
        self.proc = subprocess.Popen(
            [binary, "run", "--path", os.path.join(tmp, "chroma"), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(port, "/api/v2/heartbeat")
        r = Conn(port).call("POST", f"{self.BASE}/collections",
                            {"name": "bench", "configuration": {"hnsw": {"space": "cosine"}}})
        self.id = r["id"]

    def upsert_request(self, ids, vecs):
        body = {"ids": [str(int(i)) for i in ids], "embeddings": [v.tolist() for v in vecs]}
        return "POST", f"{self.BASE}/collections/{self.id}/upsert", json.dumps(body)

    def settle(self, conn):
        pass

    def search(self, conn, q):
        r = conn.call("POST", f"{self.BASE}/collections/{self.id}/query",
                      {"query_embeddings": [q.tolist()], "n_results": K, "include": ["distances"]})
        return [int(x) for x in r["ids"][0]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run(server, base, queries, gt):
    conn = Conn(server.port)
    # Bodies encoded before the clock starts: Python's JSON encoding (most of the time
    # otherwise, and the same for both) is not the server's.
    requests = [server.upsert_request(range(i, min(len(base), i + BATCH)), base[i:i + BATCH])
                for i in range(0, len(base), BATCH)]
    start = time.perf_counter()
    for method, path, body in requests:
        conn.call(method, path, body)
    ingest = len(base) / (time.perf_counter() - start)
    server.settle(conn)
    recall = sum(len(set(server.search(conn, q)) & set(gt[i][:K].tolist()))
                 for i, q in enumerate(queries)) / (K * len(queries))
    best = None
    for _ in range(3):
        lat = []
        lock = threading.Lock()

        def client(part):
            c = Conn(server.port)
            mine = []
            for q in part:
                t = time.perf_counter()
                server.search(c, q)
                mine.append(time.perf_counter() - t)
            with lock:
                lat.extend(mine)

        qps = concurrently(client, queries, CLIENTS)
        lat.sort()
        row = (qps, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3)
        if best is None or row[0] > best[0]:
            best = row
    return {"ingest": ingest, "recall": recall, "qps": best[0], "p50": best[1], "p99": best[2]}


def main():
    veles_bin, chroma_bin = sys.argv[1], sys.argv[2]
    data = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "..", "shared", "data")
    base = fvecs(f"{data}/minilm-20k/base.fvecs")
    queries = fvecs(f"{data}/minilm-20k/query.fvecs")
    gt = ivecs(f"{data}/minilm-20k/groundtruth.ivecs")
    tmp = tempfile.mkdtemp(prefix="http-bench-")
    results = {}
    try:
        for cls, binary in ((Veles, veles_bin), (Chroma, chroma_bin)):
            server = cls(binary, free_port(), tmp)
            try:
                results[cls.name] = run(server, base, queries, gt)
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"minilm-20k over HTTP on loopback, {CLIENTS} clients, k {K}, batches of {BATCH}")
    print(f"{'server':<12} {'ingest pts/s':>12} {'recall@10':>10} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        print(f"{name:<12} {r['ingest']:>12.0f} {r['recall']:>10.4f} {r['qps']:>8.0f} "
              f"{r['p50']:>8.2f} {r['p99']:>8.2f}")
    v, c = results["veles serve"], results["chroma run"]
    print(f"ratios veles/chroma: ingest {v['ingest'] / c['ingest']:.2f}x, QPS {v['qps'] / c['qps']:.2f}x")


if __name__ == "__main__":
    main()
