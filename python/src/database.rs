//! `veles.Database`: a directory of collections (or one in memory).

use crate::collection::Collection;
use crate::convert;
use crate::errors::OrRaise;
use crate::session::Session;
use pyo3::prelude::*;
use veles::{CollectionConfig, Metric};

#[pyclass(module = "veles", frozen)]
pub(crate) struct Database {
    pub(crate) session: std::sync::Arc<Session>,
}

impl Database {
    pub(crate) fn new(db: veles::Database) -> Database {
        Database {
            session: Session::new(db),
        }
    }

    fn collection_of(&self, inner: veles::Collection, name: &str) -> Collection {
        Collection {
            slot: self.session.adopt(inner),
            name: name.to_string(),
        }
    }
}

#[pymethods]
impl Database {
    /// Creates a collection of `dim`-dimensional vectors (durable when it returns), with
    /// optional sparse vector fields: `sparse={"terms": {"idf": True}, "splade": {}}`.
    #[pyo3(signature = (name, dim, metric="cosine", m=16, ef_construction=200, sparse=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_collection(
        &self,
        py: Python<'_>,
        name: &str,
        dim: u32,
        metric: &str,
        m: u32,
        ef_construction: u32,
        sparse: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Collection> {
        let metric: Metric = metric.parse().or_raise()?;
        let mut config = CollectionConfig::new(dim, metric).with_hnsw(m, ef_construction);
        for field in convert::sparse_fields(sparse)? {
            config = config.with_sparse(field);
        }
        let db = self.session.database()?;
        let inner = py
            .detach(|| db.create_collection(name, config))
            .or_raise()?;
        Ok(self.collection_of(inner, name))
    }

    /// The collection named `name` (`CollectionNotFound` when there is none).
    fn collection(&self, py: Python<'_>, name: &str) -> PyResult<Collection> {
        let db = self.session.database()?;
        let inner = py.detach(|| db.collection(name)).or_raise()?;
        Ok(self.collection_of(inner, name))
    }

    /// The names of the collections.
    fn list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let db = self.session.database()?;
        py.detach(|| db.list()).or_raise()
    }

    /// Drops a collection and its files (durable when it returns).
    fn drop(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let db = self.session.database()?;
        py.detach(|| db.drop_collection(name)).or_raise()
    }

    /// A consistent copy of the database in `dest` (which then opens as a database): a dict.
    fn snapshot<'py>(
        &self,
        py: Python<'py>,
        dest: std::path::PathBuf,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.session.database()?;
        let r = py.detach(|| db.snapshot(&dest)).or_raise()?;
        convert::report(py, &r)
    }

    /// Checks every collection: a list of dicts, one per collection.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let db = self.session.database()?;
        let r = py.detach(|| db.check()).or_raise()?;
        convert::report(py, &r)
    }

    /// Makes every acknowledged write of every open collection durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.session.database()?;
        py.detach(|| db.flush()).or_raise()
    }

    /// Flushes and closes: every collection of this database is let go (their calls then
    /// raise `InvalidArgument`), the clean close checkpoints where worth it, and the directory
    /// lock is released, so another open may follow at once. A call running on another thread
    /// finishes first, on its own handle. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(db) = self.session.close() else {
            return Ok(());
        };
        py.detach(|| {
            db.flush()?;
            match std::sync::Arc::try_unwrap(db) {
                Ok(db) => db.close(),
                // Another thread is in a call: the last handle closes it when that ends.
                Err(_) => Ok(()),
            }
        })
        .or_raise()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving a `with` block closes the database (see `close`).
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
