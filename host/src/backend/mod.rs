//! One interface over the engine, whether it runs natively (linked as a library) or as the
//! component under wasmtime. The CLI and the equivalence tests use it.

//!
//! - `api.rs`: the [`Backend`] trait, [`HostError`], and opening either backend.
//! - `native.rs`: [`NativeBackend`], the library called directly.
//! - `component.rs`: [`ComponentBackend`], the component under wasmtime; its conversions are
//!   the one table in `crate::wit`.

mod api;
mod component;
mod native;

pub use api::{Backend, HostError, HostResult, OpenOptions, open, open_with};
pub use component::ComponentBackend;
pub use native::{NativeBackend, options_from_env};
