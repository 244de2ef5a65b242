//! Queries of several legs: each leg ranked under one read view, then fused (see
//! `crate::query`).

use super::budget::Budget;
use super::handle::Collection;
use super::search::{Ctx, checked_ef};
use super::state::State;
use super::types::{Hit, Plan, RESULT_LIST_BYTES, SearchParams};
use crate::error::{Error, Result};
use crate::query::{Leg, Query, Ranking, Source, fuse};
use crate::vectors::Query as Vector;

/// A leg checked and ready to run: its depth, and a dense leg's encoded vector and `ef`.
struct Ready<'a> {
    leg: &'a Leg,
    depth: usize,
    dense: Option<(Vector, usize)>,
}

impl Collection {
    /// The best `limit` points for `q`: each leg ranks its best (dense legs as a search
    /// does, text legs by BM25), all under one read view, and the rankings are fused
    /// (a single leg's own scores are returned as they are). Ties go to the smaller id, so
    /// identical calls give identical answers.
    pub fn query(&self, q: &Query) -> Result<Vec<Hit>> {
        let mut all = self.query_batch(std::slice::from_ref(q))?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Collection::query`] for many queries under one read view.
    pub fn query_batch(&self, queries: &[Query]) -> Result<Vec<Vec<Hit>>> {
        let ready = queries
            .iter()
            .map(|q| self.ready(q))
            .collect::<Result<Vec<_>>>()?;
        self.with_read(|st| {
            let mut budget = Budget::default();
            queries
                .iter()
                .zip(&ready)
                .map(|(q, legs)| st.query_one(q, legs, &mut budget))
                .collect()
        })
    }

    /// How each leg of `q` would run, in leg order (see [`Collection::plan`]).
    pub fn query_plan(&self, q: &Query) -> Result<Vec<Plan>> {
        let legs = self.ready(q)?;
        self.with_read(|st| {
            legs.iter()
                .map(|r| match (&r.leg.source, &r.dense) {
                    (Source::Text { key, .. }, _) => {
                        st.text_index(key)?;
                        Ok(st.postings_plan(r.leg.filter.as_ref(), r.depth).0)
                    }
                    (Source::Sparse { field, .. }, _) => {
                        st.sparse_field(field)?;
                        Ok(st.postings_plan(r.leg.filter.as_ref(), r.depth).0)
                    }
                    (Source::Dense { exact, .. }, Some((_, ef))) => {
                        Ok(st.plan(r.leg.filter.as_ref(), *ef, *exact).0)
                    }
                    (Source::Dense { .. }, None) => unreachable!("dense legs are prepared"),
                })
                .collect()
        })
    }

    fn ready<'a>(&self, q: &'a Query) -> Result<Vec<Ready<'a>>> {
        q.validate()?;
        let codec = self.codec();
        q.legs
            .iter()
            .map(|leg| {
                let depth = leg.depth(q.limit, q.legs.len());
                let dense = match &leg.source {
                    Source::Dense { vector, ef, exact } => {
                        let params = SearchParams::default().with_ef(*ef).with_exact(*exact);
                        Some((codec.query(vector)?, checked_ef(depth, &params)?))
                    }
                    Source::Text { .. } | Source::Sparse { .. } => None,
                };
                Ok(Ready { leg, depth, dense })
            })
            .collect()
    }
}

impl State {
    fn text_index(&self, key: &str) -> Result<&crate::text::TextIndex> {
        self.indexes.text(key).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no text index on {key:?}: a text leg needs one (create_index({key:?}, text))"
            ))
        })
    }

    fn sparse_field(
        &self,
        name: &str,
    ) -> Result<(&crate::config::SparseField, &crate::sparse::SparseIndex)> {
        self.sparse.field(name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no sparse field {name:?}: the collection declares {:?}",
                self.config
                    .sparse
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
            ))
        })
    }

    /// One leg's best `depth`: `(score, id, slot)`, best first, in the leg's own scores.
    fn leg_ranking(&self, r: &Ready<'_>) -> Result<Vec<(f32, u64, u32)>> {
        let filter = r.leg.filter.as_ref();
        match (&r.leg.source, &r.dense) {
            (Source::Text { key, text, bm25 }, _) => {
                let index = self.text_index(key)?;
                let (_, acc) = self.postings_plan(filter, r.depth);
                let id = |s: u32| self.ids.owner(s).unwrap_or(u64::MAX);
                let mut accept = |s: u32| acc.accepts(self, s);
                Ok(index.bm25(text, r.depth, *bm25, &id, &mut accept))
            }
            (Source::Sparse { field, vector }, _) => {
                let (decl, index) = self.sparse_field(field)?;
                let (_, acc) = self.postings_plan(filter, r.depth);
                let id = |s: u32| self.ids.owner(s).unwrap_or(u64::MAX);
                let mut accept = |s: u32| acc.accepts(self, s);
                Ok(index.top_k(vector, r.depth, decl.idf, &id, &mut accept))
            }
            (Source::Dense { exact, .. }, Some((vector, ef))) => {
                let (plan, acc) = self.plan(filter, *ef, *exact);
                let fallback = std::cell::OnceCell::new();
                let ctx = Ctx {
                    k: r.depth,
                    ef: *ef,
                    kind: plan.kind,
                    filter,
                    acc: &acc,
                    fallback: &fallback,
                };
                let codec = self.codec;
                Ok(self
                    .ranked(vector, &ctx)?
                    .into_iter()
                    .map(|(d, id, slot)| (codec.score(d), id, slot))
                    .collect())
            }
            (Source::Dense { .. }, None) => unreachable!("dense legs are prepared"),
        }
    }

    fn query_one(&self, q: &Query, legs: &[Ready<'_>], budget: &mut Budget) -> Result<Vec<Hit>> {
        budget.spend(RESULT_LIST_BYTES)?;
        let include = q.include;
        let lower_better = !self.codec.metric().higher_is_better();
        let dense_lower = |leg: &Leg| lower_better && matches!(leg.source, Source::Dense { .. });
        if let [one] = legs {
            let ranked = self.leg_ranking(one)?;
            let flip = dense_lower(one.leg);
            let keep = |s: f32| match (q.score_threshold, flip) {
                (None, _) => true,
                (Some(t), false) => s >= t,
                (Some(t), true) => s <= t,
            };
            let hits = ranked.into_iter().filter(|h| keep(h.0)).take(q.limit);
            return self.hits(hits, include, budget);
        }
        let mut rankings = Vec::with_capacity(legs.len());
        for r in legs {
            let mut hits = self.leg_ranking(r)?;
            // Fusion takes scores where higher is better.
            if dense_lower(r.leg) {
                for h in &mut hits {
                    h.0 = -h.0;
                }
            }
            rankings.push(Ranking {
                hits,
                weight: r.leg.weight,
            });
        }
        let fused = fuse(&rankings, q.fusion)
            .into_iter()
            .filter(|h| q.score_threshold.is_none_or(|t| h.0 >= t))
            .take(q.limit);
        self.hits(fused, include, budget)
    }
}
