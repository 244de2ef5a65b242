//! What one open database's Python objects share: the database and the collection handles
//! given out, so that `Database.close()` lets every one of them go, and the directory lock
//! with them (a collection handle keeps the directory open; see `veles::Database::close`).
//!
//! A call takes a clone of the handle it needs and runs on that with the GIL released, so a
//! close while another thread is in a call waits for nothing: that call finishes on its clone,
//! and the last clone to go closes the database.

use crate::errors::OrRaise;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

/// A collection handle as a Python `Collection` holds it: `None` once the database closed.
pub(crate) type Slot = RwLock<Option<veles::Collection>>;

pub(crate) struct Session {
    db: RwLock<Option<Arc<veles::Database>>>,
    collections: Mutex<Vec<Weak<Slot>>>,
}

fn closed<T>() -> PyResult<T> {
    Err(veles::Error::InvalidArgument(
        "the database is closed".into(),
    ))
    .or_raise()
}

impl Session {
    pub(crate) fn new(db: veles::Database) -> Arc<Session> {
        Arc::new(Session {
            db: RwLock::new(Some(Arc::new(db))),
            collections: Mutex::new(Vec::new()),
        })
    }

    /// The open database, or the error a closed one gives.
    pub(crate) fn database(&self) -> PyResult<Arc<veles::Database>> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        db.clone().map_or_else(closed, Ok)
    }

    /// A slot for a collection handle this database gave out, emptied at close.
    pub(crate) fn adopt(&self, c: veles::Collection) -> Arc<Slot> {
        let slot = Arc::new(RwLock::new(Some(c)));
        let mut all = self
            .collections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&slot));
        slot
    }

    /// Takes the database and empties every collection slot; `None` when already closed.
    pub(crate) fn close(&self) -> Option<Arc<veles::Database>> {
        let db = self
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let all = std::mem::take(
            &mut *self
                .collections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for slot in all.iter().filter_map(Weak::upgrade) {
            slot.write().unwrap_or_else(PoisonError::into_inner).take();
        }
        Some(db)
    }
}

/// The handle in `slot`, or the error a closed database gives.
pub(crate) fn handle(slot: &Slot) -> PyResult<veles::Collection> {
    let c = slot.read().unwrap_or_else(PoisonError::into_inner);
    c.clone().map_or_else(closed, Ok)
}
