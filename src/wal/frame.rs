//! The byte layout of the log: one header, then frames. See `docs/format.md`.
//!
//! ```text
//! header (32 bytes)
//!   0   8  magic "VELESWAL"
//!   8   4  format version (u32 LE)
//!  12   4  generation: the generation this log belongs to (u32 LE, never 0)
//!  16   8  durable_end: the log was synced up to this offset (u64 LE; 0 or 32 when nothing
//!          was); rewritten after every sync
//!  24   4  reserved, zero
//!  28   4  crc32 of bytes 0..28
//!
//! frame (starts at a multiple of 8)
//!   0   4  len: payload length (u32 LE, <= MAX_RECORD)
//!   4   4  generation (must equal the checkpoint's generation)
//!   8   8  lsn (u64 LE; consecutive from the checkpoint's next_lsn)
//!  16   8  durable_lsn: every frame with a smaller lsn was synced before this one was written
//!  24   1  kind (opaque to the log)
//!  25 len  payload
//!   .   .  zero padding, so that the frame ends at a multiple of 8
//! end-4 4  crc32 of every byte of the frame before it (padding included)
//! ```

use crate::format::{Header, HeaderProblem, append_crc, crc_matches, u32_at, u64_at};

/// Magic of the log header.
pub const MAGIC: [u8; 8] = *b"VELESWAL";
/// The log format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Size of the log header.
pub const HEADER_LEN: u64 = HEADER_BYTES as u64;
/// [`HEADER_LEN`] as a `usize`, for the header's bytes in memory.
pub const HEADER_BYTES: usize = 32;
/// Bytes of a frame before its payload.
pub const FRAME_HEAD: usize = 25;
/// Bytes of the checksum after the payload.
pub const FRAME_CRC: usize = 4;
/// Frames start at multiples of this.
pub const FRAME_ALIGN: u64 = ALIGN_BYTES as u64;
/// [`FRAME_ALIGN`] as a `usize`.
pub const ALIGN_BYTES: usize = 8;
/// The largest payload a frame may carry. A length above it is never trusted.
pub const MAX_RECORD: u32 = 64 << 20;

/// Total size of a frame with a payload of `payload_len` bytes, padding included.
pub const fn frame_len(payload_len: usize) -> u64 {
    frame_bytes(payload_len) as u64
}

/// [`frame_len`] as a `usize`, for a frame's bytes in memory.
pub const fn frame_bytes(payload_len: usize) -> usize {
    (FRAME_HEAD + payload_len + FRAME_CRC).div_ceil(ALIGN_BYTES) * ALIGN_BYTES
}

const HEADER: Header = Header {
    magic: MAGIC,
    version: VERSION,
};

/// The header of a log of `generation` that was synced up to `durable_end`.
pub fn encode_header(generation: u32, durable_end: u64) -> [u8; HEADER_BYTES] {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    HEADER.write(&mut h);
    h.extend_from_slice(&generation.to_le_bytes());
    h.extend_from_slice(&durable_end.to_le_bytes());
    h.resize(28, 0);
    append_crc(&mut h);
    h.try_into().expect("HEADER_LEN bytes")
}

/// What a log header says.
#[derive(Debug, PartialEq, Eq)]
pub enum LogHeader {
    Valid {
        generation: u32,
        /// Every byte before this offset was durable once: damage there is corruption,
        /// never a torn tail.
        durable_end: u64,
    },
    /// Intact, but written by a newer format version.
    FutureVersion(u32),
    /// Torn or damaged.
    Invalid,
}

pub fn decode_header(bytes: &[u8]) -> LogHeader {
    match (
        HEADER.verify(bytes, 28),
        u32_at(bytes, 12),
        u64_at(bytes, 16),
    ) {
        (Ok(()), Some(generation), Some(durable_end)) => LogHeader::Valid {
            generation,
            durable_end,
        },
        (Err(HeaderProblem::Version(v)), _, _) => LogHeader::FutureVersion(v),
        _ => LogHeader::Invalid,
    }
}

/// Appends one encoded frame to `out`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    generation: u32,
    lsn: u64,
    durable_lsn: u64,
    kind: u8,
    payload: &[u8],
) {
    debug_assert!(payload.len() <= MAX_RECORD as usize);
    let start = out.len();
    // `Wal::append` refuses payloads past MAX_RECORD (< u32::MAX) before it encodes one.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&durable_lsn.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    let end = start + frame_bytes(payload.len());
    out.resize(end - FRAME_CRC, 0);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A frame that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub lsn: u64,
    pub durable_lsn: u64,
    pub kind: u8,
    pub payload: &'a [u8],
    /// Bytes the frame occupies, padding included.
    pub size: u64,
}

/// Decodes the frame at the start of `bytes` if, and only if, it is whole and intact and
/// belongs to generation `generation`. The length field is bounds-checked against both
/// [`MAX_RECORD`] and `bytes` before anything is read through it.
pub fn decode_frame(bytes: &[u8], generation: u32) -> Option<Frame<'_>> {
    if bytes.len() < FRAME_HEAD + FRAME_CRC {
        return None;
    }
    let len = u32_at(bytes, 0)?;
    if len > MAX_RECORD || u32_at(bytes, 4)? != generation {
        return None;
    }
    let size = frame_bytes(len as usize);
    if size > bytes.len() {
        return None;
    }
    let crc_at = size - FRAME_CRC;
    if !crc_matches(bytes, crc_at) {
        return None;
    }
    let body_end = FRAME_HEAD + len as usize;
    let (lsn, durable_lsn) = (u64_at(bytes, 8)?, u64_at(bytes, 16)?);
    if durable_lsn > lsn {
        return None;
    }
    Some(Frame {
        lsn,
        durable_lsn,
        kind: bytes[24],
        payload: &bytes[FRAME_HEAD..body_end],
        size: size as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_aligned_and_round_trip() {
        for len in [0usize, 1, 2, 3, 4, 7, 100, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| i.to_le_bytes()[0]).collect();
            let mut buf = Vec::new();
            encode_frame(&mut buf, 7, 42, 40, 3, &payload);
            assert_eq!(buf.len() as u64 % FRAME_ALIGN, 0);
            assert_eq!(buf.len() as u64, frame_len(len));
            let f = decode_frame(&buf, 7).unwrap();
            assert_eq!(
                (f.lsn, f.durable_lsn, f.kind, f.payload),
                (42, 40, 3, &payload[..])
            );
            assert_eq!(f.size, buf.len() as u64);
            assert!(
                decode_frame(&buf, 8).is_none(),
                "another generation's frame is invalid"
            );
        }
    }

    #[test]
    fn a_length_field_of_four_gib_is_rejected_without_reading_through_it() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 1, 1, 1, 1, b"abc");
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_frame(&buf, 1).is_none());
        buf[0..4].copy_from_slice(&(MAX_RECORD - 1).to_le_bytes());
        assert!(decode_frame(&buf, 1).is_none());
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = encode_header(9, 4096);
        assert_eq!(
            decode_header(&h),
            LogHeader::Valid {
                generation: 9,
                durable_end: 4096
            }
        );
        for byte in 0..h.len() {
            let mut bad = h;
            bad[byte] ^= 0x10;
            assert_eq!(decode_header(&bad), LogHeader::Invalid, "byte {byte}");
        }
        assert_eq!(decode_header(&h[..20]), LogHeader::Invalid);
    }

    #[test]
    fn a_future_version_header_is_recognised_as_such() {
        let mut h = encode_header(3, 0);
        h[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&h[..28]);
        h[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&h), LogHeader::FutureVersion(2));
    }
}
