//! The graph file (`graph`), written atomically at each checkpoint before the checkpoint
//! itself. It is derived data: when it is missing, of another generation, or damaged, the
//! graph is rebuilt from the vectors.
//!
//! ```text
//!  0   8  magic "VELESHNS"
//!  8   4  version (u32) = 1
//! 12   4  generation: the checkpoint generation it belongs to
//! 16   4  M             20  4  ef_construction
//! 24   4  nodes: slots covered (n)
//! 28   4  entry (u32::MAX = empty)        32  1  max level      33 3 zero
//! 36   4  owners: a fingerprint of whose graph it is (see [`Stamp`])
//! 40   8  rng state
//! 48   n  level per slot (255 = not in the graph)
//!  .   .  level-0 blocks: n x (2M + 1) u32 (count, links)
//!  .   .  upper blocks: for each node with level L > 0, L x (M + 1) u32
//! end-4 4  crc32 of everything before
//! ```

use super::graph::{Graph, NO_LEVEL, Params};
use crate::format::{self, Header, HeaderProblem, append_crc};

const MAGIC: &[u8; 8] = b"VELESHNS";
const VERSION: u32 = 1;
const HEAD: usize = 48;

/// What a graph file belongs to: the checkpoint generation, and a fingerprint of the
/// collection and of which point owns which slot at that checkpoint. A graph file copied in
/// from another collection or another generation does not match, and is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub generation: u32,
    pub owners: u32,
}

impl Stamp {
    /// The stamp of the collection at `path`, at `generation`, whose live slots are
    /// `(slot, id)`, in slot order.
    pub fn new(path: &str, generation: u32, live: impl Iterator<Item = (u32, u64)>) -> Stamp {
        let mut h = crc32fast::Hasher::new();
        h.update(path.as_bytes());
        h.update(&generation.to_le_bytes());
        for (slot, id) in live {
            h.update(&slot.to_le_bytes());
            h.update(&id.to_le_bytes());
        }
        Stamp {
            generation,
            owners: h.finalize(),
        }
    }
}

pub fn encode(g: &Graph, stamp: Stamp) -> Vec<u8> {
    let generation = stamp.generation;
    let n = g.level.len();
    let mut out = Vec::with_capacity(HEAD + n + g.links0.len() * 4 + 4);
    HEADER.write(&mut out);
    for x in [
        generation,
        g.params.m as u32,
        g.params.ef_construction as u32,
        n as u32,
    ] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&g.entry.unwrap_or(u32::MAX).to_le_bytes());
    out.push(g.max_level);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&stamp.owners.to_le_bytes());
    out.extend_from_slice(&g.rng.to_le_bytes());
    out.extend_from_slice(&g.level);
    for w in &g.links0 {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (i, &l) in g.level.iter().enumerate() {
        if l != NO_LEVEL {
            for w in &g.upper[i] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    append_crc(&mut out);
    out
}

/// The u32 at `at` of bytes known to be longer than the fixed head.
fn u32_at(b: &[u8], at: usize) -> u32 {
    format::u32_at(b, at).unwrap_or(u32::MAX)
}

const HEADER: Header = Header {
    magic: *MAGIC,
    version: VERSION,
};

/// Decodes and checks a graph file for `generation` over at most `max_nodes` slots.
/// `Err` says why it cannot be used (the caller rebuilds).
pub fn decode(b: &[u8], stamp: Stamp, params: Params, max_nodes: usize) -> Result<Graph, String> {
    if b.len() < HEAD + 4 {
        return Err("not a graph file".into());
    }
    let crc_at = b.len() - 4;
    match HEADER.verify(b, crc_at) {
        Ok(()) => {}
        Err(HeaderProblem::Short | HeaderProblem::Magic) => return Err("not a graph file".into()),
        Err(HeaderProblem::Checksum) => return Err("checksum mismatch".into()),
        Err(HeaderProblem::Version(v)) => return Err(format!("version {v}")),
    }
    let generation = stamp.generation;
    if u32_at(b, 12) != generation {
        return Err(format!(
            "generation {} (checkpoint is {generation})",
            u32_at(b, 12)
        ));
    }
    if u32_at(b, 36) != stamp.owners {
        return Err("the graph of another collection or of other points".into());
    }
    if (u32_at(b, 16) as usize, u32_at(b, 20) as usize) != (params.m, params.ef_construction) {
        return Err("built with other parameters".into());
    }
    let n = u32_at(b, 24) as usize;
    if n > max_nodes {
        return Err(format!("{n} nodes for {max_nodes} slots"));
    }
    let m0 = 2 * params.m;
    let mut g = Graph::new(params, format::u64_at(b, 40).unwrap_or_default());
    let entry = u32_at(b, 28);
    g.max_level = b[32];
    let mut at = HEAD;
    let take = |at: &mut usize, len: usize| -> Result<&[u8], String> {
        let s = b
            .get(*at..*at + len)
            .filter(|_| *at + len <= crc_at)
            .ok_or("truncated")?;
        *at += len;
        Ok(s)
    };
    g.level = take(&mut at, n)?.to_vec();
    g.count = g.level.iter().filter(|&&l| l != NO_LEVEL).count();
    // One copy of the bytes, then each word from little-endian (nothing to do on the
    // little-endian targets): a copy a word at a time costs more than the read.
    let words = |s: &[u8]| {
        let whole = &s[..s.len() / 4 * 4];
        let mut w = vec![0u32; whole.len() / 4];
        bytemuck::cast_slice_mut::<u32, u8>(&mut w).copy_from_slice(whole);
        w.iter_mut().for_each(|x| *x = u32::from_le(*x));
        w
    };
    g.links0 = words(take(&mut at, n * (m0 + 1) * 4)?);
    g.upper = vec![Vec::new(); n];
    for i in 0..n {
        let l = g.level[i];
        if l != NO_LEVEL && l > 0 {
            if l > 16 {
                return Err(format!("node {i} has level {l}"));
            }
            g.upper[i] = words(take(&mut at, l as usize * (params.m + 1) * 4)?);
        }
    }
    if at != crc_at {
        return Err("trailing bytes".into());
    }
    g.entry = (entry != u32::MAX).then_some(entry);
    g.validate()?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use crate::index::hnsw::{Params, Space};

    /// A 300-node graph over random 4-d points.
    fn small_graph() -> Graph {
        struct P(Vec<[f32; 4]>);
        impl Space for P {
            type Query = [f32; 4];
            fn distance(&self, q: &[f32; 4], n: u32) -> f32 {
                crate::distance::l2_squared(q, &self.0[n as usize])
            }
            fn between(&self, a: u32, b: u32) -> f32 {
                crate::distance::l2_squared(&self.0[a as usize], &self.0[b as usize])
            }
            fn query_of(&self, n: u32) -> [f32; 4] {
                self.0[n as usize]
            }
        }
        let mut rng = crate::testing::Rng::new(3);
        let p = P((0..300)
            .map(|_| std::array::from_fn(|_| rng.unit_f32()))
            .collect());
        let mut g = Graph::new(Params::default(), 3);
        let mut s = crate::index::Scratch::default();
        for n in 0..300 {
            g.insert(&p, n, &mut s);
        }
        g
    }

    use super::*;

    fn stamp(generation: u32) -> Stamp {
        Stamp::new("collections/c", generation, [(0, 9)].into_iter())
    }

    #[test]
    fn graph_files_round_trip_and_damage_is_refused() {
        let g = small_graph();
        let bytes = encode(&g, stamp(7));
        assert_eq!(decode(&bytes, stamp(7), g.params, 10_000).unwrap(), g);
        assert!(
            decode(&bytes, stamp(8), g.params, 10_000).is_err(),
            "another generation"
        );
        assert!(decode(&bytes, stamp(7), Params { m: 8, ..g.params }, 10_000).is_err());
        let foreign = Stamp::new("collections/d", 7, [(0, 9)].into_iter());
        assert!(
            decode(&bytes, foreign, g.params, 10_000).is_err(),
            "another collection"
        );
        let moved = Stamp::new("collections/c", 7, [(1, 9)].into_iter());
        assert!(
            decode(&bytes, moved, g.params, 10_000).is_err(),
            "other owners"
        );
        assert!(
            decode(&bytes, stamp(7), g.params, 10).is_err(),
            "more nodes than slots"
        );
        for cut in [0, 10, 47, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], stamp(7), g.params, 10_000).is_err());
        }
        for at in (0..bytes.len()).step_by(97) {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert!(
                decode(&bad, stamp(7), g.params, 10_000).is_err(),
                "byte {at}"
            );
        }
    }
}
