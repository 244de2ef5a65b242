//! A query of one or more legs (dense vectors, full text, sparse vectors) and how their
//! rankings are fused.

use crate::error::{Error, Limit, Result};
use crate::filter::Filter;
use crate::text::Bm25;

/// The most legs one query may have.
pub const MAX_LEGS: usize = 16;
/// The RRF constant when none is given (Qdrant's default, so fused rankings compare).
pub const DEFAULT_RRF_K: f32 = 2.0;
/// A leg's limit when none is given, at least: each leg ranks this many before fusion.
pub const DEFAULT_LEG_LIMIT: usize = 50;

/// What one leg ranks by.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Source {
    /// The collection's vectors, by the collection's metric, as a search ranks them.
    Dense {
        /// The query vector.
        vector: Vec<f32>,
        /// HNSW candidate list; `None`: `max(limit, DEFAULT_EF)`.
        ef: Option<usize>,
        /// Scan every point instead of walking the graph.
        exact: bool,
    },
    /// BM25 over the text index of a payload key.
    Text {
        /// The payload key whose text index ranks.
        key: String,
        /// The query text, analysed as the index analyses documents.
        text: String,
        /// BM25's parameters.
        bm25: Bm25,
    },
    /// Dot product over a sparse field (with the field's IDF modifier when it has one).
    Sparse {
        /// The sparse field.
        field: String,
        /// The query's sparse vector.
        vector: crate::SparseVector,
    },
}

/// One ranking of a query: a source, how many of its best it keeps, which points it may
/// rank, and its weight in the fusion.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Leg {
    /// What the leg ranks by.
    pub source: Source,
    /// The leg's depth; `None`: the query's limit (at least [`DEFAULT_LEG_LIMIT`] when
    /// there are several legs to fuse).
    pub limit: Option<usize>,
    /// Only points passing this filter are ranked by the leg.
    pub filter: Option<Filter>,
    /// Multiplies the leg's part of a fused score (1 by default; 0 leaves the leg out of
    /// the scores, though its points may still be returned).
    pub weight: f32,
}

impl Leg {
    /// A leg ranking by `source`, with the query's depth, no filter and weight 1.
    pub fn new(source: Source) -> Leg {
        Leg {
            source,
            limit: None,
            filter: None,
            weight: 1.0,
        }
    }

    /// A dense leg: the nearest vectors to `vector`.
    pub fn dense(vector: Vec<f32>) -> Leg {
        Leg::new(Source::Dense {
            vector,
            ef: None,
            exact: false,
        })
    }

    /// A full-text leg: BM25 (default parameters) of `text` over the text index of `key`.
    pub fn text(key: impl Into<String>, text: impl Into<String>) -> Leg {
        Leg::new(Source::Text {
            key: key.into(),
            text: text.into(),
            bm25: Bm25::default(),
        })
    }

    /// A sparse leg: the best dot products with `vector` in the sparse field `field`.
    pub fn sparse(field: impl Into<String>, vector: crate::SparseVector) -> Leg {
        Leg::new(Source::Sparse {
            field: field.into(),
            vector,
        })
    }

    /// Sets the leg's depth.
    pub fn with_limit(mut self, limit: usize) -> Leg {
        self.limit = Some(limit);
        self
    }

    /// Sets the leg's filter.
    pub fn with_filter(mut self, filter: Filter) -> Leg {
        self.filter = Some(filter);
        self
    }

    /// Sets the leg's weight in the fusion.
    pub fn with_weight(mut self, weight: f32) -> Leg {
        self.weight = weight;
        self
    }

    /// Sets a dense leg's candidate list size (other legs have none).
    pub fn with_ef(mut self, ef: usize) -> Leg {
        if let Source::Dense { ef: e, .. } = &mut self.source {
            *e = Some(ef);
        }
        self
    }

    /// Sets a text leg's BM25 parameters (other legs have none).
    pub fn with_bm25(mut self, params: Bm25) -> Leg {
        if let Source::Text { bm25, .. } = &mut self.source {
            *bm25 = params;
        }
        self
    }

    /// The leg's depth in a query of `limit` with `legs` legs: a lone leg's ranking is the
    /// answer, so it ranks no deeper than the answer needs.
    pub(crate) fn depth(&self, limit: usize, legs: usize) -> usize {
        match (self.limit, legs) {
            (Some(n), _) => n,
            (None, 1) => limit,
            (None, _) => limit.max(DEFAULT_LEG_LIMIT),
        }
    }
}

/// How the legs' rankings become one. Every fusion sums per-leg parts multiplied by the
/// legs' weights; a point a leg did not rank gets no part from it. Ties go to the smaller id.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Fusion {
    /// Reciprocal rank fusion (Cormack et al., 2009): a leg's part is `1 / (k + position)`,
    /// the position counted from 0 (as Qdrant does).
    /// `k` is added to each position (Qdrant's default, 2, is [`DEFAULT_RRF_K`]).
    Rrf {
        /// Added to each position.
        k: f32,
    },
    /// Distribution-based score fusion: a leg's scores are normalised to
    /// `(s - (mean - 3 sd)) / (6 sd)` (sample standard deviation; 0.5 when the scores do not
    /// spread), as Qdrant's DBSF.
    Dbsf,
    /// Relative score fusion: a leg's scores are min-max normalised to 0..1 (1 when they do
    /// not spread).
    Relative,
}

impl Default for Fusion {
    fn default() -> Fusion {
        Fusion::Rrf { k: DEFAULT_RRF_K }
    }
}

/// A query: its legs, their fusion, and what comes back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Query {
    /// The rankings to fuse (1 to [`MAX_LEGS`]).
    pub legs: Vec<Leg>,
    /// Ignored with one leg: its own scores are returned.
    pub fusion: Fusion,
    /// Hits returned.
    pub limit: usize,
    /// Only hits scoring at least this (the fused score; with one leg, as that leg's search
    /// threshold would).
    pub score_threshold: Option<f32>,
    /// What hits carry: payloads by default, no vectors.
    pub include: crate::Include,
}

impl Query {
    /// A query returning `limit` hits, with payloads, fused by RRF; add legs with
    /// [`Query::leg`].
    pub fn new(limit: usize) -> Query {
        Query {
            legs: Vec::new(),
            fusion: Fusion::default(),
            limit,
            score_threshold: None,
            include: crate::Include::new(false, true),
        }
    }

    /// Adds a leg.
    pub fn leg(mut self, leg: Leg) -> Query {
        self.legs.push(leg);
        self
    }

    /// Sets how the legs are fused.
    pub fn with_fusion(mut self, fusion: Fusion) -> Query {
        self.fusion = fusion;
        self
    }

    /// Returns only hits scoring at least `t`.
    pub fn with_score_threshold(mut self, t: f32) -> Query {
        self.score_threshold = Some(t);
        self
    }

    /// Sets whether hits carry their payloads.
    pub fn with_payload(mut self, on: bool) -> Query {
        self.include.payload = on;
        self
    }

    /// Sets whether hits carry their vectors.
    pub fn with_vector(mut self, on: bool) -> Query {
        self.include.vector = on;
        self
    }

    /// Checks what does not need the collection: counts, limits, weights, parameters.
    pub fn validate(&self) -> Result<()> {
        let arg = |m: String| Err(Error::InvalidArgument(m));
        if self.legs.is_empty() {
            return arg("a query needs at least one leg".into());
        }
        if self.legs.len() > MAX_LEGS {
            return Err(Error::LimitExceeded {
                limit: Limit::QueryLegs,
                max: MAX_LEGS as u64,
                actual: self.legs.len() as u64,
            });
        }
        let k_ok = |k: usize| -> Result<()> {
            if k == 0 {
                return Err(Error::InvalidArgument("a limit must be at least 1".into()));
            }
            if k > crate::collection::MAX_K {
                return Err(Error::LimitExceeded {
                    limit: Limit::K,
                    max: crate::collection::MAX_K as u64,
                    actual: k as u64,
                });
            }
            Ok(())
        };
        k_ok(self.limit)?;
        if self.score_threshold.is_some_and(f32::is_nan) {
            return arg("the score threshold is NaN".into());
        }
        if let Fusion::Rrf { k } = self.fusion
            && !(k.is_finite() && k > 0.0)
        {
            return arg(format!(
                "the RRF constant k must be finite and above 0, got {k}"
            ));
        }
        for (i, leg) in self.legs.iter().enumerate() {
            k_ok(leg.depth(self.limit, self.legs.len()))?;
            if !(leg.weight.is_finite() && leg.weight >= 0.0) {
                return arg(format!(
                    "leg {i}: a weight must be finite and at least 0, got {}",
                    leg.weight
                ));
            }
            if let Some(f) = &leg.filter {
                f.validate()?;
            }
            if let Source::Sparse { vector, .. } = &leg.source {
                vector.validate(&format!("leg {i}"))?;
            }
            if let Source::Text { bm25, .. } = &leg.source
                && !(bm25.k1.is_finite() && bm25.k1 >= 0.0 && (0.0..=1.0).contains(&bm25.b))
            {
                return arg(format!(
                    "leg {i}: BM25 needs k1 >= 0 and b in 0..=1, got k1 {} and b {}",
                    bm25.k1, bm25.b
                ));
            }
        }
        Ok(())
    }
}
