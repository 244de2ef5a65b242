//! The point commands: `get`, `delete`, `count`, `scroll`, `export` and `index`. Points are
//! printed as the JSON lines `import` reads (`{"id", "vector", "payload"}`), so
//! `veles export … | veles import … -` copies a collection.

use super::data::PointReader;
use super::output::Refusal;
use super::output::out;
use super::progress;
use super::run::open_existing;
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::Write;
use veles::{Condition, Filter, Hit, Include, IndexKind, Metric, Point};
use veles_host::Backend;

/// `veles index` actions.
#[derive(Subcommand)]
pub enum IndexAction {
    /// Declare a payload index on KEY (a dotted path) and build it.
    Create {
        /// The payload key, a dotted path (`meta.year`).
        key: String,
        /// keyword (strings), integer or float (numbers), bool, exists, text (full text).
        #[arg(value_parser = parse_kind)]
        kind: IndexKind,
        /// A text index's analysis as JSON, e.g. '{"tokenizer": "cjk", "language": null}'
        /// (members: tokenizer word|whitespace|prefix|cjk, lowercase, ascii_folding,
        /// stopwords, stemmer, language, min_len, max_len; default: word, English).
        #[arg(long)]
        config: Option<String>,
    },
    /// Drop a payload index.
    Drop {
        /// The payload key of the index.
        key: String,
        /// Its kind: keyword, integer, float, bool, exists or text.
        #[arg(value_parser = parse_kind)]
        kind: IndexKind,
    },
    /// List the payload indexes.
    List,
}

fn parse_kind(s: &str) -> Result<IndexKind, String> {
    IndexKind::parse(s).ok_or_else(|| {
        format!("unknown index kind {s:?} (keyword, integer, float, bool, exists, text)")
    })
}

/// Parses `--filter`.
pub fn filter(text: Option<&str>) -> Result<Option<Filter>> {
    super::args::usage("--filter", text.map(Filter::from_json_str).transpose())
}

/// Which payload keys to print: all, or only these (dotted paths, `tags.0` for an array
/// element), each under its path and in full.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Fields {
    /// Only these payload keys (comma-separated dotted paths), printed in full.
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
}

impl Fields {
    /// `payload` with only the chosen keys (all when none were chosen); keys it lacks are
    /// left out.
    pub fn project(&self, payload: Option<Value>) -> Option<Value> {
        if self.fields.is_empty() {
            return payload;
        }
        let p = payload?;
        let mut out = serde_json::Map::new();
        for f in &self.fields {
            let found = f.split('.').try_fold(&p, |v, part| match v {
                Value::Object(m) => m.get(part),
                Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            });
            if let Some(v) = found {
                out.insert(f.clone(), v.clone());
            }
        }
        Some(Value::Object(out))
    }

    pub fn chosen(&self) -> bool {
        !self.fields.is_empty()
    }
}

/// One point as a JSON line (what `import` reads); a part left out is left out here too.
/// Vectors print as f32 (the shortest text that reads back to the same f32).
#[derive(serde::Serialize)]
struct Line<'a> {
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    /// `{field: {"indices", "values"}}`, as `import` reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    sparse: Option<serde_json::Map<String, Value>>,
}

fn line(p: &Point, include: Include, fields: &Fields) -> String {
    let payload = fields.project(p.payload.clone());
    let sparse = (include.vector && !p.sparse.is_empty()).then(|| {
        p.sparse
            .iter()
            .map(|(name, v)| {
                (
                    name.clone(),
                    json!({"indices": v.indices, "values": v.values}),
                )
            })
            .collect()
    });
    let l = Line {
        id: p.id,
        vector: include.vector.then_some(p.vector.as_slice()),
        payload: payload.as_ref(),
        sparse,
    };
    serde_json::to_string(&l).unwrap_or_default()
}

/// How `get`, `scroll` and `export` print each point: what it includes, which payload keys,
/// and whether as a person reads it ([`human_line`]) or as JSON lines (`import`'s format).
pub struct Shape<'a> {
    pub include: Include,
    pub fields: &'a Fields,
    pub human: bool,
}

impl Shape<'_> {
    fn line(&self, p: &Point) -> String {
        match self.human {
            true => human_line(p, self.include, self.fields),
            false => line(p, self.include, self.fields),
        }
    }
}

/// Components of a vector a human view prints before eliding the rest.
const SHOWN_COMPONENTS: usize = 4;

/// One point for a person at a terminal: the id, the vector's first components and its
/// dimension, the sparse fields' sizes, and the payload as compact JSON.
fn human_line(p: &Point, include: Include, fields: &Fields) -> String {
    let mut s = format!("id {:<10}", p.id);
    if include.vector {
        let shown: Vec<String> = p
            .vector
            .iter()
            .take(SHOWN_COMPONENTS)
            .map(|x| format!("{x:.4}"))
            .collect();
        let more = match p.vector.len() > SHOWN_COMPONENTS {
            true => format!(", … {} dims", p.vector.len()),
            false => String::new(),
        };
        s += &format!(" [{}{more}]", shown.join(", "));
        for (name, v) in &p.sparse {
            s += &format!(" {name}: {} nonzero", v.indices.len());
        }
    }
    if let Some(payload) = fields.project(p.payload.clone()) {
        s += &format!("  {payload}");
    }
    s
}

/// `veles get`: the points with these ids, one line each; ids not found are named on
/// stderr and the exit code is 1.
pub fn get(db: &mut dyn Backend, name: &str, ids: &[u64], shape: &Shape<'_>) -> Result<()> {
    let got = db.get_with(name, ids, shape.include)?;
    let mut out = std::io::stdout().lock();
    let mut missing = Vec::new();
    for (id, p) in ids.iter().zip(&got) {
        match p {
            Some(p) => writeln!(out, "{}", shape.line(p))?,
            None => missing.push(id.to_string()),
        }
    }
    out.flush()?;
    if !missing.is_empty() {
        let message = format!("no point with id {}", missing.join(", "));
        return Err(Refusal::new("not-found", message).into());
    }
    Ok(())
}

/// `veles scroll` (one page; the next cursor on stderr, or in the last line under `--json`)
/// and `veles export` (every page).
pub fn scroll(
    db: &mut dyn Backend,
    name: &str,
    filter: Option<&Filter>,
    start: u64,
    limit: Option<usize>,
    shape: &Shape<'_>,
    json_out: bool,
) -> Result<()> {
    const PAGE: usize = 1000;
    let mut out = std::io::stdout().lock();
    let mut at = Some(start);
    let mut left = limit;
    while let Some(from) = at {
        let n = left.map_or(PAGE, |l| l.min(PAGE));
        if n == 0 {
            break;
        }
        let page = db.scroll(name, from, n, filter, shape.include)?;
        for p in &page.points {
            writeln!(out, "{}", shape.line(p))?;
        }
        left = left.map(|l| l - page.points.len());
        at = page.next;
    }
    out.flush()?;
    if limit.is_some() {
        match (at, json_out) {
            (Some(next), true) => eprintln!("{}", json!({ "next": next })),
            (Some(next), false) => eprintln!("more points follow: --start {next}"),
            (None, _) => {}
        }
    }
    Ok(())
}

/// `veles delete`: by ids, or by filter; durable when it returns.
pub fn delete(
    db: &mut dyn Backend,
    name: &str,
    ids: &[u64],
    filter: Option<&Filter>,
    json_out: bool,
) -> Result<()> {
    let n = match (ids.is_empty(), filter) {
        (false, None) => db.delete(name, ids)?,
        (true, Some(f)) => db.delete_by_filter(name, f)?,
        _ => return Err(super::args::Usage("give ids or --filter (one of the two)".into()).into()),
    };
    db.flush(name)?;
    match json_out {
        true => out!("{}", json!({ "deleted": n })),
        false => out!("deleted {n} point(s) from '{name}'"),
    }
    Ok(())
}

/// `veles count`.
pub fn count(
    db: &mut dyn Backend,
    name: &str,
    filter: Option<&Filter>,
    json_out: bool,
) -> Result<()> {
    let n = db.count(name, filter)?;
    match json_out {
        true => out!("{}", json!({ "count": n })),
        false => out!("{n}"),
    }
    if n == 0 {
        explain_no_match(db, name, filter, json_out)?;
    }
    Ok(())
}

/// `veles index`.
pub fn index(db: &mut dyn Backend, name: &str, action: IndexAction, json_out: bool) -> Result<()> {
    let (outcome, key, kind) = match action {
        IndexAction::List => {
            let all = db.indexes(name)?;
            if json_out {
                out!("{}", json!({ "indexes": all }));
            } else if all.is_empty() {
                out!("no payload indexes on '{name}'");
            } else {
                for i in all {
                    out!(
                        "{} ({}): {} values, {} points",
                        i.key,
                        i.kind,
                        i.values,
                        i.points
                    );
                }
            }
            return Ok(());
        }
        IndexAction::Create { key, kind, config } => {
            let created = match (kind, config) {
                (IndexKind::Text, Some(c)) => {
                    let config = super::args::usage(
                        "--config",
                        serde_json::from_str(&c)
                            .map_err(anyhow::Error::from)
                            .and_then(|v| Ok(veles::TextConfig::from_json(&v)?)),
                    )?;
                    db.create_text_index(name, &key, config)?
                }
                (_, Some(_)) => {
                    return Err(
                        super::args::Usage("--config is for text indexes only".into()).into(),
                    );
                }
                (_, None) => db.create_index(name, &key, kind)?,
            };
            match created {
                true => ("created", key, kind),
                false => ("already existed", key, kind),
            }
        }
        IndexAction::Drop { key, kind } => match db.drop_index(name, &key, kind)? {
            true => ("dropped", key, kind),
            false => ("did not exist", key, kind),
        },
    };
    db.flush(name)?;
    match json_out {
        true => out!(
            "{}",
            json!({ "index": key, "kind": kind, "outcome": outcome })
        ),
        false => out!("{kind} index on '{key}' of '{name}': {outcome}"),
    }
    Ok(())
}

/// Prints search results. JSON: one array with an object per query, `{"query": i, "hits":
/// […]}`, whatever the number of queries.
/// Text: a payload prints whole when `whole` (the fields a user chose), else cut at 100
/// characters.
pub(crate) fn print_hits(
    results: &[Vec<Hit>],
    metric: Metric,
    whole: bool,
    json_out: bool,
) -> Result<()> {
    if json_out {
        let all: Vec<serde_json::Value> = results
            .iter()
            .enumerate()
            .map(|(i, hits)| json!({"query": i, "hits": hits}))
            .collect();
        out!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    for (qi, hits) in results.iter().enumerate() {
        if results.len() > 1 {
            out!("query {qi}:");
        }
        if hits.is_empty() {
            out!("  (no matches)");
        }
        for (rank, h) in hits.iter().enumerate() {
            let payload = h
                .payload
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let payload = if !whole && payload.chars().count() > 100 {
                format!("{}…", payload.chars().take(99).collect::<String>())
            } else {
                payload
            };
            // Hamming scores count bits: whole numbers.
            let score = match metric {
                Metric::Hamming => format!("{:.0}", h.score),
                _ => format!("{:.4}", h.score),
            };
            let line = format!(
                "  {:>3}. id {:<10} score {score:<10} {payload}",
                rank + 1,
                h.id
            );
            out!("{}", line.trim_end());
        }
    }
    Ok(())
}

/// What `veles search` asks.
pub(crate) struct Query {
    pub(crate) vector: Option<String>,
    pub(crate) query_file: Option<std::path::PathBuf>,
    pub(crate) format: Option<super::data::Format>,
    pub(crate) k: usize,
    pub(crate) filter: Option<String>,
    pub(crate) ef: Option<usize>,
    pub(crate) exact: bool,
    pub(crate) score_threshold: Option<f32>,
    pub(crate) no_payload: bool,
    pub(crate) with_vector: bool,
}

/// `veles search`: one query (`--vector`) or a file of them, in batches, printed as hits.
pub(crate) fn search(
    dir: &std::path::Path,
    name: &str,
    q: Query,
    fields: &Fields,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let filter = super::args::usage(
        "--filter",
        q.filter.map(|f| Filter::from_json_str(&f)).transpose(),
    )?;
    // Read-only: a search changes nothing on disk and shares the directory with other
    // readers. Opened before the queries are read, so a missing database fails fast.
    let mut db = open_existing(dir, native)?;
    let queries: Vec<Vec<f32>> = match (q.vector, q.query_file) {
        (Some(v), _) => vec![super::args::usage(
            "--vector must be a JSON array of numbers",
            serde_json::from_str(&v),
        )?],
        (None, Some(f)) => PointReader::open(&f, q.format, 0)
            .map_err(|e| Refusal::new("io", format!("{e:#}")))?
            .next_batch(usize::MAX)?
            .into_iter()
            .map(|p| p.vector)
            .collect(),
        (None, None) => {
            return Err(super::args::Usage("give --vector or --query-file".into()).into());
        }
    };
    if let Some(ef) = q.ef.filter(|&ef| ef < q.k) {
        let k = q.k;
        note(
            json_out,
            &format!("--ef {ef} is below -k {k}: the search keeps {k} candidates"),
        );
    }
    let params = veles::SearchParams::default()
        .with_filter(filter.as_ref())
        .with_ef(q.ef)
        .with_exact(q.exact)
        .with_score_threshold(q.score_threshold)
        .with_include(veles::Include::new(q.with_vector, !q.no_payload));
    // In batches: a long query file shows progress, and each call stays small.
    let bar = progress::counter(queries.len() as u64, "searching", json_out);
    if queries.len() < 1000 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut results = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(256) {
        results.extend(db.search_batch(name, chunk, q.k, &params)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    for h in results.iter_mut().flatten() {
        h.payload = fields.project(h.payload.take());
    }
    let metric = db.config(name)?.metric;
    print_hits(&results, metric, fields.chosen(), json_out)?;
    if results.iter().all(Vec::is_empty) {
        explain_no_match(db.as_mut(), name, filter.as_ref(), json_out)?;
    }
    Ok(())
}

/// When a filter matched nothing, says why where it can tell: a key no point has a value at,
/// or an operand of a kind (number, string) that no value at the key is.
pub(crate) fn explain_no_match(
    db: &mut dyn Backend,
    name: &str,
    filter: Option<&Filter>,
    json_out: bool,
) -> Result<()> {
    let mut leaves = Vec::new();
    let mut stack: Vec<&Filter> = filter.into_iter().collect();
    while let Some(f) = stack.pop() {
        match f {
            Filter::Field { key, condition } => leaves.push((key, condition)),
            Filter::And(fs) | Filter::Or(fs) => stack.extend(fs),
            Filter::Not(f) => stack.push(f),
            // Ids are no payload key: nothing to explain of them.
            Filter::HasId(_) => {}
        }
    }
    for (key, condition) in leaves {
        let operand = match condition {
            Condition::Eq(v)
            | Condition::Lt(v)
            | Condition::Lte(v)
            | Condition::Gt(v)
            | Condition::Gte(v) => Some(v),
            _ => None,
        };
        if db.count(name, Some(&Filter::exists(key.as_str())))? == 0 {
            note(json_out, &format!("no point has a value at key {key:?}"));
            continue;
        }
        let kind = match operand {
            Some(serde_json::Value::Number(_)) => {
                Some(("numbers", Filter::gte(key.as_str(), f64::MIN)))
            }
            Some(serde_json::Value::String(_)) => Some(("strings", Filter::gte(key.as_str(), ""))),
            _ => None,
        };
        if let Some((kind, any)) = kind
            && db.count(name, Some(&any))? == 0
        {
            let v = operand.map(|v| v.to_string()).unwrap_or_default();
            note(
                json_out,
                &format!("no value at key {key:?} is one of the {kind} it is compared with ({v})"),
            );
        }
    }
    Ok(())
}

/// A note on stderr that changes no result: plain text, or `{"note": …}` under `--json`.
pub(crate) fn note(json_out: bool, text: &str) {
    match json_out {
        true => eprintln!("{}", json!({ "note": text })),
        false => eprintln!("note: {text}"),
    }
}
