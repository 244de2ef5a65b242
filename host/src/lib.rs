//! The Veles host library, for embedders: runs the Veles component under wasmtime with only
//! its database directory preopened, a memory cap and a per-call deadline; and the same
//! operations natively, behind one [`Backend`] trait. The `veles` CLI (`src/cli/`, the
//! binary's own modules) is built on it and is not part of this library.

pub mod backend;
pub mod runtime;
#[doc(hidden)]
pub mod wit;

pub use backend::{Backend, ComponentBackend, HostError, HostResult, NativeBackend, OpenOptions};
pub use runtime::{COMPONENT_WASM, Interruption, Limits, Mount, Origin, Runtime};
