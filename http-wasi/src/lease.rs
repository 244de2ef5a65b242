//! The writer's lease: one writing request at a time across every instance a runtime runs.
//!
//! WASI has no file locks, so the lease is a file created exclusively (`create_new`, atomic in
//! every file system a runtime preopens): `<root>/LEASE`, holding the Unix time in
//! milliseconds after which it is stale. The holder removes it when its request is done. An
//! instance that died holding it (a trap, a killed runtime) leaves it behind: once stale, a
//! writer breaks it. Breaking is guarded by a second exclusive file, `LEASE.break`, so two
//! writers that both find the same stale lease cannot each remove the other's fresh one: only
//! the holder of `LEASE.break` removes `LEASE`, and only if it still holds the stale content.
//! A `LEASE.break` left by a breaker that died is removed after [`BREAK_STALE`].
//!
//! A request holds the lease for at most its time limit; the lease lasts [`LEASE_FOR`],
//! well beyond it, so a live holder is never taken for a dead one.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a lease lasts: a writing request answers well within it.
pub(crate) const LEASE_FOR: Duration = Duration::from_secs(120);
/// How long a `LEASE.break` may stay before it is taken for a breaker that died.
const BREAK_STALE: Duration = Duration::from_secs(10);
/// How long a writer waits between tries while another holds the lease.
const RETRY: Duration = Duration::from_millis(2);

/// A held lease; released (its file removed) on drop.
pub(crate) struct Lease {
    path: PathBuf,
}

/// Why no lease was taken.
#[derive(Debug)]
pub(crate) enum LeaseError {
    /// Another request held it for the whole wait.
    Busy,
    /// The file system refused (the message names the file).
    Io(String),
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn io(path: &Path, what: &str, e: std::io::Error) -> LeaseError {
    LeaseError::Io(format!("{}: {what}: {e}", path.display()))
}

impl Lease {
    /// Takes the lease of the database at `root`, waiting up to `wait` for another holder.
    pub(crate) fn take(root: &Path, wait: Duration) -> Result<Lease, LeaseError> {
        let path = root.join("LEASE");
        let start = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let expiry = now_ms() + LEASE_FOR.as_millis();
                    let lease = Lease { path };
                    f.write_all(format!("{expiry}\n").as_bytes())
                        .map_err(|e| io(&lease.path, "write", e))?;
                    return Ok(lease);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(&path, "create", e)),
            }
            match fs::read_to_string(&path) {
                // Gone meanwhile, or being written by its new holder: try again.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path, "read", e)),
                Ok(held) => {
                    // A lease whose expiry cannot be read is one being written (or damaged):
                    // it is broken like a stale one only once its file is old.
                    let stale = match held.trim().parse::<u128>() {
                        Ok(expiry) => now_ms() > expiry,
                        Err(_) => older_than(&path, LEASE_FOR),
                    };
                    if stale {
                        break_stale(root, &path, &held)?;
                        continue;
                    }
                }
            }
            if start.elapsed() >= wait {
                return Err(LeaseError::Busy);
            }
            std::thread::sleep(RETRY);
        }
    }
}

/// Whether the file at `path` was last written more than `age` ago.
fn older_than(path: &Path, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e > age)
}

/// Removes the stale lease at `path` if it still holds `held`, under `LEASE.break`.
fn break_stale(root: &Path, path: &Path, held: &str) -> Result<(), LeaseError> {
    let guard = root.join("LEASE.break");
    match OpenOptions::new().write(true).create_new(true).open(&guard) {
        Ok(_) => {
            let still = fs::read_to_string(path).is_ok_and(|now| now == held);
            let removed = match still {
                true => fs::remove_file(path).or_else(|e| match e.kind() {
                    ErrorKind::NotFound => Ok(()),
                    _ => Err(io(path, "remove", e)),
                }),
                false => Ok(()),
            };
            let _ = fs::remove_file(&guard);
            removed
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            if older_than(&guard, BREAK_STALE) {
                let _ = fs::remove_file(&guard);
            }
            std::thread::sleep(RETRY);
            Ok(())
        }
        Err(e) => Err(io(&guard, "create", e)),
    }
}
