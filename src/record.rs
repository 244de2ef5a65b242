//! Log records of a collection: the payloads of WAL frames.
//!
//! ```text
//! upsert (kind 1):  count u32, then per point:
//!                     id u64, payload length u32 (0xFFFF_FFFF = no payload),
//!                     payload (compact JSON text), vector (slot_size bytes, encoded)
//! delete (kind 2):  count u32, then count ids (u64)
//! payload (kind 3): as upsert, without vectors: each point's whole new payload
//! index (kind 4):   op u8 (1 create, 0 drop), kind u8 (IndexKind code), key length u32, key,
//!                   then the kind's parameters to the end (a text index's config; none else)
//! upsert with sparse vectors (kind 5): as upsert, each point followed by its sparse
//!                   vectors: count u16, then per vector field u16 (its place in the config),
//!                   nnz u32, nnz indices u32, nnz values f32
//!                   (a batch with no sparse vector is logged as kind 1)
//! ```
//! All integers little-endian. Vectors are logged already encoded (normalised, bit-packed), so
//! replay writes exactly the bytes the original write did.

use crate::format::Reader;

pub const KIND_UPSERT: u8 = 1;
pub const KIND_DELETE: u8 = 2;
pub const KIND_PAYLOAD: u8 = 3;
pub const KIND_INDEX: u8 = 4;
pub const KIND_UPSERT_SPARSE: u8 = 5;
const NO_PAYLOAD: u32 = u32::MAX;

/// One point of an upsert record, borrowed from the record bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct PointRef<'a> {
    pub id: u64,
    pub payload: Option<&'a str>,
    pub vector: &'a [u8],
}

pub fn begin(out: &mut Vec<u8>, count: usize) {
    out.clear();
    out.extend_from_slice(&(count as u32).to_le_bytes());
}

pub fn push_point(out: &mut Vec<u8>, id: u64, payload: Option<&str>, vector: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    match payload {
        Some(p) => {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p.as_bytes());
        }
        None => out.extend_from_slice(&NO_PAYLOAD.to_le_bytes()),
    }
    out.extend_from_slice(vector);
}

pub fn push_id(out: &mut Vec<u8>, id: u64) {
    out.extend_from_slice(&id.to_le_bytes());
}

/// Appends a point's sparse vectors (kind 5, after [`push_point`]).
pub fn push_sparse(out: &mut Vec<u8>, vectors: &[(u16, crate::SparseVector)]) {
    out.extend_from_slice(&(vectors.len() as u16).to_le_bytes());
    for (field, v) in vectors {
        out.extend_from_slice(&field.to_le_bytes());
        v.encode(out);
    }
}

/// One point's sparse vectors, decoded.
pub type SparseOf = Vec<(u16, crate::SparseVector)>;

/// Decodes an upsert record of kind 5: each point with its sparse vectors, whose fields must
/// be below `fields`.
pub fn decode_upsert_sparse(
    bytes: &[u8],
    slot_size: usize,
    fields: usize,
) -> Result<Vec<(PointRef<'_>, SparseOf)>, String> {
    let mut r = Reader::new(bytes);
    let count = r.u32()? as usize;
    let mut points = Vec::with_capacity(count.min(bytes.len() / 14));
    for _ in 0..count {
        let p = point(&mut r, slot_size)?;
        let n = u16::from_le_bytes(r.take(2)?.try_into().expect("2 bytes"));
        let mut vectors = Vec::with_capacity(usize::from(n).min(fields));
        for _ in 0..n {
            let field = u16::from_le_bytes(r.take(2)?.try_into().expect("2 bytes"));
            if usize::from(field) >= fields || vectors.iter().any(|(f, _)| *f == field) {
                return Err(format!(
                    "sparse field {field} unknown or repeated for id {}",
                    p.id
                ));
            }
            vectors.push((field, crate::SparseVector::decode(&mut r)?));
        }
        points.push((p, vectors));
    }
    r.finish()?;
    Ok(points)
}

fn point<'a>(r: &mut Reader<'a>, slot_size: usize) -> Result<PointRef<'a>, String> {
    let id = r.u64()?;
    let payload = match r.u32()? {
        NO_PAYLOAD => None,
        n => Some(
            std::str::from_utf8(r.take(n as usize)?)
                .map_err(|_| "payload is not UTF-8".to_string())?,
        ),
    };
    let vector = r.take(slot_size)?;
    Ok(PointRef {
        id,
        payload,
        vector,
    })
}

/// Decodes an upsert record. Errors describe what is wrong; the caller names file and lsn.
pub fn decode_upsert(bytes: &[u8], slot_size: usize) -> Result<Vec<PointRef<'_>>, String> {
    let mut r = Reader::new(bytes);
    let count = r.u32()? as usize;
    // Every point takes at least 12 bytes: never allocate for more than the bytes can hold.
    let mut points = Vec::with_capacity(count.min(bytes.len() / 12));
    for _ in 0..count {
        points.push(point(&mut r, slot_size)?);
    }
    r.finish()?;
    Ok(points)
}

pub fn decode_delete(bytes: &[u8]) -> Result<Vec<u64>, String> {
    let mut r = Reader::new(bytes);
    let count = r.u32()? as usize;
    let mut ids = Vec::with_capacity(count.min(bytes.len() / 8));
    for _ in 0..count {
        ids.push(r.u64()?);
    }
    r.finish()?;
    Ok(ids)
}

/// Decodes a payload record: `(id, payload)` pairs, borrowed.
pub fn decode_payloads(bytes: &[u8]) -> Result<Vec<(u64, Option<&str>)>, String> {
    Ok(decode_upsert(bytes, 0)?
        .into_iter()
        .map(|p| (p.id, p.payload))
        .collect())
}

/// An index record: create (`true`) or drop an index of `kind` (its code) on `key`, with
/// the kind's parameters.
pub fn index(create: bool, kind: u8, key: &str, params: &[u8]) -> Vec<u8> {
    let mut out = vec![create as u8, kind];
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(params);
    out
}

/// Decodes an index record: `(create, kind code, key, parameters)`.
pub fn decode_index(bytes: &[u8]) -> Result<(bool, u8, &str, &[u8]), String> {
    let mut r = Reader::new(bytes);
    let head = r.take(2)?;
    let create = match head[0] {
        0 => false,
        1 => true,
        op => return Err(format!("unknown index operation {op}")),
    };
    let n = r.u32()? as usize;
    let key = std::str::from_utf8(r.take(n)?).map_err(|_| "index key is not UTF-8".to_string())?;
    let at = 6 + n;
    Ok((create, head[1], key, &bytes[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_every_truncation_is_an_error() {
        let mut out = Vec::new();
        begin(&mut out, 2);
        push_point(&mut out, 7, Some("{\"a\":1}"), &[1, 2, 3, 4]);
        push_point(&mut out, 8, None, &[5, 6, 7, 8]);
        let points = decode_upsert(&out, 4).unwrap();
        assert_eq!(
            points[0],
            PointRef {
                id: 7,
                payload: Some("{\"a\":1}"),
                vector: &[1, 2, 3, 4]
            }
        );
        assert_eq!(
            points[1],
            PointRef {
                id: 8,
                payload: None,
                vector: &[5, 6, 7, 8]
            }
        );
        for cut in 0..out.len() {
            assert!(decode_upsert(&out[..cut], 4).is_err(), "cut {cut}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode_upsert(&longer, 4).is_err());

        begin(&mut out, 2);
        push_id(&mut out, 1);
        push_id(&mut out, u64::MAX);
        assert_eq!(decode_delete(&out).unwrap(), vec![1, u64::MAX]);
        assert!(decode_delete(&out[..out.len() - 1]).is_err());
    }

    #[test]
    fn payload_and_index_records_round_trip() {
        let mut out = Vec::new();
        begin(&mut out, 2);
        push_point(&mut out, 3, Some("{}"), &[]);
        push_point(&mut out, 4, None, &[]);
        assert_eq!(
            decode_payloads(&out).unwrap(),
            vec![(3, Some("{}")), (4, None)]
        );
        let rec = index(true, 2, "a.b", &[]);
        assert_eq!(decode_index(&rec).unwrap(), (true, 2, "a.b", &[][..]));
        for cut in 0..rec.len() {
            assert!(decode_index(&rec[..cut]).is_err());
        }
        let rec = index(false, 6, "t", &[1, 2, 3]);
        assert_eq!(decode_index(&rec).unwrap(), (false, 6, "t", &[1, 2, 3][..]));
        assert!(decode_index(&[7, 1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn sparse_upserts_round_trip_and_bad_fields_are_errors() {
        let v = crate::SparseVector::new(vec![3, 9], vec![1.0, 0.5]);
        let mut out = Vec::new();
        begin(&mut out, 2);
        push_point(&mut out, 7, None, &[1, 2]);
        push_sparse(&mut out, &[(1, v.clone())]);
        push_point(&mut out, 8, Some("{}"), &[3, 4]);
        push_sparse(&mut out, &[]);
        let got = decode_upsert_sparse(&out, 2, 2).unwrap();
        assert_eq!(got[0].1, vec![(1, v)]);
        assert_eq!((got[1].0.id, got[1].1.len()), (8, 0));
        assert!(decode_upsert_sparse(&out, 2, 1).is_err(), "field 1 of 1");
        for cut in 0..out.len() {
            assert!(decode_upsert_sparse(&out[..cut], 2, 2).is_err());
        }
    }

    #[test]
    fn a_huge_count_does_not_allocate_beyond_the_bytes() {
        let bytes = u32::MAX.to_le_bytes();
        assert!(decode_upsert(&bytes, 1536).is_err());
        assert!(decode_delete(&bytes).is_err());
    }
}
