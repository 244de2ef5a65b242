//! Writes a database with every kind of file: for comparing the bytes two builds write.
use veles::{CollectionConfig, Database, Metric, Point};
fn main() {
    let dir = std::env::args().nth(1).expect("dir");
    let db = Database::open(&dir).unwrap();
    let mut s = 7u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5
    };
    for (name, metric, dim) in [
        ("cos", Metric::Cosine, 24),
        ("l2", Metric::Euclidean, 16),
        ("ham", Metric::Hamming, 70),
    ] {
        let c = db
            .create_collection(name, CollectionConfig::new(dim, metric))
            .unwrap();
        for round in 0..4u64 {
            let pts: Vec<Point> = (0..1500u64)
                .map(|i| {
                    let v: Vec<f32> = (0..dim)
                        .map(|_| {
                            let x = next();
                            if metric == Metric::Hamming {
                                (x > 0.0) as u8 as f32
                            } else {
                                x
                            }
                        })
                        .collect();
                    Point::new(round * 700 + i, v)
                        .with_payload(serde_json::json!({"i": i, "r": round, "t": format!("p{i}")}))
                })
                .collect();
            c.upsert(&pts).unwrap();
            c.delete(&(0..300u64).map(|i| round * 500 + i * 3).collect::<Vec<_>>())
                .unwrap();
            c.flush().unwrap();
            if round == 1 {
                c.checkpoint().unwrap();
            }
            if round == 2 {
                c.compact().unwrap();
            }
        }
        c.flush().unwrap();
    }
}
