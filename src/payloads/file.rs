//! The payload file `payloads-<g>`: payloads appended as records, the last record of an id
//! wins. A checkpoint names the file by generation and the length of it that counts
//! (`payloads_end`); bytes past that length are what a crash left of an append that never
//! committed, and the next append writes over them.
//!
//! ```text
//!   0   8  magic "VELESPLD"
//!   8   4  format version (u32 LE)
//!  12   4  crc32 of bytes 0..12
//!  16      records: id u64, length u32 (0xFFFF_FFFF: the id has no payload),
//!          crc32 u32 of (id, length, text), then `length` bytes of compact JSON text
//! ```

use crate::error::StorageError;
use crate::format::{Header, HeaderProblem, append_crc, u32_at, u64_at};
use crate::region::Region;
use std::collections::HashMap;

const HEADER: Header = Header {
    magic: *b"VELESPLD",
    version: 1,
};
/// Where the first record starts.
pub(crate) const HEAD: u64 = 16;
const RECORD_HEAD: usize = 16;
const REMOVED: u32 = u32::MAX;

/// An open payload file.
pub(crate) struct PayloadFile {
    region: Box<dyn Region>,
    path: String,
    /// The length that counts: records end here.
    end: u64,
}

/// The records of a payload file: each id's last text (`None`: removed), by id.
pub(crate) type Latest = HashMap<u64, Option<Vec<u8>>>;

fn record_crc(id: u64, len: u32, text: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&id.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(text);
    h.finalize()
}

impl PayloadFile {
    /// A new, empty file (the caller syncs it before a checkpoint names it).
    pub(crate) fn create(
        mut region: Box<dyn Region>,
        path: &str,
    ) -> Result<PayloadFile, StorageError> {
        let mut head = Vec::with_capacity(HEAD as usize);
        HEADER.write(&mut head);
        append_crc(&mut head);
        region.set_len(0)?;
        region.write(0, &head)?;
        Ok(PayloadFile {
            region,
            path: path.to_string(),
            end: HEAD,
        })
    }

    /// Opens a file whose records end at `end`, and reads them. Damage in `0..end` (which
    /// was durable before the checkpoint named it) is corruption, reported with its offset.
    /// `truncate` drops bytes past `end` (a writable open).
    pub(crate) fn open(
        mut region: Box<dyn Region>,
        path: &str,
        end: u64,
        truncate: bool,
    ) -> Result<(PayloadFile, Latest), StorageError> {
        let latest = read_records(region.as_ref(), path, end)?;
        if truncate && region.len() > end {
            region.set_len(end)?;
        }
        Ok((
            PayloadFile {
                region,
                path: path.to_string(),
                end,
            },
            latest,
        ))
    }

    /// Appends one record per `(id, text)` after `end` (not synced).
    pub(crate) fn append<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, Option<&'a [u8]>)>,
    ) -> Result<(), StorageError> {
        let mut out = Vec::new();
        for (id, text) in records {
            let len = text.map_or(REMOVED, |t| t.len() as u32);
            let t = text.unwrap_or_default();
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&record_crc(id, len, t).to_le_bytes());
            out.extend_from_slice(t);
        }
        if !out.is_empty() {
            self.region.write(self.end, &out)?;
            self.end += out.len() as u64;
        }
        Ok(())
    }

    pub(crate) fn sync(&mut self) -> Result<(), StorageError> {
        self.region.sync()
    }

    /// The length that counts (what the next checkpoint records).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Reads and checks the records again (for `check`).
    pub(crate) fn reread(&self) -> Result<Latest, StorageError> {
        read_records(self.region.as_ref(), &self.path, self.end)
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// Reads and checks the records of `0..end` (see [`PayloadFile::open`]).
fn read_records(region: &dyn Region, path: &str, end: u64) -> Result<Latest, StorageError> {
    let bad = |at: u64, why: &str| StorageError::corrupted(path, at, why);
    if end < HEAD || region.len() < end {
        return Err(bad(
            region.len().min(end),
            &format!(
                "the checkpoint says the payload file holds {end} bytes; it has {}",
                region.len()
            ),
        ));
    }
    let mut bytes = vec![0u8; end as usize];
    region.read(0, &mut bytes)?;
    match HEADER.verify(&bytes, 12) {
        Ok(()) => {}
        Err(HeaderProblem::Version(found)) => {
            return Err(StorageError::UnsupportedVersion {
                file: path.to_string(),
                found,
                supported: HEADER.version,
            });
        }
        Err(_) => return Err(bad(0, "not a payload file, or its header is damaged")),
    }
    let mut latest = Latest::new();
    let mut at = HEAD as usize;
    while at < bytes.len() {
        let (Some(id), Some(len), Some(crc)) = (
            u64_at(&bytes, at),
            u32_at(&bytes, at + 8),
            u32_at(&bytes, at + 12),
        ) else {
            return Err(bad(at as u64, "truncated payload record"));
        };
        let n = if len == REMOVED { 0 } else { len as usize };
        let Some(text) = bytes.get(at + RECORD_HEAD..at + RECORD_HEAD + n) else {
            return Err(bad(at as u64, "payload record runs past the end"));
        };
        if record_crc(id, len, text) != crc {
            return Err(bad(at as u64, "payload record checksum mismatch"));
        }
        latest.insert(id, (len != REMOVED).then(|| text.to_vec()));
        at += RECORD_HEAD + n;
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Access, Directory, MemoryDirectory};

    #[test]
    fn the_last_record_wins_and_damage_is_reported_with_its_offset() {
        let dir = MemoryDirectory::new();
        let open = || dir.open_region("p", Access::Sequential).unwrap();
        let mut f = PayloadFile::create(open(), "p").unwrap();
        f.append([(1, Some(&b"{\"a\":1}"[..])), (2, Some(b"{}"))])
            .unwrap();
        f.append([(1, None), (3, Some(&b"{\"b\":2}"[..]))]).unwrap();
        let end = f.end();
        // A torn append past `end` is not read.
        f.append([(9, Some(&b"{\"z\":0}"[..]))]).unwrap();
        assert_eq!(f.reread().unwrap().len(), 4);
        drop(f);
        let (g, latest) = PayloadFile::open(open(), "p", end, true).unwrap();
        assert_eq!(g.end(), end);
        assert_eq!(latest.len(), 3);
        assert_eq!(latest[&1], None);
        assert_eq!(latest[&2].as_deref(), Some(&b"{}"[..]));
        drop(g);
        assert_eq!(open().len(), end, "the tail is dropped");
        open().write(HEAD + 20, b"X").unwrap();
        match PayloadFile::open(open(), "p", end, false) {
            Err(StorageError::Corrupted { offset, .. }) => assert_eq!(offset, HEAD),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(PayloadFile::open(open(), "p", end + 1, false).is_err());
    }
}
