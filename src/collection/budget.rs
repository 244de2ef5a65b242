//! What a read has returned so far, against the one result limit.

use super::types::MAX_RESULT_BYTES;
use crate::error::{Error, Limit, Result};

/// The bytes a read has returned so far, against [`MAX_RESULT_BYTES`].
#[derive(Default)]
pub(super) struct Budget(usize);

impl Budget {
    pub(super) fn spend(&mut self, bytes: usize) -> Result<()> {
        self.0 += bytes;
        if self.0 > MAX_RESULT_BYTES {
            return Err(Error::LimitExceeded {
                limit: Limit::ResultBytes,
                max: MAX_RESULT_BYTES as u64,
                actual: self.0 as u64,
            });
        }
        Ok(())
    }

    /// True when `bytes` more would pass the limit.
    pub(super) fn would_pass(&self, bytes: usize) -> bool {
        self.0 + bytes > MAX_RESULT_BYTES
    }
}
