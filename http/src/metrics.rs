//! What `/metrics` prints, in Prometheus' text format: requests and their time per route
//! and status, and per collection its points and the points waiting for the graph.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Per (route, status): how many requests, and their seconds in all.
type Counts = BTreeMap<(&'static str, u16), (u64, f64)>;

/// Requests counted per route and status.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<Counts>,
}

impl Metrics {
    pub(crate) fn record(&self, route: &'static str, status: u16, seconds: f64) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry((route, status)).or_default();
        e.0 += 1;
        e.1 += seconds;
    }

    /// The text exposition, with `collections` as (name, points, waiting).
    pub(crate) fn render(&self, collections: &[(String, usize, usize)]) -> String {
        let mut s = String::new();
        let m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            s,
            "# HELP veles_requests_total Requests answered, by route and status."
        );
        let _ = writeln!(s, "# TYPE veles_requests_total counter");
        for ((route, status), (n, _)) in m.iter() {
            let _ = writeln!(
                s,
                "veles_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP veles_request_seconds Time spent answering, by route and status."
        );
        let _ = writeln!(s, "# TYPE veles_request_seconds summary");
        for ((route, status), (n, secs)) in m.iter() {
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            let _ = writeln!(s, "veles_request_seconds_sum{{{labels}}} {secs}");
            let _ = writeln!(s, "veles_request_seconds_count{{{labels}}} {n}");
        }
        let _ = writeln!(s, "# HELP veles_points Live points per collection.");
        let _ = writeln!(s, "# TYPE veles_points gauge");
        for (name, points, _) in collections {
            let _ = writeln!(s, "veles_points{{collection=\"{name}\"}} {points}");
        }
        let _ = writeln!(
            s,
            "# HELP veles_unindexed Points waiting for the graph per collection."
        );
        let _ = writeln!(s, "# TYPE veles_unindexed gauge");
        for (name, _, waiting) in collections {
            let _ = writeln!(s, "veles_unindexed{{collection=\"{name}\"}} {waiting}");
        }
        s
    }
}
