#!/usr/bin/env python3
"""Builds host/demo/minilm-demo.bin from ../shared/data/minilm-20k (standard library only).

Base: the true top-10 neighbours of every query, topped up with the first sentences to N_BASE,
in ascending id order. Vectors are int8 with one f32 scale each (cosine changes by < 1e-3).

Format (little-endian):
  magic "VELESDM1" | n_base u32 | n_query u32 | dim u32
  n_base  x (scale f32, dim x i8, text_len u16, text utf-8)
  n_query x (scale f32, dim x i8, text_len u16, text utf-8)
"""
import struct, sys, os

SRC = sys.argv[1] if len(sys.argv) > 1 else "../../../shared/data/minilm-20k"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "minilm-demo.bin")
N_BASE = 5000

def fvecs(path):
    data = open(path, "rb").read()
    out, at = [], 0
    while at < len(data):
        (d,) = struct.unpack_from("<i", data, at)
        out.append(struct.unpack_from("<%df" % d, data, at + 4))
        at += 4 + 4 * d
    return out

def ivecs(path):
    data = open(path, "rb").read()
    out, at = [], 0
    while at < len(data):
        (d,) = struct.unpack_from("<i", data, at)
        out.append(struct.unpack_from("<%di" % d, data, at + 4))
        at += 4 + 4 * d
    return out

base = fvecs(os.path.join(SRC, "base.fvecs"))
queries = fvecs(os.path.join(SRC, "query.fvecs"))
gt = ivecs(os.path.join(SRC, "groundtruth.ivecs"))
btext = open(os.path.join(SRC, "base.txt"), encoding="utf-8").read().split("\n")
qtext = open(os.path.join(SRC, "query.txt"), encoding="utf-8").read().split("\n")

chosen = set()
for row in gt:
    chosen.update(row[:10])
i = 0
while len(chosen) < N_BASE:
    chosen.add(i)
    i += 1
chosen = sorted(chosen)[:N_BASE]

def record(vec, text):
    m = max(abs(x) for x in vec) or 1.0
    scale = m / 127.0
    q = [max(-127, min(127, round(x / scale))) for x in vec]
    t = text.encode("utf-8")[:65535]
    return struct.pack("<f", scale) + struct.pack("<%db" % len(q), *q) + struct.pack("<H", len(t)) + t

dim = len(base[0])
with open(OUT, "wb") as f:
    f.write(b"VELESDM1" + struct.pack("<III", len(chosen), len(queries), dim))
    for i in chosen:
        f.write(record(base[i], btext[i]))
    for i, q in enumerate(queries):
        f.write(record(q, qtext[i]))
print(OUT, os.path.getsize(OUT), "bytes,", len(chosen), "base,", len(queries), "queries")
