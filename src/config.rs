//! Collection configuration: how many dimensions, and how vectors are compared.

use crate::error::{Error, Limit, Result};
use std::fmt;
use std::str::FromStr;

/// The longest collection name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a collection name: 1 to 64 characters from `[A-Za-z0-9_-]`. Nothing else can reach
/// a path, so names can never climb out of the database directory.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: &'static str| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason: reason.into(),
        })
    };
    if name.is_empty() {
        return bad("a name needs at least one character");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("a name has at most 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad("a name may only contain A-Z, a-z, 0-9, '_' and '-'");
    }
    Ok(())
}

/// The largest dimension a collection may have.
pub const MAX_DIMENSION: u32 = 65_536;

/// How two vectors are compared, and what a hit's score means.
///
/// | metric    | stored as                      | score                         | best |
/// |-----------|--------------------------------|-------------------------------|------|
/// | cosine    | f32, normalised at insert      | cosine similarity in [-1, 1]  | high |
/// | euclidean | f32                            | euclidean distance (not squared) | low |
/// | dot       | f32                            | inner product                 | high |
/// | hamming   | bits (components 0.0 or 1.0)   | number of differing bits      | low  |
/// | jaccard   | bits (components 0.0 or 1.0)   | Jaccard similarity |a∧b|/|a∨b| (1 for two empty sets) | high |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// 1 − cosine similarity ranks; scores are the similarity (higher is nearer). Vectors are
    /// stored normalised.
    Cosine,
    /// Euclidean distance (lower is nearer).
    Euclidean,
    /// Dot product (higher is nearer).
    Dot,
    /// Bits that differ, over 0/1 components (lower is nearer).
    Hamming,
    /// Jaccard similarity of the sets of 1 components (higher is nearer).
    Jaccard,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 5] = [
        Metric::Cosine,
        Metric::Euclidean,
        Metric::Dot,
        Metric::Hamming,
        Metric::Jaccard,
    ];

    /// The metric's name in the CLI, JSON and WIT (`cosine`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
            Metric::Dot => "dot",
            Metric::Hamming => "hamming",
            Metric::Jaccard => "jaccard",
        }
    }

    /// True for metrics over bit vectors.
    pub fn is_binary(self) -> bool {
        matches!(self, Metric::Hamming | Metric::Jaccard)
    }

    /// True when a larger score is a better match.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Cosine | Metric::Dot | Metric::Jaccard)
    }

    /// The on-disk code (format.md). Never reorder.
    pub(crate) fn code(self) -> u8 {
        match self {
            Metric::Cosine => 1,
            Metric::Euclidean => 2,
            Metric::Dot => 3,
            Metric::Hamming => 4,
            Metric::Jaccard => 5,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.code() == code)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Metric> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "l2" => return Ok(Metric::Euclidean),
            "ip" | "inner_product" => return Ok(Metric::Dot),
            _ => {}
        }
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown metric {s:?} (expected cosine, euclidean, dot, hamming or jaccard)"
                ))
            })
    }
}

/// What a collection is: its dimension and metric, and how its HNSW index is built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CollectionConfig {
    /// Components per vector (bits for the binary metrics).
    pub dimension: u32,
    /// How vectors are compared.
    pub metric: Metric,
    /// HNSW `M`: links per node on upper levels (level 0 has `2M`). 2 to 128; default 16.
    pub m: u32,
    /// HNSW `efConstruction`: candidates considered per insert. 1 to 4096; default 200.
    pub ef_construction: u32,
    /// Named sparse vector fields a point may carry beside its dense vector (at most
    /// [`MAX_SPARSE_FIELDS`], distinct names).
    pub sparse: Vec<SparseField>,
}

/// The most sparse fields a collection may declare.
pub const MAX_SPARSE_FIELDS: usize = 16;

/// A named sparse vector field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SparseField {
    /// A name as collection names are (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// Multiply each query dimension by its inverse document frequency at query time (as
    /// BM25 does), so term-frequency vectors rank as BM25 would.
    pub idf: bool,
}

impl SparseField {
    /// A sparse field called `name`, with the IDF modifier when `idf`.
    pub fn new(name: impl Into<String>, idf: bool) -> SparseField {
        SparseField {
            name: name.into(),
            idf,
        }
    }
}

impl CollectionConfig {
    /// A collection of `dimension`-component vectors compared by `metric`, with default HNSW
    /// parameters.
    pub fn new(dimension: u32, metric: Metric) -> Self {
        CollectionConfig {
            dimension,
            metric,
            m: 16,
            ef_construction: 200,
            sparse: Vec::new(),
        }
    }

    /// Declares a sparse vector field.
    pub fn with_sparse(mut self, field: SparseField) -> Self {
        self.sparse.push(field);
        self
    }

    /// The position of the sparse field `name`.
    pub fn sparse_field(&self, name: &str) -> Option<usize> {
        self.sparse.iter().position(|f| f.name == name)
    }

    /// Sets the HNSW build parameters.
    pub fn with_hnsw(mut self, m: u32, ef_construction: u32) -> Self {
        self.m = m;
        self.ef_construction = ef_construction;
        self
    }

    /// Refuses a configuration that cannot work, with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn validate(&self) -> Result<()> {
        if self.dimension == 0 {
            return Err(Error::InvalidConfig("dimension must be at least 1".into()));
        }
        if !(2..=128).contains(&self.m) {
            return Err(Error::InvalidConfig(format!(
                "HNSW M must be 2 to 128, got {}",
                self.m
            )));
        }
        if !(1..=4096).contains(&self.ef_construction) {
            return Err(Error::InvalidConfig(format!(
                "HNSW ef_construction must be 1 to 4096, got {}",
                self.ef_construction
            )));
        }
        if self.sparse.len() > MAX_SPARSE_FIELDS {
            return Err(Error::InvalidConfig(format!(
                "at most {MAX_SPARSE_FIELDS} sparse fields, got {}",
                self.sparse.len()
            )));
        }
        for (i, f) in self.sparse.iter().enumerate() {
            validate_name(&f.name).map_err(|_| {
                Error::InvalidConfig(format!(
                    "sparse field name {:?}: 1 to 64 of A-Z a-z 0-9 _ -",
                    f.name
                ))
            })?;
            if self.sparse[..i].iter().any(|g| g.name == f.name) {
                return Err(Error::InvalidConfig(format!(
                    "sparse field {:?} declared twice",
                    f.name
                )));
            }
        }
        if self.dimension > MAX_DIMENSION {
            return Err(Error::LimitExceeded {
                limit: Limit::Dimension,
                max: MAX_DIMENSION as u64,
                actual: self.dimension as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_and_codes_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
            assert_eq!(Metric::from_code(m.code()), Some(m));
        }
        assert_eq!("L2".parse::<Metric>().unwrap(), Metric::Euclidean);
        assert!(matches!(
            "manhattan".parse::<Metric>(),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(Metric::from_code(0), None);
    }

    #[test]
    fn zero_and_oversized_dimensions_are_refused() {
        assert!(CollectionConfig::new(0, Metric::Dot).validate().is_err());
        assert!(matches!(
            CollectionConfig::new(MAX_DIMENSION + 1, Metric::Dot).validate(),
            Err(Error::LimitExceeded {
                limit: Limit::Dimension,
                ..
            })
        ));
        CollectionConfig::new(MAX_DIMENSION, Metric::Dot)
            .validate()
            .unwrap();
    }
}
