//! The engine's errors as Python exceptions: `veles.VelesError` and one subclass per kind of
//! `veles::Error`, each carrying the engine's message unchanged.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    veles,
    VelesError,
    PyException,
    "Every error of the Veles engine."
);
create_exception!(
    veles,
    DimensionMismatch,
    VelesError,
    "A vector of the wrong dimension."
);
create_exception!(
    veles,
    InvalidVector,
    VelesError,
    "A vector the metric cannot use (NaN, infinite, zero under cosine)."
);
create_exception!(
    veles,
    InvalidName,
    VelesError,
    "A collection name outside [A-Za-z0-9_-]{1,64}."
);
create_exception!(
    veles,
    InvalidConfig,
    VelesError,
    "A collection configuration that cannot be used."
);
create_exception!(
    veles,
    InvalidArgument,
    VelesError,
    "An argument the engine refuses."
);
create_exception!(
    veles,
    InvalidFilter,
    VelesError,
    "A filter that does not parse or validate."
);
create_exception!(
    veles,
    InvalidPayload,
    VelesError,
    "A payload that is not a JSON object within the limits."
);
create_exception!(
    veles,
    LimitExceeded,
    VelesError,
    "A request past one of the engine's limits."
);
create_exception!(
    veles,
    CollectionNotFound,
    VelesError,
    "No collection of that name."
);
create_exception!(
    veles,
    CollectionExists,
    VelesError,
    "A collection of that name exists."
);
create_exception!(
    veles,
    ReadOnly,
    VelesError,
    "A write to a database opened read-only."
);
create_exception!(
    veles,
    StorageError,
    VelesError,
    "Reading or writing the files failed."
);
create_exception!(
    veles,
    Corrupted,
    StorageError,
    "A file is damaged (the message names it and the offset)."
);
create_exception!(
    veles,
    Locked,
    StorageError,
    "Another process holds the database."
);

/// The exception of an engine error: its kind's class, with the engine's `Display` text.
pub(crate) fn to_py(e: veles::Error) -> PyErr {
    let text = e.to_string();
    match e.kind() {
        "dimension-mismatch" => DimensionMismatch::new_err(text),
        "invalid-vector" => InvalidVector::new_err(text),
        "invalid-name" => InvalidName::new_err(text),
        "invalid-config" => InvalidConfig::new_err(text),
        "invalid-argument" => InvalidArgument::new_err(text),
        "invalid-filter" => InvalidFilter::new_err(text),
        "invalid-payload" => InvalidPayload::new_err(text),
        "limit-exceeded" => LimitExceeded::new_err(text),
        "not-found" => CollectionNotFound::new_err(text),
        "already-exists" => CollectionExists::new_err(text),
        "read-only" => ReadOnly::new_err(text),
        "corrupted" => Corrupted::new_err(text),
        "locked" => Locked::new_err(text),
        "io" | "previous-io" | "unsupported-version" => StorageError::new_err(text),
        _ => VelesError::new_err(text),
    }
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in [
        ("VelesError", py.get_type::<VelesError>()),
        ("DimensionMismatch", py.get_type::<DimensionMismatch>()),
        ("InvalidVector", py.get_type::<InvalidVector>()),
        ("InvalidName", py.get_type::<InvalidName>()),
        ("InvalidConfig", py.get_type::<InvalidConfig>()),
        ("InvalidArgument", py.get_type::<InvalidArgument>()),
        ("InvalidFilter", py.get_type::<InvalidFilter>()),
        ("InvalidPayload", py.get_type::<InvalidPayload>()),
        ("LimitExceeded", py.get_type::<LimitExceeded>()),
        ("CollectionNotFound", py.get_type::<CollectionNotFound>()),
        ("CollectionExists", py.get_type::<CollectionExists>()),
        ("ReadOnly", py.get_type::<ReadOnly>()),
        ("StorageError", py.get_type::<StorageError>()),
        ("Corrupted", py.get_type::<Corrupted>()),
        ("Locked", py.get_type::<Locked>()),
    ] {
        m.add(name, class)?;
    }
    Ok(())
}

/// `Result` of an engine call, with its error as the exception.
pub(crate) trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for veles::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
