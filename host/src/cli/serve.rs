//! `veles serve`: the router of `veles-http` (Qdrant's REST API) over HTTP/1.1, natively.
//!
//! One thread accepts; each connection has a thread of its own (up to [`MAX_CONNECTIONS`]),
//! which reads its requests within their bounds (`http1.rs`: head and body sizes, the whole
//! request within the time limit, idle keep-alive) so that a slow client holds only its own
//! connection. At most `--threads` requests are answered at once; the router serialises
//! writes and lets reads go on beside them. A request's handling has the router's time limit
//! (`--timeout`, also the limit on reading it). SIGINT or SIGTERM stops taking connections,
//! closes idle ones, lets requests in progress finish, then flushes and closes the database
//! (a checkpoint where one is worth it) before exiting 0; a second signal exits at once (what
//! is acknowledged with `wait=true` is flushed already).

use super::http1::{self, ReadError};
use anyhow::{Context, Result, anyhow};
use std::collections::HashMap;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use veles_http::{Request, Response, Router};

/// How often the signal watcher looks at its flag.
const SIGNAL_POLL: Duration = Duration::from_millis(50);
/// Connections served at once; more are refused with a 503.
const MAX_CONNECTIONS: usize = 512;

/// At most so many requests answered at once (`--threads`).
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        drop(free);
        let out = f();
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
        out
    }
}

/// What every connection thread shares.
struct Shared {
    router: Router,
    slots: Slots,
    stop: Arc<AtomicBool>,
    time_limit: Duration,
    /// Open connections: a clone of each stream, and whether it is inside a request (an idle
    /// one is shut down at stop; a busy one finishes its request first).
    open: Mutex<HashMap<u64, (TcpStream, bool)>>,
}

impl Shared {
    fn mark(&self, id: u64, busy: bool) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get_mut(&id) {
            c.1 = busy;
        }
    }
}

pub(crate) fn run(
    dir: &std::path::Path,
    addr: &str,
    api_key: Option<String>,
    threads: Option<usize>,
    timeout: f64,
) -> Result<()> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(anyhow!("--timeout {timeout}: seconds, above 0"));
    }
    let time_limit = Duration::from_secs_f64(timeout.min(1e9));
    let db = veles::Database::open_with(dir, veles_host::backend::options_from_env())
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let router = Router::new(db, api_key)
        .with_snapshots(dir.join("snapshots"))
        .with_time_limit(time_limit);
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
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
    let shared = Arc::new(Shared {
        router,
        slots: Slots {
            free: Mutex::new(workers.max(1)),
            freed: Condvar::new(),
        },
        stop: stop.clone(),
        time_limit,
        open: Mutex::new(HashMap::new()),
    });
    // The address first, alone on stdout: scripts (and tests) asking for port 0 read it.
    println!("listening on http://{local}");
    let acceptor = {
        let shared = shared.clone();
        std::thread::spawn(move || accept(listener, &shared))
    };
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(SIGNAL_POLL);
    }
    eprintln!("stopping: finishing requests in progress");
    // Wake the acceptor (blocked in accept) so that it sees the flag.
    let _ = TcpStream::connect(local);
    let connections = acceptor
        .join()
        .map_err(|_| anyhow!("the accepting thread panicked"))?;
    for (stream, busy) in shared
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
    {
        if !busy {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
    for h in connections {
        let _ = h.join();
    }
    let shared =
        Arc::into_inner(shared).ok_or_else(|| anyhow!("a connection still holds the database"))?;
    shared.router.close().context("closing the database")?;
    eprintln!("stopped: every acknowledged write is flushed");
    Ok(())
}

/// Accepts until stopped; returns the connection threads to join.
fn accept(listener: TcpListener, shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles: Vec<std::thread::JoinHandle<()>> = Vec::new();
    for (id, stream) in (0u64..).zip(listener.incoming()) {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        handles.retain(|h| !h.is_finished());
        // Responses go out in one write each; without this a body could wait for the
        // client's delayed acknowledgement.
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(shared.time_limit));
        if handles.len() >= MAX_CONNECTIONS {
            let busy = Response::error(503, "too many connections; try again");
            let _ = http1::write_response(&mut stream, &busy, false);
            continue;
        }
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        shared
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (clone, false));
        let shared = shared.clone();
        handles.push(std::thread::spawn(move || {
            connection(&shared, id, stream);
            shared
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }));
    }
    handles
}

/// Serves one connection's requests until it closes, errs, or the server stops.
fn connection(shared: &Shared, id: u64, mut stream: TcpStream) {
    let Ok(read_side) = stream.try_clone() else {
        return;
    };
    let mut reader = http1::reader(read_side);
    while !shared.stop.load(Ordering::Acquire) {
        let admits = |path: &str, key: Option<&str>| shared.router.admits(path, key);
        let incoming = http1::read_request(&mut reader, shared.time_limit, admits, &mut stream);
        shared.mark(id, true);
        let (response, keep_alive) = match incoming {
            Err(ReadError::Closed) => return,
            Err(ReadError::Refused(status, message)) => (Response::error(status, &message), false),
            Ok(rq) => {
                let (path, query) = rq.target.split_once('?').unwrap_or((&rq.target, ""));
                let api_key = rq.header("api-key").map(str::to_string).or_else(|| {
                    rq.header("authorization")
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_string)
                });
                let request = Request {
                    method: &rq.method,
                    path,
                    query,
                    body: &rq.body,
                    api_key: api_key.as_deref(),
                };
                let response = shared.slots.run(|| shared.router.handle(&request));
                (
                    response,
                    rq.keep_alive && !shared.stop.load(Ordering::Acquire),
                )
            }
        };
        // A client that went away is its own business.
        if http1::write_response(&mut stream, &response, keep_alive).is_err() || !keep_alive {
            return;
        }
        shared.mark(id, false);
    }
}
