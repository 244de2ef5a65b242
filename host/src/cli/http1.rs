//! HTTP/1.1 for `veles serve`, on std's TCP streams: one request read within its bounds, one
//! response written. Bounds: a head of at most [`MAX_HEAD_BYTES`]; a body of at most
//! [`MAX_BODY_BYTES`] with a `Content-Length` (chunked bodies are refused: Qdrant's clients
//! send lengths); the whole request read within its time limit, however slowly the client
//! sends it; and an idle keep-alive connection closed after [`IDLE`]. Every refusal is a
//! status and a message for the caller to answer, after which the connection closes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use veles_http::MAX_BODY_BYTES;

/// The most bytes a request's line and headers may take.
pub(crate) const MAX_HEAD_BYTES: u64 = 16 << 10;
/// How long a keep-alive connection may wait for its next request.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// One request's parts.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: String,
    /// The path, then `?` and the query string if any.
    pub(crate) target: String,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Whether the connection stays open after the response.
    pub(crate) keep_alive: bool,
}

impl Incoming {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request was read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The client closed the connection, or left it idle: nothing to answer.
    Closed,
    /// A request that cannot be served as sent: answer this status and message, then close.
    Refused(u16, String),
}

/// The reads of one connection, each bounded by the time left before a deadline.
pub(crate) struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// A connection's reader (its buffer carries bytes a client sent ahead across requests).
pub(crate) fn reader(stream: TcpStream) -> BufReader<Deadlined> {
    BufReader::new(Deadlined {
        stream,
        deadline: Instant::now() + IDLE,
    })
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Reads the next request: waits up to [`IDLE`] for its first byte, then gives the whole of
/// it `time_limit`. `admits(path, api_key)` is asked before the body is read (a refused
/// request's body is never read); `continue_to` gets `100 Continue` when a client asks.
pub(crate) fn read_request(
    r: &mut BufReader<Deadlined>,
    time_limit: Duration,
    admits: impl Fn(&str, Option<&str>) -> bool,
    continue_to: &mut TcpStream,
) -> Result<Incoming, ReadError> {
    r.get_mut().deadline = Instant::now() + IDLE;
    match r.fill_buf() {
        Ok([]) => return Err(ReadError::Closed),
        Ok(_) => {}
        Err(_) => return Err(ReadError::Closed),
    }
    r.get_mut().deadline = Instant::now() + time_limit;
    // A read that timed out is the client's slowness, any other failure a connection gone.
    let failed = |e: io::Error| match timed_out(&e) {
        true => ReadError::Refused(
            408,
            format!("the request was not sent within its time limit of {time_limit:?}"),
        ),
        false => ReadError::Closed,
    };
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take(MAX_HEAD_BYTES + 1 - before.min(MAX_HEAD_BYTES as usize) as u64)
            .read_until(b'\n', &mut line)
            .map_err(failed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        head.extend_from_slice(&line);
        if head.len() as u64 > MAX_HEAD_BYTES {
            return Err(ReadError::Refused(
                431,
                format!("the request's head is larger than {MAX_HEAD_BYTES} bytes"),
            ));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut incoming = parse_head(&head)?;
    let length = body_length(&incoming)?;
    let path = incoming.target.split('?').next().unwrap_or("");
    let key = incoming.header("api-key").map(str::to_string).or_else(|| {
        incoming
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    });
    if !admits(path, key.as_deref()) {
        // The router answers the 401; the body stays unread, so the connection closes.
        incoming.keep_alive = false;
        return Ok(incoming);
    }
    if length > MAX_BODY_BYTES as u64 {
        return Err(ReadError::Refused(
            413,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    if incoming
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        continue_to
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| ReadError::Closed)?;
    }
    let mut body = Vec::with_capacity(length.min(1 << 20) as usize);
    r.by_ref()
        .take(length)
        .read_to_end(&mut body)
        .map_err(failed)?;
    if (body.len() as u64) < length {
        return Err(ReadError::Closed);
    }
    incoming.body = body;
    Ok(incoming)
}

fn bad(message: impl Into<String>) -> ReadError {
    ReadError::Refused(400, message.into())
}

fn parse_head(head: &[u8]) -> Result<Incoming, ReadError> {
    let text = std::str::from_utf8(head).map_err(|_| bad("a request head that is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("a malformed request line: {request_line:?}")));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        other => {
            return Err(ReadError::Refused(
                505,
                format!("{other:?} is not HTTP/1.0 or HTTP/1.1"),
            ));
        }
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return Err(bad(format!("a malformed request line: {request_line:?}")));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains(' '))
            .ok_or_else(|| bad(format!("a malformed header line: {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut incoming = Incoming {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
        keep_alive: http11,
    };
    match incoming.header("connection").map(str::to_ascii_lowercase) {
        Some(c) if c.contains("close") => incoming.keep_alive = false,
        Some(c) if c.contains("keep-alive") => incoming.keep_alive = true,
        _ => {}
    }
    Ok(incoming)
}

/// The body's length from `Content-Length` (0 without one); a chunked body is refused.
fn body_length(incoming: &Incoming) -> Result<u64, ReadError> {
    if incoming.header("transfer-encoding").is_some() {
        return Err(ReadError::Refused(
            411,
            "a chunked body is not accepted: send it with a Content-Length".into(),
        ));
    }
    let mut lengths = incoming
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<u64>());
    let first = match lengths.next() {
        None => return Ok(0),
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(bad("a Content-Length that is not a number")),
    };
    match lengths.all(|l| l.as_ref().is_ok_and(|&n| n == first)) {
        true => Ok(first),
        false => Err(bad("Content-Length headers that disagree")),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes one response in one write (head and body together: no wait on Nagle's algorithm);
/// a file body is streamed after the head, never read whole into memory.
pub(crate) fn write_response(
    stream: &mut TcpStream,
    response: &veles_http::Response,
    keep_alive: bool,
) -> io::Result<()> {
    let file = match &response.file {
        None => None,
        // Gone since the route answered (a concurrent delete): answered as the route would now.
        Some(path) => match std::fs::File::open(path).and_then(|f| Ok((f.metadata()?.len(), f))) {
            Ok(opened) => Some(opened),
            Err(e) => {
                let error = veles_http::Response::error(404, &format!("{}: {e}", path.display()));
                return write_response(stream, &error, keep_alive);
            }
        },
    };
    let len = file
        .as_ref()
        .map_or(response.body.len() as u64, |(len, _)| *len);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        len,
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(&response.body);
    stream.write_all(&out)?;
    if let Some((len, file)) = file {
        // Exactly the length announced, even if the file grew meanwhile.
        let copied = io::copy(&mut io::Read::take(file, len), stream)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was sent",
            ));
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Incoming, ReadError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn heads_are_parsed_and_malformed_ones_refused() {
        let i = head("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\napi-key: k\r\n\r\n")
            .unwrap();
        assert_eq!(
            (i.method.as_str(), i.target.as_str(), i.keep_alive),
            ("POST", "/a?b=1", true)
        );
        assert_eq!(i.header("API-KEY"), Some("k"));
        assert_eq!(body_length(&i).unwrap(), 3);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            !head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        for bad in [
            "GET /\r\n\r\n",
            "GET / HTTP/1.1 x\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET a HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert!(
                matches!(head(bad), Err(ReadError::Refused(400, _))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            head("GET / HTTP/2.0\r\n\r\n"),
            Err(ReadError::Refused(505, _))
        ));
        let two = head("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").unwrap();
        assert!(matches!(body_length(&two), Err(ReadError::Refused(400, _))));
        let chunked = head("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(matches!(
            body_length(&chunked),
            Err(ReadError::Refused(411, _))
        ));
    }
}
