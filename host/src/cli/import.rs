//! `veles import`: points from a file into a collection, with progress, durable flushes and
//! a resumable stop at a bad record.

use super::args::Usage;
use super::data::{Format, PointReader};
use super::output::Refusal;
use super::progress;
use super::run::open_to_change;
use anyhow::{Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use veles_host::HostError;

/// Waiting points at which `import` links them (below the engine's default limit).
pub(crate) const CATCH_UP_AT: u64 = 8192;

/// `veles import`. Output is best effort: a reader that goes away does not stop the import
/// (it completes and checkpoints, then the command ends as SIGPIPE would). A bad record stops
/// The import bar: the file's bytes read, at what rate (with its unit), and the time left.
const BAR: &str =
    "{spinner} importing {bar:30} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, {eta} left)";

/// it after making the points before it durable, and says where and how to resume.
#[allow(clippy::too_many_arguments)]
pub(crate) fn import(
    dir: &Path,
    name: &str,
    file: &Path,
    format: Option<Format>,
    (batch, flush_every): (usize, usize),
    (start_id, skip): (Option<u64>, u64),
    native: bool,
    json_out: bool,
) -> Result<()> {
    let mut reader = PointReader::open(file, format, start_id.unwrap_or(0))
        .map_err(|e| Refusal::new("io", format!("{e:#}")))?;
    if start_id.is_some() && !reader.positional() {
        return Err(Usage(
            "--start-id applies to fvecs and npy files: jsonl lines carry their ids".into(),
        )
        .into());
    }
    let mut db = open_to_change(dir, native)?;
    db.config(name)?; // fail early on an unknown collection
    let bar = ProgressBar::new(reader.size)
        .with_style(ProgressStyle::with_template(BAR).expect("valid template"));
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut skipped = 0u64;
    while skipped < skip {
        let n = reader
            .next_batch((skip - skipped).min(10_000) as usize)?
            .len() as u64;
        if n == 0 {
            break;
        }
        skipped += n;
    }
    let started = Instant::now();
    let (mut total, mut batches) = (0u64, 0usize);
    let mut out = Output::default();
    loop {
        let points = match reader.next_batch(batch) {
            Ok(p) => p,
            Err(e) => {
                // What came before the bad record is kept: made durable, then reported.
                db.flush(name)?;
                db.checkpoint(name)?;
                bar.finish_and_clear();
                let done = skipped + total;
                return Err(e.context(format!(
                    "stopped: the {total} points before it are imported and durable; fix the \
                     record and resume with --skip {done}"
                )));
            }
        };
        if points.is_empty() {
            break;
        }
        if let Err(e) = db.upsert(name, &points) {
            // A storage failure (a full disk, an I/O error) latches the collection: it is the
            // error to report, not a record to look for.
            if !matches!(e, HostError::Engine(ref inner) if !matches!(inner, veles::Error::Storage(_)))
            {
                bar.finish_and_clear();
                return Err(anyhow::Error::new(e).context(format!(
                    "the import stopped after {} points (those flushed before are durable)",
                    skipped + total
                )));
            }
            // The batch is atomic: find the record it refused, keeping the ones before it.
            let mut failure = None;
            for p in &points {
                match db.upsert(name, std::slice::from_ref(p)) {
                    Ok(()) => total += 1,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            db.flush(name)?;
            db.checkpoint(name)?;
            bar.finish_and_clear();
            let done = skipped + total;
            let e = failure.map_or_else(|| anyhow!("the batch was refused"), anyhow::Error::new);
            return Err(e.context(format!(
                "record {} of {} was refused: the {total} points before it are imported and \
                 durable; fix it and resume with --skip {done}",
                done + 1,
                file.display()
            )));
        }
        total += points.len() as u64;
        batches += 1;
        bar.set_position(reader.position);
        bar.set_message(format!("{total} points"));
        // Upserts never wait for the graph; linking here, in short steps, keeps the bar
        // moving (an upsert past the engine's limit of waiting points would link them all).
        if db.optimize(name, Some(0))? >= CATCH_UP_AT {
            progress::catch_up(db.as_mut(), name, &bar, &format!("{total} points, "))?;
        }
        if batches.is_multiple_of(flush_every) {
            db.flush(name)?;
            if json_out {
                // Everything up to here is durable: a crash from now on keeps these points.
                out.line(json!({"event": "flushed", "points": total}).to_string());
            }
        }
    }
    progress::catch_up(db.as_mut(), name, &bar, &format!("{total} points, "))?;
    // A checkpoint saves the graph: the next open loads it instead of rebuilding it.
    bar.set_message(format!("{total} points, saving the graph"));
    db.checkpoint(name)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json_out {
        out.line(
            json!({"event": "done", "points": total, "skipped": skipped, "seconds": secs})
                .to_string(),
        );
    } else {
        out.line(format!(
            "imported {total} points into '{name}' in {secs:.2} s ({:.0} points/s), checkpointed",
            total as f64 / secs.max(1e-9)
        ));
    }
    out.finish()
}

/// Stdout written best effort: the first failure is kept, later lines are dropped, and
/// [`Output::finish`] reports it (a closed pipe ends the command as SIGPIPE would).
#[derive(Default)]
pub(crate) struct Output {
    failed: Option<std::io::Error>,
}

impl Output {
    fn line(&mut self, text: String) {
        if self.failed.is_none() {
            let mut o = std::io::stdout().lock();
            if let Err(e) = writeln!(o, "{text}").and_then(|()| o.flush()) {
                self.failed = Some(e);
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self.failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The rate is the file's bytes per second, printed with its unit (`{per_sec}` printed a
    /// bare count such as `101,334,841.6367/s`).
    #[test]
    fn the_import_bar_prints_its_rate_with_a_unit() {
        assert!(super::BAR.contains("{bytes_per_sec}") && !super::BAR.contains("{per_sec}"));
        indicatif::ProgressStyle::with_template(super::BAR).unwrap();
    }
}
