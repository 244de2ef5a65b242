//! Qdrant's REST API (the routes and JSON shapes of what Veles has) over a
//! [`veles::Database`], as one transport-agnostic router: a request's method, path, query
//! string and body in, a status and a JSON body out. `veles serve` carries it over HTTP/1.1
//! natively; the same router is written once for every transport.
//!
//! - `router.rs`: [`Router`], [`Request`], [`Response`]: routing, the API key, timing.
//! - `reply.rs`: Qdrant's envelope (`{"result", "status", "time"}`) and its errors, with the
//!   status code of each engine error.
//! - `filter.rs`: Qdrant's filter JSON translated to a [`veles::Filter`], refusing (400,
//!   naming the field) what Veles cannot do.
//! - `json.rs`: the shared request parts: ids, vectors, points, `with_payload`.
//! - `collections.rs`: create, info, list, exists, delete; payload indexes.
//! - `points.rs`: upsert, get, delete, payload updates, scroll, count.
//! - `search.rs`: search, search batches and `query` (prefetch legs fused by RRF or DBSF).
//! - `snapshots.rs`: collection snapshots: create, list, download, delete, recover.
//! - `tar.rs`: a snapshot's file, a tar archive of a one-collection database.
//! - `metrics.rs`: the counters `/metrics` prints in Prometheus' text format.

#![warn(missing_docs)]

mod collections;
mod filter;
mod json;
mod metrics;
mod points;
mod reply;
mod router;
mod search;
mod snapshots;
mod tar;

pub use router::{DEFAULT_TIME_LIMIT, MAX_BODY_BYTES, Request, Response, Router};
