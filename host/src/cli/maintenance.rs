//! The maintenance commands: `info`, `check`, `compact`, `checkpoint`, `snapshot`, `restore`.

use super::output::out;
use super::progress;
use super::run::{open, open_existing, open_to_change};
use anyhow::{Result, anyhow, bail};
use serde_json::json;
use std::path::{Path, PathBuf};
use veles_host::{OpenOptions, backend};

/// An existing database opened for writing (never created here), and the collections a
/// maintenance command acts on: `only`, or all of them.
fn open_to_write(
    dir: &Path,
    only: Option<String>,
    native: bool,
) -> Result<(Box<dyn veles_host::Backend>, Vec<String>)> {
    let mut db = open_to_change(dir, native)?;
    let names = match only {
        Some(n) => vec![n],
        None => db.list()?,
    };
    Ok((db, names))
}

/// `veles checkpoint`: links the points waiting for the graph (with progress), then folds
/// the log, for every collection or `name`.
pub(crate) fn checkpoint(
    dir: &Path,
    name: Option<String>,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let (mut db, names) = open_to_write(dir, name, native)?;
    for n in &names {
        let bar = progress::bar(0, "{spinner} {msg}", json_out);
        progress::catch_up(db.as_mut(), n, &bar, &format!("{n}: "))?;
        bar.set_message(format!("{n}: saving the checkpoint"));
        db.checkpoint(n)?;
        bar.finish_and_clear();
        let s = db.stats(n)?;
        match json_out {
            true => out!(
                "{}",
                json!({"collection": n, "generation": s.generation, "points": s.len})
            ),
            false => out!(
                "checkpointed {n}: {} points, generation {}",
                s.len,
                s.generation
            ),
        }
    }
    Ok(())
}

pub(crate) fn check(dir: &Path, only: Option<&str>, native: bool, json_out: bool) -> Result<()> {
    let mut db = open_existing(dir, native)?;
    let bar = progress::spinner(
        format!("checking every checksum of {}", human(disk_use(dir))),
        json_out,
    );
    let mut reports = db.check()?;
    bar.finish_and_clear();
    if let Some(name) = only {
        reports.retain(|r| r.collection == name);
        if reports.is_empty() {
            return Err(veles::Error::CollectionNotFound(name.to_string()).into());
        }
    }
    let bad = reports.iter().filter(|r| !r.is_ok()).count();
    if json_out {
        let v: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| object(r, json!({"ok": r.is_ok()})))
            .collect();
        out!(
            "{}",
            json!({"database": dir.display().to_string(), "ok": bad == 0, "collections": v})
        );
    } else {
        for r in &reports {
            let verdict = if r.is_ok() { "ok" } else { "DAMAGED" };
            out!(
                "{verdict:>7}  {}: {} points, {} slots, {} graph nodes, {} log records, {} bytes checked",
                r.collection,
                r.points,
                r.slots,
                r.graph_nodes,
                r.wal_records,
                r.bytes_checked
            );
            for p in &r.problems {
                out!("         problem: {p}");
            }
            for n in &r.notes {
                out!("         note: {n}");
            }
        }
        match bad {
            0 => out!("{} collection(s) checked: no problems", reports.len()),
            n => out!("{} collection(s) checked: {n} with problems", reports.len()),
        }
    }
    if bad > 0 {
        std::process::exit(1);
    }
    Ok(())
}

pub(crate) fn compact(
    dir: &Path,
    only: Option<String>,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let (mut db, names) = open_to_write(dir, only, native)?;
    let total = names.len();
    for (i, n) in names.into_iter().enumerate() {
        let files = dir.join("collections").join(&n);
        let disk_before = disk_use(&files);
        let bar = progress::spinner(
            format!(
                "compacting {n} ({} of {total}, {})",
                i + 1,
                human(disk_before)
            ),
            json_out,
        );
        let r = db.compact(&n)?;
        bar.finish_and_clear();
        let disk_after = disk_use(&files);
        if json_out {
            let extra =
                json!({"collection": n, "disk_before": disk_before, "disk_after": disk_after});
            out!("{}", object(&r, extra));
        } else {
            out!(
                "compacted {n}: {} points; slots {} -> {}; {} deleted points dropped from the graph; disk use {} -> {} bytes ({} given back; files span {} -> {} bytes)",
                r.points,
                r.slots_before,
                r.slots_after,
                r.tombstones_dropped,
                disk_before,
                disk_after,
                disk_before.saturating_sub(disk_after),
                r.bytes_before,
                r.bytes_after,
            );
        }
    }
    Ok(())
}

/// Bytes for people: `12.3 MiB`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{bytes} bytes"),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

/// The bytes the files in `dir` occupy on disk (allocated blocks, as `du` counts: holes are
/// free), or their lengths where the platform does not say.
pub(crate) fn disk_use(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512
            }
            #[cfg(not(unix))]
            {
                m.len()
            }
        })
        .sum()
}

/// `veles snapshot` (a consistent copy of a database) and `veles restore` (the same from a
/// snapshot, checked first and opened read-only).
pub(crate) fn snapshot(
    from: &Path,
    dest: &Path,
    restore: bool,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let r = copy(from, dest, restore, native, json_out)?;
    if json_out {
        out!(
            "{}",
            object(
                &r,
                json!({"from": from.display().to_string(), "to": dest.display().to_string()})
            )
        );
    } else {
        out!(
            "{} {} into {}: {} collection(s) [{}], {} bytes",
            if restore { "restored" } else { "snapshot of" },
            from.display(),
            dest.display(),
            r.collections.len(),
            r.collections.join(", "),
            r.bytes
        );
    }
    Ok(())
}

/// The copy of [`snapshot`], checked first when `restore`; progress hidden when `quiet`.
fn copy(
    from: &Path,
    dest: &Path,
    restore: bool,
    native: bool,
    quiet: bool,
) -> Result<veles::SnapshotReport> {
    if !veles::Database::exists(from) {
        return Err(anyhow!("{} is not a veles database", from.display()));
    }
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        match restore {
            true => bail!(
                "{} exists and is not empty (--force replaces a database there)",
                dest.display()
            ),
            false => bail!("{} exists and is not empty", dest.display()),
        }
    }
    let options = OpenOptions {
        read_only: restore,
        snapshot_dest: Some(dest.to_path_buf()),
        ..super::run::options()
    };
    let mut db = backend::open_with(from, native, None, &options)?;
    if restore {
        let bar = progress::spinner(format!("checking {}", from.display()), quiet);
        let reports = db.check();
        bar.finish_and_clear();
        let damaged: Vec<String> = reports?
            .into_iter()
            .filter(|r| !r.is_ok())
            .map(|r| format!("{}: {}", r.collection, r.problems[0]))
            .collect();
        if !damaged.is_empty() {
            bail!(
                "the snapshot does not check clean, not restoring: {}",
                damaged.join("; ")
            );
        }
    }
    let bar = progress::spinner(
        format!("copying {} into {}", human(disk_use(from)), dest.display()),
        quiet,
    );
    let r = db.snapshot(dest);
    bar.finish_and_clear();
    Ok(r?)
}

/// `veles restore --force` over a database: the snapshot is checked and copied into a new
/// directory beside `dest` (same file system), `dest`'s lock is taken (so no one has it
/// open), then the two are swapped by renames and the parent directory synced, and the old
/// database is removed. Only a veles database is replaced: anything else in `dest` is a
/// refusal. A crash between the two renames leaves both copies beside `dest`, named.
pub(crate) fn restore_over(from: &Path, dest: &Path, native: bool, json_out: bool) -> Result<()> {
    if !veles::Database::exists(dest) {
        bail!(
            "{} is not a veles database: --force replaces only a database",
            dest.display()
        );
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file = dest
        .file_name()
        .ok_or_else(|| anyhow!("{} names no directory", dest.display()))?;
    let sibling = |what: &str| {
        let mut name = file.to_os_string();
        name.push(format!(".{what}-{}", std::process::id()));
        parent.join(name)
    };
    let (staged, old) = (sibling("restoring"), sibling("replaced"));
    {
        let _lock = veles::region::DirectoryLock::exclusive(dest)
            .map_err(|e| anyhow!("{}: {e}", dest.display()))?;
        if let Err(e) = copy(from, &staged, true, native, json_out) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        std::fs::rename(dest, &old)?;
        if let Err(e) = std::fs::rename(&staged, dest) {
            bail!(
                "{e}: the database was moved to {} and the restored copy is in {}",
                old.display(),
                staged.display()
            );
        }
        std::fs::File::open(&parent)?.sync_all()?;
    }
    std::fs::remove_dir_all(&old)?;
    match json_out {
        true => out!(
            "{}",
            json!({"from": from.display().to_string(), "to": dest.display().to_string(), "replaced": true})
        ),
        false => out!(
            "restored {} into {}, replacing the database there",
            from.display(),
            dest.display()
        ),
    }
    Ok(())
}

pub(crate) fn info(dir: &Path, native: bool, json_out: bool) -> Result<()> {
    let mut db = open_existing(dir, native)?;
    let names = db.list()?;
    let mut rows = Vec::new();
    for n in &names {
        rows.push((n.clone(), db.stats(n)?, db.config(n)?));
    }
    if json_out {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s, c)| {
                object(
                    s,
                    json!({
                        "name": n, "points": s.len, "m": c.m, "ef_construction": c.ef_construction,
                        "disk_bytes": disk_use(&dir.join("collections").join(n)),
                    }),
                )
            })
            .collect();
        out!(
            "{}",
            json!({"database": dir.display().to_string(), "collections": v})
        );
        return Ok(());
    }
    out!(
        "database {} ({} collection{})",
        dir.display(),
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    );
    for (n, s, c) in rows {
        let disk = disk_use(&dir.join("collections").join(&n));
        out!(
            "  {n}: {} points, {} dimensions, {}; HNSW M {} ef_construction {}, {} graph nodes{}; \
             {} payload indexes; log {} (generation {}{}); disk {}",
            s.len,
            s.dimension,
            s.metric,
            c.m,
            c.ef_construction,
            s.graph_nodes,
            match s.unindexed {
                0 => String::new(),
                w => format!(" ({w} points waiting for it)"),
            },
            s.indexes,
            human(s.wal_bytes),
            s.generation,
            if s.unflushed {
                ", unflushed writes"
            } else {
                ""
            },
            human(disk)
        );
        if s.recovery.replayed_records > 0 || s.recovery.dropped_bytes > 0 {
            out!(
                "     recovery on open: replayed {} records, dropped {} bytes of torn log",
                s.recovery.replayed_records,
                s.recovery.dropped_bytes
            );
        }
    }
    Ok(())
}

/// `value` serialized as a JSON object, with the fields of `extra` added (the report types
/// are `Serialize`: the JSON follows them, never a hand-kept list of fields).
pub(crate) fn object(value: &impl serde::Serialize, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

/// `veles create`: a collection in `dir` (created, durably, when it is new).
pub(crate) fn create(
    dir: &Path,
    name: &str,
    config: veles::CollectionConfig,
    native: bool,
    json_out: bool,
) -> Result<()> {
    let mut db = open(dir, native)?;
    let (dim, metric) = (config.dimension, config.metric);
    db.create_collection(name, config)?;
    if json_out {
        out!(
            "{}",
            json!({"created": name, "dimension": dim, "metric": metric.name()})
        );
    } else {
        out!(
            "created collection '{name}' ({dim} dimensions, {metric}) in {}",
            dir.display()
        );
    }
    Ok(())
}

/// `veles drop`: a collection and its files (durable when it returns).
pub(crate) fn drop(dir: &Path, name: &str, native: bool, json_out: bool) -> Result<()> {
    let mut db = open_to_change(dir, native)?;
    db.drop_collection(name)?;
    match json_out {
        true => out!("{}", json!({ "dropped": name })),
        false => out!("dropped collection '{name}' from {}", dir.display()),
    }
    Ok(())
}
