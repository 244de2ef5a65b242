//! The checkpoint (config, id map, payloads) as an open reads it: arbitrary bytes, and
//! arbitrary postcard bodies inside a valid header and checksum (so that the body decoder and
//! the consistency checks behind it are reached). Opening gives a collection or a typed
//! error, never a panic; what opens passes `check` and answers a search.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use veles::region::{Directory, MemoryDirectory};
use veles::{CollectionConfig, Database, Metric, Options, Point};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let dir = MemoryDirectory::new();
    {
        let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
        let c = db.create_collection("c", CollectionConfig::new(2, Metric::Euclidean)).unwrap();
        c.upsert(&[Point::new(1, vec![0.0, 1.0]), Point::new(5, vec![2.0, 3.0])]).unwrap();
        c.checkpoint().unwrap();
    }
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut b = b"VELESCKP".to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(rest.len() as u64).to_le_bytes());
        b.extend_from_slice(rest);
        let crc = crc(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    };
    dir.write_atomic("collections/c/checkpoint", &bytes).unwrap();
    let db = Database::open_in(Arc::new(dir.clone()), Options::default()).unwrap();
    if let Ok(c) = db.collection("c") {
        let report = c.check().unwrap();
        let dim = c.config().dimension as usize;
        if report.is_ok() && dim <= 4096 {
            let _ = c.search(&vec![0.5; dim], 2, None);
            let _ = c.get(&[1, 5, 7]);
        }
    }
});

/// CRC-32 (IEEE), bitwise: the fuzz crate does not need crc32fast for one call.
fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}
