//! Sparse vectors: the vector type and its checks (`vector.rs`), one field's vectors and
//! inverted index (`index.rs`), a collection's fields (`fields.rs`), and the file that holds
//! them at a checkpoint (`file.rs`).

mod fields;
pub(crate) mod file;
mod index;
mod vector;

pub(crate) use fields::SparseFields;
pub(crate) use index::SparseIndex;
pub use vector::{MAX_SPARSE_NNZ, SparseVector};
