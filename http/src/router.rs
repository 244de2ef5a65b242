//! The router: a request's method, path, query string and body (already read by the
//! transport, within [`MAX_BODY_BYTES`]) to a status and a body. It never panics on what a
//! client sends: every malformed input is a 4xx with Qdrant's error envelope, and only a
//! storage failure is a 5xx.

use crate::metrics::Metrics;
use crate::reply::{self, ApiError, ApiResult, Deadline};
use crate::{collections, points, search, snapshots};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use veles::Database;

/// The largest request body accepted (a transport refuses larger ones before reading them
/// whole; the router checks again).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// The time limit of a request unless the server sets another (a request's `timeout` may
/// ask for less).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The Qdrant API version whose routes and shapes this router follows (what `GET /` says,
/// which clients compare with their own).
const QDRANT_API: &str = "1.15.0";

/// One request, as a transport read it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, `POST`, `DELETE`, ...
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The query string, without `?` (empty when none).
    pub query: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// The `api-key` header, or the token of `Authorization: Bearer`.
    pub api_key: Option<&'a str>,
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `application/json`, or `text/plain` for health checks and metrics.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// A file sent as the body in place of `body` (a snapshot's download, which may be larger
    /// than memory): transports stream it. It is read once, after the route answered.
    pub file: Option<PathBuf>,
}

impl Response {
    /// An error in Qdrant's envelope, for what a transport answers itself (a body too large
    /// to read, a database it cannot open).
    pub fn error(status: u16, message: &str) -> Response {
        json_response(status, &json!({"status": {"error": message}, "time": 0.0}))
    }
}

/// Qdrant's REST API over one database.
pub struct Router {
    db: Database,
    api_key: Option<String>,
    metrics: Metrics,
    /// Where collection snapshots go (`snapshots.rs`); `None` refuses the snapshot routes.
    snapshots: Option<PathBuf>,
    time_limit: Duration,
}

/// What a route answers: JSON in the envelope, or plain text.
enum Answer {
    Json(Value),
    /// A body sent as it is (`GET /`, which Qdrant does not wrap).
    Bare(Value),
    Text(String),
    /// A file (a snapshot's download), streamed by the transport.
    File(PathBuf),
}

impl Router {
    /// A router over `db`; with `api_key`, every route but the health checks needs it.
    pub fn new(db: Database, api_key: Option<String>) -> Router {
        Router {
            db,
            api_key,
            metrics: Metrics::default(),
            snapshots: None,
            time_limit: DEFAULT_TIME_LIMIT,
        }
    }

    /// Sets the time limit of every request: a batch of queries past it stops with a 503
    /// (a write, once begun, finishes: it is atomic).
    pub fn with_time_limit(mut self, limit: Duration) -> Router {
        self.time_limit = limit;
        self
    }

    /// Serves collection snapshots from directory `dir` (made on first use): `veles serve`
    /// puts them in the database directory's `snapshots/`.
    pub fn with_snapshots(mut self, dir: impl Into<PathBuf>) -> Router {
        self.snapshots = Some(dir.into());
        self
    }

    /// The database, for the transport's shutdown (flush, close).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Closes the database cleanly (see [`Database::close`]), after a flush.
    pub fn close(self) -> veles::Result<()> {
        self.db.flush()?;
        self.db.close()
    }

    /// Whether `req` only reads the database, so a transport may answer it from a
    /// read-only open (a router over one refuses writes with 403 either way). Making a
    /// snapshot reads: its file goes beside the database, not into it.
    pub fn reads_only(req: &Request<'_>) -> bool {
        let parts: Vec<&str> = req.path.split('/').filter(|p| !p.is_empty()).collect();
        match (req.method, parts.as_slice()) {
            ("GET" | "HEAD", _) => true,
            ("POST", ["collections", _, "snapshots"]) => true,
            ("POST", ["collections", _, "points", rest @ ..]) => matches!(
                rest,
                [] | ["scroll"]
                    | ["count"]
                    | ["search"]
                    | ["search", "batch"]
                    | ["query"]
                    | ["query", "batch"]
            ),
            _ => false,
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request<'_>) -> Response {
        let start = Instant::now();
        let (route, answer) = match self
            .authorised(req)
            .and_then(|()| self.deadline(req, start))
        {
            Ok(deadline) => self.route(req, &deadline),
            Err(e) => ("refused", Err(e)),
        };
        let seconds = start.elapsed().as_secs_f64();
        let response = match answer {
            Ok(Answer::Json(v)) => json_response(200, &reply::ok(v, seconds)),
            Ok(Answer::Bare(v)) => json_response(200, &v),
            Ok(Answer::Text(t)) => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: t.into_bytes(),
                file: None,
            },
            Ok(Answer::File(path)) => Response {
                status: 200,
                content_type: "application/octet-stream",
                body: Vec::new(),
                file: Some(path),
            },
            Err(e) => json_response(e.status, &reply::error(&e, seconds)),
        };
        self.metrics.record(route, response.status, seconds);
        response
    }

    /// The server's time limit, or the request's `timeout` (seconds) if less.
    fn deadline(&self, req: &Request<'_>, start: Instant) -> ApiResult<Deadline> {
        let mut limit = self.time_limit;
        for pair in req.query.split('&') {
            if let Some(("timeout", v)) = pair.split_once('=') {
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| ApiError::bad(format!("timeout={v}: seconds, above 0")))?;
                limit = limit.min(Duration::from_secs_f64(secs.min(1e9)));
            }
        }
        Ok(Deadline::new(start, limit))
    }

    /// Whether a request to `path` with `api_key` gets past the key check (a transport asks
    /// before it reads a body).
    pub fn admits(&self, path: &str, api_key: Option<&str>) -> bool {
        let open = matches!(path.trim_matches('/'), "healthz" | "livez" | "readyz");
        match &self.api_key {
            Some(key) => open || same(api_key.unwrap_or(""), key),
            None => true,
        }
    }

    fn authorised(&self, req: &Request<'_>) -> ApiResult<()> {
        match self.admits(req.path, req.api_key) {
            false => Err(ApiError {
                status: 401,
                message: "Must provide an API key or an Authorization bearer token".into(),
            }),
            _ => Ok(()),
        }
    }

    /// The route's name (for metrics) and its answer.
    fn route(&self, req: &Request<'_>, deadline: &Deadline) -> (&'static str, ApiResult<Answer>) {
        let parts: Vec<&str> = req.path.split('/').filter(|p| !p.is_empty()).collect();
        let m = req.method;
        let db = &self.db;
        let json = |r: ApiResult| r.map(Answer::Json);
        match parts.as_slice() {
            [] if m == "GET" => (
                "/",
                Ok(Answer::Bare(
                    json!({"title": "veles", "version": QDRANT_API}),
                )),
            ),
            ["healthz" | "livez" | "readyz"] if m == "GET" => (
                "/healthz",
                Ok(Answer::Text("healthz check passed\n".into())),
            ),
            ["metrics"] if m == "GET" => ("/metrics", self.metrics_text().map(Answer::Text)),
            ["collections"] if m == "GET" => ("/collections", json(collections::list(db))),
            ["collections", name] => {
                let r = match m {
                    "GET" => collections::info(db, name),
                    "PUT" => body(req).and_then(|b| collections::create(db, name, &b)),
                    "DELETE" => collections::delete(db, name),
                    "PATCH" => Err(ApiError::unsupported("updating a collection's parameters")),
                    _ => Err(not_allowed(m)),
                };
                ("/collections/{name}", json(r))
            }
            ["collections", name, "exists"] if m == "GET" => (
                "/collections/{name}/exists",
                json(collections::exists(db, name)),
            ),
            ["collections", name, "index"] if m == "PUT" => {
                let r = wait(req).and_then(|w| {
                    body(req).and_then(|b| collections::create_index(db, name, &b, w))
                });
                ("/collections/{name}/index", json(r))
            }
            ["collections", name, "index", field] if m == "DELETE" => {
                let r = wait(req).and_then(|w| collections::delete_index(db, name, field, w));
                ("/collections/{name}/index/{field}", json(r))
            }
            ["collections", name, "snapshots", rest @ ..] => self.snapshots(req, name, rest),
            ["snapshots", ..] => (
                "/snapshots",
                Err(ApiError::unsupported(
                    "whole-storage snapshots (use `veles snapshot`; collection snapshots are served)",
                )),
            ),
            ["collections", name, "points", rest @ ..] => {
                let (route, r) = self.points(req, name, rest, deadline);
                (route, json(r))
            }
            _ => (
                "unknown",
                Err(ApiError::not_found(format!("{} {}", m, req.path))),
            ),
        }
    }

    fn points(
        &self,
        req: &Request<'_>,
        name: &str,
        rest: &[&str],
        deadline: &Deadline,
    ) -> (&'static str, ApiResult) {
        let m = req.method;
        let c = match self.db.collection(name) {
            Ok(c) => c,
            Err(e) => return ("/collections/{name}/points", Err(e.into())),
        };
        let with = |f: &dyn Fn(&Value) -> ApiResult| body(req).and_then(|b| f(&b));
        let waiting = |f: &dyn Fn(&Value, bool) -> ApiResult| {
            let w = wait(req)?;
            body(req).and_then(|b| f(&b, w))
        };
        match (m, rest) {
            ("PUT", []) => ("upsert", waiting(&|b, w| points::upsert(&c, b, w))),
            ("POST", []) => ("get", with(&|b| points::get(&c, b))),
            ("GET", [id]) => ("get one", points::get_one(&c, id)),
            ("POST", ["delete"]) => ("delete", waiting(&|b, w| points::delete(&c, b, w))),
            ("POST", ["payload"]) => (
                "set payload",
                waiting(&|b, w| points::set_payload(&c, b, w)),
            ),
            ("PUT", ["payload"]) => (
                "overwrite payload",
                waiting(&|b, w| points::overwrite_payload(&c, b, w)),
            ),
            ("POST", ["payload", "delete"]) => (
                "delete payload",
                waiting(&|b, w| points::delete_payload(&c, b, w)),
            ),
            ("POST", ["payload", "clear"]) => (
                "clear payload",
                waiting(&|b, w| points::clear_payload(&c, b, w)),
            ),
            ("POST", ["scroll"]) => ("scroll", with(&|b| points::scroll(&c, b))),
            ("POST", ["count"]) => ("count", with(&|b| points::count(&c, b))),
            ("POST", ["search"]) => ("search", with(&|b| search::search(&c, b))),
            ("POST", ["search", "batch"]) => (
                "search batch",
                with(&|b| search::search_batch(&c, b, deadline)),
            ),
            ("POST", ["query"]) => ("query", with(&|b| search::query(&c, b))),
            ("POST", ["query", "batch"]) => (
                "query batch",
                with(&|b| search::query_batch(&c, b, deadline)),
            ),
            (_, ["vectors", ..] | ["recommend", ..] | ["discover", ..] | ["batch"] | ["facet"]) => {
                (
                    "unsupported",
                    Err(ApiError::unsupported(&format!(
                        "/points/{}",
                        rest.join("/")
                    ))),
                )
            }
            _ => (
                "unknown",
                Err(ApiError::not_found(format!("{m} {}", req.path))),
            ),
        }
    }

    fn snapshots(
        &self,
        req: &Request<'_>,
        name: &str,
        rest: &[&str],
    ) -> (&'static str, ApiResult<Answer>) {
        let Some(root) = &self.snapshots else {
            return (
                "snapshots",
                Err(ApiError::unsupported("snapshots (no snapshots directory)")),
            );
        };
        let db = &self.db;
        let json = |r: ApiResult| r.map(Answer::Json);
        match (req.method, rest) {
            ("POST", []) => ("create snapshot", json(snapshots::create(db, root, name))),
            ("GET", []) => ("list snapshots", json(snapshots::list(db, root, name))),
            ("PUT", ["recover"]) => (
                "recover snapshot",
                json(body(req).and_then(|b| snapshots::recover(db, root, name, &b))),
            ),
            ("POST", ["upload"]) => (
                "upload snapshot",
                Err(ApiError::unsupported(
                    "uploading a snapshot (put the file in the snapshots directory and recover it from its file:// location)",
                )),
            ),
            ("GET", [snap]) => (
                "download snapshot",
                snapshots::download(db, root, name, snap).map(Answer::File),
            ),
            ("DELETE", [snap]) => (
                "delete snapshot",
                json(snapshots::delete(db, root, name, snap)),
            ),
            (m, [] | [_]) => ("snapshots", Err(not_allowed(m))),
            (m, _) => (
                "unknown",
                Err(ApiError::not_found(format!("{m} {}", req.path))),
            ),
        }
    }

    fn metrics_text(&self) -> ApiResult<String> {
        let mut rows = Vec::new();
        for name in self.db.list()? {
            let s = self.db.collection(&name)?.stats()?;
            rows.push((name, s.len, s.unindexed));
        }
        Ok(self.metrics.render(&rows))
    }
}

fn json_response(status: u16, v: &Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(v).unwrap_or_default(),
        file: None,
    }
}

fn not_allowed(method: &str) -> ApiError {
    ApiError {
        status: 405,
        message: format!("Method {method} is not allowed here"),
    }
}

/// The body as JSON; an empty body is `{}`.
fn body(req: &Request<'_>) -> ApiResult<Value> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError {
            status: 413,
            message: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        });
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(req.body).map_err(|e| ApiError::bad(format!("JSON: {e}")))
}

/// `wait=true` in the query string (Qdrant's default is false).
fn wait(req: &Request<'_>) -> ApiResult<bool> {
    for pair in req.query.split('&') {
        match pair.split_once('=') {
            Some(("wait", "true")) => return Ok(true),
            Some(("wait", "false")) => return Ok(false),
            Some(("wait", other)) => return Err(ApiError::bad(format!("wait={other}"))),
            _ => {}
        }
    }
    Ok(false)
}

/// Compares two keys in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
