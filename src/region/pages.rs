//! Pages: a fixed-size buffer of bytes for derived data the core keeps in memory (the SQ8
//! copy's segments), zeroed or holding a range of a file.
//!
//! Natively it is a memory map: anonymous (zero pages, touched lazily) or a private,
//! copy-on-write map of a file's range, so that loading a saved copy reads nothing until a
//! page is used and a write to it changes this process's copy only. In WebAssembly it is heap
//! memory, allocated fallibly (a guest's memory is capped): the file's bytes are read into it.

use crate::error::StorageError;
use std::fmt;

/// A fixed-size, writable run of bytes (see the module docs).
///
/// Invariant: `ptr` and `len` are `owner`'s bytes, which stay where they are while `owner`
/// lives (a map's or a boxed slice's memory does not move with its handle). The slice is
/// made here rather than through the owner's `Deref` so that reading a row is one inlined
/// step in every build (search reads one per distance).
pub struct Pages {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
    _owner: Owner,
}

#[cfg(not(target_family = "wasm"))]
type Owner = memmap2::MmapMut;
#[cfg(target_family = "wasm")]
type Owner = Box<[u8]>;

// SAFETY: `Pages` owns its bytes as `Owner` does (shared reads through `&`, writes through
// `&mut`), and `Owner` is `Send` and `Sync`.
unsafe impl Send for Pages {}
// SAFETY: as above.
unsafe impl Sync for Pages {}

fn own(mut owner: Owner) -> Pages {
    let bytes: &mut [u8] = &mut owner;
    Pages {
        ptr: std::ptr::NonNull::from(&mut *bytes).cast(),
        len: bytes.len(),
        _owner: owner,
    }
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pages({} bytes)", self.len())
    }
}

impl Pages {
    /// `len` zero bytes (`len > 0`), or an out-of-memory error when they cannot be had.
    pub fn zeroed(len: usize) -> Result<Pages, StorageError> {
        #[cfg(not(target_family = "wasm"))]
        {
            debug_assert!(len > 0, "an anonymous map of no bytes is an error");
            memmap2::MmapMut::map_anon(len)
                .map(own)
                .map_err(|_| super::out_of_memory(len as u64))
        }
        #[cfg(target_family = "wasm")]
        {
            let mut v = Vec::new();
            v.try_reserve_exact(len)
                .map_err(|_| super::out_of_memory(len as u64))?;
            v.resize(len, 0);
            Ok(own(v.into_boxed_slice()))
        }
    }

    /// A private copy-on-write map of `len` bytes of `file` from `offset` (page-aligned),
    /// named `path` in errors. The file must not change while mapped: the core maps only
    /// files written whole and renamed into place, which nothing writes again (a new version
    /// gets a new name), and a removed file stays readable through its maps.
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn map_file(
        file: &std::fs::File,
        path: &str,
        offset: u64,
        len: usize,
    ) -> Result<Pages, StorageError> {
        // SAFETY: see above: the file's bytes stay as they are for the map's life, and the
        // range lies within the file (the caller checked its length).
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .map_copy(file)
        };
        map.map(own)
            .map_err(|e| StorageError::io(path.to_string(), "map", e))
    }

    /// Bytes held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes.
    #[inline(always)]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the owner's bytes (the type's invariant), borrowed as `self` is.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, to write (a file's map copies a page on its first write).
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the owner's bytes (the type's invariant), borrowed mutably as `self` is.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// A copy in fresh pages (a map's copy is anonymous memory).
    pub fn try_clone(&self) -> Result<Pages, StorageError> {
        let mut copy = Pages::zeroed(self.len())?;
        copy.as_mut_slice().copy_from_slice(self.as_slice());
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::Pages;

    #[test]
    fn zeroed_pages_are_zero_writable_and_clone_apart() {
        let mut p = Pages::zeroed(10_000).unwrap();
        assert!(p.as_slice().iter().all(|&b| b == 0));
        p.as_mut_slice()[9_999] = 7;
        let c = p.try_clone().unwrap();
        p.as_mut_slice()[9_999] = 8;
        assert_eq!((c.as_slice()[9_999], p.len()), (7, 10_000));
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn a_file_map_is_private_to_this_copy() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&[1u8; 8192]).unwrap();
        f.write_all(&[2u8; 4096]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut p = Pages::map_file(&file, "f", 8192, 4096).unwrap();
        assert!(p.as_slice().iter().all(|&b| b == 2));
        p.as_mut_slice()[0] = 9;
        assert_eq!(
            std::fs::read(&path).unwrap()[8192],
            2,
            "the file is untouched"
        );
    }
}
