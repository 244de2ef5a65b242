//! A snapshot file: the files of a one-collection database in a POSIX tar archive (ustar),
//! so `tar xf` gives a directory that `veles` opens as it is. Written and read here, with
//! only what snapshots need: regular files and directories, names of at most 100 bytes,
//! sizes in octal or (past 8 GiB) base-256.
//!
//! Reading refuses, naming the archive offset, anything else: a damaged header (its checksum),
//! a link or device, an absolute name or one with `..`, a name outside the database layout
//! (`VELES`, `collections/<name>/<file>`), an archive cut short.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path};

const BLOCK: usize = 512;

/// Why an archive could not be read (or written).
#[derive(Debug)]
pub(crate) struct TarError(pub(crate) String);

fn at(offset: u64, what: impl std::fmt::Display) -> TarError {
    TarError(format!("offset {offset}: {what}"))
}

fn io_error(path: &Path, e: io::Error) -> TarError {
    TarError(format!("{}: {e}", path.display()))
}

/// Writes the files under `root` (each at its path relative to `root`), but the lock file,
/// into `out` as tar.
pub(crate) fn pack(root: &Path, out: &Path) -> Result<u64, TarError> {
    let file = File::create(out).map_err(|e| io_error(out, e))?;
    let mut w = BufWriter::new(file);
    let mut total = 0u64;
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| io_error(&dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| io_error(&dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            // A lock file is no data (a native open of the copy makes one).
            if rel.is_empty() && name == veles::region::LOCK_FILE {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = e.metadata().map_err(|err| io_error(&e.path(), err))?;
            if meta.is_dir() {
                w.write_all(&header(&format!("{path}/"), 0, b'5')?)
                    .map_err(|err| io_error(out, err))?;
                stack.push(path);
                continue;
            }
            let len = meta.len();
            w.write_all(&header(&path, len, b'0')?)
                .map_err(|err| io_error(out, err))?;
            let mut input = File::open(e.path()).map_err(|err| io_error(&e.path(), err))?;
            let copied = io::copy(&mut (&mut input).take(len), &mut w)
                .map_err(|err| io_error(&e.path(), err))?;
            if copied != len {
                return Err(io_error(&e.path(), io::ErrorKind::UnexpectedEof.into()));
            }
            w.write_all(&vec![0u8; padding(len)])
                .map_err(|err| io_error(out, err))?;
            total += len;
        }
    }
    w.write_all(&[0u8; 2 * BLOCK])
        .map_err(|e| io_error(out, e))?;
    let file = w.into_inner().map_err(|e| io_error(out, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(out, e))?;
    Ok(total)
}

fn padding(len: u64) -> usize {
    (BLOCK - (len % BLOCK as u64) as usize) % BLOCK
}

fn header(name: &str, size: u64, kind: u8) -> Result<[u8; BLOCK], TarError> {
    let mut h = [0u8; BLOCK];
    if name.len() > 100 {
        return Err(TarError(format!("{name}: a name longer than 100 bytes")));
    }
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mode: &[u8] = if kind == b'5' {
        b"0000755\0"
    } else {
        b"0000644\0"
    };
    h[100..108].copy_from_slice(mode);
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 0o77777777777 {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        // Base-256: the high bit of the first byte set, the size big-endian after it.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum = checksum(&h);
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// The header's checksum: its bytes summed, the checksum field counted as spaces.
fn checksum(h: &[u8; BLOCK]) -> u32 {
    h.iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum()
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let tail = &field[field.len() - 8..];
        return (field[1..field.len() - 8].iter().all(|&b| b == 0) && field[0] == 0x80)
            .then(|| u64::from_be_bytes(tail.try_into().unwrap_or([0; 8])));
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// Whether `name` (a relative path) is a place a database's file may be: `VELES`, or
/// `collections`, a collection's directory, or a file in one.
fn allowed(name: &str) -> bool {
    let path = Path::new(name);
    let parts: Vec<&str> = path
        .components()
        .map(|c| match c {
            Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    match parts.as_slice() {
        ["VELES"] | ["collections"] => true,
        ["collections", c] | ["collections", c, _] => veles::validate_name(c).is_ok(),
        _ => false,
    }
}

/// Unpacks the archive at `archive` into the directory `into` (which must exist).
pub(crate) fn unpack(archive: &Path, into: &Path) -> Result<(), TarError> {
    let file = File::open(archive).map_err(|e| io_error(archive, e))?;
    let mut r = BufReader::new(file);
    let mut offset = 0u64;
    let mut h = [0u8; BLOCK];
    loop {
        r.read_exact(&mut h)
            .map_err(|_| at(offset, "the archive ends inside a header (cut short?)"))?;
        if h.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let stored = octal(&h[148..156]).ok_or_else(|| at(offset, "an unreadable checksum"))?;
        if stored != u64::from(checksum(&h)) {
            return Err(at(
                offset,
                "a header whose checksum does not match (damaged)",
            ));
        }
        let end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let mut name = String::from_utf8_lossy(&h[..end]).into_owned();
        if h[257..262] == *b"ustar" && h[345] != 0 {
            let p_end = 345 + h[345..500].iter().position(|&b| b == 0).unwrap_or(155);
            name = format!("{}/{name}", String::from_utf8_lossy(&h[345..p_end]));
        }
        let size = octal(&h[124..136]).ok_or_else(|| at(offset, "an unreadable size"))?;
        let trimmed = name.trim_end_matches('/');
        if !allowed(trimmed) {
            return Err(at(offset, format!("{name:?} is not a file of a database")));
        }
        let target = into.join(trimmed);
        offset += BLOCK as u64;
        match h[156] {
            b'5' => fs::create_dir_all(&target).map_err(|e| io_error(&target, e))?,
            b'0' | 0 => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                }
                let mut out = File::create(&target).map_err(|e| io_error(&target, e))?;
                let copied = io::copy(&mut (&mut r).take(size), &mut out)
                    .map_err(|e| io_error(&target, e))?;
                if copied != size {
                    return Err(at(offset + copied, format!("{name} is cut short")));
                }
                out.sync_all().map_err(|e| io_error(&target, e))?;
                let pad = padding(size);
                r.read_exact(&mut vec![0u8; pad])
                    .map_err(|_| at(offset + size, "the archive is cut short"))?;
                offset += size + pad as u64;
            }
            other => {
                return Err(at(
                    offset - BLOCK as u64,
                    format!(
                        "{name}: entry type {:?} (only files and directories)",
                        other as char
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_unpacks_to_the_same_files_and_damage_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("collections/c")).unwrap();
        fs::write(src.join("VELES"), b"marker").unwrap();
        fs::write(src.join("collections/c/wal"), vec![7u8; 1000]).unwrap();
        fs::write(src.join("collections/c/empty"), b"").unwrap();
        let tar = d.path().join("x.tar");
        assert_eq!(pack(&src, &tar).unwrap(), 1006);
        let out = d.path().join("out");
        fs::create_dir(&out).unwrap();
        unpack(&tar, &out).unwrap();
        assert_eq!(
            fs::read(out.join("collections/c/wal")).unwrap(),
            vec![7u8; 1000]
        );
        assert_eq!(fs::read(out.join("VELES")).unwrap(), b"marker");
        assert!(
            fs::read(out.join("collections/c/empty"))
                .unwrap()
                .is_empty()
        );

        let bytes = fs::read(&tar).unwrap();
        let bad = d.path().join("bad.tar");
        let mut damaged = bytes.clone();
        // The second header (the first file, `VELES`, takes a header and a block of data).
        damaged[2 * BLOCK + 3] ^= 1;
        fs::write(&bad, &damaged).unwrap();
        let e = unpack(&bad, &out).unwrap_err();
        assert!(e.0.contains("checksum"), "{}", e.0);
        fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
        assert!(unpack(&bad, &out).unwrap_err().0.contains("cut short"));
        let mut evil = header("../escape", 1, b'0').unwrap().to_vec();
        evil.extend([1u8; BLOCK]);
        fs::write(&bad, &evil).unwrap();
        assert!(
            unpack(&bad, &out)
                .unwrap_err()
                .0
                .contains("not a file of a database")
        );
        assert!(!d.path().join("escape").exists());
    }
}
