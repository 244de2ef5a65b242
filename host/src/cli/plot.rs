//! The recall/QPS curve engines are compared by, as a standalone SVG: recall@k across, QPS up
//! (log scale), one line per run with its `ef` values marked. `veles bench --plot` draws its
//! own run; `veles plot` draws the `--json` outputs of several (natively and through the
//! component, say).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fmt::Write as _;

/// One curve: a label and its points, `(recall, qps, ef)`.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64, usize)>,
}

const W: f64 = 760.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The series of one `veles bench --json` output: one per filter run.
pub fn series_of_run(run: &Value) -> Result<Vec<Series>> {
    let mode = run["mode"]
        .as_str()
        .context("not a `veles bench --json` output")?;
    let runs = run["runs"]
        .as_array()
        .context("no runs in the bench output")?;
    let mut out = Vec::new();
    for r in runs {
        let filter = match &r["filter"] {
            Value::Null => "no filter".to_string(),
            f => f.to_string(),
        };
        let points = r["search"]
            .as_array()
            .context("a run without search rows")?
            .iter()
            .filter_map(|row| {
                let recall = row["recall"].as_f64()?;
                let qps = row["qps"].as_f64()?;
                Some((recall, qps, row["ef"].as_u64()? as usize))
            })
            .collect();
        out.push(Series {
            label: format!("{mode}, {filter}"),
            points,
        });
    }
    Ok(out)
}

/// The plot of `series` as an SVG document.
pub fn svg(title: &str, series: &[Series]) -> Result<String> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|&(r, q, _)| (r, q)))
        .filter(|&(r, q)| r.is_finite() && q.is_finite() && q > 0.0)
        .collect();
    if all.is_empty() {
        bail!("nothing to plot: no (recall, QPS) points");
    }
    // Recall from the lowest measured (down to a tenth) to 1; QPS over whole decades.
    let rmin = (all.iter().map(|p| p.0).fold(1.0, f64::min) * 10.0).floor() / 10.0;
    let rmin = rmin.min(0.9);
    let lo = all
        .iter()
        .map(|p| p.1.log10())
        .fold(f64::MAX, f64::min)
        .floor();
    let hi = all
        .iter()
        .map(|p| p.1.log10())
        .fold(f64::MIN, f64::max)
        .ceil();
    let hi = if hi <= lo { lo + 1.0 } else { hi };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |r: f64| LEFT + (r - rmin) / (1.0 - rmin) * pw;
    let y = |q: f64| TOP + ph - (q.log10() - lo) / (hi - lo) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        escape(title)
    );
    // Grid and ticks: recall every 0.05 (labelled every 0.1 when wide), QPS per decade.
    let steps = ((1.0 - rmin) / 0.05).round() as usize;
    for i in 0..=steps {
        let r = rmin + i as f64 * 0.05;
        let gx = x(r);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#e5e5e5"/>"##,
            TOP + ph
        );
        if steps <= 10 || i % 2 == 0 {
            let _ = writeln!(
                s,
                r#"<text x="{gx:.1}" y="{:.1}" text-anchor="middle">{r:.2}</text>"#,
                TOP + ph + 18.0
            );
        }
    }
    for d in lo as i32..=hi as i32 {
        let q = 10f64.powi(d);
        let gy = y(q);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#e5e5e5"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{q}</text>"#,
            LEFT - 6.0,
            gy + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">recall@k</text>"#,
        LEFT + pw / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">queries per second (log)</text>"#,
        TOP + ph / 2.0
    );
    for (i, ser) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut pts: Vec<(f64, f64, usize)> = ser
            .points
            .iter()
            .copied()
            .filter(|&(r, q, _)| r.is_finite() && q > 0.0 && r >= rmin)
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let line: Vec<String> = pts
            .iter()
            .map(|&(r, q, _)| format!("{:.1},{:.1}", x(r), y(q)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            line.join(" ")
        );
        for &(r, q, ef) in &pts {
            let (px, py) = (x(r), y(q));
            let _ = writeln!(
                s,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="3.5" fill="{colour}"><title>ef {ef}: recall {r:.4}, {q:.0} QPS</title></circle>"#
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#555">{ef}</text>"##,
                px + 5.0,
                py - 5.0
            );
        }
        let ly = TOP + 14.0 + i as f64 * 20.0;
        let lx = LEFT + pw + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/>"#,
            lx + 22.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 28.0,
            ly + 4.0,
            escape(&ser.label)
        );
    }
    s.push_str("</svg>\n");
    Ok(s)
}

/// `veles plot`: the curves of `bench --json` runs (files, or `-` for stdin) into `out`.
pub(crate) fn command(out: &std::path::Path, runs: &[std::path::PathBuf]) -> Result<()> {
    let mut series = Vec::new();
    for path in runs {
        let text = match path.to_str() {
            Some("-") => std::io::read_to_string(std::io::stdin())?,
            _ => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        };
        let run: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", path.display()))?;
        series.extend(series_of_run(&run)?);
    }
    let doc = svg("veles bench: recall@k against QPS", &series)?;
    std::fs::write(out, doc).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_inside_the_axes_and_labels_are_escaped() {
        let series = [Series {
            label: "native, {\"key\":\"a<b\"}".into(),
            points: vec![(0.91, 20_000.0, 16), (0.99, 3_000.0, 128)],
        }];
        let doc = svg("t", &series).unwrap();
        assert!(doc.starts_with("<svg") && doc.ends_with("</svg>\n"));
        assert!(doc.contains("a&lt;b") && !doc.contains("a<b"));
        for c in doc.lines().filter(|l| l.starts_with("<circle")) {
            let num = |k: &str| -> f64 {
                let at = c.find(k).unwrap() + k.len();
                c[at..].split('"').next().unwrap().parse().unwrap()
            };
            let (cx, cy) = (num("cx=\""), num("cy=\""));
            assert!((LEFT..=W - RIGHT).contains(&cx) && (TOP..=H - BOTTOM).contains(&cy));
        }
        // Higher recall is further right, higher QPS further up.
        assert_eq!(doc.matches("<circle").count(), 2);
        assert!(svg("t", &[]).is_err());
    }
}
