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
            json!({"vector": [1, 2, 3], "filter": {"must": [{"has_id": [1]}]}}),
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
    ];
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
