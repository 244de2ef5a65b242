//! The payloads of an open collection, in memory: compact JSON text in one arena, found by
//! slot, with the ids changed since the payload file last took them.

use crate::error::StorageError;
use crate::region::out_of_memory;
use serde_json::Value;
use std::collections::BTreeSet;

/// Bits of a packed reference that hold the length (a payload is at most 1 MiB).
const LEN_BITS: u32 = 24;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;

/// Invariants:
/// - `refs[s] == 0` iff slot `s` has no payload; otherwise it packs `(offset << 24) | len`
///   of the slot's JSON text in `arena` (a payload is never empty: it is at least `{}`).
/// - `live` is the sum of the lengths `refs` name; `arena.len() - live` bytes are garbage,
///   and the arena is rewritten once the garbage outgrows the live bytes.
/// - `dirty` holds every id whose payload changed since the payload file was last brought up
///   to date (see `collection/checkpoint.rs`).
#[derive(Debug, Default)]
pub(crate) struct PayloadStore {
    refs: Vec<u64>,
    arena: Vec<u8>,
    live: usize,
    dirty: BTreeSet<u64>,
}

impl PayloadStore {
    /// The JSON text of `slot`'s payload.
    pub(crate) fn text(&self, slot: u32) -> Option<&[u8]> {
        let r = *self.refs.get(slot as usize)?;
        if r == 0 {
            return None;
        }
        let (at, len) = ((r >> LEN_BITS) as usize, (r & LEN_MASK) as usize);
        self.arena.get(at..at + len)
    }

    /// `slot`'s payload, parsed. The text was validated when it was stored (a caller's value
    /// encoded by us, or a record whose checksum matched and which parsed on open).
    pub(crate) fn value(&self, slot: u32) -> Option<Value> {
        serde_json::from_slice(self.text(slot)?).ok()
    }

    /// Makes room for `bytes` more of text and for slots up to `slots`, so that the
    /// [`PayloadStore::set`] calls that follow allocate nothing: memory that cannot be had is
    /// an error here ([`crate::region::out_of_memory`]), before anything is logged or changed,
    /// rather than an abort (a trap in the component) after.
    pub(crate) fn reserve(&mut self, bytes: usize, slots: usize) -> Result<(), StorageError> {
        let refs = slots.saturating_sub(self.refs.len());
        let total = self.arena.len().saturating_add(bytes);
        try_grow(&mut self.arena, bytes).map_err(|_| out_of_memory(total as u64))?;
        try_grow(&mut self.refs, refs).map_err(|_| out_of_memory(total as u64))
    }

    /// Sets `slot`'s payload (the point `id`'s) to `text`, or clears it.
    pub(crate) fn set(&mut self, id: u64, slot: u32, text: Option<&[u8]>) {
        let had = self.text(slot).is_some();
        if !had && text.is_none() {
            return;
        }
        self.dirty.insert(id);
        self.clear_slot(slot);
        if let Some(t) = text {
            debug_assert!(!t.is_empty() && (t.len() as u64) <= LEN_MASK);
            if self.refs.len() <= slot as usize {
                let more = slot as usize + 1 - self.refs.len();
                grow(&mut self.refs, more);
                self.refs.resize(slot as usize + 1, 0);
            }
            self.refs[slot as usize] = ((self.arena.len() as u64) << LEN_BITS) | t.len() as u64;
            grow(&mut self.arena, t.len());
            self.arena.extend_from_slice(t);
            self.live += t.len();
        }
        if self.arena.len() - self.live > self.live.max(1 << 16) {
            self.compact();
        }
    }

    /// Drops the garbage when the memory for a dense copy can be had (it is only a saving:
    /// without the memory, the garbage stays until a later write or a reopen).
    fn compact(&mut self) {
        let mut arena = Vec::new();
        if arena.try_reserve_exact(self.live).is_err() {
            return;
        }
        for r in self.refs.iter_mut().filter(|r| **r != 0) {
            let (at, len) = ((*r >> LEN_BITS) as usize, (*r & LEN_MASK) as usize);
            *r = ((arena.len() as u64) << LEN_BITS) | len as u64;
            arena.extend_from_slice(&self.arena[at..at + len]);
        }
        self.arena = arena;
    }

    fn clear_slot(&mut self, slot: u32) {
        if let Some(r) = self.refs.get_mut(slot as usize) {
            self.live -= (*r & LEN_MASK) as usize;
            *r = 0;
        }
    }

    /// A copy without garbage, each slot `s` moved to `to(s)` (`None`: dropped); the same
    /// ids are dirty. What compaction builds beside readers.
    pub(crate) fn rewritten(&self, to: impl Fn(u32) -> Option<u32>) -> PayloadStore {
        let mut refs = Vec::new();
        let mut arena = Vec::with_capacity(self.live);
        for s in 0..self.refs.len() as u32 {
            let (Some(text), Some(t)) = (self.text(s), to(s)) else {
                continue;
            };
            if refs.len() <= t as usize {
                refs.resize(t as usize + 1, 0);
            }
            refs[t as usize] = ((arena.len() as u64) << LEN_BITS) | text.len() as u64;
            arena.extend_from_slice(text);
        }
        PayloadStore {
            live: arena.len(),
            refs,
            arena,
            dirty: self.dirty.clone(),
        }
    }

    /// The slots with a payload.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.refs.len() as u32).filter(|&s| self.refs[s as usize] != 0)
    }

    /// The ids changed since [`PayloadStore::take_dirty`] last ran.
    pub(crate) fn dirty(&self) -> &BTreeSet<u64> {
        &self.dirty
    }

    /// Forgets the changed ids: the payload file has them now.
    /// Forgets the changed ids, returning them (a writer drops them after its switch: freeing
    /// a million of them takes milliseconds).
    pub(crate) fn take_dirty(&mut self) -> BTreeSet<u64> {
        std::mem::take(&mut self.dirty)
    }

    /// Bytes of live JSON text.
    pub(crate) fn live_bytes(&self) -> usize {
        self.live
    }

    /// Memory the store holds (arena and references).
    pub(crate) fn memory(&self) -> usize {
        self.arena.capacity() + self.refs.capacity() * 8
    }
}

/// Makes room for `more` items, growing by an eighth at a time rather than doubling: the
/// store's memory stays within 1.125× of what it holds (amortised O(1) copies per byte all
/// the same).
fn grow<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() - v.len() < more {
        v.reserve_exact(more.max(v.len() / 8 + 64));
    }
}

/// [`grow`], refusing (with nothing changed) where the memory cannot be had.
fn try_grow<T>(v: &mut Vec<T>, more: usize) -> Result<(), std::collections::TryReserveError> {
    if v.capacity() - v.len() < more {
        v.try_reserve_exact(more.max(v.len() / 8 + 64))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_text_through_overwrites_and_rewrites() {
        let mut p = PayloadStore::default();
        p.set(10, 0, Some(b"{\"a\":1}"));
        p.set(11, 3, Some(b"{}"));
        assert_eq!(p.text(0), Some(&b"{\"a\":1}"[..]));
        assert_eq!(p.text(1), None);
        assert_eq!(p.text(7), None);
        for i in 0..100_000 {
            p.set(10, 0, Some(format!("{{\"a\":{i}}}").as_bytes()));
        }
        assert_eq!(p.text(0), Some(&b"{\"a\":99999}"[..]));
        assert!(p.arena.len() < 2 * (1 << 16) + 100, "garbage is collected");
        p.set(11, 3, None);
        assert_eq!(p.text(3), None);
        assert_eq!(p.live_bytes(), 11);
        p = p.rewritten(|s| Some(s + 5));
        assert_eq!(p.text(5), Some(&b"{\"a\":99999}"[..]));
        assert_eq!(p.text(0), None);
        assert_eq!(p.dirty().iter().copied().collect::<Vec<_>>(), vec![10, 11]);
        p.take_dirty();
        p.set(12, 9, None);
        assert!(p.dirty().is_empty(), "clearing nothing changes nothing");
    }
}
