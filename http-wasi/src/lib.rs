//! The router of `veles-http` (Qdrant's REST API) as a `wasi:http/incoming-handler`
//! component, so a stock runtime serves a database with no host of ours:
//!
//! ```text
//! wasmtime serve --dir DB::/ veles_http_wasi.wasm
//! ```
//!
//! A runtime may give every request a fresh instance (`wasmtime serve` does for WASI 0.2
//! components): each request opens the database at the guest's `/`, answers, and closes it.
//! Reads open it read-only (any number at once, beside a writer: docs/format.md,
//! Concurrency). Writes take the writer's lease (`lease.rs`), since WASI has no file locks and
//! no embedder of ours takes `LOCK`, then flush before they answer: every acknowledged write is
//! durable, whatever `wait` says, because nothing outlives the instance to flush it later.
//!
//! - `transport.rs`: one `wasi:http` request to the router's [`veles_http::Request`] and its
//!   answer back.
//! - `lease.rs`: the one-writer lease on `<root>/LEASE` (created exclusively, with an expiry).

#![cfg(target_family = "wasm")]

mod lease;
mod transport;
