//! The saved SQ8 copy (`sq8-<g>`): written at each checkpoint beside the graph, so that an
//! open maps it (natively) or reads it into place (WebAssembly) instead of reading every
//! vector and quantizing it again. Derived: when it is missing, of another generation or
//! collection, or damaged, the open rebuilds the copy from the vectors (and `check` says so).
//!
//! ```text
//! header (one 4096-byte page)
//!   0  8  magic "VELESSQ8"
//!   8  4  format version (u32 LE)
//!  12  4  stamp: crc32 of the file's path in the database (`collections/<name>/sq8-<g>`)
//!  16  4  generation     20  4  owners: whose slots the rows are (the graph file's stamp)
//!  24  4  dimension      28  4  flags: 1 = euclidean (rows hold squared norms)
//!  32  4  stride: bytes of a row      36  4  log2 of the rows per segment
//!  40  8  rows            48  4  segments (S)
//!  52  4  crc32 of the checksum table
//!  56  4  crc32 of bytes 0..56
//! segment i at 4096 + i * span: its rows (span: a segment's bytes rounded up to a page, so
//!          that each can be mapped on its own; the rest zero, and the unused rows of the
//!          last segment a hole that reads as zeros)
//! table at 4096 + S * span: S u32, the crc32 of each segment's bytes
//! ```
//! Every segment is checked against its checksum when the open loads it (read by position,
//! so a memory map of it is not touched until a search uses it).

use super::sq8::Sq8;
use crate::error::StorageError;
use crate::format::{Header, HeaderProblem, append_crc, file_stamp, u32_at, u64_at};
use crate::index::hnsw::file::Stamp;
use crate::region::{Access, Directory, Pages};

const HEADER: Header = Header {
    magic: *b"VELESSQ8",
    version: 1,
};
const PAGE: u64 = 4096;
const HEAD: usize = 56;

/// What the copy must be to serve the collection being opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    pub(crate) dim: usize,
    pub(crate) euclidean: bool,
    pub(crate) rows: usize,
    pub(crate) stamp: Stamp,
}

/// Why a saved copy cannot be used: where (a byte offset, when one means something) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unusable {
    pub(crate) offset: Option<u64>,
    pub(crate) reason: String,
}

fn unusable(offset: impl Into<Option<u64>>, reason: impl Into<String>) -> Unusable {
    Unusable {
        offset: offset.into(),
        reason: reason.into(),
    }
}

/// Bytes from one segment's start to the next's.
fn span(segment_bytes: usize) -> u64 {
    (segment_bytes as u64).div_ceil(PAGE) * PAGE
}

/// Writes `sq8` to `path` (through `path.tmp`, synced, then renamed over whatever was
/// there), stamped as belonging to `stamp`; a segment at a time, so the copy is never
/// encoded whole in memory.
pub(crate) fn write(
    dir: &dyn Directory,
    path: &str,
    sq8: &Sq8,
    stamp: Stamp,
) -> Result<(), StorageError> {
    let tmp = format!("{path}.tmp");
    let mut out = dir.open_region(&tmp, Access::Sequential)?;
    out.set_len(0)?;
    let (segments, rows) = sq8.segments();
    let span = span(sq8.segment_bytes());
    let mut sums = Vec::with_capacity(4 * segments.len());
    let (stride, shift) = sq8.layout();
    for (i, seg) in segments.iter().enumerate() {
        // Rows past the copy's are zero (`Sq8`'s invariant): left as a hole, which reads
        // back as the zeros the checksum covers.
        let used = rows.saturating_sub(i << shift).min(1 << shift) * stride;
        out.write(PAGE + i as u64 * span, &seg.as_slice()[..used])?;
        sums.extend_from_slice(&crc32fast::hash(seg.as_slice()).to_le_bytes());
    }
    out.write(PAGE + segments.len() as u64 * span, &sums)?;
    let mut h = Vec::with_capacity(HEAD + 4);
    HEADER.write(&mut h);
    for x in [
        file_stamp(path),
        stamp.generation,
        stamp.owners,
        sq8.dim as u32,
        u32::from(sq8.euclidean),
        stride as u32,
        shift,
    ] {
        h.extend_from_slice(&x.to_le_bytes());
    }
    h.extend_from_slice(&(rows as u64).to_le_bytes());
    h.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    h.extend_from_slice(&crc32fast::hash(&sums).to_le_bytes());
    append_crc(&mut h);
    out.write(0, &h)?;
    out.sync()?;
    drop(out);
    dir.remove_file(path)?;
    dir.rename(&tmp, path)
}

/// A saved copy's layout, read from its header and checked against what is expected.
struct Layout {
    /// Each segment's place and bytes.
    ranges: Vec<(u64, usize)>,
    /// Each segment's checksum.
    sums: Vec<u32>,
    len: u64,
}

impl Layout {
    fn bad(&self, i: usize) -> Unusable {
        let at = self.ranges[i].0;
        unusable(at, format!("segment {i} does not match its checksum"))
    }
}

/// Reads and checks the header and the checksum table of the copy at `path`.
fn layout(
    region: &dyn crate::region::Region,
    path: &str,
    expect: Expect,
) -> Result<Result<Layout, Unusable>, StorageError> {
    let len = region.len();
    if len < PAGE {
        return Ok(Err(unusable(0, "shorter than its header")));
    }
    let mut h = [0u8; HEAD + 4];
    region.read(0, &mut h)?;
    match HEADER.verify(&h, HEAD) {
        Ok(()) => {}
        Err(HeaderProblem::Version(v)) => {
            return Ok(Err(unusable(8, format!("format version {v}"))));
        }
        Err(HeaderProblem::Magic | HeaderProblem::Short) => {
            return Ok(Err(unusable(0, "not an SQ8 file (bad magic)")));
        }
        Err(HeaderProblem::Checksum) => {
            return Ok(Err(unusable(HEAD as u64, "header checksum mismatch")));
        }
    }
    let word = |at| u32_at(&h, at).unwrap_or_default();
    let shape = Sq8::new(expect.dim, expect.euclidean, 0)?;
    let (stride, shift) = shape.layout();
    let seg_bytes = shape.segment_bytes();
    let count = expect.rows.div_ceil(1 << shift);
    let found = (
        word(12),
        word(16),
        word(20),
        (word(24), word(28), word(32), word(36)),
        u64_at(&h, 40).unwrap_or_default(),
        word(48),
    );
    let wanted = (
        file_stamp(path),
        expect.stamp.generation,
        expect.stamp.owners,
        (
            expect.dim as u32,
            u32::from(expect.euclidean),
            stride as u32,
            shift,
        ),
        expect.rows as u64,
        count as u32,
    );
    if found != wanted {
        return Ok(Err(unusable(
            12,
            "it belongs to another collection, generation or layout (its stamp and shape)",
        )));
    }
    let span = span(seg_bytes);
    let table_at = PAGE + count as u64 * span;
    if len != table_at + 4 * count as u64 {
        return Ok(Err(unusable(len, "its length is not what its header says")));
    }
    let mut table = vec![0u8; 4 * count];
    region.read(table_at, &mut table)?;
    if crc32fast::hash(&table) != word(52) {
        return Ok(Err(unusable(table_at, "checksum table mismatch")));
    }
    Ok(Ok(Layout {
        ranges: (0..count)
            .map(|i| (PAGE + i as u64 * span, seg_bytes))
            .collect(),
        sums: table
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        len,
    }))
}

/// Checks every segment of `layout` against its checksum, read by position a segment at a
/// time (a memory map of them is not touched).
fn verify(
    region: &dyn crate::region::Region,
    layout: &Layout,
) -> Result<Result<(), Unusable>, StorageError> {
    let mut buf = vec![0u8; layout.ranges.first().map_or(0, |r| r.1)];
    for (i, &(offset, _)) in layout.ranges.iter().enumerate() {
        region.read(offset, &mut buf)?;
        if crc32fast::hash(&buf) != layout.sums[i] {
            return Ok(Err(layout.bad(i)));
        }
    }
    Ok(Ok(()))
}

/// Checks the copy saved at `path` whole, as `check` does: its bytes, or why it cannot be
/// used.
pub(crate) fn check(
    dir: &dyn Directory,
    path: &str,
    expect: Expect,
) -> Result<Result<u64, Unusable>, StorageError> {
    let region = dir.open_region(path, Access::Sequential)?;
    Ok(match layout(region.as_ref(), path, expect)? {
        Ok(l) => verify(region.as_ref(), &l)?.map(|()| l.len),
        Err(why) => Err(why),
    })
}

/// Loads the copy saved at `path` if it is what `expect` says and intact (`Ok(Err(why))`
/// otherwise); I/O errors are errors.
pub(crate) fn load(
    dir: &dyn Directory,
    path: &str,
    expect: Expect,
) -> Result<Result<Sq8, Unusable>, StorageError> {
    let region = dir.open_region(path, Access::Sequential)?;
    let layout = match layout(region.as_ref(), path, expect)? {
        Ok(l) => l,
        Err(why) => return Ok(Err(why)),
    };
    let segments = match dir.map_private(path, &layout.ranges)? {
        // Mapped: checked by position, so that no page of the map is touched yet.
        Some(maps) => match verify(region.as_ref(), &layout)? {
            Ok(()) => maps,
            Err(why) => return Ok(Err(why)),
        },
        // Read into place, and checked there.
        None => {
            let mut segs = Vec::with_capacity(layout.ranges.len());
            for (i, &(offset, n)) in layout.ranges.iter().enumerate() {
                let mut seg = Pages::zeroed(n)?;
                region.read(offset, seg.as_mut_slice())?;
                if crc32fast::hash(seg.as_slice()) != layout.sums[i] {
                    return Ok(Err(layout.bad(i)));
                }
                segs.push(seg);
            }
            segs
        }
    };
    Ok(
        Sq8::from_segments(expect.dim, expect.euclidean, expect.rows, segments)
            .ok_or_else(|| unusable(None, "its segments do not fit the copy's layout")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::MemoryDirectory;

    fn copy(rows: usize, euclidean: bool) -> Sq8 {
        let mut rng = crate::testing::Rng::new(3);
        let mut sq8 = Sq8::new(24, euclidean, 0).unwrap();
        for s in 0..rows {
            let v = rng.clustered(24);
            sq8.set(s as u32, bytemuck::cast_slice(&v), s + 1).unwrap();
        }
        sq8
    }

    fn same(a: &Sq8, b: &Sq8) -> bool {
        let (sa, ra) = a.segments();
        let (sb, rb) = b.segments();
        ra == rb
            && sa.len() == sb.len()
            && sa.iter().zip(sb).all(|(x, y)| x.as_slice() == y.as_slice())
    }

    #[test]
    fn a_saved_copy_loads_as_it_was_and_refuses_another_stamp_or_damage() {
        let dir = MemoryDirectory::new();
        dir.create_dir("c").unwrap();
        let stamp = Stamp {
            generation: 4,
            owners: 77,
        };
        // Rows over several segments (24 + 4 bytes a row: 32,768 rows a segment).
        for (rows, euclidean) in [(0, false), (5, true), (70_000, false)] {
            let sq8 = copy(rows, euclidean);
            write(&dir, "c/sq8-4", &sq8, stamp).unwrap();
            let expect = Expect {
                dim: 24,
                euclidean,
                rows,
                stamp,
            };
            let back = load(&dir, "c/sq8-4", expect).unwrap().unwrap();
            assert!(same(&sq8, &back), "{rows} rows");
            let other = Expect {
                stamp: Stamp {
                    generation: 5,
                    ..stamp
                },
                ..expect
            };
            assert!(load(&dir, "c/sq8-4", other).unwrap().is_err());
            // Written again over itself (the rename replaces nothing: the old one goes first).
            write(&dir, "c/sq8-4", &sq8, stamp).unwrap();
        }
        // One flipped bit in a segment: found, with the segment's offset.
        let mut r = dir.open_region("c/sq8-4", Access::Sequential).unwrap();
        let mut b = [0u8; 1];
        r.read(PAGE + 1000, &mut b).unwrap();
        r.write(PAGE + 1000, &[b[0] ^ 4]).unwrap();
        drop(r);
        let expect = Expect {
            dim: 24,
            euclidean: false,
            rows: 70_000,
            stamp,
        };
        let why = load(&dir, "c/sq8-4", expect).unwrap().unwrap_err();
        assert_eq!(why.offset, Some(PAGE));
        assert_eq!(check(&dir, "c/sq8-4", expect).unwrap().unwrap_err(), why);
        // A file cut short.
        let mut r = dir.open_region("c/sq8-4", Access::Sequential).unwrap();
        r.set_len(PAGE + 10).unwrap();
        drop(r);
        assert!(load(&dir, "c/sq8-4", expect).unwrap().is_err());
    }
}
