//! The open log: appends, syncs, resets.

use super::frame::{self, HEADER_LEN, MAX_RECORD};
use super::recovery::{Recovery, recover};
use crate::error::StorageError;
use crate::region::{CheckedRegion, Region};

/// An open log, positioned at its end.
///
/// Invariants: `end` is the file length and the end of the last intact frame; every frame
/// with `lsn < synced_lsn` is durable; `next_lsn` is one past the last frame's.
#[derive(Debug)]
pub struct Wal {
    region: CheckedRegion,
    path: String,
    generation: u32,
    end: u64,
    next_lsn: u64,
    synced_lsn: u64,
    scratch: Vec<u8>,
}

impl Wal {
    /// Starts a new, empty log of generation `generation` in `region`, durably.
    pub fn create(
        region: Box<dyn Region>,
        path: &str,
        generation: u32,
        next_lsn: u64,
    ) -> Result<Wal, StorageError> {
        let mut wal = Wal {
            region: CheckedRegion::new(region),
            path: path.to_string(),
            generation,
            end: 0,
            next_lsn,
            synced_lsn: next_lsn,
            scratch: Vec::new(),
        };
        wal.reset(generation, next_lsn)?;
        Ok(wal)
    }

    /// Recovers the log in `region`, which the checkpoint says is generation `generation` starting at
    /// `next_lsn`. With `repair`, on return the log is truncated to its intact prefix
    /// (durably) and ready for appends; without it (a read-only open) nothing is written and
    /// the log must not be appended to. The caller replays `Recovery::records`.
    pub fn open(
        region: Box<dyn Region>,
        path: &str,
        generation: u32,
        next_lsn: u64,
        repair: bool,
    ) -> Result<(Wal, Recovery), StorageError> {
        let region = CheckedRegion::new(region);
        let len = region.len();
        let size = usize::try_from(len)
            .map_err(|_| StorageError::corrupted(path, 0, "log larger than the address space"))?;
        // A log is created with a durable header before its checkpoint exists, and a reset
        // never shortens it below one: a shorter log lost bytes that were durable.
        if len < HEADER_LEN {
            return Err(StorageError::corrupted(
                path,
                len,
                format!("the log is {len} bytes long, shorter than its {HEADER_LEN}-byte header"),
            ));
        }
        let mut bytes = vec![0u8; size];
        region.read(0, &mut bytes)?;
        let mut recovery = recover(&bytes, path, generation, next_lsn)?;
        recovery.image = bytes;
        let last_lsn = recovery.records.last().map_or(next_lsn, |r| r.lsn + 1);
        let mut wal = Wal {
            region,
            path: path.to_string(),
            generation,
            end: len,
            next_lsn: last_lsn,
            synced_lsn: last_lsn,
            scratch: Vec::new(),
        };
        match recovery.torn_at {
            _ if !repair => {}
            // The header itself was bad or stale: start this generation's log afresh.
            Some(at) if at < HEADER_LEN => wal.reset(generation, last_lsn)?,
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

    /// Empties the log and starts generation `generation` at `next_lsn`, durably.
    pub fn reset(&mut self, generation: u32, next_lsn: u64) -> Result<(), StorageError> {
        self.restart(generation, next_lsn)?;
        self.sync_restart()
    }

    /// [`Wal::reset`] but its sync, which [`Wal::sync_restart`] does (through a shared
    /// reference, beside readers) before anything is appended.
    pub fn restart(&mut self, generation: u32, next_lsn: u64) -> Result<(), StorageError> {
        self.region.write(0, &frame::encode_header(generation, 0))?;
        self.region.set_len(HEADER_LEN)?;
        self.generation = generation;
        self.end = HEADER_LEN;
        self.next_lsn = next_lsn;
        self.synced_lsn = next_lsn;
        Ok(())
    }

    /// The sync that completes [`Wal::restart`].
    pub fn sync_restart(&self) -> Result<(), StorageError> {
        self.region.sync()
    }

    /// Makes room for appending a record of `payload_len` bytes without allocating (so a
    /// write that is logged is not then stopped by memory).
    pub fn reserve(&mut self, payload_len: usize) -> Result<(), std::collections::TryReserveError> {
        let frame = frame::frame_bytes(payload_len);
        self.scratch.clear();
        self.scratch.try_reserve_exact(frame)
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
            self.generation,
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
        let lsn = self.sync_records()?;
        self.mark_synced(lsn)
    }

    /// The fsync of [`Wal::sync`], through a shared reference (a writer syncs while readers
    /// still read the collection); returns the lsn every record before which is now durable,
    /// for [`Wal::mark_synced`], which must follow before anything else is appended.
    pub fn sync_records(&self) -> Result<u64, StorageError> {
        if self.synced_lsn != self.next_lsn {
            self.region.sync()?;
        }
        Ok(self.next_lsn)
    }

    /// Notes that the records before `lsn` are durable ([`Wal::sync_records`] said so).
    pub fn mark_synced(&mut self, lsn: u64) -> Result<(), StorageError> {
        if self.synced_lsn == lsn {
            return Ok(());
        }
        debug_assert_eq!(
            lsn, self.next_lsn,
            "nothing is appended between the two halves"
        );
        self.synced_lsn = lsn;
        // Record how far the log is durable, for recovery to tell damage from a torn tail.
        // Not synced itself (the next sync carries it): an older value after a power loss is
        // still true. One sector, so it is written whole or not at all.
        let header = frame::encode_header(self.generation, self.end);
        self.region.write(0, &header)
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

    /// The log's file and the region it is open in (a snapshot copies through it).
    pub(crate) fn held(&self) -> (String, &dyn Region) {
        (self.path.clone(), &self.region)
    }

    /// True when no record has been appended since the last reset or recovery.
    pub fn is_empty(&self) -> bool {
        self.end <= HEADER_LEN
    }

    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// True when every appended record is durable.
    pub fn is_synced(&self) -> bool {
        self.synced_lsn == self.next_lsn
    }
}
