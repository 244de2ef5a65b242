//! The command line: every command, argument and option, with its help text.

use super::data::Format;
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "veles",
    version,
    about = "Veles vector database: the engine as a WebAssembly component, or native"
)]
pub(crate) struct Cli {
    /// Run the engine natively instead of through the component.
    #[arg(long, global = true)]
    pub(crate) native: bool,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What of the vectors is held in memory: full (the vector file), or quantized (only the
    /// SQ8 copy and the graph; exact vectors read from the file to rerank), for collections
    /// larger than the component's memory.
    #[arg(long, global = true, value_enum, default_value_t = VectorMemory::Full)]
    pub(crate) vector_memory: VectorMemory,
    /// The component's memory cap in MiB (default 4096, the most a wasm32 guest can have).
    #[arg(long, global = true, value_name = "MIB")]
    pub(crate) memory_limit: Option<usize>,
    /// Stop a component call that runs longer than this many seconds (default 600), or
    /// `none`: no deadline, and the component runs without interruption checks (faster).
    #[arg(long, global = true, value_name = "SECONDS|none", value_parser = parse_deadline)]
    pub(crate) deadline: Option<Deadline>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `--deadline`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Deadline {
    After(std::time::Duration),
    None,
}

fn parse_deadline(s: &str) -> std::result::Result<Deadline, String> {
    if s == "none" {
        return Ok(Deadline::None);
    }
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(Deadline::After(
            std::time::Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?,
        )),
        _ => Err(format!("expected seconds (> 0) or `none`, got {s:?}")),
    }
}

/// `--vector-memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum VectorMemory {
    Full,
    Quantized,
}

impl From<VectorMemory> for veles::VectorMemory {
    fn from(m: VectorMemory) -> Self {
        match m {
            VectorMemory::Full => veles::VectorMemory::Full,
            VectorMemory::Quantized => veles::VectorMemory::Quantized,
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a collection.
    Create {
        /// The database directory (created if missing).
        dir: PathBuf,
        /// The collection's name: [A-Za-z0-9_-], 1 to 64 characters.
        name: String,
        /// Vector dimension.
        #[arg(long)]
        dim: u32,
        /// cosine, euclidean (l2), dot (ip), hamming or jaccard.
        #[arg(long, default_value = "cosine", value_parser = METRICS)]
        metric: String,
        /// HNSW M: links per node (2M on level 0), 2 to 128.
        #[arg(long, default_value_t = 16)]
        m: u32,
        /// HNSW efConstruction: candidates per insert, 1 to 4096.
        #[arg(long, default_value_t = 200)]
        ef_construction: u32,
        /// A sparse vector field, NAME or NAME:idf (query dimensions weighted by inverse
        /// document frequency, as BM25); repeat for several.
        #[arg(long)]
        sparse: Vec<String>,
    },
    /// Import points from an fvecs, npy or jsonl file (positional formats number points from
    /// --start-id).
    Import {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The points: fvecs, npy (2-d f16/f32/f64) or jsonl ({"id", "vector", "payload",
        /// "sparse": {"field": {"indices", "values"}}} per line); "-" reads JSON lines from stdin.
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Points per upsert.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Flush (make durable) after this many batches.
        #[arg(long, default_value_t = 20)]
        flush_every: usize,
        /// The id of the first point of an fvecs or npy file (jsonl lines carry their own).
        #[arg(long)]
        start_id: Option<u64>,
        /// Skip this many records first (to resume an import that stopped part way).
        #[arg(long, default_value_t = 0)]
        skip: u64,
    },
    /// Search a collection: one --vector, or every vector of --query-file.
    #[command(group(clap::ArgGroup::new("query").required(true).multiple(false)))]
    Search {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// A query vector as a JSON array.
        #[arg(long, group = "query")]
        vector: Option<String>,
        /// A file of query vectors (fvecs, npy or jsonl; `-` or /dev/stdin with --format).
        #[arg(long, group = "query")]
        query_file: Option<PathBuf>,
        /// The query file's format (else its extension says).
        #[arg(long, value_enum, requires = "query_file")]
        format: Option<Format>,
        /// Hits per query.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// A payload filter as JSON, e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// HNSW candidate list size (higher: better recall, slower). Default max(k, 64).
        #[arg(long)]
        ef: Option<usize>,
        /// Scan every point instead of walking the HNSW graph.
        #[arg(long)]
        exact: bool,
        /// Only hits scoring at least this well (>= for cosine, dot, jaccard; <= for
        /// euclidean, hamming).
        #[arg(long)]
        score_threshold: Option<f32>,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        /// Include the vectors.
        #[arg(long)]
        with_vector: bool,
        #[command(flatten)]
        fields: super::points::Fields,
    },
    /// Query with one or more legs (dense vectors, full text) fused into one ranking. QUERY
    /// is the JSON form, e.g. '{"legs": [{"text": "red shoes", "key": "body"}, {"dense":
    /// [0.1, …]}], "fusion": "rrf", "limit": 10}' (docs/reference.md), or `-` for one
    /// query per line on stdin.
    Query {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The query as JSON, or `-` for JSON lines on stdin.
        query: String,
        /// Print how each leg runs (its plan) instead of the hits.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        fields: super::points::Fields,
    },
    /// Print points by id, as JSON lines (`import`'s format).
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The ids.
        #[arg(required = true)]
        ids: Vec<u64>,
        /// Leave out the vectors.
        #[arg(long)]
        no_vector: bool,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: super::points::Fields,
    },
    /// Delete points by id or by --filter; durable when it returns.
    Delete {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// The ids (or give --filter).
        ids: Vec<u64>,
        /// Delete every point passing this filter (JSON).
        #[arg(long, conflicts_with = "ids")]
        filter: Option<String>,
    },
    /// Count the points (passing --filter).
    Count {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Print a page of points by id from --start, as JSON lines; the next cursor goes to
    /// stderr.
    Scroll {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// The first id of the page.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Points in the page.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Leave out the vectors.
        #[arg(long)]
        no_vector: bool,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: super::points::Fields,
    },
    /// Print every point (passing --filter) by id, as JSON lines: `veles import` reads them
    /// back.
    Export {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        /// Only points passing this filter (JSON), e.g. '{"key": "year", "gte": 2020}'.
        #[arg(long)]
        filter: Option<String>,
        /// Leave out the vectors.
        #[arg(long)]
        no_vector: bool,
        /// Leave out the payloads.
        #[arg(long)]
        no_payload: bool,
        #[command(flatten)]
        fields: super::points::Fields,
    },
    /// Drop a collection and its files; durable when it returns.
    Drop {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
    },
    /// Create, drop or list payload indexes (which make filters on their keys fast).
    Index {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: String,
        #[command(subcommand)]
        action: super::points::IndexAction,
    },
    /// Fold the log into a new checkpoint (all collections, or NAME): the next open loads the
    /// saved graph and replays nothing.
    Checkpoint {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: Option<String>,
    },
    /// Describe the collections of a database (opens it read-only).
    Info {
        /// The database directory.
        dir: PathBuf,
    },
    /// Verify every checksum and that ids, slots, payloads and the graph agree. Reads only;
    /// exits with 1 when anything is wrong.
    Check {
        /// The database directory.
        dir: PathBuf,
        /// Only this collection.
        name: Option<String>,
    },
    /// Rewrite collections densely, dropping deleted points (all, or NAME).
    Compact {
        /// The database directory.
        dir: PathBuf,
        /// The collection.
        name: Option<String>,
    },
    /// Copy a database consistently into DEST (a new or empty directory).
    Snapshot {
        /// The database directory.
        dir: PathBuf,
        /// An empty (or missing) directory for the copy.
        dest: PathBuf,
    },
    /// Check a snapshot, then copy it into DIR (a new or empty directory, or with --force a
    /// database to replace) to use it.
    Restore {
        /// A snapshot made by `veles snapshot`.
        snapshot: PathBuf,
        /// The database directory.
        dir: PathBuf,
        /// Replace the database in DIR (only a veles database no one has open): the snapshot
        /// is checked and copied beside it first, then swapped in.
        #[arg(long)]
        force: bool,
    },
    /// Measure build, reopen and search (recall, QPS, latency, plan) on a data set, with or
    /// without payload filters.
    Bench {
        /// A directory for the benchmark's database (it builds a collection named `bench`
        /// there, and refuses to touch an existing one).
        dir: PathBuf,
        /// Base vectors (fvecs, npy or jsonl).
        #[arg(long)]
        base: PathBuf,
        /// Query vectors (fvecs, npy or jsonl).
        #[arg(long)]
        queries: PathBuf,
        /// Ground truth: the exact neighbour ids per query (ivecs); computed by exact scan
        /// when absent.
        #[arg(long)]
        gt: Option<PathBuf>,
        /// Hits per query.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Candidate list sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
        ef: Vec<usize>,
        #[arg(long, default_value_t = 16)]
        m: u32,
        #[arg(long, default_value_t = 200)]
        ef_construction: u32,
        #[arg(long, default_value = "cosine", value_parser = METRICS)]
        metric: String,
        /// Give point i the payload {"bucket": i % N} (and an integer index on it).
        #[arg(long)]
        buckets: Option<u64>,
        /// Payloads: a JSON object per line, line i for point i.
        #[arg(long, conflicts_with = "buckets")]
        payloads: Option<PathBuf>,
        /// Declare a payload index, key:kind (repeatable).
        #[arg(long = "index")]
        indexes: Vec<String>,
        /// A filter to measure (JSON, repeatable); its ground truth comes from an exact scan.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Run through the component (the default; here for symmetry with --native).
        #[arg(long)]
        component: bool,
        /// Also draw recall against QPS per ef into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Draw the recall/QPS curves of `veles bench --json` outputs (native and component runs,
    /// say) into one SVG file.
    Plot {
        /// The SVG file to write.
        out: PathBuf,
        /// `veles bench --json` outputs ("-": stdin).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Serve the database over HTTP with Qdrant's REST API (its clients work unchanged); stops
    /// on SIGINT or SIGTERM, flushing and closing the database first.
    Serve {
        /// The database directory (created when missing).
        dir: PathBuf,
        /// Address and port to listen on (loopback by default; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:6333")]
        addr: String,
        /// Require this key in an `api-key` header or `Authorization: Bearer` (all routes but
        /// the health checks).
        #[arg(long)]
        api_key: Option<String>,
        /// Requests served at once (default: twice the cores).
        #[arg(long)]
        threads: Option<usize>,
        /// A request's time limit in seconds (a request's `timeout` may ask for less): a batch
        /// of queries past it stops with a 503.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Build a collection from real sentence embeddings shipped with veles and search it.
    Demo {
        /// Keep the database in this directory (default: a temporary one, removed after).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `--metric` values (aliases: l2 = euclidean, ip and inner_product = dot).
pub(crate) const METRICS: [&str; 8] = [
    "cosine",
    "euclidean",
    "l2",
    "dot",
    "ip",
    "inner_product",
    "hamming",
    "jaccard",
];

/// A usage error the parser could not see (a bad `--vector`, `--filter`, `--metric`, or
/// options that exclude each other): exit code 2, like clap's own.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Wraps a parse failure of a user's argument as a usage error.
pub(crate) fn usage<T, E: std::fmt::Display>(
    what: &str,
    r: std::result::Result<T, E>,
) -> Result<T> {
    r.map_err(|e| anyhow::Error::new(Usage(format!("{what}: {e}"))))
}
