//! The write-ahead log: what happened since the last checkpoint?
//!
//! A log belongs to one *generation* (its generation), set by the checkpoint that started it.
//! Appends go to the OS at once (a killed process loses nothing it appended); [`Wal::sync`] is
//! the durability barrier. Recovery ([`Wal::open`]) keeps the longest run of intact frames,
//! truncates a torn tail, and refuses (with [`StorageError::Corrupted`](crate::StorageError::Corrupted)) a damaged frame that
//! a later intact frame or the header proves was durable, and a damaged header with anything
//! behind it (no crash damages a header).
//!
//! - `frame.rs`: the byte layout of the log header and of a frame.
//! - `log.rs`: [`Wal`], the open log.
//! - `recovery.rs`: [`recover`], what an image of the log holds.

// A wrong cast here corrupts data on disk: every narrowing cast is checked or justified.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

pub mod frame;
mod log;
mod recovery;

pub use log::Wal;
pub use recovery::{Record, Recovery, recover};

#[cfg(test)]
mod tests;
