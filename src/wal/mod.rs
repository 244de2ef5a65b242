//! The write-ahead log: what happened since the last checkpoint?
//!
//! A log belongs to one *generation* (its salt), set by the checkpoint that started it.
//! Appends go to the OS at once (a killed process loses nothing it appended); [`Wal::sync`] is
//! the durability barrier. Recovery ([`Wal::open`]) keeps the longest run of intact frames,
//! truncates a torn tail, and refuses (with [`StorageError::Corrupted`]) a damaged frame that
//! a later intact frame proves was durable.

pub mod frame;

use crate::error::StorageError;
use crate::region::{CheckedRegion, Region};
use frame::{FRAME_ALIGN, HEADER_LEN, Header, MAX_RECORD};

/// A record read back by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    /// Where the frame starts in the log file.
    pub offset: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
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
}

/// An open log, positioned at its end.
///
/// Invariants: `end` is the file length and the end of the last intact frame; every frame
/// with `lsn < synced_lsn` is durable; `next_lsn` is one past the last frame's.
#[derive(Debug)]
pub struct Wal {
    region: CheckedRegion,
    path: String,
    salt: u32,
    end: u64,
    next_lsn: u64,
    synced_lsn: u64,
    scratch: Vec<u8>,
}

impl Wal {
    /// Starts a new, empty log of generation `salt` in `region`, durably.
    pub fn create(
        region: Box<dyn Region>,
        path: &str,
        salt: u32,
        next_lsn: u64,
    ) -> Result<Wal, StorageError> {
        let mut wal = Wal {
            region: CheckedRegion::new(region),
            path: path.to_string(),
            salt,
            end: 0,
            next_lsn,
            synced_lsn: next_lsn,
            scratch: Vec::new(),
        };
        wal.reset(salt, next_lsn)?;
        Ok(wal)
    }

    /// Recovers the log in `region`, which the checkpoint says is generation `salt` starting at
    /// `next_lsn`. With `repair`, on return the log is truncated to its intact prefix
    /// (durably) and ready for appends; without it (a read-only open) nothing is written and
    /// the log must not be appended to. The caller replays `Recovery::records`.
    pub fn open(
        region: Box<dyn Region>,
        path: &str,
        salt: u32,
        next_lsn: u64,
        repair: bool,
    ) -> Result<(Wal, Recovery), StorageError> {
        let region = CheckedRegion::new(region);
        let len = region.len();
        let size = usize::try_from(len)
            .map_err(|_| StorageError::corrupted(path, 0, "log larger than the address space"))?;
        let mut bytes = vec![0u8; size];
        region.read(0, &mut bytes)?;
        let recovery = scan(&bytes, path, salt, next_lsn)?;
        let last_lsn = recovery.records.last().map_or(next_lsn, |r| r.lsn + 1);
        let mut wal = Wal {
            region,
            path: path.to_string(),
            salt,
            end: len,
            next_lsn: last_lsn,
            synced_lsn: last_lsn,
            scratch: Vec::new(),
        };
        match recovery.torn_at {
            _ if !repair => {}
            // The header itself was bad or stale: start this generation's log afresh.
            Some(at) if at < HEADER_LEN => wal.reset(salt, last_lsn)?,
            // A torn tail must go before anything is appended, or stale frames behind a
            // shorter new one could be read back after the next crash.
            Some(at) => {
                wal.region.set_len(at)?;
                wal.region.sync()?;
                wal.end = at;
            }
            None => {}
        }
        Ok((wal, recovery))
    }

    /// Empties the log and starts generation `salt` at `next_lsn`, durably.
    pub fn reset(&mut self, salt: u32, next_lsn: u64) -> Result<(), StorageError> {
        self.region.write(0, &frame::encode_header(salt))?;
        self.region.set_len(HEADER_LEN)?;
        self.region.sync()?;
        self.salt = salt;
        self.end = HEADER_LEN;
        self.next_lsn = next_lsn;
        self.synced_lsn = next_lsn;
        Ok(())
    }

    /// Appends one record and returns its lsn. Not durable until [`Wal::sync`].
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<u64, StorageError> {
        if payload.len() > MAX_RECORD as usize {
            return Err(StorageError::io(
                self.path.clone(),
                "append",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "record exceeds MAX_RECORD",
                ),
            ));
        }
        let lsn = self.next_lsn;
        self.scratch.clear();
        frame::encode_frame(
            &mut self.scratch,
            self.salt,
            lsn,
            self.synced_lsn,
            kind,
            payload,
        );
        self.region.write(self.end, &self.scratch)?;
        self.end += self.scratch.len() as u64;
        self.next_lsn += 1;
        Ok(lsn)
    }

    /// Makes every appended record durable (one fsync for all of them: group commit).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.synced_lsn == self.next_lsn {
            return Ok(());
        }
        self.region.sync()?;
        self.synced_lsn = self.next_lsn;
        Ok(())
    }

    /// The whole log as it is in the file (what `check` re-scans).
    pub fn read_all(&self) -> Result<Vec<u8>, StorageError> {
        let len = usize::try_from(self.region.len()).map_err(|_| {
            StorageError::corrupted(&self.path, 0, "log larger than the address space")
        })?;
        let mut bytes = vec![0u8; len];
        self.region.read(0, &mut bytes)?;
        Ok(bytes)
    }

    /// Bytes in the log, header included.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// True when no record has been appended since the last reset or recovery.
    pub fn is_empty(&self) -> bool {
        self.end <= HEADER_LEN
    }

    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    pub fn salt(&self) -> u32 {
        self.salt
    }

    /// True when every appended record is durable.
    pub fn is_synced(&self) -> bool {
        self.synced_lsn == self.next_lsn
    }
}

/// Reads the intact prefix of a log image. See the module docs for the rules.
pub fn scan(bytes: &[u8], path: &str, salt: u32, next_lsn: u64) -> Result<Recovery, StorageError> {
    let header = frame::decode_header(bytes);
    match header {
        Header::FutureVersion(v) => {
            return Err(StorageError::UnsupportedVersion {
                file: path.to_string(),
                found: v,
                supported: frame::VERSION,
            });
        }
        Header::Valid { salt: s } if s != salt => {
            // Generations only grow, and the checkpoint that starts one is durable before its
            // log is reset: an older log is a checkpoint whose reset did not finish.
            if s > salt {
                return Err(StorageError::corrupted(
                    path,
                    12,
                    format!("log generation {s} is newer than its checkpoint's generation {salt}"),
                ));
            }
            return Ok(Recovery {
                records: Vec::new(),
                dropped_bytes: bytes.len() as u64,
                torn_at: Some(0),
            });
        }
        _ => {}
    }

    let mut records = Vec::new();
    let mut pos = HEADER_LEN as usize;
    let mut expected = next_lsn;
    while pos < bytes.len() {
        match frame::decode_frame(&bytes[pos..], salt) {
            Some(f) if f.lsn == expected => {
                records.push(Record {
                    lsn: f.lsn,
                    offset: pos as u64,
                    kind: f.kind,
                    payload: f.payload.to_vec(),
                });
                pos += f.size as usize;
                expected += 1;
            }
            _ => break,
        }
    }

    if header == Header::Invalid {
        // A reset writes the header and syncs it before any frame is appended, so a torn
        // header can only sit in front of frames of older generations.
        if !records.is_empty() {
            return Err(StorageError::corrupted(
                path,
                0,
                "log header is damaged but intact frames follow it",
            ));
        }
        return Ok(Recovery {
            records,
            dropped_bytes: bytes.len() as u64,
            torn_at: Some(0),
        });
    }

    if pos >= bytes.len() {
        return Ok(Recovery {
            records,
            dropped_bytes: 0,
            torn_at: None,
        });
    }

    // The frame at `pos` (lsn `expected`) is damaged. If a later intact frame records that it
    // was durable, this is not a torn tail but corruption, and truncating would lose data that
    // was acknowledged.
    let mut probe = pos + FRAME_ALIGN as usize;
    while probe + frame::FRAME_HEAD < bytes.len() {
        if let Some(f) = frame::decode_frame(&bytes[probe..], salt)
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
        probe += FRAME_ALIGN as usize;
    }
    Ok(Recovery {
        records,
        dropped_bytes: (bytes.len() - pos) as u64,
        torn_at: Some(pos as u64),
    })
}

#[cfg(test)]
mod tests;
