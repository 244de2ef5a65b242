//! How a text index turns a string into terms: the tokenizer and its filters, and their bytes
//! in a log record and a checkpoint.

use crate::error::{Error, Result};
use std::fmt;

/// How a string is cut into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Tokenizer {
    /// Unicode word boundaries (UAX #29); a run of Chinese, Japanese or Korean characters
    /// becomes its overlapping character bigrams (a lone character stays one term), so CJK
    /// text, which has no spaces, is searchable by its words.
    Word,
    /// Runs of characters between whitespace, punctuation kept.
    Whitespace,
    /// As `Word`, and each word is indexed by its prefixes (`min_len` characters up to
    /// `max_len`), so a query word matches every word it begins.
    Prefix,
    /// As `Word`, and CJK runs give their single characters as well as their bigrams: a
    /// one-character query word finds the text too.
    Cjk,
}

impl Tokenizer {
    /// Every tokenizer.
    pub const ALL: [Tokenizer; 4] = [
        Tokenizer::Word,
        Tokenizer::Whitespace,
        Tokenizer::Prefix,
        Tokenizer::Cjk,
    ];

    /// The tokenizer's name in JSON and WIT (`word`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::Word => "word",
            Tokenizer::Whitespace => "whitespace",
            Tokenizer::Prefix => "prefix",
            Tokenizer::Cjk => "cjk",
        }
    }

    fn code(self) -> u8 {
        match self {
            Tokenizer::Word => 1,
            Tokenizer::Whitespace => 2,
            Tokenizer::Prefix => 3,
            Tokenizer::Cjk => 4,
        }
    }
}

/// A language for stop words and stemming (Snowball stemmers; stop words for English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// English (Porter 2 stemmer, English stop words).
    English,
    /// French.
    French,
    /// German.
    German,
    /// Spanish.
    Spanish,
    /// Italian.
    Italian,
    /// Portuguese.
    Portuguese,
    /// Dutch.
    Dutch,
    /// Swedish.
    Swedish,
    /// Norwegian.
    Norwegian,
    /// Danish.
    Danish,
    /// Finnish.
    Finnish,
    /// Russian.
    Russian,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 12] = [
        Language::English,
        Language::French,
        Language::German,
        Language::Spanish,
        Language::Italian,
        Language::Portuguese,
        Language::Dutch,
        Language::Swedish,
        Language::Norwegian,
        Language::Danish,
        Language::Finnish,
        Language::Russian,
    ];

    /// The language's name in JSON and WIT (`english`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Language::English => "english",
            Language::French => "french",
            Language::German => "german",
            Language::Spanish => "spanish",
            Language::Italian => "italian",
            Language::Portuguese => "portuguese",
            Language::Dutch => "dutch",
            Language::Swedish => "swedish",
            Language::Norwegian => "norwegian",
            Language::Danish => "danish",
            Language::Finnish => "finnish",
            Language::Russian => "russian",
        }
    }

    /// The on-disk code (format.md). Never reorder.
    fn code(self) -> u8 {
        Language::ALL
            .iter()
            .position(|&l| l == self)
            .expect("every language is listed") as u8
            + 1
    }
}

/// A text index's analysis: what a string becomes before it is indexed or looked up. The
/// same analysis runs on documents and on queries.
///
/// The default (what `IndexKind::Text` without a config gets): the word tokenizer,
/// lowercase, ASCII folding, English stop words and the English Snowball stemmer, tokens of
/// 1 to 40 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub struct TextConfig {
    /// How text is cut into words.
    pub tokenizer: Tokenizer,
    /// Lowercase every term (Unicode lowercase).
    pub lowercase: bool,
    /// Fold Latin letters with diacritics to ASCII (`é` → `e`, `ß` → `ss`).
    pub ascii_folding: bool,
    /// Drop this language's stop words (English has a list; other languages none yet).
    pub stopwords: Option<Language>,
    /// Stem with this language's Snowball stemmer.
    pub stemmer: Option<Language>,
    /// Terms shorter than this (in characters) are dropped; for `prefix`, the shortest prefix.
    pub min_len: u8,
    /// Terms longer than this are dropped; for `prefix`, the longest prefix.
    pub max_len: u8,
}

impl Default for TextConfig {
    fn default() -> TextConfig {
        TextConfig {
            tokenizer: Tokenizer::Word,
            lowercase: true,
            ascii_folding: true,
            stopwords: Some(Language::English),
            stemmer: Some(Language::English),
            min_len: 1,
            max_len: 40,
        }
    }
}

/// The bytes of a config: tokenizer, flags (bit 0 lowercase, bit 1 ASCII folding), stop-word
/// language, stemmer language (0: none), min length, max length.
pub(crate) const CONFIG_BYTES: usize = 6;

impl TextConfig {
    /// No filters at all: the tokenizer's words as they are.
    pub fn plain(tokenizer: Tokenizer) -> TextConfig {
        TextConfig {
            tokenizer,
            lowercase: false,
            ascii_folding: false,
            stopwords: None,
            stemmer: None,
            min_len: 1,
            max_len: 40,
        }
    }

    /// Sets the tokenizer.
    pub fn with_tokenizer(mut self, tokenizer: Tokenizer) -> Self {
        self.tokenizer = tokenizer;
        self
    }

    /// Sets whether words are lowercased.
    pub fn with_lowercase(mut self, on: bool) -> Self {
        self.lowercase = on;
        self
    }

    /// Sets whether accented Latin letters fold to ASCII.
    pub fn with_ascii_folding(mut self, on: bool) -> Self {
        self.ascii_folding = on;
        self
    }

    /// Sets the stop-word list (`None`: none).
    pub fn with_stopwords(mut self, language: Option<Language>) -> Self {
        self.stopwords = language;
        self
    }

    /// Sets the stemmer (`None`: none).
    pub fn with_stemmer(mut self, language: Option<Language>) -> Self {
        self.stemmer = language;
        self
    }

    /// Sets the shortest and longest words kept (and the prefix lengths of `prefix`).
    pub fn with_lengths(mut self, min_len: u8, max_len: u8) -> Self {
        self.min_len = min_len;
        self.max_len = max_len;
        self
    }

    /// Refuses a configuration that cannot work, with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn validate(&self) -> Result<()> {
        if self.min_len == 0 || self.min_len > self.max_len {
            return Err(Error::InvalidConfig(format!(
                "text index term lengths must satisfy 1 <= min ({}) <= max ({})",
                self.min_len, self.max_len
            )));
        }
        Ok(())
    }

    pub(crate) fn encode(&self) -> [u8; CONFIG_BYTES] {
        let lang = |l: Option<Language>| l.map_or(0, Language::code);
        [
            self.tokenizer.code(),
            u8::from(self.lowercase) | u8::from(self.ascii_folding) << 1,
            lang(self.stopwords),
            lang(self.stemmer),
            self.min_len,
            self.max_len,
        ]
    }

    /// The config of [`TextConfig::encode`]'s bytes; `None` when they are not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<TextConfig> {
        let [t, flags, stop, stem, min_len, max_len] = *bytes else {
            return None;
        };
        let lang = |c: u8| -> Option<Option<Language>> {
            match c {
                0 => Some(None),
                c => Language::ALL.get(c as usize - 1).copied().map(Some),
            }
        };
        let c = TextConfig {
            tokenizer: Tokenizer::ALL.into_iter().find(|k| k.code() == t)?,
            lowercase: flags & 1 != 0,
            ascii_folding: flags & 2 != 0,
            stopwords: lang(stop)?,
            stemmer: lang(stem)?,
            min_len,
            max_len,
        };
        (flags < 4 && c.validate().is_ok()).then_some(c)
    }

    /// Parses the JSON form the CLI and the component take: `{"tokenizer": "word",
    /// "lowercase": true, "ascii_folding": true, "stopwords": "english" | null, "stemmer":
    /// "english" | null, "min_len": 1, "max_len": 40}`, every member optional (defaults as
    /// [`TextConfig::default`]); `"language": "english"` sets both stop words and stemmer.
    pub fn from_json(v: &serde_json::Value) -> Result<TextConfig> {
        let bad = |m: String| Error::InvalidConfig(format!("text index config: {m}"));
        let obj = v
            .as_object()
            .ok_or_else(|| bad(format!("expected a JSON object, got {v}")))?;
        let mut c = TextConfig::default();
        let lang = |x: &serde_json::Value| -> Result<Option<Language>> {
            match x {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) if s == "none" => Ok(None),
                serde_json::Value::String(s) => Language::ALL
                    .into_iter()
                    .find(|l| l.name() == s)
                    .map(Some)
                    .ok_or_else(|| bad(format!("unknown language {s:?}"))),
                other => Err(bad(format!("a language is a string or null, got {other}"))),
            }
        };
        let flag = |k: &str, x: &serde_json::Value| {
            x.as_bool()
                .ok_or_else(|| bad(format!("{k:?} takes true or false")))
        };
        let len = |k: &str, x: &serde_json::Value| {
            x.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| bad(format!("{k:?} takes a whole number up to 255")))
        };
        for (k, x) in obj {
            match k.as_str() {
                "tokenizer" => {
                    let name = x.as_str().unwrap_or_default();
                    c.tokenizer = Tokenizer::ALL
                        .into_iter()
                        .find(|t| t.name() == name)
                        .ok_or_else(|| {
                            bad(format!(
                                "unknown tokenizer {x} (expected word, whitespace, prefix or cjk)"
                            ))
                        })?;
                }
                "lowercase" => c.lowercase = flag(k, x)?,
                "ascii_folding" => c.ascii_folding = flag(k, x)?,
                "stopwords" => c.stopwords = lang(x)?,
                "stemmer" => c.stemmer = lang(x)?,
                "language" => {
                    c.stopwords = lang(x)?;
                    c.stemmer = c.stopwords;
                }
                "min_len" => c.min_len = len(k, x)?,
                "max_len" => c.max_len = len(k, x)?,
                other => return Err(bad(format!("unknown member {other:?}"))),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// The JSON form ([`TextConfig::from_json`] reads it back).
    pub fn to_json(&self) -> serde_json::Value {
        let lang = |l: Option<Language>| l.map(Language::name);
        serde_json::json!({
            "tokenizer": self.tokenizer.name(),
            "lowercase": self.lowercase,
            "ascii_folding": self.ascii_folding,
            "stopwords": lang(self.stopwords),
            "stemmer": lang(self.stemmer),
            "min_len": self.min_len,
            "max_len": self.max_len,
        })
    }
}

impl fmt::Display for TextConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_survives_its_bytes_and_its_json() {
        let configs = [
            TextConfig::default(),
            TextConfig::plain(Tokenizer::Whitespace),
            TextConfig::default()
                .with_tokenizer(Tokenizer::Prefix)
                .with_lengths(2, 12)
                .with_stemmer(Some(Language::Russian))
                .with_stopwords(None),
            TextConfig::plain(Tokenizer::Cjk).with_ascii_folding(true),
        ];
        for c in configs {
            assert_eq!(TextConfig::decode(&c.encode()), Some(c));
            assert_eq!(TextConfig::from_json(&c.to_json()).unwrap(), c);
        }
        assert_eq!(TextConfig::decode(&[9, 0, 0, 0, 1, 40]), None);
        assert_eq!(TextConfig::decode(&[1, 0, 0, 0, 3, 2]), None);
        assert_eq!(TextConfig::decode(&[1, 0, 99, 0, 1, 2]), None);
        assert_eq!(TextConfig::decode(&[1, 0, 0, 0, 1]), None);
        for bad in [
            serde_json::json!({"tokenizer": "words"}),
            serde_json::json!({"min_len": 0}),
            serde_json::json!({"stemmer": "klingon"}),
            serde_json::json!({"colour": 1}),
            serde_json::json!([]),
        ] {
            assert!(TextConfig::from_json(&bad).is_err(), "{bad}");
        }
    }
}

/// Which of a text query's words a `match` condition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// Every word.
    #[default]
    All,
    /// At least one word.
    Any,
    /// Every word, in order and adjacent (gaps of dropped stop words kept).
    Phrase,
}

impl MatchMode {
    /// Every mode.
    pub const ALL: [MatchMode; 3] = [MatchMode::All, MatchMode::Any, MatchMode::Phrase];

    /// The mode's name in JSON and WIT (`all`, `any`, `phrase`).
    pub fn name(self) -> &'static str {
        match self {
            MatchMode::All => "all",
            MatchMode::Any => "any",
            MatchMode::Phrase => "phrase",
        }
    }
}

/// A full-text condition: words, and which of them must be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    /// The text, analysed as the key's index analyses documents.
    pub text: String,
    /// How its words must occur.
    pub mode: MatchMode,
}

impl TextMatch {
    /// A match of `text` in `mode`.
    pub fn new(text: impl Into<String>, mode: MatchMode) -> TextMatch {
        TextMatch {
            text: text.into(),
            mode,
        }
    }
}
