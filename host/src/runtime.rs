//! Running the Veles component under wasmtime.
//!
//! One [`Runtime`] per process: the engine, the compiled component (cached on disk in its
//! precompiled form) and a linker with WASI p2. One store per opened database
//! ([`crate::ComponentBackend`]): its WASI context preopens only that database's directory,
//! caps the guest's memory, and every call runs under an epoch deadline (unless the runtime
//! was made without them: [`Interruption::Off`]).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({ path: "../wit", world: "veles" });

/// The component, built by `build.rs` and embedded in the binary.
pub static COMPONENT_WASM: &[u8] = include_bytes!(env!("VELES_COMPONENT_PATH"));

/// How long one epoch tick lasts: the resolution of call deadlines.
const TICK: Duration = Duration::from_millis(10);

/// A host directory the guest sees, at `guest` (`.` for the database directory).
#[derive(Debug, Clone)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    /// False: the guest can read, and nothing else (what `veles check` gives it).
    pub writable: bool,
}

/// Resource limits for one database's store.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// Longest a single call may run before it is stopped with an error; `None`: no limit.
    /// A runtime without deadlines ([`Interruption::Off`]) accepts only `None`.
    pub call_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 4 << 30,
            call_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// Whether a runtime's machine code can stop a call that runs too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interruption {
    /// wasmtime's epoch interruption: a check at every loop iteration and call, so a call
    /// stops at its [`Limits::call_timeout`].
    #[default]
    Deadlines,
    /// No checks compiled in: faster code, and a call runs until it returns. For hosts that
    /// trust the engine to finish (it is this crate's own component) and want its speed.
    Off,
}

/// Per-store host state: WASI context, resource table, limits.
pub struct HostState {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Where a runtime's machine code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Loaded from the compile cache (this file).
    Cache(PathBuf),
    /// Compiled now; saved to this cache file for the next start, if there is one.
    Compiled(Option<PathBuf>),
}

/// The engine, the compiled component and the linker, shared by every store.
pub struct Runtime {
    engine: Engine,
    component: Component,
    origin: Origin,
    linker: Linker<HostState>,
    interruption: Interruption,
    /// Keeps the epoch ticker thread running (with deadlines only).
    _ticker: Option<Arc<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VELES_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("veles"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/veles"))
}

impl Runtime {
    /// A runtime for the embedded component, with deadlines.
    pub fn new() -> Result<Runtime> {
        Self::with_component(COMPONENT_WASM)
    }

    /// A runtime for the embedded component that cannot stop a call ([`Interruption::Off`]).
    pub fn without_deadlines() -> Result<Runtime> {
        Self::with_interruption(COMPONENT_WASM, Interruption::Off)
    }

    /// A runtime for the embedded component that can enforce `limits`: with deadlines when
    /// they have a call timeout, else without ([`Interruption::Off`]).
    pub fn for_limits(limits: &Limits) -> Result<Runtime> {
        let interruption = match limits.call_timeout {
            Some(_) => Interruption::Deadlines,
            None => Interruption::Off,
        };
        Self::with_interruption(COMPONENT_WASM, interruption)
    }

    /// A runtime for the given component bytes, with deadlines.
    pub fn with_component(wasm: &[u8]) -> Result<Runtime> {
        Self::with_interruption(wasm, Interruption::Deadlines)
    }

    /// A runtime for the given component bytes whose code can, or cannot, be interrupted.
    pub fn with_interruption(wasm: &[u8], interruption: Interruption) -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(interruption == Interruption::Deadlines);
        config.wasm_component_model(true);
        // For profiling the guest: `VELES_PERF_MAP=1 perf record …` names its functions.
        if std::env::var_os("VELES_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let (component, origin) = load_component(&engine, wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;

        let ticker = match interruption {
            Interruption::Deadlines => Some(start_ticker(&engine)?),
            Interruption::Off => None,
        };
        Ok(Runtime {
            engine,
            component,
            origin,
            linker,
            interruption,
            _ticker: ticker,
        })
    }

    /// Whether this runtime's calls can be stopped at a deadline.
    pub fn interruption(&self) -> Interruption {
        self.interruption
    }

    /// Whether the component was compiled by this runtime or loaded from the cache.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// A store whose WASI context sees only `dir` (as the guest's `.`), and the component
    /// instantiated in it.
    pub fn instantiate(&self, dir: &Path, limits: &Limits) -> Result<(Store<HostState>, Veles)> {
        self.instantiate_with(
            &[Mount {
                host: dir.to_path_buf(),
                guest: ".".into(),
                writable: true,
            }],
            limits,
        )
    }

    /// A store whose WASI context sees only `mounts`, and the component instantiated in it.
    pub fn instantiate_with(
        &self,
        mounts: &[Mount],
        limits: &Limits,
    ) -> Result<(Store<HostState>, Veles)> {
        if self.interruption == Interruption::Off
            && let Some(timeout) = limits.call_timeout
        {
            bail!(
                "a call timeout ({timeout:?}) needs a runtime with deadlines; this one was made \
                 without them"
            );
        }
        let mut wasi = WasiCtxBuilder::new();
        // Must precede the preopens: each directory captures it. Without it every guest file
        // operation goes through a blocking-task pool (tens of microseconds each).
        wasi.allow_blocking_current_thread(true);
        for m in mounts {
            let perms = if m.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&m.host, &m.guest, perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open directory {}", m.host.display()))?;
        }
        let state = HostState {
            ctx: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(4)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(limits.call_timeout));
        let bindings = Veles::instantiate(&mut store, &self.component, &self.linker)?;
        Ok((store, bindings))
    }
}

/// A thread that advances the engine's epoch every [`TICK`]; it stops once the returned
/// handle (held by the runtime) is gone.
fn start_ticker(engine: &Engine) -> Result<Arc<()>> {
    let alive = Arc::new(());
    let weak: Weak<()> = Arc::downgrade(&alive);
    let ticking = engine.clone();
    std::thread::Builder::new()
        .name("veles-epoch".into())
        .spawn(move || {
            while weak.upgrade().is_some() {
                std::thread::sleep(TICK);
                ticking.increment_epoch();
            }
        })?;
    Ok(alive)
}

/// Epoch ticks for a timeout (at least one); no timeout: more ticks than a process lives
/// (and far from overflowing when added to the current epoch).
pub(crate) fn ticks(timeout: Option<Duration>) -> u64 {
    match timeout {
        Some(t) => (t.as_millis() / TICK.as_millis()).clamp(1, u64::MAX as u128 / 2) as u64,
        None => u64::MAX / 2,
    }
}

/// Compiles the component, or loads its precompiled form from the cache. The cache file name
/// carries a checksum of the wasm and of the engine's configuration; the file carries a CRC of
/// itself, checked before wasmtime is asked to trust it.
fn load_component(engine: &Engine, wasm: &[u8]) -> Result<(Component, Origin)> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let key = format!(
        "component-{:08x}-{}-{:016x}.cwasm",
        crc32fast::hash(wasm),
        wasm.len(),
        h.finish()
    );
    let cached = cache_dir().map(|d| d.join(key));
    if let Some(path) = &cached
        && let Ok(bytes) = std::fs::read(path)
        && bytes.len() > 4
    {
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() == crc {
            // SAFETY: the bytes were produced by `precompile_component` of an engine with the
            // same compatibility hash (the file name says so) and are intact (CRC checked);
            // the cache directory belongs to the user running this process.
            if let Ok(c) = unsafe { Component::deserialize(engine, body) } {
                return Ok((c, Origin::Cache(path.clone())));
            }
        }
    }
    let compiled = engine
        .precompile_component(wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the Veles component")?;
    // SAFETY: produced just now by this engine.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    // Best effort: a cache that cannot be written only costs the next start a compile.
    let saved = cached.filter(|path| write_cache(path, &compiled).is_ok());
    Ok((component, Origin::Compiled(saved)))
}

fn write_cache(path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut data = compiled.to_vec();
    data.extend_from_slice(&crc32fast::hash(compiled).to_le_bytes());
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, path)
}

/// Fails unless `dir` is a directory (or can be created as one).
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    ::veles::region::create_dir_all_durable(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}
