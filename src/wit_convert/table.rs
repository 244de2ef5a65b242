//! The WIT boundary, converted in one place.
//!
//! [`wit_convert!`](crate::wit_convert) expands to the conversions between the library's types
//! and the types `wit/veles.wit` generates, in both directions. The guest glue
//! (`component.rs`, over wit-bindgen's types) and the host library (over wasmtime's bindgen
//! types) both expand it, so the two sides cannot drift: every field crosses the same way,
//! and an error comes back with the same `Display` text it had in the engine (a host test
//! round-trips every error variant to prove it).
//!
//! The caller brings the generated types module into scope as `t` and expands the macro in
//! a module of its own; each direction's functions are `to_wit_*` and `*_from_wit`.
//!
//! The wildcard arms are there only because the host expands this table outside the engine's
//! crate, where its enums are non-exhaustive. None is ever taken: each enum's `ALL` list is
//! checked complete against an exhaustive match in the engine, and `host/src/wit.rs` crosses
//! every variant of it and back.

/// Conversions between `$crate` types and the WIT types module in scope as `t`.
#[macro_export]
#[doc(hidden)]
macro_rules! wit_convert {
    () => {
        use $crate::filter::{Condition, FlatNode};
        use $crate::{
            CheckReport, CollectionConfig, CompactReport, Error as E, Filter, Hit, IndexInfo,
            IndexKind, Limit as L, Metric, Options, Page, Plan, PlanKind, Point, Problem,
            RecoveryStats, SearchParams, SnapshotReport, Stats, StorageError as S, VectorMemory,
            VectorProblem as P,
        };

        pub fn vector_memory_to_wit(m: VectorMemory) -> t::VectorMemory {
            match m {
                VectorMemory::Quantized => t::VectorMemory::Quantized,
                _ => t::VectorMemory::Full,
            }
        }

        pub fn vector_memory_from_wit(m: t::VectorMemory) -> VectorMemory {
            match m {
                t::VectorMemory::Full => VectorMemory::Full,
                t::VectorMemory::Quantized => VectorMemory::Quantized,
            }
        }

        pub fn open_options_to_wit(o: &Options) -> t::OpenOptions {
            t::OpenOptions {
                read_only: o.read_only,
                vector_memory: vector_memory_to_wit(o.vector_memory),
            }
        }

        pub fn open_options_from_wit(o: t::OpenOptions) -> Options {
            Options::default()
                .with_read_only(o.read_only)
                .with_vector_memory(vector_memory_from_wit(o.vector_memory))
        }

        pub fn index_kind_to_wit(k: IndexKind) -> t::IndexKind {
            match k {
                IndexKind::Keyword => t::IndexKind::Keyword,
                IndexKind::Integer => t::IndexKind::Integer,
                IndexKind::Float => t::IndexKind::Float,
                IndexKind::Bool => t::IndexKind::Boolean,
                IndexKind::Exists => t::IndexKind::Exists,
                _ => t::IndexKind::Text,
            }
        }

        pub fn index_kind_from_wit(k: t::IndexKind) -> IndexKind {
            match k {
                t::IndexKind::Keyword => IndexKind::Keyword,
                t::IndexKind::Integer => IndexKind::Integer,
                t::IndexKind::Float => IndexKind::Float,
                t::IndexKind::Boolean => IndexKind::Bool,
                t::IndexKind::Exists => IndexKind::Exists,
                t::IndexKind::Text => IndexKind::Text,
            }
        }

        pub fn index_info_to_wit(i: IndexInfo) -> t::IndexInfo {
            t::IndexInfo {
                key: i.key,
                kind: index_kind_to_wit(i.kind),
                values: i.values as u64,
                points: i.points,
            }
        }

        pub fn index_info_from_wit(i: t::IndexInfo) -> IndexInfo {
            IndexInfo::new(
                i.key,
                index_kind_from_wit(i.kind),
                i.values as usize,
                i.points,
            )
        }

        pub fn page_to_wit(p: Page) -> t::Page {
            t::Page {
                points: p.points.iter().map(point_to_wit).collect(),
                next: p.next,
            }
        }

        pub fn page_from_wit(p: t::Page) -> Result<Page, E> {
            let points = p
                .points
                .into_iter()
                .map(point_from_wit)
                .collect::<Result<_, E>>()?;
            Ok(Page::new(points, p.next))
        }

        pub fn plan_to_wit(p: Plan) -> t::Plan {
            t::Plan {
                kind: match p.kind {
                    PlanKind::FullScan => t::PlanKind::FullScan,
                    PlanKind::IndexedScan => t::PlanKind::IndexedScan,
                    PlanKind::QuantizedScan => t::PlanKind::QuantizedScan,
                    PlanKind::Graph => t::PlanKind::Graph,
                    _ => t::PlanKind::Postings,
                },
                matches: p.matches,
                selectivity: p.selectivity,
            }
        }

        pub fn plan_from_wit(p: t::Plan) -> Plan {
            let kind = match p.kind {
                t::PlanKind::FullScan => PlanKind::FullScan,
                t::PlanKind::IndexedScan => PlanKind::IndexedScan,
                t::PlanKind::QuantizedScan => PlanKind::QuantizedScan,
                t::PlanKind::Graph => PlanKind::Graph,
                t::PlanKind::Postings => PlanKind::Postings,
            };
            Plan::new(kind, p.matches, p.selectivity)
        }

        /// A point filter's two forms, at most one given.
        fn either_filter(
            typed: Option<t::Filter>,
            json: Option<String>,
        ) -> Result<Option<Filter>, E> {
            match (typed, json) {
                (Some(_), Some(_)) => Err(E::InvalidFilter(
                    "give a filter or a filter-json, not both".into(),
                )),
                (Some(f), None) => Ok(Some(filter_from_wit(f)?)),
                (None, Some(text)) => Ok(Some(Filter::from_json_str(&text)?)),
                (None, None) => Ok(None),
            }
        }

        pub fn point_filter_from_wit(f: t::PointFilter) -> Result<Option<Filter>, E> {
            either_filter(f.filter, f.filter_json)
        }

        pub fn point_filter_to_wit(f: Option<&Filter>) -> t::PointFilter {
            t::PointFilter {
                filter: f.map(filter_to_wit),
                filter_json: None,
            }
        }

        pub fn metric_to_wit(m: Metric) -> t::Metric {
            match m {
                Metric::Cosine => t::Metric::Cosine,
                Metric::Euclidean => t::Metric::Euclidean,
                Metric::Dot => t::Metric::Dot,
                Metric::Hamming => t::Metric::Hamming,
                Metric::Jaccard => t::Metric::Jaccard,
            }
        }

        pub fn metric_from_wit(m: t::Metric) -> Metric {
            match m {
                t::Metric::Cosine => Metric::Cosine,
                t::Metric::Euclidean => Metric::Euclidean,
                t::Metric::Dot => Metric::Dot,
                t::Metric::Hamming => Metric::Hamming,
                t::Metric::Jaccard => Metric::Jaccard,
            }
        }

        pub fn config_to_wit(c: &CollectionConfig) -> t::CollectionConfig {
            t::CollectionConfig {
                dimension: c.dimension,
                metric: metric_to_wit(c.metric),
                m: c.m,
                ef_construction: c.ef_construction,
                sparse: c
                    .sparse
                    .iter()
                    .map(|f| t::SparseField {
                        name: f.name.clone(),
                        idf: f.idf,
                    })
                    .collect(),
            }
        }

        pub fn config_from_wit(c: t::CollectionConfig) -> CollectionConfig {
            let mut out = CollectionConfig::new(c.dimension, metric_from_wit(c.metric))
                .with_hnsw(c.m, c.ef_construction);
            for f in c.sparse {
                out = out.with_sparse($crate::SparseField::new(f.name, f.idf));
            }
            out
        }

        /// `None` for a limit this WIT version does not know (never, while the two are
        /// built together: the enums are one-to-one).
        #[allow(unreachable_patterns)]
        fn limit_to_wit(l: L) -> Option<t::Limit> {
            Some(match l {
                L::Dimension => t::Limit::Dimension,
                L::K => t::Limit::K,
                L::Ef => t::Limit::Ef,
                L::BatchBytes => t::Limit::BatchBytes,
                L::PayloadBytes => t::Limit::PayloadBytes,
                L::PayloadDepth => t::Limit::PayloadDepth,
                L::FilterDepth => t::Limit::FilterDepth,
                L::ResultBytes => t::Limit::ResultBytes,
                L::MemoryBytes => t::Limit::MemoryBytes,
                L::Generation => t::Limit::Generation,
                L::QueryLegs => t::Limit::QueryLegs,
                _ => return None,
            })
        }

        fn limit_from_wit(l: t::Limit) -> L {
            match l {
                t::Limit::Dimension => L::Dimension,
                t::Limit::K => L::K,
                t::Limit::Ef => L::Ef,
                t::Limit::BatchBytes => L::BatchBytes,
                t::Limit::PayloadBytes => L::PayloadBytes,
                t::Limit::PayloadDepth => L::PayloadDepth,
                t::Limit::FilterDepth => L::FilterDepth,
                t::Limit::ResultBytes => L::ResultBytes,
                t::Limit::MemoryBytes => L::MemoryBytes,
                t::Limit::Generation => L::Generation,
                t::Limit::QueryLegs => L::QueryLegs,
            }
        }

        #[allow(unreachable_patterns)]
        fn problem_to_wit(p: P) -> Option<t::VectorProblem> {
            Some(match p {
                P::NotFinite { index } => t::VectorProblem::NotFinite(index as u32),
                P::ZeroNorm => t::VectorProblem::ZeroNorm,
                P::NotBinary { index } => t::VectorProblem::NotBinary(index as u32),
                P::NormOverflow => t::VectorProblem::NormOverflow,
                _ => return None,
            })
        }

        fn problem_from_wit(p: t::VectorProblem) -> P {
            match p {
                t::VectorProblem::NotFinite(i) => P::NotFinite { index: i as usize },
                t::VectorProblem::ZeroNorm => P::ZeroNorm,
                t::VectorProblem::NotBinary(i) => P::NotBinary { index: i as usize },
                t::VectorProblem::NormOverflow => P::NormOverflow,
            }
        }

        fn io_kind_to_wit(k: std::io::ErrorKind) -> t::IoKind {
            use std::io::ErrorKind as K;
            match k {
                K::NotFound => t::IoKind::NotFound,
                K::PermissionDenied => t::IoKind::PermissionDenied,
                K::AlreadyExists => t::IoKind::AlreadyExists,
                K::StorageFull | K::QuotaExceeded => t::IoKind::StorageFull,
                K::ReadOnlyFilesystem => t::IoKind::ReadOnlyFilesystem,
                K::Unsupported => t::IoKind::Unsupported,
                K::Interrupted => t::IoKind::Interrupted,
                K::InvalidInput => t::IoKind::InvalidInput,
                K::UnexpectedEof => t::IoKind::UnexpectedEof,
                _ => t::IoKind::Other,
            }
        }

        fn io_kind_from_wit(k: t::IoKind) -> std::io::ErrorKind {
            use std::io::ErrorKind as K;
            match k {
                t::IoKind::NotFound => K::NotFound,
                t::IoKind::PermissionDenied => K::PermissionDenied,
                t::IoKind::AlreadyExists => K::AlreadyExists,
                t::IoKind::StorageFull => K::StorageFull,
                t::IoKind::ReadOnlyFilesystem => K::ReadOnlyFilesystem,
                t::IoKind::Unsupported => K::Unsupported,
                t::IoKind::Interrupted => K::Interrupted,
                t::IoKind::InvalidInput => K::InvalidInput,
                t::IoKind::UnexpectedEof => K::UnexpectedEof,
                t::IoKind::Other => K::Other,
            }
        }

        /// The engine's error as the WIT error. Lossless: [`error_from_wit`] gives back an
        /// error with the same `Display` text.
        #[allow(unreachable_patterns)]
        pub fn error_to_wit(e: E) -> t::Error {
            match e {
                E::DimensionMismatch {
                    expected,
                    actual,
                    id,
                } => t::Error::DimensionMismatch(t::DimensionMismatch {
                    expected,
                    actual: actual.min(u32::MAX as usize) as u32,
                    id,
                }),
                E::InvalidVector { id, problem } => match problem_to_wit(problem) {
                    Some(problem) => t::Error::InvalidVector(t::InvalidVector { id, problem }),
                    None => t::Error::InvalidArgument(E::InvalidVector { id, problem }.to_string()),
                },
                E::InvalidName { name, reason } => t::Error::InvalidName(t::InvalidName {
                    name,
                    reason: reason.into_owned(),
                }),
                E::InvalidConfig(m) => t::Error::InvalidConfig(m),
                E::InvalidArgument(m) => t::Error::InvalidArgument(m),
                E::InvalidFilter(m) => t::Error::InvalidFilter(m),
                E::InvalidPayload { id, reason } => {
                    t::Error::InvalidPayload(t::InvalidPayload { id, reason })
                }
                E::LimitExceeded { limit, max, actual } => match limit_to_wit(limit) {
                    Some(limit) => t::Error::LimitExceeded(t::LimitExceeded { limit, max, actual }),
                    None => t::Error::InvalidArgument(
                        E::LimitExceeded { limit, max, actual }.to_string(),
                    ),
                },
                E::CollectionNotFound(n) => t::Error::NotFound(n),
                E::CollectionExists(n) => t::Error::AlreadyExists(n),
                E::ReadOnly => t::Error::ReadOnly,
                E::Storage(s) => match s {
                    S::Io { path, op, source } => t::Error::Io(t::IoFailure {
                        path,
                        op: op.into_owned(),
                        kind: io_kind_to_wit(source.kind()),
                        message: source.to_string(),
                    }),
                    S::PreviousIo => t::Error::PreviousIo,
                    S::Corrupted {
                        file,
                        offset,
                        reason,
                    } => t::Error::Corrupted(t::Corruption {
                        file,
                        offset,
                        reason,
                    }),
                    S::UnsupportedVersion {
                        file,
                        found,
                        supported,
                    } => t::Error::UnsupportedVersion(t::UnsupportedVersion {
                        file,
                        found,
                        supported,
                    }),
                    S::Locked { path } => t::Error::Locked(path),
                    other => t::Error::InvalidArgument(other.to_string()),
                },
                other => t::Error::InvalidArgument(other.to_string()),
            }
        }

        pub fn error_from_wit(e: t::Error) -> E {
            match e {
                t::Error::DimensionMismatch(d) => E::DimensionMismatch {
                    expected: d.expected,
                    actual: d.actual as usize,
                    id: d.id,
                },
                t::Error::InvalidVector(v) => E::InvalidVector {
                    id: v.id,
                    problem: problem_from_wit(v.problem),
                },
                t::Error::InvalidName(n) => E::InvalidName {
                    name: n.name,
                    reason: n.reason.into(),
                },
                t::Error::InvalidConfig(m) => E::InvalidConfig(m),
                t::Error::InvalidArgument(m) => E::InvalidArgument(m),
                t::Error::InvalidFilter(m) => E::InvalidFilter(m),
                t::Error::InvalidPayload(p) => E::InvalidPayload {
                    id: p.id,
                    reason: p.reason,
                },
                t::Error::LimitExceeded(l) => E::LimitExceeded {
                    limit: limit_from_wit(l.limit),
                    max: l.max,
                    actual: l.actual,
                },
                t::Error::NotFound(n) => E::CollectionNotFound(n),
                t::Error::AlreadyExists(n) => E::CollectionExists(n),
                t::Error::Corrupted(c) => E::Storage(S::Corrupted {
                    file: c.file,
                    offset: c.offset,
                    reason: c.reason,
                }),
                t::Error::UnsupportedVersion(u) => E::Storage(S::UnsupportedVersion {
                    file: u.file,
                    found: u.found,
                    supported: u.supported,
                }),
                t::Error::Io(io) => E::Storage(S::Io {
                    path: io.path,
                    op: io.op.into(),
                    source: std::io::Error::new(io_kind_from_wit(io.kind), io.message),
                }),
                t::Error::PreviousIo => E::Storage(S::PreviousIo),
                t::Error::Locked(p) => E::Storage(S::Locked { path: p }),
                t::Error::ReadOnly => E::ReadOnly,
            }
        }

        fn json_text(v: Option<&serde_json::Value>) -> Option<String> {
            v.map(|v| v.to_string())
        }

        /// A payload that crossed as JSON text. The guest checks it as a payload; the host
        /// gets it from the engine, which only returns what it checked.
        fn payload_from_wit(id: u64, text: Option<String>) -> Result<Option<serde_json::Value>, E> {
            text.map(|text| $crate::parse_payload(Some(id), &text))
                .transpose()
        }

        pub fn point_to_wit(p: &Point) -> t::Point {
            t::Point {
                id: p.id,
                vector: p.vector.clone(),
                payload: json_text(p.payload.as_ref()),
                sparse: p
                    .sparse
                    .iter()
                    .map(|(name, v)| t::NamedSparse {
                        field: name.clone(),
                        vector: sparse_to_wit(v),
                    })
                    .collect(),
            }
        }

        pub fn point_from_wit(p: t::Point) -> Result<Point, E> {
            let payload = payload_from_wit(p.id, p.payload)?;
            let mut out = Point::new(p.id, p.vector).with_payload_opt(payload);
            for s in p.sparse {
                out = out.with_sparse(s.field, sparse_from_wit(s.vector));
            }
            Ok(out)
        }

        pub fn hit_to_wit(h: Hit) -> t::Hit {
            t::Hit {
                id: h.id,
                score: h.score,
                payload: json_text(h.payload.as_ref()),
                vector: h.vector,
            }
        }

        pub fn hit_from_wit(h: t::Hit) -> Result<Hit, E> {
            let payload = payload_from_wit(h.id, h.payload)?;
            let mut hit = Hit::new(h.id, h.score, payload);
            hit.vector = h.vector;
            Ok(hit)
        }

        /// A filter in its flattened WIT form (operands as JSON text).
        pub fn filter_to_wit(f: &Filter) -> t::Filter {
            let text = |v: &serde_json::Value| v.to_string();
            t::Filter {
                nodes: f
                    .flatten()
                    .into_iter()
                    .map(|n| match n {
                        FlatNode::And(cs) => t::FilterNode::And(cs),
                        FlatNode::Or(cs) => t::FilterNode::Or(cs),
                        FlatNode::Not(c) => t::FilterNode::Not(c),
                        FlatNode::HasId(ids) => t::FilterNode::HasId(ids),
                        FlatNode::Field { key, condition } => {
                            t::FilterNode::Field(t::FieldCondition {
                                key,
                                condition: match condition {
                                    Condition::Eq(v) => t::Condition::Eq(text(&v)),
                                    Condition::Ne(v) => t::Condition::Ne(text(&v)),
                                    Condition::Lt(v) => t::Condition::Lt(text(&v)),
                                    Condition::Lte(v) => t::Condition::Lte(text(&v)),
                                    Condition::Gt(v) => t::Condition::Gt(text(&v)),
                                    Condition::Gte(v) => t::Condition::Gte(text(&v)),
                                    Condition::In(vs) => {
                                        t::Condition::In(vs.iter().map(text).collect())
                                    }
                                    Condition::Exists => t::Condition::Exists,
                                    Condition::IsNull => t::Condition::IsNull,
                                    Condition::Match(m) => {
                                        t::Condition::Match(text_match_to_wit(m))
                                    }
                                    #[allow(unreachable_patterns)]
                                    _ => t::Condition::IsNull,
                                },
                            })
                        }
                    })
                    .collect(),
            }
        }

        pub fn filter_from_wit(f: t::Filter) -> Result<Filter, E> {
            let json = |text: &str| {
                serde_json::from_str(text)
                    .map_err(|e| E::InvalidFilter(format!("operand {text:?}: {e}")))
            };
            let mut nodes = Vec::with_capacity(f.nodes.len());
            for n in f.nodes {
                nodes.push(match n {
                    t::FilterNode::And(cs) => FlatNode::And(cs),
                    t::FilterNode::Or(cs) => FlatNode::Or(cs),
                    t::FilterNode::Not(c) => FlatNode::Not(c),
                    t::FilterNode::HasId(ids) => FlatNode::HasId(ids),
                    t::FilterNode::Field(fc) => FlatNode::Field {
                        key: fc.key,
                        condition: match fc.condition {
                            t::Condition::Eq(v) => Condition::Eq(json(&v)?),
                            t::Condition::Ne(v) => Condition::Ne(json(&v)?),
                            t::Condition::Lt(v) => Condition::Lt(json(&v)?),
                            t::Condition::Lte(v) => Condition::Lte(json(&v)?),
                            t::Condition::Gt(v) => Condition::Gt(json(&v)?),
                            t::Condition::Gte(v) => Condition::Gte(json(&v)?),
                            t::Condition::In(vs) => {
                                Condition::In(vs.iter().map(|v| json(v)).collect::<Result<_, _>>()?)
                            }
                            t::Condition::Exists => Condition::Exists,
                            t::Condition::IsNull => Condition::IsNull,
                            t::Condition::Match(m) => Condition::Match(text_match_from_wit(m)),
                        },
                    },
                });
            }
            Filter::from_flat(&nodes)
        }

        pub fn options_to_wit(p: &SearchParams<'_>) -> t::SearchOptions {
            t::SearchOptions {
                filter: p.filter.map(filter_to_wit),
                ef: p.ef.map(|e| u32::try_from(e).unwrap_or(u32::MAX)),
                exact: p.exact,
                filter_json: None,
                score_threshold: p.score_threshold,
                with_payload: p.include.payload,
                with_vector: p.include.vector,
            }
        }

        /// Runs `f` with the search parameters of these options.
        pub fn with_options_from_wit<T>(
            o: t::SearchOptions,
            f: impl FnOnce(&SearchParams<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            let filter = either_filter(o.filter, o.filter_json)?;
            f(&SearchParams::default()
                .with_filter(filter.as_ref())
                .with_ef(o.ef.map(|e| e as usize))
                .with_exact(o.exact)
                .with_score_threshold(o.score_threshold)
                .with_include($crate::Include::new(o.with_vector, o.with_payload)))
        }

        pub fn check_report_to_wit(r: CheckReport) -> t::CheckReport {
            t::CheckReport {
                collection: r.collection,
                points: r.points,
                slots: r.slots,
                graph_nodes: r.graph_nodes,
                wal_records: r.wal_records,
                bytes_checked: r.bytes_checked,
                problems: r
                    .problems
                    .into_iter()
                    .map(|p| t::Problem {
                        file: p.file,
                        offset: p.offset,
                        message: p.message,
                    })
                    .collect(),
                notes: r.notes,
            }
        }

        pub fn check_report_from_wit(r: t::CheckReport) -> CheckReport {
            CheckReport {
                collection: r.collection,
                points: r.points,
                slots: r.slots,
                graph_nodes: r.graph_nodes,
                wal_records: r.wal_records,
                bytes_checked: r.bytes_checked,
                problems: r
                    .problems
                    .into_iter()
                    .map(|p| Problem {
                        file: p.file,
                        offset: p.offset,
                        message: p.message,
                    })
                    .collect(),
                notes: r.notes,
            }
        }

        pub fn compact_report_to_wit(r: CompactReport) -> t::CompactReport {
            t::CompactReport {
                points: r.points,
                slots_before: r.slots_before,
                slots_after: r.slots_after,
                tombstones_dropped: r.tombstones_dropped,
                bytes_before: r.bytes_before,
                bytes_after: r.bytes_after,
            }
        }

        pub fn compact_report_from_wit(r: t::CompactReport) -> CompactReport {
            CompactReport {
                points: r.points,
                slots_before: r.slots_before,
                slots_after: r.slots_after,
                tombstones_dropped: r.tombstones_dropped,
                bytes_before: r.bytes_before,
                bytes_after: r.bytes_after,
            }
        }

        pub fn snapshot_report_to_wit(r: SnapshotReport) -> t::SnapshotReport {
            t::SnapshotReport {
                collections: r.collections,
                bytes: r.bytes,
            }
        }

        pub fn snapshot_report_from_wit(r: t::SnapshotReport) -> SnapshotReport {
            SnapshotReport {
                collections: r.collections,
                bytes: r.bytes,
            }
        }

        pub fn stats_to_wit(s: Stats) -> t::Stats {
            let r = s.recovery;
            t::Stats {
                len: s.len as u64,
                dimension: s.dimension,
                metric: metric_to_wit(s.metric),
                slots: s.slots,
                free_slots: s.free_slots as u64,
                wal_bytes: s.wal_bytes,
                vector_file_bytes: s.vector_file_bytes,
                unflushed: s.unflushed,
                generation: s.generation,
                recovery: t::RecoveryStats {
                    replayed_records: r.replayed_records,
                    dropped_bytes: r.dropped_bytes,
                    torn_at: r.torn_at,
                    graph_loaded: r.graph_loaded,
                    graph_problem: r.graph_problem,
                },
                graph_nodes: s.graph_nodes as u64,
                unindexed: s.unindexed as u64,
                payload_bytes: s.payload_bytes,
                payload_memory: s.payload_memory,
                payload_file_bytes: s.payload_file_bytes,
                indexes: s.indexes as u32,
            }
        }

        pub fn stats_from_wit(s: t::Stats) -> Stats {
            let r = s.recovery;
            Stats {
                len: s.len as usize,
                dimension: s.dimension,
                metric: metric_from_wit(s.metric),
                slots: s.slots,
                free_slots: s.free_slots as usize,
                wal_bytes: s.wal_bytes,
                vector_file_bytes: s.vector_file_bytes,
                unflushed: s.unflushed,
                generation: s.generation,
                recovery: RecoveryStats {
                    replayed_records: r.replayed_records,
                    dropped_bytes: r.dropped_bytes,
                    torn_at: r.torn_at,
                    graph_loaded: r.graph_loaded,
                    graph_problem: r.graph_problem,
                },
                graph_nodes: s.graph_nodes as usize,
                unindexed: s.unindexed as usize,
                payload_bytes: s.payload_bytes,
                payload_memory: s.payload_memory,
                payload_file_bytes: s.payload_file_bytes,
                indexes: s.indexes as usize,
            }
        }
        $crate::wit_convert_query!();
    };
}
