//! The text file `text-<g>`: a collection's text indexes as of checkpoint `g`, so an open
//! loads them instead of analysing every text again. Derived data, like the graph: written
//! whole and atomically before the checkpoint that names generation `g`; one that is missing,
//! damaged or of other declarations is rebuilt from the payloads (and `check` reports the
//! damage with its file and offset).
//!
//! Framed as `format/whole.rs` says (magic "VELESTXT", version 1); the body: count u32, then
//! per index: key (u32 length, UTF-8), config (6 bytes, as in the checkpoint), docs u64,
//! total u64, slots u32 then that many lengths u32, terms u32 then per term: text (u32
//! length, UTF-8), shortest u32, postings u32, that many slots u32 (ascending), that many
//! frequencies f32.

use super::analyze::Analyzer;
use super::config::{CONFIG_BYTES, TextConfig};
use super::index::TextIndex;
use crate::error::StorageError;
use crate::format::{Header, Reader, whole};
use crate::index::inverted::Postings;
use std::collections::HashMap;

const HEADER: Header = Header {
    magic: *b"VELESTXT",
    version: 1,
};
const HEAD: usize = whole::BODY_AT;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The file's bytes for `path`.
pub(crate) fn encode(path: &str, indexes: &[&TextIndex]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(indexes.len() as u32).to_le_bytes());
    for ix in indexes {
        put_str(&mut body, &ix.key);
        body.extend_from_slice(&ix.config().encode());
        body.extend_from_slice(&ix.docs.to_le_bytes());
        body.extend_from_slice(&ix.total.to_le_bytes());
        body.extend_from_slice(&(ix.lengths.len() as u32).to_le_bytes());
        for l in &ix.lengths {
            body.extend_from_slice(&l.to_le_bytes());
        }
        // Terms in id order, so a load gives every term its id back.
        let mut by_id: Vec<(&str, u32)> = ix.terms.iter().map(|(t, &id)| (&**t, id)).collect();
        by_id.sort_unstable_by_key(|t| t.1);
        body.extend_from_slice(&(by_id.len() as u32).to_le_bytes());
        for (term, id) in by_id {
            let p = &ix.postings[id as usize];
            put_str(&mut body, term);
            body.extend_from_slice(&ix.shortest[id as usize].to_le_bytes());
            body.extend_from_slice(&(p.len() as u32).to_le_bytes());
            for s in p.slots() {
                body.extend_from_slice(&s.to_le_bytes());
            }
            for w in p.weights() {
                body.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    whole::encode(HEADER, path, &body)
}

/// The indexes in the file read whole from `path`. Any damage is `Corrupted` with the file
/// and the offset where it shows.
pub(crate) fn decode(bytes: &[u8], path: &str) -> Result<Vec<TextIndex>, StorageError> {
    let bad = |at: usize, why: String| StorageError::corrupted(path, at as u64, why);
    let body = whole::decode(bytes, HEADER, path, "text index file")?;
    let mut r = Reader::new(body);
    let at = |r: &Reader<'_>| HEAD + r.position();
    let count = r.u32().map_err(|e| bad(at(&r), e))?;
    let mut out = Vec::new();
    for _ in 0..count {
        let start = at(&r);
        let ix = index(&mut r).map_err(|e| bad(start, e))?;
        out.push(ix);
    }
    r.finish().map_err(|e| bad(at(&r), e))?;
    Ok(out)
}

fn string(r: &mut Reader<'_>) -> Result<String, String> {
    let n = r.u32()? as usize;
    std::str::from_utf8(r.take(n)?)
        .map(str::to_string)
        .map_err(|_| "a string is not UTF-8".to_string())
}

fn u32s(r: &mut Reader<'_>, n: usize) -> Result<Vec<u32>, String> {
    // Bounded by the bytes that remain: never allocate for more than the file holds.
    let mut out = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        out.push(r.u32()?);
    }
    Ok(out)
}

fn index(r: &mut Reader<'_>) -> Result<TextIndex, String> {
    let key = string(r)?;
    let config = TextConfig::decode(r.take(CONFIG_BYTES)?)
        .ok_or_else(|| format!("text index on {key:?}: an invalid config"))?;
    let docs = r.u64()?;
    let total = r.u64()?;
    let n = r.u32()? as usize;
    let lengths = u32s(r, n)?;
    let terms_n = r.u32()? as usize;
    let mut terms = HashMap::with_capacity(terms_n.min(1 << 20));
    let mut postings = Vec::with_capacity(terms_n.min(1 << 20));
    let mut shortest = Vec::with_capacity(terms_n.min(1 << 20));
    for id in 0..terms_n {
        let term = string(r)?;
        shortest.push(r.u32()?);
        let len = r.u32()? as usize;
        let slots = u32s(r, len)?;
        let weights = u32s(r, len)?.into_iter().map(f32::from_bits).collect();
        if slots.last().is_some_and(|&s| s as usize >= lengths.len()) {
            return Err(format!("term {term:?} names a slot past the lengths"));
        }
        let p = Postings::from_parts(slots, weights)
            .ok_or_else(|| format!("term {term:?}: postings out of order"))?;
        postings.push(p);
        if terms.insert(term.into_boxed_str(), id as u32).is_some() {
            return Err("a term appears twice".into());
        }
    }
    let present = lengths.iter().filter(|&&l| l > 0).count() as u64;
    let sum: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
    if (docs, total) != (present, sum) {
        return Err(format!(
            "text index on {key:?}: {docs} texts of {total} terms, but the lengths say {present} of {sum}"
        ));
    }
    Ok(TextIndex {
        key,
        analyzer: Analyzer::new(config),
        terms,
        postings,
        shortest,
        lengths,
        docs,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indexes_round_trip_and_every_damage_is_corruption() {
        let mut a = TextIndex::new("body", TextConfig::default());
        let mut b = TextIndex::new("title", TextConfig::plain(super::super::Tokenizer::Cjk));
        for (slot, text) in ["red shoes", "blue running shoes", "東京タワー"]
            .iter()
            .enumerate()
        {
            a.update(slot as u32, &json!({ "body": text }), true);
            b.update(slot as u32, &json!({ "title": text }), true);
        }
        a.update(1, &json!({ "body": "blue running shoes" }), false);
        let bytes = encode("c/text-2", &[&a, &b]);
        let got = decode(&bytes, "c/text-2").unwrap();
        assert_eq!(got.len(), 2);
        for (x, y) in got.iter().zip([&a, &b]) {
            assert_eq!(
                (x.key(), x.config(), x.describe()),
                (y.key(), y.config(), y.describe())
            );
            assert_eq!(encode("p", &[x]), encode("p", &[y]));
        }
        assert!(
            decode(&bytes, "c/text-3").is_err(),
            "another generation's file"
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "c/text-2").is_err(), "cut {cut}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x08;
            assert!(decode(&bad, "c/text-2").is_err(), "byte {at}");
        }
    }
}
