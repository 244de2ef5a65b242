//! `veles.Database`: a directory of collections (or one in memory).

use crate::collection::Collection;
use crate::convert;
use crate::errors::OrRaise;
use pyo3::prelude::*;
use veles::{CollectionConfig, Metric};

#[pyclass(module = "veles", frozen)]
pub(crate) struct Database {
    pub(crate) inner: veles::Database,
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
        let inner = py
            .detach(|| self.inner.create_collection(name, config))
            .or_raise()?;
        Ok(Collection {
            inner,
            name: name.to_string(),
        })
    }

    /// The collection named `name` (`CollectionNotFound` when there is none).
    fn collection(&self, py: Python<'_>, name: &str) -> PyResult<Collection> {
        let inner = py.detach(|| self.inner.collection(name)).or_raise()?;
        Ok(Collection {
            inner,
            name: name.to_string(),
        })
    }

    /// The names of the collections.
    fn list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list()).or_raise()
    }

    /// Drops a collection and its files (durable when it returns).
    fn drop(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.inner.drop_collection(name)).or_raise()
    }

    /// A consistent copy of the database in `dest` (which then opens as a database): a dict.
    fn snapshot<'py>(
        &self,
        py: Python<'py>,
        dest: std::path::PathBuf,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = py.detach(|| self.inner.snapshot(&dest)).or_raise()?;
        convert::report(py, &r)
    }

    /// Checks every collection: a list of dicts, one per collection.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = py.detach(|| self.inner.check()).or_raise()?;
        convert::report(py, &r)
    }

    /// Makes every acknowledged write of every open collection durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.flush()).or_raise()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving a `with` block flushes (the directory lock goes with the last reference).
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.flush(py)?;
        Ok(false)
    }
}
