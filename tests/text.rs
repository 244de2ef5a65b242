//! Full text and fused queries: text indexes answer `match` filters as evaluation does,
//! BM25 ranks as a scoring of every posting would, the index follows every write and survives
//! a reopen (from the checkpoint and from the log), CJK text is found by its words, and
//! fused queries are deterministic. On `../shared/data/hybrid-20k`, the quality floors.

use serde_json::json;
use veles::testing::{Rng, read_fvecs, shared_data};
use veles::{
    Bm25, CollectionConfig, Database, Filter, Fusion, IndexKind, Leg, MatchMode, Metric, Options,
    PlanKind, Point, Query, TextConfig, Tokenizer,
};

const DOCS: [&str; 8] = [
    "The quick brown fox jumps over the lazy dog",
    "A fast brown dog runs in the park",
    "Foxes are quick and clever animals",
    "Python packages for data science",
    "A lazy afternoon in the park with the dog",
    "我爱北京天安门",
    "東京タワーは高いです",
    "Crème brûlée recipes from Paris",
];

fn vector(i: u64) -> Vec<f32> {
    let mut rng = Rng::new(i);
    (0..8).map(|_| rng.unit_f32() - 0.5).collect()
}

fn filled(db: &Database) -> veles::Collection {
    let col = db
        .create_collection("t", CollectionConfig::new(8, Metric::Cosine))
        .unwrap();
    let points: Vec<Point> = DOCS
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Point::new(i as u64, vector(i as u64)).with_payload(json!({"body": d, "n": i}))
        })
        .collect();
    col.upsert(&points).unwrap();
    col
}

fn ids(hits: &[veles::Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.id).collect()
}

fn text_query(q: &str) -> Query {
    Query::new(10).leg(Leg::text("body", q))
}

#[test]
fn match_filters_answer_with_and_without_the_index_alike() {
    let db = Database::in_memory();
    let col = filled(&db);
    let filters = [
        Filter::text("body", "quick fox", MatchMode::All),
        Filter::text("body", "fox dog", MatchMode::Any),
        Filter::text("body", "lazy dog", MatchMode::Phrase),
        Filter::text("body", "dog lazy", MatchMode::Phrase),
        Filter::text("body", "the", MatchMode::All),
        Filter::text("body", "CREME brulee", MatchMode::All),
        Filter::text("body", "北京", MatchMode::All),
        Filter::and([
            Filter::text("body", "dog", MatchMode::All),
            Filter::lt("n", 3),
        ]),
        !Filter::text("body", "park", MatchMode::Any),
    ];
    let before: Vec<u64> = filters
        .iter()
        .map(|f| col.count(Some(f)).unwrap())
        .collect();
    assert!(col.create_index("body", IndexKind::Text).unwrap());
    let after: Vec<u64> = filters
        .iter()
        .map(|f| col.count(Some(f)).unwrap())
        .collect();
    assert_eq!(
        before, after,
        "the default analysis, with or without the index"
    );
    // quick+fox (stemmed: "foxes" → "fox"): 0 and 2; any of fox/dog: 0, 1, 2, 4; the phrase
    // "lazy dog" only in 0 (4 has "the" between, a stop word kept as a gap); the stop word
    // alone matches nothing; folding finds the crème brûlée; the bigram finds 北京.
    assert_eq!(after, [2, 4, 1, 0, 0, 1, 1, 2, 6]);
    let plan = col
        .plan(
            1,
            &veles::SearchParams::default().with_filter(Some(&filters[0])),
        )
        .unwrap();
    assert_eq!(plan.matches, None, "two words: a bound, not exact");
    assert!(!col.create_index("body", IndexKind::Text).unwrap());
}

#[test]
fn bm25_ranks_the_words_and_follows_writes() {
    let db = Database::in_memory();
    let col = filled(&db);
    col.create_index("body", IndexKind::Text).unwrap();
    let hits = col.query(&text_query("lazy dog")).unwrap();
    assert_eq!(
        ids(&hits)[..2],
        [4, 0],
        "both words; the shorter text (in terms) first"
    );
    assert_eq!(ids(&hits)[2], 1, "one word");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(hits[0].payload.as_ref().unwrap()["n"], 4);
    // A filter on the leg.
    let q = Query::new(10).leg(Leg::text("body", "dog").with_filter(Filter::gte("n", 2)));
    assert_eq!(ids(&col.query(&q).unwrap()), [4]);
    // Updates, payload changes and deletes move the index.
    let fields = json!({"body": "nothing here"});
    col.set_payload(&[4], fields.as_object().unwrap()).unwrap();
    col.delete(&[1]).unwrap();
    col.upsert(&[Point::new(9, vector(9)).with_payload(json!({"body": "dog dog dog"}))])
        .unwrap();
    assert_eq!(ids(&col.query(&text_query("dog")).unwrap()), [9, 0]);
    assert!(col.query(&text_query("zebra")).unwrap().is_empty());
    // The plan of a text leg.
    let plans = col.query_plan(&text_query("dog")).unwrap();
    assert_eq!(plans[0].kind, PlanKind::Postings);
    // A text leg on a key without a text index is a clear error.
    let err = col
        .query(&Query::new(3).leg(Leg::text("n", "x")))
        .unwrap_err();
    assert!(err.to_string().contains("no text index on \"n\""), "{err}");
    assert!(col.drop_index("body", IndexKind::Text).unwrap());
    assert!(col.query(&text_query("dog")).is_err());
}

#[test]
fn cjk_text_is_found_by_its_words() {
    let db = Database::in_memory();
    let col = filled(&db);
    col.create_text_index("body", TextConfig::default().with_tokenizer(Tokenizer::Cjk))
        .unwrap();
    for (q, want) in [
        ("北京", 5),
        ("天安门", 5),
        ("東京タワー", 6),
        ("東京", 6),
        ("タ", 6),
    ] {
        let hits = col.query(&text_query(q)).unwrap();
        assert_eq!(hits.first().map(|h| h.id), Some(want), "{q}");
        assert_eq!(
            col.count(Some(&Filter::text("body", q, MatchMode::Phrase)))
                .unwrap(),
            1,
            "{q}"
        );
    }
}

#[test]
fn text_indexes_and_their_configs_survive_reopen_from_log_and_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = TextConfig::plain(Tokenizer::Whitespace).with_lowercase(true);
    let want;
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = filled(&db);
        col.create_text_index("body", config).unwrap();
        col.flush().unwrap();
        want = col.query(&text_query("the park")).unwrap();
        assert!(!want.is_empty());
    }
    for round in 0..2 {
        let db = Database::open(tmp.path()).unwrap();
        let col = db.collection("t").unwrap();
        assert_eq!(
            col.query(&text_query("the park")).unwrap(),
            want,
            "round {round}"
        );
        // Whitespace tokens keep punctuation: "park" is not "park.".
        assert_eq!(
            col.count(Some(&Filter::text("body", "brûlée", MatchMode::All)))
                .unwrap(),
            1
        );
        let report = col.check().unwrap();
        assert!(report.is_ok(), "{report:?}");
        col.checkpoint().unwrap();
    }
}

#[test]
fn fused_queries_are_deterministic_and_weights_decide() {
    let db = Database::open_in(
        std::sync::Arc::new(veles::region::MemoryDirectory::new()),
        Options::default(),
    )
    .unwrap();
    let col = db
        .create_collection("f", CollectionConfig::new(8, Metric::Euclidean))
        .unwrap();
    let points: Vec<Point> = (0..400u64)
        .map(|i| {
            let words = ["red", "green", "blue", "shoe", "hat"];
            let body = format!(
                "{} {}",
                words[(i % 5) as usize],
                words[(i / 5 % 5) as usize]
            );
            Point::new(i, vector(i)).with_payload(json!({ "body": body }))
        })
        .collect();
    col.upsert(&points).unwrap();
    col.create_index("body", IndexKind::Text).unwrap();
    let q = |fusion, w: f32| {
        Query::new(10)
            .with_payload(false)
            .leg(Leg::dense(vector(7)).with_limit(20).with_weight(w))
            .leg(Leg::text("body", "red shoe").with_limit(20))
            .with_fusion(fusion)
    };
    for fusion in [Fusion::Rrf { k: 2.0 }, Fusion::Dbsf, Fusion::Relative] {
        let first = col.query(&q(fusion, 1.0)).unwrap();
        assert_eq!(first.len(), 10);
        for _ in 0..5 {
            assert_eq!(col.query(&q(fusion, 1.0)).unwrap(), first, "{fusion:?}");
        }
        // All weight on the dense leg: the dense ranking's order (point 7 itself first).
        let dense = col.query(&q(fusion, 1000.0)).unwrap();
        assert_eq!(dense[0].id, 7, "{fusion:?}");
        // No weight on it: the text ranking (many ties there, broken by id).
        let text = ids(&col.query(&q(fusion, 0.0)).unwrap());
        let alone = ids(&col
            .query(
                &Query::new(20)
                    .with_payload(false)
                    .leg(Leg::text("body", "red shoe").with_limit(20)),
            )
            .unwrap());
        assert_eq!(text, alone[..10], "{fusion:?}");
    }
    // Several dense legs (multi-query): the same vector twice fuses to its own ranking.
    let twice = Query::new(10)
        .with_payload(false)
        .leg(Leg::dense(vector(9)).with_limit(30))
        .leg(Leg::dense(vector(9)).with_limit(30));
    let once = col
        .search(&vector(9), 10, None)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>();
    assert_eq!(ids(&col.query(&twice).unwrap()), once);
    // A single dense leg returns the search's own scores (distances here).
    let one = col
        .query(&Query::new(3).leg(Leg::dense(vector(7))))
        .unwrap();
    let search = col.search(&vector(7), 3, None).unwrap();
    assert_eq!(one, search);
    for bad in [
        Query::new(10),
        Query::new(0).leg(Leg::dense(vector(1))),
        Query::new(10).leg(Leg::dense(vec![1.0; 3])),
        Query::new(10).leg(Leg::dense(vector(1)).with_weight(f32::NAN)),
        Query::new(10).leg(Leg::text("body", "x").with_bm25(Bm25 { k1: 1.2, b: 2.0 })),
        Query::new(10)
            .leg(Leg::dense(vector(1)))
            .leg(Leg::dense(vector(2)))
            .with_fusion(Fusion::Rrf { k: 0.0 }),
    ] {
        assert!(col.query(&bad).is_err(), "{bad:?}");
    }
}

/// MRR@10 of the known-item targets.
fn mrr(results: &[Vec<veles::Hit>], targets: &[u64]) -> f64 {
    let sum: f64 = results
        .iter()
        .zip(targets)
        .map(|(hits, t)| {
            hits.iter()
                .take(10)
                .position(|h| h.id == *t)
                .map_or(0.0, |r| 1.0 / (r + 1) as f64)
        })
        .sum();
    sum / targets.len() as f64
}

/// The quality floors on hybrid-20k (`bench/RESULTS.md` has the figures and the peer's).
#[test]
fn hybrid_20k_quality() {
    let (Some(hybrid), Some(minilm)) = (shared_data("hybrid-20k"), shared_data("minilm-20k"))
    else {
        return;
    };
    let texts = std::fs::read_to_string(minilm.join("base.txt")).unwrap();
    let base = read_fvecs(&minilm.join("base.fvecs")).unwrap();
    let queries = std::fs::read_to_string(hybrid.join("queries.txt")).unwrap();
    let vectors = read_fvecs(&hybrid.join("query.fvecs")).unwrap();
    let targets: Vec<u64> = std::fs::read_to_string(hybrid.join("qrels.tsv"))
        .unwrap()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .collect();
    let db = Database::in_memory();
    let config = CollectionConfig::new(384, Metric::Cosine)
        .with_sparse(veles::SparseField::new("bm25", true));
    let col = db.create_collection("h", config).unwrap();
    col.create_index("text", IndexKind::Text).unwrap();
    let embedder = veles::Bm25Embedder::new(TextConfig::default(), 256.0);
    let points: Vec<Point> = texts
        .lines()
        .zip(base)
        .enumerate()
        .map(|(i, (t, v))| {
            Point::new(i as u64, v)
                .with_payload(json!({ "text": t }))
                .with_sparse("bm25", embedder.embed_document(t))
        })
        .collect();
    for chunk in points.chunks(5000) {
        col.upsert(chunk).unwrap();
    }
    let run = |make: &dyn Fn(usize, &str) -> Query| -> f64 {
        let qs: Vec<Query> = queries
            .lines()
            .enumerate()
            .map(|(i, q)| make(i, q))
            .collect();
        mrr(&col.query_batch(&qs).unwrap(), &targets)
    };
    let bm25 = |b: f32| {
        move |_: usize, q: &str| {
            Query::new(10)
                .with_payload(false)
                .leg(Leg::text("text", q).with_bm25(Bm25 { k1: 1.2, b }))
        }
    };
    let dense_exact = |i: usize| {
        Leg::new(veles::Source::Dense {
            vector: vectors[i].clone(),
            ef: None,
            exact: true,
        })
        .with_limit(50)
    };
    let bm25_default = run(&bm25(0.75));
    let bm25_tuned = run(&bm25(0.3));
    let weighted = run(&|i, q| {
        Query::new(10)
            .with_payload(false)
            .leg(dense_exact(i).with_weight(0.3))
            .leg(
                Leg::text("text", q)
                    .with_limit(50)
                    .with_bm25(Bm25 { k1: 1.2, b: 0.3 }),
            )
            .with_fusion(Fusion::Dbsf)
    });
    // BM25 as sparse vectors (`Bm25Embedder`, the IDF modifier), as Qdrant fills a field.
    let sparse = run(&|_, q| {
        Query::new(10)
            .with_payload(false)
            .leg(Leg::sparse("bm25", embedder.embed_query(q)))
    });
    eprintln!(
        "MRR@10: BM25 b 0.75 {bm25_default:.3}, b 0.3 {bm25_tuned:.3}, sparse BM25 {sparse:.3}, weighted DBSF {weighted:.3}"
    );
    assert!(sparse > 0.86, "{sparse}");
    // Floors a little under what the engine reaches (bench/RESULTS.md), so that a change of
    // analysis or scoring that loses quality fails here.
    assert!(bm25_default > 0.83, "{bm25_default}");
    assert!(bm25_tuned > 0.855, "{bm25_tuned}");
    assert!(
        weighted >= bm25_tuned,
        "a weighted hybrid at least as good as its better leg"
    );
}

/// A checkpoint saves the text indexes (`text-<g>`), and an open loads them instead of
/// analysing every text again; a missing one is rebuilt (and `check` says so), a damaged one
/// is rebuilt and `check` reports the damage with the file.
#[test]
fn a_checkpoint_saves_text_indexes_and_an_open_loads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let config = TextConfig::default().with_tokenizer(Tokenizer::Cjk);
    let want;
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = filled(&db);
        col.create_text_index("body", config).unwrap();
        col.checkpoint().unwrap();
        want = col.query(&text_query("lazy dog 東京")).unwrap();
    }
    let text_file = || {
        std::fs::read_dir(tmp.path().join("collections/t"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("text-")
            })
    };
    let file = text_file().expect("the checkpoint wrote its text file");
    let rebuilt_note =
        |r: &veles::CheckReport| r.notes.iter().any(|n| n.contains("rebuilt on open"));
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = db.collection("t").unwrap();
        let report = col.check().unwrap();
        assert!(report.is_ok() && !rebuilt_note(&report), "{report:?}");
        assert_eq!(col.query(&text_query("lazy dog 東京")).unwrap(), want);
    }
    let bytes = std::fs::read(&file).unwrap();
    let mut damaged = bytes.clone();
    let at = bytes.len() / 2;
    damaged[at] ^= 0x20;
    std::fs::write(&file, &damaged).unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = db.collection("t").unwrap();
        assert_eq!(
            col.query(&text_query("lazy dog 東京")).unwrap(),
            want,
            "rebuilt"
        );
        let report = col.check().unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            report.problems.iter().any(|p| p.file.contains(&name)),
            "{report:?}"
        );
        assert!(rebuilt_note(&report), "{report:?}");
    }
    std::fs::remove_file(&file).unwrap();
    {
        let db = Database::open(tmp.path()).unwrap();
        let col = db.collection("t").unwrap();
        assert_eq!(
            col.query(&text_query("lazy dog 東京")).unwrap(),
            want,
            "rebuilt"
        );
        let report = col.check().unwrap();
        assert!(report.is_ok() && rebuilt_note(&report), "{report:?}");
        // The next checkpoint saves them again, and a compaction too.
        col.checkpoint().unwrap();
        col.compact().unwrap();
    }
    assert!(text_file().is_some());
    let db = Database::open(tmp.path()).unwrap();
    let col = db.collection("t").unwrap();
    let report = col.check().unwrap();
    assert!(report.is_ok() && !rebuilt_note(&report), "{report:?}");
    assert_eq!(col.query(&text_query("lazy dog 東京")).unwrap(), want);
}
