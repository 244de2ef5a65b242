//! The integrity check of an open collection: every file read again, every checksum, and
//! that the parts agree. Reads only.

use super::files::{CHECKPOINT, WAL, graph_file, payloads_file};
use super::handle::Collection;
use super::state::State;
use crate::check::CheckReport;
use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::index::hnsw::file::Stamp;
use crate::index::hnsw::{self, Graph};
use crate::vectors::{quantize, with_f32};

impl Collection {
    /// Verifies the collection without changing anything: re-reads the checkpoint, the log,
    /// the vector file and the graph file and checks every checksum, then checks that the id
    /// map, the slots, the payloads and the graph agree (no id on a free slot, no live slot
    /// outside both the graph and the points waiting for it, no live node a search cannot reach, no stored vector `upsert` could
    /// not have written). Problems come with their file and offset.
    pub fn check(&self) -> Result<CheckReport> {
        self.with_read(|st| {
            let mut report = CheckReport {
                collection: self.name().to_string(),
                points: st.ids.len() as u64,
                slots: st.ids.slots() as u64,
                graph_nodes: st.graph.as_ref().map_or(0, Graph::nodes) as u64,
                ..CheckReport::default()
            };
            let checkpoint = st.check_checkpoint(&mut report);
            st.check_wal(checkpoint.as_ref().map(|cp| cp.next_lsn), &mut report);
            st.check_vectors(&mut report);
            st.check_ids(&mut report);
            st.check_payloads(checkpoint.as_ref(), &mut report);
            st.check_sparse(&mut report);
            st.check_texts(&mut report);
            if let Some(cp) = &checkpoint {
                st.check_sq8(cp, &mut report);
            }
            let entries = checkpoint.map(|cp| cp.entries).unwrap_or_default();
            st.check_graph(&entries, &mut report);
            if let Some(why) = &st.recovery.graph_problem {
                report.notes.push(format!("graph rebuilt on open: {why}"));
            }
            for key in &st.texts_rebuilt {
                report.notes.push(format!(
                    "text index on {key:?} rebuilt on open from the payloads (the checkpoint's text file was missing or unusable)"
                ));
            }
            Ok(report)
        })
    }
}

impl State {
    /// The sparse file of this generation: its checksums and structure, read again; and that
    /// each field's postings agree with its vectors.
    fn check_sparse(&self, report: &mut CheckReport) {
        if self.sparse.is_empty() {
            return;
        }
        let spath = super::files::sparse_file(&self.path, self.generation);
        match self.dir.read_file(&spath) {
            Ok(Some(bytes)) => {
                report.bytes_checked += bytes.len() as u64;
                if let Err(e) =
                    crate::sparse::file::decode(&bytes, &spath, self.config.sparse.len())
                {
                    report.error(&spath, &e.into());
                }
            }
            Ok(None) => report.problem(&spath, None, "the sparse vector file is missing"),
            Err(e) => report.error(&spath, &e.into()),
        }
        if !self.sparse.consistent() {
            report.problem(
                &spath,
                None,
                "the sparse postings do not match the sparse vectors",
            );
        }
    }

    /// The text file of this generation, when there is one: its checksums and structure
    /// (derived data: an open rebuilds what it cannot use, but damage is still damage).
    fn check_texts(&self, report: &mut CheckReport) {
        let tpath = super::files::text_file(&self.path, self.generation);
        match self.dir.read_file(&tpath) {
            Ok(Some(bytes)) => {
                report.bytes_checked += bytes.len() as u64;
                if let Err(e) = crate::text::file::decode(&bytes, &tpath) {
                    report.error(&tpath, &e.into());
                }
            }
            Ok(None) => {}
            Err(e) => report.error(&tpath, &e.into()),
        }
    }

    /// The checkpoint file: its checksum, and that it is the one in use.
    fn check_checkpoint(&self, report: &mut CheckReport) -> Option<Checkpoint> {
        let cpath = self.file(CHECKPOINT);
        let bytes = match self.dir.read_file(&cpath) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                report.problem(&cpath, None, "the checkpoint file is missing");
                return None;
            }
            Err(e) => {
                report.error(&cpath, &e.into());
                return None;
            }
        };
        report.bytes_checked += bytes.len() as u64;
        let cp = match Checkpoint::decode(&bytes, &cpath) {
            Ok(cp) => cp,
            Err(e) => {
                report.error(&cpath, &e.into());
                return None;
            }
        };
        if (cp.generation, cp.vectors_generation) != (self.generation, self.vectors_generation) {
            report.problem(
                &cpath,
                None,
                format!(
                    "generation {}/{} on disk, {}/{} in use",
                    cp.generation, cp.vectors_generation, self.generation, self.vectors_generation
                ),
            );
        }
        Some(cp)
    }

    /// The log: every frame's checksum, again (from `first_lsn`, when the checkpoint said).
    fn check_wal(&self, first_lsn: Option<u64>, report: &mut CheckReport) {
        let wpath = self.file(WAL);
        let bytes = match self.wal.read_all() {
            Ok(bytes) => bytes,
            Err(e) => return report.error(&wpath, &e.into()),
        };
        let Some(first_lsn) = first_lsn else { return };
        report.bytes_checked += bytes.len() as u64;
        match crate::wal::recover(&bytes, &wpath, self.generation, first_lsn) {
            Ok(rec) => {
                report.wal_records = rec.records.len() as u64;
                if let Some(at) = rec.torn_at {
                    let what = format!("a torn tail of {} bytes", rec.dropped_bytes);
                    if self.options.read_only {
                        report.notes.push(format!(
                            "{wpath}: {what} at offset {at} (an open for writing drops it)"
                        ));
                    } else {
                        report.problem(&wpath, Some(at), what);
                    }
                }
            }
            Err(e) => report.error(&wpath, &e.into()),
        }
    }

    /// The vector file: its header, and every live slot's bytes against its checksum, the
    /// SQ8 copy, and what `upsert` can write.
    fn check_vectors(&self, report: &mut CheckReport) {
        let file = &self.vectors.file;
        let vpath = file.path().to_string();
        if let Err(e) = file.verify_header(&self.config) {
            report.error(&vpath, &e.into());
        }
        let mut buf = vec![0u8; self.codec.slot_size()];
        for slot in self.ids.live_slots() {
            let id = self.ids.owner(slot).unwrap_or_default();
            let bytes = match self.vectors.bytes(slot, &mut buf, false) {
                Ok(bytes) => bytes,
                Err(e) => {
                    report.error(&vpath, &e.into());
                    break;
                }
            };
            report.bytes_checked += bytes.len() as u64;
            let checked = match self.vectors.is_staged(slot) {
                true => Ok(()),
                false => file.verify_again(slot, bytes),
            };
            // The copy is compared with intact bytes only: a saved copy holds what the
            // damaged slot held, which the checksum reports below.
            if let Some(sq8) = self.vectors.sq8().filter(|_| checked.is_ok()) {
                let want = with_f32(bytes, quantize);
                let stored = sq8.row(slot);
                let norm2 = if sq8.euclidean { want.norm2 } else { 0.0 };
                if stored.map(|r| (r.codes, r.scale, r.norm2))
                    != Some((&want.codes, want.scale, norm2))
                {
                    report.problem(
                        &vpath,
                        None,
                        format!("slot {slot}: the SQ8 copy in memory is stale"),
                    );
                }
            }
            if let Err(e) = checked {
                report.error(&vpath, &e.into());
            } else if let Some(why) = self.codec.stored_problem(bytes) {
                let at = file.offset(slot);
                report.problem(&vpath, Some(at), format!("slot {slot} (id {id}): {why}"));
            }
        }
    }

    /// The id map, the free list and the payloads agree.
    fn check_ids(&self, report: &mut CheckReport) {
        let cpath = self.file(CHECKPOINT);
        for why in self.ids.problems() {
            report.problem(&cpath, None, why);
        }
        if let Some(slot) = self.payloads.slots().find(|&s| self.ids.owner(s).is_none()) {
            report.problem(
                &cpath,
                None,
                format!("a payload for slot {slot}, which holds no point"),
            );
        }
    }

    /// The payload file: every record's checksum and JSON up to the length the checkpoint
    /// names, and that it holds every live payload not changed since (the rest are in the
    /// log); the indexes hold what the payloads say.
    fn check_payloads(&self, checkpoint: Option<&Checkpoint>, report: &mut CheckReport) {
        let path = payloads_file(&self.path, self.payloads_generation);
        let end = match checkpoint {
            Some(cp) if cp.payloads_generation != self.payloads_generation => {
                report.problem(&path, None, "the checkpoint names another payload file");
                return;
            }
            Some(cp) => cp.payloads_end,
            None => self.payload_file.end(),
        };
        if end != self.payload_file.end() {
            report.problem(
                &path,
                None,
                format!(
                    "the checkpoint says {end} bytes count, {} in use",
                    self.payload_file.end()
                ),
            );
        }
        let latest = match self.payload_file.reread() {
            Ok(latest) => latest,
            Err(e) => return report.error(&path, &e.into()),
        };
        report.bytes_checked += end;
        let dirty = self.payloads.dirty();
        let mut differs = None;
        let mut not_json = None;
        let wanted: Vec<_> = latest.iter().map(|(&id, &at)| (at, id)).collect();
        let on_disk = |id: u64| latest.get(&id).copied().flatten();
        for (id, slot) in self.ids.iter() {
            if !dirty.contains(&id) && on_disk(id).is_none() && self.payloads.text(slot).is_some() {
                differs.get_or_insert(id);
            }
        }
        let present: Vec<_> = wanted
            .into_iter()
            .filter_map(|(at, id)| Some((at?, id)))
            .collect();
        let read = self.payload_file.read_texts(present, |id, text| {
            if serde_json::from_slice::<serde_json::Value>(text).is_err() {
                not_json.get_or_insert(id);
            }
            let held = self.ids.slot(id).and_then(|s| self.payloads.text(s));
            if self.ids.contains(id) && !dirty.contains(&id) && held != Some(text) {
                differs.get_or_insert(id);
            }
        });
        if let Err(e) = read {
            return report.error(&path, &e.into());
        }
        if let Some(id) = differs {
            report.problem(
                &path,
                None,
                format!("the payload of id {id} differs from the one in memory"),
            );
        }
        if let Some(id) = not_json {
            report.problem(&path, None, format!("the payload of id {id} is not JSON"));
        }
        let rebuilt = self
            .indexes
            .rebuilt(self.ids.live_slots().map(|s| (s, self.payloads.value(s))));
        if rebuilt.describe() != self.indexes.describe() {
            report.problem(
                &self.file(CHECKPOINT),
                None,
                "the payload indexes do not match the payloads",
            );
        }
    }

    /// The SQ8 copy saved at this checkpoint, when there is one: its header against the
    /// checkpoint, and every segment against its checksum. A missing one is no problem (it
    /// is derived: an open rebuilt the copy from the vectors).
    fn check_sq8(&self, cp: &Checkpoint, report: &mut CheckReport) {
        let path = match self.saved_sq8() {
            Ok(Some(path)) => path,
            Ok(None) => return,
            Err(e) => return report.error(&self.path, &e.into()),
        };
        let mut live: Vec<(u32, u64)> = cp.entries.iter().map(|e| (e.slot, e.id)).collect();
        live.sort_unstable();
        let stamp = Stamp::new(&self.path, self.generation, live.into_iter());
        let expect = self.sq8_expect(cp.slot_count as usize, stamp);
        match crate::vectors::sq8_file::check(self.dir.as_ref(), &path, expect) {
            Ok(Ok(bytes)) => report.bytes_checked += bytes,
            Ok(Err(why)) => report.problem(
                &path,
                why.offset,
                format!(
                    "the saved SQ8 copy is unusable (an open rebuilds it): {}",
                    why.reason
                ),
            ),
            Err(e) => report.error(&path, &e.into()),
        }
    }

    /// The graph: its structure, its coverage, that search reaches every live node, and its
    /// file.
    fn check_graph(&self, checkpoint: &[crate::checkpoint::Entry], report: &mut CheckReport) {
        let Some(graph) = &self.graph else { return };
        let gpath = graph_file(&self.path, self.generation);
        if let Err(why) = graph.validate() {
            report.problem(&gpath, None, format!("graph in memory: {why}"));
        } else {
            let missing = self
                .ids
                .live_slots()
                .filter(|&s| !graph.contains(s) && !self.unindexed.contains(s))
                .count();
            let stale = self
                .unindexed
                .iter()
                .filter(|&s| self.ids.owner(s).is_none())
                .count();
            if stale > 0 {
                report.problem(
                    &gpath,
                    None,
                    format!("{stale} freed slots are still waiting for the graph"),
                );
            }
            if !self.unindexed.is_empty() {
                report.notes.push(format!(
                    "{} points wait for the graph (searches scan them beside the walk)",
                    self.unindexed.len()
                ));
            }
            if missing > 0 {
                report.problem(
                    &gpath,
                    None,
                    format!("{missing} live points are not in the graph"),
                );
            }
            let lost: Vec<u32> = graph
                .unreachable()
                .into_iter()
                .filter(|&n| self.ids.owner(n).is_some() && !self.unindexed.contains(n))
                .collect();
            if let Some(first) = lost.first() {
                report.problem(
                    &gpath,
                    None,
                    format!(
                        "{} live nodes cannot be reached from the entry point (first: slot {first})",
                        lost.len()
                    ),
                );
            }
        }
        match self.dir.read_file(&gpath) {
            Ok(Some(bytes)) => {
                report.bytes_checked += bytes.len() as u64;
                let params = crate::index::hnsw::Params::of(&self.config);
                let slots = self.ids.slots() as usize;
                let mut live: Vec<(u32, u64)> = checkpoint.iter().map(|e| (e.slot, e.id)).collect();
                live.sort_unstable();
                let stamp = Stamp::new(&self.path, self.generation, live.into_iter());
                if let Err(why) = hnsw::file::decode(&bytes, stamp, params, slots) {
                    report.problem(&gpath, None, why);
                }
            }
            Ok(None) if !checkpoint.is_empty() => report.notes.push(format!(
                "{gpath}: missing, so the graph was rebuilt on open"
            )),
            Ok(None) => {}
            Err(e) => report.error(&gpath, &e.into()),
        }
    }
}
