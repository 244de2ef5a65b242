//! Full text: analysis (tokenizers, case, folding, stop words, stemming), the text index of
//! a payload key, BM25 over it, the file that saves the indexes at a checkpoint, and text as
//! sparse BM25 vectors for sparse fields (`embed.rs`).

mod analyze;
mod config;
mod embed;
pub(crate) mod file;
mod fold;
mod index;
mod stopwords;

pub(crate) use analyze::Analyzer;
pub use config::{Language, MatchMode, TextConfig, TextMatch, Tokenizer};
pub use embed::{Bm25Embedder, term_dimension};
pub use index::Bm25;
pub(crate) use index::{TextIndex, evaluate};
