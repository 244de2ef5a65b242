//! Collection snapshots over the API: create, list, download, delete, recover.
//!
//! A snapshot is one file, `<snapshots>/<collection>/<collection>-<ms>-<nonce>.snapshot`: a tar
//! (`tar.rs`) of a database holding that collection alone, as
//! [`veles::Database::snapshot_collection`] copies it (consistent: everything acknowledged
//! before the call is in it), with its SHA-256 beside it in `<file>.sha256`. The file is
//! written under a name starting with `.` and renamed when whole, so a listing never shows a
//! part.
//!
//! Recovering takes a `file://` location inside the snapshots directory (the server fetches no
//! remote URL), checks the SHA-256 when one is given, unpacks into a scratch directory,
//! opens and checks the copy, then [`veles::Database::restore_collection`] switches it in. A
//! collection's files are stamped with its name, so a snapshot recovers under the name it
//! was taken from; another name is a 400 that says so.

use crate::reply::{ApiError, ApiResult};
use crate::tar;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use veles::Database;

const SUFFIX: &str = ".snapshot";

/// A name no other request chose: the time in ms and a random nonce (two instances of the
/// wasi:http component, each a process of its own, may make one in the same millisecond).
fn unique(prefix: &str) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // Seeded from the system's randomness (wasi:random in a component).
    let nonce = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{prefix}-{ms}-{nonce:016x}")
}

fn failed(what: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: 500,
        message: format!("Service internal error: {what}"),
    }
}

fn io(path: &Path, e: std::io::Error) -> ApiError {
    failed(format!("{}: {e}", path.display()))
}

/// The directory of `collection`'s snapshots (the collection must exist).
fn folder(db: &Database, root: &Path, collection: &str) -> ApiResult<PathBuf> {
    db.collection(collection)?;
    Ok(root.join(collection))
}

fn sha256_of(path: &Path) -> ApiResult<String> {
    let mut f = fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `2026-12-05T13:41:07` (UTC) from Unix seconds, as Qdrant writes `creation_time`.
fn iso_time(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}")
}

fn description(path: &Path) -> ApiResult<Value> {
    let meta = fs::metadata(path).map_err(|e| io(path, e))?;
    let created = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| iso_time(d.as_secs()));
    let mut sum = path.as_os_str().to_owned();
    sum.push(".sha256");
    let checksum = fs::read_to_string(PathBuf::from(sum))
        .ok()
        .map(|s| s.trim().to_string());
    Ok(json!({
        "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "creation_time": created,
        "size": meta.len(),
        "checksum": checksum,
    }))
}

/// `POST /collections/{name}/snapshots`.
pub(crate) fn create(db: &Database, root: &Path, collection: &str) -> ApiResult {
    let folder = folder(db, root, collection)?;
    fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
    let name = format!("{}{SUFFIX}", unique(collection));
    let staging = folder.join(format!(".{name}.dir"));
    let part = folder.join(format!(".{name}.part"));
    let result = (|| {
        fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
        let dir = veles::region::FsDirectory::open(&staging).map_err(veles::Error::from)?;
        db.snapshot_collection(collection, &dir)?;
        drop(dir);
        tar::pack(&staging, &part).map_err(|e| failed(e.0))?;
        let sum = sha256_of(&part)?;
        let file = folder.join(&name);
        let sum_path = folder.join(format!("{name}.sha256"));
        fs::write(&sum_path, format!("{sum}\n")).map_err(|e| io(&sum_path, e))?;
        fs::rename(&part, &file).map_err(|e| io(&file, e))?;
        description(&file)
    })();
    let _ = fs::remove_dir_all(&staging);
    let _ = fs::remove_file(&part);
    result
}

/// `GET /collections/{name}/snapshots`, newest last.
pub(crate) fn list(db: &Database, root: &Path, collection: &str) -> ApiResult {
    let folder = folder(db, root, collection)?;
    let mut names = Vec::new();
    match fs::read_dir(&folder) {
        Ok(entries) => {
            for e in entries {
                let name = e.map_err(|err| io(&folder, err))?.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(SUFFIX) && !name.starts_with('.') {
                    names.push(name.into_owned());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&folder, e)),
    }
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.push(description(&folder.join(n))?);
    }
    Ok(Value::Array(out))
}

/// The path of snapshot `name` of `collection`; 404 when it is not one.
fn snapshot_path(db: &Database, root: &Path, collection: &str, name: &str) -> ApiResult<PathBuf> {
    let folder = folder(db, root, collection)?;
    let plain = !name.starts_with('.') && !name.contains(['/', '\\']) && name.ends_with(SUFFIX);
    let path = folder.join(name);
    match plain && path.is_file() {
        true => Ok(path),
        false => Err(ApiError::not_found(format!(
            "snapshot {name} of collection {collection}"
        ))),
    }
}

/// `GET /collections/{name}/snapshots/{snapshot}`: the file, which the transport streams.
pub(crate) fn download(
    db: &Database,
    root: &Path,
    collection: &str,
    name: &str,
) -> ApiResult<PathBuf> {
    snapshot_path(db, root, collection, name)
}

/// `DELETE /collections/{name}/snapshots/{snapshot}`.
pub(crate) fn delete(db: &Database, root: &Path, collection: &str, name: &str) -> ApiResult {
    let path = snapshot_path(db, root, collection, name)?;
    fs::remove_file(&path).map_err(|e| io(&path, e))?;
    let _ = fs::remove_file(path.with_extension("snapshot.sha256"));
    Ok(json!(true))
}

/// The snapshot a `file://` location names, if it lies inside `root` (no `..`).
fn local(root: &Path, location: &str) -> ApiResult<PathBuf> {
    let Some(path) = location.strip_prefix("file://") else {
        return Err(ApiError::bad(format!(
            "location {location:?}: only file:// locations inside this server's snapshots \
             directory are recovered (no remote URL is fetched)"
        )));
    };
    let path = Path::new(path);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::RootDir));
    match plain && path.starts_with(root) && path.is_file() {
        true => Ok(path.to_path_buf()),
        false => Err(ApiError::bad(format!(
            "location {location:?} is not a snapshot file under {}",
            root.display()
        ))),
    }
}

/// `PUT /collections/{name}/snapshots/recover` with `{"location", "checksum"?, "priority"?}`.
pub(crate) fn recover(db: &Database, root: &Path, collection: &str, body: &Value) -> ApiResult {
    veles::validate_name(collection)?;
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("`location` (a file:// URL) is required"))?;
    match body.get("priority").and_then(Value::as_str) {
        None | Some("snapshot") => {}
        Some(p) => {
            return Err(ApiError::unsupported(&format!(
                "priority {p:?} (a snapshot replaces the collection whole)"
            )));
        }
    }
    let file = local(root, location)?;
    if let Some(want) = body.get("checksum").and_then(Value::as_str) {
        let got = sha256_of(&file)?;
        if !got.eq_ignore_ascii_case(want) {
            return Err(ApiError::bad(format!(
                "the snapshot's SHA-256 is {got}, not {want}"
            )));
        }
    }
    let scratch = root.join(format!(".{}", unique("recover")));
    let result = (|| {
        fs::create_dir_all(&scratch).map_err(|e| io(&scratch, e))?;
        tar::unpack(&file, &scratch)
            .map_err(|e| ApiError::bad(format!("the snapshot {}: {}", file.display(), e.0)))?;
        let copy = Database::open_read_only(&scratch).map_err(|e| {
            ApiError::bad(format!(
                "the snapshot {} does not open: {e}",
                file.display()
            ))
        })?;
        let held = copy.list()?;
        if held != [collection] {
            return Err(ApiError::bad(format!(
                "the snapshot holds {held:?}: a collection's files carry its name, so a \
                 snapshot recovers only under the name it was taken from"
            )));
        }
        for report in copy.check()? {
            if let Some(p) = report.problems.first() {
                return Err(ApiError::bad(format!(
                    "the snapshot {} is damaged: {p}",
                    file.display()
                )));
            }
        }
        db.restore_collection(collection, &copy)?;
        Ok(json!(true))
    })();
    let _ = fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::iso_time;

    #[test]
    fn unix_seconds_become_a_utc_date() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(iso_time(1_796_478_067), "2026-12-05T13:41:07");
    }
}
