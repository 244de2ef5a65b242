//! The candidate list of an unfiltered SEARCH-LAYER: one sorted array in place of the
//! paper's two heaps (the "linear pool" of glass and of NSG's reference code).

use super::Scored;

/// The `ef` nearest nodes a walk in which every node is a result has seen, ascending, each
/// marked once it has been expanded.
///
/// Why one list is the whole state of SEARCH-LAYER without a filter: the candidates `C` and
/// the results `W` receive the same nodes, and a candidate that has left `W` is never
/// expanded (it is no nearer than `W`'s worst, which only improves, so reaching it ends the
/// walk). The next candidate is therefore the nearest unexpanded entry, and the walk ends
/// when none is left. (One exception, at an exact tie: the heaps compare distances alone when
/// deciding to stop, so a dropped candidate at exactly `W`'s worst distance is still expanded
/// there and not here.)
///
/// Invariants: `items` is sorted ascending (by [`Scored`]'s total order) and holds at most
/// `cap` entries; every entry before `next` is expanded.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    items: Vec<Entry>,
    cap: usize,
    next: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    node: Scored,
    expanded: bool,
}

/// `s`'s place in [`Scored`]'s total order as one integer (the distance's `total_cmp` order
/// in the high half, the node in the low half), so that comparing two is one instruction a
/// binary search can select on instead of a chain of branches.
#[inline(always)]
fn order_key(s: Scored) -> u64 {
    let bits = s.0.to_bits();
    // Negative floats order in reverse of their bits and below the positive ones.
    let mono = match bits >> 31 {
        1 => !bits,
        _ => bits | 1 << 31,
    };
    u64::from(mono) << 32 | u64::from(s.1)
}

impl Pool {
    /// Empties the pool for a walk keeping the `cap` nearest (`cap >= 1`).
    pub(crate) fn reset(&mut self, cap: usize) {
        self.items.clear();
        self.items.reserve(cap + 1);
        self.cap = cap.max(1);
        self.next = 0;
    }

    /// True when a node at distance `d` would enter: the pool is not full, or `d` is below
    /// its worst distance.
    #[inline(always)]
    pub(crate) fn admits(&self, d: f32) -> bool {
        match self.items.len() < self.cap {
            true => true,
            false => d < self.items[self.items.len() - 1].node.0,
        }
    }

    /// Adds `s` in order, dropping the worst entry past `cap`.
    #[inline]
    pub(crate) fn insert(&mut self, s: Scored) {
        let key = order_key(s);
        let at = self.items.partition_point(|e| order_key(e.node) < key);
        if at >= self.cap {
            return;
        }
        if self.items.len() == self.cap {
            self.items.pop();
        }
        self.items.insert(
            at,
            Entry {
                node: s,
                expanded: false,
            },
        );
        self.next = self.next.min(at);
    }

    /// The nearest entry not expanded yet, now marked expanded; `None` when all are.
    #[inline]
    pub(crate) fn expand_next(&mut self) -> Option<Scored> {
        while let Some(e) = self.items.get_mut(self.next) {
            if !e.expanded {
                e.expanded = true;
                return Some(e.node);
            }
            self.next += 1;
        }
        None
    }

    /// The nearest entry not expanded yet, left as it is (what [`Pool::expand_next`] would
    /// give if nothing nearer enters first).
    #[inline]
    pub(crate) fn peek_next(&self) -> Option<Scored> {
        self.items[self.next.min(self.items.len())..]
            .iter()
            .find(|e| !e.expanded)
            .map(|e| e.node)
    }

    /// The entries, ascending.
    pub(crate) fn sorted(&self) -> impl ExactSizeIterator<Item = Scored> + '_ {
        self.items.iter().map(|e| e.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_key_orders_as_scored_does() {
        let ds = [
            f32::NEG_INFINITY,
            -1.5,
            -0.0,
            0.0,
            1e-40,
            0.5,
            2.0,
            f32::INFINITY,
            f32::NAN,
        ];
        let all: Vec<Scored> = ds
            .iter()
            .flat_map(|&d| [3, 7].map(|n| Scored(d, n)))
            .collect();
        for a in &all {
            for b in &all {
                assert_eq!(order_key(*a).cmp(&order_key(*b)), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_pool_keeps_the_nearest_in_order_and_expands_nearest_first() {
        let mut p = Pool::default();
        p.reset(3);
        for (d, n) in [(5.0, 1), (2.0, 2), (9.0, 3)] {
            assert!(p.admits(d));
            p.insert(Scored(d, n));
        }
        assert!(
            !p.admits(9.0),
            "full: only a distance below the worst enters"
        );
        assert_eq!(p.peek_next(), Some(Scored(2.0, 2)));
        assert_eq!(p.expand_next(), Some(Scored(2.0, 2)));
        assert_eq!(p.peek_next(), Some(Scored(5.0, 1)));
        // A nearer node arriving after an expansion is expanded next.
        p.insert(Scored(1.0, 4));
        assert_eq!(p.sorted().map(|s| s.1).collect::<Vec<_>>(), [4, 2, 1]);
        assert_eq!(p.expand_next(), Some(Scored(1.0, 4)));
        assert_eq!(p.expand_next(), Some(Scored(5.0, 1)));
        assert_eq!(p.expand_next(), None);
        // Equal distances order by node; one past the cap is dropped.
        p.insert(Scored(1.0, 3));
        assert_eq!(p.sorted().map(|s| s.1).collect::<Vec<_>>(), [3, 4, 2]);
        p.insert(Scored(7.0, 8));
        assert_eq!(p.sorted().count(), 3);
        assert_eq!(p.expand_next(), Some(Scored(1.0, 3)));
        assert_eq!(p.expand_next(), None);
    }
}
