//! The points waiting for the graph: written, searchable, not linked yet.

/// New graph nodes are inserted in batches of this many (see `Graph::insert_batch`): the
/// catch-up's step, worked out beside readers and published in one switch. The graph keeping
/// up by itself links whole steps: fewer points than this may wait until the next trigger.
pub const LINK_BATCH: usize = 256;

/// Live slots whose current vector the graph does not reflect yet: new points (no node) and
/// rewritten ones (a node linked for the old vector), in the order they were written. Writes
/// only add here; the graph catches up in bulk (`State::catch_up`), and until then searches
/// scan these slots beside the walk (exactly, or on the SQ8 copy reranked exactly, as the
/// walk ranks), so no point is missed for lack of links.
///
/// Invariant: `set` holds only live slots; `order` holds every slot of `set` (first write
/// first) and possibly stale entries, which `take` skips.
#[derive(Default)]
pub(super) struct Unindexed {
    order: std::collections::VecDeque<u32>,
    set: roaring::RoaringBitmap,
}

impl Unindexed {
    pub(super) fn add(&mut self, slot: u32) {
        if self.set.insert(slot) {
            self.order.push_back(slot);
        }
    }

    /// The slot was freed.
    pub(super) fn remove(&mut self, slot: u32) {
        self.set.remove(slot);
        if self.order.len() > 2 * self.len() + 1024 {
            let mut seen = roaring::RoaringBitmap::new();
            let set = &self.set;
            self.order.retain(|&s| set.contains(s) && seen.insert(s));
        }
    }

    pub(super) fn len(&self) -> usize {
        self.set.len() as usize
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub(super) fn contains(&self, slot: u32) -> bool {
        self.set.contains(slot)
    }

    /// The slots, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.set.iter()
    }

    /// The first slots in write order, as [`Unindexed::take`] would return them, up to `max`
    /// of them and up to `max_old` of those `old` says (nodes to re-link, which cost more).
    pub(super) fn peek(&self, max: usize, max_old: usize, old: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(max.min(self.len()));
        let mut seen = roaring::RoaringBitmap::new();
        let mut olds = 0;
        for &s in &self.order {
            if out.len() >= max || olds >= max_old {
                break;
            }
            if self.set.contains(s) && seen.insert(s) {
                olds += usize::from(old(s));
                out.push(s);
            }
        }
        out
    }

    /// Removes and returns the first `max` slots in write order.
    pub(super) fn take(&mut self, max: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(max.min(self.len()));
        while out.len() < max {
            let Some(s) = self.order.pop_front() else {
                break;
            };
            if self.set.remove(s) {
                out.push(s);
            }
        }
        out
    }

    pub(super) fn clear(&mut self) {
        self.order.clear();
        self.set.clear();
    }
}
