//! Which points a filter passes, and how a search finds the best of them (the plan).
//!
//! The payload indexes bound a filter's matches exactly where they answer its conditions
//! ([`PayloadIndexes::candidates`]); what they cannot answer is evaluated on the payloads. The
//! plan follows from the number of matches: few are scored exactly, a minority are walked two
//! hops at a time, and otherwise the graph is walked with the filter checked per node. Every
//! plan returns `k` hits when at least `k` points match (a walk that finds fewer falls back to
//! a scan), and logically equal filters have the same matches, hence the same plan.

use super::state::State;
use super::types::{
    EXACT_BELOW, EXACT_MATCHES_PER_EF, EXACT_SELECTIVITY, Plan, PlanKind, TWO_HOP_BELOW,
};
use crate::filter::Filter;
use crate::payloads::Candidates;
use roaring::RoaringBitmap;

/// Decides, slot by slot, whether a point passes a filter.
pub(super) struct Acceptor<'a> {
    filter: Option<&'a Filter>,
    /// What the indexes say (`None`: they bound nothing).
    candidates: Option<Candidates>,
}

impl Acceptor<'_> {
    /// Does the live point in `slot` pass?
    pub(super) fn accepts(&self, st: &State, slot: u32) -> bool {
        if let Some(c) = &self.candidates {
            if !c.slots.contains(slot) {
                return false;
            }
            if c.exact {
                return true;
            }
        }
        self.filter
            .is_none_or(|f| f.matches(st.payload(slot).as_ref()))
    }

    /// The slots the indexes allow, when they bound the filter.
    pub(super) fn candidates(&self) -> Option<&RoaringBitmap> {
        self.candidates.as_ref().map(|c| &c.slots)
    }

    /// True when no point can be refused (no filter).
    pub(super) fn accepts_all(&self) -> bool {
        self.filter.is_none()
    }

    /// A bitset over `slots` slots of the indexes' candidates, for the graph walk's per-node
    /// check (`None`: no candidates known).
    pub(super) fn dense(&self, slots: u32) -> Option<Vec<u64>> {
        let c = self.candidates.as_ref()?;
        let mut bits = vec![0u64; (slots as usize).div_ceil(64)];
        for s in &c.slots {
            if let Some(w) = bits.get_mut(s as usize / 64) {
                *w |= 1 << (s % 64);
            }
        }
        Some(bits)
    }

    /// True when the indexes answered the filter whole (no evaluation needed).
    pub(super) fn is_exact(&self) -> bool {
        self.candidates.as_ref().is_some_and(|c| c.exact)
    }
}

impl State {
    /// The acceptor of `filter`, with what the indexes know of it.
    pub(super) fn acceptor<'a>(&self, filter: Option<&'a Filter>) -> Acceptor<'a> {
        let candidates = filter.and_then(|f| self.indexes.candidates(f));
        Acceptor { filter, candidates }
    }

    /// The live slots passing `filter` (all without one).
    pub(super) fn matching(&self, filter: Option<&Filter>) -> RoaringBitmap {
        let acc = self.acceptor(filter);
        match acc.candidates() {
            Some(c) if acc.is_exact() => c.clone(),
            Some(c) => c.iter().filter(|&s| acc.accepts(self, s)).collect(),
            None => self
                .ids
                .live_slots()
                .filter(|&s| acc.accepts(self, s))
                .collect(),
        }
    }

    /// The plan of a search for `k` with candidate list `ef`.
    pub(super) fn plan(&self, acc: &Acceptor<'_>, ef: usize, exact: bool) -> Plan {
        let n = self.ids.len();
        let matches = acc
            .candidates()
            .filter(|_| acc.is_exact())
            .map(RoaringBitmap::len);
        let selectivity = self.selectivity(acc);
        let kind = if let Some(c) = acc.candidates()
            && (exact || c.len() as usize <= EXACT_MATCHES_PER_EF * ef || n < EXACT_BELOW)
        {
            PlanKind::IndexedScan
        } else if exact
            || n < EXACT_BELOW
            || self.graph.is_none()
            || (acc.candidates().is_none() && selectivity < EXACT_SELECTIVITY)
        {
            PlanKind::FullScan
        } else if acc.candidates().is_some() && selectivity < TWO_HOP_BELOW {
            PlanKind::FilteredGraph
        } else {
            PlanKind::Graph
        };
        Plan {
            kind,
            matches,
            selectivity,
        }
    }

    /// The fraction of live points that pass: exact when the indexes answer the filter whole;
    /// else estimated on up to 512 points spread evenly over the candidates (or the slots).
    fn selectivity(&self, acc: &Acceptor<'_>) -> f64 {
        let n = self.ids.len();
        if n == 0 || acc.accepts_all() {
            return 1.0;
        }
        let (seen, pass, share) = match acc.candidates() {
            Some(c) if acc.is_exact() => return c.len() as f64 / n as f64,
            Some(c) => {
                let step = (c.len() as usize / 512).max(1);
                let sample = c.iter().step_by(step);
                let (seen, pass) = sample.fold((0, 0), |(s, p), slot| {
                    (s + 1, p + acc.accepts(self, slot) as usize)
                });
                (seen, pass, c.len() as f64 / n as f64)
            }
            None => {
                let owners = self.ids.owners();
                let step = (owners.len() / 512).max(1);
                let live = (0..owners.len() as u32)
                    .step_by(step)
                    .filter(|&s| owners[s as usize].is_some());
                let (seen, pass) = live.fold((0, 0), |(s, p), slot| {
                    (s + 1, p + acc.accepts(self, slot) as usize)
                });
                (seen, pass, 1.0)
            }
        };
        if seen == 0 {
            return share;
        }
        share * pass as f64 / seen as f64
    }
}
