//! `veles.Bm25`: text as sparse BM25 vectors for a sparse field with `idf` (the engine's
//! `Bm25Embedder`), as dicts `{"indices": [...], "values": [...]}` that `upsert(sparse=...)` and
//! a query's sparse leg take.

use crate::convert;
use crate::errors::OrRaise;
use pyo3::prelude::*;

#[pyclass(module = "veles", frozen)]
pub(crate) struct Bm25 {
    inner: veles::Bm25Embedder,
}

#[pymethods]
impl Bm25 {
    /// An embedder with a text analysis (`config`: a text index's config dict; the default
    /// one when None), BM25's `k1` and `b`, and the typical document length in terms.
    #[new]
    #[pyo3(signature = (config=None, k1=1.2, b=0.75, avg_len=256.0))]
    fn new(config: Option<&Bound<'_, PyAny>>, k1: f32, b: f32, avg_len: f32) -> PyResult<Bm25> {
        let config = match config.filter(|c| !c.is_none()) {
            Some(c) => veles::TextConfig::from_json(&convert::json_of(c, "config")?).or_raise()?,
            None => veles::TextConfig::default(),
        };
        let mut inner = veles::Bm25Embedder::new(config, avg_len);
        inner.k1 = k1;
        inner.b = b;
        Ok(Bm25 { inner })
    }

    /// A document's sparse vector.
    fn embed_document<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        convert::py_of_json(py, &self.inner.embed_document(text).to_json())
    }

    /// A query's sparse vector (each distinct term once).
    fn embed_query<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        convert::py_of_json(py, &self.inner.embed_query(text).to_json())
    }
}
