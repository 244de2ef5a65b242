#!/usr/bin/env python3
"""Veles vs hnswlib, side by side in one run, on an fvecs data set with ground truth.

    python3 bench/compare_hnswlib.py [DATA_DIR] [--ef 16,32,64,128,256] [--skip-component]

DATA_DIR holds base.fvecs, query.fvecs, groundtruth.ivecs (default ../shared/data/minilm-20k).
Installs numpy and hnswlib (PyPI) into target/bench-venv on first use, builds the veles CLI
(release), and runs: hnswlib single-threaded (build with 1 and 2 threads; queries batched
with num_threads=1, so no per-call Python overhead counts against it), `veles --native
bench`, and `veles bench` (the component). Same M, ef_construction, k and ef values.
Prints QPS at each ef and the ratios; the figures are throughput, not absolute claims.
"""
import json, os, subprocess, sys, time, venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")


def in_venv():
    py = os.path.join(VENV, "bin", "python")
    if sys.executable == py:
        return
    if not os.path.exists(py):
        venv.create(VENV, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "numpy", "hnswlib"])
    os.execv(py, [py] + sys.argv)


def main():
    in_venv()
    import numpy as np
    import hnswlib

    args = [a for a in sys.argv[1:]]
    efs = [16, 32, 64, 128, 256]
    skip_component = "--skip-component" in args
    if "--ef" in args:
        efs = [int(x) for x in args[args.index("--ef") + 1].split(",")]
    data = next((a for a in args if not a.startswith("--") and os.path.isdir(a)),
                os.path.join(ROOT, "..", "shared", "data", "minilm-20k"))
    m, efc, k = 16, 200, 10

    def fvecs(p):
        raw = np.fromfile(p, dtype=np.int32)
        d = raw[0]
        return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)

    def ivecs(p):
        raw = np.fromfile(p, dtype=np.int32)
        return raw.reshape(-1, raw[0] + 1)[:, 1:]

    base, queries = fvecs(f"{data}/base.fvecs"), fvecs(f"{data}/query.fvecs")
    gt = ivecs(f"{data}/groundtruth.ivecs")[:, :k]
    n, dim = base.shape

    builds = {}
    for threads in (1, 2):
        idx = hnswlib.Index(space="cosine", dim=dim)
        idx.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
        t = time.perf_counter()
        idx.add_items(base, np.arange(n), num_threads=threads)
        builds[threads] = time.perf_counter() - t
    hnsw = {}
    for ef in efs:
        idx.set_ef(ef)
        idx.knn_query(queries[:20], k=k, num_threads=1)
        t = time.perf_counter()
        labels, _ = idx.knn_query(queries, k=k, num_threads=1)
        dt = time.perf_counter() - t
        recall = np.mean([len(set(l) & set(g)) / k for l, g in zip(labels, gt)])
        hnsw[ef] = (recall, len(queries) / dt)

    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "veles-host"], cwd=ROOT)
    exe = os.path.join(ROOT, "target", "release", "veles")
    ef_arg = ",".join(map(str, efs))

    def veles(native, threads=None):
        env = dict(os.environ)
        if threads:
            env["VELES_THREADS"] = str(threads)
        cmd = [exe] + (["--native"] if native else []) + [
            "--json", "bench", os.path.join(ROOT, "target", "bench-db-" + ("native" if native else "component")),
            "--base", f"{data}/base.fvecs", "--queries", f"{data}/query.fvecs", "--gt", f"{data}/groundtruth.ivecs",
            "-k", str(k), "--ef", ef_arg, "--m", str(m), "--ef-construction", str(efc)]
        return json.loads(subprocess.check_output(cmd, env=env))

    nat1 = veles(True, threads=1)
    nat = veles(True)
    comp = None if skip_component else veles(False)
    by_ef = lambda r: {row["ef"]: row for row in r["search"]}
    nat_s = by_ef(nat)
    comp_s = by_ef(comp) if comp else {}

    print(f"{n} x {dim}-d, M {m}, ef_construction {efc}, k {k}, {len(queries)} queries, single thread")
    print(f"build: hnswlib 1 thread {builds[1]:.2f} s, 2 threads {builds[2]:.2f} s; "
          f"veles native 1 thread {nat1['build_seconds']:.2f} s ({builds[1] / nat1['build_seconds']:.2f}x "
          f"hnswlib's 1-thread throughput), {os.cpu_count()} threads {nat['build_seconds']:.2f} s "
          f"({builds[2] / nat['build_seconds']:.2f}x hnswlib's 2-thread throughput)"
          + (f"; component {comp['build_seconds']:.2f} s" if comp else ""))
    print(f"{'ef':>5} {'hnswlib recall':>14} {'QPS':>8} | {'veles recall':>12} {'QPS':>8} {'vs hnswlib':>10}"
          + (f" | {'component QPS':>13} {'vs native':>9}" if comp else ""))
    for ef in efs:
        hr, hq = hnsw[ef]
        v = nat_s[ef]
        line = f"{ef:>5} {hr:>14.4f} {hq:>8.0f} | {v['recall']:>12.4f} {v['qps']:>8.0f} {v['qps'] / hq:>9.2f}x"
        if comp:
            c = comp_s[ef]
            line += f" | {c['qps']:>13.0f} {c['qps'] / v['qps']:>8.2f}x"
        print(line)


if __name__ == "__main__":
    main()
