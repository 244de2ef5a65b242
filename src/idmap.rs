//! Which slot holds which point: ids ↔ slots, the free list, and the slots the last
//! checkpoint names ("pinned").

use std::collections::{BTreeMap, BTreeSet};

/// Invariants:
/// - `ids` and `owners` are inverse: `ids[id] == s` iff `owners[s] == Some(id)`;
/// - `free` is exactly the `s < owners.len()` with `owners[s] == None`;
/// - `pinned[s]` is true iff slot `s` is live in the last checkpoint.
///
/// Allocation is deterministic (a new point takes the lowest free slot, else a new one), so a
/// replay of the same records allocates the same slots.
#[derive(Debug, Default)]
pub(crate) struct IdMap {
    /// Ordered, so points can be listed by id from a cursor.
    ids: BTreeMap<u64, u32>,
    owners: Vec<Option<u64>>,
    free: BTreeSet<u32>,
    pinned: Vec<bool>,
}

impl IdMap {
    /// The map a checkpoint describes: `slots` slots, `entries` the `(id, slot)` of its points
    /// (validated by the checkpoint decoder: slots in range, no slot or id twice). Every live
    /// slot is pinned.
    pub(crate) fn from_entries(slots: u32, entries: impl Iterator<Item = (u64, u32)>) -> IdMap {
        let mut owners = vec![None; slots as usize];
        // Collected whole: std sorts the pairs (a checkpoint lists them by id, so that only
        // checks) and builds the tree in one pass, where inserting one at a time walks it
        // for each.
        let ids: BTreeMap<u64, u32> = entries
            .inspect(|&(id, slot)| owners[slot as usize] = Some(id))
            .collect();
        let free = (0..slots)
            .filter(|&s| owners[s as usize].is_none())
            .collect();
        let pinned = owners.iter().map(Option::is_some).collect();
        IdMap {
            ids,
            owners,
            free,
            pinned,
        }
    }

    /// Live points.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Slots below the high-water mark (live + free).
    pub(crate) fn slots(&self) -> u32 {
        self.owners.len() as u32
    }

    pub(crate) fn free_slots(&self) -> usize {
        self.free.len()
    }

    pub(crate) fn slot(&self, id: u64) -> Option<u32> {
        self.ids.get(&id).copied()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.ids.contains_key(&id)
    }

    /// The point in `slot`, if it is live.
    #[inline]
    pub(crate) fn owner(&self, slot: u32) -> Option<u64> {
        self.owners.get(slot as usize).copied().flatten()
    }

    /// `owners[s]`: the point in each slot.
    pub(crate) fn owners(&self) -> &[Option<u64>] {
        &self.owners
    }

    pub(crate) fn is_free(&self, slot: u32) -> bool {
        self.owners.get(slot as usize).is_none_or(|o| o.is_none())
    }

    pub(crate) fn is_pinned(&self, slot: u32) -> bool {
        self.pinned.get(slot as usize).copied().unwrap_or(false)
    }

    /// The live slots, ascending.
    pub(crate) fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.slots()).filter(|&s| self.owners[s as usize].is_some())
    }

    /// `(id, slot)` of every live point, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.ids.iter().map(|(&id, &slot)| (id, slot))
    }

    /// `(id, slot)` of the live points with ids from `start` on, by id.
    pub(crate) fn starting_at(&self, start: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.ids.range(start..).map(|(&id, &slot)| (id, slot))
    }

    /// `id`'s slot, allocating one for a new id.
    pub(crate) fn assign(&mut self, id: u64) -> u32 {
        if let Some(&s) = self.ids.get(&id) {
            return s;
        }
        let s = match self.free.pop_first() {
            Some(s) => s,
            None => {
                self.owners.push(None);
                self.owners.len() as u32 - 1
            }
        };
        self.owners[s as usize] = Some(id);
        self.ids.insert(id, s);
        s
    }

    /// Removes `id`; returns the slot it had.
    pub(crate) fn remove(&mut self, id: u64) -> Option<u32> {
        let slot = self.ids.remove(&id)?;
        self.owners[slot as usize] = None;
        self.free.insert(slot);
        Some(slot)
    }

    /// A checkpoint of the current map became durable: the live slots are its slots now.
    pub(crate) fn pin_live(&mut self) {
        self.pinned = self.owners.iter().map(Option::is_some).collect();
    }

    /// The dense renumbering compaction applies: `map[s]` is live slot `s`'s new slot (in slot
    /// order), `None` for a free slot; and the number of live slots.
    pub(crate) fn dense_map(&self) -> (Vec<Option<u32>>, u32) {
        let mut map = vec![None; self.owners.len()];
        let mut next = 0u32;
        for (slot, owner) in self.owners.iter().enumerate() {
            if owner.is_some() {
                map[slot] = Some(next);
                next += 1;
            }
        }
        (map, next)
    }

    /// The map after the renumbering of [`IdMap::dense_map`], every slot pinned (a compaction
    /// commits with a checkpoint).
    pub(crate) fn compacted(&self) -> IdMap {
        let owners: Vec<Option<u64>> = self
            .owners
            .iter()
            .filter(|o| o.is_some())
            .copied()
            .collect();
        let ids = owners
            .iter()
            .enumerate()
            .filter_map(|(s, o)| o.map(|id| (id, s as u32)))
            .collect();
        IdMap {
            ids,
            pinned: vec![true; owners.len()],
            owners,
            free: BTreeSet::new(),
        }
    }

    /// What is wrong with the invariants, if anything (for `check`).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (&id, &slot) in &self.ids {
            if self.owner(slot) != Some(id) {
                out.push(format!("id {id} maps to slot {slot}, which is not its"));
            }
        }
        for (slot, owner) in self.owners.iter().enumerate() {
            let free = self.free.contains(&(slot as u32));
            match owner {
                Some(id) if self.ids.get(id) != Some(&(slot as u32)) => {
                    out.push(format!("slot {slot} names id {id}, which maps elsewhere"));
                }
                Some(_) if free => out.push(format!("live slot {slot} is on the free list")),
                None if !free => out.push(format!("free slot {slot} is not on the free list")),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_takes_the_lowest_free_slot_and_compaction_renumbers_densely() {
        let mut m = IdMap::default();
        assert_eq!((m.assign(10), m.assign(11), m.assign(12)), (0, 1, 2));
        assert_eq!(m.remove(10), Some(0));
        assert_eq!(m.assign(13), 0, "the freed slot is reused first");
        m.remove(11);
        let (map, live) = m.dense_map();
        assert_eq!((map, live), (vec![Some(0), None, Some(1)], 2));
        let c = m.compacted();
        assert_eq!((c.slot(13), c.slot(12), c.slots()), (Some(0), Some(1), 2));
        assert!(c.is_pinned(1) && c.problems().is_empty() && m.problems().is_empty());
    }
}
