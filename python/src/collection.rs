//! `veles.Collection`: a collection's points, searches and maintenance. Every call that does
//! real work runs with the GIL released, so other Python threads go on meanwhile (a search
//! while another thread upserts, optimizes or compacts); a collection is safe to share.

use crate::convert::{self, filter_of};
use crate::errors::OrRaise;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use veles::{Include, IndexKind, SearchParams};

#[pyclass(module = "veles", frozen)]
pub(crate) struct Collection {
    pub(crate) slot: std::sync::Arc<crate::session::Slot>,
    pub(crate) name: String,
}

/// The hits of a batch search: `ids` (uint64) and `scores` (float32) of shape `[n, k]`
/// (unfilled places: id `2**64 - 1`, score NaN), and `payloads` (a list of lists) when asked.
#[pyclass(module = "veles", frozen, get_all)]
pub(crate) struct BatchHits {
    ids: Py<PyAny>,
    scores: Py<PyAny>,
    payloads: Py<PyAny>,
}

fn params<'a>(
    filter: Option<&'a veles::Filter>,
    ef: Option<usize>,
    exact: bool,
    with_payload: bool,
) -> SearchParams<'a> {
    SearchParams::default()
        .with_filter(filter)
        .with_ef(ef)
        .with_exact(exact)
        .with_include(Include::new(false, with_payload))
}

impl Collection {
    /// This collection's handle (an error once its database is closed).
    fn handle(&self) -> PyResult<veles::Collection> {
        crate::session::handle(&self.slot)
    }
}

#[pymethods]
impl Collection {
    /// The collection's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let c = self.handle()?;
        py.detach(|| c.len()).or_raise()
    }

    fn __repr__(&self) -> String {
        format!("<veles.Collection {:?}>", self.name)
    }

    /// Inserts or replaces points, atomically: `ids` (integers), `vectors` (a 2-d array of
    /// numbers, one row per id; float32 is used as is, other dtypes converted), optional
    /// `payloads` (one dict or None per id) and optional `sparse` (one dict `{field:
    /// {"indices": [...], "values": [...]}}` or None per id). Durable at the next `flush()`.
    #[pyo3(signature = (ids, vectors, payloads=None, sparse=None))]
    fn upsert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        payloads: Option<&Bound<'_, PyAny>>,
        sparse: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ids = convert::ids_of(ids)?;
        let (rows, n, dim) = convert::matrix(vectors, "vectors")?;
        if ids.len() != n {
            return Err(PyValueError::new_err(format!(
                "{} ids for {n} vectors",
                ids.len()
            )));
        }
        let payloads = convert::payloads_of(payloads, n)?;
        let sparse = convert::sparse_of(sparse, n)?;
        let points = convert::points(ids, &rows, dim, payloads, sparse);
        let c = self.handle()?;
        py.detach(|| c.upsert(&points)).or_raise()
    }

    /// The points with these ids: a dict `{"id", "vector", "payload"}` each, or None where
    /// there is none.
    #[pyo3(signature = (ids, with_vector=true, with_payload=true))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        with_vector: bool,
        with_payload: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = convert::ids_of(ids)?;
        let include = Include::new(with_vector, with_payload);
        let c = self.handle()?;
        let got = py.detach(|| c.get_with(&ids, include)).or_raise()?;
        let items = got
            .iter()
            .map(|p| match p {
                Some(p) => convert::point(py, p).map(Bound::into_any),
                None => Ok(py.None().into_bound(py)),
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Deletes the points with these ids, or every point passing `filter` (one of the two);
    /// returns how many existed. Durable at the next `flush()`.
    #[pyo3(signature = (ids=None, filter=None))]
    fn delete(
        &self,
        py: Python<'_>,
        ids: Option<&Bound<'_, PyAny>>,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let filter = filter_of(filter)?;
        match (ids.filter(|i| !i.is_none()), filter) {
            (Some(ids), None) => {
                let ids = convert::ids_of(ids)?;
                let c = self.handle()?;
                py.detach(|| c.delete(&ids)).or_raise()
            }
            (None, f) => {
                let f = veles::Filter::required(f, "delete").or_raise()?;
                let c = self.handle()?;
                py.detach(|| c.delete_by_filter(&f)).or_raise()
            }
            (Some(_), Some(_)) => Err(PyValueError::new_err("give ids or a filter, not both")),
        }
    }

    /// The `k` nearest points to `query` (a 1-d array of numbers) that pass `filter`, best
    /// first: a list of dicts `{"id", "score", "payload"}`.
    #[pyo3(signature = (query, k=10, filter=None, ef=None, exact=false, with_payload=true))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<&Bound<'py, PyAny>>,
        ef: Option<usize>,
        exact: bool,
        with_payload: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let q = convert::vector(query, "the query")?;
        let filter = filter_of(filter)?;
        let p = params(filter.as_ref(), ef, exact, with_payload);
        let c = self.handle()?;
        let hits = py.detach(|| c.search_with(&q, k, &p)).or_raise()?;
        let items = hits
            .iter()
            .map(|h| convert::hit(py, h))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// [`search`] for every row of `queries` (a 2-d array) in one call: a `BatchHits` with
    /// `ids` and `scores` arrays of shape `[n, k]`, and `payloads` when `with_payload`.
    #[pyo3(signature = (queries, k=10, filter=None, ef=None, exact=false, with_payload=false))]
    #[allow(clippy::too_many_arguments)]
    fn search_batch(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
        ef: Option<usize>,
        exact: bool,
        with_payload: bool,
    ) -> PyResult<BatchHits> {
        let (rows, n, dim) = convert::matrix(queries, "queries")?;
        let filter = filter_of(filter)?;
        let p = params(filter.as_ref(), ef, exact, with_payload);
        let c = self.handle()?;
        let hits = py
            .detach(|| {
                let qs: Vec<&[f32]> = rows.chunks_exact(dim.max(1)).take(n).collect();
                c.search_batch(&qs, k, &p)
            })
            .or_raise()?;
        let (ids, scores) = convert::batch_arrays(py, &hits, k)?;
        let payloads = match with_payload {
            false => py.None(),
            true => {
                let rows = hits
                    .iter()
                    .map(|row| {
                        let items = row
                            .iter()
                            .map(|h| match &h.payload {
                                Some(v) => convert::py_of_json(py, v),
                                None => Ok(py.None().into_bound(py)),
                            })
                            .collect::<PyResult<Vec<_>>>()?;
                        PyList::new(py, items)
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, rows)?.into_any().unbind()
            }
        };
        Ok(BatchHits {
            ids: ids.into_any().unbind(),
            scores: scores.into_any().unbind(),
            payloads,
        })
    }

    /// A page of points by id from `start` (at most `limit`) that pass `filter`:
    /// `(points, next)`, where `next` is the start of the next page or None.
    #[pyo3(signature = (start=0, limit=100, filter=None, with_vector=false, with_payload=true))]
    fn scroll<'py>(
        &self,
        py: Python<'py>,
        start: u64,
        limit: usize,
        filter: Option<&Bound<'py, PyAny>>,
        with_vector: bool,
        with_payload: bool,
    ) -> PyResult<(Bound<'py, PyList>, Option<u64>)> {
        let filter = filter_of(filter)?;
        let include = Include::new(with_vector, with_payload);
        let c = self.handle()?;
        let page = py
            .detach(|| c.scroll(start, limit, filter.as_ref(), include))
            .or_raise()?;
        let items = page
            .points
            .iter()
            .map(|p| convert::point(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((PyList::new(py, items)?, page.next))
    }

    /// How many points pass `filter` (all of them without one), exactly.
    #[pyo3(signature = (filter=None))]
    fn count(&self, py: Python<'_>, filter: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let filter = filter_of(filter)?;
        let c = self.handle()?;
        py.detach(|| c.count(filter.as_ref())).or_raise()
    }

    /// Merges `fields` (a dict) into the payloads of these points; returns how many changed.
    fn set_payload(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        fields: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let ids = convert::ids_of(ids)?;
        let fields = match convert::json_of(fields, "fields")? {
            serde_json::Value::Object(m) => m,
            _ => return Err(PyValueError::new_err("fields must be a dict")),
        };
        let c = self.handle()?;
        py.detach(|| c.set_payload(&ids, &fields)).or_raise()
    }

    /// Declares a payload index on `key` (a dotted path) of `kind` (keyword, integer, float,
    /// bool, exists, text); False when it existed. A text index takes an optional `config`
    /// dict (`{"tokenizer": "word" | "whitespace" | "prefix" | "cjk", "language": "english"
    /// | None, "lowercase", "ascii_folding", "stopwords", "stemmer", "min_len", "max_len"}`).
    #[pyo3(signature = (key, kind, config=None))]
    fn create_index(
        &self,
        py: Python<'_>,
        key: &str,
        kind: &str,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let kind = IndexKind::parse(kind).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown index kind {kind:?} (keyword, integer, float, bool, exists, text)"
            ))
        })?;
        let handle = self.handle()?;
        match (kind, config.filter(|c| !c.is_none())) {
            (IndexKind::Text, Some(c)) => {
                let config =
                    veles::TextConfig::from_json(&convert::json_of(c, "config")?).or_raise()?;
                py.detach(|| handle.create_text_index(key, config))
                    .or_raise()
            }
            (_, Some(_)) => Err(PyValueError::new_err("config is for text indexes only")),
            (_, None) => py.detach(|| handle.create_index(key, kind)).or_raise(),
        }
    }

    /// A query of one or more legs, fused (the dict form of the CLI's JSON: `{"legs":
    /// [{"dense": [...]}, {"text": "words", "key": "body"}, {"sparse": {"indices": [...],
    /// "values": [...]}, "field": "terms"}], "fusion": "rrf" | "dbsf" | "relative", "limit":
    /// 10}`): a list of dicts `{"id", "score", "payload"}`, best first.
    fn query<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let q = convert::query_of(query)?;
        let c = self.handle()?;
        let hits = py.detach(|| c.query(&q)).or_raise()?;
        let items = hits
            .iter()
            .map(|h| convert::hit(py, h))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// [`query`] for a list of queries under one read view: one list of hits each.
    fn query_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = queries
            .cast::<PyList>()
            .map_err(|_| PyValueError::new_err("queries must be a list of query dicts"))?;
        let qs = list
            .iter()
            .map(|q| convert::query_of(&q))
            .collect::<PyResult<Vec<_>>>()?;
        let c = self.handle()?;
        let all = py.detach(|| c.query_batch(&qs)).or_raise()?;
        let rows = all
            .iter()
            .map(|hits| {
                let items = hits
                    .iter()
                    .map(|h| convert::hit(py, h))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// Makes every write acknowledged before it durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let c = self.handle()?;
        py.detach(|| c.flush()).or_raise()
    }

    /// On a read-only open: takes the newest state on disk (a reader sees the collection as
    /// of its first use or its last refresh). Nothing happens on an open for writing.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let c = self.handle()?;
        py.detach(|| c.refresh()).or_raise()
    }

    /// Links the points waiting for the graph and folds the log into the checkpoint.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let c = self.handle()?;
        py.detach(|| c.checkpoint()).or_raise()
    }

    /// Links up to `max_points` of the points waiting for the graph (all of them with None);
    /// returns how many still wait.
    #[pyo3(signature = (max_points=None))]
    fn optimize(&self, py: Python<'_>, max_points: Option<usize>) -> PyResult<usize> {
        let c = self.handle()?;
        py.detach(|| c.optimize(max_points)).or_raise()
    }

    /// Rewrites the collection densely (deleted points dropped, disk given back): a dict.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.handle()?;
        let r = py.detach(|| c.compact()).or_raise()?;
        convert::report(py, &r)
    }

    /// Checks every checksum and cross-reference (read-only): a dict with `problems`.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.handle()?;
        let r = py.detach(|| c.check()).or_raise()?;
        convert::report(py, &r)
    }

    /// The collection's counters: a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.handle()?;
        let s = py.detach(|| c.stats()).or_raise()?;
        convert::report(py, &s)
    }
}
