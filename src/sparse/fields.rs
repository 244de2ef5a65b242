//! A collection's sparse fields: one [`SparseIndex`] per declared field, in config order.

use super::index::SparseIndex;
use super::vector::SparseVector;
use crate::config::SparseField;

/// Invariants: one index per declared field, in the config's order; each holds the vectors of
/// the live points in that field, by slot.
#[derive(Debug, Default)]
pub(crate) struct SparseFields {
    fields: Vec<SparseField>,
    indexes: Vec<SparseIndex>,
}

impl SparseFields {
    pub(crate) fn new(fields: &[SparseField]) -> SparseFields {
        SparseFields {
            fields: fields.to_vec(),
            indexes: fields.iter().map(|_| SparseIndex::default()).collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Sets `slot`'s vectors: `(field, vector)`, every other field cleared (an upsert replaces
    /// the whole point).
    pub(crate) fn set(&mut self, slot: u32, vectors: Vec<(u16, SparseVector)>) {
        let mut by_field: Vec<Option<SparseVector>> = vec![None; self.indexes.len()];
        for (f, v) in vectors {
            if let Some(at) = by_field.get_mut(usize::from(f)) {
                *at = Some(v);
            }
        }
        for (ix, v) in self.indexes.iter_mut().zip(by_field) {
            ix.set(slot, v);
        }
    }

    /// Clears `slot` in every field.
    pub(crate) fn remove(&mut self, slot: u32) {
        for ix in &mut self.indexes {
            ix.set(slot, None);
        }
    }

    /// `slot`'s vectors, by field name.
    pub(crate) fn of(&self, slot: u32) -> Vec<(String, SparseVector)> {
        self.fields
            .iter()
            .zip(&self.indexes)
            .filter_map(|(f, ix)| Some((f.name.clone(), ix.get(slot)?.clone())))
            .collect()
    }

    /// The field `name`: its place, declaration and index.
    pub(crate) fn field(&self, name: &str) -> Option<(&SparseField, &SparseIndex)> {
        let i = self.fields.iter().position(|f| f.name == name)?;
        Some((&self.fields[i], &self.indexes[i]))
    }

    /// `(slot, field, vector)` of every stored vector.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u16, &SparseVector)> {
        self.indexes
            .iter()
            .enumerate()
            .flat_map(|(f, ix)| ix.iter().map(move |(s, v)| (s, f as u16, v)))
    }

    /// The same vectors over renumbered slots (compaction).
    pub(crate) fn remapped(&self, to: impl Fn(u32) -> Option<u32> + Copy) -> SparseFields {
        SparseFields {
            fields: self.fields.clone(),
            indexes: self.indexes.iter().map(|ix| ix.remapped(to)).collect(),
        }
    }

    /// Whether every field's postings agree with its vectors (for `check`).
    pub(crate) fn consistent(&self) -> bool {
        self.indexes.iter().all(SparseIndex::consistent)
    }
}
