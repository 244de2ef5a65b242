//! Little-endian integers at byte offsets, bounds-checked.

/// The u32 at `bytes[at..at + 4]`, or `None` past the end.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// The u64 at `bytes[at..at + 8]`, or `None` past the end.
#[inline]
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// A bounds-checked little-endian reader: every read past the end is an error that says
/// where, never a panic.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(format!(
                "the bytes end at {} but {n} more are needed",
                self.at
            )),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        let at = self.at;
        self.take(4)?;
        u32_at(self.bytes, at).ok_or_else(|| "short read".to_string())
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        let at = self.at;
        self.take(8)?;
        u64_at(self.bytes, at).ok_or_else(|| "short read".to_string())
    }

    /// Where the next read starts.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.bytes.len() - self.at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none_never_a_panic() {
        let b = [1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!((u32_at(&b, 0), u32_at(&b, 4)), (Some(1), Some(2)));
        assert_eq!(u64_at(&b, 0), Some(2 << 32 | 1));
        assert_eq!(
            (u32_at(&b, 5), u64_at(&b, 1), u32_at(&b, usize::MAX)),
            (None, None, None)
        );
    }
}
