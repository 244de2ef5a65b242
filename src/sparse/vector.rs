//! A sparse vector: the dimensions it holds (ascending, distinct) and their values.

use crate::error::{Error, Result};

/// The most non-zero dimensions one sparse vector may hold.
pub const MAX_SPARSE_NNZ: usize = 65_536;

/// A sparse vector: `values[i]` at dimension `indices[i]`.
///
/// Invariants once validated ([`SparseVector::validate`]): `indices` strictly ascending, as
/// long as `values`, at most [`MAX_SPARSE_NNZ`]; every value finite.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SparseVector {
    /// Dimensions with a value, strictly ascending.
    pub indices: Vec<u32>,
    /// The values, one per index, finite.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// A sparse vector (checked when a point or query carrying it is).
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> SparseVector {
        SparseVector { indices, values }
    }

    /// Checks the invariants; `what` names the vector in the error (a point and field).
    pub fn validate(&self, what: &str) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("{what}: {m}")));
        if self.indices.len() != self.values.len() {
            return bad(format!(
                "{} indices but {} values",
                self.indices.len(),
                self.values.len()
            ));
        }
        if self.indices.len() > MAX_SPARSE_NNZ {
            return bad(format!(
                "{} dimensions, at most {MAX_SPARSE_NNZ}",
                self.indices.len()
            ));
        }
        if let Some(i) = (1..self.indices.len()).find(|&i| self.indices[i - 1] >= self.indices[i]) {
            return bad(format!(
                "indices must be strictly ascending (sorted, no repeats): {} then {}",
                self.indices[i - 1],
                self.indices[i]
            ));
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return bad(format!(
                "the value at index {} is not finite",
                self.indices[i]
            ));
        }
        Ok(())
    }

    /// Parses `{"indices": [u32…], "values": [number…]}` (the form the CLI, the query JSON and
    /// the bindings take), then checks it as [`SparseVector::validate`] does.
    pub fn from_json(v: &serde_json::Value) -> Result<SparseVector> {
        let bad = |m: &str| Error::InvalidArgument(format!("a sparse vector: {m}, got {v}"));
        let list = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| {
                    bad(&format!(
                        "{{\"indices\": [..], \"values\": [..]}} needs {k:?}"
                    ))
                })
        };
        let indices = list("indices")?
            .iter()
            .map(|i| {
                i.as_u64()
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| bad("an index is a whole number below 2^32"))
            })
            .collect::<Result<Vec<u32>>>()?;
        let values = list("values")?
            .iter()
            .map(|x| {
                x.as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| bad("values are numbers"))
            })
            .collect::<Result<Vec<f32>>>()?;
        let out = SparseVector::new(indices, values);
        out.validate("a sparse vector")?;
        Ok(out)
    }

    /// The JSON form [`SparseVector::from_json`] reads.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"indices": self.indices, "values": self.values})
    }

    /// The value at `dim` (0 where it holds none).
    pub fn get(&self, dim: u32) -> f32 {
        self.indices
            .binary_search(&dim)
            .map_or(0.0, |i| self.values[i])
    }

    /// True when it has no nonzero dimension.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Appends `nnz u32, indices (u32 each), values (f32 each)`, little-endian.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.indices.len() as u32).to_le_bytes());
        for i in &self.indices {
            out.extend_from_slice(&i.to_le_bytes());
        }
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Reads what [`SparseVector::encode`] wrote, checking the invariants.
    pub(crate) fn decode(r: &mut crate::format::Reader<'_>) -> std::result::Result<Self, String> {
        let n = r.u32()? as usize;
        if n > MAX_SPARSE_NNZ {
            return Err(format!("a sparse vector of {n} dimensions"));
        }
        let mut v = SparseVector::default();
        for _ in 0..n {
            v.indices.push(r.u32()?);
        }
        for _ in 0..n {
            v.values
                .push(f32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")));
        }
        v.validate("a stored sparse vector")
            .map_err(|e| e.to_string())?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_vectors_are_refused_and_good_ones_round_trip() {
        for bad in [
            SparseVector::new(vec![1, 2], vec![1.0]),
            SparseVector::new(vec![2, 1], vec![1.0, 1.0]),
            SparseVector::new(vec![1, 1], vec![1.0, 1.0]),
            SparseVector::new(vec![1], vec![f32::NAN]),
            SparseVector::new(vec![1], vec![f32::INFINITY]),
        ] {
            assert!(bad.validate("v").is_err(), "{bad:?}");
        }
        let v = SparseVector::new(vec![0, 7, u32::MAX], vec![0.5, -1.0, 3.0]);
        v.validate("v").unwrap();
        let mut bytes = Vec::new();
        v.encode(&mut bytes);
        let mut r = crate::format::Reader::new(&bytes);
        assert_eq!(SparseVector::decode(&mut r).unwrap(), v);
        for cut in 0..bytes.len() {
            let mut r = crate::format::Reader::new(&bytes[..cut]);
            assert!(SparseVector::decode(&mut r).is_err());
        }
        assert_eq!(v.get(7), -1.0);
        assert_eq!(v.get(8), 0.0);
    }
}
