//! The payload file `payloads-<g>`: payloads appended as records, the last record of an id
//! wins. A checkpoint names the file by generation and the length of it that counts
//! (`payloads_end`); bytes past that length are what a crash left of an append that never
//! committed, and the next append writes over them.
//!
//! ```text
//! version 2 (written since stamps):
//!   0   8  magic "VELESPLD"
//!   8   4  format version (u32 LE) = 2
//!  12   4  stamp: crc32 of the file's path in the database (`collections/<name>/payloads-<g>`),
//!          never 0; a file copied in from another collection or generation carries another
//!  16  12  zero
//!  28   4  crc32 of bytes 0..28
//!  32      records
//! version 1 (still read): magic, version = 1, crc32 of bytes 0..12, records from 16.
//! records: id u64, length u32 (0xFFFF_FFFF: the id has no payload),
//!          crc32 u32 of (id, length, text), then `length` bytes of compact JSON text
//! ```

use crate::error::StorageError;
use crate::format::{Header, HeaderProblem, append_crc, file_stamp, u32_at, u64_at};
use crate::region::Region;
use std::collections::HashMap;

const HEADER: Header = Header {
    magic: *b"VELESPLD",
    version: 2,
};
const HEADER_V1: Header = Header {
    version: 1,
    ..HEADER
};
/// Where the first record starts in a new file.
pub(crate) const HEAD: u64 = 32;
/// Where it starts in a file of version 1.
const HEAD_V1: u64 = 16;
const RECORD_HEAD: usize = 16;
const REMOVED: u32 = u32::MAX;

/// An open payload file.
pub(crate) struct PayloadFile {
    region: Box<dyn Region>,
    path: String,
    /// The length that counts: records end here.
    end: u64,
}

/// Where a record's text lies in the payload file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextAt {
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// The records of a payload file: where each id's last text lies (`None`: removed), by id.
/// Locations, not texts: an open holds the payloads once, in the store's arena.
pub(crate) type Latest = HashMap<u64, Option<TextAt>>;

/// Bytes a reader of the file holds at once (a payload is at most 1 MiB, so one record's
/// text fits in a window of its own when it is larger).
const WINDOW: usize = 4 << 20;

/// A window over `0..end` of a region, read in runs of [`WINDOW`] bytes.
struct Window<'a> {
    region: &'a dyn Region,
    end: u64,
    start: u64,
    bytes: Vec<u8>,
}

impl<'a> Window<'a> {
    fn new(region: &'a dyn Region, end: u64) -> Window<'a> {
        Window {
            region,
            end,
            start: 0,
            bytes: Vec::new(),
        }
    }

    /// `at..at + n`, or `None` when it runs past `end`.
    fn get(&mut self, at: u64, n: usize) -> Result<Option<&[u8]>, StorageError> {
        if at.saturating_add(n as u64) > self.end {
            return Ok(None);
        }
        let held = self.start..self.start + self.bytes.len() as u64;
        if at < held.start || at + n as u64 > held.end {
            let len = (WINDOW.max(n) as u64).min(self.end - at) as usize;
            self.bytes.resize(len, 0);
            self.region.read(at, &mut self.bytes)?;
            self.start = at;
        }
        let from = (at - self.start) as usize;
        Ok(Some(&self.bytes[from..from + n]))
    }
}

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
        head.extend_from_slice(&file_stamp(path).to_le_bytes());
        head.resize(28, 0);
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

    pub(crate) fn sync(&self) -> Result<(), StorageError> {
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

    /// Reads the texts at `wanted` (locations from [`Latest`], each with what the caller
    /// needs to place it), in file order, calling `f(item, text)` for each.
    pub(crate) fn read_texts<T>(
        &self,
        mut wanted: Vec<(TextAt, T)>,
        mut f: impl FnMut(T, &[u8]),
    ) -> Result<(), StorageError> {
        wanted.sort_unstable_by_key(|(at, _)| at.offset);
        let mut window = Window::new(self.region.as_ref(), self.end);
        for (at, item) in wanted {
            match window.get(at.offset, at.len as usize)? {
                Some(text) => f(item, text),
                None => {
                    return Err(StorageError::corrupted(
                        &self.path,
                        at.offset,
                        "payload text runs past the end",
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The file and the region it is open in (a snapshot copies through it).
    pub(crate) fn held(&self) -> (String, &dyn Region) {
        (self.path.clone(), self.region.as_ref())
    }
}

/// Reads and checks the records of `0..end` (see [`PayloadFile::open`]), a window at a time.
fn read_records(region: &dyn Region, path: &str, end: u64) -> Result<Latest, StorageError> {
    let bad = |at: u64, why: &str| StorageError::corrupted(path, at, why);
    if end < HEAD_V1 || region.len() < end {
        return Err(bad(
            region.len().min(end),
            &format!(
                "the checkpoint says the payload file holds {end} bytes; it has {}",
                region.len()
            ),
        ));
    }
    let mut window = Window::new(region, end);
    let head = window.get(0, end.min(HEAD) as usize)?.unwrap_or_default();
    let (verdict, first) = match u32_at(head, 8) {
        Some(1) => (HEADER_V1.verify(head, 12), HEAD_V1),
        _ => (HEADER.verify(head, 28), HEAD),
    };
    match verdict {
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
    if first == HEAD && u32_at(head, 12) != Some(file_stamp(path)) {
        return Err(bad(
            12,
            "the payload file belongs to another collection or generation (its stamp)",
        ));
    }
    let mut latest = Latest::new();
    let mut at = first;
    while at < end {
        let Some(rec) = window.get(at, RECORD_HEAD)? else {
            return Err(bad(at, "truncated payload record"));
        };
        let (Some(id), Some(len), Some(crc)) = (u64_at(rec, 0), u32_at(rec, 8), u32_at(rec, 12))
        else {
            return Err(bad(at, "truncated payload record"));
        };
        let n = if len == REMOVED { 0 } else { len as usize };
        let text_at = at + RECORD_HEAD as u64;
        let Some(text) = window.get(text_at, n)? else {
            return Err(bad(at, "payload record runs past the end"));
        };
        if record_crc(id, len, text) != crc {
            return Err(bad(at, "payload record checksum mismatch"));
        }
        let place = TextAt {
            offset: text_at,
            len,
        };
        latest.insert(id, (len != REMOVED).then_some(place));
        at = text_at + n as u64;
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
        let mut texts = Vec::new();
        let wanted = vec![(latest[&3].unwrap(), 3), (latest[&2].unwrap(), 2)];
        g.read_texts(wanted, |id, t| texts.push((id, t.to_vec())))
            .unwrap();
        assert_eq!(texts, [(2, b"{}".to_vec()), (3, b"{\"b\":2}".to_vec())]);
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
