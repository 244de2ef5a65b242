//! The files of a collection, below `collections/<name>/`, and how they are copied.
//!
//! `checkpoint` (config, id map, index declarations), `vectors-<g>` and `vectors-<g>.crc`
//! (slots and their checksums), `payloads-<g>` (payload records), `graph-<g>` (the HNSW
//! graph), `sq8-<g>` (the SQ8 copy, derived), `sparse-<g>` (sparse vectors, with sparse fields only), `text-<g>` (the text
//! indexes, derived), `wal` (what happened since the checkpoint). The checkpoint names the vector,
//! payload and graph files it belongs to by generation, so replacing any commits with the one atomic write of the checkpoint; files of other
//! generations are leftovers of a crash and are removed on open.

use crate::error::StorageError;
use crate::region::{Access, Directory, Region};
use crate::vectors::{PAGE, sums_path};

pub(crate) const CHECKPOINT: &str = "checkpoint";

/// The rewrite sequence (`rewrites.rs`).
pub(crate) const REWRITES: &str = "rewrites";

/// True when the collection directory `path` has its checkpoint (the collection exists).
pub(crate) fn has_checkpoint(dir: &dyn Directory, path: &str) -> Result<bool, StorageError> {
    Ok(dir
        .list(path)?
        .iter()
        .any(|e| !e.is_dir && e.name == CHECKPOINT))
}

/// Why the collection directory `path`, which has no checkpoint, is not simply a create that
/// a crash interrupted: `None` when it is (or when there is no directory). An interrupted
/// create leaves at most an empty log, an empty vector file, an empty checksum file and a
/// payload file of no records, and the rewrite sequence; anything more is a collection that
/// lost its checkpoint.
pub(crate) fn orphaned(dir: &dyn Directory, path: &str) -> Result<Option<String>, StorageError> {
    for e in dir.list(path)? {
        let len = || -> Result<u64, StorageError> {
            Ok(dir
                .open_region(&file(path, &e.name), Access::Sequential)?
                .len())
        };
        let (vectors, payloads) = (vectors_name(1), payloads_name(1));
        let leftover = !e.is_dir
            && match e.name.as_str() {
                n if n.ends_with(".tmp") => true,
                REWRITES => true,
                WAL => len()? <= crate::wal::frame::HEADER_LEN,
                n if n == vectors => len()? <= PAGE,
                n if n == sums_path(&vectors) => len()? == 0,
                n if n == payloads => len()? <= crate::payloads::FILE_HEAD,
                // An empty sparse file: header, a count of 0, the body's checksum.
                "sparse-1" => len()? <= 40,
                _ => false,
            };
        if !leftover {
            return Ok(Some(format!(
                "the checkpoint is missing, but the collection's files remain ({} and others): \
                 drop the collection to discard them",
                e.name
            )));
        }
    }
    Ok(None)
}

pub(crate) const WAL: &str = "wal";

pub(crate) fn file(path: &str, name: &str) -> String {
    format!("{path}/{name}")
}

pub(crate) fn vectors_file(path: &str, generation: u32) -> String {
    file(path, &vectors_name(generation))
}

fn vectors_name(generation: u32) -> String {
    format!("vectors-{generation}")
}

pub(crate) fn payloads_file(path: &str, generation: u32) -> String {
    file(path, &payloads_name(generation))
}

fn payloads_name(generation: u32) -> String {
    format!("payloads-{generation}")
}

pub(crate) fn graph_file(path: &str, generation: u32) -> String {
    format!("{path}/graph-{generation}")
}

/// The SQ8 copy of checkpoint `generation` (float metrics only; derived).
pub(crate) fn sq8_file(path: &str, generation: u32) -> String {
    format!("{path}/sq8-{generation}")
}

/// The text indexes of checkpoint `generation` (collections with text indexes only).
pub(crate) fn text_file(path: &str, generation: u32) -> String {
    format!("{path}/text-{generation}")
}

/// The sparse vectors of checkpoint `generation` (collections with sparse fields only).
pub(crate) fn sparse_file(path: &str, generation: u32) -> String {
    format!("{path}/sparse-{generation}")
}

/// The generations of a collection's files: the log's (and the graph's), the vector file's
/// and the payload file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generations {
    pub(crate) log: u32,
    pub(crate) vectors: u32,
    pub(crate) payloads: u32,
}

/// True for a file name a collection of these generations does not use: what a crash left
/// of a checkpoint or compaction that did not commit, or of one whose clean-up it cut short.
pub(crate) fn is_leftover(name: &str, generations: Generations) -> bool {
    let keep = [
        format!("vectors-{}", generations.vectors),
        format!("vectors-{}.crc", generations.vectors),
        format!("payloads-{}", generations.payloads),
        format!("graph-{}", generations.log),
        format!("sq8-{}", generations.log),
        format!("sparse-{}", generations.log),
        format!("text-{}", generations.log),
    ];
    !keep.iter().any(|k| k == name)
        && ([
            "vectors-",
            "graph-",
            "sq8-",
            "payloads-",
            "sparse-",
            "text-",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || name.ends_with(".tmp"))
}

/// Copies the files of the collection at `from` in `src` to `to` in `dest`: everything but
/// temporary files, the checkpoint last (it is the collection's existence marker). Regions are
/// copied in runs, skipping whole zero pages so that holes stay holes. Each file is durable
/// before the checkpoint is written.
pub(crate) fn copy_collection_files(
    src: &dyn Directory,
    from: &str,
    dest: &dyn Directory,
    to: &str,
    held: &[(String, &dyn Region)],
) -> Result<u64, StorageError> {
    const RUN: usize = 1 << 20;
    let mut copied = 0u64;
    dest.create_dir(to)?;
    for e in src.list(from)? {
        // The rewrite sequence is this directory's writer's, not the collection's.
        if e.is_dir || e.name == CHECKPOINT || e.name == REWRITES || e.name.ends_with(".tmp") {
            continue;
        }
        let (s, d) = (file(from, &e.name), file(to, &e.name));
        // A file the open collection holds is read through its region: a directory may lend
        // a file to one open at a time (in memory), and the bytes are the same.
        let opened;
        let input: &dyn Region = match held.iter().find(|(p, _)| *p == s) {
            Some((_, region)) => *region,
            None => {
                opened = src.open_region(&s, Access::Sequential)?;
                opened.as_ref()
            }
        };
        let mut output = dest.open_region(&d, Access::Sequential)?;
        output.set_len(0)?;
        let len = input.len();
        let mut buf = vec![0u8; RUN];
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(RUN as u64) as usize;
            input.read(at, &mut buf[..n])?;
            for (i, page) in buf[..n].chunks(PAGE as usize).enumerate() {
                if page.iter().any(|&b| b != 0) {
                    output.write(at + (i * PAGE as usize) as u64, page)?;
                }
            }
            at += n as u64;
        }
        output.set_len(len)?;
        output.sync()?;
        copied += len;
    }
    let cpath = file(from, CHECKPOINT);
    let bytes = src
        .read_file(&cpath)?
        .ok_or_else(|| StorageError::corrupted(&cpath, 0, "the checkpoint file is missing"))?;
    dest.write_atomic(&file(to, CHECKPOINT), &bytes)?;
    Ok(copied + bytes.len() as u64)
}
