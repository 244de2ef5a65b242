//! File formats: how are a file's bytes laid out, and are they intact?
//!
//! Every file of a database begins with a [`Header`] (an 8-byte magic and a u32 format
//! version) and carries a CRC32 over what it protects; `le.rs` reads little-endian integers
//! with bounds checks, so no decoder indexes past the bytes it was given.

mod header;
mod le;

pub(crate) use header::{Header, HeaderProblem, file_stamp};
pub(crate) use le::{Reader, u32_at, u64_at};

/// CRC32 of `bytes[..at]` equals the u32 stored at `at`.
pub(crate) fn crc_matches(bytes: &[u8], at: usize) -> bool {
    bytes.get(..at).map(crc32fast::hash) == u32_at(bytes, at)
}

/// Appends the CRC32 of everything in `out`.
pub(crate) fn append_crc(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}
