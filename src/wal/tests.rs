// Tests over small images: their offsets and byte values fit.
#![allow(clippy::cast_possible_truncation)]
use super::frame::{FRAME_HEAD, HEADER_LEN, frame_len};
use super::*;
use crate::error::StorageError;
use crate::region::crash::{CrashDirectory, CrashMode};
use crate::region::{Access, Directory, MemoryRegion, Region};
use proptest::prelude::*;

const GENERATION: u32 = 5;
const FIRST_LSN: u64 = 100;

/// Writes `payloads` into a fresh log, syncing after each when `sync_each` and once at the
/// end; returns the image.
fn build(payloads: &[Vec<u8>], sync_each: bool) -> Vec<u8> {
    build_with(payloads, sync_each, true)
}

/// [`build`], with the final sync only when `sync_at_end` (then the last frame is unsynced
/// even with `sync_each`).
fn build_with(payloads: &[Vec<u8>], sync_each: bool, sync_at_end: bool) -> Vec<u8> {
    let dir = crate::region::MemoryDirectory::new();
    let mut wal = Wal::create(
        dir.open_region("wal", Access::Sequential).unwrap(),
        "wal",
        GENERATION,
        FIRST_LSN,
    )
    .unwrap();
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(wal.append(i as u8, p).unwrap(), FIRST_LSN + i as u64);
        if sync_each && (sync_at_end || i + 1 < payloads.len()) {
            wal.sync().unwrap();
        }
    }
    if sync_at_end {
        wal.sync().unwrap();
    }
    drop(wal);
    dir.read_file("wal").unwrap().unwrap()
}

fn records_of(payloads: &[Vec<u8>]) -> Vec<Record> {
    let mut offset = HEADER_LEN;
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            lsn: FIRST_LSN + i as u64,
            offset: {
                offset += frame_len(p.len());
                offset - frame_len(p.len())
            },
            kind: i as u8,
            payload: {
                let start = (offset - frame_len(p.len())) as usize + FRAME_HEAD;
                start..start + p.len()
            },
        })
        .collect()
}

/// Offsets where each frame ends.
fn frame_ends(payloads: &[Vec<u8>]) -> Vec<u64> {
    let mut at = HEADER_LEN;
    payloads
        .iter()
        .map(|p| {
            at += frame_len(p.len());
            at
        })
        .collect()
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn records_round_trip_through_reopen(payloads in payloads()) {
        let image = build(&payloads, false);
        let mut region = MemoryRegion::new();
        region.write(0, &image).unwrap();
        let (wal, rec) = Wal::open(Box::new(region), "wal", GENERATION, FIRST_LSN, true).unwrap();
        prop_assert_eq!(&rec.records, &records_of(&payloads));
        prop_assert_eq!(rec.dropped_bytes, 0);
        prop_assert_eq!(wal.next_lsn(), FIRST_LSN + payloads.len() as u64);
    }

    /// Truncating a log that was never synced at any byte recovers exactly the frames that end
    /// at or before the cut (a torn tail); cutting a synced log short of where it was durable
    /// is corruption.
    #[test]
    fn truncation_at_every_offset_recovers_exactly_the_complete_prefix(payloads in payloads()) {
        let synced = build(&payloads, true);
        for cut in HEADER_LEN as usize..synced.len() {
            let r = recover(&synced[..cut], "wal", GENERATION, FIRST_LSN);
            prop_assert!(matches!(r, Err(StorageError::Corrupted { .. })), "synced log cut at {}", cut);
        }
        let image = build_with(&payloads, false, false);
        let ends = frame_ends(&payloads);
        let all = records_of(&payloads);
        for cut in 0..=image.len() {
            let rec = recover(&image[..cut], "wal", GENERATION, FIRST_LSN).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut as u64).count();
            prop_assert_eq!(&rec.records[..], &all[..whole], "cut at {}", cut);
            let kept = if whole == 0 { HEADER_LEN } else { ends[whole - 1] };
            if cut as u64 >= HEADER_LEN {
                prop_assert_eq!(rec.dropped_bytes, cut as u64 - kept);
            }
        }
    }

    /// A flipped bit anywhere is detected: in a log synced after every frame but the last, a
    /// frame that a later frame vouches for, or that lies before the header's durable end, is
    /// reported as corruption with its offset; the unsynced last frame is dropped as a torn
    /// tail. No altered record is ever returned.
    #[test]
    fn a_flipped_bit_anywhere_is_detected(payloads in payloads(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let image = build_with(&payloads, true, false);
        let ends = frame_ends(&payloads);
        let at = pick.index(image.len());
        let mut bad = image.clone();
        bad[at] ^= 1 << bit;
        let last_start = if ends.len() > 1 { ends[ends.len() - 2] } else { HEADER_LEN };
        match recover(&bad, "wal", GENERATION, FIRST_LSN) {
            Err(StorageError::Corrupted { offset, .. }) => {
                prop_assert!((at as u64) < last_start || at < HEADER_LEN as usize);
                prop_assert!(offset <= at as u64);
            }
            Ok(rec) => {
                prop_assert!(at as u64 >= last_start, "bit {} in a vouched frame went unnoticed", at);
                prop_assert_eq!(&rec.records[..], &records_of(&payloads)[..payloads.len() - 1]);
                prop_assert!(rec.dropped_bytes > 0);
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }
}

#[test]
fn a_torn_frame_inside_the_unsynced_window_is_a_torn_tail_even_with_intact_frames_after_it() {
    // Three frames appended after the last sync: the disk may keep the third and lose the
    // second. Nothing vouches for the second, so this is a crash, not corruption.
    let payloads = vec![vec![1u8; 40], vec![2u8; 40], vec![3u8; 40], vec![4u8; 40]];
    let dir = crate::region::MemoryDirectory::new();
    let mut wal = Wal::create(
        dir.open_region("wal", Access::Sequential).unwrap(),
        "wal",
        GENERATION,
        FIRST_LSN,
    )
    .unwrap();
    wal.append(0, &payloads[0]).unwrap();
    wal.sync().unwrap();
    for (i, p) in payloads.iter().enumerate().skip(1) {
        wal.append(i as u8, p).unwrap();
    }
    drop(wal);
    let mut image = dir.read_file("wal").unwrap().unwrap();
    let ends = frame_ends(&payloads);
    image[ends[1] as usize + 30] ^= 0xFF; // inside the third frame (lsn 102)
    let rec = recover(&image, "wal", GENERATION, FIRST_LSN).unwrap();
    assert_eq!(rec.records, records_of(&payloads)[..2]);
    assert_eq!(rec.torn_at, Some(ends[1]));
}

#[test]
fn a_log_of_an_earlier_generation_is_discarded_and_a_newer_one_refused() {
    let image = build(&[vec![1, 2, 3]], true);
    let rec = recover(&image, "wal", GENERATION + 1, 0).unwrap();
    assert!(rec.records.is_empty());
    assert_eq!(rec.torn_at, Some(0));
    assert!(matches!(
        recover(&image, "wal", GENERATION - 1, 0),
        Err(StorageError::Corrupted { offset: 12, .. })
    ));
}

#[test]
fn a_damaged_header_in_front_of_intact_frames_is_corruption() {
    let mut image = build(&[vec![1, 2, 3]], true);
    image[3] ^= 1;
    assert!(matches!(
        recover(&image, "wal", GENERATION, FIRST_LSN),
        Err(StorageError::Corrupted { offset: 0, .. })
    ));
    // A damaged header with nothing behind it lost nothing: an empty log.
    let rec = recover(&image[..HEADER_LEN as usize], "wal", GENERATION, FIRST_LSN).unwrap();
    assert!(rec.records.is_empty());
}

/// A crash never damages a header (synced at a reset, rewritten whole in one sector), so a
/// damaged header is damage even when no intact frame survives behind it to say so: the
/// frames may have been durable (here they were: the header says so, before the damage).
#[test]
fn a_damaged_header_with_damaged_frames_behind_it_is_corruption() {
    let mut image = build(&[vec![1, 2, 3]], true);
    let len = image.len().min(512);
    image[..len].fill(0);
    assert!(matches!(
        recover(&image, "wal", GENERATION, FIRST_LSN),
        Err(StorageError::Corrupted { offset: 0, .. })
    ));
}

#[test]
fn recovery_truncates_the_torn_tail_durably_before_new_appends() {
    let dir = CrashDirectory::new(0);
    dir.create_dir("c").unwrap();
    let mut wal = Wal::create(
        dir.open_region("c/wal", Access::Sequential).unwrap(),
        "c/wal",
        GENERATION,
        0,
    )
    .unwrap();
    wal.append(1, &[7; 100]).unwrap();
    wal.sync().unwrap();
    wal.append(1, &[8; 2000]).unwrap(); // unsynced: may tear
    dir.write_atomic("c/marker", b"x").unwrap(); // make the directory entries durable
    for seed in 0..32 {
        let crashed = dir.crash(CrashMode::PowerLoss { seed });
        let (mut wal2, rec) = Wal::open(
            crashed.open_region("c/wal", Access::Sequential).unwrap(),
            "c/wal",
            GENERATION,
            0,
            true,
        )
        .unwrap();
        assert!(
            !rec.records.is_empty() && rec.payload(&rec.records[0]) == [7; 100],
            "seed {seed}"
        );
        let n = rec.records.len() as u64;
        wal2.append(2, b"after").unwrap();
        wal2.sync().unwrap();
        // A second crash right away must find the old prefix plus the new record, nothing else.
        let again = crashed.crash(CrashMode::PowerLoss { seed: seed + 1000 });
        let (_, rec2) = Wal::open(
            again.open_region("c/wal", Access::Sequential).unwrap(),
            "c/wal",
            GENERATION,
            0,
            true,
        )
        .unwrap();
        assert_eq!(rec2.records.len() as u64, n + 1, "seed {seed}");
        assert_eq!(rec2.payload(rec2.records.last().unwrap()), b"after");
    }
}

#[test]
fn a_future_format_version_is_refused_with_a_typed_error() {
    let mut image = build(&[vec![1]], true);
    image[8..12].copy_from_slice(&9u32.to_le_bytes());
    let crc = crc32fast::hash(&image[..28]);
    image[28..32].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        recover(&image, "wal", GENERATION, FIRST_LSN),
        Err(StorageError::UnsupportedVersion { found: 9, .. })
    ));
}
