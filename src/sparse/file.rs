//! The sparse file `sparse-<g>`: every live point's sparse vectors as of checkpoint `g`,
//! written whole at each checkpoint (as the graph is), atomically, before the checkpoint that
//! names it. Unlike the graph it is primary data: damage is corruption, never rebuilt.
//!
//! Framed as `format/whole.rs` says (magic "VELESSPV", version 1); the body: count u64, then
//! per vector: id u64, field u16 (its place in the config), nnz u32, nnz indices (u32,
//! ascending), nnz values (f32).

use super::vector::SparseVector;
use crate::error::StorageError;
use crate::format::{Header, Reader, whole};

const HEADER: Header = Header {
    magic: *b"VELESSPV",
    version: 1,
};
const HEAD: usize = whole::BODY_AT;

/// One stored vector: the point, its field's place in the config, the vector.
pub(crate) type Entry = (u64, u16, SparseVector);

/// The file's bytes for `path`, from `(id, field, vector)` in any order.
pub(crate) fn encode<'a>(
    path: &str,
    entries: impl Iterator<Item = (u64, u16, &'a SparseVector)>,
) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    let mut count = 0u64;
    for (id, field, v) in entries {
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(&field.to_le_bytes());
        v.encode(&mut body);
        count += 1;
    }
    body[..8].copy_from_slice(&count.to_le_bytes());
    whole::encode(HEADER, path, &body)
}

/// The entries of a file read whole from `path`; `fields` is how many the config declares.
/// Any damage is `Corrupted` with the file and the offset where it shows.
pub(crate) fn decode(bytes: &[u8], path: &str, fields: usize) -> Result<Vec<Entry>, StorageError> {
    let bad = |at: usize, why: String| StorageError::corrupted(path, at as u64, why);
    let body = whole::decode(bytes, HEADER, path, "sparse vector file")?;
    let mut r = Reader::new(body);
    let count = r.u64().map_err(|e| bad(HEAD, e))?;
    // Every entry takes at least 14 bytes: never allocate for more than the body holds.
    let mut out = Vec::with_capacity((count as usize).min(body.len() / 14));
    for _ in 0..count {
        let at = HEAD + r.position();
        let id = r.u64().map_err(|e| bad(at, e))?;
        let field = u16::from_le_bytes(
            r.take(2)
                .map_err(|e| bad(at, e))?
                .try_into()
                .expect("2 bytes"),
        );
        if field as usize >= fields {
            return Err(bad(at, format!("field {field} of {fields} declared")));
        }
        let v = SparseVector::decode(&mut r).map_err(|e| bad(at, e))?;
        out.push((id, field, v));
    }
    r.finish().map_err(|e| bad(HEAD + r.position(), e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_every_damage_is_corruption() {
        let a = SparseVector::new(vec![1, 5], vec![0.5, 2.0]);
        let b = SparseVector::new(vec![0], vec![-1.0]);
        let bytes = encode("c/sparse-2", [(7, 0, &a), (9, 1, &b)].into_iter());
        let got = decode(&bytes, "c/sparse-2", 2).unwrap();
        assert_eq!(got, vec![(7, 0, a), (9, 1, b)]);
        assert!(
            decode(&bytes, "c/sparse-3", 2).is_err(),
            "another generation's file"
        );
        assert!(
            decode(&bytes, "c/sparse-2", 1).is_err(),
            "a field the config lacks"
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "c/sparse-2", 2).is_err(), "cut {cut}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let e = decode(&bad, "c/sparse-2", 2).unwrap_err();
            assert!(
                matches!(
                    e,
                    StorageError::Corrupted { .. } | StorageError::UnsupportedVersion { .. }
                ),
                "byte {at}: {e}"
            );
        }
    }
}
