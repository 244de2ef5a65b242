//! `veles query`: queries of one or more legs (dense vectors, full text), fused, from the
//! command line or as JSON lines on stdin; hits printed as `search` prints them.

use super::output::out;
use super::points::{Fields, print_hits};
use super::run::open_existing;
use anyhow::Result;
use std::io::BufRead;
use veles::{Metric, Query, Source};

/// Queries read at once from stdin before they run: each batch runs under one read view.
const BATCH: usize = 256;

pub(crate) fn run(
    dir: &std::path::Path,
    name: &str,
    text: &str,
    explain: bool,
    fields: &Fields,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let parse = |line: &str, at: Option<usize>| -> Result<Query> {
        let what = match at {
            Some(n) => format!("query on line {n}"),
            None => "QUERY".to_string(),
        };
        super::args::usage(&what, Query::from_json_str(line))
    };
    let queries: Vec<Query> = match text {
        "-" => {
            let mut out = Vec::new();
            for (i, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line?;
                if !line.trim().is_empty() {
                    out.push(parse(&line, Some(i + 1))?);
                }
            }
            out
        }
        one => vec![parse(one, None)?],
    };
    let mut db = open_existing(dir, native)?;
    if explain {
        let mut all = Vec::with_capacity(queries.len());
        for q in &queries {
            all.push(db.query_plan(name, q)?);
        }
        match json_out {
            true => out!("{}", serde_json::to_value(&all)?),
            false => {
                for (qi, plans) in all.iter().enumerate() {
                    for (li, p) in plans.iter().enumerate() {
                        let matches = p.matches.map_or(String::new(), |m| format!(", {m} match"));
                        out!(
                            "query {qi} leg {li}: {:?}, selectivity {:.4}{matches}",
                            p.kind,
                            p.selectivity
                        );
                    }
                }
            }
        }
        return Ok(());
    }
    let mut results = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(BATCH) {
        results.extend(db.query_batch(name, chunk)?);
    }
    for h in results.iter_mut().flatten() {
        h.payload = fields.project(h.payload.take());
    }
    // A single dense leg returns the metric's scores (whole bit counts for hamming); BM25
    // and fused scores are printed as decimals.
    let dense_only = queries
        .iter()
        .all(|q| q.legs.len() == 1 && matches!(q.legs[0].source, Source::Dense { .. }));
    let metric = match dense_only {
        true => db.config(name)?.metric,
        false => Metric::Cosine,
    };
    print_hits(&results, metric, fields.chosen(), json_out)
}
