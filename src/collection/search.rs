//! Search: checking the request, choosing a plan (see `plan.rs`), and running it.

use super::budget::Budget;
use super::handle::Collection;
use super::plan::Acceptor;
use super::state::State;
use super::types::{
    DEFAULT_EF, Hit, Include, MAX_EF, MAX_K, Plan, PlanKind, RESULT_LIST_BYTES, SearchParams,
};
use crate::error::{Error, Limit, Result, StorageError};
use crate::filter::Filter;
use crate::index::hnsw::Space;
use crate::index::{Scored, TopK};
use crate::vectors::{Query, quantize};
use std::cell::{Cell, RefCell};

/// `(distance, id, slot)`, ascending by distance then id. The slot is the one the point was
/// scored in, under the same read lock, so no step after the ranking looks the id up again.
pub(super) type Found = Vec<(f32, u64, u32)>;

/// Candidates ranked on the SQ8 copy that are scored again exactly, per hit asked for, and
/// at least, before the rerank decides from the errors it saw whether to go deeper: the
/// copy's codes are scaled to each vector, so with many dimensions its ranking misorders only
/// near ties, which sit just past the `k`-th. The walk still keeps `ef` candidates; only the
/// exact scoring (a positional read each with `VectorMemory::Quantized`) is bounded.
const RERANK_PER_HIT: usize = 1;
const RERANK_AT_LEAST: usize = 10;

/// How many SQ8-ranked candidates are reranked exactly, at least, for `k` hits at candidate
/// list `ef`.
fn rerank_depth(k: usize, ef: usize) -> usize {
    (RERANK_PER_HIT * k).max(RERANK_AT_LEAST).min(ef.max(k))
}

/// Checks `k` and the parameters; returns the candidate list size.
pub(super) fn checked_ef(k: usize, params: &SearchParams<'_>) -> Result<usize> {
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
    if params.score_threshold.is_some_and(f32::is_nan) {
        return Err(Error::InvalidArgument("the score threshold is NaN".into()));
    }
    Ok(ef)
}

impl Collection {
    /// The `k` best matches for `query` among points passing `filter`, best first (ties:
    /// smaller id first), with default parameters (see [`Collection::search_with`]).
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.search_with(query, k, &SearchParams::default().with_filter(filter))
    }

    /// The `k` best matches for `query` among points passing the filter, best first (ties:
    /// smaller id first). The plan ([`Collection::plan`]) scores exactly the points the
    /// payload indexes say match when they are few, walks the HNSW graph (candidate list
    /// `ef`, default `max(k, 64)`) otherwise, and scans every point when asked (`exact`) or
    /// when the collection is small. When at least `k` points match, `k` hits come back
    /// (before the score threshold).
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams<'_>,
    ) -> Result<Vec<Hit>> {
        let mut all = self.search_batch(&[query], k, params)?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Collection::search_with`] for many queries at once, under one read lock, with the
    /// filter resolved once.
    pub fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Hit>>> {
        let ef = checked_ef(k, params)?;
        let codec = self.codec();
        let queries = queries
            .iter()
            .map(|q| codec.query(q))
            .collect::<Result<Vec<_>>>()?;
        self.with_read(|st| {
            let (plan, acc) = st.plan(params.filter, ef, params.exact);
            // Materialised on first need: when a walk finds fewer than `k`.
            let fallback = std::cell::OnceCell::new();
            let ctx = Ctx {
                k,
                ef,
                kind: plan.kind,
                filter: params.filter,
                acc: &acc,
                fallback: &fallback,
            };
            let mut budget = Budget::default();
            queries
                .iter()
                .map(|q| st.search_one(q, &ctx, params, &mut budget))
                .collect()
        })
    }

    /// How a search with these parameters would run (for `stats`, benchmarks, `explain`).
    pub fn plan(&self, k: usize, params: &SearchParams<'_>) -> Result<Plan> {
        let ef = checked_ef(k, params)?;
        self.with_read(|st| Ok(st.plan(params.filter, ef, params.exact).0))
    }
}

/// What the queries of one batch share.
pub(super) struct Ctx<'a> {
    pub(super) k: usize,
    pub(super) ef: usize,
    pub(super) kind: PlanKind,
    pub(super) filter: Option<&'a Filter>,
    pub(super) acc: &'a Acceptor<'a>,
    /// The acceptor with its candidates materialised, for the scan after a walk that found
    /// fewer than `k`.
    pub(super) fallback: &'a std::cell::OnceCell<Acceptor<'a>>,
}

impl State {
    fn search_one(
        &self,
        q: &Query,
        ctx: &Ctx<'_>,
        params: &SearchParams<'_>,
        budget: &mut Budget,
    ) -> Result<Vec<Hit>> {
        budget.spend(RESULT_LIST_BYTES)?;
        let codec = self.codec;
        let better = |s: f32, t: f32| match codec.metric().higher_is_better() {
            true => s >= t,
            false => s <= t,
        };
        let scored = self
            .ranked(q, ctx)?
            .into_iter()
            .map(|(d, id, slot)| (codec.score(d), id, slot))
            .filter(|&(s, _, _)| params.score_threshold.is_none_or(|t| better(s, t)));
        self.hits(scored, params.include, budget)
    }

    /// The `k` best accepted points for `q` under the batch's plan: `(distance, id, slot)`,
    /// ascending, each checked against damage.
    pub(super) fn ranked(&self, q: &Query, ctx: &Ctx<'_>) -> Result<Found> {
        let (k, ef, kind) = (ctx.k, ctx.ef, ctx.kind);
        let walked = match kind {
            PlanKind::Graph => self.walk(q, k, ef, ctx)?,
            PlanKind::QuantizedScan => self.quantized_scan(q, k, ef, ctx.acc)?,
            _ => None,
        };
        let found = match (walked, kind) {
            (Some(found), _) => found,
            (None, PlanKind::FullScan | PlanKind::IndexedScan | PlanKind::QuantizedScan) => {
                self.exact(q, k, ctx.acc)?
            }
            (None, _) => {
                let acc = ctx.fallback.get_or_init(|| self.acceptor_all(ctx.filter));
                self.exact(q, k, acc)?
            }
        };
        self.verify_hits(&found)?;
        Ok(found)
    }

    /// Hits for ranked `(score, id, slot)`, carrying what `include` asks, each charged to
    /// `budget`.
    pub(super) fn hits(
        &self,
        scored: impl Iterator<Item = (f32, u64, u32)>,
        include: Include,
        budget: &mut Budget,
    ) -> Result<Vec<Hit>> {
        let codec = self.codec;
        let mut hits = Vec::new();
        let mut buf = vec![0u8; codec.slot_size()];
        for (score, id, slot) in scored {
            budget.spend(self.read_size(slot, include))?;
            let payload = match include.payload {
                true => self.payload(slot),
                false => None,
            };
            let mut hit = Hit::new(id, score, payload);
            if include.vector {
                hit.vector = Some(codec.decode(self.vectors.bytes(slot, &mut buf, false)?));
            }
            hits.push(hit);
        }
        Ok(hits)
    }

    /// The graph walk, with the points waiting for the graph scanned beside it: the
    /// `k` best accepted points, or `None` when there is no graph or it found fewer than `k`.
    fn walk(&self, q: &Query, k: usize, ef: usize, ctx: &Ctx<'_>) -> Result<Option<Found>> {
        let Some(graph) = self.graph.as_ref() else {
            return Ok(None);
        };
        let accept = |n: u32| self.ids.owner(n).is_some() && ctx.acc.accepts(self, n);
        // Without a filter, tombstones or waiting points every node is a result: no check.
        let all_live =
            ctx.acc.accepts_all() && graph.nodes() == self.ids.len() && self.unindexed.is_empty();
        let check: Option<&dyn Fn(u32) -> bool> = if all_live { None } else { Some(&accept) };
        let mut scratch = self.take_scratch();
        let walked = match (self.sq8_walk(), q, self.vectors.exact_space()) {
            // Walk with the i8 copy keeping `ef`, rerank the best of them exactly.
            (Some(sq8), Query::F32(qf), _) => {
                let rough = graph.search(&sq8, &quantize(qf), ef, ef, check, &mut scratch);
                self.rerank_adaptive(q, &rough, k, rerank_depth(k, ef))
            }
            (_, _, Some(space)) => Ok(graph.search(&space, q, k, ef, check, &mut scratch)),
            _ => Ok(Vec::new()),
        };
        // A damaged node the walk scored (and would have kept) ranked a wrong vector.
        let damage = self.refuse_damaged(|s| scratch.marks.seen(s) && accept(s));
        self.give_scratch(scratch);
        damage?;
        let mut hits: Found = walked?
            .into_iter()
            .filter_map(|Scored(d, n)| self.ids.owner(n).map(|id| (d, id, n)))
            .collect();
        if !self.unindexed.is_empty() {
            hits.extend(self.score_waiting(q, k, ef, ctx.acc)?);
        }
        hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // A rewritten point can be both walked to and waiting: the same id, the same distance.
        hits.dedup_by_key(|h| h.1);
        hits.truncate(k);
        Ok((hits.len() == k).then_some(hits))
    }

    /// Exact scores for candidates ranked on the SQ8 copy (`rough`: SQ8 distance and slot,
    /// ascending): the first `depth`, then on while the next could still enter the exact top
    /// `k`, that is while its SQ8 distance, corrected by the most favourable error (exact less
    /// SQ8) seen so far less the spread of those errors, is below the exact `k`-th. Where the
    /// copy ranks well (many dimensions) that stops at `depth`; where its error is as large as
    /// the gaps between neighbours (few dimensions, dense data) it goes as deep as the
    /// candidates do, so recall still rises with `ef`.
    fn rerank_adaptive(
        &self,
        q: &Query,
        rough: &[Scored],
        k: usize,
        depth: usize,
    ) -> std::result::Result<Vec<Scored>, StorageError> {
        /// Candidates whose exact vectors (every line) are in flight while the one before is
        /// scored.
        const AHEAD: usize = 1;
        let (low, high) = (Cell::new(f32::INFINITY), Cell::new(f32::NEG_INFINITY));
        let sq8 = Cell::new(0f32);
        // The `k` lowest exact distances so far, ascending.
        let best: RefCell<Vec<f32>> = RefCell::new(Vec::with_capacity(k + 1));
        let mut exact = Vec::with_capacity(depth);
        let could_enter = |d: f32| {
            let best = best.borrow();
            best.len() < k || d + low.get() - (high.get() - low.get()) < best[k - 1]
        };
        for s in rough.iter().take(AHEAD) {
            self.vectors.prefetch(s.1);
        }
        let slots = rough
            .iter()
            .enumerate()
            .take_while(|&(i, s)| i < depth || could_enter(s.0))
            .map(|(i, s)| {
                if let Some(ahead) = rough.get(i + AHEAD) {
                    self.vectors.prefetch(ahead.1);
                }
                sq8.set(s.0);
                s.1
            });
        self.vectors.scan_slots(
            slots,
            q,
            |_| true,
            |n, d| {
                exact.push(Scored(d, n));
                low.set(low.get().min(d - sq8.get()));
                high.set(high.get().max(d - sq8.get()));
                let mut best = best.borrow_mut();
                let at = best.partition_point(|b| b.total_cmp(&d).is_le());
                if at < k {
                    best.insert(at, d);
                    best.truncate(k);
                }
            },
        )?;
        Ok(exact)
    }

    /// The best `k` accepted points among those waiting for the graph: scored exactly, or,
    /// when they are many (or read by position) and there is an SQ8 copy, on it with the best
    /// reranked exactly (as the walk itself ranks).
    fn score_waiting(&self, q: &Query, k: usize, ef: usize, acc: &Acceptor<'_>) -> Result<Found> {
        let (waiting, accept) = (self.unindexed.iter(), |s| acc.accepts(self, s));
        self.refuse_damaged(|s| self.unindexed.contains(s) && accept(s))?;
        let many = self.unindexed.len() > 4 * ef || !self.vectors.lends_bytes();
        match (self.sq8_walk(), q) {
            (Some(sq8), Query::F32(qf)) if many => {
                let qq = quantize(qf);
                let depth = rerank_depth(k, ef);
                let rough = self.best_of(waiting, ef.max(depth), |s| sq8.distance(&qq, s), accept);
                self.rerank(q, rough, k, depth)
            }
            _ => self.read_best(waiting, q, k, accept),
        }
    }

    /// The `k` best points of `slots` by `distance` that `accept` passes (asked only of the
    /// points that would enter, so a costly check runs for few of them).
    fn best_of(
        &self,
        slots: impl Iterator<Item = u32>,
        k: usize,
        distance: impl Fn(u32) -> f32,
        accept: impl Fn(u32) -> bool,
    ) -> Found {
        let mut top = TopK::new(k);
        for slot in slots {
            if let Some(id) = self.ids.owner(slot) {
                let d = distance(slot);
                if top.accepts(d, id) && accept(slot) {
                    top.push(d, id, slot);
                }
            }
        }
        top.into_sorted()
    }

    /// `rough` hits (ascending on the SQ8 copy) scored again exactly, in place or read by
    /// position, as deep as [`Self::rerank_adaptive`] goes: the `k` best.
    fn rerank(&self, q: &Query, rough: Found, k: usize, depth: usize) -> Result<Found> {
        let rough: Vec<Scored> = rough.into_iter().map(|(d, _, s)| Scored(d, s)).collect();
        let mut top = TopK::new(k);
        for Scored(d, slot) in self.rerank_adaptive(q, &rough, k, depth)? {
            if let Some(id) = self.ids.owner(slot)
                && top.accepts(d, id)
            {
                top.push(d, id, slot);
            }
        }
        Ok(top.into_sorted())
    }

    /// The candidates scored on the SQ8 copy, the best of them reranked exactly: the `k` best,
    /// or `None` when there is no SQ8 copy or fewer than `k` matched.
    fn quantized_scan(
        &self,
        q: &Query,
        k: usize,
        ef: usize,
        acc: &Acceptor<'_>,
    ) -> Result<Option<Found>> {
        let (Some(sq8), Some(cands), Query::F32(qf)) = (self.sq8_walk(), acc.candidates(), q)
        else {
            return Ok(None);
        };
        let qq = quantize(qf);
        let accept = |s| acc.accepts_candidate(self, s);
        self.refuse_damaged(|s| cands.contains(s) && accept(s))?;
        let depth = rerank_depth(k, ef);
        let pool = ef.max(depth);
        let rough = self.best_of(cands.iter(), pool, |s| sq8.distance(&qq, s), accept);
        let hits = self.rerank(q, rough, k, depth)?;
        Ok((hits.len() == k).then_some(hits))
    }

    /// The damage of a slot that a search scored (`scored` says which), as an error: an
    /// exact answer never silently leaves out a point whose vector is damaged.
    fn refuse_damaged(&self, scored: impl Fn(u32) -> bool) -> Result<()> {
        Ok(self.vectors.refuse_damaged(scored)?)
    }

    /// Checks every hit's vector against its checksum: a search never answers with a vector
    /// that damage changed (a NaN would otherwise win every query), it reports the damage.
    fn verify_hits(&self, found: &Found) -> Result<()> {
        let mut buf = vec![0u8; self.codec.slot_size()];
        for &(_, _, slot) in found {
            self.vectors.bytes(slot, &mut buf, true)?;
        }
        Ok(())
    }

    /// The exact top `k` of the accepted points: of the indexes' candidates when they bound
    /// the filter, else of every point.
    fn exact(&self, q: &Query, k: usize, acc: &Acceptor<'_>) -> Result<Found> {
        if let Some(c) = acc.candidates() {
            return self.read_best(c.iter(), q, k, |s| acc.accepts_candidate(self, s));
        }
        self.refuse_damaged(|s| self.ids.owner(s).is_some() && acc.accepts(self, s))?;
        let mut top = TopK::new(k);
        let counts = |s| acc.accepts(self, s);
        self.vectors
            .scan(self.ids.owners(), q, counts, |slot, id, d| {
                if top.accepts(d, id) && acc.accepts(self, slot) {
                    top.push(d, id, slot);
                }
            })?;
        Ok(top.into_sorted())
    }

    /// The `k` best live points of `slots` that `accept` passes, scored exactly (in place, or
    /// read by position); `accept` is asked only of the points that would enter.
    fn read_best(
        &self,
        slots: impl Iterator<Item = u32>,
        q: &Query,
        k: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Result<Found> {
        let mut top = TopK::new(k);
        let damaged = self.vectors.damaged();
        // A damaged slot is scored (and refused) only when it would count.
        let live = slots.filter(|&s| {
            self.ids.owner(s).is_some() && (damaged.is_empty() || !damaged.contains(s) || accept(s))
        });
        self.vectors.scan_slots(live, q, &accept, |slot, d| {
            if let Some(id) = self.ids.owner(slot)
                && top.accepts(d, id)
                && accept(slot)
            {
                top.push(d, id, slot);
            }
        })?;
        Ok(top.into_sorted())
    }
}
