//! The exact top-k: what a scan keeps.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The `k` smallest `(distance, id)` pairs seen, each with the slot it was scored in (carried
/// along, never compared: an id names one slot at a time).
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

#[derive(Debug, Clone, Copy)]
struct Candidate(f32, u64, u32);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    /// The `k`-th distance once `k` are held.
    pub(crate) fn worst(&self) -> Option<f32> {
        match self.heap.len() >= self.k {
            true => self.heap.peek().map(|c| c.0),
            false => None,
        }
    }

    /// Would `(d, id)` enter the top k? (Cheap: lets the caller skip the filter.)
    pub(crate) fn accepts(&self, d: f32, id: u64) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|w| Candidate(d, id, 0) < *w)
    }

    pub(crate) fn push(&mut self, d: f32, id: u64, slot: u32) {
        let c = Candidate(d, id, slot);
        if self.heap.len() < self.k {
            self.heap.push(c);
            return;
        }
        // Full: the new one takes the worst's place (one sift instead of a push and a pop).
        if let Some(mut worst) = self.heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
    }

    /// `(distance, id, slot)`, ascending by distance then id.
    pub(crate) fn into_sorted(self) -> Vec<(f32, u64, u32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.0, c.1, c.2))
            .collect()
    }
}
