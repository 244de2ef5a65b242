//! Hybrid retrieval on real text (`../shared/data/hybrid-20k` over `minilm-20k`): 1,200
//! known-item queries, each labelled with the one sentence it came from. Prints, for dense,
//! BM25 (the text index's, and sparse vectors from `Bm25Embedder` with the IDF modifier, as
//! Qdrant's `Bm25` fills a sparse field) and fused queries: MRR@10 and recall@10 over all
//! queries and per subset (known-item, paraphrase-like), and queries per second (wall time)
//! on one thread (the 1,200 queries built and run as one `query_batch`, best of three).
//! Also times durable ingests (batches of 1,000, each flushed: a text index alone, then with
//! sparse BM25 vectors and a keyword index too), an open after a checkpoint with the saved
//! text index and without it, and a text `match` filter of about 1 % selectivity against an
//! indexed keyword filter that passes the same points.
//!
//! `cargo bench --bench hybrid` (skips, saying so, where the data is absent).

use std::time::Instant;
use veles::testing::{read_fvecs, shared_data};
use veles::{
    Bm25, Bm25Embedder, CollectionConfig, Database, Filter, Fusion, IndexKind, Leg, MatchMode,
    Metric, Options, Point, Query, SearchParams, SparseField, TextConfig,
};

struct Set {
    texts: Vec<String>,
    base: Vec<Vec<f32>>,
    queries: Vec<String>,
    vectors: Vec<Vec<f32>>,
    targets: Vec<u64>,
    paraphrase: Vec<bool>,
}

/// One thread, and the graph linked only when asked: the ingest timed is the write path's.
fn options() -> Options {
    Options::default()
        .with_threads(Some(1))
        .with_linking(veles::Linking::Manual)
}

fn load() -> Option<Set> {
    let hybrid = shared_data("hybrid-20k")?;
    let minilm = shared_data("minilm-20k")?;
    let lines = |p: std::path::PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .expect("readable")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let qrels = lines(hybrid.join("qrels.tsv"));
    let targets = qrels
        .iter()
        .map(|l| {
            l.split('\t')
                .nth(1)
                .expect("two columns")
                .parse()
                .expect("an id")
        })
        .collect();
    let meta = lines(hybrid.join("query_meta.tsv"));
    let paraphrase = meta[1..]
        .iter()
        .map(|l| l.split('\t').nth(1) == Some("paraphrase"))
        .collect();
    Some(Set {
        texts: lines(minilm.join("base.txt")),
        base: read_fvecs(&minilm.join("base.fvecs")).expect("base.fvecs"),
        queries: lines(hybrid.join("queries.txt")),
        vectors: read_fvecs(&hybrid.join("query.fvecs")).expect("query.fvecs"),
        targets,
        paraphrase,
    })
}

fn points(set: &Set, range: std::ops::Range<usize>, bm25: &Bm25Embedder) -> Vec<Point> {
    range
        .map(|i| {
            Point::new(i as u64, set.base[i].clone())
                .with_payload(serde_json::json!({
                    "text": set.texts[i],
                    "bucket": format!("b{}", i % 100),
                }))
                .with_sparse("bm25", bm25.embed_document(&set.texts[i]))
        })
        .collect()
}

/// MRR@10 and recall@10 over the queries `which` selects.
fn quality(set: &Set, results: &[Vec<u64>], which: impl Fn(usize) -> bool) -> (f64, f64) {
    let (mut rr, mut found, mut n) = (0.0, 0.0, 0.0);
    for (i, ids) in results.iter().enumerate().filter(|(i, _)| which(*i)) {
        n += 1.0;
        if let Some(r) = ids.iter().take(10).position(|&id| id == set.targets[i]) {
            rr += 1.0 / (r + 1) as f64;
            found += 1.0;
        }
    }
    (rr / n, found / n)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(set) = load() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Database::open_with(dir.path(), options()).expect("open");
    let col = db
        .create_collection(
            "h",
            CollectionConfig::new(384, Metric::Cosine).with_sparse(SparseField::new("bm25", true)),
        )
        .expect("create");
    // Sparse BM25 as Qdrant's `Bm25` embedder makes it (k1 1.2, b 0.75, avg_len 256, English
    // stop words and stemmer), searched with the field's IDF modifier.
    let embedder = Bm25Embedder::new(TextConfig::default(), 256.0);
    col.create_index("text", IndexKind::Text)
        .expect("text index");
    col.create_index("bucket", IndexKind::Keyword)
        .expect("keyword index");
    // Durable ingest with only a text index (and the dense vectors), in a collection of its
    // own: what a text index costs a write.
    {
        let t = db
            .create_collection("t", CollectionConfig::new(384, Metric::Cosine))
            .expect("create");
        t.create_index("text", IndexKind::Text).expect("text index");
        let start = Instant::now();
        for from in (0..set.base.len()).step_by(1000) {
            let batch: Vec<Point> = (from..(from + 1000).min(set.base.len()))
                .map(|i| {
                    Point::new(i as u64, set.base[i].clone())
                        .with_payload(serde_json::json!({ "text": set.texts[i] }))
                })
                .collect();
            t.upsert(&batch).expect("upsert");
            t.flush().expect("flush");
        }
        println!(
            "ingest, durable (batches of 1,000 flushed; a text index; graph waiting): {:.0} documents/s",
            set.base.len() as f64 / start.elapsed().as_secs_f64()
        );
        db.drop_collection("t").expect("drop");
    }
    let start = Instant::now();
    for from in (0..set.base.len()).step_by(1000) {
        col.upsert(&points(
            &set,
            from..(from + 1000).min(set.base.len()),
            &embedder,
        ))
        .expect("upsert");
        col.flush().expect("flush");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingest, durable (batches of 1,000 flushed; text and keyword indexes, sparse BM25 vectors embedded; graph waiting): {:.0} documents/s",
        set.base.len() as f64 / secs
    );
    col.optimize(None).expect("optimize");
    // Reopening: the text index loaded from the checkpoint's text file, then rebuilt from
    // the payloads when the file is gone (what every open did before the file existed).
    col.checkpoint().expect("checkpoint");
    drop(col);
    drop(db);
    let reopen = || {
        let t = Instant::now();
        let db = Database::open_with(dir.path(), options()).expect("open");
        let col = db.collection("h").expect("collection");
        (t.elapsed().as_secs_f64(), db, col)
    };
    let loaded = (0..3).map(|_| reopen().0).fold(f64::INFINITY, f64::min);
    let text_file = std::fs::read_dir(dir.path().join("collections/h"))
        .expect("the collection's directory")
        .map(|e| e.expect("an entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("text-"))
        })
        .expect("the checkpoint's text file");
    let saved = std::fs::read(&text_file).expect("readable");
    std::fs::remove_file(&text_file).expect("removable");
    let rebuilt = reopen().0;
    std::fs::write(&text_file, saved).expect("writable");
    println!(
        "open after a checkpoint: {:.0} ms with the saved text index, {:.0} ms analysing every text again ({:.1}x)",
        loaded * 1e3,
        rebuilt * 1e3,
        rebuilt / loaded
    );
    // The database stays open while its collection is used.
    let (_, _db, col) = reopen();

    let dense = move |v: &[f32]| Leg::dense(v.to_vec()).with_ef(64);
    let text = move |q: &str, b: f32| Leg::text("text", q).with_bm25(Bm25 { k1: 1.2, b });
    let embedder = &embedder;
    let sparse = move |q: &str| Leg::sparse("bm25", embedder.embed_query(q));
    type Make<'a> = Box<dyn Fn(usize) -> Query + 'a>;
    let mut methods: Vec<(&str, Make<'_>)> = vec![
        (
            "dense (HNSW, ef 64)",
            Box::new(|i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(dense(&set.vectors[i]))
            }),
        ),
        (
            "BM25 (k1 1.2, b 0.75)",
            Box::new(|i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(text(&set.queries[i], 0.75))
            }),
        ),
        (
            "BM25 (k1 1.2, b 0.3)",
            Box::new(|i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(text(&set.queries[i], 0.3))
            }),
        ),
        (
            "BM25 (k1 1.2, b 0.1)",
            Box::new(|i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(text(&set.queries[i], 0.1))
            }),
        ),
        (
            "sparse BM25 (embedder, IDF, avg_len 256)",
            Box::new(|i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(sparse(&set.queries[i]))
            }),
        ),
    ];
    let (qs, vs) = (&set.queries, &set.vectors);
    for (fname, fusion) in [("RRF k=2", Fusion::Rrf { k: 2.0 }), ("DBSF", Fusion::Dbsf)] {
        let name = format!("{fname}, dense 50 + sparse BM25 50");
        let make: Make<'_> = Box::new(move |i| {
            Query::new(10)
                .with_payload(false)
                .leg(dense(&vs[i]).with_limit(50))
                .leg(sparse(&qs[i]).with_limit(50))
                .with_fusion(fusion)
        });
        methods.push((Box::leak(name.into_boxed_str()), make));
    }
    for (fname, fusion) in [
        ("RRF k=2", Fusion::Rrf { k: 2.0 }),
        ("DBSF", Fusion::Dbsf),
        ("relative", Fusion::Relative),
    ] {
        for (b, dw) in [
            (0.75, 1.0),
            (0.3, 1.0),
            (0.1, 1.0),
            (0.0, 1.0),
            (0.3, 0.5),
            (0.3, 0.3),
        ] {
            let name = format!("{fname}, dense 50 (weight {dw}) + BM25 b {b} 50");
            let make: Make<'_> = Box::new(move |i| {
                Query::new(10)
                    .with_payload(false)
                    .leg(dense(&vs[i]).with_limit(50).with_weight(dw))
                    .leg(text(&qs[i], b).with_limit(50))
                    .with_fusion(fusion)
            });
            methods.push((Box::leak(name.into_boxed_str()), make));
        }
    }
    println!(
        "| method | MRR@10 all | R@10 all | MRR@10 known | R@10 known | MRR@10 para | R@10 para | QPS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, make) in &methods {
        let mut best = f64::INFINITY;
        let mut results = Vec::new();
        for _ in 0..3 {
            // Building the queries is timed too: a sparse leg embeds its text there.
            let t = Instant::now();
            let queries: Vec<Query> = (0..set.queries.len()).map(make).collect();
            let hits = col.query_batch(&queries).expect("query");
            best = best.min(t.elapsed().as_secs_f64());
            let again = col.query_batch(&queries).expect("query");
            assert_eq!(hits, again, "{name}: identical calls, identical answers");
            results = hits
                .into_iter()
                .map(|h| h.into_iter().map(|h| h.id).collect::<Vec<_>>())
                .collect();
        }
        let all = quality(&set, &results, |_| true);
        let known = quality(&set, &results, |i| !set.paraphrase[i]);
        let para = quality(&set, &results, |i| set.paraphrase[i]);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} |",
            all.0,
            all.1,
            known.0,
            known.1,
            para.0,
            para.1,
            set.queries.len() as f64 / best
        );
    }

    // A text `match` of about 1 % against a keyword `eq`, each as a filtered search: the word
    // whose documents are closest to 200 of the 20,000.
    let mut df: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for t in &set.texts {
        let mut words: Vec<String> = t
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 4)
            .map(str::to_lowercase)
            .collect();
        words.sort();
        words.dedup();
        for w in words {
            *df.entry(w).or_default() += 1;
        }
    }
    let word = df
        .iter()
        .min_by_key(|(w, n)| (n.abs_diff(200), (*w).clone()))
        .map(|(w, _)| w.clone())
        .expect("words");
    let matched = Filter::text("text", word.as_str(), MatchMode::All);
    // The same points tagged under an indexed keyword: the two filters pass one set, so
    // only the indexes' work differs.
    let same: Vec<u64> = col
        .points(Some(matched.clone()), veles::Include::new(false, false))
        .map(|p| p.expect("a point").id)
        .collect();
    let tag = serde_json::json!({ "tag": "hit" });
    col.set_payload(&same, tag.as_object().expect("an object"))
        .expect("tag");
    col.create_index("tag", IndexKind::Keyword).expect("index");
    let keyword = Filter::eq("tag", "hit");
    let vectors: Vec<&[f32]> = set.vectors.iter().take(200).map(Vec::as_slice).collect();
    let text_name = format!("text match {word:?}");
    for (name, f) in [(text_name.as_str(), &matched), ("keyword eq", &keyword)] {
        let n = col.count(Some(f)).expect("count");
        let params = SearchParams::default()
            .with_filter(Some(f))
            .with_include(veles::Include::new(false, false));
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            col.search_batch(&vectors, 10, &params).expect("search");
            best = best.min(t.elapsed().as_secs_f64());
        }
        let plan = col.plan(10, &params).expect("plan");
        println!(
            "filtered search, {name} ({n} of {} points, plan {:?}): {:.0} QPS",
            set.base.len(),
            plan.kind,
            vectors.len() as f64 / best
        );
    }
}
