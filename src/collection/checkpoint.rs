//! The checkpoint protocol: folding the log into a new checkpoint.

use super::files::{CHECKPOINT, graph_file, payloads_file, sparse_file, sq8_file, text_file};
use super::graph::too_many_tombstones;
use super::handle::Collection;
use super::state::State;
use super::writer::Writer;
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Result, StorageError};
use crate::index::hnsw;
use crate::payloads::PayloadFile;
use crate::region::Access;
use std::collections::BTreeSet;

/// Where a checkpoint's payloads are: the payload file's generation and length.
#[derive(Debug, Clone, Copy)]
pub(super) struct PayloadExtent {
    pub(super) generation: u32,
    pub(super) end: u64,
}

impl Collection {
    /// Flushes, then folds the log into a new checkpoint and starts an empty log.
    pub fn checkpoint(&self) -> Result<()> {
        self.write_hold()?.checkpoint()
    }
}

impl Writer<'_> {
    /// The checkpoint protocol (docs/format.md):
    /// 1. sync the log and apply staged slots; 2. append the payloads changed since the last
    ///    checkpoint to the payload file past the length that checkpoint names (or write a
    ///    fresh `payloads-<g+1>` when most of the file is superseded records), and sync it;
    ///    sync the vector file; 3. write the graph of generation + 1, then the new checkpoint,
    ///    atomically; 4. reset the log to the new generation. A crash before 3 completes
    ///    recovers from the old checkpoint and log (the appended records lie past the length it
    ///    names); a crash after it finds a log of the old generation and discards it.
    ///
    /// Readers go on throughout: the graph's catch-up and a rebuild are worked out beside
    /// them, the files are encoded, written and synced beside them, and the switches (the
    /// staged slots, the rebuilt graph, the appended payload records, the new generation)
    /// are short.
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        // The saved graph covers every live point.
        self.catch_up(usize::MAX)?;
        let next = self.read(|st, _| st.next_generation())?;
        self.rebuild_if_tombstoned()?;
        // Inserts can leave a node no search reaches (its reverse links shrunk away): the
        // saved graph has none.
        self.reconnect()?;
        let fresh = self.read(|st, _| Ok(st.payloads_superseded()))?;
        // A fresh payload file is written beside readers; records appended to the current one
        // change the state's file, in a switch (they are few: the changes since the last
        // checkpoint).
        let fresh = match fresh {
            true => Some(self.read(|st, _| st.guard_shared(|st| st.fresh_payloads(next)))?),
            false => {
                self.write(|st, _| st.guard(|st| st.append_payloads()))?;
                None
            }
        };
        let old_graph = self.read(|st, _| {
            let extent = match &fresh {
                Some(f) => PayloadExtent {
                    generation: next,
                    end: f.end(),
                },
                None => PayloadExtent {
                    generation: st.payloads_generation,
                    end: st.payload_file.end(),
                },
            };
            let bytes = st
                .checkpoint_body(next, st.vectors_generation, extent, |s| s)
                .encode();
            let stamp = st.graph_stamp(next, &st.ids);
            let graph = st.graph.as_ref().map(|g| hnsw::file::encode(g, stamp));
            let gpath = graph_file(&st.path, next);
            let sparse = st.sparse_bytes(next);
            let texts = st.text_bytes(&st.indexes, next);
            st.guard_shared(|st| {
                st.payload_file.sync()?;
                st.vectors.file.sync()?;
                // The graph and the sparse vectors first: a checkpoint that exists always has
                // them, and the old checkpoint keeps its own until the new one is durable.
                if let Some(g) = &graph {
                    st.dir.write_atomic(&gpath, g)?;
                }
                if let Some(q) = st.vectors.sq8() {
                    crate::vectors::sq8_file::write(&*st.dir, &sq8_file(&st.path, next), q, stamp)?;
                }
                if let Some((path, bytes)) = &sparse {
                    st.dir.write_atomic(path, bytes)?;
                }
                if let Some((path, bytes)) = &texts {
                    st.dir.write_atomic(path, bytes)?;
                }
                st.dir.write_atomic(&st.file(CHECKPOINT), &bytes)
            })?;
            // Files of the generation this one replaces, removed once the new is durable.
            let mut old = vec![
                graph_file(&st.path, st.generation),
                sq8_file(&st.path, st.generation),
            ];
            if sparse.is_some() {
                old.push(sparse_file(&st.path, st.generation));
            }
            old.push(text_file(&st.path, st.generation));
            Ok(old)
        })?;
        let (old, dirty) = self.write(|st, _| {
            st.guard(|st| {
                st.ids.pin_live();
                let old = st.commit_payloads(fresh, next);
                st.wal.restart(next, st.wal.next_lsn())?;
                st.generation = next;
                st.put_since_checkpoint = 0;
                Ok(old)
            })
        })?;
        drop(dirty);
        self.read(|st, _| {
            st.guard_shared(|st| {
                st.wal.sync_restart()?;
                if let Some(old) = old {
                    st.dir.remove_file(old.path())?;
                }
                old_graph.iter().try_for_each(|f| st.dir.remove_file(f))
            })
        })
    }

    /// At a checkpoint, replaces a graph whose tombstones are past a quarter of its nodes
    /// with a fresh one, built beside readers; the tombstones' slots give their bytes back.
    fn rebuild_if_tombstoned(&mut self) -> Result<()> {
        let fresh = self.read(|st, scratch| {
            Ok(match &st.graph {
                Some(g) if too_many_tombstones(g, st.ids.len()) => st.fresh_graph(scratch),
                _ => None,
            })
        })?;
        let Some(fresh) = fresh else {
            return Ok(());
        };
        let old = self.write(|st, _| {
            let old = st.graph.replace(fresh);
            // The tombstones left the graph, so their slots may give their bytes back now.
            let dropped: Vec<u32> = old.as_ref().map_or(Vec::new(), |g| {
                (0..st.ids.slots())
                    .filter(|&s| st.ids.is_free(s) && g.contains(s))
                    .collect()
            });
            st.unindexed.clear();
            st.guard(|st| {
                st.rewrite_begin()?;
                let ids = &st.ids;
                st.vectors.release_now(&dropped, |s| ids.is_free(s))?;
                st.rewrite_end()
            })?;
            Ok(old)
        })?;
        drop(old);
        Ok(())
    }
}

impl State {
    /// The generation after this one; refused (before anything is written) where it would
    /// wrap to 0, which every later open would refuse.
    pub(super) fn next_generation(&self) -> Result<u32> {
        self.generation
            .checked_add(1)
            .ok_or(crate::error::Error::LimitExceeded {
                limit: crate::error::Limit::Generation,
                max: u64::from(u32::MAX),
                actual: u64::from(u32::MAX) + 1,
            })
    }

    /// The sparse file of checkpoint `generation` and its bytes (every live point's sparse
    /// vectors, by id); `None` without sparse fields.
    pub(super) fn sparse_bytes(&self, generation: u32) -> Option<(String, Vec<u8>)> {
        if self.sparse.is_empty() {
            return None;
        }
        let path = sparse_file(&self.path, generation);
        let entries = self
            .sparse
            .iter()
            .filter_map(|(slot, field, v)| Some((self.ids.owner(slot)?, field, v)));
        let bytes = crate::sparse::file::encode(&path, entries);
        Some((path, bytes))
    }

    /// The text file of checkpoint `generation` for `indexes` and its bytes; `None` without
    /// text indexes.
    pub(super) fn text_bytes(
        &self,
        indexes: &crate::payloads::PayloadIndexes,
        generation: u32,
    ) -> Option<(String, Vec<u8>)> {
        let texts = indexes.texts();
        if texts.is_empty() {
            return None;
        }
        let path = text_file(&self.path, generation);
        let bytes = crate::text::file::encode(&path, &texts);
        Some((path, bytes))
    }

    /// True when most of the payload file is records that later ones superseded.
    fn payloads_superseded(&self) -> bool {
        let live = self.payloads.live_bytes() as u64 + 16 * self.ids.len() as u64;
        self.payload_file.end() > 2 * live + (1 << 20)
    }

    /// Step 2 for the payloads, fresh: a new file `payloads-<generation>` with every live
    /// payload by id, synced.
    pub(super) fn fresh_payloads(&self, generation: u32) -> Result<PayloadFile, StorageError> {
        let path = payloads_file(&self.path, generation);
        let region = self.dir.open_region(&path, Access::Sequential)?;
        let mut f = PayloadFile::create(region, &path)?;
        let (ids, store) = (&self.ids, &self.payloads);
        f.append(
            ids.iter()
                .filter_map(|(id, s)| store.text(s).map(|t| (id, Some(t)))),
        )?;
        f.sync()?;
        Ok(f)
    }

    /// Step 2 for the payloads, appended: the dirty ids' records, past the length the last
    /// checkpoint names (synced with the vector file after).
    pub(super) fn append_payloads(&mut self) -> Result<(), StorageError> {
        let (ids, store) = (&self.ids, &self.payloads);
        let records = store.dirty().iter().map(|&id| {
            let text = ids.slot(id).and_then(|s| store.text(s));
            (id, text)
        });
        self.payload_file.append(records)
    }

    /// After the checkpoint that names them committed: the payload file has every change, and
    /// a fresh one replaces the old. Returns the old file, for removal, and the ids that were
    /// dirty, to drop after the switch.
    pub(super) fn commit_payloads(
        &mut self,
        fresh: Option<PayloadFile>,
        generation: u32,
    ) -> (Option<PayloadFile>, BTreeSet<u64>) {
        let dirty = self.payloads.take_dirty();
        let Some(f) = fresh else {
            return (None, dirty);
        };
        self.payloads_generation = generation;
        (Some(std::mem::replace(&mut self.payload_file, f)), dirty)
    }

    /// The checkpoint of the current state as generation `generation`, with each slot
    /// renamed by `slot_of`.
    pub(super) fn checkpoint_body(
        &self,
        generation: u32,
        vectors_generation: u32,
        payloads: PayloadExtent,
        slot_of: impl Fn(u32) -> u32,
    ) -> Checkpoint {
        // By id: the id map iterates in order.
        let entries: Vec<checkpoint::Entry> = self
            .ids
            .iter()
            .map(|(id, slot)| checkpoint::Entry {
                id,
                slot: slot_of(slot),
            })
            .collect();
        let indexes = self
            .indexes
            .declarations()
            .into_iter()
            .map(|(k, kind, params)| (k, kind.code(), params))
            .collect();
        Checkpoint {
            dimension: self.codec.dimension(),
            metric: self.codec.metric().code(),
            hnsw_m: self.config.m,
            hnsw_ef_construction: self.config.ef_construction,
            generation,
            vectors_generation,
            next_lsn: self.wal.next_lsn(),
            slot_count: self.ids.slots(),
            entries,
            payloads_generation: payloads.generation,
            payloads_end: payloads.end,
            indexes,
            sparse: checkpoint::sparse_declarations(&self.config),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{CollectionConfig, Database, Error, Limit, Metric, Point};

    /// A generation that would wrap to 0 (which every later open refuses) is refused before
    /// anything is written: the collection stays as it was, and usable.
    #[test]
    fn the_last_generation_refuses_a_checkpoint_or_compaction_instead_of_wrapping() {
        let db = Database::in_memory();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclidean))
            .unwrap();
        c.upsert(&[Point::new(1, vec![1.0, 0.0])]).unwrap();
        c.with_write(|st| {
            st.generation = u32::MAX;
            Ok(())
        })
        .unwrap();
        let refused = |e: Error| {
            matches!(
                e,
                Error::LimitExceeded {
                    limit: Limit::Generation,
                    ..
                }
            )
        };
        assert!(refused(c.checkpoint().unwrap_err()));
        assert!(refused(c.compact().unwrap_err()));
        c.upsert(&[Point::new(2, vec![0.0, 1.0])]).unwrap();
        c.flush().unwrap();
        assert_eq!(c.len().unwrap(), 2);
    }
}
