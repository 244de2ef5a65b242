//! The conversion table's part for text indexes and queries of several legs (expanded by
//! `wit_convert!` at its end, in the same module, with the same `t` and imports).

/// Conversions of text configs, text matches and queries; see [`wit_convert!`](crate::wit_convert).
#[macro_export]
#[doc(hidden)]
macro_rules! wit_convert_query {
    () => {
        use $crate::{
            Bm25, Fusion, Language, Leg, MatchMode, Query, Source, TextConfig, Tokenizer,
        };

        pub fn text_match_to_wit(m: $crate::TextMatch) -> t::TextMatch {
            t::TextMatch {
                text: m.text,
                mode: match m.mode {
                    MatchMode::All => t::MatchMode::All,
                    MatchMode::Any => t::MatchMode::Any,
                    _ => t::MatchMode::Phrase,
                },
            }
        }

        pub fn text_match_from_wit(m: t::TextMatch) -> $crate::TextMatch {
            let mode = match m.mode {
                t::MatchMode::All => MatchMode::All,
                t::MatchMode::Any => MatchMode::Any,
                t::MatchMode::Phrase => MatchMode::Phrase,
            };
            $crate::TextMatch::new(m.text, mode)
        }

        fn language_to_wit(l: Language) -> t::Language {
            match l {
                Language::English => t::Language::English,
                Language::French => t::Language::French,
                Language::German => t::Language::German,
                Language::Spanish => t::Language::Spanish,
                Language::Italian => t::Language::Italian,
                Language::Portuguese => t::Language::Portuguese,
                Language::Dutch => t::Language::Dutch,
                Language::Swedish => t::Language::Swedish,
                Language::Norwegian => t::Language::Norwegian,
                Language::Danish => t::Language::Danish,
                Language::Finnish => t::Language::Finnish,
                _ => t::Language::Russian,
            }
        }

        fn language_from_wit(l: t::Language) -> Language {
            match l {
                t::Language::English => Language::English,
                t::Language::French => Language::French,
                t::Language::German => Language::German,
                t::Language::Spanish => Language::Spanish,
                t::Language::Italian => Language::Italian,
                t::Language::Portuguese => Language::Portuguese,
                t::Language::Dutch => Language::Dutch,
                t::Language::Swedish => Language::Swedish,
                t::Language::Norwegian => Language::Norwegian,
                t::Language::Danish => Language::Danish,
                t::Language::Finnish => Language::Finnish,
                t::Language::Russian => Language::Russian,
            }
        }

        pub fn text_config_to_wit(c: &TextConfig) -> t::TextConfig {
            t::TextConfig {
                tokenizer: match c.tokenizer {
                    Tokenizer::Word => t::Tokenizer::Word,
                    Tokenizer::Whitespace => t::Tokenizer::Whitespace,
                    Tokenizer::Prefix => t::Tokenizer::Prefix,
                    _ => t::Tokenizer::Cjk,
                },
                lowercase: c.lowercase,
                ascii_folding: c.ascii_folding,
                stopwords: c.stopwords.map(language_to_wit),
                stemmer: c.stemmer.map(language_to_wit),
                min_len: c.min_len,
                max_len: c.max_len,
            }
        }

        pub fn text_config_from_wit(c: t::TextConfig) -> TextConfig {
            let tokenizer = match c.tokenizer {
                t::Tokenizer::Word => Tokenizer::Word,
                t::Tokenizer::Whitespace => Tokenizer::Whitespace,
                t::Tokenizer::Prefix => Tokenizer::Prefix,
                t::Tokenizer::Cjk => Tokenizer::Cjk,
            };
            TextConfig::plain(tokenizer)
                .with_lowercase(c.lowercase)
                .with_ascii_folding(c.ascii_folding)
                .with_stopwords(c.stopwords.map(language_from_wit))
                .with_stemmer(c.stemmer.map(language_from_wit))
                .with_lengths(c.min_len, c.max_len)
        }

        pub fn sparse_to_wit(v: &$crate::SparseVector) -> t::SparseVector {
            t::SparseVector {
                indices: v.indices.clone(),
                values: v.values.clone(),
            }
        }

        pub fn sparse_from_wit(v: t::SparseVector) -> $crate::SparseVector {
            $crate::SparseVector::new(v.indices, v.values)
        }

        fn leg_to_wit(l: &Leg) -> t::QueryLeg {
            let source = match &l.source {
                Source::Dense { vector, ef, exact } => t::LegSource::Dense(t::DenseLeg {
                    vector: vector.clone(),
                    ef: ef.map(|e| u32::try_from(e).unwrap_or(u32::MAX)),
                    exact: *exact,
                }),
                Source::Text { key, text, bm25 } => t::LegSource::Text(t::TextLeg {
                    key: key.clone(),
                    text: text.clone(),
                    k1: bm25.k1,
                    b: bm25.b,
                }),
                Source::Sparse { field, vector } => t::LegSource::Sparse(t::SparseLeg {
                    field: field.clone(),
                    vector: sparse_to_wit(vector),
                }),
                #[allow(unreachable_patterns)]
                _ => unreachable!("every leg source is listed"),
            };
            t::QueryLeg {
                source,
                limit: l.limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                filter: point_filter_to_wit(l.filter.as_ref()),
                weight: l.weight,
            }
        }

        fn leg_from_wit(l: t::QueryLeg) -> Result<Leg, E> {
            let source = match l.source {
                t::LegSource::Dense(d) => Source::Dense {
                    vector: d.vector,
                    ef: d.ef.map(|e| e as usize),
                    exact: d.exact,
                },
                t::LegSource::Text(x) => Source::Text {
                    key: x.key,
                    text: x.text,
                    bm25: Bm25 { k1: x.k1, b: x.b },
                },
                t::LegSource::Sparse(x) => Source::Sparse {
                    field: x.field,
                    vector: sparse_from_wit(x.vector),
                },
            };
            let mut leg = Leg::new(source).with_weight(l.weight);
            leg.limit = l.limit.map(|n| n as usize);
            leg.filter = point_filter_from_wit(l.filter)?;
            Ok(leg)
        }

        pub fn query_to_wit(q: &Query) -> t::Query {
            t::Query {
                legs: q.legs.iter().map(leg_to_wit).collect(),
                fusion: match q.fusion {
                    Fusion::Rrf { k } => t::Fusion::Rrf(k),
                    Fusion::Dbsf => t::Fusion::Dbsf,
                    _ => t::Fusion::Relative,
                },
                limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
                score_threshold: q.score_threshold,
                with_payload: q.include.payload,
                with_vector: q.include.vector,
            }
        }

        pub fn query_from_wit(q: t::Query) -> Result<Query, E> {
            let mut out = Query::new(q.limit as usize)
                .with_fusion(match q.fusion {
                    t::Fusion::Rrf(k) => Fusion::Rrf { k },
                    t::Fusion::Dbsf => Fusion::Dbsf,
                    t::Fusion::Relative => Fusion::Relative,
                })
                .with_payload(q.with_payload)
                .with_vector(q.with_vector);
            out.score_threshold = q.score_threshold;
            for l in q.legs {
                out = out.leg(leg_from_wit(l)?);
            }
            Ok(out)
        }
    };
}
