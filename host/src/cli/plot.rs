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

/// The plotting area's size; the legend to its right is as wide as its longest label.
const PW: f64 = 460.0;
const PH: f64 = 390.0;
const H: f64 = TOP + PH + BOTTOM;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// What one character of 12px sans-serif takes at most, near enough for the legend's width
/// (a label is cut with an ellipsis past [`MAX_LABEL`] characters).
const CHAR_W: f64 = 7.0;
const MAX_LABEL: usize = 60;
/// Space an ef label needs (10px text), for placing labels that do not overlap.
const EF_W: f64 = 24.0;
const EF_H: f64 = 11.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `label` cut to [`MAX_LABEL`] characters.
fn shorten(label: &str) -> String {
    match label.chars().count() > MAX_LABEL {
        true => label.chars().take(MAX_LABEL - 1).collect::<String>() + "…",
        false => label.to_string(),
    }
}

/// The QPS axis: from just below the lowest measured to just above the highest (log10
/// units, at least a third of a decade), and its ticks at 1, 2 and 5 times a power of ten.
fn qps_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let pad = ((hi - lo) * 0.08).max(0.05);
    let (mut lo, mut hi) = (lo - pad, hi + pad);
    if hi - lo < 1.0 / 3.0 {
        let mid = (lo + hi) / 2.0;
        (lo, hi) = (mid - 1.0 / 6.0, mid + 1.0 / 6.0);
    }
    let mut ticks = Vec::new();
    for d in lo.floor() as i32..=hi.ceil() as i32 {
        for m in [1.0, 2.0, 5.0] {
            let t = m * 10f64.powi(d);
            if (lo..=hi).contains(&t.log10()) {
                ticks.push(t);
            }
        }
    }
    (lo, hi, ticks)
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
    // Recall from the lowest measured (down to a tenth) to 1; QPS around what was measured.
    let rmin = (all.iter().map(|p| p.0).fold(1.0, f64::min) * 10.0).floor() / 10.0;
    let rmin = rmin.min(0.9);
    let (lo, hi, qps_ticks) = qps_axis(
        all.iter().map(|p| p.1.log10()).fold(f64::MAX, f64::min),
        all.iter().map(|p| p.1.log10()).fold(f64::MIN, f64::max),
    );
    let labels: Vec<String> = series.iter().map(|s| shorten(&s.label)).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let w = (LEFT + PW + 16.0 + 28.0 + longest as f64 * CHAR_W + 16.0).ceil();
    let (pw, ph) = (PW, PH);
    let x = |r: f64| LEFT + (r - rmin) / (1.0 - rmin) * pw;
    let y = |q: f64| TOP + ph - (q.log10() - lo) / (hi - lo) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{H}" viewBox="0 0 {w} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        escape(title)
    );
    // Grid and ticks: recall every 0.05 (labelled every 0.1 when wide), QPS at 1-2-5.
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
    for q in qps_ticks {
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
    // Every marker first, so labels can keep clear of all of them.
    let mut taken: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut curves = Vec::new();
    for ser in series {
        let mut pts: Vec<(f64, f64, usize)> = ser
            .points
            .iter()
            .copied()
            .filter(|&(r, q, _)| r.is_finite() && q > 0.0 && r >= rmin)
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        for &(r, q, _) in &pts {
            let (px, py) = (x(r), y(q));
            taken.push((px - 4.0, py - 4.0, px + 4.0, py + 4.0));
        }
        curves.push(pts);
    }
    for (i, pts) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let line: Vec<String> = pts
            .iter()
            .map(|&(r, q, _)| format!("{:.1},{:.1}", x(r), y(q)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            line.join(" ")
        );
        for &(r, q, ef) in pts {
            let (px, py) = (x(r), y(q));
            let _ = writeln!(
                s,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="3.5" fill="{colour}"><title>ef {ef}: recall {r:.4}, {q:.0} QPS</title></circle>"#
            );
            // The first of four places around the marker that overlaps no label or marker
            // and stays inside the axes; none such: the hover title alone names it.
            let places = [
                (px + 5.0, py - 5.0),
                (px + 5.0, py + 5.0 + EF_H),
                (px - 5.0 - EF_W, py - 5.0),
                (px - 5.0 - EF_W, py + 5.0 + EF_H),
            ];
            let clear = places.into_iter().find(|&(lx, ly)| {
                let b = (lx, ly - EF_H, lx + EF_W, ly);
                let inside = b.0 >= LEFT && b.2 <= LEFT + pw && b.1 >= TOP && b.3 <= TOP + ph;
                inside
                    && taken
                        .iter()
                        .all(|t| b.2 <= t.0 || t.2 <= b.0 || b.3 <= t.1 || t.3 <= b.1)
            });
            if let Some((lx, ly)) = clear {
                taken.push((lx, ly - EF_H, lx + EF_W, ly));
                let _ = writeln!(
                    s,
                    r##"<text x="{lx:.1}" y="{ly:.1}" font-size="10" fill="#555">{ef}</text>"##
                );
            }
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
            escape(&labels[i])
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
            assert!((LEFT..=LEFT + PW).contains(&cx) && (TOP..=H - BOTTOM).contains(&cy));
        }
        // Higher recall is further right, higher QPS further up.
        assert_eq!(doc.matches("<circle").count(), 2);
        assert!(svg("t", &[]).is_err());
    }

    fn attr(line: &str, k: &str) -> f64 {
        let at = line.find(k).unwrap() + k.len();
        line[at..].split('"').next().unwrap().parse().unwrap()
    }

    /// Several runs as `veles plot` draws them: two builds, each unfiltered and with a
    /// filter, ef 16 to 512 bunched near recall 1.
    fn several_runs() -> Vec<Series> {
        let efs = [16, 24, 32, 48, 64, 96, 128, 256, 512];
        ["native", "component"]
            .iter()
            .flat_map(|mode| {
                [
                    "no filter",
                    "{\"key\":\"year\",\"gte\":2020,\"and_more\":\"a long filter\"}",
                ]
                .iter()
                .enumerate()
                .map(move |(f, filter)| Series {
                    label: format!("{mode}, {filter}"),
                    points: efs
                        .iter()
                        .map(|&ef| {
                            let r = 1.0 - 0.5 / ef as f64;
                            (r, 30_000.0 / (1.0 + ef as f64 / 40.0) / (1 + f) as f64, ef)
                        })
                        .collect(),
                })
            })
            .collect()
    }

    #[test]
    fn the_legend_fits_the_picture() {
        let doc = svg("t", &several_runs()).unwrap();
        let width = attr(doc.lines().next().unwrap(), "width=\"");
        for l in doc
            .lines()
            .filter(|l| l.starts_with("<text x=") && l.contains("native, "))
        {
            let text = l.split('>').nth(1).unwrap().split('<').next().unwrap();
            let text = text
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&amp;", "&");
            let end = attr(l, "x=\"") + text.chars().count() as f64 * CHAR_W;
            assert!(end <= width, "{l} ends at {end}, past {width}");
        }
    }

    #[test]
    fn ef_labels_never_overlap() {
        let doc = svg("t", &several_runs()).unwrap();
        let boxes: Vec<(f64, f64)> = doc
            .lines()
            .filter(|l| l.contains("font-size=\"10\""))
            .map(|l| (attr(l, "x=\""), attr(l, "y=\"")))
            .collect();
        assert!(
            boxes.len() >= 8,
            "most points keep a label: {}",
            boxes.len()
        );
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let apart = (a.0 - b.0).abs() >= EF_W || (a.1 - b.1).abs() >= EF_H;
                assert!(apart, "labels at {a:?} and {b:?} overlap");
            }
        }
    }

    #[test]
    fn the_qps_axis_spans_what_was_measured() {
        let series = [Series {
            label: "x".into(),
            points: vec![(0.9, 9_000.0, 16), (0.99, 30_000.0, 128)],
        }];
        let doc = svg("t", &series).unwrap();
        let ys: Vec<f64> = doc
            .lines()
            .filter(|l| l.starts_with("<circle"))
            .map(|l| attr(l, "cy=\""))
            .collect();
        let spread = (ys[0] - ys[1]).abs();
        assert!(
            spread >= 0.75 * PH,
            "the points use {spread} of {PH} pixels"
        );
    }
}
