//! File formats: how are a file's bytes laid out, and are they intact?
//!
//! Every file of a database begins with a [`Header`] (an 8-byte magic and a u32 format
//! version) and carries a CRC32 over what it protects; `le.rs` reads little-endian integers
//! with bounds checks, so no decoder indexes past the bytes it was given; `whole.rs` frames
//! the files written whole at a checkpoint (header, stamp, body, two checksums).

// A wrong cast here corrupts data on disk: every narrowing cast is checked or justified.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod crc;
mod header;
mod le;
pub(crate) mod whole;

pub(crate) use crc::{append_crc, crc_matches};
pub(crate) use header::{Header, HeaderProblem, file_stamp};
pub(crate) use le::{Reader, u32_at, u64_at};
