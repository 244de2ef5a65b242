//! The Python boundary, converted in one place: ids, vectors (numpy), payloads and filters
//! (dicts, through the `json` module so that the engine validates exactly what the CLI's JSON
//! would give it), and results back to Python objects.

use crate::errors::OrRaise;
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;
use veles::{Filter, Hit, Point};

/// `obj` as JSON text (`json.dumps`, NaN and infinity refused).
fn dumps(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let json = obj.py().import("json")?;
    let kwargs = PyDict::new(obj.py());
    kwargs.set_item("allow_nan", false)?;
    match json.call_method("dumps", (obj,), Some(&kwargs)) {
        Ok(text) => text.extract(),
        Err(e) => Err(PyTypeError::new_err(format!("{what} is not JSON: {e}"))),
    }
}

/// A JSON value from Python (dicts, lists, str, int, float, bool, None).
pub(crate) fn json_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let text = dumps(obj, what)?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A JSON value (as compact text) back to a Python object.
pub(crate) fn py_of_json<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (v.to_string(),))
}

/// An optional filter given as the CLI's JSON form (`{"key": "year", "gte": 2020}`).
pub(crate) fn filter_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Filter>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => Filter::from_json(&json_of(o, "the filter")?)
            .or_raise()
            .map(Some),
    }
}

/// Point ids: a sequence of non-negative integers, or a numpy array of integers.
pub(crate) fn ids_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    let np = obj.py().import("numpy")?;
    if obj.is_instance(&np.getattr("ndarray")?)? {
        let kind: String = obj.getattr("dtype")?.getattr("kind")?.extract()?;
        if kind != "u" && kind != "i" {
            return Err(PyTypeError::new_err(format!(
                "ids must be integers, got an array of dtype {}",
                obj.getattr("dtype")?.str()?
            )));
        }
        if kind == "i"
            && obj
                .call_method0("min")
                .is_ok_and(|m| m.lt(0).unwrap_or(false))
        {
            return Err(PyValueError::new_err("ids must not be negative"));
        }
        let flat = np.call_method1("ascontiguousarray", (obj,))?;
        let flat = flat
            .call_method1("astype", ("uint64",))?
            .call_method0("ravel")?;
        return flat.call_method0("tolist")?.extract();
    }
    obj.extract::<Vec<u64>>().map_err(|_| {
        PyTypeError::new_err("ids must be a sequence of non-negative integers (each below 2**64)")
    })
}

/// The rows of a 2-d array of numbers as float32 (any C-contiguous buffer; other dtypes are
/// converted), with its shape.
pub(crate) fn matrix(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f32>, usize, usize)> {
    // A C-contiguous float32 array is read as it is, without a call into numpy.
    if let Ok(a) = obj.cast::<PyArray2<f32>>() {
        let a = a.readonly();
        if let Ok(rows) = a.as_slice() {
            return Ok((rows.to_vec(), a.shape()[0], a.shape()[1]));
        }
    }
    let arr = as_float32(obj, what)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 2 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a 2-d array (one row per vector), got {ndim} dimension(s)"
        )));
    }
    let arr: PyReadonlyArray2<'_, f32> = arr.extract()?;
    let (rows, cols) = (arr.shape()[0], arr.shape()[1]);
    Ok((arr.as_slice()?.to_vec(), rows, cols))
}

/// One vector (a 1-d array of numbers) as float32.
pub(crate) fn vector(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    if let Ok(a) = obj.cast::<PyArray1<f32>>()
        && let Ok(v) = a.readonly().as_slice()
    {
        return Ok(v.to_vec());
    }
    let arr = as_float32(obj, what)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a 1-d array, got {ndim} dimension(s) (use search_batch for many)"
        )));
    }
    let arr: PyReadonlyArray1<'_, f32> = arr.extract()?;
    Ok(arr.as_slice()?.to_vec())
}

/// `np.ascontiguousarray(obj, dtype=float32)`, with a `TypeError` for what is not numbers.
fn as_float32<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = obj.py().import("numpy")?;
    let kwargs = PyDict::new(obj.py());
    kwargs.set_item("dtype", np.getattr("float32")?)?;
    np.call_method("ascontiguousarray", (obj,), Some(&kwargs))
        .map_err(|e| PyTypeError::new_err(format!("{what} must be numbers: {e}")))
}

/// The payloads of an upsert: `None`, or one dict (or `None`) per vector.
pub(crate) fn payloads_of(
    obj: Option<&Bound<'_, PyAny>>,
    n: usize,
) -> PyResult<Vec<Option<Value>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(vec![None; n]);
    };
    let list = obj
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("payloads must be a list of dicts (or None)"))?;
    if list.len() != n {
        return Err(PyValueError::new_err(format!(
            "{} payloads for {n} vectors",
            list.len()
        )));
    }
    list.iter()
        .map(|p| match p.is_none() {
            true => Ok(None),
            false => json_of(&p, "a payload").map(Some),
        })
        .collect()
}

/// The sparse vectors of an upsert: `None`, or per vector `None` or a dict `{field:
/// {"indices": [...], "values": [...]}}`.
pub(crate) fn sparse_of(
    obj: Option<&Bound<'_, PyAny>>,
    n: usize,
) -> PyResult<Vec<Vec<(String, veles::SparseVector)>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(vec![Vec::new(); n]);
    };
    let list = obj
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("sparse must be a list of dicts (or None)"))?;
    if list.len() != n {
        return Err(PyValueError::new_err(format!(
            "{} sparse entries for {n} vectors",
            list.len()
        )));
    }
    list.iter()
        .map(|item| {
            if item.is_none() {
                return Ok(Vec::new());
            }
            match json_of(&item, "sparse vectors")? {
                Value::Object(fields) => fields
                    .into_iter()
                    .map(|(name, v)| {
                        veles::SparseVector::from_json(&v)
                            .map(|v| (name, v))
                            .map_err(crate::errors::to_py)
                    })
                    .collect(),
                _ => Err(PyTypeError::new_err(
                    "sparse vectors are a dict {field: {\"indices\": [...], \"values\": [...]}}",
                )),
            }
        })
        .collect()
}

/// Points from ids, rows, payloads and sparse vectors.
pub(crate) fn points(
    ids: Vec<u64>,
    rows: &[f32],
    dim: usize,
    payloads: Vec<Option<Value>>,
    sparse: Vec<Vec<(String, veles::SparseVector)>>,
) -> Vec<Point> {
    ids.into_iter()
        .zip(rows.chunks_exact(dim.max(1)))
        .zip(payloads)
        .zip(sparse)
        .map(|(((id, v), p), s)| {
            let mut point = Point::new(id, v.to_vec()).with_payload_opt(p);
            point.sparse = s;
            point
        })
        .collect()
}

/// Sparse field declarations: `None`, or a dict `{name: {"idf": bool}}` (the inner dict may
/// be empty).
pub(crate) fn sparse_fields(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<veles::SparseField>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let Value::Object(fields) = json_of(obj, "sparse")? else {
        return Err(PyTypeError::new_err(
            "sparse must be a dict {name: {\"idf\": bool}}",
        ));
    };
    fields
        .into_iter()
        .map(|(name, v)| {
            let idf = match v.get("idf") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(PyTypeError::new_err(format!(
                        "sparse field {name:?}: idf takes True or False, not {other}"
                    )));
                }
            };
            Ok(veles::SparseField::new(name, idf))
        })
        .collect()
}

/// A query from its JSON form as a dict (`veles::Query::from_json`).
pub(crate) fn query_of(obj: &Bound<'_, PyAny>) -> PyResult<veles::Query> {
    veles::Query::from_json(&json_of(obj, "a query")?).map_err(crate::errors::to_py)
}

/// A hit as a dict: `{"id", "score", "payload"}` (and `"vector"` when it has one). The keys are
/// interned: a search builds `k` of these while it holds the GIL.
pub(crate) fn hit<'py>(py: Python<'py>, h: &Hit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), h.id)?;
    d.set_item(intern!(py, "score"), h.score)?;
    let payload = match &h.payload {
        Some(p) => py_of_json(py, p)?,
        None => py.None().into_bound(py),
    };
    d.set_item(intern!(py, "payload"), payload)?;
    if let Some(v) = &h.vector {
        d.set_item(intern!(py, "vector"), numpy::PyArray1::from_slice(py, v))?;
    }
    Ok(d)
}

/// A point as a dict: `{"id", "vector", "payload"}` (the vector as a float32 array, or `None`
/// when left out).
pub(crate) fn point<'py>(py: Python<'py>, p: &Point) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", p.id)?;
    match p.vector.is_empty() {
        true => d.set_item("vector", py.None())?,
        false => d.set_item("vector", numpy::PyArray1::from_slice(py, &p.vector))?,
    }
    let payload = match &p.payload {
        Some(v) => py_of_json(py, v)?,
        None => py.None().into_bound(py),
    };
    d.set_item("payload", payload)?;
    if !p.sparse.is_empty() {
        let sparse = PyDict::new(py);
        for (name, v) in &p.sparse {
            sparse.set_item(name, py_of_json(py, &v.to_json())?)?;
        }
        d.set_item("sparse", sparse)?;
    }
    Ok(d)
}

/// A report the engine serialises (stats, check, compaction) as a dict.
pub(crate) fn report<'py>(
    py: Python<'py>,
    r: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(r).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py_of_json(py, &v)
}

/// The `ids` and `scores` arrays of a batch.
type Arrays<'py> = (Bound<'py, PyArray2<u64>>, Bound<'py, PyArray2<f32>>);

/// The hits of a batch as `ids` (uint64) and `scores` (float32) arrays of `[n, k]`; a query
/// with fewer than `k` hits pads with id `2**64 - 1` and score NaN.
pub(crate) fn batch_arrays<'py>(
    py: Python<'py>,
    hits: &[Vec<Hit>],
    k: usize,
) -> PyResult<Arrays<'py>> {
    let mut ids = vec![u64::MAX; hits.len() * k];
    let mut scores = vec![f32::NAN; hits.len() * k];
    for (q, row) in hits.iter().enumerate() {
        for (i, h) in row.iter().take(k).enumerate() {
            ids[q * k + i] = h.id;
            scores[q * k + i] = h.score;
        }
    }
    let shape = [hits.len(), k];
    let ids = numpy::PyArray1::from_vec(py, ids).reshape(shape)?;
    let scores = numpy::PyArray1::from_vec(py, scores).reshape(shape)?;
    Ok((ids, scores))
}
