//! The Veles host: runs the Veles component under wasmtime with only its database directory
//! preopened, a memory cap and a per-call deadline; and the same operations natively, behind
//! one [`Backend`] trait. The `veles` CLI is built on it.

/// `println!` that returns an error instead of panicking when stdout is closed or full
/// (`veles info | head -1`, `> /dev/full`); the CLI ends quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout())?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($t)*)?
    }};
}

pub mod backend;
pub mod bench;
pub mod data;
pub mod demo;
pub mod npy;
pub mod plot;
pub mod progress;
pub mod runtime;
#[doc(hidden)]
pub mod wit;

pub use backend::{Backend, ComponentBackend, HostError, HostResult, NativeBackend, OpenOptions};
pub use runtime::{COMPONENT_WASM, Interruption, Limits, Mount, Origin, Runtime};
