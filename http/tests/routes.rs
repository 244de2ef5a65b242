//! The router on its own (no network): Qdrant's shapes for what works, Qdrant's error
//! envelope with the right status for what does not, and a property test: thousands of
//! malformed, hostile or random bodies on every route never panic and never give a 5xx.

use serde_json::{Value, json};
use veles::testing::Rng;
use veles_http::{Request, Response, Router};

fn router(key: Option<&str>) -> Router {
    Router::new(veles::Database::in_memory(), key.map(str::to_string))
}

fn call(r: &Router, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let body = body.to_string();
    let resp: Response = r.handle(&Request {
        method,
        path,
        query,
        body: body.as_bytes(),
        api_key: None,
    });
    let v = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    (resp.status, v)
}

fn setup(r: &Router) {
    let (s, _) = call(
        r,
        "PUT",
        "/collections/c",
        &json!({"vectors": {"size": 3, "distance": "Euclid"}}),
    );
    assert_eq!(s, 200);
    let points: Vec<Value> = (0..50)
        .map(|i| json!({"id": i, "vector": [i, 1, 2], "payload": {"g": i % 3, "t": format!("word{i}")}}))
        .collect();
    let (s, v) = call(
        r,
        "PUT",
        "/collections/c/points?wait=true",
        &json!({"points": points}),
    );
    assert_eq!(
        (s, &v["result"]["status"]),
        (200, &json!("completed")),
        "{v}"
    );
}

#[test]
fn errors_have_qdrants_envelope_and_status() {
    let r = router(None);
    setup(&r);
    let cases = [
        ("GET", "/collections/nope", json!({}), 404),
        (
            "POST",
            "/collections/nope/points/search",
            json!({"vector": [1, 2, 3]}),
            404,
        ),
        (
            "PUT",
            "/collections/c",
            json!({"vectors": {"size": 3, "distance": "Cosine"}}),
            409,
        ),
        (
            "POST",
            "/collections/c/points/search",
            json!({"vector": [1, 2]}),
            400,
        ),
        (
            "PUT",
            "/collections/c/points",
            json!({"points": [{"id": "a3bb189e-8bf9-3888-9912-ace4e6543002", "vector": [1, 2, 3]}]}),
            400,
        ),
        (
            "PUT",
            "/collections/c/points",
            json!({"points": [{"id": -1, "vector": [1, 2, 3]}]}),
            400,
        ),
        (
            "POST",
            "/collections/c/points/search",
            json!({"vector": [1, 2, 3], "filter": {"must": [{"nested": {"key": "a"}}]}}),
            400,
        ),
        (
            "POST",
            "/collections/c/points/scroll",
            json!({"order_by": "g"}),
            400,
        ),
        ("POST", "/collections/c/points/recommend", json!({}), 400),
        ("DELETE", "/collections/c/points", json!({}), 404),
        ("PATCH", "/collections/c", json!({}), 400),
        ("POST", "/collections/c", json!({}), 405),
        ("GET", "/nowhere", json!({}), 404),
    ];
    for (m, path, body, status) in cases {
        let (s, v) = call(&r, m, path, &body);
        assert_eq!(s, status, "{m} {path}: {v}");
        assert!(v["status"]["error"].is_string(), "{m} {path}: {v}");
    }
    // Nothing a refused request sent was applied.
    let (_, v) = call(&r, "POST", "/collections/c/points/count", &json!({}));
    assert_eq!(v["result"]["count"], 50);
}

#[test]
fn an_api_key_guards_every_route_but_the_health_checks() {
    let r = router(Some("k"));
    let req = |key: Option<&'static str>, path: &'static str| Request {
        method: "GET",
        path,
        query: "",
        body: b"",
        api_key: key,
    };
    assert_eq!(r.handle(&req(None, "/collections")).status, 401);
    assert_eq!(r.handle(&req(Some("wrong"), "/collections")).status, 401);
    assert_eq!(r.handle(&req(Some("k"), "/collections")).status, 200);
    assert_eq!(r.handle(&req(None, "/healthz")).status, 200);
}

#[test]
fn search_scroll_count_and_metrics() {
    let r = router(None);
    setup(&r);
    let (s, v) = call(
        &r,
        "POST",
        "/collections/c/points/search",
        &json!({"vector": [10, 1, 2], "limit": 3, "with_payload": ["g"],
                "filter": {"should": [{"key": "g", "match": {"value": 1}}]}}),
    );
    assert_eq!(s, 200, "{v}");
    let hits = v["result"].as_array().unwrap();
    assert_eq!(hits[0]["id"], 10);
    assert_eq!(hits[0]["payload"], json!({"g": 1}));
    assert!(hits.iter().all(|h| h["payload"]["g"] == 1));
    let (_, v) = call(
        &r,
        "POST",
        "/collections/c/points/scroll",
        &json!({"limit": 20, "offset": 40}),
    );
    assert_eq!(v["result"]["points"].as_array().unwrap().len(), 10);
    assert_eq!(v["result"]["next_page_offset"], Value::Null);
    let resp = r.handle(&Request {
        method: "GET",
        path: "/metrics",
        query: "",
        body: b"",
        api_key: None,
    });
    let text = String::from_utf8(resp.body).unwrap();
    assert!(text.contains("veles_points{collection=\"c\"} 50"), "{text}");
    assert!(
        text.contains("veles_requests_total{route=\"search\",status=\"200\"} 1"),
        "{text}"
    );
}

/// A random JSON value, sometimes hostile: deep nesting, huge and odd numbers, long strings,
/// Qdrant-looking members in the wrong places.
fn random_json(rng: &mut Rng, depth: u32) -> Value {
    let words = [
        "must",
        "should",
        "must_not",
        "key",
        "match",
        "range",
        "value",
        "any",
        "vector",
        "points",
        "filter",
        "limit",
        "offset",
        "id",
        "ids",
        "payload",
        "query",
        "prefetch",
        "fusion",
        "using",
        "indices",
        "values",
        "batch",
        "vectors",
        "with_payload",
        "params",
        "hnsw_ef",
    ];
    match rng.below(if depth > 6 { 5 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.chance(1, 2)),
        2 => match rng.below(6) {
            0 => json!(u64::MAX),
            1 => json!(-1e300),
            2 => json!(1e300),
            3 => json!(i64::MIN),
            4 => json!(rng.below(100)),
            _ => json!(rng.unit_f32()),
        },
        3 => json!(words[rng.below(words.len() as u64) as usize]),
        4 => json!("x".repeat(rng.below(3000) as usize)),
        5 | 6 => Value::Array(
            (0..rng.below(6))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let k = words[rng.below(words.len() as u64) as usize];
                m.insert(k.to_string(), random_json(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn random_and_hostile_bodies_never_panic_or_give_a_5xx() {
    let r = router(None);
    setup(&r);
    let routes = [
        ("PUT", "/collections/x"),
        ("PUT", "/collections/c/points?wait=true"),
        ("POST", "/collections/c/points"),
        ("POST", "/collections/c/points/delete"),
        ("POST", "/collections/c/points/payload"),
        ("PUT", "/collections/c/points/payload"),
        ("POST", "/collections/c/points/payload/delete"),
        ("POST", "/collections/c/points/scroll"),
        ("POST", "/collections/c/points/count"),
        ("POST", "/collections/c/points/search"),
        ("POST", "/collections/c/points/search/batch"),
        ("POST", "/collections/c/points/query"),
        ("POST", "/collections/c/points/query/batch"),
        ("PUT", "/collections/c/index"),
        ("PUT", "/collections/c/snapshots/recover"),
    ];
    let snapshots = tempfile::tempdir().unwrap();
    let r = r.with_snapshots(snapshots.path());
    let mut rng = Rng::new(33);
    for i in 0..6000 {
        let (m, path) = routes[i % routes.len()];
        let body = random_json(&mut rng, 0);
        let (s, v) = call(&r, m, path, &body);
        assert!(s < 500, "{m} {path} {body}: {s} {v}");
    }
    // Raw bytes that are not JSON at all, and a filter nested past any bound.
    for raw in [&b"\xff\xfe{"[..], b"{\"vector\": [1, 2, 3", b"[]", b"null"] {
        let resp = r.handle(&Request {
            method: "POST",
            path: "/collections/c/points/search",
            query: "",
            body: raw,
            api_key: None,
        });
        assert_eq!(resp.status, 400);
    }
    // Written as text: a `Value` this deep would overflow the test's own stack to build.
    for depth in [40, 100, 5000] {
        let body = format!(
            "{{\"filter\": {}{{\"key\": \"g\", \"match\": {{\"value\": 1}}}}{}}}",
            "{\"must\": [".repeat(depth),
            "]}".repeat(depth)
        );
        let resp = r.handle(&Request {
            method: "POST",
            path: "/collections/c/points/count",
            query: "",
            body: body.as_bytes(),
            api_key: None,
        });
        assert_eq!(resp.status, 400, "depth {depth}");
    }
}

#[test]
fn a_time_limit_stops_a_batch_with_a_503_and_a_bad_timeout_is_a_400() {
    let r = router(None);
    setup(&r);
    let searches: Vec<Value> = (0..2000)
        .map(|i| json!({"vector": [i, 1, 2], "limit": 5}))
        .collect();
    let body = json!({ "searches": searches });
    let (s, v) = call(
        &r,
        "POST",
        "/collections/c/points/search/batch?timeout=0.000001",
        &body,
    );
    assert_eq!(s, 503, "{v}");
    assert!(
        v["status"]["error"]
            .as_str()
            .unwrap()
            .starts_with("Timeout error")
    );
    let (s, v) = call(
        &r,
        "POST",
        "/collections/c/points/search/batch?timeout=30",
        &body,
    );
    assert_eq!((s, v["result"].as_array().unwrap().len()), (200, 2000));
    for bad in ["abc", "-1", "0", "NaN", "inf"] {
        let (s, _) = call(
            &r,
            "POST",
            &format!("/collections/c/points/count?timeout={bad}"),
            &json!({}),
        );
        assert_eq!(s, 400, "timeout={bad}");
    }
    // The server's own limit applies when the request asks for none.
    let r = r.with_time_limit(std::time::Duration::from_nanos(1));
    let queries: Vec<Value> = (0..200)
        .map(|i| json!({"query": [i, 1, 2], "limit": 5}))
        .collect();
    let body = json!({ "searches": queries });
    assert_eq!(
        call(&r, "POST", "/collections/c/points/query/batch", &body).0,
        503
    );
}

#[test]
fn snapshots_are_made_listed_downloaded_and_recovered_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let r = Router::new(veles::Database::open(dir.path().join("db")).unwrap(), None)
        .with_snapshots(&snaps);
    setup(&r);
    let (s, made) = call(&r, "POST", "/collections/c/snapshots", &json!({}));
    assert_eq!(s, 200, "{made}");
    let name = made["result"]["name"].as_str().unwrap().to_string();
    let (_, listed) = call(&r, "GET", "/collections/c/snapshots", &json!({}));
    assert_eq!(listed["result"][0]["name"], name);
    let file = snaps.join("c").join(&name);
    let download = r.handle(&Request {
        method: "GET",
        path: &format!("/collections/c/snapshots/{name}"),
        query: "",
        body: b"",
        api_key: None,
    });
    // The file itself, for the transport to stream (never read whole into memory here).
    assert_eq!(download.file.as_deref(), Some(file.as_path()));
    assert!(download.body.is_empty());
    assert_eq!(download.content_type, "application/octet-stream");

    let (s, _) = call(
        &r,
        "POST",
        "/collections/c/points/delete?wait=true",
        &json!({"points": [1, 2, 3]}),
    );
    assert_eq!(s, 200);
    let location = format!("file://{}", file.display());
    let (s, v) = call(
        &r,
        "PUT",
        "/collections/c/snapshots/recover",
        &json!({"location": location}),
    );
    assert_eq!(s, 200, "{v}");
    let (_, v) = call(&r, "POST", "/collections/c/points/count", &json!({}));
    assert_eq!(v["result"]["count"], 50);

    // Outside the snapshots directory, remote, another collection's name, damaged: 400s
    // that say why, and the collection is as it was.
    for (body, why) in [
        (
            json!({"location": "file:///etc/passwd"}),
            "not a snapshot file",
        ),
        (
            json!({"location": format!("file://{}/c/../../db/VELES", snaps.display())}),
            "not a snapshot file",
        ),
        (
            json!({"location": "https://example.com/x.snapshot"}),
            "no remote URL",
        ),
        (json!({}), "location"),
    ] {
        let (s, v) = call(&r, "PUT", "/collections/c/snapshots/recover", &body);
        let message = v["status"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(s == 400 && message.contains(why), "{body}: {s} {message}");
    }
    let (s, v) = call(
        &r,
        "PUT",
        "/collections/other/snapshots/recover",
        &json!({"location": location}),
    );
    assert!(
        s == 400
            && v["status"]["error"]
                .as_str()
                .unwrap()
                .contains("name it was taken from"),
        "{v}"
    );
    let mut bytes = std::fs::read(&file).unwrap();
    // The first byte of the vector file's data (its header follows the tar header).
    let header = bytes
        .windows(22)
        .position(|w| w == b"collections/c/vectors-")
        .unwrap();
    bytes[header + 512] ^= 0x55;
    let damaged = snaps.join("c").join("damaged.snapshot");
    std::fs::write(&damaged, &bytes).unwrap();
    let location = format!("file://{}", damaged.display());
    let (s, v) = call(
        &r,
        "PUT",
        "/collections/c/snapshots/recover",
        &json!({"location": location}),
    );
    assert_eq!(s, 400, "{v}");
    let (_, v) = call(&r, "POST", "/collections/c/points/count", &json!({}));
    assert_eq!(v["result"]["count"], 50);

    let (s, _) = call(
        &r,
        "DELETE",
        &format!("/collections/c/snapshots/{name}"),
        &json!({}),
    );
    assert_eq!(s, 200);
    assert!(!file.exists());
    assert_eq!(
        call(&r, "GET", "/collections/c/snapshots/../VELES", &json!({})).0,
        404
    );
    assert_eq!(
        call(&r, "GET", "/collections/nope/snapshots", &json!({})).0,
        404
    );
}
