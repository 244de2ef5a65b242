//! The write path.
//!
//! It keeps one rule (write-ahead): *bytes that the last checkpoint needs change on disk only
//! after the log record that explains the change is durable*. An upsert appends one log
//! record and updates the in-memory id map and payloads at once. Its vector goes straight to
//! the vector file when the slot is not live in the last checkpoint ("pinned"): recovery
//! either replays the record, which allocates the same slot (allocation is deterministic) and
//! rewrites it, or finds the slot free. A write to a pinned slot (an update in place, or the
//! reuse of a slot freed since the checkpoint) is staged until the next `flush` has synced
//! the log; releases of freed slots wait for the same point. So after any crash, the pinned
//! slots hold what the checkpoint says, except for changes whose records are durable, and
//! replay rewrites those.

use super::handle::Collection;
use super::state::State;
use super::types::Point;
use crate::config::CollectionConfig;
use crate::error::{Error, Limit, Result, StorageError};
use crate::payloads::json as payload;
use crate::record::{self, KIND_DELETE, KIND_PAYLOAD, KIND_UPSERT, KIND_UPSERT_SPARSE};
use crate::vectors::Codec;
use crate::wal::frame::MAX_RECORD;

/// One point as the state applies it: its vector already encoded as slot bytes.
pub(super) struct Put {
    pub(super) id: u64,
    pub(super) vector: Vec<u8>,
    /// Compact JSON text, as logged.
    pub(super) payload: Option<String>,
    /// Sparse vectors by field place in the config.
    pub(super) sparse: Vec<(u16, crate::SparseVector)>,
}

/// Validates and encodes a batch once: the log record, and the same points as the state
/// applies them.
fn encode_upsert(
    codec: Codec,
    config: &CollectionConfig,
    points: &[Point],
) -> Result<(u8, Vec<u8>, Vec<Put>)> {
    let mut rec = Vec::new();
    let mut puts = Vec::with_capacity(points.len());
    let with_sparse = points.iter().any(|p| !p.sparse.is_empty());
    record::begin(&mut rec, points.len());
    for p in points {
        let text = p
            .payload
            .as_ref()
            .map(|v| payload::encode(Some(p.id), v))
            .transpose()?;
        let mut vector = Vec::with_capacity(codec.slot_size());
        codec.encode(Some(p.id), &p.vector, &mut vector)?;
        record::push_point(&mut rec, p.id, text.as_deref(), &vector);
        let sparse = sparse_of(config, p)?;
        if with_sparse {
            record::push_sparse(&mut rec, &sparse);
        }
        check_record_size(&rec)?;
        puts.push(Put {
            id: p.id,
            vector,
            payload: text,
            sparse,
        });
    }
    let kind = match with_sparse {
        true => KIND_UPSERT_SPARSE,
        false => KIND_UPSERT,
    };
    Ok((kind, rec, puts))
}

/// A point's sparse vectors by field place, each checked: a declared field, named once, a
/// valid vector.
fn sparse_of(config: &CollectionConfig, p: &Point) -> Result<Vec<(u16, crate::SparseVector)>> {
    let mut out: Vec<(u16, crate::SparseVector)> = Vec::with_capacity(p.sparse.len());
    for (name, v) in &p.sparse {
        let what = format!("point {}, sparse field {name:?}", p.id);
        let Some(field) = config.sparse_field(name) else {
            return Err(Error::InvalidArgument(format!(
                "{what}: the collection declares no such sparse field"
            )));
        };
        if out.iter().any(|(f, _)| usize::from(*f) == field) {
            return Err(Error::InvalidArgument(format!("{what}: given twice")));
        }
        v.validate(&what)?;
        out.push((field as u16, v.clone()));
    }
    out.sort_by_key(|(f, _)| *f);
    Ok(out)
}

fn check_record_size(rec: &[u8]) -> Result<()> {
    if rec.len() > MAX_RECORD as usize {
        return Err(Error::LimitExceeded {
            limit: Limit::BatchBytes,
            max: MAX_RECORD as u64,
            actual: rec.len() as u64,
        });
    }
    Ok(())
}

impl Collection {
    /// Inserts or replaces points, atomically as a batch: either every point is validated and
    /// logged, or (on any error) nothing changes. A later point in the batch with the same id
    /// wins. Visible to reads at once; durable after [`Collection::flush`].
    pub fn upsert(&self, points: &[Point]) -> Result<()> {
        let (kind, rec, puts) = encode_upsert(self.codec(), self.config(), points)?;
        self.with_write(|st| {
            if puts.is_empty() {
                return Ok(());
            }
            st.reserve_for(&puts, rec.len())?;
            st.guard(|st| {
                st.wal.append(kind, &rec)?;
                st.put_all(puts)
            })
        })
    }

    /// Deletes points; returns how many existed. Durable after [`Collection::flush`].
    pub fn delete(&self, ids: &[u64]) -> Result<usize> {
        self.with_write(|st| st.delete(ids))
    }
}

impl State {
    /// Room for the new points of `puts` (logged as `rec_len` bytes), made before anything is
    /// logged: in the vector file and the SQ8 copy (a file may be longer than its slots), the
    /// payload arena, and the log's frame buffer; and, where memory is capped, room left for
    /// what a checkpoint and a reopen of the grown collection need ([`State::headroom`]).
    /// Where that memory cannot be had, the batch is refused with `LimitExceeded { limit:
    /// MemoryBytes }` and nothing changes; any other failure latches.
    fn reserve_for(&mut self, puts: &[Put], rec_len: usize) -> Result<()> {
        let new = puts.iter().filter(|p| !self.ids.contains(p.id)).count() as u32;
        let free = u32::try_from(self.ids.free_slots()).unwrap_or(u32::MAX);
        let slots = self.ids.slots().saturating_add(new.saturating_sub(free));
        let text: usize = puts
            .iter()
            .filter_map(|p| p.payload.as_ref())
            .map(String::len)
            .sum();
        let refused = |st: &State| Error::LimitExceeded {
            limit: Limit::MemoryBytes,
            max: st.memory_bytes(None),
            actual: st.memory_bytes(Some(slots)) + text as u64,
        };
        match self.vectors.reserve(slots) {
            Ok(()) => {}
            Err(e) if crate::region::is_out_of_memory(&e) => return Err(refused(self)),
            Err(e) => return Err(self.latch(e)),
        }
        if self.payloads.reserve(text, slots as usize).is_err()
            || self.wal.reserve(rec_len).is_err()
            || !self.headroom(slots, rec_len)
        {
            return Err(refused(self));
        }
        Ok(())
    }

    /// Room in the payload arena and the log's frame buffer for a payload record of
    /// `rec_len` bytes holding `text` bytes of payloads, and headroom as for an upsert.
    fn reserve_payloads(&mut self, text: usize, rec_len: usize) -> Result<()> {
        let slots = self.ids.slots();
        if self.payloads.reserve(text, slots as usize).is_err()
            || self.wal.reserve(rec_len).is_err()
            || !self.headroom(slots, rec_len)
        {
            return Err(Error::LimitExceeded {
                limit: Limit::MemoryBytes,
                max: self.memory_bytes(None),
                actual: self.memory_bytes(None) + text as u64,
            });
        }
        Ok(())
    }

    /// Bytes of memory the collection holds now (vectors, SQ8 copy, payloads), and with
    /// `slots` slots.
    fn memory_bytes(&self, slots: Option<u32>) -> u64 {
        self.vectors.memory_bytes(slots) + self.payloads.memory() as u64
    }

    /// True when a write that leaves `slots` slots and appends `rec_len` bytes to the log
    /// still leaves the memory that the maintenance of the grown collection needs at once
    /// besides what it holds: the graph over those slots growing as it catches up and encoded
    /// whole at a checkpoint (or read whole beside its decoded form at a reopen), the
    /// checkpoint's own bytes, and the log, which a reopen reads whole. Only where memory is
    /// capped (the component: a failed allocation there is a trap); natively there is no cap
    /// and nothing to probe.
    fn headroom(&self, slots: u32, rec_len: usize) -> bool {
        if !cfg!(target_family = "wasm") {
            return true;
        }
        let m = self.config.m as usize;
        // The level-0 block of a node and its level, with an eighth for the upper layers.
        let graph = slots as usize * (1 + (2 * m + 1) * 4) * 9 / 8;
        let checkpoint = self.ids.len() * 16 + (1 << 20);
        let log = self.wal.len() as usize + rec_len;
        let need = 2 * graph + checkpoint + log;
        Vec::<u8>::new().try_reserve_exact(need).is_ok()
    }

    /// Deletes the points that exist among `ids` (one log record); returns how many.
    pub(super) fn delete(&mut self, ids: &[u64]) -> Result<usize> {
        let mut present: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&id| self.ids.contains(id))
            .collect();
        present.sort_unstable();
        present.dedup();
        if present.is_empty() {
            return Ok(0);
        }
        let mut rec = Vec::with_capacity(4 + 8 * present.len());
        record::begin(&mut rec, present.len());
        for &id in &present {
            record::push_id(&mut rec, id);
        }
        self.guard(|st| st.wal.append(KIND_DELETE, &rec).map(drop))?;
        for &id in &present {
            self.remove(id);
        }
        Ok(present.len())
    }

    /// Logs and applies whole new payloads (compact JSON text) of the points that exist.
    pub(super) fn overwrite_payloads(
        &mut self,
        texts: Vec<(u64, Option<String>)>,
    ) -> Result<usize> {
        let texts: Vec<_> = texts
            .into_iter()
            .filter(|(id, _)| self.ids.contains(*id))
            .collect();
        if texts.is_empty() {
            return Ok(0);
        }
        let mut rec = Vec::new();
        record::begin(&mut rec, texts.len());
        for (id, t) in &texts {
            record::push_point(&mut rec, *id, t.as_deref(), &[]);
        }
        check_record_size(&rec)?;
        let text = texts
            .iter()
            .filter_map(|(_, t)| t.as_ref())
            .map(String::len)
            .sum();
        self.reserve_payloads(text, rec.len())?;
        self.guard(|st| st.wal.append(KIND_PAYLOAD, &rec).map(drop))?;
        for (id, t) in &texts {
            self.apply_payload(*id, t.as_deref());
        }
        Ok(texts.len())
    }

    /// Sets the payload of `id`, if it exists (a logged payload record, or its replay).
    pub(super) fn apply_payload(&mut self, id: u64, text: Option<&str>) {
        if let Some(slot) = self.ids.slot(id) {
            self.set_payload(id, slot, text, true);
        }
    }
}

impl State {
    /// `put` for each point of a batch, in order; their slots wait for the graph (even when a
    /// put fails part way: what was put waits).
    pub(super) fn put_all(
        &mut self,
        points: impl IntoIterator<Item = Put>,
    ) -> Result<(), StorageError> {
        for p in points {
            let slot = self.put(p)?;
            self.unindexed.add(slot);
            self.put_since_checkpoint += 1;
        }
        self.rewrite_end()
    }

    /// Sets a point: in memory, and in the vector file unless the slot is pinned (see the
    /// module docs). Returns the slot.
    fn put(&mut self, p: Put) -> Result<u32, StorageError> {
        let high = self.ids.slots();
        let slot = self.ids.assign(p.id);
        // A read-only open keeps replayed vectors in memory.
        let stage = self.options.read_only || self.ids.is_pinned(slot);
        if !stage && slot < high {
            // A slot that held a point before is written in place: a reader in another
            // process may read it (`rewrites.rs`).
            self.rewrite_begin()?;
        }
        self.vectors.put(slot, p.vector, stage, self.ids.slots())?;
        self.set_payload(p.id, slot, p.payload.as_deref(), true);
        if !self.sparse.is_empty() {
            self.sparse.set(slot, p.sparse);
        }
        Ok(slot)
    }

    /// Removes `id`, in memory; its slot is released at the next `apply_staged`.
    pub(super) fn remove(&mut self, id: u64) {
        if let Some(slot) = self.ids.remove(id) {
            self.unindexed.remove(slot);
            self.vectors.release(slot);
            self.set_payload(id, slot, None, false);
            self.sparse.remove(slot);
        }
    }

    /// Writes staged slot bytes and releases freed slots. Only called right after the log
    /// records behind them are durable.
    pub(super) fn apply_staged(&mut self) -> Result<(), StorageError> {
        let (ids, graph, nodes) = (&self.ids, &self.graph, &self.virtual_nodes);
        // Without a graph (a backend that cannot lend its bytes) slots are kept as a graph
        // would keep them, so every backend writes the same files.
        let in_graph = |s| graph.as_ref().map_or(nodes.contains(s), |g| g.contains(s));
        if self.vectors.rewrites_pending(in_graph)
            && let Some(r) = self.rewrites.as_mut()
            && !self.options.read_only
        {
            r.begin()?;
        }
        self.vectors
            .apply(ids.slots(), |s| ids.is_free(s), in_graph)?;
        self.rewrite_end()
    }

    /// Opens a rewrite of slot bytes in place (see `rewrites.rs`), for a writer.
    pub(super) fn rewrite_begin(&mut self) -> Result<(), StorageError> {
        match self.rewrites.as_mut() {
            Some(r) if !self.options.read_only => r.begin(),
            _ => Ok(()),
        }
    }

    /// Ends the open rewrite, if any.
    pub(super) fn rewrite_end(&mut self) -> Result<(), StorageError> {
        match self.rewrites.as_mut() {
            Some(r) if !self.options.read_only => r.end(),
            _ => Ok(()),
        }
    }
}
