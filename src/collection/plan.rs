//! Which points a filter passes, and how a search finds the best of them (the plan).
//!
//! The payload indexes answer a filter's conditions from their per-slot columns, and bound
//! its matches from their posting lists' sizes without materialising anything
//! ([`PayloadIndexes::estimate`]); what they cannot answer is evaluated on the payload. The
//! plan follows from that bound: few matches are materialised and scored exactly, more are
//! scored on the SQ8 copy and the best reranked, and otherwise the graph is walked with the
//! filter checked per node (rejected nodes are traversed, so the walk is as connected as the
//! graph). Every plan returns `k` hits when at least `k` points match (a walk that finds
//! fewer falls back to a scan), and logically equal filters pass the same points, so their
//! results agree.
//!
//! [`PayloadIndexes::estimate`]: crate::payloads::PayloadIndexes::estimate

use super::state::State;
use super::types::{
    EXACT_BELOW, EXACT_MATCHES_PER_EF, EXACT_SELECTIVITY, Plan, PlanKind, QUANTIZED_SCAN_FACTOR,
};
use crate::filter::Filter;
use crate::payloads::Candidates;
use crate::vectors::Sq8Space;
use roaring::RoaringBitmap;

/// Decides, slot by slot, whether a point passes a filter.
pub(super) struct Acceptor<'a> {
    filter: Option<&'a Filter>,
    /// The indexes' bound on the matches, and whether it is exact.
    estimate: Option<(u64, bool)>,
    /// The slots that may match, when materialised (few, or asked for).
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
        match self.filter {
            None => true,
            Some(f) => st.indexes.matches(slot, f, &st.ids, &|| st.payload(slot)),
        }
    }

    /// Does the point in `slot`, one of the materialised candidates, pass?
    pub(super) fn accepts_candidate(&self, st: &State, slot: u32) -> bool {
        match (&self.candidates, self.filter) {
            (Some(c), _) if c.exact => true,
            (_, None) => true,
            (_, Some(f)) => st.indexes.matches(slot, f, &st.ids, &|| st.payload(slot)),
        }
    }

    /// The slots that may match, when materialised.
    pub(super) fn candidates(&self) -> Option<&RoaringBitmap> {
        self.candidates.as_ref().map(|c| &c.slots)
    }

    /// True when no point can be refused (no filter).
    pub(super) fn accepts_all(&self) -> bool {
        self.filter.is_none()
    }
}

impl State {
    /// The acceptor of `filter`, with what the indexes know of it; the candidates are
    /// materialised when `materialise` or when at most `small` points may match.
    pub(super) fn acceptor<'a>(
        &self,
        filter: Option<&'a Filter>,
        small: u64,
        materialise: bool,
    ) -> Acceptor<'a> {
        let estimate = filter.and_then(|f| self.indexes.estimate(f, &self.ids));
        let few = estimate.is_some_and(|(n, _)| n <= small);
        let candidates = match filter {
            Some(f) if few || materialise => self.indexes.candidates(f, &self.ids),
            _ => None,
        };
        Acceptor {
            filter,
            estimate,
            candidates,
        }
    }

    /// The acceptor with the candidates materialised (for scans over the matches).
    pub(super) fn acceptor_all<'a>(&self, filter: Option<&'a Filter>) -> Acceptor<'a> {
        self.acceptor(filter, 0, true)
    }

    /// The live slots passing `filter` (all without one).
    pub(super) fn matching(&self, filter: Option<&Filter>) -> RoaringBitmap {
        let acc = self.acceptor_all(filter);
        match (&acc.candidates, filter) {
            (_, None) => self.ids.live_slots().collect(),
            (Some(c), _) if c.exact => c.slots.clone(),
            (Some(c), _) => c.slots.iter().filter(|&s| acc.accepts(self, s)).collect(),
            (None, _) => self
                .ids
                .live_slots()
                .filter(|&s| acc.accepts(self, s))
                .collect(),
        }
    }

    /// The plan of a search with candidate list `ef`, and its acceptor.
    pub(super) fn plan<'a>(
        &self,
        filter: Option<&'a Filter>,
        ef: usize,
        exact: bool,
    ) -> (Plan, Acceptor<'a>) {
        let n = self.ids.len();
        let small = (EXACT_MATCHES_PER_EF * ef) as u64;
        let quantized = self.sq8_walk().is_some();
        let medium = match quantized {
            true => ((QUANTIZED_SCAN_FACTOR * ef * n) as f64).sqrt() as u64,
            false => small,
        }
        .max(small);
        let scan = exact || n < EXACT_BELOW || self.graph.is_none();
        let acc = self.acceptor(filter, medium, scan);
        let matches = acc.estimate.filter(|e| e.1).map(|e| e.0);
        let selectivity = self.selectivity(&acc);
        let bound = acc.estimate.map(|e| e.0);
        let kind = if acc.candidates.is_some() && (scan || bound.is_some_and(|b| b <= small)) {
            PlanKind::IndexedScan
        } else if acc.candidates.is_some() && bound.is_some_and(|b| b <= medium) {
            PlanKind::QuantizedScan
        } else if scan || (acc.estimate.is_none() && selectivity < EXACT_SELECTIVITY) {
            PlanKind::FullScan
        } else {
            PlanKind::Graph
        };
        let plan = Plan::new(kind, matches, selectivity);
        (plan, acc)
    }

    /// The plan of a text leg: its postings walked, the filter checked per point that would
    /// enter (on materialised candidates when the indexes bound them to few).
    pub(super) fn postings_plan<'a>(
        &self,
        filter: Option<&'a Filter>,
        k: usize,
    ) -> (Plan, Acceptor<'a>) {
        let small = (EXACT_MATCHES_PER_EF * k.max(super::types::DEFAULT_EF)) as u64;
        let acc = self.acceptor(filter, small, false);
        let matches = acc.estimate.filter(|e| e.1).map(|e| e.0);
        let plan = Plan::new(PlanKind::Postings, matches, self.selectivity(&acc));
        (plan, acc)
    }

    /// The SQ8 copy's space, when walks and scans should use it: when asked to
    /// ([`Options::sq8_search`](super::Options)), and always where exact vectors are read by
    /// position (`VectorMemory::Quantized`).
    pub(super) fn sq8_walk(&self) -> Option<Sq8Space<'_>> {
        let wanted = self.options.sq8_search || !self.vectors.lends_bytes();
        self.vectors.sq8_space().filter(|_| wanted)
    }

    /// The fraction of live points that pass: from the indexes' bound when they have one
    /// (exact when the bound is), else estimated on up to 512 points spread evenly over the
    /// slots.
    pub(super) fn selectivity(&self, acc: &Acceptor<'_>) -> f64 {
        let n = self.ids.len();
        if n == 0 || acc.accepts_all() {
            return 1.0;
        }
        if let Some((m, _)) = acc.estimate {
            return m as f64 / n as f64;
        }
        let owners = self.ids.owners();
        let step = (owners.len() / 512).max(1);
        let live = (0..owners.len() as u32)
            .step_by(step)
            .filter(|&s| owners[s as usize].is_some());
        let (seen, pass) = live.fold((0usize, 0usize), |(s, p), slot| {
            (s + 1, p + acc.accepts(self, slot) as usize)
        });
        if seen == 0 {
            return 1.0;
        }
        pass as f64 / seen as f64
    }
}
