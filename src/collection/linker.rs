//! The graph keeping up by itself ([`Linking`](super::Linking)): natively a thread of the
//! database links the points waiting for a collection's graph, one step at a time, between
//! writes; elsewhere a flush links them; and a clean close checkpoints, so the next open loads
//! the graph instead of replaying those points onto the waiting list again.
//!
//! Every mode links *whole* steps of the oldest waiting points ([`LINK_BATCH`]), as a
//! foreground catch-up would: a step's slots are the first of the waiting list in write
//! order, which later writes append to and do not change, so for an append-only workload the
//! graph is the same whether the steps ran in the background, at a flush, or at a checkpoint.

use super::handle::{Collection, LinkRequests};
use super::unindexed::LINK_BATCH;
use super::writer::Writer;
use crate::error::Result;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long the background thread waits before looking again while a writer holds or wants
/// the collection: a writer is never kept waiting by more than the step in progress.
const STEP_ASIDE: Duration = Duration::from_millis(1);

/// The pause in writes the background thread waits for before a step: an import writing
/// batch after batch is never kept waiting by it (its graph catches up at
/// [`Options::max_unindexed`](super::Options) as before), and linking starts as soon as the
/// writes stop.
const QUIET: Duration = Duration::from_millis(20);

/// The collections that asked for linking, and whether the thread should stop.
#[derive(Default)]
pub(crate) struct Queue {
    waiting: Mutex<VecDeque<Collection>>,
    wake: Condvar,
    stop: AtomicBool,
}

impl LinkRequests for Queue {
    fn request(&self, c: Collection) {
        self.push(c);
    }
}

impl Queue {
    /// Queues `c` unless stopping. The stop flag is set under the same lock, so nothing is
    /// queued after the thread's last look: a queued handle would keep its collection (which
    /// holds this queue) alive for ever.
    fn push(&self, c: Collection) {
        let mut q = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if !self.stopping() {
            q.push_back(c);
            self.wake.notify_one();
        }
    }

    /// The next collection to link, or `None` once stopping.
    fn next(&self) -> Option<Collection> {
        let mut q = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.stopping() {
                q.clear();
                return None;
            }
            if let Some(c) = q.pop_front() {
                return Some(c);
            }
            q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// A database's background linking thread. Dropping it stops the thread after its current
/// step and waits for it, so no handle of the thread's outlives the database.
pub(crate) struct Linker {
    queue: Arc<Queue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Linker {
    /// Starts the thread; `None` where threads cannot be made (the collections then link at
    /// their bound, as [`Linking::Manual`](super::Linking::Manual)).
    pub(crate) fn start() -> Option<Linker> {
        let queue = Arc::new(Queue::default());
        let q = queue.clone();
        let thread = std::thread::Builder::new()
            .name("veles-linker".into())
            .spawn(move || {
                while let Some(c) = q.next() {
                    c.link_in_background(&q);
                }
            })
            .ok()?;
        Some(Linker {
            queue,
            thread: Some(thread),
        })
    }

    pub(crate) fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }
}

impl Drop for Linker {
    fn drop(&mut self) {
        let mut q = self.queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
        self.queue.stop.store(true, Ordering::Release);
        q.clear();
        drop(q);
        self.queue.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Collection {
    /// After a write: asks the background thread, if this collection has one, to link once
    /// a whole step waits. At most one request is queued per collection.
    pub(super) fn ask_linker(&self, waiting: usize) {
        if waiting < LINK_BATCH {
            return;
        }
        if let Some(queue) = self.linker()
            && !self.mark_queued(true)
        {
            queue.request(self.clone());
        }
    }

    /// The background thread's turn on this collection: whole steps while one waits, each
    /// taken once writes have paused for [`QUIET`] and no writer holds or wants the
    /// collection. Stops at a failure (the
    /// writer that meets it next reports it) and when the database closes.
    fn link_in_background(&self, queue: &Queue) {
        while !queue.stopping() {
            let quiet = self.since_last_write();
            if quiet < QUIET {
                std::thread::sleep(QUIET - quiet);
                continue;
            }
            if self.writers_waiting() {
                std::thread::sleep(STEP_ASIDE);
                continue;
            }
            let Some(mut w) = self.try_writer() else {
                std::thread::sleep(STEP_ASIDE);
                continue;
            };
            match w.link_whole_step() {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
        }
        self.mark_queued(false);
        // A write that came while this turn ended found the request still queued: look again.
        if let Ok(waiting) = self.waiting_for_graph()
            && !queue.stopping()
        {
            self.ask_linker(waiting);
        }
    }

    /// Points written but not linked into the graph yet.
    pub(super) fn waiting_for_graph(&self) -> Result<usize> {
        self.with_read(|st| Ok(st.unindexed.len()))
    }
}

impl Writer<'_> {
    /// Links one whole step when at least one waits; returns whether it did. The step that
    /// empties the waiting list re-links what the inserts left unreachable, as a catch-up
    /// does.
    pub(super) fn link_whole_step(&mut self) -> Result<bool> {
        self.writable()?;
        if self.read(|st, _| Ok(st.unindexed.len()))? < LINK_BATCH {
            return Ok(false);
        }
        let left = self.catch_up_step()?;
        if left == 0 {
            self.reconnect()?;
        }
        Ok(true)
    }

    /// [`Linking::AtFlush`](super::Linking::AtFlush): whole steps until fewer than one wait.
    pub(super) fn link_whole_steps(&mut self) -> Result<()> {
        while self.link_whole_step()? {}
        Ok(())
    }

    /// A clean close: checkpoints when a reopen would otherwise replay at least a step of
    /// points onto the waiting list and they are a sixteenth of the collection or more (a
    /// checkpoint rewrites the graph file whole; a few points are cheaper to replay).
    pub(super) fn close_checkpoint(&mut self) -> Result<()> {
        let worth = self.read(|st, _| {
            let put = st.put_since_checkpoint;
            Ok(st.options.checkpoint_at_close
                && !st.options.read_only
                && st.writable_storage().is_ok()
                && put >= LINK_BATCH
                && put.saturating_mul(16) >= st.ids.len())
        })?;
        if worth { self.checkpoint() } else { Ok(()) }
    }
}
