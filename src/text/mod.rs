//! Full text: analysis (tokenizers, case, folding, stop words, stemming), the text index of
//! a payload key, BM25 over it, and the file that saves the indexes at a checkpoint.

mod analyze;
mod config;
pub(crate) mod file;
mod fold;
mod index;
mod stopwords;

pub(crate) use analyze::Analyzer;
pub use config::{Language, MatchMode, TextConfig, TextMatch, Tokenizer};
pub use index::Bm25;
pub(crate) use index::{TextIndex, evaluate};
