//! The vectors of a collection: the vector file, the slot writes waiting for their log record
//! to be durable, and the SQ8 copy.

use super::codec::{Codec, Query, with_f32};
use super::file::{PAGE, VectorFile};
use super::space::{LinkSpace, SlotSpace, Sq8Space};
use super::sq8::Sq8;
use crate::config::Metric;
use crate::error::StorageError;
use roaring::RoaringBitmap;
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
/// - `damaged` holds the live slots whose bytes in `file` failed their checksum when the open
///   read them all (a write or a release takes a slot out): a search that would score one
///   reports it instead of ranking a wrong vector.
/// - `lazy`: the open did not read them all (it loaded a saved SQ8 copy, so nothing needed
///   the vectors): `damaged` is empty, and every read that scores a slot's bytes from the
///   file checks them against the slot's checksum first (once: see `VectorFile::verify`).
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) file: VectorFile,
    codec: Codec,
    staged: HashMap<u32, Vec<u8>>,
    released: BTreeSet<u32>,
    sq8: Option<Sq8>,
    damaged: RoaringBitmap,
    lazy: bool,
}

impl Store {
    pub(crate) fn new(file: VectorFile, codec: Codec) -> Store {
        Store {
            file,
            codec,
            staged: HashMap::new(),
            released: BTreeSet::new(),
            sq8: None,
            damaged: RoaringBitmap::new(),
            lazy: false,
        }
    }

    /// Takes a saved SQ8 copy (loaded by an open) in place of reading every vector: slots
    /// are checked as reads reach them (see `lazy`).
    pub(crate) fn adopt_saved(&mut self, sq8: Sq8) {
        self.sq8 = Some(sq8);
        self.damaged.clear();
        self.lazy = true;
    }

    /// The first live slot (`owners`) whose bytes fail their checksum: what the open found,
    /// or, when it read none (`lazy`), every live slot read and checked now.
    pub(crate) fn first_damaged(
        &self,
        owners: &[Option<u64>],
    ) -> Result<Option<u32>, StorageError> {
        if !self.lazy {
            return Ok(self.damaged.min());
        }
        let live = owners
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_some())
            .map(|(s, _)| s as u32);
        match self.scan_slots(live, &Query::F32(Vec::new()), |_| true, |_, _| {}) {
            Ok(()) => Ok(None),
            Err(StorageError::Corrupted { .. }) => Ok(self.damaged_slot(owners)),
            Err(e) => Err(e),
        }
    }

    /// The first live slot that fails its checksum, read again (after a scan found one).
    fn damaged_slot(&self, owners: &[Option<u64>]) -> Option<u32> {
        let mut buf = vec![0u8; self.codec.slot_size()];
        (0..owners.len() as u32)
            .filter(|&s| owners[s as usize].is_some())
            .find(|&s| self.bytes(s, &mut buf, true).is_err())
    }

    /// The live slots whose bytes failed their checksum when the open read them.
    pub(crate) fn damaged(&self) -> &RoaringBitmap {
        &self.damaged
    }

    /// The first damaged slot among `slots` that `scored` says a search scored, as an error.
    pub(crate) fn refuse_damaged(&self, scored: impl Fn(u32) -> bool) -> Result<(), StorageError> {
        match self.damaged.iter().find(|&s| scored(s)) {
            Some(slot) => Err(self.file.mismatch(slot)),
            None => Ok(()),
        }
    }

    /// True when writes wait for [`Store::apply`].
    pub(crate) fn has_pending(&self) -> bool {
        !self.staged.is_empty() || !self.released.is_empty()
    }

    /// True when [`Store::apply`] will change bytes in place: staged writes, or releases of
    /// slots that are no graph nodes (`in_graph`); a tombstone keeps its bytes.
    pub(crate) fn rewrites_pending(&self, in_graph: impl Fn(u32) -> bool) -> bool {
        !self.staged.is_empty() || self.released.iter().any(|&s| !in_graph(s))
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
        self.damaged.remove(slot);
        if let Some(sq8) = self.sq8.as_mut() {
            sq8.set(slot, &bytes, slots as usize)?;
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
        self.damaged.remove(slot);
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

    /// A live slot's current bytes: its staged bytes, else the vector file's (in place where
    /// the file lends them, else read into `buf`), checked against the slot's checksum when
    /// `verify`.
    pub(crate) fn bytes<'a>(
        &'a self,
        slot: u32,
        buf: &'a mut [u8],
        verify: bool,
    ) -> Result<&'a [u8], StorageError> {
        if let Some(b) = self.staged.get(&slot) {
            return Ok(b);
        }
        let bytes = match self.lent(slot) {
            Some(bytes) => bytes,
            None => {
                self.file.read(slot, buf)?;
                buf
            }
        };
        if verify {
            self.file.verify(slot, bytes)?;
        }
        Ok(bytes)
    }

    /// Asks for every line of `slot`'s bytes ahead of a read, where the vector file lends them
    /// and the target can prefetch without waiting (a hint: nothing happens otherwise).
    pub(crate) fn prefetch(&self, slot: u32) {
        if let Some(bytes) = self.lent(slot) {
            crate::sys::prefetch_range_native(bytes, 0..bytes.len());
        }
    }

    /// `slot`'s bytes in the vector file, where the file lends them (and covers the slot).
    fn lent(&self, slot: u32) -> Option<&[u8]> {
        let (size, slots) = (self.codec.slot_size(), self.file.slots_slice()?);
        let start = slot as usize * size;
        slots.get(start..start + size)
    }

    /// True when the vector file lends its bytes (a memory map or an in-memory copy): exact
    /// distances are computed in place. Otherwise exact vectors are read by position.
    pub(crate) fn lends_bytes(&self) -> bool {
        self.file.slots_slice().is_some()
    }

    /// Reads every live slot once: builds the SQ8 copy from them (float metrics; bit vectors
    /// have none) and checks each one in the file against its checksum, keeping those that
    /// fail in `damaged`. In place where the file lends its bytes, else read in runs.
    pub(crate) fn load(&mut self, owners: &[Option<u64>]) -> Result<(), StorageError> {
        self.sq8 = None;
        self.damaged.clear();
        let metric = self.codec.metric();
        let dim = self.codec.dimension() as usize;
        let mut sq8 = match metric.is_binary() {
            true => None,
            false => Some(Sq8::new(dim, metric == Metric::Euclidean, owners.len())?),
        };
        let (file, staged) = (&self.file, &self.staged);
        let in_file = self.slots_in_file().min(owners.len());
        let sums = file.read_sums(in_file)?;
        let mut damaged = Vec::new();
        let mut visit = |slot: usize, in_file: Option<&[u8]>| -> Result<(), StorageError> {
            if owners[slot].is_none() {
                return Ok(());
            }
            let bytes = match (staged.get(&(slot as u32)), in_file) {
                (Some(b), _) => b.as_slice(),
                (None, Some(b)) => {
                    if !VectorFile::matches(b, &sums[4 * slot..4 * slot + 4]) {
                        damaged.push(slot as u32);
                    }
                    b
                }
                // Slots past the end of the file can only be staged ones; a scan reports one
                // that is not.
                (None, None) => return Ok(()),
            };
            if let Some(sq8) = sq8.as_mut() {
                with_f32(bytes, |v| sq8.quantize_row(slot, v));
            }
            Ok(())
        };
        match file.slots_slice() {
            Some(all) => {
                let size = self.codec.slot_size();
                for (slot, bytes) in all.chunks_exact(size).take(in_file).enumerate() {
                    visit(slot, Some(bytes))?;
                }
            }
            None => {
                let mut failed = Ok(());
                self.read_runs(in_file, |slot, bytes| {
                    if failed.is_ok() {
                        failed = visit(slot, Some(bytes));
                    }
                })?;
                failed?;
            }
        }
        for slot in in_file..owners.len() {
            visit(slot, None)?;
        }
        self.damaged = damaged.into_iter().collect();
        self.sq8 = sq8;
        Ok(())
    }

    /// The SQ8 copy renumbered as compaction renumbers the file (see `Sq8::remap`).
    pub(crate) fn remapped_sq8(
        &self,
        map: &[Option<u32>],
        slots: u32,
    ) -> Result<Option<Sq8>, StorageError> {
        self.sq8
            .as_ref()
            .map(|q| q.remapped(map, slots))
            .transpose()
    }

    /// Compaction's switch: the new file and SQ8 copy in place of the old, which are
    /// returned (to be dropped once readers no longer wait). Nothing is staged: a flush came
    /// first.
    pub(crate) fn replace(
        &mut self,
        file: VectorFile,
        sq8: Option<Sq8>,
    ) -> (VectorFile, Option<Sq8>) {
        debug_assert!(!self.has_pending());
        // The new file was written from bytes read and checked: nothing is left to check.
        self.damaged.clear();
        self.lazy = false;
        (
            std::mem::replace(&mut self.file, file),
            std::mem::replace(&mut self.sq8, sq8),
        )
    }

    /// Makes room for `slots` slots in the file and in the SQ8 copy, before the writes that
    /// need them are logged: memory that cannot be had (an in-memory copy past the guest's
    /// memory) is an error here ([`crate::region::is_out_of_memory`]), with nothing changed.
    pub(crate) fn reserve(&mut self, slots: u32) -> Result<(), StorageError> {
        if let Some(sq8) = self.sq8.as_mut() {
            sq8.reserve(slots as usize)?;
        }
        self.file.reserve(slots)
    }

    /// Bytes of memory the vectors take now, and would take with `slots` slots: the file
    /// where it is held in memory, plus the SQ8 copy.
    pub(crate) fn memory_bytes(&self, slots: Option<u32>) -> u64 {
        let file = match (self.file.holds_its_bytes(), slots) {
            (false, _) => 0,
            (true, None) => self.file.len(),
            (true, Some(n)) => self.file.offset(n).max(self.file.len()),
        };
        let sq8 = self.sq8.as_ref().map_or(0, |q| match slots {
            None => q.bytes(),
            Some(n) => q.bytes_for(n as usize).max(q.bytes()),
        });
        file + sq8
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

    /// The space a graph's links are chosen (and its builds walked) in, when a graph can be
    /// kept: the SQ8 copy where there is one (so both memory modes build the same graph), else
    /// the exact slots where the file lends its bytes.
    pub(crate) fn link_space(&self) -> Option<LinkSpace<'_>> {
        match (self.sq8_space(), self.exact_space()) {
            (Some(sq8), _) => Some(LinkSpace::Quantized(sq8)),
            (None, Some(exact)) => Some(LinkSpace::Exact(exact)),
            (None, None) => None,
        }
    }

    /// The space over the SQ8 copy, when there is one.
    pub(crate) fn sq8_space(&self) -> Option<Sq8Space<'_>> {
        self.sq8.as_ref().map(|s| Sq8Space {
            rows: s.rows(),
            kernels: self.codec.kernels(),
        })
    }

    /// The distance from `q` to each of `slots` (live ones, ascending), as `f(slot, d)`; a
    /// damaged slot among them is an error (it would be scored wrong). Where the open did not
    /// check every slot (`lazy`), a slot is checked here when `counts` says its score counts
    /// (a filter passes it).
    pub(crate) fn scan_slots(
        &self,
        slots: impl Iterator<Item = u32>,
        q: &Query,
        counts: impl Fn(u32) -> bool,
        mut f: impl FnMut(u32, f32),
    ) -> Result<(), StorageError> {
        let damaged = &self.damaged;
        let check = |slot: u32, bytes: &[u8]| match damaged.is_empty() || !damaged.contains(slot) {
            true if self.unchecked(slot) && counts(slot) => self.file.verify(slot, bytes),
            true => Ok(()),
            false => Err(self.file.mismatch(slot)),
        };
        // An empty query only checks (see `first_damaged`).
        let score = |bytes: &[u8]| match q {
            Query::F32(v) if v.is_empty() => 0.0,
            _ => self.codec.distance(q, bytes),
        };
        if let Some(space) = self.exact_space() {
            for slot in slots {
                let bytes = space.bytes(slot);
                check(slot, bytes)?;
                f(slot, score(bytes));
            }
            return Ok(());
        }
        let size = self.codec.slot_size();
        // A u64 buffer keeps the bytes aligned for the kernels.
        let mut words = vec![0u64; size.div_ceil(8)];
        let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..size];
        for slot in slots {
            let bytes = self.bytes(slot, buf, false)?;
            check(slot, bytes)?;
            f(slot, score(bytes));
        }
        Ok(())
    }

    /// True when `slot`'s bytes come from the file and were not checked yet, though reads
    /// must check them (`lazy`).
    fn unchecked(&self, slot: u32) -> bool {
        self.lazy && !self.file.is_verified(slot) && !self.is_staged(slot)
    }

    /// Calls `f(slot, id, distance)` for every live point (`owners[slot]` names a slot's
    /// point); the caller refuses damaged slots it would count (see `damaged`), and where the
    /// open did not check every slot (`lazy`), a slot `counts` passes is checked here.
    pub(crate) fn scan(
        &self,
        owners: &[Option<u64>],
        q: &Query,
        counts: impl Fn(u32) -> bool,
        mut f: impl FnMut(u32, u64, f32),
    ) -> Result<(), StorageError> {
        let size = self.codec.slot_size();
        let staged = &self.staged;
        let mut failed: Option<StorageError> = None;
        let mut visit = |slot: usize, bytes: &[u8]| {
            if let Some(id) = owners[slot] {
                // No lookup per slot when nothing is staged (the usual case).
                let staged = (!staged.is_empty())
                    .then(|| staged.get(&(slot as u32)))
                    .flatten();
                let bytes = match staged {
                    Some(b) => b.as_slice(),
                    // Read from the file: checked first when the open did not (`lazy`).
                    None if !bytes.is_empty()
                        && self.unchecked(slot as u32)
                        && counts(slot as u32) =>
                    {
                        if let (None, Err(e)) = (&failed, self.file.verify(slot as u32, bytes)) {
                            failed = Some(e);
                        }
                        bytes
                    }
                    None => bytes,
                };
                f(slot as u32, id, self.codec.distance(q, bytes));
            }
        };
        // Slots past the end of the file can only be staged ones.
        let on_disk = owners.len().min(self.slots_in_file());
        if let Some(all) = self.file.slots_slice() {
            for (slot, bytes) in all.chunks_exact(size).take(on_disk).enumerate() {
                visit(slot, bytes);
            }
        } else {
            self.read_runs(on_disk, &mut visit)?;
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
        failed.map_or(Ok(()), Err)
    }

    /// Whole slots the file holds.
    fn slots_in_file(&self) -> usize {
        (self.file.len().saturating_sub(PAGE) / self.codec.slot_size() as u64) as usize
    }

    /// Reads the first `slots` slots of the file in runs of 256 KiB, calling `f(slot, bytes)`
    /// for each (the file's bytes: staged ones are the caller's to prefer). The buffer is of
    /// u64, so the bytes are aligned for the kernels.
    fn read_runs(&self, slots: usize, mut f: impl FnMut(usize, &[u8])) -> Result<(), StorageError> {
        let size = self.codec.slot_size();
        let per_run = (256 * 1024 / size).max(1);
        let mut words = vec![0u64; (per_run * size).div_ceil(8)];
        let mut first = 0;
        while first < slots {
            let count = per_run.min(slots - first);
            let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..count * size];
            self.file.read_run(first as u32, buf)?;
            for (i, bytes) in buf.chunks_exact(size).enumerate() {
                f(first + i, bytes);
            }
            first += count;
        }
        Ok(())
    }
}
