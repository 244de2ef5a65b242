//! Recovery's second half: the log's records replayed on the checkpointed state.

use super::state::State;
use super::write::Put;
use crate::error::{Result, StorageError};
use crate::payloads::IndexKind;
use crate::record::{self, KIND_DELETE, KIND_INDEX, KIND_PAYLOAD, KIND_UPSERT, KIND_UPSERT_SPARSE};
use crate::text::TextConfig;
use crate::wal::Recovery;

impl State {
    /// Applies the intact records `rec` holds, in order, as the writes that logged them did;
    /// a record no write could have logged is corruption of the log at `wpath`.
    pub(super) fn replay(&mut self, rec: &Recovery, wpath: &str) -> Result<()> {
        let slot_size = self.codec.slot_size();
        for r in &rec.records {
            let bad = |reason: String| {
                StorageError::corrupted(wpath, r.offset, format!("record {}: {reason}", r.lsn))
            };
            match r.kind {
                KIND_UPSERT => {
                    let points = record::decode_upsert(rec.payload(r), slot_size).map_err(bad)?;
                    // A record is checked as the write that logged it was: its checksum
                    // only says the bytes are the ones written, not that they are valid.
                    for p in &points {
                        if let Some(why) = self.codec.stored_problem(p.vector) {
                            return Err(bad(format!("the vector of id {}: {why}", p.id)).into());
                        }
                        valid_payload(p.id, p.payload).map_err(bad)?;
                    }
                    let decoded = points.into_iter().map(|p| Put {
                        id: p.id,
                        vector: p.vector.to_vec(),
                        payload: p.payload.map(str::to_string),
                        sparse: Vec::new(),
                    });
                    self.put_all(decoded)?;
                }
                KIND_UPSERT_SPARSE => {
                    let fields = self.config.sparse.len();
                    let points = record::decode_upsert_sparse(rec.payload(r), slot_size, fields)
                        .map_err(bad)?;
                    for (p, _) in &points {
                        if let Some(why) = self.codec.stored_problem(p.vector) {
                            return Err(bad(format!("the vector of id {}: {why}", p.id)).into());
                        }
                        valid_payload(p.id, p.payload).map_err(bad)?;
                    }
                    let decoded = points.into_iter().map(|(p, sparse)| Put {
                        id: p.id,
                        vector: p.vector.to_vec(),
                        payload: p.payload.map(str::to_string),
                        sparse,
                    });
                    self.put_all(decoded)?;
                }
                KIND_DELETE => {
                    for id in record::decode_delete(rec.payload(r)).map_err(bad)? {
                        self.remove(id);
                    }
                }
                KIND_PAYLOAD => {
                    let texts = record::decode_payloads(rec.payload(r)).map_err(bad)?;
                    for &(id, text) in &texts {
                        valid_payload(id, text).map_err(bad)?;
                    }
                    for (id, text) in texts {
                        self.apply_payload(id, text);
                    }
                }
                KIND_INDEX => {
                    let (create, code, key, params) =
                        record::decode_index(rec.payload(r)).map_err(bad)?;
                    let kind = IndexKind::from_code(code)
                        .ok_or_else(|| bad(format!("unknown index kind {code}")))?;
                    let config = match (create, kind, params) {
                        (_, _, []) => None,
                        (true, IndexKind::Text, p) => {
                            Some(TextConfig::decode(p).ok_or_else(|| {
                                bad(format!("text index on {key:?} has an invalid config"))
                            })?)
                        }
                        _ => {
                            return Err(bad(format!(
                                "index record on {key:?} has parameters its kind does not take"
                            ))
                            .into());
                        }
                    };
                    self.apply_index(create, key, kind, config);
                }
                k => return Err(bad(format!("unknown record kind {k}")).into()),
            }
        }
        Ok(())
    }
}

/// A logged payload text is what a write accepts: a JSON object within the limits.
fn valid_payload(id: u64, text: Option<&str>) -> std::result::Result<(), String> {
    match text.map(|t| crate::payloads::parse(Some(id), t)) {
        Some(Err(e)) => Err(format!("the payload of id {id}: {e}")),
        _ => Ok(()),
    }
}
