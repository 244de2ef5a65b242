//! Full text: analysis (tokenizers, case, folding, stop words, stemming), the text index of
//! a payload key, and BM25 over it.

mod analyze;
mod config;
mod fold;
mod index;
mod stopwords;

pub(crate) use analyze::Analyzer;
pub use config::{Language, MatchMode, TextConfig, TextMatch, Tokenizer};
pub use index::Bm25;
pub(crate) use index::{TextIndex, evaluate};
