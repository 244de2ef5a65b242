//! The header every file starts with: magic, then format version.
//!
//! ```text
//! 0  8  magic (names the kind of file)
//! 8  4  format version (u32 LE)
//! ```
//! What follows is the file's own; each file stores a CRC32 over its header (and maybe more)
//! at an offset of its own, which [`Header::verify`] verifies.

use super::{crc_matches, u32_at};

/// A file kind's magic and the version this build writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
}

/// Why bytes are not a valid header of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Fewer bytes than the header and its checksum.
    Short,
    /// Another kind of file.
    Magic,
    /// The checksum does not match (torn or damaged).
    Checksum,
    /// Intact, but of another format version.
    Version(u32),
}

impl Header {
    pub(crate) const LEN: usize = 12;

    /// Appends the magic and the version.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
    }

    /// Checks, in this order, that `bytes` are long enough to hold a CRC at `crc_at`, start
    /// with the magic, that the CRC32 of `bytes[..crc_at]` is stored at `crc_at`, and that
    /// the version is this build's.
    pub(crate) fn verify(&self, bytes: &[u8], crc_at: usize) -> Result<(), HeaderProblem> {
        if crc_at < Self::LEN || bytes.len() < crc_at + 4 {
            return Err(HeaderProblem::Short);
        }
        if bytes[..8] != self.magic {
            return Err(HeaderProblem::Magic);
        }
        if !crc_matches(bytes, crc_at) {
            return Err(HeaderProblem::Checksum);
        }
        match u32_at(bytes, 8) {
            Some(v) if v == self.version => Ok(()),
            Some(v) => Err(HeaderProblem::Version(v)),
            None => Err(HeaderProblem::Short),
        }
    }
}

/// The stamp of the file at `path` (a collection's file, named with its generation): a
/// file copied in from another collection or generation carries another one. Never 0, which
/// marks a file written before stamps.
pub(crate) fn file_stamp(path: &str) -> u32 {
    crc32fast::hash(path.as_bytes()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_checked_for_length_magic_checksum_then_version() {
        let h = Header {
            magic: *b"TESTTEST",
            version: 3,
        };
        let mut b = Vec::new();
        h.write(&mut b);
        super::super::append_crc(&mut b);
        assert_eq!(h.verify(&b, 12), Ok(()));
        assert_eq!(h.verify(&b[..15], 12), Err(HeaderProblem::Short));
        let other = Header { version: 4, ..h };
        assert_eq!(other.verify(&b, 12), Err(HeaderProblem::Version(3)));
        let mut bad = b.clone();
        bad[9] ^= 1;
        assert_eq!(h.verify(&bad, 12), Err(HeaderProblem::Checksum));
        bad[0] ^= 1;
        assert_eq!(h.verify(&bad, 12), Err(HeaderProblem::Magic));
    }
}
