//! The vectors of a collection: the vector file, the slot writes waiting for their log record
//! to be durable, and the SQ8 copy.

use super::codec::{Codec, Query, with_f32};
use super::file::{PAGE, VectorFile};
use super::space::{SlotSpace, Sq8Space};
use super::sq8::{Sq8, quantize_into};
use crate::config::Metric;
use crate::error::StorageError;
use std::collections::{BTreeSet, HashMap};

/// Invariants:
/// - a live slot's current bytes are `staged[s]` if present, else in `file`.
/// - `staged` and `released` hold changes whose log records are appended but maybe not synced;
///   they reach `file` only in [`Store::apply`], called right after a log sync.
/// - `sq8`, when present, has the quantized form of every live slot's current bytes.
/// - a free slot that is still a graph node (a tombstone, which searches traverse) keeps its
///   bytes in `file` until it leaves the graph (a rebuild releases it then). So a search never
///   reads a released slot: on a full tmpfs, reading a punched page through the map is a
///   SIGBUS, and a tombstone's vector keeps routing searches as well as it did.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) file: VectorFile,
    codec: Codec,
    staged: HashMap<u32, Vec<u8>>,
    released: BTreeSet<u32>,
    sq8: Option<Sq8>,
}

impl Store {
    pub(crate) fn new(file: VectorFile, codec: Codec) -> Store {
        Store {
            file,
            codec,
            staged: HashMap::new(),
            released: BTreeSet::new(),
            sq8: None,
        }
    }

    /// True when writes wait for [`Store::apply`].
    pub(crate) fn has_pending(&self) -> bool {
        !self.staged.is_empty() || !self.released.is_empty()
    }

    pub(crate) fn is_staged(&self, slot: u32) -> bool {
        self.staged.contains_key(&slot)
    }

    /// Sets `slot` to `bytes`: staged when `stage` (the slot is pinned by the checkpoint, or
    /// the open is read-only), else written to the file at once. `slots` is the high-water mark.
    pub(crate) fn put(
        &mut self,
        slot: u32,
        bytes: Vec<u8>,
        stage: bool,
        slots: u32,
    ) -> Result<(), StorageError> {
        self.released.remove(&slot);
        if let Some(sq8) = self.sq8.as_mut() {
            sq8.set(slot, &bytes, slots as usize);
        }
        if stage {
            self.staged.insert(slot, bytes);
            Ok(())
        } else {
            self.file.reserve(slots)?;
            self.file.write(slot, &bytes)
        }
    }

    /// Forgets `slot`'s bytes; the slot is released at the next [`Store::apply`].
    pub(crate) fn release(&mut self, slot: u32) {
        self.staged.remove(&slot);
        self.released.insert(slot);
    }

    /// Writes staged bytes and releases freed slots. `is_free` says which slots are free
    /// at the moment, `in_graph` which are graph nodes: a freed slot that is still a node
    /// keeps its bytes (see the invariants), and page releases spare such slots. Only called
    /// right after the log records behind the changes are durable.
    pub(crate) fn apply(
        &mut self,
        slots: u32,
        is_free: impl Fn(u32) -> bool,
        in_graph: impl Fn(u32) -> bool,
    ) -> Result<(), StorageError> {
        self.file.reserve(slots)?;
        let releasable = |s: u32| is_free(s) && !in_graph(s);
        for slot in std::mem::take(&mut self.released) {
            if !in_graph(slot) {
                self.file.release(slot, releasable)?;
            }
        }
        let mut staged: Vec<(u32, Vec<u8>)> = self.staged.drain().collect();
        staged.sort_unstable_by_key(|(s, _)| *s);
        for (slot, bytes) in staged {
            self.file.write(slot, &bytes)?;
        }
        Ok(())
    }

    /// Releases `slots`, free slots that left the graph (its tombstones before a rebuild).
    /// `releasable` says which slots' pages may go. The delete records behind them are
    /// durable (they were applied).
    pub(crate) fn release_now(
        &mut self,
        slots: &[u32],
        releasable: impl Fn(u32) -> bool,
    ) -> Result<(), StorageError> {
        for &slot in slots {
            self.file.release(slot, &releasable)?;
        }
        Ok(())
    }

    /// A live slot's current bytes: its staged bytes, else read from the vector file into
    /// `buf` (and checked against the slot's checksum when `verify`).
    pub(crate) fn bytes<'a>(
        &'a self,
        slot: u32,
        buf: &'a mut [u8],
        verify: bool,
    ) -> Result<&'a [u8], StorageError> {
        if let Some(b) = self.staged.get(&slot) {
            return Ok(b);
        }
        self.file.read(slot, buf)?;
        if verify {
            self.file.verify(slot, buf)?;
        }
        Ok(buf)
    }

    /// Builds the SQ8 copy from the live slots (cosine collections whose file lends its
    /// bytes, so that a graph exists, only).
    pub(crate) fn rebuild_sq8(&mut self, owners: &[Option<u64>]) -> Result<(), StorageError> {
        self.sq8 = None;
        if self.codec.metric() != Metric::Cosine || self.file.slots_slice().is_none() {
            return Ok(());
        }
        let dim = self.codec.dimension() as usize;
        let mut sq8 = Sq8::new(dim, owners.len());
        // Read in place: the file lends its bytes (checked above).
        if let Some(space) = self.exact_space() {
            for (slot, owner) in owners.iter().enumerate() {
                if owner.is_some() {
                    with_f32(space.bytes(slot as u32), |v| {
                        quantize_into(v, &mut sq8.rows[slot * dim..(slot + 1) * dim])
                    });
                }
            }
        }
        self.sq8 = Some(sq8);
        Ok(())
    }

    pub(crate) fn sq8(&self) -> Option<&Sq8> {
        self.sq8.as_ref()
    }

    /// The exact space over the slots, when the file lends its bytes.
    pub(crate) fn exact_space(&self) -> Option<SlotSpace<'_>> {
        self.file.slots_slice().map(|slots| SlotSpace {
            codec: self.codec,
            slots,
            staged: &self.staged,
        })
    }

    /// The space over the SQ8 copy, when there is one.
    pub(crate) fn sq8_space(&self) -> Option<Sq8Space<'_>> {
        self.sq8.as_ref().map(|s| Sq8Space {
            rows: &s.rows,
            dim: s.dim,
            kernels: self.codec.kernels(),
        })
    }

    /// Calls `f(id, distance)` for every live point (`owners[slot]` names a slot's point).
    /// The distance from `q` to each of `slots` (live ones, ascending), as `f(slot, d)`.
    pub(crate) fn scan_slots(
        &self,
        slots: impl Iterator<Item = u32>,
        q: &Query,
        mut f: impl FnMut(u32, f32),
    ) -> Result<(), StorageError> {
        let size = self.codec.slot_size();
        // A u64 buffer keeps the bytes aligned for the kernels.
        let mut words = vec![0u64; size.div_ceil(8)];
        let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..size];
        for slot in slots {
            let bytes = self.bytes(slot, buf, false)?;
            f(slot, self.codec.distance(q, bytes));
        }
        Ok(())
    }

    pub(crate) fn scan(
        &self,
        owners: &[Option<u64>],
        q: &Query,
        mut f: impl FnMut(u32, u64, f32),
    ) -> Result<(), StorageError> {
        let size = self.codec.slot_size();
        let staged = &self.staged;
        let mut visit = |slot: usize, bytes: &[u8]| {
            if let Some(id) = owners[slot] {
                let bytes = match staged.is_empty() {
                    true => bytes,
                    false => staged.get(&(slot as u32)).map_or(bytes, Vec::as_slice),
                };
                f(slot as u32, id, self.codec.distance(q, bytes));
            }
        };
        // Slots past the end of the file can only be staged ones.
        let in_file = ((self.file.len().saturating_sub(PAGE)) / size as u64) as usize;
        let n = owners.len();
        let on_disk = n.min(in_file);
        if let Some(all) = self.file.slots_slice() {
            for (slot, bytes) in all.chunks_exact(size).take(on_disk).enumerate() {
                visit(slot, bytes);
            }
        } else {
            // Positional reads in runs, into a u64 buffer so the bytes are aligned for the
            // kernels.
            let per_run = (256 * 1024 / size).max(1);
            let mut words = vec![0u64; (per_run * size).div_ceil(8)];
            let mut first = 0;
            while first < on_disk {
                let count = per_run.min(on_disk - first);
                let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..count * size];
                self.file.read_run(first as u32, buf)?;
                for (i, bytes) in buf.chunks_exact(size).enumerate() {
                    visit(first + i, bytes);
                }
                first += count;
            }
        }
        for (slot, owner) in owners.iter().enumerate().skip(on_disk) {
            if owner.is_some() && !staged.contains_key(&(slot as u32)) {
                let reason = format!("live slot {slot} is past the end of the file");
                return Err(StorageError::corrupted(
                    self.file.path(),
                    self.file.len(),
                    reason,
                ));
            }
            visit(slot, &[]);
        }
        Ok(())
    }
}
