"""Qdrant's own Python client against `veles serve`: the calls an application makes, each
checked against what it should answer. Run by host/tests/serve.rs with the server's URL, API
key and snapshots directory as arguments; exits non-zero (an assertion or the client's error) on any difference.

Calls: get_collections, collection_exists, create_collection (dense; dense + sparse with
IDF), upsert (points and batch forms, wait=True), get_collection, retrieve, query_points
(nearest with a filter; sparse; prefetch fused by RRF and DBSF), query_batch_points, scroll,
count (with has_id), create_payload_index, set_payload, overwrite_payload, delete_payload, clear_payload,
delete (by ids and by filter), create_snapshot, list_snapshots, recover_snapshot (with and
without the right checksum), delete_snapshot, delete_collection; a snapshot's download with
urllib. The third argument is the server's snapshots directory, as the server sees it.
"""

import hashlib
import io
import sys
import tarfile
import urllib.request
import warnings

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

url, key, snapshots = sys.argv[1], sys.argv[2], sys.argv[3]
warnings.simplefilter("ignore")  # an API key over plain http on loopback
client = QdrantClient(url=url, api_key=key, timeout=30)

# An unknown collection, then a new one.
assert not client.collection_exists("docs")
assert client.create_collection(
    "docs", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
)
assert client.collection_exists("docs")
assert "docs" in [c.name for c in client.get_collections().collections]


def vec(i):
    return [1.0 + i % 7, 1.0 + i % 5, 1.0 + i % 3, 1.0 + i / 100]


points = [
    models.PointStruct(id=i, vector=vec(i), payload={"group": i % 4, "name": f"p{i}"})
    for i in range(60)
]
r = client.upsert("docs", points=points, wait=True)
assert r.status == models.UpdateStatus.COMPLETED, r
client.upsert(
    "docs",
    points=models.Batch(
        ids=list(range(60, 100)),
        vectors=[vec(i) for i in range(60, 100)],
        payloads=[{"group": i % 4, "name": f"p{i}"} for i in range(60, 100)],
    ),
    wait=True,
)
info = client.get_collection("docs")
assert info.points_count == 100, info
assert info.config.params.vectors.size == 4

got = client.retrieve("docs", ids=[5, 7, 1000], with_payload=True, with_vectors=True)
assert [p.id for p in got] == [5, 7], got
assert got[0].payload == {"group": 1, "name": "p5"}
assert len(got[0].vector) == 4

# Nearest, with a filter: the point itself first, every hit in its group.
hits = client.query_points(
    "docs",
    query=vec(9),
    limit=5,
    query_filter=models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchValue(value=1))]
    ),
    with_payload=True,
).points
assert hits[0].id == 9, hits
assert all(h.payload["group"] == 1 for h in hits)
assert len(hits) == 5

ranged = client.count(
    "docs",
    count_filter=models.Filter(
        must=[models.FieldCondition(key="group", range=models.Range(gte=2))],
        must_not=[models.FieldCondition(key="name", match=models.MatchAny(any=["p2", "p3"]))],
    ),
    exact=True,
)
assert ranged.count == 48, ranged

by_id = client.count(
    "docs",
    count_filter=models.Filter(
        must=[models.HasIdCondition(has_id=[1, 2, 3, 500])],
        must_not=[models.FieldCondition(key="group", match=models.MatchValue(value=2))],
    ),
    exact=True,
)
assert by_id.count == 2, by_id  # 500 names no point; 2 is in group 2

batch = client.query_batch_points(
    "docs",
    requests=[models.QueryRequest(query=vec(i), limit=1) for i in (3, 4)],
)
assert [b.points[0].id for b in batch] == [3, 4], batch

page, nxt = client.scroll("docs", limit=10, with_payload=True)
assert [p.id for p in page] == list(range(10)) and nxt == 10, (page, nxt)
page, nxt = client.scroll("docs", limit=10, offset=95)
assert [p.id for p in page] == list(range(95, 100)) and nxt is None

client.create_payload_index("docs", field_name="group", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
assert "group" in client.get_collection("docs").payload_schema

client.set_payload("docs", payload={"tag": "x"}, points=[1, 2], wait=True)
assert client.retrieve("docs", ids=[1])[0].payload == {"group": 1, "name": "p1", "tag": "x"}
client.overwrite_payload("docs", payload={"only": True}, points=[1], wait=True)
assert client.retrieve("docs", ids=[1])[0].payload == {"only": True}
client.delete_payload("docs", keys=["tag"], points=[2], wait=True)
assert client.retrieve("docs", ids=[2])[0].payload == {"group": 2, "name": "p2"}
client.clear_payload("docs", points_selector=models.PointIdsList(points=[2]), wait=True)
assert client.retrieve("docs", ids=[2])[0].payload == {}

client.delete("docs", points_selector=models.PointIdsList(points=[3, 4]), wait=True)
client.delete(
    "docs",
    points_selector=models.FilterSelector(
        filter=models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=0))])
    ),
    wait=True,
)
# Point 4 was in group 0: the filter deletes the other 24 of it.
assert client.count("docs", exact=True).count == 100 - 2 - 24

# Wrong dimension: the client's error, with the server's message.
try:
    client.query_points("docs", query=[1.0, 2.0], limit=1)
    raise AssertionError("a 2-d query was accepted")
except UnexpectedResponse as e:
    assert e.status_code == 400 and "dimension" in str(e).lower(), e

# Dense + sparse (BM25-style term frequencies with the IDF modifier), fused.
assert client.create_collection(
    "hybrid",
    vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
    sparse_vectors_config={"terms": models.SparseVectorParams(modifier=models.Modifier.IDF)},
)
client.upsert(
    "hybrid",
    points=[
        models.PointStruct(
            id=i,
            vector={"": vec(i), "terms": models.SparseVector(indices=[i, 100 + i % 5], values=[1.0, 2.0])},
            payload={"i": i},
        )
        for i in range(40)
    ],
    wait=True,
)
sparse_hits = client.query_points(
    "hybrid", query=models.SparseVector(indices=[103], values=[1.0]), using="terms", limit=40
).points
assert {h.id % 5 for h in sparse_hits} == {3} and len(sparse_hits) == 8, sparse_hits
for fusion in (models.Fusion.RRF, models.Fusion.DBSF):
    fused = client.query_points(
        "hybrid",
        prefetch=[
            models.Prefetch(query=vec(13), limit=10),
            models.Prefetch(query=models.SparseVector(indices=[13], values=[1.0]), using="terms", limit=10),
        ],
        query=models.FusionQuery(fusion=fusion),
        limit=3,
    ).points
    assert fused[0].id == 13, (fusion, fused)

# Snapshots: made while the collection stays open, listed, downloaded as a tar of a
# database, then recovered over later changes (from the file:// location under the
# server's snapshots directory, with its SHA-256).
before = client.count("docs", exact=True).count
snap = client.create_snapshot("docs", wait=True)
assert snap.name.endswith(".snapshot") and snap.size > 0 and len(snap.checksum) == 64, snap
assert [s.name for s in client.list_snapshots("docs")] == [snap.name]
req = urllib.request.Request(f"{url}/collections/docs/snapshots/{snap.name}", headers={"api-key": key})
with urllib.request.urlopen(req) as r:
    data = r.read()
assert len(data) == snap.size and hashlib.sha256(data).hexdigest() == snap.checksum
names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
assert "VELES" in names and any(n.startswith("collections/docs/") for n in names), names
client.delete("docs", points_selector=models.PointIdsList(points=list(range(100))), wait=True)
assert client.count("docs", exact=True).count == 0
location = f"file://{snapshots}/docs/{snap.name}"
try:
    client.recover_snapshot("docs", location=location, checksum="0" * 64, wait=True)
    raise AssertionError("a wrong checksum was recovered")
except UnexpectedResponse as e:
    assert e.status_code == 400 and "SHA-256" in str(e), e
assert client.recover_snapshot("docs", location=location, checksum=snap.checksum, wait=True)
assert client.count("docs", exact=True).count == before
assert client.retrieve("docs", ids=[1])[0].payload == {"only": True}
assert client.delete_snapshot("docs", snap.name, wait=True)
assert client.list_snapshots("docs") == []

assert client.delete_collection("hybrid")
assert client.delete_collection("docs")
assert not client.collection_exists("docs")
print("qdrant-client: every call answered as Qdrant's would")
