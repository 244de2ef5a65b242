//! The log as recovery reads it: arbitrary bytes, and arbitrary record payloads in frames
//! with valid checksums (so that record decoding and replay are reached). Opening must give a
//! collection or a typed error, never a panic, and whatever opens must pass `check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use veles::region::{Directory, MemoryDirectory};
use veles::wal::frame::{encode_frame, encode_header};
use veles::{CollectionConfig, Database, Metric, Options, Point};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // Recovery alone, on raw bytes, for a generation and lsn taken from the input.
    let _ = veles::wal::recover(rest, "wal", (mode % 3) as u32, 0);

    let dir = MemoryDirectory::new();
    let opts = Options::default();
    {
        let db = Database::open_in(Arc::new(dir.clone()), opts.clone()).unwrap();
        let c = db.create_collection("c", CollectionConfig::new(3, Metric::ALL[mode as usize % 5])).unwrap();
        let v = if Metric::ALL[mode as usize % 5].is_binary() { vec![1.0, 0.0, 1.0] } else { vec![0.5, -1.0, 2.0] };
        c.upsert(&[Point::new(1, v.clone()), Point::new(2, v)]).unwrap();
        c.checkpoint().unwrap();
    }
    let log = if mode & 0x80 == 0 {
        // Raw bytes after a valid header of the right generation (2, after one checkpoint).
        let mut log = encode_header(2, 0).to_vec();
        log.extend_from_slice(rest);
        log
    } else {
        // Records with valid frames: kind from the input, payloads cut from it.
        let mut log = encode_header(2, 0).to_vec();
        let mut lsn = 2u64; // the two upserts' lsns are 0 and 1
        for chunk in rest.split(|&b| b == 0xFF).take(16) {
            let (kind, payload) = chunk.split_first().map_or((1, &[][..]), |(k, p)| (k % 4, p));
            encode_frame(&mut log, 2, lsn, lsn, kind, payload);
            lsn += 1;
        }
        log
    };
    dir.write_atomic("collections/c/wal", &log).unwrap();
    let db = Database::open_in(Arc::new(dir.clone()), opts).unwrap();
    if let Ok(c) = db.collection("c") {
        let report = c.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        let _ = c.search(&[1.0, 0.0, 1.0], 3, None).unwrap();
    }
});
