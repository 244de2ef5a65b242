//! Qdrant's response envelope and its errors: `{"result": …, "status": "ok", "time": s}`, or
//! `{"status": {"error": "…"}, "time": s}` with the status code of the failure.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A failed request: the HTTP status and the message Qdrant's clients show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl ApiError {
    /// 400: what the client sent cannot be done as sent.
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: format!("Wrong input: {}", message.into()),
        }
    }

    /// 400 for a part of Qdrant's API Veles does not have, naming it.
    pub(crate) fn unsupported(what: &str) -> ApiError {
        ApiError::bad(format!("`{what}` is not supported by this server (veles)"))
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: format!("Not found: {}", message.into()),
        }
    }
}

/// Every engine error, with the status Qdrant gives its like: what the request got wrong is
/// 400, a missing collection 404, a name taken 409, a database opened read-only 403, and only
/// storage failures 500.
impl From<veles::Error> for ApiError {
    fn from(e: veles::Error) -> ApiError {
        use veles::Error as E;
        let status = match &e {
            E::CollectionNotFound(_) => 404,
            E::CollectionExists(_) => 409,
            E::ReadOnly => 403,
            E::Storage(_) => 500,
            _ => 400,
        };
        let message = match status {
            404 => format!("Not found: {e}"),
            500 => format!("Service internal error: {e}"),
            _ => format!("Wrong input: {e}"),
        };
        ApiError { status, message }
    }
}

pub(crate) type ApiResult<T = Value> = Result<T, ApiError>;

/// The success envelope around `result`.
pub(crate) fn ok(result: Value, seconds: f64) -> Value {
    json!({"result": result, "status": "ok", "time": seconds})
}

/// The error envelope.
pub(crate) fn error(e: &ApiError, seconds: f64) -> Value {
    json!({"status": {"error": e.message}, "time": seconds})
}

/// What a write answers: flushed (`wait=true`) or only applied.
pub(crate) fn update(waited: bool) -> Value {
    let status = if waited { "completed" } else { "acknowledged" };
    json!({"operation_id": 0, "status": status})
}

/// When a request must be answered by: the server's time limit, or less if the request's
/// `timeout` (seconds, as Qdrant takes it) asks for less.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    limit: Duration,
}

impl Deadline {
    pub(crate) fn new(start: Instant, limit: Duration) -> Deadline {
        Deadline { start, limit }
    }

    /// 503 once the time is up: work that can stop between parts (the queries of a batch)
    /// asks before each part. A write, once begun, is atomic and finishes.
    pub(crate) fn check(&self) -> ApiResult<()> {
        match self.start.elapsed() > self.limit {
            false => Ok(()),
            true => Err(ApiError {
                status: 503,
                message: format!(
                    "Timeout error: the request ran past its time limit of {:.3} s",
                    self.limit.as_secs_f64()
                ),
            }),
        }
    }
}
