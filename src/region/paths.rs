//! Relative paths below a directory's root, and the errors every backend shares.

use crate::error::StorageError;

/// Checks that `path` is a relative path of plain components (see [`Directory`]).
pub(crate) fn check_path(path: &str) -> Result<(), StorageError> {
    if path.is_empty() {
        return Ok(());
    }
    for part in path.split('/') {
        if part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\\')
            || part.contains('\0')
            || part.contains(':')
        {
            return Err(StorageError::io(
                path,
                "resolve path",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "path must be relative and made of plain components",
                ),
            ));
        }
    }
    Ok(())
}

/// The parent directory of a relative path (`""` for a top-level entry).
/// `x` as an index into bytes held in memory. Every caller has checked `x` against the length
/// of those bytes (a `usize`), so it fits; were a check missing, `usize::MAX` fails the slice
/// loudly where a truncating cast would have read the wrong bytes.
pub(crate) fn at(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

pub(crate) fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The error a read past the end of a region reports.
pub(crate) fn short_read(path: &str, offset: u64, wanted: usize, len: u64) -> StorageError {
    StorageError::io(
        path,
        "read",
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("read of {wanted} bytes at offset {offset} past the end ({len} bytes)"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_traversal_or_odd_parts_are_refused() {
        for bad in [
            "..", "a/../b", "/abs", "a//b", "a/", "./a", "a\\b", "a\0b", "c:x",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["", "a", "a/b", "col_1/wal", "x-y/checkpoint"] {
            assert!(check_path(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn parent_of_a_path_is_everything_before_the_last_slash() {
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
    }
}
