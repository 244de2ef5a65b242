//! The points API beyond upsert and search: listing by id (scroll), counting, payload
//! updates without vector rewrites, deletes by filter, and the payload indexes.

use super::budget::Budget;
use super::handle::Collection;
use super::state::State;
use super::types::{Include, MAX_SCROLL, Page, Point, RESULT_ITEM_BYTES};
use crate::error::{Error, Limit, Result};
use crate::filter::Filter;
use crate::payloads::{IndexKind, json as payload};
use crate::record::{self, KIND_INDEX};
use crate::text::TextConfig;
use serde_json::{Map, Value};

/// An index as [`Collection::indexes`] describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IndexInfo {
    /// The payload key (a dotted path).
    pub key: String,
    /// What the index holds.
    pub kind: IndexKind,
    /// Distinct values indexed (0 for `exists`).
    pub values: usize,
    /// Points with a value at the key.
    pub points: u64,
}

impl IndexInfo {
    /// An index's description.
    pub fn new(key: String, kind: IndexKind, values: usize, points: u64) -> IndexInfo {
        IndexInfo {
            key,
            kind,
            values,
            points,
        }
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(Error::InvalidArgument(format!(
            "bad payload key {key:?}: dotted names of non-empty parts"
        )));
    }
    Ok(())
}

impl Collection {
    /// Up to `limit` points with ids from `start` on (ascending), passing `filter`, and the
    /// id to start the next page from (`None`: no more). Scrolling from `0` until `next` is
    /// `None` lists every point once.
    pub fn scroll(
        &self,
        start: u64,
        limit: usize,
        filter: Option<&Filter>,
        include: Include,
    ) -> Result<Page> {
        if limit > MAX_SCROLL {
            return Err(Error::LimitExceeded {
                limit: Limit::K,
                max: MAX_SCROLL as u64,
                actual: limit as u64,
            });
        }
        if let Some(f) = filter {
            f.validate()?;
        }
        self.with_read(|st| {
            let accept = st.acceptor(filter, 0, false);
            let mut points = Vec::new();
            let mut next = None;
            let mut budget = Budget::default();
            for (id, slot) in st.ids.starting_at(start) {
                if !accept.accepts(st, slot) {
                    continue;
                }
                let size = st.read_size(slot, include);
                // A page stops short of the result limit (never empty: one point fits).
                if points.len() == limit || (!points.is_empty() && budget.would_pass(size)) {
                    next = Some(id);
                    break;
                }
                budget.spend(size).ok();
                points.push(st.point(id, slot, include)?);
            }
            Ok(Page { points, next })
        })
    }

    /// The points passing `filter` (all of them without one). Exact: from the indexes when
    /// they answer the filter, else by evaluating it on every point.
    pub fn count(&self, filter: Option<&Filter>) -> Result<u64> {
        if let Some(f) = filter {
            f.validate()?;
        }
        self.with_read(|st| Ok(st.matching(filter).len()))
    }

    /// Merges `fields` into the payloads of the points with these ids (a point without one
    /// gets `fields`); returns how many points changed. No vector is rewritten.
    pub fn set_payload(&self, ids: &[u64], fields: &Map<String, Value>) -> Result<usize> {
        self.update_payloads(ids, |p| {
            let mut m = p.and_then(|v| v.as_object().cloned()).unwrap_or_default();
            m.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(Value::Object(m))
        })
    }

    /// Removes these top-level keys from the payloads of the points with these ids (a payload
    /// left empty stays, as `{}`); returns how many points changed.
    pub fn delete_payload_keys(&self, ids: &[u64], keys: &[String]) -> Result<usize> {
        self.update_payloads(ids, |p| {
            let mut m = p?.as_object().cloned().unwrap_or_default();
            for k in keys {
                m.remove(k);
            }
            Some(Value::Object(m))
        })
    }

    /// Replaces the payloads of the points with these ids (`None`: removes them).
    pub fn overwrite_payload(&self, ids: &[u64], payload: Option<&Value>) -> Result<usize> {
        self.update_payloads(ids, |_| payload.cloned())
    }

    /// Deletes every point passing `filter`, atomically (one log record); returns how many.
    pub fn delete_by_filter(&self, filter: &Filter) -> Result<usize> {
        filter.validate()?;
        self.with_write(|st| {
            let ids: Vec<u64> = st
                .matching(Some(filter))
                .into_iter()
                .filter_map(|s| st.ids.owner(s))
                .collect();
            st.delete(&ids)
        })
    }

    /// Declares a payload index on `key` (dotted path) and builds it; false when it existed.
    /// Logged like a write: durable after [`Collection::flush`].
    pub fn create_index(&self, key: &str, kind: IndexKind) -> Result<bool> {
        check_key(key)?;
        self.with_write(|st| st.log_index(true, key, kind, None))
    }

    /// Declares a text index on `key` with this analysis (see [`TextConfig`]) and builds
    /// it; false when `key` already has a text index (drop it first to change its config).
    /// [`Collection::create_index`] with [`IndexKind::Text`] declares one with the default
    /// config. Logged like a write: durable after [`Collection::flush`].
    pub fn create_text_index(&self, key: &str, config: TextConfig) -> Result<bool> {
        check_key(key)?;
        config.validate()?;
        self.with_write(|st| st.log_index(true, key, IndexKind::Text, Some(config)))
    }

    /// Drops a payload index; false when there was none.
    pub fn drop_index(&self, key: &str, kind: IndexKind) -> Result<bool> {
        check_key(key)?;
        self.with_write(|st| st.log_index(false, key, kind, None))
    }

    /// The declared payload indexes, by key.
    pub fn indexes(&self) -> Result<Vec<IndexInfo>> {
        self.with_read(|st| {
            Ok(st
                .indexes
                .describe()
                .into_iter()
                .map(|(key, kind, values, points)| IndexInfo {
                    key,
                    kind,
                    values,
                    points,
                })
                .collect())
        })
    }

    /// Computes each point's new payload from its current one under one write lock, then
    /// logs all changes as one record.
    fn update_payloads(
        &self,
        ids: &[u64],
        change: impl Fn(Option<Value>) -> Option<Value>,
    ) -> Result<usize> {
        self.with_write(|st| {
            let mut texts = Vec::with_capacity(ids.len());
            for &id in ids {
                let Some(slot) = st.ids.slot(id) else {
                    continue;
                };
                let new = change(st.payload(slot));
                texts.push((id, new.map(|v| payload::encode(Some(id), &v)).transpose()?));
            }
            st.overwrite_payloads(texts)
        })
    }
}

impl State {
    /// The bytes a read of `slot` returns, for [`Budget`].
    pub(super) fn read_size(&self, slot: u32, include: Include) -> usize {
        let text = self.payloads.text(slot).map_or(0, <[u8]>::len);
        let vector = if include.vector {
            4 * self.codec.dimension() as usize
        } else {
            0
        };
        RESULT_ITEM_BYTES + vector + if include.payload { text } else { 0 }
    }

    /// A point as the read APIs return it.
    pub(super) fn point(&self, id: u64, slot: u32, include: Include) -> Result<Point> {
        let vector = if include.vector {
            let mut buf = vec![0u8; self.codec.slot_size()];
            self.codec.decode(self.vectors.bytes(slot, &mut buf, true)?)
        } else {
            Vec::new()
        };
        let payload = if include.payload {
            self.payload(slot)
        } else {
            None
        };
        let mut p = Point::new(id, vector).with_payload_opt(payload);
        if include.vector {
            p.sparse = self.sparse.of(slot);
        }
        Ok(p)
    }

    fn log_index(
        &mut self,
        create: bool,
        key: &str,
        kind: IndexKind,
        config: Option<TextConfig>,
    ) -> Result<bool> {
        if self.indexes.has(key, kind) == create {
            return Ok(false);
        }
        let config = match (create, kind) {
            (true, IndexKind::Text) => Some(config.unwrap_or_default()),
            _ => None,
        };
        let params = config.map_or(Vec::new(), |c| c.encode().to_vec());
        let rec = record::index(create, kind.code(), key, &params);
        self.guard(|st| st.wal.append(KIND_INDEX, &rec).map(drop))?;
        self.apply_index(create, key, kind, config);
        Ok(true)
    }

    /// Creates or drops an index (a logged index record, or its replay); a text index is
    /// created with `config` (the default when `None`).
    pub(super) fn apply_index(
        &mut self,
        create: bool,
        key: &str,
        kind: IndexKind,
        config: Option<TextConfig>,
    ) {
        if create {
            let store = &self.payloads;
            let filled = self
                .ids
                .live_slots()
                .filter_map(|s| store.value(s).map(|v| (s, v)));
            match kind {
                IndexKind::Text => {
                    self.indexes
                        .create_text(key, config.unwrap_or_default(), filled);
                }
                _ => {
                    self.indexes.create(key, kind, filled);
                }
            }
        } else {
            self.indexes.remove(key, kind);
        }
    }
}
