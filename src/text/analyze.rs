//! Analysis: a string as the terms a text index holds, each with its position.
//!
//! Positions count the tokenizer's words (and CJK characters) before any is dropped, so a
//! phrase keeps its gaps: `"state of the art"` and `"state art"` differ even when `of` and
//! `the` are stop words. Documents and queries go through the same steps; only the prefix
//! tokenizer differs between them (a document gives each word's prefixes, a query its words).

use super::config::{Language, TextConfig, Tokenizer};
use super::{fold, stopwords};
use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// Whether `c` is written without spaces between words: Han ideographs, kana, Hangul.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F // halfwidth Katakana
        | 0x20000..=0x3FFFF) // CJK Extensions B and later
}

/// Punctuation UAX #29 leaves inside a word (`.`, `:`, apostrophes), where the word
/// tokenizer cuts it; the underscore joins words, as in identifiers.
fn inner_punctuation(c: char) -> bool {
    (c.is_ascii_punctuation() && c != '_') || matches!(c, '\u{2019}' | '\u{00B7}' | '\u{2027}')
}

/// What the analysis is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Document,
    Query,
}

/// A config ready to run: its stemmer made once.
pub(crate) struct Analyzer {
    config: TextConfig,
    stemmer: Option<Stemmer>,
    stopwords: &'static [&'static str],
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("config", &self.config)
            .finish()
    }
}

fn algorithm(l: Language) -> Algorithm {
    match l {
        Language::English => Algorithm::English,
        Language::French => Algorithm::French,
        Language::German => Algorithm::German,
        Language::Spanish => Algorithm::Spanish,
        Language::Italian => Algorithm::Italian,
        Language::Portuguese => Algorithm::Portuguese,
        Language::Dutch => Algorithm::Dutch,
        Language::Swedish => Algorithm::Swedish,
        Language::Norwegian => Algorithm::Norwegian,
        Language::Danish => Algorithm::Danish,
        Language::Finnish => Algorithm::Finnish,
        Language::Russian => Algorithm::Russian,
    }
}

impl Analyzer {
    pub(crate) fn new(config: TextConfig) -> Analyzer {
        Analyzer {
            config,
            stemmer: config.stemmer.map(|l| Stemmer::create(algorithm(l))),
            stopwords: config.stopwords.map_or(&[], stopwords::list),
        }
    }

    pub(crate) fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Calls `emit(term, position)` for each term of `text`, in order.
    pub(crate) fn run(&self, text: &str, side: Side, emit: &mut dyn FnMut(&str, u32)) {
        let mut term = String::new();
        let mut word = |w: &str, pos: u32| self.word(w, pos, side, &mut term, emit);
        match self.config.tokenizer {
            Tokenizer::Whitespace => {
                for (pos, w) in text.split_whitespace().enumerate() {
                    word(w, pos as u32);
                }
            }
            Tokenizer::Word | Tokenizer::Prefix | Tokenizer::Cjk => {
                let unigrams = self.config.tokenizer == Tokenizer::Cjk;
                let mut pos = 0u32;
                // A run of CJK characters: where it ends in `text`, and its characters.
                let mut run: (usize, Vec<char>) = (0, Vec::new());
                let flush = |run: &mut (usize, Vec<char>),
                             pos: &mut u32,
                             word: &mut dyn FnMut(&str, u32)| {
                    let chars = std::mem::take(&mut run.1);
                    let mut buf = [0u8; 8];
                    for (i, pair) in chars.windows(2).enumerate() {
                        let n = pair[0].encode_utf8(&mut buf).len();
                        let m = pair[1].encode_utf8(&mut buf[n..]).len();
                        let s = std::str::from_utf8(&buf[..n + m]).expect("two chars");
                        word(s, *pos + i as u32);
                    }
                    if unigrams || chars.len() == 1 {
                        for (i, c) in chars.iter().enumerate() {
                            word(c.encode_utf8(&mut buf), *pos + i as u32);
                        }
                    }
                    *pos += chars.len() as u32;
                };
                for (at, w) in text.unicode_word_indices() {
                    if w.chars().all(is_cjk) {
                        if !run.1.is_empty() && run.0 != at {
                            flush(&mut run, &mut pos, &mut word);
                        }
                        run.1.extend(w.chars());
                        run.0 = at + w.len();
                        continue;
                    }
                    if !run.1.is_empty() {
                        flush(&mut run, &mut pos, &mut word);
                    }
                    // UAX #29 keeps `file.txt`, `can't` and `3.8` whole; each part is a word
                    // here, so a query for `txt` finds `file.txt`.
                    for part in w.split(inner_punctuation).filter(|p| !p.is_empty()) {
                        word(part, pos);
                        pos += 1;
                    }
                }
                if !run.1.is_empty() {
                    flush(&mut run, &mut pos, &mut word);
                }
            }
        }
    }

    /// The terms of `text`, in order, with positions.
    pub(crate) fn terms(&self, text: &str, side: Side) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        self.run(text, side, &mut |t, p| out.push((t.to_string(), p)));
        out
    }

    /// One word through the filters: case, folding, stop words, stemming, length; then its
    /// prefixes for a document under the prefix tokenizer.
    fn word(
        &self,
        w: &str,
        pos: u32,
        side: Side,
        term: &mut String,
        emit: &mut dyn FnMut(&str, u32),
    ) {
        let c = &self.config;
        term.clear();
        for ch in w.chars() {
            match c.ascii_folding.then(|| fold::fold(ch)).flatten() {
                Some(s) if c.lowercase => term.extend(s.chars().map(|x| x.to_ascii_lowercase())),
                Some(s) => term.push_str(s),
                None if c.lowercase => term.extend(ch.to_lowercase()),
                None => term.push(ch),
            }
        }
        if self.stopwords.binary_search(&term.as_str()).is_ok() {
            return;
        }
        if let Some(s) = &self.stemmer
            && let std::borrow::Cow::Owned(stemmed) = s.stem(term)
        {
            *term = stemmed;
        }
        let len = term.chars().count();
        let (min, max) = (c.min_len as usize, c.max_len as usize);
        match (c.tokenizer, side) {
            (Tokenizer::Prefix, _) if len < min => {}
            (Tokenizer::Prefix, Side::Document) => {
                let ends = term.char_indices().map(|(i, _)| i).chain([term.len()]);
                for end in ends.skip(min).take(max + 1 - min) {
                    emit(&term[..end], pos);
                }
            }
            (Tokenizer::Prefix, Side::Query) => {
                let end = term.char_indices().nth(max).map_or(term.len(), |(i, _)| i);
                emit(&term[..end], pos);
            }
            _ if (min..=max).contains(&len) => emit(term, pos),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::config::Tokenizer;

    fn terms(c: TextConfig, text: &str, side: Side) -> Vec<(String, u32)> {
        Analyzer::new(c).terms(text, side)
    }

    fn words(c: TextConfig, text: &str) -> Vec<String> {
        terms(c, text, Side::Document)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    #[test]
    fn the_default_lowercases_folds_drops_stop_words_and_stems() {
        let got = terms(
            TextConfig::default(),
            "The Cafés are RUNNING fast-ish, naïvely! setup.py Bob's",
            Side::Document,
        );
        let want = [
            ("cafe", 1),
            ("run", 3),
            ("fast", 4),
            ("ish", 5),
            ("naiv", 6),
            ("setup", 7),
            ("py", 8),
            ("bob", 9),
        ];
        let want: Vec<_> = want.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn plain_whitespace_keeps_everything() {
        let c = TextConfig::plain(Tokenizer::Whitespace);
        assert_eq!(
            words(c, " The  fast-ish, dog "),
            ["The", "fast-ish,", "dog"]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_and_the_cjk_tokenizer_adds_characters() {
        let c = TextConfig::plain(Tokenizer::Word);
        assert_eq!(
            terms(c, "我爱北京 tokyo 東京タワー 字", Side::Document),
            [
                ("我爱", 0),
                ("爱北", 1),
                ("北京", 2),
                ("tokyo", 4),
                ("東京", 5),
                ("京タ", 6),
                ("タワ", 7),
                ("ワー", 8),
                ("字", 10)
            ]
            .map(|(t, p)| (t.to_string(), p))
        );
        let cjk = TextConfig::plain(Tokenizer::Cjk);
        assert_eq!(words(cjk, "東京"), ["東京", "東", "京"]);
        // Korean words are runs too.
        assert_eq!(words(c, "안녕하세요"), ["안녕", "녕하", "하세", "세요"]);
    }

    #[test]
    fn prefixes_for_documents_words_for_queries() {
        let c = TextConfig::plain(Tokenizer::Prefix).with_lengths(2, 4);
        assert_eq!(words(c, "search a"), ["se", "sea", "sear"]);
        let q = terms(c, "searching se", Side::Query);
        assert_eq!(q, [("sear".to_string(), 0), ("se".to_string(), 1)]);
    }

    #[test]
    fn lengths_bound_terms() {
        let c = TextConfig::plain(Tokenizer::Word).with_lengths(3, 5);
        assert_eq!(words(c, "a bb ccc dddddd eeeee"), ["ccc", "eeeee"]);
    }
}
