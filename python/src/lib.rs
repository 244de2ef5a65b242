//! `import veles`: the Veles engine as a Python extension module.
//!
//! - `database.rs`, `collection.rs`: the classes, each call with the GIL released.
//! - `convert.rs`: the one place Python values become the engine's and back.
//! - `errors.rs`: the exception hierarchy.
//! - `session.rs`: what a database's objects share, so that `close()` lets them all go.
//! - `bm25.rs`: text as sparse BM25 vectors.

mod bm25;
mod collection;
mod convert;
mod database;
mod errors;
mod session;

use database::Database;
use errors::OrRaise;
use pyo3::prelude::*;

/// Opens (creating it when it is new) the database in directory `path`; `read_only` opens an
/// existing one for reading beside a writer's readers. One writer or many readers per
/// directory, across processes (`Locked` otherwise).
#[pyfunction]
#[pyo3(signature = (path, read_only=false))]
fn open(py: Python<'_>, path: std::path::PathBuf, read_only: bool) -> PyResult<Database> {
    let inner = py
        .detach(|| match read_only {
            true => veles::Database::open_read_only(&path),
            false => veles::Database::open(&path),
        })
        .or_raise()?;
    Ok(Database::new(inner))
}

/// A database held in memory (nothing is written).
#[pyfunction]
fn in_memory() -> Database {
    Database::new(veles::Database::in_memory())
}

#[pymodule]
#[pyo3(name = "veles")]
fn veles_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(in_memory, m)?)?;
    m.add_class::<Database>()?;
    m.add_class::<collection::Collection>()?;
    m.add_class::<collection::BatchHits>()?;
    m.add_class::<bm25::Bm25>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
