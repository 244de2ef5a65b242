//! Search: checking the request, choosing a plan (graph walk or exact scan), and running it.

use super::handle::Collection;
use super::state::State;
use super::types::{DEFAULT_EF, EXACT_BELOW, EXACT_SELECTIVITY, Hit, MAX_EF, MAX_K, SearchParams};
use crate::error::{Error, Limit, Result};
use crate::filter::Filter;
use crate::index::hnsw::Space;
use crate::index::{Scored, TopK};
use crate::vectors::{Query, quantize};

/// `(distance, id)`, ascending.
type Found = Vec<(f32, u64)>;

/// Checks `k` and the parameters; returns the candidate list size.
fn checked_ef(k: usize, params: &SearchParams<'_>) -> Result<usize> {
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    if k > MAX_K {
        return Err(Error::LimitExceeded {
            limit: Limit::K,
            max: MAX_K as u64,
            actual: k as u64,
        });
    }
    let ef = params.ef.unwrap_or(DEFAULT_EF).max(k);
    if ef > MAX_EF {
        return Err(Error::LimitExceeded {
            limit: Limit::Ef,
            max: MAX_EF as u64,
            actual: ef as u64,
        });
    }
    if let Some(f) = params.filter {
        f.validate()?;
    }
    Ok(ef)
}

impl Collection {
    /// The `k` best matches for `query` among points passing `filter`, best first (ties:
    /// smaller id first), with default parameters (see [`Collection::search_with`]).
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.search_with(query, k, &SearchParams::default().with_filter(filter))
    }

    /// Searches the HNSW graph with a candidate list of `ef` (default `max(k, 64)`); the filter
    /// is checked during the walk, so non-matching points are traversed but never returned.
    /// Exact scans instead: when asked (`exact`), below [`EXACT_BELOW`] points, when the filter
    /// passes an estimated fraction below [`EXACT_SELECTIVITY`], and when the graph found fewer
    /// than `k` matches. Hits come best first (ties: smaller id first).
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> Result<Vec<Hit>> {
        let ef = checked_ef(k, params)?;
        let codec = self.codec();
        let q = codec.query(query)?;
        self.with_read(|st| {
            let filter = params.filter;
            let walk = !params.exact
                && st.ids.len() >= EXACT_BELOW
                && filter.is_none_or(|f| st.selectivity(f) >= EXACT_SELECTIVITY);
            let found = match walk.then(|| st.walk(&q, k, ef, filter)).flatten() {
                Some(found) => found,
                None => st.exact(&q, k, filter)?,
            };
            st.verify_hits(&found)?;
            Ok(found
                .into_iter()
                .map(|(d, id)| Hit::new(id, codec.score(d), st.payloads.get(&id).cloned()))
                .collect())
        })
    }
}

impl State {
    /// The graph walk: the `k` best accepted points, or `None` when there is no graph or it
    /// found fewer than `k` (the filter is more selective than estimated).
    fn walk(&self, q: &Query, k: usize, ef: usize, filter: Option<&Filter>) -> Option<Found> {
        let (graph, space) = (self.graph.as_ref()?, self.vectors.exact_space()?);
        let accept = |n: u32| match self.ids.owner(n) {
            Some(id) => filter.is_none_or(|f| f.matches(self.payloads.get(&id))),
            None => false,
        };
        // Without a filter and without tombstones every node is a result: no check.
        let all_live = filter.is_none() && graph.nodes() == self.ids.len();
        let accept: Option<&dyn Fn(u32) -> bool> = if all_live { None } else { Some(&accept) };
        let sq8 = self.vectors.sq8_space().filter(|_| self.options.sq8_search);
        let mut scratch = self.take_scratch();
        let hits = match (&sq8, q) {
            // Walk with the i8 copy, keep all `ef` found, rerank them exactly.
            (Some(sq8), Query::F32(qf)) => graph
                .search(sq8, &quantize(qf), ef, ef, accept, &mut scratch)
                .into_iter()
                .map(|Scored(_, n)| Scored(space.distance(q, n), n))
                .collect(),
            _ => graph.search(&space, q, k, ef, accept, &mut scratch),
        };
        self.give_scratch(scratch);
        let mut hits: Found = hits
            .into_iter()
            .filter_map(|Scored(d, n)| self.ids.owner(n).map(|id| (d, id)))
            .collect();
        hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        hits.truncate(k);
        (hits.len() == k).then_some(hits)
    }

    /// Checks every hit's vector against its checksum: a search never answers with a vector
    /// that damage changed (a NaN would otherwise win every query), it reports the damage.
    fn verify_hits(&self, found: &Found) -> Result<()> {
        let mut buf = vec![0u8; self.codec.slot_size()];
        for &(_, id) in found {
            if let Some(slot) = self.ids.slot(id) {
                self.vectors.bytes(slot, &mut buf, true)?;
            }
        }
        Ok(())
    }

    /// The exact scan: the `k` best points passing `filter`.
    fn exact(&self, q: &Query, k: usize, filter: Option<&Filter>) -> Result<Found> {
        let mut top = TopK::new(k);
        self.vectors.scan(self.ids.owners(), q, |id, d| {
            if top.accepts(d, id) && filter.is_none_or(|f| f.matches(self.payloads.get(&id))) {
                top.push(d, id);
            }
        })?;
        Ok(top.into_sorted())
    }

    /// The fraction of live points that pass `f`, estimated on up to 512 points spread evenly
    /// over the slots.
    fn selectivity(&self, f: &Filter) -> f64 {
        if self.ids.len() == 0 {
            return 1.0;
        }
        let owners = self.ids.owners();
        let step = (owners.len() / 512).max(1);
        let (mut seen, mut pass) = (0usize, 0usize);
        for owner in owners.iter().step_by(step).flatten() {
            seen += 1;
            pass += f.matches(self.payloads.get(owner)) as usize;
        }
        if seen == 0 {
            1.0
        } else {
            pass as f64 / seen as f64
        }
    }
}
