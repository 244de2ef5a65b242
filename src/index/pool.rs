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

/// How many of `items` order before `key`: where an entry with that key goes.
///
/// A branchless binary search (each step selects the lower or the upper half with a
/// conditional move, as `partition_point` does), its steps written out for the pools a search
/// uses (up to 256 entries): in WebAssembly every loop back-edge is also a check of the
/// host's deadline, and this runs for every node a walk admits. A larger pool halves in a
/// loop first. The guards `size > 1` depend on the length alone, which stays the same once
/// the pool is full, so they predict well.
#[inline(always)]
fn place(items: &[Entry], key: u64) -> usize {
    if items.is_empty() {
        return 0;
    }
    // Invariant: every entry before `base` is below `key`, none from `base + size` on is, and
    // `size >= 1`, with `base + size <= items.len()`. A step keeps it and leaves
    // `ceil(size / 2)`; it reads at `base + size / 2 - 1`, below `base + size`.
    let below = |i: usize| {
        debug_assert!(i < items.len());
        // SAFETY: `i < base + size <= items.len()` by the invariant (as in `partition_point`,
        // whose bounds checks this search also leaves out).
        order_key(unsafe { items.get_unchecked(i) }.node) < key
    };
    let (mut base, mut size) = (0, items.len());
    let halve = |base: &mut usize, size: &mut usize| {
        if *size > 1 {
            let half = *size / 2;
            if below(*base + half - 1) {
                *base += half;
            }
            *size -= half;
        }
    };
    while size > 256 {
        halve(&mut base, &mut size);
    }
    // Eight steps take 256 to 1.
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    halve(&mut base, &mut size);
    base + below(base) as usize
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
    ///
    /// Natively part of the walk's loop. In WebAssembly a function of its own: the host's
    /// compiler saves every register around any call, and the walk's body with this inside
    /// it held more values across the kernel's calls than the one call here costs.
    #[cfg_attr(not(target_family = "wasm"), inline(always))]
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(crate) fn insert(&mut self, s: Scored) {
        let at = place(&self.items, order_key(s));
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
            self.next += 1;
            if !e.expanded {
                e.expanded = true;
                return Some(e.node);
            }
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
    fn place_finds_where_partition_point_does() {
        // Sizes around every step count of the written-out search and past its 256, keys
        // below, between, equal to and above the entries (distances repeat: ties by node).
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for len in (0..=20).chain([127, 128, 129, 255, 256, 257, 600]) {
            let mut nodes: Vec<Scored> = (0..len)
                .map(|_| Scored((next() % 16) as f32 - 4.0, (next() % 8) as u32))
                .collect();
            nodes.sort();
            let items: Vec<Entry> = nodes
                .iter()
                .map(|&node| Entry {
                    node,
                    expanded: false,
                })
                .collect();
            for _ in 0..64 {
                let key = order_key(Scored((next() % 20) as f32 - 6.0, (next() % 8) as u32));
                let want = items.partition_point(|e| order_key(e.node) < key);
                assert_eq!(place(&items, key), want, "len {len}");
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
