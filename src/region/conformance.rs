//! The one conformance suite every region and directory backend passes (tantivy's
//! `directory/tests.rs`). Each backend's test module calls these with its own constructor.

// Tests over small images: their offsets and byte values fit.
#![allow(clippy::cast_possible_truncation)]

use super::{Access, Directory, Entry, Region};

/// Runs every region check; `new` returns a fresh, empty region each call.
pub fn region_suite(new: &mut dyn FnMut() -> Box<dyn Region>) {
    new_region_is_empty(new().as_mut());
    write_then_read_round_trips(new().as_mut());
    write_past_the_end_extends_and_zero_fills_the_gap(new().as_mut());
    read_past_the_end_is_an_error_not_garbage(new().as_mut());
    set_len_grows_with_zeros_and_shrinks(new().as_mut());
    punch_hole_zeroes_and_keeps_the_length(new().as_mut());
    slice_view_matches_reads(new().as_mut());
    sync_succeeds_and_keeps_content(new().as_mut());
}

fn read_all(r: &dyn Region) -> Vec<u8> {
    let mut buf = vec![0; r.len() as usize];
    r.read(0, &mut buf).unwrap();
    buf
}

fn new_region_is_empty(r: &mut dyn Region) {
    assert_eq!(r.len(), 0);
    assert!(r.is_empty());
    let mut nothing = [0u8; 0];
    r.read(0, &mut nothing).unwrap();
}

fn write_then_read_round_trips(r: &mut dyn Region) {
    r.write(0, b"hello world").unwrap();
    r.write(6, b"WORLD").unwrap();
    let mut buf = [0u8; 11];
    r.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello WORLD");
    let mut mid = [0u8; 3];
    r.read(4, &mut mid).unwrap();
    assert_eq!(&mid, b"o W");
}

fn write_past_the_end_extends_and_zero_fills_the_gap(r: &mut dyn Region) {
    r.write(0, b"ab").unwrap();
    r.write(10_000, b"cd").unwrap();
    assert_eq!(r.len(), 10_002);
    let all = read_all(r);
    assert_eq!(&all[..2], b"ab");
    assert!(all[2..10_000].iter().all(|&b| b == 0));
    assert_eq!(&all[10_000..], b"cd");
}

fn read_past_the_end_is_an_error_not_garbage(r: &mut dyn Region) {
    r.write(0, &[9; 100]).unwrap();
    let mut buf = [0u8; 10];
    assert!(r.read(95, &mut buf).is_err(), "short read must fail");
    assert!(r.read(1_000, &mut buf).is_err());
    assert!(
        r.read(u64::MAX - 3, &mut buf).is_err(),
        "offset overflow must fail"
    );
}

fn set_len_grows_with_zeros_and_shrinks(r: &mut dyn Region) {
    r.write(0, &[5; 64]).unwrap();
    r.set_len(32).unwrap();
    assert_eq!(r.len(), 32);
    r.set_len(8192).unwrap();
    assert_eq!(r.len(), 8192);
    let all = read_all(r);
    assert!(all[..32].iter().all(|&b| b == 5));
    assert!(
        all[32..].iter().all(|&b| b == 0),
        "bytes past a shrink must not come back"
    );
    r.set_len(0).unwrap();
    assert!(r.is_empty());
}

fn punch_hole_zeroes_and_keeps_the_length(r: &mut dyn Region) {
    let len = 3 * 4096 + 100;
    r.write(0, &vec![0xAB; len]).unwrap();
    r.punch_hole(100, 2 * 4096).unwrap();
    assert_eq!(r.len(), len as u64);
    let all = read_all(r);
    assert!(all[..100].iter().all(|&b| b == 0xAB));
    assert!(all[100..100 + 2 * 4096].iter().all(|&b| b == 0));
    assert!(all[100 + 2 * 4096..].iter().all(|&b| b == 0xAB));
    // Past the end: clipped, no growth.
    r.punch_hole(len as u64 - 10, 1 << 20).unwrap();
    assert_eq!(r.len(), len as u64);
    assert!(read_all(r)[len - 10..].iter().all(|&b| b == 0));
}

fn slice_view_matches_reads(r: &mut dyn Region) {
    r.write(0, &[1, 2, 3]).unwrap();
    r.set_len(5000).unwrap();
    r.write(4000, &[4; 10]).unwrap();
    if let Some(slice) = r.as_slice() {
        assert_eq!(slice, read_all(r).as_slice());
    }
}

fn sync_succeeds_and_keeps_content(r: &mut dyn Region) {
    r.write(0, b"durable").unwrap();
    r.sync().unwrap();
    assert_eq!(read_all(r), b"durable");
}

/// Runs every directory check; `new` returns a fresh, empty directory each call.
pub fn directory_suite(new: &dyn Fn() -> Box<dyn Directory>) {
    regions_persist_across_handles(new().as_ref());
    atomic_write_replaces_content(new().as_ref());
    missing_files_read_as_none(new().as_ref());
    directories_list_sorted_and_typed(new().as_ref());
    rename_moves_a_directory_with_its_files(new().as_ref());
    remove_dir_all_removes_everything_below(new().as_ref());
    files_need_an_existing_parent(new().as_ref());
    each_backend_region_conforms(new().as_ref());
}

fn regions_persist_across_handles(d: &dyn Directory) {
    for access in [Access::Random, Access::Sequential] {
        let name = format!("{access:?}");
        let mut r = d.open_region(&name, access).unwrap();
        r.write(0, b"kept").unwrap();
        r.sync().unwrap();
        drop(r);
        let r = d.open_region(&name, access).unwrap();
        assert_eq!(read_all(r.as_ref()), b"kept");
    }
}

fn atomic_write_replaces_content(d: &dyn Directory) {
    d.write_atomic("c", b"first").unwrap();
    d.write_atomic("c", b"second, longer").unwrap();
    assert_eq!(d.read_file("c").unwrap().unwrap(), b"second, longer");
    d.write_atomic("c", b"3").unwrap();
    assert_eq!(d.read_file("c").unwrap().unwrap(), b"3");
    // No temporary file is left behind.
    let names: Vec<String> = d.list("").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with('c')).count(),
        1,
        "{names:?}"
    );
}

fn missing_files_read_as_none(d: &dyn Directory) {
    assert!(d.read_file("nope").unwrap().is_none());
    assert!(d.list("nodir").unwrap().is_empty());
    d.remove_file("nope").unwrap();
    d.remove_dir_all("nodir").unwrap();
}

fn directories_list_sorted_and_typed(d: &dyn Directory) {
    d.create_dir("b").unwrap();
    d.create_dir("b").unwrap(); // idempotent
    d.create_dir("a").unwrap();
    d.write_atomic("a/x", b"1").unwrap();
    d.write_atomic("c", b"2").unwrap();
    let top: Vec<Entry> = d
        .list("")
        .unwrap()
        .into_iter()
        .filter(|e| e.name != "LOCK")
        .collect();
    assert_eq!(
        top,
        vec![
            Entry {
                name: "a".into(),
                is_dir: true
            },
            Entry {
                name: "b".into(),
                is_dir: true
            },
            Entry {
                name: "c".into(),
                is_dir: false
            },
        ]
    );
    assert_eq!(
        d.list("a").unwrap(),
        vec![Entry {
            name: "x".into(),
            is_dir: false
        }]
    );
}

fn rename_moves_a_directory_with_its_files(d: &dyn Directory) {
    d.create_dir("from").unwrap();
    d.write_atomic("from/f", b"data").unwrap();
    d.rename("from", "to").unwrap();
    assert!(d.read_file("from/f").unwrap().is_none());
    assert_eq!(d.read_file("to/f").unwrap().unwrap(), b"data");
    d.create_dir("other").unwrap();
    assert!(d.rename("to", "other").is_err(), "rename must not replace");
    assert!(d.rename("missing", "x").is_err());
}

fn remove_dir_all_removes_everything_below(d: &dyn Directory) {
    d.create_dir("gone").unwrap();
    d.write_atomic("gone/f", b"1").unwrap();
    let mut r = d.open_region("gone/r", Access::Random).unwrap();
    r.write(0, b"x").unwrap();
    drop(r);
    d.remove_dir_all("gone").unwrap();
    assert!(d.list("").unwrap().iter().all(|e| e.name != "gone"));
    assert!(d.read_file("gone/f").unwrap().is_none());
}

fn files_need_an_existing_parent(d: &dyn Directory) {
    assert!(d.write_atomic("nodir/f", b"1").is_err());
    assert!(d.open_region("nodir/f", Access::Random).is_err());
    assert!(d.open_region("../escape", Access::Random).is_err());
    assert!(d.write_atomic("/abs", b"1").is_err());
}

fn each_backend_region_conforms(d: &dyn Directory) {
    for access in [Access::Random, Access::Sequential] {
        let mut n = 0;
        region_suite(&mut || {
            n += 1;
            d.open_region(&format!("suite-{access:?}-{n}"), access)
                .unwrap()
        });
    }
}
