//! Files written whole and atomically (the sparse file, the text file): a header naming the
//! file, then one body, each under its own CRC.
//!
//! ```text
//!  0   8  magic
//!  8   4  format version (u32 LE)
//! 12   4  stamp: crc32 of the file's path in the database (never 0), so a file copied in
//!         from another collection or generation is refused
//! 16   8  body length n (u64 LE)
//! 24   4  crc32 of bytes 0..24
//! 28   n  body
//! 28+n 4  crc32 of the body
//! ```

use super::{Header, append_crc, crc_matches, file_stamp, u32_at, u64_at};
use crate::error::StorageError;

/// Where the body starts.
pub(crate) const BODY_AT: usize = 28;

/// The file's bytes: `header`, the stamp of `path`, then `body`.
pub(crate) fn encode(header: Header, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_AT + body.len() + 4);
    header.write(&mut out);
    out.extend_from_slice(&file_stamp(path).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    append_crc(&mut out);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

/// The body of a file read whole from `path`, once its header, stamp, length and both
/// checksums are right; `what` names the kind of file in the errors.
pub(crate) fn decode<'a>(
    bytes: &'a [u8],
    header: Header,
    path: &str,
    what: &str,
) -> Result<&'a [u8], StorageError> {
    let bad = |at: usize, why: String| StorageError::corrupted(path, at as u64, why);
    if bytes.len() < BODY_AT + 4 || bytes[..8] != header.magic {
        return Err(bad(0, format!("not a {what} (bad magic or too short)")));
    }
    if !crc_matches(bytes, 24) {
        return Err(bad(24, format!("{what} header checksum mismatch")));
    }
    if u32_at(bytes, 8) != Some(header.version) {
        return Err(StorageError::UnsupportedVersion {
            file: path.to_string(),
            found: u32_at(bytes, 8).unwrap_or(0),
            supported: header.version,
        });
    }
    if u32_at(bytes, 12) != Some(file_stamp(path)) {
        return Err(bad(
            12,
            "the file belongs to another collection or generation".into(),
        ));
    }
    if u64_at(bytes, 16) != Some((bytes.len() - BODY_AT - 4) as u64) {
        return Err(bad(16, "body length does not match the file size".into()));
    }
    let body = &bytes[BODY_AT..bytes.len() - 4];
    if u32_at(bytes, bytes.len() - 4) != Some(crc32fast::hash(body)) {
        return Err(bad(BODY_AT, format!("{what} body checksum mismatch")));
    }
    Ok(body)
}
