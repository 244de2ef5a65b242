//! Creating a collection's files, and opening them: the checkpoint, then the log replayed on
//! top of it (recovery).

use super::files::{self, CHECKPOINT, Generations, WAL, graph_file, payloads_file, vectors_file};
use super::handle::Collection;
use super::rewrites::{READER_TRIES, Rewrites, busy};
use super::state::{Parts, State};
use super::types::{Options, RecoveryStats};
use crate::checkpoint::Checkpoint;
use crate::config::CollectionConfig;
use crate::error::{Error, Result, StorageError};
use crate::idmap::IdMap;
use crate::index::hnsw::Graph;
use crate::payloads::{FILE_HEAD, IndexKind, PayloadFile, PayloadIndexes, PayloadStore};
use crate::region::{Access, Directory};
use crate::sparse::SparseFields;
use crate::text::TextConfig;
use crate::vectors::{Codec, VectorFile, sums_path};
use crate::wal::Wal;
use std::sync::Arc;

/// Opens the vector file of `generation` in `path` and its checksums: created empty, or
/// checked against `config` and `slots` live slots.
pub(super) fn open_vectors(
    dir: &dyn Directory,
    path: &str,
    generation: u32,
    config: &CollectionConfig,
    existing: Option<u32>,
) -> Result<VectorFile, StorageError> {
    let vpath = vectors_file(path, generation);
    let region = dir.open_region(&vpath, Access::Random)?;
    let sums = dir.open_region(&sums_path(&vpath), Access::Random)?;
    let size = Codec::new(config, Default::default()).slot_size();
    match existing {
        None => VectorFile::create(region, sums, &vpath, config, size),
        Some(slots) => VectorFile::open(region, sums, &vpath, config, size, slots),
    }
}

impl Collection {
    /// Creates the files of a new collection in `path` (a directory that exists and is empty).
    pub(crate) fn create(
        dir: Arc<dyn Directory>,
        path: &str,
        name: &str,
        config: CollectionConfig,
        options: Options,
    ) -> Result<Collection> {
        let vectors = open_vectors(dir.as_ref(), path, 1, &config, None)?;
        let wpath = files::file(path, WAL);
        let wal = Wal::create(dir.open_region(&wpath, Access::Sequential)?, &wpath, 1, 0)?;
        let ppath = payloads_file(path, 1);
        let payload_file =
            PayloadFile::create(dir.open_region(&ppath, Access::Sequential)?, &ppath)?;
        payload_file.sync()?;
        let cp = Checkpoint {
            dimension: config.dimension,
            metric: config.metric.code(),
            hnsw_m: config.m,
            hnsw_ef_construction: config.ef_construction,
            generation: 1,
            vectors_generation: 1,
            next_lsn: 0,
            slot_count: 0,
            entries: Vec::new(),
            payloads_generation: 1,
            payloads_end: FILE_HEAD,
            indexes: Vec::new(),
            sparse: crate::checkpoint::sparse_declarations(&config),
        };
        if !config.sparse.is_empty() {
            let spath = files::sparse_file(path, 1);
            dir.write_atomic(
                &spath,
                &crate::sparse::file::encode(&spath, std::iter::empty()),
            )?;
        }
        // The checkpoint is the collection's existence marker: it goes last, atomically, and
        // its directory sync also makes the entries of `vectors` and `wal` durable.
        dir.write_atomic(&files::file(path, CHECKPOINT), &cp.encode())?;
        let files = (wal, vectors, payload_file);
        let rewrites = Some(Rewrites::for_writer(dir.as_ref(), path)?);
        let mut state = State::new(Parts {
            rewrites,
            ..Parts::empty(dir, path, options, config.clone(), files)
        })?;
        state.graph = state
            .vectors
            .link_space()
            .map(|_| Graph::new(crate::index::hnsw::Params::of(&config), 1));
        Ok(Collection::from_state(name, config, state))
    }

    /// Opens the collection in `path`: loads the checkpoint, replays the log.
    pub(crate) fn open(
        dir: Arc<dyn Directory>,
        path: &str,
        name: &str,
        options: Options,
    ) -> Result<Collection> {
        let state = open_state(dir, path, name, options)?;
        let config = state.config.clone();
        Ok(Collection::from_state(name, config, state))
    }

    /// A read-only open sees the collection as of its open or its last refresh: this opens
    /// the view again, at the newest state on disk (what the writer flushed, and what it
    /// wrote since). Searches on other threads go on with the old view meanwhile and switch
    /// at once. Nothing happens on an open for writing, which always reads its newest state.
    pub fn refresh(&self) -> Result<()> {
        // The writer's hold: a read-only open's `optimize` works out steps on the view it
        // holds, which must not be replaced under it.
        let _writer = self.writer();
        let (dir, path, options) = {
            let g = self.state().read();
            let st = g.as_ref().ok_or_else(|| self.not_found())?;
            if !st.options.read_only {
                return Ok(());
            }
            (st.dir.clone(), st.path.clone(), st.options.clone())
        };
        let fresh = open_state(dir, &path, self.name(), options)?;
        let old = self.state().write().replace(fresh);
        drop(old);
        Ok(())
    }
}

/// The state of the collection in `path`. A writer's open makes its rewrite sequence even; a
/// reader's is a view that existed: taken between two equal readings of the sequence, and
/// tried again when the writer changed something meanwhile (a rewrite, or a checkpoint or
/// compaction that made a file it read stale or removed one it was about to read).
pub(super) fn open_state(
    dir: Arc<dyn Directory>,
    path: &str,
    name: &str,
    options: Options,
) -> Result<State> {
    if !options.read_only {
        let rewrites = Rewrites::for_writer(dir.as_ref(), path)?;
        return open_once(dir, path, name, options, Some(rewrites));
    }
    let Some(rewrites) = Rewrites::for_reader(dir.as_ref(), path)? else {
        return open_once(dir, path, name, options, None);
    };
    let writer_gone = || {
        dir.root()
            .and_then(crate::region::writer_present)
            .map(|w| !w)
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let before = rewrites.settled(writer_gone)?;
        let opened = open_once(dir.clone(), path, name, options.clone(), None);
        let same = rewrites.read()? == before;
        match opened {
            Ok(mut st) if same => {
                let mut rewrites = rewrites;
                rewrites.taken_at(before);
                st.rewrites = Some(rewrites);
                return Ok(st);
            }
            // A writer's checkpoint or compaction between two reads of this open. Whether a
            // writer is there is asked only once the failure repeats: the question takes the
            // lock for a moment, which a writer opening just then would find taken.
            Err(Error::Storage(e))
                if tries < READER_TRIES
                    && writer_may_be_there(&e)
                    && (tries < 3 || writer_gone() != Some(true)) => {}
            Err(e) if same || tries >= READER_TRIES => return Err(e),
            _ if tries >= READER_TRIES => return Err(busy(path)),
            _ => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(u64::from(tries)));
    }
}

/// True for a failure a concurrent writer can cause in a reader's open: a file it removed,
/// or one it was writing.
fn writer_may_be_there(e: &StorageError) -> bool {
    matches!(e, StorageError::Io { .. } | StorageError::Corrupted { .. })
}

/// One attempt of [`open_state`].
fn open_once(
    dir: Arc<dyn Directory>,
    path: &str,
    name: &str,
    options: Options,
    rewrites: Option<Rewrites>,
) -> Result<State> {
    {
        let (cp, config) = read_checkpoint(dir.as_ref(), path, name)?;
        check_files_present(dir.as_ref(), path, &cp)?;
        let vectors = open_vectors(
            dir.as_ref(),
            path,
            cp.vectors_generation,
            &config,
            Some(cp.slot_count),
        )?;
        let ids = IdMap::from_entries(cp.slot_count, cp.entries.iter().map(|e| (e.id, e.slot)));
        let (payload_file, payloads) = load_payloads(dir.as_ref(), path, &cp, options.read_only)?;
        let saved = saved_texts(dir.as_ref(), path, &cp);
        let (indexes, texts_rebuilt) = fill_indexes(&cp, &payloads, saved);
        let sparse = load_sparse(dir.as_ref(), path, &cp, &config, &ids)?;
        let wpath = files::file(path, WAL);
        let (wal, rec) = Wal::open(
            dir.open_region(&wpath, Access::Sequential)?,
            &wpath,
            cp.generation,
            cp.next_lsn,
            !options.read_only,
        )?;
        // The SQ8 copy comes first (loaded or built by `State::new`): a graph rebuilt on
        // open walks with it, and replay keeps it current.
        let files = (wal, vectors, payload_file);
        let mut state = State::new(Parts {
            ids,
            payloads,
            indexes,
            sparse,
            generation: cp.generation,
            vectors_generation: cp.vectors_generation,
            payloads_generation: cp.payloads_generation,
            recovery: RecoveryStats {
                replayed_records: rec.records.len() as u64,
                dropped_bytes: rec.dropped_bytes,
                torn_at: rec.torn_at,
                graph_loaded: false,
                graph_problem: None,
            },
            rewrites,
            ..Parts::empty(dir, path, options, config.clone(), files)
        })?;
        state.texts_rebuilt = texts_rebuilt;
        state.load_graph(&graph_file(path, cp.generation))?;
        state.replay(&rec, &wpath)?;
        if !state.options.read_only {
            // Replayed records are durable: their slot bytes may go to the file now.
            state.apply_staged()?;
            state.remove_leftovers()?;
        }
        Ok(state)
    }
}

/// The checkpoint of the collection in `path` (`name` for the error when there is none), and
/// the configuration it holds.
fn read_checkpoint(
    dir: &dyn Directory,
    path: &str,
    name: &str,
) -> Result<(Checkpoint, CollectionConfig)> {
    let cpath = files::file(path, CHECKPOINT);
    let bytes = dir
        .read_file(&cpath)?
        .ok_or_else(|| Error::CollectionNotFound(name.to_string()))?;
    let cp = Checkpoint::decode(&bytes, &cpath)?;
    let config = cp
        .config()
        .ok_or_else(|| StorageError::corrupted(&cpath, 0, "unknown metric"))?;
    Ok((cp, config))
}

/// Every file a checkpoint names was durable before it: a missing one lost data (and
/// opening it would create it empty).
fn check_files_present(dir: &dyn Directory, path: &str, cp: &Checkpoint) -> Result<()> {
    let present = dir.list(path)?;
    let vpath = vectors_file(path, cp.vectors_generation);
    for needed in [
        files::file(path, WAL),
        sums_path(&vpath),
        vpath,
        payloads_file(path, cp.payloads_generation),
    ] {
        let name = needed.rsplit('/').next().unwrap_or_default();
        if !present.iter().any(|e| !e.is_dir && e.name == name) {
            return Err(StorageError::corrupted(needed, 0, "the file is missing").into());
        }
    }
    Ok(())
}

/// The payload file the checkpoint names, and the payloads of its live points, read into one
/// arena reserved up front (an open that cannot hold them is a typed error).
fn load_payloads(
    dir: &dyn Directory,
    path: &str,
    cp: &Checkpoint,
    read_only: bool,
) -> Result<(PayloadFile, PayloadStore)> {
    let ppath = payloads_file(path, cp.payloads_generation);
    let (payload_file, mut latest) = PayloadFile::open(
        dir.open_region(&ppath, Access::Sequential)?,
        &ppath,
        cp.payloads_end,
        !read_only,
    )?;
    let wanted: Vec<_> = cp
        .entries
        .iter()
        .filter_map(|e| Some((latest.remove(&e.id)??, (e.id, e.slot))))
        .collect();
    drop(latest);
    let mut payloads = PayloadStore::default();
    let bytes = wanted.iter().map(|(at, _)| at.len as usize).sum();
    payloads.reserve(bytes, cp.slot_count as usize)?;
    payload_file.read_texts(wanted, |(id, slot), text| {
        payloads.set(id, slot, Some(text));
    })?;
    // What the file holds is what it already has.
    drop(payloads.take_dirty());
    Ok((payload_file, payloads))
}

/// The sparse vectors of the checkpoint's live points, from `sparse-<generation>` (which a
/// checkpoint of a collection with sparse fields always has: a missing or damaged one is
/// corruption, since nothing else holds them).
fn load_sparse(
    dir: &dyn Directory,
    path: &str,
    cp: &Checkpoint,
    config: &CollectionConfig,
    ids: &IdMap,
) -> Result<SparseFields> {
    let mut out = SparseFields::new(&config.sparse);
    if config.sparse.is_empty() {
        return Ok(out);
    }
    let spath = files::sparse_file(path, cp.generation);
    let bytes = dir
        .read_file(&spath)?
        .ok_or_else(|| StorageError::corrupted(&spath, 0, "the file is missing"))?;
    let mut by_slot: std::collections::BTreeMap<u32, Vec<(u16, crate::SparseVector)>> =
        std::collections::BTreeMap::new();
    for (id, field, v) in crate::sparse::file::decode(&bytes, &spath, config.sparse.len())? {
        let slot = ids.slot(id).ok_or_else(|| {
            StorageError::corrupted(&spath, 0, format!("a vector of id {id}, which is not live"))
        })?;
        by_slot.entry(slot).or_default().push((field, v));
    }
    for (slot, vectors) in by_slot {
        out.set(slot, vectors);
    }
    Ok(out)
}

/// The text indexes the checkpoint's text file saved (none when it has none, or when the
/// file is missing or damaged: they are derived, and rebuilt; `check` reports the damage).
fn saved_texts(dir: &dyn Directory, path: &str, cp: &Checkpoint) -> Vec<crate::text::TextIndex> {
    let any = cp
        .indexes
        .iter()
        .any(|(_, code, _)| IndexKind::from_code(*code) == Some(IndexKind::Text));
    if !any {
        return Vec::new();
    }
    let tpath = files::text_file(path, cp.generation);
    match dir.read_file(&tpath) {
        Ok(Some(bytes)) => crate::text::file::decode(&bytes, &tpath).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The payload indexes the checkpoint declares: text indexes from `saved` where it holds one
/// of the declared key and config, every other filled from the payloads of its live points;
/// and the keys of the text indexes that had to be built so.
fn fill_indexes(
    cp: &Checkpoint,
    payloads: &PayloadStore,
    mut saved: Vec<crate::text::TextIndex>,
) -> (PayloadIndexes, Vec<String>) {
    let mut indexes = PayloadIndexes::default();
    let mut rebuilt = Vec::new();
    for (key, code, params) in &cp.indexes {
        // Validated by the checkpoint decoder.
        let live = cp.entries.iter().map(|e| e.slot);
        let filled = live.filter_map(|s| payloads.value(s).map(|v| (s, v)));
        match (IndexKind::from_code(*code), TextConfig::decode(params)) {
            (Some(IndexKind::Text), Some(config)) => {
                match saved
                    .iter()
                    .position(|t| t.key() == key && t.config() == config)
                {
                    Some(i) => indexes.adopt_text(saved.swap_remove(i)),
                    None => {
                        indexes.create_text(key, config, filled);
                        rebuilt.push(key.clone());
                    }
                }
            }
            (Some(kind), _) => {
                indexes.create(key, kind, filled);
            }
            (None, _) => {}
        }
    }
    for e in &cp.entries {
        indexes.update(e.slot, None, None, true);
    }
    (indexes, rebuilt)
}

impl State {
    pub(super) fn generations(&self) -> Generations {
        Generations {
            log: self.generation,
            vectors: self.vectors_generation,
            payloads: self.payloads_generation,
        }
    }

    /// Removes files of other generations than the checkpoint's (see
    /// [`files::is_leftover`]).
    fn remove_leftovers(&mut self) -> Result<(), StorageError> {
        for e in self.dir.list(&self.path)? {
            if !e.is_dir && files::is_leftover(&e.name, self.generations()) {
                self.dir.remove_file(&self.file(&e.name))?;
            }
        }
        Ok(())
    }
}
