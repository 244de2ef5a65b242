//! `veles serve`: the router of `veles-http` (Qdrant's REST API) over HTTP/1.1, natively.
//!
//! Worker threads take requests from one listener; each request's body is read only up to
//! [`MAX_BODY_BYTES`] (a longer one is a 413 before it is read whole), and only once the API
//! key is right (a 401 reads none). A request's handling has the router's time limit
//! (`--timeout`); tiny_http gives no socket timeouts, so reading a body is bounded in size,
//! not in time. Requests read in
//! parallel and writes are serialised by the engine, so searches go on while one client
//! writes. SIGINT or SIGTERM stops taking requests, lets those in progress finish, then
//! flushes and closes the database (a checkpoint where one is worth it) before exiting 0; a
//! second signal exits at once (what is acknowledged with `wait=true` is flushed already).

use anyhow::{Context, Result, anyhow};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use veles_http::{MAX_BODY_BYTES, Request, Response, Router};

/// How often the signal watcher looks at its flag.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

pub(crate) fn run(
    dir: &Path,
    addr: &str,
    api_key: Option<String>,
    threads: Option<usize>,
    timeout: f64,
) -> Result<()> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(anyhow!("--timeout {timeout}: seconds, above 0"));
    }
    let db = veles::Database::open_with(dir, veles_host::backend::options_from_env())
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let router = Router::new(db, api_key)
        .with_snapshots(dir.join("snapshots"))
        .with_time_limit(Duration::from_secs_f64(timeout.min(1e9)));
    let router = Arc::new(router);
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    no_delay(&listener);
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
    let server = Arc::new(server);
    let workers =
        threads.unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stop = Arc::new(AtomicBool::new(false));
    // The first signal stops cleanly; a second one, while that runs, exits at once (128 +
    // the signal, as a shell reports it). Registered in this order, the exit checks the flag
    // before the first signal sets it.
    for (signal, code) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        signal_hook::flag::register_conditional_shutdown(signal, code, stop.clone())?;
        signal_hook::flag::register(signal, stop.clone())?;
    }
    // The address first, alone on stdout: scripts (and tests) asking for port 0 read it.
    println!("listening on http://{}", server.server_addr());
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (server, router, stop) = (server.clone(), router.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match server.recv() {
                        Ok(rq) => answer(&router, rq),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(SIGNAL_POLL);
    }
    eprintln!("stopping: finishing requests in progress");
    for _ in 0..workers {
        server.unblock();
    }
    for h in handles {
        let _ = h.join();
    }
    drop(server);
    let router =
        Arc::into_inner(router).ok_or_else(|| anyhow!("a worker still holds the database"))?;
    router.close().context("closing the database")?;
    eprintln!("stopped: every acknowledged write is flushed");
    Ok(())
}

/// Reads one request (its body within the bound), answers it through the router.
fn answer(router: &Router, mut rq: tiny_http::Request) {
    let (path, query) = match rq.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (rq.url().to_string(), String::new()),
    };
    let header = |name: &str| {
        rq.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
    };
    let api_key = header("api-key").or_else(|| {
        header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
    });
    let too_long = rq.body_length().is_some_and(|n| n > MAX_BODY_BYTES);
    // A client without the key is refused before its body is read.
    let refused = !router.admits(&path, api_key.as_deref());
    let mut body = Vec::new();
    let read = match too_long || refused {
        true => Ok(()),
        false => rq
            .as_reader()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .map(drop),
    };
    let method = rq.method().as_str().to_string();
    let response = match read {
        Err(e) => Response::error(400, &format!("cannot read the body: {e}")),
        Ok(()) if !refused && (too_long || body.len() > MAX_BODY_BYTES) => Response::error(
            413,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ),
        Ok(()) => router.handle(&Request {
            method: &method,
            path: &path,
            query: &query,
            body: &body,
            api_key: api_key.as_deref(),
        }),
    };
    let content_type = tiny_http::Header::from_bytes("Content-Type", response.content_type)
        .expect("a static header is valid");
    let reply = tiny_http::Response::from_data(response.body)
        .with_status_code(response.status)
        .with_header(content_type);
    // A client that went away is its own business.
    let _ = rq.respond(reply);
}

/// Sets `TCP_NODELAY` on the listening socket, which the connections it accepts inherit
/// (Linux): a response's head and body go out as separate writes, and with Nagle's algorithm
/// the body would wait for the client's delayed acknowledgement, 40 ms a request.
fn no_delay(listener: &std::net::TcpListener) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor this function borrows, and a c_int option value
        // whose size is passed.
        unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
