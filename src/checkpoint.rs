//! The checkpoint: a collection's config, id map, payload indexes and the extent of its
//! payload file, as of one WAL generation.
//!
//! ```text
//!   0   8  magic "VELESCKP"
//!   8   4  format version (u32 LE)
//!  12   4  reserved, zero
//!  16   8  body length n (u64 LE)
//!  24   n  body: postcard of `Body`
//! 24+n  4  crc32 of bytes 0..24+n
//! ```
//! Written only with `Directory::write_atomic`, so it is always whole: any damage is corruption.

use crate::config::{CollectionConfig, Metric};
use crate::error::StorageError;
use crate::format::{Header, HeaderProblem, append_crc, u64_at};
use serde::{Deserialize, Serialize};

pub const MAGIC: [u8; 8] = *b"VELESCKP";
/// 2: payloads moved to their own file (`payloads-<g>`); payload indexes declared here.
/// 3: an index declaration carries its kind's parameters (a text index's config). Version 2
/// is still read.
pub const VERSION: u32 = 3;
const VERSION_2: u32 = 2;
const HEADER: Header = Header {
    magic: MAGIC,
    version: VERSION,
};
const HEAD: usize = 24;

/// One live point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub slot: u32,
}

/// The checkpoint body.
///
/// Invariants (checked by [`Checkpoint::decode`]): `generation >= 1`; entries are sorted by
/// id with no duplicate ids; every slot is `< slot_count` and used once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub dimension: u32,
    pub metric: u8,
    pub hnsw_m: u32,
    pub hnsw_ef_construction: u32,
    /// The WAL generation that continues this checkpoint (every log frame carries it). The graph file
    /// of this checkpoint is `graph-<generation>`.
    pub generation: u32,
    /// The vector file is `vectors-<vectors_generation>`: the generation of the checkpoint
    /// that created it (creation, or the last compaction). `1 <= vectors_generation <=
    /// generation`.
    pub vectors_generation: u32,
    /// The lsn of the first record of that generation.
    pub next_lsn: u64,
    /// Slots in use or free below this bound; the vector file holds at least this many.
    pub slot_count: u32,
    pub entries: Vec<Entry>,
    /// The payload file is `payloads-<payloads_generation>` (`1 <=` it `<= generation`) and
    /// its records end at `payloads_end`.
    pub payloads_generation: u32,
    pub payloads_end: u64,
    /// Declared payload indexes: `(key, kind code, parameters)`, sorted, no duplicates;
    /// the parameters are a text index's config, empty for every other kind.
    pub indexes: Vec<(String, u8, Vec<u8>)>,
    /// Sparse vector fields, in declaration order: `(name, flags)`, flags bit 0 = IDF. With
    /// any, the file `sparse-<generation>` holds their vectors.
    pub sparse: Vec<(String, u8)>,
}

/// The body of a version 2 checkpoint: as [`Checkpoint`], indexes without parameters.
#[derive(Serialize, Deserialize)]
struct BodyV2 {
    dimension: u32,
    metric: u8,
    hnsw_m: u32,
    hnsw_ef_construction: u32,
    generation: u32,
    vectors_generation: u32,
    next_lsn: u64,
    slot_count: u32,
    entries: Vec<Entry>,
    payloads_generation: u32,
    payloads_end: u64,
    indexes: Vec<(String, u8)>,
}

impl From<BodyV2> for Checkpoint {
    fn from(b: BodyV2) -> Checkpoint {
        Checkpoint {
            dimension: b.dimension,
            metric: b.metric,
            hnsw_m: b.hnsw_m,
            hnsw_ef_construction: b.hnsw_ef_construction,
            generation: b.generation,
            vectors_generation: b.vectors_generation,
            next_lsn: b.next_lsn,
            slot_count: b.slot_count,
            entries: b.entries,
            payloads_generation: b.payloads_generation,
            payloads_end: b.payloads_end,
            indexes: b
                .indexes
                .into_iter()
                .map(|(k, c)| (k, c, Vec::new()))
                .collect(),
            sparse: Vec::new(),
        }
    }
}

/// A config's sparse fields as a checkpoint declares them.
pub fn sparse_declarations(c: &CollectionConfig) -> Vec<(String, u8)> {
    c.sparse
        .iter()
        .map(|f| (f.name.clone(), u8::from(f.idf)))
        .collect()
}

impl Checkpoint {
    pub fn config(&self) -> Option<CollectionConfig> {
        let metric = Metric::from_code(self.metric)?;
        let mut c = CollectionConfig::new(self.dimension, metric)
            .with_hnsw(self.hnsw_m, self.hnsw_ef_construction);
        for (name, flags) in &self.sparse {
            if *flags > 1 {
                return None;
            }
            c = c.with_sparse(crate::config::SparseField::new(
                name.clone(),
                flags & 1 == 1,
            ));
        }
        Some(c)
    }

    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("postcard encoding into a Vec cannot fail");
        let mut out = Vec::with_capacity(HEAD + body.len() + 4);
        HEADER.write(&mut out);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        append_crc(&mut out);
        out
    }

    pub fn decode(bytes: &[u8], file: &str) -> Result<Checkpoint, StorageError> {
        let bad =
            |offset: usize, reason: &str| StorageError::corrupted(file, offset as u64, reason);
        if bytes.len() < HEAD + 4 {
            return Err(bad(0, "checkpoint is truncated"));
        }
        if bytes[..8] != MAGIC {
            return Err(bad(0, "not a checkpoint (bad magic)"));
        }
        if u64_at(bytes, 16) != Some((bytes.len() - HEAD - 4) as u64) {
            return Err(bad(
                16,
                "checkpoint length field does not match the file size",
            ));
        }
        let crc_at = bytes.len() - 4;
        let old = Header {
            magic: MAGIC,
            version: VERSION_2,
        };
        let mut v2 = false;
        match HEADER.verify(bytes, crc_at) {
            Ok(()) => {}
            Err(HeaderProblem::Version(VERSION_2)) if old.verify(bytes, crc_at).is_ok() => {
                v2 = true
            }
            Err(HeaderProblem::Version(found)) => {
                return Err(StorageError::UnsupportedVersion {
                    file: file.to_string(),
                    found,
                    supported: VERSION,
                });
            }
            Err(HeaderProblem::Short | HeaderProblem::Magic) => {
                return Err(bad(0, "not a checkpoint (bad magic)"));
            }
            Err(HeaderProblem::Checksum) => {
                return Err(bad(crc_at, "checkpoint checksum mismatch"));
            }
        }
        let body = &bytes[HEAD..crc_at];
        let decoded = match v2 {
            true => postcard::from_bytes::<BodyV2>(body).map(Checkpoint::from),
            false => postcard::from_bytes::<Checkpoint>(body),
        };
        let cp =
            decoded.map_err(|e| bad(HEAD, &format!("checkpoint body does not decode: {e}")))?;
        cp.validate(file)?;
        Ok(cp)
    }

    fn validate(&self, file: &str) -> Result<(), StorageError> {
        let bad = |reason: String| Err(StorageError::corrupted(file, HEAD as u64, reason));
        match self.config() {
            Some(c) if c.validate().is_ok() => {}
            _ => {
                return bad(format!(
                    "invalid config: dimension {}, metric code {}",
                    self.dimension, self.metric
                ));
            }
        }
        if self.generation == 0 {
            return bad("generation 0".into());
        }
        if self.vectors_generation == 0 || self.vectors_generation > self.generation {
            return bad(format!(
                "vector file generation {} outside 1..={}",
                self.vectors_generation, self.generation
            ));
        }
        if self.payloads_generation == 0 || self.payloads_generation > self.generation {
            return bad(format!(
                "payload file generation {} outside 1..={}",
                self.payloads_generation, self.generation
            ));
        }
        for (i, (key, kind, params)) in self.indexes.iter().enumerate() {
            use crate::payloads::IndexKind;
            match IndexKind::from_code(*kind) {
                None => return bad(format!("index on {key:?} has unknown kind {kind}")),
                Some(IndexKind::Text) if crate::TextConfig::decode(params).is_none() => {
                    return bad(format!("text index on {key:?} has an invalid config"));
                }
                Some(IndexKind::Text) => {}
                Some(_) if !params.is_empty() => {
                    return bad(format!(
                        "index on {key:?} has parameters its kind does not take"
                    ));
                }
                Some(_) => {}
            }
            if i > 0 && self.indexes[i - 1] >= self.indexes[i] {
                return bad("payload indexes are not sorted and distinct".into());
            }
        }
        // Nothing here allocates by `slot_count`: it comes from the file and is bounded by the
        // vector file's length only when that file is opened.
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 && self.entries[i - 1].id >= e.id {
                return bad(format!("entries not sorted or duplicated at id {}", e.id));
            }
            if e.slot >= self.slot_count {
                return bad(format!(
                    "slot {} beyond slot count {}",
                    e.slot, self.slot_count
                ));
            }
        }
        let mut slots: Vec<u32> = self.entries.iter().map(|e| e.slot).collect();
        slots.sort_unstable();
        if let Some(w) = slots.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!("slot {} used twice", w[0]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            dimension: 4,
            metric: Metric::Cosine.code(),
            hnsw_m: 16,
            hnsw_ef_construction: 200,
            generation: 3,
            vectors_generation: 2,
            next_lsn: 17,
            slot_count: 3,
            entries: vec![Entry { id: 1, slot: 2 }, Entry { id: 9, slot: 0 }],
            payloads_generation: 3,
            payloads_end: 16,
            indexes: vec![
                ("a".into(), 1, vec![]),
                ("a".into(), 2, vec![]),
                ("b.c".into(), 5, vec![]),
                (
                    "t".into(),
                    6,
                    crate::TextConfig::default().encode().to_vec(),
                ),
            ],
            sparse: vec![("bm25".into(), 1), ("splade".into(), 0)],
        }
    }

    #[test]
    fn checkpoint_round_trips() {
        let cp = sample();
        assert_eq!(Checkpoint::decode(&cp.encode(), "cp").unwrap(), cp);
    }

    #[test]
    fn the_config_carries_the_hnsw_parameters() {
        let mut cp = sample();
        cp.hnsw_m = 8;
        cp.hnsw_ef_construction = 32;
        let c = Checkpoint::decode(&cp.encode(), "cp")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(
            (c.dimension, c.metric, c.m, c.ef_construction),
            (4, Metric::Cosine, 8, 32)
        );
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(
                Checkpoint::decode(&bytes[..cut], "cp").is_err(),
                "cut {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(Checkpoint::decode(&bad, "cp").is_err(), "byte {at}");
        }
    }

    #[test]
    fn inconsistent_entries_are_corruption_even_with_a_good_checksum() {
        let mut cp = sample();
        cp.entries[0].slot = 0;
        cp.entries[1].slot = 0;
        assert!(matches!(
            Checkpoint::decode(&cp.encode(), "cp"),
            Err(StorageError::Corrupted { .. })
        ));
        let mut cp = sample();
        cp.entries[0].slot = 3;
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.vectors_generation = 4;
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.payloads_generation = 0;
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.indexes.swap(0, 1);
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.indexes[2].1 = 99;
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.metric = 99;
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.indexes[3].2.pop();
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        let mut cp = sample();
        cp.indexes[0].2.push(1);
        assert!(Checkpoint::decode(&cp.encode(), "cp").is_err());
        for bad in [("bm25", 2), ("bm 25", 0), ("splade", 0)] {
            let mut cp = sample();
            cp.sparse[0] = (bad.0.into(), bad.1);
            assert!(Checkpoint::decode(&cp.encode(), "cp").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_version_2_checkpoint_is_still_read() {
        let cp = sample();
        let v2 = BodyV2 {
            dimension: cp.dimension,
            metric: cp.metric,
            hnsw_m: cp.hnsw_m,
            hnsw_ef_construction: cp.hnsw_ef_construction,
            generation: cp.generation,
            vectors_generation: cp.vectors_generation,
            next_lsn: cp.next_lsn,
            slot_count: cp.slot_count,
            entries: cp.entries.clone(),
            payloads_generation: cp.payloads_generation,
            payloads_end: cp.payloads_end,
            indexes: cp.indexes[..3]
                .iter()
                .map(|(k, c, _)| (k.clone(), *c))
                .collect(),
        };
        let body = postcard::to_allocvec(&v2).unwrap();
        let mut bytes = Vec::new();
        Header {
            magic: MAGIC,
            version: VERSION_2,
        }
        .write(&mut bytes);
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        append_crc(&mut bytes);
        let mut want = cp;
        want.indexes.truncate(3);
        want.sparse.clear();
        assert_eq!(Checkpoint::decode(&bytes, "cp").unwrap(), want);
    }

    #[test]
    fn a_future_version_is_a_typed_error() {
        let mut bytes = sample().encode();
        for other in [1u8, 4] {
            bytes[8] = other;
            let n = bytes.len() - 4;
            let crc = crc32fast::hash(&bytes[..n]);
            bytes[n..].copy_from_slice(&crc.to_le_bytes());
            assert!(matches!(
                Checkpoint::decode(&bytes, "cp"),
                Err(StorageError::UnsupportedVersion { found, .. }) if found == u32::from(other)
            ));
        }
    }
}
