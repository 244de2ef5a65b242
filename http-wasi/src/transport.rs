//! One `wasi:http` request: read within [`MAX_BODY_BYTES`], open the database (read-only for
//! a read, under the writer's lease for a write), answer through the router, close.

use crate::lease::{Lease, LeaseError};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use veles::{Database, Linking, Options, VectorMemory};
use veles_http::{MAX_BODY_BYTES, Request, Response, Router};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Handler);

/// The database: the guest's `/` (`wasmtime serve --dir DB::/`).
const ROOT: &str = "/";
/// How long a write waits for another instance's write to finish.
const LEASE_WAIT: Duration = Duration::from_secs(30);

struct Handler;

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = answer(&request);
        send(out, response);
    }
}

fn answer(request: &IncomingRequest) -> Response {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".to_string(),
        Method::Post => "POST".to_string(),
        Method::Put => "PUT".to_string(),
        Method::Delete => "DELETE".to_string(),
        Method::Patch => "PATCH".to_string(),
        Method::Options => "OPTIONS".to_string(),
        Method::Connect => "CONNECT".to_string(),
        Method::Trace => "TRACE".to_string(),
        Method::Other(m) => m,
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let headers = request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .into_iter()
            .next()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    let api_key = header("api-key").or_else(|| {
        header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
    });
    drop(headers);
    let body = match read_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req = Request {
        method: &method,
        path,
        query,
        body: &body,
        api_key: api_key.as_deref(),
    };
    // The key comes from the runtime's environment (`wasmtime serve --env VELES_API_KEY`).
    let key = std::env::var("VELES_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let root = Path::new(ROOT);
    let write = !Router::reads_only(&req) || !Database::exists(root);
    let _lease = match write {
        true => match Lease::take(root, LEASE_WAIT) {
            Ok(l) => Some(l),
            Err(LeaseError::Busy) => {
                return Response::error(503, "another request is writing this database; try again");
            }
            Err(LeaseError::Io(m)) => return Response::error(500, &m),
        },
        false => None,
    };
    // Linking at flush: an instance has no thread to link in the background. Only the SQ8
    // copy in memory: an open reads the vector file once to build it either way, and the
    // few exact vectors a request reranks are read by position.
    let options = Options::default()
        .with_read_only(!write)
        .with_linking(Linking::AtFlush)
        .with_vector_memory(VectorMemory::Quantized);
    let db = match Database::open_with(root, options) {
        Ok(db) => db,
        Err(e) => return Response::error(500, &format!("cannot open the database: {e}")),
    };
    let router = Router::new(db, key).with_snapshots(Path::new(ROOT).join("snapshots"));
    let response = router.handle(&req);
    // Nothing outlives the instance to flush later: a write is durable before it answers.
    match router.close() {
        Ok(()) => response,
        Err(e) => Response::error(500, &format!("the write may not be durable: {e}")),
    }
}

/// The body, within [`MAX_BODY_BYTES`] (a 413 beyond).
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let unreadable = |what: &str| Response::error(400, &format!("cannot read the body: {what}"));
    let incoming = request.consume().map_err(|()| unreadable("consumed"))?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| unreadable("no stream"))?;
        stream
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| unreadable(&e.to_string()))?;
    }
    drop(incoming);
    if body.len() > MAX_BODY_BYTES {
        return Err(Response::error(
            413,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(body)
}

fn send(out: ResponseOutparam, response: Response) {
    // A file body is opened before the status goes out: gone since the route answered (a
    // concurrent delete), it is answered as the route would answer now.
    let (response, file) = match &response.file {
        None => (response, None),
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => (response, Some(f)),
            Err(e) => (
                Response::error(404, &format!("{}: {e}", path.display())),
                None,
            ),
        },
    };
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        response.content_type.as_bytes().to_vec(),
    )])
    .unwrap_or_else(|_| Fields::new());
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(response.status);
    let Ok(body) = resp.body() else { return };
    ResponseOutparam::set(out, Ok(resp));
    if let Ok(mut stream) = body.write() {
        // A client that went away is its own business.
        let _ = stream.write_all(&response.body);
        // A file body goes in parts, never read whole into the guest's memory.
        if let Some(mut file) = file {
            let mut part = vec![0u8; 64 * 1024];
            while let Ok(n) = std::io::Read::read(&mut file, &mut part) {
                if n == 0 || stream.write_all(&part[..n]).is_err() {
                    break;
                }
            }
        }
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(body, None);
}
