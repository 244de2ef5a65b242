//! Recovery: the intact prefix of a log image.

use super::frame::{self, ALIGN_BYTES, FRAME_HEAD, HEADER_BYTES, HEADER_LEN, LogHeader};
use crate::error::StorageError;

/// A record read back by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    /// Where the frame starts in the log file.
    pub offset: u64,
    pub kind: u8,
    /// Where the record's body lies in the log image (read it with [`Recovery::payload`]):
    /// recovery holds the image once, not a copy of every record besides.
    pub payload: std::ops::Range<usize>,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Intact records of the current generation, in order.
    pub records: Vec<Record>,
    /// Bytes cut off the end: a torn tail, or a whole log of an earlier generation.
    pub dropped_bytes: u64,
    /// Where the first damaged frame started, when there was one.
    pub torn_at: Option<u64>,
    /// The log image the records lie in ([`super::Wal::open`] keeps it here; empty from
    /// [`recover`], whose caller has it).
    pub image: Vec<u8>,
}

impl Recovery {
    /// A record's body.
    pub fn payload(&self, r: &Record) -> &[u8] {
        &self.image[r.payload.clone()]
    }
}

/// Reads the intact prefix of a log image. See the module docs for the rules.
pub fn recover(
    bytes: &[u8],
    path: &str,
    generation: u32,
    next_lsn: u64,
) -> Result<Recovery, StorageError> {
    let header = frame::decode_header(bytes);
    match header {
        LogHeader::FutureVersion(v) => {
            return Err(StorageError::UnsupportedVersion {
                file: path.to_string(),
                found: v,
                supported: frame::VERSION,
            });
        }
        LogHeader::Valid { generation: s, .. } if s != generation => {
            // Generations only grow, and the checkpoint that starts one is durable before its
            // log is reset: an older log is a checkpoint whose reset did not finish.
            if s > generation {
                return Err(StorageError::corrupted(
                    path,
                    12,
                    format!(
                        "log generation {s} is newer than its checkpoint's generation {generation}"
                    ),
                ));
            }
            return Ok(Recovery {
                records: Vec::new(),
                dropped_bytes: bytes.len() as u64,
                torn_at: Some(0),
                image: Vec::new(),
            });
        }
        _ => {}
    }

    let mut records = Vec::new();
    let mut pos = HEADER_BYTES;
    let mut expected = next_lsn;
    while pos < bytes.len() {
        match frame::decode_frame(&bytes[pos..], generation) {
            Some(f) if f.lsn == expected => {
                records.push(Record {
                    lsn: f.lsn,
                    offset: pos as u64,
                    kind: f.kind,
                    payload: pos + FRAME_HEAD..pos + FRAME_HEAD + f.payload.len(),
                });
                pos += crate::region::at(f.size);
                expected += 1;
            }
            _ => break,
        }
    }

    if header == LogHeader::Invalid {
        // No crash leaves a header invalid: a reset writes it and syncs it before any frame
        // is appended (and before the log is trusted by a checkpoint), and a sync rewrites it
        // whole within one sector. So a bad header is damage; it loses nothing only when the
        // log holds nothing behind it. One intact frame of this generation behind it names
        // where the records are; without one (the damage took them too) they may still have
        // been durable, as in a short log whose every frame shared the header's sector.
        if bytes.len() as u64 > HEADER_LEN {
            let witness = (HEADER_BYTES..bytes.len())
                .step_by(ALIGN_BYTES)
                .find(|&at| frame::decode_frame(&bytes[at..], generation).is_some());
            let why = match witness {
                Some(at) => format!(
                    "the log header is damaged, but an intact frame of generation {generation} at offset {at} follows it"
                ),
                None => format!(
                    "the log header is damaged and {} bytes follow it: records behind it may have been durable",
                    bytes.len() as u64 - HEADER_LEN
                ),
            };
            return Err(StorageError::corrupted(path, 0, why));
        }
        return Ok(Recovery {
            records,
            dropped_bytes: bytes.len() as u64,
            torn_at: Some(0),
            image: Vec::new(),
        });
    }

    // The header says how far the log was durable: a log that ends before that, or a damaged
    // frame before it, lost acknowledged records.
    if let LogHeader::Valid { durable_end, .. } = header
        && (pos as u64) < durable_end
    {
        let why = if bytes.len() as u64 >= durable_end {
            format!(
                "frame {expected} is damaged, but the log was durable up to offset {durable_end}"
            )
        } else {
            format!(
                "the log ends at {} but was durable up to offset {durable_end}",
                bytes.len()
            )
        };
        return Err(StorageError::corrupted(path, pos as u64, why));
    }

    if pos >= bytes.len() {
        return Ok(Recovery {
            records,
            dropped_bytes: 0,
            torn_at: None,
            image: Vec::new(),
        });
    }

    // The frame at `pos` (lsn `expected`) is damaged. If a later intact frame records that it
    // was durable, this is not a torn tail but corruption, and truncating would lose data that
    // was acknowledged.
    let mut probe = pos + ALIGN_BYTES;
    while probe + frame::FRAME_HEAD < bytes.len() {
        if let Some(f) = frame::decode_frame(&bytes[probe..], generation)
            && f.lsn > expected
            && f.durable_lsn > expected
        {
            return Err(StorageError::corrupted(
                path,
                pos as u64,
                format!(
                    "frame {expected} is damaged, but the intact frame {} at offset {probe} records it as durable",
                    f.lsn
                ),
            ));
        }
        probe += ALIGN_BYTES;
    }
    Ok(Recovery {
        records,
        dropped_bytes: (bytes.len() - pos) as u64,
        torn_at: Some(pos as u64),
        image: Vec::new(),
    })
}
