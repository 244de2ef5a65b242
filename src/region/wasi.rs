//! Files through WASI's own filesystem interface (`wasm32-wasip2` only), opened with exactly
//! the descriptor flags a file needs.
//!
//! wasi-libc's `open` asks for `mutate-directory` on every file it opens for writing; hosts
//! that follow the interface strictly (jco's Node shim) refuse that flag on a file, so through
//! `std::fs` a component could never write a database there. Here a writable file is opened
//! `read | write` and nothing more; everything else (directories, renames, reads of small
//! files) stays with `std::fs`, which those hosts serve.
//!
//! Paths are resolved against the preopens as wasi-libc resolves them: an absolute path by the
//! longest matching absolute preopen (else relative to `.`), a relative one against `.` (else
//! against `/`, the initial working directory).

use std::io;
use std::path::Path;
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

/// An open file: the subset of `std::fs::File` the regions use.
pub struct File {
    fd: Descriptor,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wasi::File")
    }
}

/// What `File::metadata` tells.
pub struct Metadata {
    len: u64,
}

impl Metadata {
    pub fn len(&self) -> u64 {
        self.len
    }
}

/// The preopen that `path` resolves against, and the path relative to it.
fn resolve(path: &Path) -> io::Result<(Descriptor, String)> {
    let p = path
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a path that is not UTF-8"))?;
    let mut rel = p;
    while let Some(rest) = rel.strip_prefix("./") {
        rel = rest;
    }
    let mut best: Option<(usize, Descriptor, String)> = None;
    let mut dot = None;
    let mut root = None;
    for (fd, raw) in get_directories() {
        if raw == "." || raw == "./" {
            dot = Some(fd);
            continue;
        }
        let name = raw.trim_end_matches('/');
        if name.is_empty() {
            root = Some(fd);
            continue;
        }
        // An absolute preopen matches absolute paths, a relative one relative paths.
        let target = if name.starts_with('/') { p } else { rel };
        let matched = target == name
            || target
                .strip_prefix(name)
                .is_some_and(|r| r.starts_with('/'));
        if matched && best.as_ref().is_none_or(|(len, ..)| name.len() > *len) {
            let rest = target[name.len()..].trim_start_matches('/').to_string();
            best = Some((name.len(), fd, rest));
        }
    }
    if let Some((_, fd, rest)) = best {
        return Ok((fd, rest));
    }
    let trimmed = rel.trim_start_matches('/').to_string();
    match (p.starts_with('/'), dot, root) {
        (true, _, Some(root)) => Ok((root, trimmed)),
        (_, Some(dot), _) => Ok((dot, trimmed)),
        (false, None, Some(root)) => Ok((root, trimmed)),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no preopened directory holds {p}"),
        )),
    }
}

/// An error code of the filesystem interface as an `io::Error` of the matching kind.
fn error(code: ErrorCode) -> io::Error {
    use io::ErrorKind as K;
    let kind = match code {
        ErrorCode::NoEntry => K::NotFound,
        ErrorCode::Access | ErrorCode::NotPermitted => K::PermissionDenied,
        ErrorCode::Exist => K::AlreadyExists,
        ErrorCode::InsufficientSpace | ErrorCode::Quota => K::StorageFull,
        ErrorCode::ReadOnly => K::ReadOnlyFilesystem,
        ErrorCode::Unsupported => K::Unsupported,
        ErrorCode::Interrupted => K::Interrupted,
        ErrorCode::Invalid => K::InvalidInput,
        ErrorCode::IsDirectory => K::IsADirectory,
        ErrorCode::NotDirectory => K::NotADirectory,
        ErrorCode::FileTooLarge => K::FileTooLarge,
        _ => K::Other,
    };
    // The interface's own words ("No space left on device, similar to `ENOSPC` in POSIX."),
    // without the POSIX aside: what a native build's error would say.
    let words = code
        .message()
        .split(", similar to")
        .next()
        .unwrap_or_default();
    let words = words.trim_end_matches('.');
    io::Error::new(kind, if words.is_empty() { code.name() } else { words })
}

impl File {
    /// Opens `path` for reading, and for writing when `write` (creating it when `create`,
    /// emptying it when `truncate`).
    pub fn open(path: &Path, write: bool, create: bool, truncate: bool) -> io::Result<File> {
        let (dir, rel) = resolve(path)?;
        let mut open = OpenFlags::empty();
        if create {
            open = open | OpenFlags::CREATE;
        }
        if truncate {
            open = open | OpenFlags::TRUNCATE;
        }
        let mut flags = DescriptorFlags::READ;
        if write {
            flags = flags | DescriptorFlags::WRITE;
        }
        let fd = dir
            .open_at(PathFlags::empty(), &rel, open, flags)
            .map_err(error)?;
        Ok(File { fd })
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        Ok(Metadata {
            len: self.fd.stat().map_err(error)?.size,
        })
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.fd.set_size(len).map_err(error)
    }

    pub fn sync_data(&self) -> io::Result<()> {
        self.fd.sync_data().map_err(error)
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end of the file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let (bytes, _) = self.fd.read(buf.len() as u64, offset).map_err(error)?;
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    /// Writes up to `data.len()` bytes at `offset`.
    pub fn write_at(&self, data: &[u8], offset: u64) -> io::Result<usize> {
        self.fd
            .write(data, offset)
            // At most `data.len()` were written, which is a usize.
            .map(|n| super::at(n).min(data.len()))
            .map_err(error)
    }
}
