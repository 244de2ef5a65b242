"""The Python package against its API: numpy in and out, typed errors, threads, and files that
the CLI (natively and through the component) reads and writes too.

`VELES_BIN` names the `veles` binary for the cross-format tests (host/tests/python.rs sets
it); without it they skip, and fail when `CI` is set.
"""

import json
import os
import subprocess
import threading

import numpy as np
import pytest

import veles


def rng_vectors(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture
def coll(tmp_path):
    db = veles.open(tmp_path / "db")
    c = db.create_collection("docs", 8, metric="euclidean")
    vs = rng_vectors(300, 8)
    c.upsert(np.arange(300), vs, [{"i": i, "even": i % 2 == 0} for i in range(300)])
    return db, c, vs


def test_upsert_get_search_and_the_points_api(coll):
    db, c, vs = coll
    assert len(c) == 300 and c.name == "docs" and db.list() == ["docs"]
    got = c.get([5, 999])
    assert got[1] is None
    assert got[0]["id"] == 5 and got[0]["payload"] == {"i": 5, "even": False}
    assert got[0]["vector"].dtype == np.float32
    np.testing.assert_array_equal(got[0]["vector"], vs[5])
    hits = c.search(vs[7], k=3, exact=True)
    assert hits[0]["id"] == 7 and hits[0]["score"] == 0.0 and hits[0]["payload"]["i"] == 7
    evens = c.search(vs[7], k=5, filter={"key": "even", "eq": True}, with_payload=False)
    assert all(h["id"] % 2 == 0 and h["payload"] is None for h in evens)
    batch = c.search_batch(vs[:20], k=4, ef=64)
    assert batch.ids.shape == (20, 4) and batch.ids.dtype == np.uint64
    assert batch.scores.shape == (20, 4) and batch.scores.dtype == np.float32
    assert (batch.ids[:, 0] == np.arange(20)).all() and batch.payloads is None
    with_p = c.search_batch(vs[:2], k=2, with_payload=True)
    assert with_p.payloads[0][0] == {"i": 0, "even": True}
    # Fewer matches than k: padded with 2**64 - 1 and NaN.
    one = c.search_batch(vs[:1], k=3, filter={"key": "i", "eq": 3})
    assert one.ids[0, 0] == 3 and one.ids[0, 1] == 2**64 - 1 and np.isnan(one.scores[0, 1])
    assert c.count() == 300 and c.count({"key": "i", "lt": 10}) == 10
    page, nxt = c.scroll(start=0, limit=10)
    assert [p["id"] for p in page] == list(range(10)) and nxt == 10
    assert c.set_payload([1, 2], {"tag": "x"}) == 2
    assert c.get([1])[0]["payload"] == {"i": 1, "even": False, "tag": "x"}
    assert c.create_index("i", "integer") is True
    assert c.count({"key": "i", "gte": 290}) == 10
    assert c.delete([0, 1, 12345]) == 2
    assert c.delete(filter={"key": "i", "gte": 290}) == 10
    assert len(c) == 288
    c.flush()
    c.checkpoint()
    assert c.optimize() == 0
    assert c.compact()["slots_after"] == 288
    assert c.check()["problems"] == [] and c.stats()["len"] == 288
    assert all(r["problems"] == [] for r in db.check())


def test_text_indexes_sparse_fields_and_fused_queries(tmp_path):
    db = veles.open(tmp_path / "db")
    c = db.create_collection("h", 4, sparse={"terms": {"idf": True}, "raw": {}})
    words = ["red running shoes", "blue shoes", "red hat", "東京タワー"]
    vs = rng_vectors(40, 4, seed=3)
    sparse = [{"terms": {"indices": [i % 5, 10 + i % 3], "values": [1.0, 0.5]}} if i % 2 else None
              for i in range(40)]
    c.upsert(np.arange(40), vs, [{"body": words[i % 4]} for i in range(40)], sparse)
    assert c.create_index("body", "text", {"tokenizer": "cjk"})
    hits = c.query({"legs": [{"text": "shoe", "key": "body"}], "limit": 5})
    assert [h["payload"]["body"] for h in hits] == ["blue shoes"] * 5
    assert c.query({"legs": [{"text": "東京", "key": "body"}], "limit": 1})[0]["payload"]["body"] == "東京タワー"
    fused = {"legs": [{"sparse": {"indices": [3], "values": [1.0]}, "field": "terms"},
                      {"dense": vs[0].tolist(), "limit": 20}],
             "fusion": "dbsf", "limit": 5}
    first = c.query_batch([fused, fused])
    assert first[0] == first[1] and len(first[0]) == 5
    assert c.get([1])[0]["sparse"]["terms"] == {"indices": [1, 11], "values": [1.0, 0.5]}
    assert c.count({"key": "body", "match": {"text": "red shoes", "mode": "phrase"}}) == 0
    assert c.count({"key": "body", "match": "red"}) == 20
    with pytest.raises(veles.InvalidArgument, match="strictly ascending"):
        c.upsert([99], vs[:1], sparse=[{"terms": {"indices": [2, 1], "values": [1, 1]}}])
    with pytest.raises(veles.InvalidArgument, match="no text index"):
        c.query({"legs": [{"text": "x", "key": "nope"}]})
    with pytest.raises(veles.InvalidConfig):
        c.create_index("other", "text", {"tokenizer": "words"})
    assert len(c) == 40
    # BM25 as sparse vectors, as a sparse field with idf takes them.
    bm25 = veles.Bm25()
    c.upsert([50, 51], rng_vectors(2, 4, seed=9), None,
             [{"terms": bm25.embed_document("red red shoes")}, {"terms": bm25.embed_document("red hat")}])
    top = c.query({"legs": [{"sparse": bm25.embed_query("shoes"), "field": "terms"}], "limit": 1})
    assert top[0]["id"] == 50


def test_dtypes_and_shapes_convert_or_raise_clear_errors(coll):
    _, c, vs = coll
    # Other dtypes and plain lists are converted; a non-contiguous view too.
    c.upsert([1000], vs[:1].astype(np.float64))
    c.upsert(np.array([1001], dtype=np.int32), [[0.5] * 8])
    c.upsert([1002], np.asfortranarray(rng_vectors(1, 8, 3)))
    assert len(c) == 303
    with pytest.raises(ValueError, match="2-d"):
        c.upsert([1], np.zeros(8))
    with pytest.raises(ValueError, match="ids for"):
        c.upsert([1, 2], np.zeros((1, 8)))
    with pytest.raises(TypeError, match="numbers"):
        c.upsert([1], [["a"] * 8])
    with pytest.raises(ValueError, match="negative"):
        c.upsert(np.array([-1]), np.zeros((1, 8)))
    with pytest.raises(TypeError):
        c.upsert([-1], np.zeros((1, 8)))
    with pytest.raises(TypeError, match="integers"):
        c.get(np.array([1.5]))
    with pytest.raises(ValueError, match="1-d"):
        c.search(np.zeros((2, 8)))
    with pytest.raises(ValueError, match="payloads for"):
        c.upsert([1], np.zeros((1, 8)), [{}, {}])
    with pytest.raises(TypeError, match="JSON"):
        c.upsert([1], np.zeros((1, 8)), [{"x": object()}])
    assert len(c) == 303, "refused calls change nothing"


def test_engine_errors_are_one_hierarchy_with_the_engines_text(tmp_path, coll):
    db, c, _ = coll
    with pytest.raises(veles.DimensionMismatch) as e:
        c.upsert([5], np.zeros((1, 3)))
    assert str(e.value) == "dimension mismatch: expected 8, got 3 (point 5)"
    assert isinstance(e.value, veles.VelesError)
    with pytest.raises(veles.InvalidVector):
        c.upsert([5], np.full((1, 8), np.nan))
    with pytest.raises(veles.InvalidFilter):
        c.count({"key": "i", "like": 3})
    with pytest.raises(veles.InvalidFilter):
        c.delete()
    with pytest.raises(veles.CollectionNotFound):
        db.collection("nope")
    with pytest.raises(veles.CollectionExists):
        db.create_collection("docs", 8)
    with pytest.raises(veles.InvalidName):
        db.create_collection("../x", 8)
    with pytest.raises(veles.LimitExceeded):
        c.search(np.zeros(8, dtype=np.float32), k=10**6)
    with pytest.raises(veles.Locked):
        veles.open(tmp_path / "db")
    with pytest.raises(ValueError, match="index kind"):
        c.create_index("i", "fancy")


def test_close_lets_every_handle_go_and_the_lock_with_them(tmp_path):
    db = veles.open(tmp_path / "db")
    c = db.create_collection("c", 4)
    c.upsert([1, 2], np.eye(4, dtype=np.float32)[:2])
    db.close()
    with pytest.raises(veles.InvalidArgument, match="the database is closed"):
        len(c)
    with pytest.raises(veles.InvalidArgument, match="the database is closed"):
        db.list()
    db.close()  # twice: nothing
    # The lock went with them: the directory opens again at once, with both points.
    again = veles.open(tmp_path / "db")
    assert len(again.collection("c")) == 2
    with again as d:
        d.collection("c").upsert([3], np.ones((1, 4)))
    with pytest.raises(veles.InvalidArgument):
        d.collection("c")
    assert len(veles.open(tmp_path / "db").collection("c")) == 3


def test_a_with_block_closes_and_read_only_opens_refuse_writes(tmp_path):
    with veles.open(tmp_path / "db") as db:
        c = db.create_collection("c", 4)
        c.upsert([1], np.ones((1, 4)))
    del db, c
    ro = veles.open(tmp_path / "db", read_only=True)
    c = ro.collection("c")
    assert len(c) == 1
    with pytest.raises(veles.ReadOnly):
        c.upsert([2], np.ones((1, 4)))
    snap = tmp_path / "snap"
    assert ro.snapshot(snap)["collections"] == ["c"]
    assert len(veles.open(snap).collection("c")) == 1


def test_a_reader_opens_beside_the_writer_and_refresh_shows_its_new_writes(tmp_path):
    w = veles.open(tmp_path / "db")
    c = w.create_collection("c", 4)
    c.upsert([1], np.ones((1, 4)))
    c.flush()
    r = veles.open(tmp_path / "db", read_only=True).collection("c")
    assert len(r) == 1
    c.upsert([2, 3], np.ones((2, 4)))
    c.flush()
    assert len(r) in (1, 3)  # its view, or a newer one it took by itself: states that existed
    r.refresh()
    assert len(r) == 3
    with pytest.raises(veles.Locked):
        veles.open(tmp_path / "db")  # still one writer


def test_threads_search_while_another_writes_optimizes_and_compacts(tmp_path):
    db = veles.open(tmp_path / "db")
    c = db.create_collection("c", 32)
    c.upsert(np.arange(20000), rng_vectors(20000, 32, 1))
    queries = rng_vectors(64, 32, 2)
    done, errors, during = [], [], {"compact": 0, "optimize": 0}
    phase = {"now": None}

    def searcher():
        try:
            while not done:
                c.search_batch(queries[:8], k=5)
                if phase["now"]:
                    during[phase["now"]] += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        c.upsert(np.arange(20000, 21000), rng_vectors(1000, 32, 3))
        phase["now"] = "optimize"
        c.optimize()
        c.delete(list(range(0, 20000, 3)))
        phase["now"] = "compact"
        c.compact()
        phase["now"] = None
    finally:
        done.append(True)
        for t in threads:
            t.join()
    assert not errors, errors
    # The GIL is released while the engine works: searches went on during both.
    assert during["optimize"] > 0 and during["compact"] > 0, during
    assert len(c) == 21000 - len(range(0, 20000, 3))


def veles_bin():
    path = os.environ.get("VELES_BIN")
    if not path:
        assert "CI" not in os.environ, "VELES_BIN is unset, and CI must set it"
        pytest.skip("VELES_BIN is unset (host/tests/python.rs sets it)")
    return path


def cli(*args):
    out = subprocess.run([veles_bin(), "--json", *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("mode", ["--native", "--deadline=none"])
def test_files_written_from_python_open_in_the_cli_and_the_other_way_round(tmp_path, mode):
    path = tmp_path / "py"
    with veles.open(path) as db:
        c = db.create_collection("c", 4, metric="dot")
        c.upsert([1, 2, 3], np.eye(4, dtype=np.float32)[:3], [{"n": 1}, None, {"n": 3}])
        c.checkpoint()
    del db, c
    assert json.loads(cli(mode, "count", path, "c"))["count"] == 3
    lines = [json.loads(l) for l in cli(mode, "export", path, "c").splitlines()]
    assert [(p["id"], p.get("payload")) for p in lines] == [(1, {"n": 1}), (2, None), (3, {"n": 3})]
    # And the other way round: written by the CLI, read here.
    other = tmp_path / "cli"
    cli(mode, "create", other, "d", "--dim", "3", "--metric", "euclidean")
    points = tmp_path / "p.jsonl"
    points.write_text("\n".join(json.dumps({"id": i, "vector": [i, 0, 1], "payload": {"i": i}}) for i in range(5)))
    cli(mode, "import", other, "d", points)
    d = veles.open(other, read_only=True).collection("d")
    assert len(d) == 5
    assert d.search(np.array([4, 0, 1]), k=1)[0]["payload"] == {"i": 4}


def test_the_stubs_satisfy_a_type_checker(tmp_path):
    mypy = pytest.importorskip("mypy.api")
    example = tmp_path / "example.py"
    example.write_text(
        "import numpy as np\nimport veles\n"
        "db = veles.in_memory()\n"
        "c = db.create_collection('c', 4)\n"
        "c.upsert([1], np.ones((1, 4), dtype=np.float32), [{'a': 1}])\n"
        "hits = c.search(np.ones(4), k=1, filter={'key': 'a', 'eq': 1})\n"
        "ids: np.ndarray = c.search_batch(np.ones((2, 4))).ids\n"
        "n: int = c.count()\n"
    )
    out, err, status = mypy.run(["--strict", str(example)])
    assert status == 0, out + err
