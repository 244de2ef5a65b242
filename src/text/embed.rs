//! Text as sparse vectors, for sparse fields: the analysis's terms hashed to dimensions, a
//! document weighted by BM25's term-frequency part, a query by presence. With a field's IDF
//! modifier the dot product is BM25 (the way Qdrant's `Bm25` embedder fills a sparse field),
//! and the same field can take vectors from any other model (SPLADE).

use super::analyze::{Analyzer, Side};
use super::config::TextConfig;
use crate::SparseVector;
use std::collections::BTreeMap;

/// The dimension of a term: its CRC32 (stable across builds and platforms). Two terms may
/// share one, as with any hashing embedder; with 2^32 dimensions that is rare.
pub fn term_dimension(term: &str) -> u32 {
    crc32fast::hash(term.as_bytes())
}

/// Sparse BM25 vectors from text: `embed_document` gives each term
/// `tf (k1 + 1) / (tf + k1 (1 - b + b len / avg_len))`, `embed_query` gives each distinct term
/// 1. Search a sparse field declared with `idf: true` with the query vector.
#[derive(Debug)]
pub struct Bm25Embedder {
    analyzer: Analyzer,
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalisation, 0 to 1 (default 0.75).
    pub b: f32,
    /// The typical document length in terms (a constant: documents are embedded one by one).
    pub avg_len: f32,
}

impl Bm25Embedder {
    /// An embedder with this analysis and BM25's usual k1 1.2, b 0.75, and `avg_len` terms.
    pub fn new(config: TextConfig, avg_len: f32) -> Bm25Embedder {
        Bm25Embedder {
            analyzer: Analyzer::new(config),
            k1: 1.2,
            b: 0.75,
            avg_len,
        }
    }

    fn counts(&self, text: &str, side: Side) -> BTreeMap<u32, (u32, f32)> {
        let mut counts: BTreeMap<u32, (u32, f32)> = BTreeMap::new();
        self.analyzer.run(text, side, &mut |term, _| {
            counts.entry(term_dimension(term)).or_default().0 += 1;
        });
        counts
    }

    /// A document's vector.
    pub fn embed_document(&self, text: &str) -> SparseVector {
        let counts = self.counts(text, Side::Document);
        let len: u32 = counts.values().map(|c| c.0).sum();
        let norm = self.k1 * (1.0 - self.b + self.b * len as f32 / self.avg_len.max(1e-6));
        let (indices, values) = counts
            .into_iter()
            .map(|(d, (tf, _))| {
                let tf = tf as f32;
                (d, tf * (self.k1 + 1.0) / (tf + norm))
            })
            .unzip();
        SparseVector::new(indices, values)
    }

    /// A query's vector: each distinct term once.
    pub fn embed_query(&self, text: &str) -> SparseVector {
        let (indices, values) = self
            .counts(text, Side::Query)
            .into_keys()
            .map(|d| (d, 1.0))
            .unzip();
        SparseVector::new(indices, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_weigh_by_frequency_and_length_queries_by_presence() {
        let e = Bm25Embedder::new(TextConfig::default(), 4.0);
        let d = e.embed_document("red red shoes");
        d.validate("d").unwrap();
        assert_eq!(d.indices.len(), 2);
        let red = d.get(term_dimension("red"));
        let shoe = d.get(term_dimension("shoe"));
        assert!(red > shoe && shoe > 0.0, "{red} {shoe}");
        let q = e.embed_query("Shoes shoes and RED");
        assert_eq!(q.indices.len(), 2, "stop word dropped, repeats once");
        assert!(q.values.iter().all(|&v| v == 1.0));
        assert!(e.embed_query("the and of").is_empty());
    }
}
