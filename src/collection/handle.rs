//! The collection handle: what a caller holds, and the lock around the state.

use super::state::State;
use super::types::Stats;
use super::writer::Writer;
use crate::config::CollectionConfig;
use crate::error::{Error, Result};
use crate::index::Scratch;
use crate::index::hnsw::Graph;
use crate::region::Directory;
use crate::vectors::Codec;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A handle on a collection. Cheap to clone; all clones see the same collection. Reads run
/// in parallel and never wait for the graph's catch-up, a checkpoint or a compaction (see
/// `writer.rs`); writes are serialised.
#[derive(Clone)]
pub struct Collection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish()
    }
}

/// Where a collection asks for its waiting points to be linked in the background (the
/// database's linker thread, `linker.rs`).
pub(crate) trait LinkRequests: Send + Sync {
    /// Queues `c`'s turn (the caller asks once until the turn ends).
    fn request(&self, c: Collection);
}

struct Shared {
    name: String,
    config: CollectionConfig,
    codec: Codec,
    /// The writer mutex (see `writer.rs`), with the working memory of inserts.
    writer: Mutex<Scratch>,
    /// `None` once the collection was dropped. A writer waiting for it stops new readers
    /// from taking it (parking_lot's policy; std's leaves the policy to the platform, and on
    /// Linux a reader searching back to back kept a writer out for tens of milliseconds).
    state: RwLock<Option<State>>,
    /// The database's background linker, when it has one (`linker.rs`).
    linker: OnceLock<Arc<dyn LinkRequests>>,
    /// True while a request of this collection sits in the linker's queue or is worked on.
    queued: AtomicBool,
    /// Writers waiting for the writer mutex: the background linker steps aside for them.
    writers: AtomicUsize,
    /// When the last write or flush ended ([`since_start`]): the background linker waits for
    /// a pause in writes.
    last_write: AtomicU64,
}

/// Nanoseconds since the first call in this process: a clock atomics can hold.
fn since_start() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    /// The writer's hold with the writer mutex's guard.
    fn hold<'a>(&'a self, scratch: std::sync::MutexGuard<'a, Scratch>) -> Writer<'a> {
        Writer {
            state: &self.state,
            name: &self.name,
            scratch,
        }
    }
}

impl Drop for Shared {
    /// A clean close (the last handle dropped): checkpoints when a reopen would otherwise
    /// replay many points onto the waiting list (`linker.rs`). A failure here is left for the
    /// next open's recovery to handle, as a crash would be: nothing acknowledged depends on it.
    fn drop(&mut self) {
        if self.state.get_mut().is_none() {
            return;
        }
        let scratch = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.hold(scratch).close_checkpoint();
    }
}

impl Collection {
    pub(super) fn from_state(name: &str, config: CollectionConfig, state: State) -> Collection {
        Collection {
            shared: Arc::new(Shared {
                name: name.to_string(),
                codec: state.codec,
                config,
                writer: Mutex::new(Scratch::default()),
                state: RwLock::new(Some(state)),
                linker: OnceLock::new(),
                queued: AtomicBool::new(false),
                writers: AtomicUsize::new(0),
                last_write: AtomicU64::new(since_start()),
            }),
        }
    }

    /// Lets the database's background linker link this collection (`linker.rs`).
    pub(crate) fn attach_linker(&self, queue: Arc<dyn LinkRequests>) {
        let _ = self.shared.linker.set(queue);
    }

    pub(super) fn linker(&self) -> Option<&Arc<dyn LinkRequests>> {
        self.shared.linker.get()
    }

    /// Sets whether a linker request is queued; returns what it was.
    pub(super) fn mark_queued(&self, queued: bool) -> bool {
        self.shared.queued.swap(queued, Ordering::AcqRel)
    }

    /// True while a writer waits for the writer mutex.
    pub(super) fn writers_waiting(&self) -> bool {
        self.shared.writers.load(Ordering::Acquire) > 0
    }

    /// Notes that a write or flush just ended.
    fn wrote(&self) {
        self.shared
            .last_write
            .store(since_start(), Ordering::Release);
    }

    /// How long ago the last write or flush ended.
    pub(super) fn since_last_write(&self) -> std::time::Duration {
        let last = self.shared.last_write.load(Ordering::Acquire);
        std::time::Duration::from_nanos(since_start().saturating_sub(last))
    }

    /// The writer's hold if no one has it now (the background linker's way in).
    pub(super) fn try_writer(&self) -> Option<Writer<'_>> {
        let scratch = match self.shared.writer.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(self.shared.hold(scratch))
    }

    /// Checkpoints if a clean close would (see `Drop`), reporting what fails: what
    /// [`crate::Database::close`] calls for each collection.
    pub(crate) fn close_checkpoint(&self) -> Result<()> {
        self.writer().close_checkpoint()
    }

    pub(super) fn codec(&self) -> Codec {
        self.shared.codec
    }

    /// The state, for an open that replaces it (`open.rs`).
    pub(super) fn state(&self) -> &RwLock<Option<State>> {
        &self.shared.state
    }

    pub(super) fn not_found(&self) -> Error {
        Error::CollectionNotFound(self.shared.name.clone())
    }

    /// Runs `f` on the state under the read lock. On a read-only open beside a writer in
    /// another process, `f` runs between two readings of the rewrite sequence
    /// (`rewrites.rs`); unless both still hold the value the view was taken at, what `f`
    /// read may have been rewritten, so the view is opened again and `f` runs again.
    pub(super) fn with_read<T>(&self, mut f: impl FnMut(&State) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            {
                let g = self.shared.state.read();
                let st = g.as_ref().ok_or_else(|| self.not_found())?;
                let Some(rewrites) = st.rewrites.as_ref().filter(|_| st.options.read_only) else {
                    return f(st);
                };
                let before = rewrites.settled(|| st.writer_gone())?;
                if before == rewrites.taken() {
                    let out = f(st);
                    if rewrites.unchanged()? {
                        return out;
                    }
                }
                if tries >= super::rewrites::READER_TRIES {
                    return Err(super::rewrites::busy(&st.path));
                }
            }
            self.refresh()?;
        }
    }

    /// The writer's hold (see `writer.rs`), whatever the open's mode.
    pub(super) fn writer(&self) -> Writer<'_> {
        self.shared.writers.fetch_add(1, Ordering::AcqRel);
        let scratch = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.writers.fetch_sub(1, Ordering::AcqRel);
        self.shared.hold(scratch)
    }

    /// The writer's hold for a write: refused on a read-only open and after a storage
    /// failure.
    pub(super) fn write_hold(&self) -> Result<Writer<'_>> {
        let mut w = self.writer();
        w.writable()?;
        Ok(w)
    }

    /// Runs the write `f` in one switch (readers see all of it or none), then what follows a
    /// write (the graph's catch-up, a checkpoint) in steps beside readers.
    pub(super) fn with_write<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut w = self.write_hold()?;
        let out = w.write(|st, _| f(st))?;
        w.after_write()?;
        let waiting = w.read(|st, _| Ok(st.unindexed.len()))?;
        drop(w);
        self.wrote();
        self.ask_linker(waiting);
        Ok(out)
    }

    /// Drops the in-memory state; every later call reports the collection as not found.
    pub(crate) fn close(&self) {
        let _writer = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.shared.state.write().take();
        drop(old);
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &CollectionConfig {
        &self.shared.config
    }

    /// Number of live points.
    pub fn len(&self) -> Result<usize> {
        self.with_read(|st| Ok(st.ids.len()))
    }

    /// True when it holds no live point.
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// The points with these ids, in order (`None` where absent). Cosine vectors come back
    /// normalised; binary vectors as 0.0/1.0. Each vector is checked against its checksum.
    pub fn get(&self, ids: &[u64]) -> Result<Vec<Option<super::Point>>> {
        self.get_with(ids, super::Include::ALL)
    }

    /// [`Collection::get`], returning only what `include` asks for (a vector left out is
    /// empty, a payload left out `None`).
    pub fn get_with(
        &self,
        ids: &[u64],
        include: super::Include,
    ) -> Result<Vec<Option<super::Point>>> {
        self.with_read(|st| {
            let mut budget = super::budget::Budget::default();
            ids.iter()
                .map(|&id| match st.ids.slot(id) {
                    Some(slot) => {
                        budget.spend(st.read_size(slot, include))?;
                        st.point(id, slot, include).map(Some)
                    }
                    None => Ok(None),
                })
                .collect()
        })
    }

    /// The durability barrier: when it returns `Ok`, every write acknowledged before the call
    /// survives a crash or power loss. One log sync covers all of them.
    pub fn flush(&self) -> Result<()> {
        let mut w = self.write_hold()?;
        w.flush()?;
        if w.read(|st, _| Ok(st.options.linking.effective() == super::Linking::AtFlush))? {
            w.link_whole_steps()?;
        }
        w.after_write()?;
        drop(w);
        self.wrote();
        Ok(())
    }

    /// Copies the collection's files into `dest` at `path` (a directory that exists and is
    /// empty), consistently: writes wait meanwhile, and an open for writing first flushes, so
    /// the copy holds every write acknowledged before the call. The checkpoint goes last; the
    /// copy opens like the original after a crash at the moment of the flush. Returns the
    /// bytes copied.
    pub(crate) fn copy_to(&self, dest: &dyn Directory, path: &str) -> Result<u64> {
        let mut w = self.writer();
        if !w.read(|st, _| Ok(st.options.read_only))? {
            w.flush()?;
        }
        // Readers go on meanwhile: the writer mutex keeps the files as they are.
        w.read(|st, _| {
            let mut held = vec![st.wal.held(), st.payload_file.held()];
            held.extend(st.vectors.file.held());
            Ok(super::files::copy_collection_files(
                st.dir.as_ref(),
                &st.path,
                dest,
                path,
                &held,
            )?)
        })
    }

    /// Sizes, files, the graph's state and what the last open's recovery did.
    pub fn stats(&self) -> Result<Stats> {
        self.with_read(|st| {
            Ok(Stats {
                len: st.ids.len(),
                dimension: self.shared.config.dimension,
                metric: self.shared.config.metric,
                slots: st.ids.slots(),
                free_slots: st.ids.free_slots(),
                wal_bytes: st.wal.len(),
                vector_file_bytes: st.vectors.file.len(),
                unflushed: !st.options.read_only
                    && (!st.wal.is_synced() || st.vectors.has_pending()),
                generation: st.generation,
                recovery: st.recovery.clone(),
                graph_nodes: st.graph.as_ref().map_or(0, Graph::nodes),
                unindexed: st.unindexed.len(),
                payload_bytes: st.payloads.live_bytes() as u64,
                payload_memory: st.payloads.memory() as u64,
                payload_file_bytes: st.payload_file.end(),
                indexes: st.indexes.declared().len(),
            })
        })
    }
}

// Handles are shared across threads (a host serves requests from many).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Collection>();
};
