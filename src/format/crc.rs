//! A CRC32 appended to the bytes it protects, and its check.

use super::le::u32_at;

/// CRC32 of `bytes[..at]` equals the u32 stored at `at`.
pub(crate) fn crc_matches(bytes: &[u8], at: usize) -> bool {
    bytes.get(..at).map(crc32fast::hash) == u32_at(bytes, at)
}

/// Appends the CRC32 of everything in `out`.
pub(crate) fn append_crc(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}
