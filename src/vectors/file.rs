//! The vector file: fixed-size slots in a region.
//!
//! ```text
//! header (one 4096-byte page)
//!   0   8  magic "VELESVEC"
//!   8   4  format version (u32 LE)
//!  12   4  dimension (u32 LE)
//!  16   1  metric code
//!  17   3  reserved, zero
//!  20   4  slot size in bytes (u32 LE)
//!  24   4  crc32 of bytes 0..24
//!  28   4  stamp: crc32 of the file's path in the database (`collections/<name>/vectors-<g>`),
//!          never 0; a file copied in from another collection or generation carries another
//!          (0: written before stamps, accepted)
//!  32 4064 zero
//! slots
//!   4096 + s * slot_size: the encoded vector of slot s
//! ```
//! The file may be longer than the slots in use (capacity grows in steps); which slots are
//! live is the checkpoint's and the log's business, not this file's.
//!
//! Beside it, `<vector file>.crc` holds one crc32 (u32 LE) per slot, at `4 * s`: written with
//! every slot write, synced with the vector file, checked by `get` and `check`. It lives apart
//! so that the slots keep their natural size and alignment for the distance kernels. The two
//! files follow the same write-ahead rule (a slot and its checksum are written at the same
//! moment, and replay rewrites both), so after recovery every live slot matches its sum.

use crate::config::CollectionConfig;
use crate::error::StorageError;
use crate::format::{Header, HeaderProblem, append_crc, file_stamp, u32_at};
use crate::region::{CheckedRegion, Region};
use std::sync::atomic::{AtomicU64, Ordering};

pub const MAGIC: [u8; 8] = *b"VELESVEC";
pub const VERSION: u32 = 1;
/// Where slot 0 starts; also the granularity at which freed space is punched.
pub const PAGE: u64 = 4096;
const HEADER_USED: usize = 28;

/// Slots over a region.
#[derive(Debug)]
pub struct VectorFile {
    region: CheckedRegion,
    /// The checksums, one u32 per slot.
    sums: CheckedRegion,
    path: String,
    slot_size: u64,
    /// Slots whose bytes matched their checksum since this open last wrote them, one bit
    /// each: a slot is checked the first time the open reads it, and trusted after (damage
    /// that arrives under an open that already read the slot is for `check` and the next
    /// open to find).
    verified: Vec<AtomicU64>,
}

/// The name of the checksum file of the vector file at `path`.
pub fn sums_path(path: &str) -> String {
    format!("{path}.crc")
}

const HEADER: Header = Header {
    magic: MAGIC,
    version: VERSION,
};

fn header(config: &CollectionConfig, slot_size: u32) -> [u8; HEADER_USED] {
    let mut h = Vec::with_capacity(HEADER_USED);
    HEADER.write(&mut h);
    h.extend_from_slice(&config.dimension.to_le_bytes());
    h.extend_from_slice(&[config.metric.code(), 0, 0, 0]);
    h.extend_from_slice(&slot_size.to_le_bytes());
    append_crc(&mut h);
    h.try_into().expect("HEADER_USED bytes")
}

impl VectorFile {
    /// Initialises an empty vector file, durably.
    pub fn create(
        region: Box<dyn Region>,
        sums: Box<dyn Region>,
        path: &str,
        config: &CollectionConfig,
        slot_size: usize,
    ) -> Result<Self, StorageError> {
        let mut region = CheckedRegion::new(region);
        region.set_len(0)?;
        region.write(0, &header(config, slot_size as u32))?;
        region.write(HEADER_USED as u64, &file_stamp(path).to_le_bytes())?;
        region.set_len(PAGE)?;
        region.sync()?;
        let mut sums = CheckedRegion::new(sums);
        sums.set_len(0)?;
        sums.sync()?;
        Ok(VectorFile {
            region,
            sums,
            path: path.to_string(),
            slot_size: slot_size as u64,
            verified: Vec::new(),
        })
    }

    /// Opens a vector file, checking that it matches `config` and holds `slot_count` slots.
    pub fn open(
        region: Box<dyn Region>,
        sums: Box<dyn Region>,
        path: &str,
        config: &CollectionConfig,
        slot_size: usize,
        slot_count: u32,
    ) -> Result<Self, StorageError> {
        let mut file = VectorFile {
            region: CheckedRegion::new(region),
            sums: CheckedRegion::new(sums),
            path: path.to_string(),
            slot_size: slot_size as u64,
            verified: Vec::new(),
        };
        file.verify_header(config)?;
        let bad = |offset, reason: &str| StorageError::corrupted(path, offset, reason);
        if file.region.len() < file.offset(slot_count) {
            return Err(bad(
                file.region.len(),
                &format!("vector file holds fewer than the checkpoint's {slot_count} slots"),
            ));
        }
        if file.sums.len() < 4 * slot_count as u64 {
            return Err(StorageError::corrupted(
                sums_path(path),
                file.sums.len(),
                format!("checksum file holds fewer than the checkpoint's {slot_count} slots"),
            ));
        }
        let slots = (file.region.len() - PAGE) / file.slot_size.max(1);
        file.verified = (0..slots.div_ceil(64))
            .map(|_| AtomicU64::default())
            .collect();
        Ok(file)
    }

    /// Re-reads the header and checks it against `config` (what `open` and `check` do).
    pub fn verify_header(&self, config: &CollectionConfig) -> Result<(), StorageError> {
        let path = self.path.as_str();
        let bad = |offset, reason: &str| StorageError::corrupted(path, offset, reason);
        if self.region.len() < PAGE {
            return Err(bad(0, "vector file is shorter than its header"));
        }
        let mut h = [0u8; HEADER_USED + 4];
        self.region.read(0, &mut h)?;
        let stamp = u32_at(&h, HEADER_USED).unwrap_or_default();
        let h: [u8; HEADER_USED] = h[..HEADER_USED].try_into().expect("HEADER_USED bytes");
        match HEADER.verify(&h, 24) {
            Ok(()) => {}
            Err(HeaderProblem::Short | HeaderProblem::Magic) => {
                return Err(bad(0, "not a vector file (bad magic)"));
            }
            Err(HeaderProblem::Checksum) => {
                return Err(bad(24, "vector file header checksum mismatch"));
            }
            Err(HeaderProblem::Version(found)) => {
                return Err(StorageError::UnsupportedVersion {
                    file: path.to_string(),
                    found,
                    supported: VERSION,
                });
            }
        }
        if h != header(config, self.slot_size as u32) {
            return Err(bad(
                12,
                "vector file header does not match the checkpoint's config",
            ));
        }
        if stamp != 0 && stamp != file_stamp(path) {
            return Err(bad(
                HEADER_USED as u64,
                "the vector file belongs to another collection or generation (its stamp)",
            ));
        }
        Ok(())
    }

    /// Where slot `slot` starts in the file.
    pub fn offset(&self, slot: u32) -> u64 {
        PAGE + slot as u64 * self.slot_size
    }

    /// Makes room for `slots` slots; growth is geometric so appends are amortised O(1).
    pub fn reserve(&mut self, slots: u32) -> Result<(), StorageError> {
        let need = self.offset(slots);
        let len = self.region.len();
        if need <= len {
            return Ok(());
        }
        let capacity = (len - PAGE) / self.slot_size.max(1);
        let grown = (capacity + capacity / 2).max(64).max(slots as u64);
        let words = (grown as usize).div_ceil(64);
        self.verified
            .resize_with(words.max(self.verified.len()), AtomicU64::default);
        let grown = match self.region.set_len(PAGE + grown * self.slot_size) {
            // Where the file lives in memory, half again may not fit when the need does.
            Err(e) if crate::region::is_out_of_memory(&e) && grown > slots as u64 => {
                self.region.set_len(need)?;
                slots as u64
            }
            r => r.map(|()| grown)?,
        };
        self.sums.set_len(4 * grown)
    }

    /// Writes slot `slot` and its checksum.
    pub fn write(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StorageError> {
        debug_assert_eq!(bytes.len() as u64, self.slot_size);
        self.forget_verified(slot);
        self.region.write(self.offset(slot), bytes)?;
        self.sums
            .write(4 * slot as u64, &crc32fast::hash(bytes).to_le_bytes())
    }

    fn forget_verified(&mut self, slot: u32) {
        if let Some(w) = self.verified.get(slot as usize / 64) {
            w.fetch_and(!(1 << (slot % 64)), Ordering::Relaxed);
        }
    }

    /// Checks `bytes`, read from slot `slot` (what the region holds for it), against the
    /// slot's checksum; a slot checked once is not checked again until it is written.
    pub fn verify(&self, slot: u32, bytes: &[u8]) -> Result<(), StorageError> {
        let (word, bit) = (self.verified.get(slot as usize / 64), 1u64 << (slot % 64));
        if word.is_some_and(|w| w.load(Ordering::Relaxed) & bit != 0) {
            return Ok(());
        }
        self.verify_again(slot, bytes)?;
        if let Some(w) = word {
            w.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// [`VectorFile::verify`] that checks again whatever was checked before (`check`).
    pub fn verify_again(&self, slot: u32, bytes: &[u8]) -> Result<(), StorageError> {
        let mut sum = [0u8; 4];
        self.sums.read(4 * slot as u64, &mut sum)?;
        match Self::matches(bytes, &sum) {
            true => Ok(()),
            false => Err(self.mismatch(slot)),
        }
    }

    /// True when slot `slot` was checked since it was last written (see `verify`).
    pub fn is_verified(&self, slot: u32) -> bool {
        self.verified
            .get(slot as usize / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (slot % 64)) != 0)
    }

    /// The checksums of the first `slots` slots, in one read (an open checks every live slot
    /// against them: one read, not one per slot, where the file is read by position).
    pub fn read_sums(&self, slots: usize) -> Result<Vec<u8>, StorageError> {
        let mut sums = vec![0u8; 4 * slots];
        self.sums.read(0, &mut sums)?;
        Ok(sums)
    }

    /// True when `bytes` match `sum`, a slot's checksum as [`VectorFile::read_sums`] gives it.
    pub fn matches(bytes: &[u8], sum: &[u8]) -> bool {
        crc32fast::hash(bytes).to_le_bytes() == sum
    }

    /// The error for slot `slot`, whose bytes do not match its checksum (file and offset).
    pub fn mismatch(&self, slot: u32) -> StorageError {
        StorageError::corrupted(
            &self.path,
            self.offset(slot),
            format!("slot {slot} does not match its checksum"),
        )
    }

    pub fn read(&self, slot: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        self.region.read(self.offset(slot), buf)
    }

    /// Reads `count` consecutive slots from `first` into `buf`.
    pub fn read_run(&self, first: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        self.region.read(self.offset(first), buf)
    }

    /// Gives back the bytes of free slot `slot`: its own bytes are zeroed, and every whole page
    /// it touches whose slots are all free (`is_free`) is released. Neighbours are looked at
    /// only within those pages, so the cost is bounded by the page size.
    pub fn release(
        &mut self,
        slot: u32,
        is_free: impl Fn(u32) -> bool,
    ) -> Result<(), StorageError> {
        self.forget_verified(slot);
        let size = self.slot_size;
        let (start, end) = (self.offset(slot), self.offset(slot) + size);
        let page_lo = start / PAGE * PAGE;
        let page_hi = end.div_ceil(PAGE) * PAGE;
        let slot_at = |byte: u64| ((byte - PAGE) / size) as u32;

        let mut lo = start;
        let mut s = slot;
        while lo > page_lo && s > 0 && is_free(s - 1) {
            s -= 1;
            lo = self.offset(s).max(page_lo);
        }
        let mut hi = end;
        let mut s = slot;
        while hi < page_hi && is_free(s + 1) {
            s += 1;
            hi = (self.offset(s) + size).min(page_hi);
        }
        debug_assert!(slot_at(lo) <= slot && slot_at(hi - 1) >= slot);
        self.region.punch_hole(lo, hi - lo)
    }

    pub fn sync(&self) -> Result<(), StorageError> {
        self.region.sync()?;
        self.sums.sync()
    }

    /// The slots area as one slice, when the backend can lend it (memory map, memory).
    pub fn slots_slice(&self) -> Option<&[u8]> {
        self.region
            .as_slice()
            .map(|s| s.get(PAGE as usize..).unwrap_or(&[]))
    }

    /// True when the file's bytes are held in this process's memory (an in-memory copy).
    pub fn holds_its_bytes(&self) -> bool {
        self.region.holds_its_bytes()
    }

    /// Bytes the file spans (its length, holes included).
    pub fn len(&self) -> u64 {
        self.region.len()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file and its checksum file, each with the region it is open in (a snapshot copies
    /// through them).
    pub(crate) fn held(&self) -> [(String, &dyn Region); 2] {
        [
            (self.path.clone(), &self.region),
            (sums_path(&self.path), &self.sums),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Metric;
    use crate::region::MemoryRegion;

    fn file(slot_size: usize) -> VectorFile {
        let cfg = CollectionConfig::new(slot_size as u32 / 4, Metric::Dot);
        VectorFile::create(
            Box::new(MemoryRegion::new()),
            Box::new(MemoryRegion::new()),
            "v",
            &cfg,
            slot_size,
        )
        .unwrap()
    }

    #[test]
    fn release_zeroes_the_slot_and_the_whole_pages_of_free_neighbours_only() {
        // 1536-byte slots: 8 of them span exactly 3 pages.
        let mut f = file(1536);
        f.reserve(16).unwrap();
        for s in 0..16 {
            f.write(s, &[s as u8 + 1; 1536]).unwrap();
        }
        let free = [0u32, 1, 3];
        f.release(1, |s| free.contains(&s)).unwrap();
        let all = f.slots_slice().unwrap().to_vec();
        let slot = |s: usize| &all[s * 1536..(s + 1) * 1536];
        // Slot 1 is zero. Slot 0 is free and lies in page 0 with slot 1: zeroed too.
        assert!(slot(1).iter().all(|&b| b == 0));
        assert!(slot(0).iter().all(|&b| b == 0));
        // Slot 2 is live and must be untouched; so is slot 3 (free, but beyond live slot 2).
        assert!(slot(2).iter().all(|&b| b == 3));
        assert!(slot(3).iter().all(|&b| b == 4));
    }

    #[test]
    fn every_slot_is_checked_against_its_own_checksum() {
        let mut f = file(16);
        f.reserve(4).unwrap();
        for s in 0..4 {
            f.write(s, &[s as u8 + 7; 16]).unwrap();
        }
        let mut buf = [0u8; 16];
        for s in 0..3 {
            f.read(s, &mut buf).unwrap();
            f.verify(s, &buf).unwrap();
        }
        f.read(3, &mut buf).unwrap();
        buf[5] ^= 1;
        assert!(matches!(
            f.verify(3, &buf),
            Err(StorageError::Corrupted { offset, .. }) if offset == PAGE + 48
        ));
    }

    #[test]
    fn a_slot_is_checked_once_until_it_is_written_again() {
        use crate::region::CachedRegion;
        let cfg = CollectionConfig::new(4, Metric::Dot);
        let mirrored = || Box::new(CachedRegion::new(Box::new(MemoryRegion::new())).unwrap());
        let mut f = VectorFile::create(mirrored(), mirrored(), "v", &cfg, 16).unwrap();
        f.reserve(2).unwrap();
        f.write(0, &[1; 16]).unwrap();
        f.verify(0, &[1; 16]).unwrap();
        assert_eq!(f.verified[0].load(Ordering::Relaxed), 1, "remembered");
        // A write forgets it: the old bytes no longer pass, the new ones do.
        f.write(0, &[2; 16]).unwrap();
        assert!(f.verify(0, &[1; 16]).is_err());
        f.verify(0, &[2; 16]).unwrap();
        f.release(0, |_| true).unwrap();
        assert_eq!(
            f.verified[0].load(Ordering::Relaxed),
            0,
            "a released slot is forgotten"
        );
    }

    #[test]
    fn a_header_for_another_config_or_too_few_slots_is_corruption() {
        let cfg = CollectionConfig::new(4, Metric::Dot);
        let mut region = MemoryRegion::new();
        region.write(0, &header(&cfg, 16)).unwrap();
        region.set_len(PAGE + 32).unwrap();
        let open = |r: MemoryRegion, cfg: &CollectionConfig, n| {
            let mut sums = MemoryRegion::new();
            sums.set_len(4 * 2).unwrap();
            VectorFile::open(Box::new(r), Box::new(sums), "v", cfg, 16, n)
        };
        let copy = |r: &MemoryRegion| {
            let mut c = MemoryRegion::new();
            c.write(0, r.as_slice().unwrap()).unwrap();
            c
        };
        assert!(open(copy(&region), &cfg, 2).is_ok());
        assert!(matches!(
            open(copy(&region), &cfg, 3),
            Err(StorageError::Corrupted { .. })
        ));
        let other = CollectionConfig::new(4, Metric::Euclidean);
        assert!(matches!(
            open(copy(&region), &other, 0),
            Err(StorageError::Corrupted { .. })
        ));
        let mut damaged = copy(&region);
        damaged.write(13, &[9]).unwrap();
        assert!(matches!(
            open(damaged, &cfg, 0),
            Err(StorageError::Corrupted { .. })
        ));
    }
}
