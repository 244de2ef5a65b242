//! A directory that simulates power loss (SQLite's `test6.c`, redb's crash backend).
//!
//! Every file keeps two images: the *live* one that reads see, and the *durable* one that a
//! power cut would leave. Writes, resizes and punches since the file's last `sync` are kept as
//! a list of pending operations. Directory operations (create, rename, remove) are logged too
//! and become durable at the next directory sync, which every durable [`Directory`] method
//! ends with.
//!
//! [`CrashDirectory::crash`] builds the directory a reboot would find: for each file, its
//! durable image with each pending operation kept, dropped, or torn at 512-byte sector
//! granularity, at random from a seed; for the names, the durable ones plus a random prefix of
//! the logged directory operations (journaling file systems keep metadata in order).
//!
//! Faults can also be injected: [`CrashDirectory::power_off_after`] makes the N-th mutating
//! operation from now, and all after it, fail (the machine died mid-operation), and
//! [`CrashDirectory::fail_next_ops`] makes the next N fail and later ones succeed (a transient
//! EIO).
//!
//! Simplifications, stated: a directory sync makes every logged directory operation durable,
//! not only those of that directory; a `sync` of a file does not make its directory entry
//! durable.

// The power-loss simulator serves tests only; its images are a few MiB, so its offsets fit
// every usize.
#![allow(clippy::cast_possible_truncation)]

use super::{Access, Directory, Entry, Region, check_path, parent_of, short_read};
use crate::error::StorageError;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The granularity at which an unsynced write can tear.
pub const SECTOR: u64 = 512;

#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    durable: Vec<u8>,
    live: Vec<u8>,
    pending: Vec<Pending>,
}

fn apply(image: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write { offset, data } => {
            let (start, end) = (*offset as usize, *offset as usize + data.len());
            if end > image.len() {
                image.resize(end, 0);
            }
            image[start..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => image.resize(*len as usize, 0),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir,
}

#[derive(Debug, Clone)]
enum DirOp {
    Insert(String, Node),
    Remove(String),
    Rename(String, String),
}

fn below(path: &str, root: &str) -> bool {
    path == root
        || (path.len() > root.len()
            && path.starts_with(root)
            && path.as_bytes()[root.len()] == b'/')
}

fn apply_dir_op(names: &mut BTreeMap<String, Node>, op: &DirOp) {
    match op {
        DirOp::Insert(path, node) => {
            names.insert(path.clone(), *node);
        }
        DirOp::Remove(path) => names.retain(|p, _| !below(p, path)),
        DirOp::Rename(from, to) => {
            let moved: Vec<(String, Node)> = names
                .iter()
                .filter(|(p, _)| below(p, from))
                .map(|(p, n)| (format!("{to}{}", &p[from.len()..]), *n))
                .collect();
            names.retain(|p, _| !below(p, from));
            names.extend(moved);
        }
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: Vec<Inode>,
    live: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    dir_log: Vec<DirOp>,
    /// Mutating operations performed so far.
    ops: u64,
    /// The mutating operation number at which the power goes out.
    power_off_at: Option<u64>,
    powered_off: bool,
    /// How many of the next mutating operations fail transiently.
    transient_failures: u64,
}

impl State {
    /// Accounts for one mutating operation; fails when a fault is due.
    fn tick(&mut self, path: &str, op: &'static str) -> Result<(), StorageError> {
        if !self.powered_off {
            self.ops += 1;
            if self.power_off_at.is_some_and(|at| self.ops >= at) {
                self.powered_off = true;
            }
        }
        if self.powered_off {
            return Err(fault(path, op, "simulated power loss"));
        }
        if self.transient_failures > 0 {
            self.transient_failures -= 1;
            return Err(fault(path, op, "injected I/O error"));
        }
        Ok(())
    }

    fn alive(&self, path: &str, op: &'static str) -> Result<(), StorageError> {
        if self.powered_off {
            Err(fault(path, op, "simulated power loss"))
        } else {
            Ok(())
        }
    }

    fn has_dir(&self, path: &str) -> bool {
        path.is_empty() || self.live.get(path) == Some(&Node::Dir)
    }

    fn log(&mut self, op: DirOp) {
        apply_dir_op(&mut self.live, &op);
        self.dir_log.push(op);
    }

    fn sync_dirs(&mut self) {
        for op in std::mem::take(&mut self.dir_log) {
            apply_dir_op(&mut self.durable, &op);
        }
    }

    fn sync_file(&mut self, inode: usize) {
        let node = &mut self.inodes[inode];
        for op in std::mem::take(&mut node.pending) {
            apply(&mut node.durable, &op);
        }
    }

    fn new_file(&mut self, path: &str) -> usize {
        self.inodes.push(Inode::default());
        let inode = self.inodes.len() - 1;
        self.log(DirOp::Insert(path.to_string(), Node::File(inode)));
        inode
    }

    fn file(&self, path: &str) -> Option<usize> {
        match self.live.get(path) {
            Some(Node::File(i)) => Some(*i),
            _ => None,
        }
    }

    fn write(&mut self, inode: usize, op: Pending) {
        let node = &mut self.inodes[inode];
        apply(&mut node.live, &op);
        node.pending.push(op);
    }
}

fn fault(path: &str, op: &'static str, what: &str) -> StorageError {
    StorageError::io(path, op, std::io::Error::other(what.to_string()))
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory with a durable image and a live image; see the module docs.
#[derive(Clone, Default)]
pub struct CrashDirectory {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for CrashDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("CrashDirectory")
            .field("files", &s.live.len())
            .field("ops", &s.ops)
            .field("powered_off", &s.powered_off)
            .finish()
    }
}

/// How [`CrashDirectory::crash`] treats writes that were not synced.
#[derive(Debug, Clone, Copy)]
pub enum CrashMode {
    /// Power loss: each unsynced write is kept, dropped or torn, at random from the seed.
    PowerLoss { seed: u64 },
    /// The process died but the OS lived: every completed write survives.
    ProcessKill,
}

impl CrashDirectory {
    /// A new, empty directory. (`_seed` is accepted for symmetry with the crash calls.)
    pub fn new(_seed: u64) -> Self {
        Self::default()
    }

    /// Mutating operations performed so far (every write, resize, punch, sync and directory
    /// operation counts one).
    pub fn ops(&self) -> u64 {
        lock(&self.state).ops
    }

    /// The `n`-th mutating operation from now (1 = the next) and every later one fail, as if
    /// the machine lost power in the middle of whatever was running.
    pub fn power_off_after(&self, n: u64) {
        let mut s = lock(&self.state);
        s.power_off_at = Some(s.ops + n.max(1));
    }

    /// The next `n` mutating operations fail; later ones succeed.
    pub fn fail_next_ops(&self, n: u64) {
        lock(&self.state).transient_failures = n;
    }

    /// The directory a reboot would find. This handle, and every region opened from it, fail
    /// from now on.
    pub fn crash(&self, mode: CrashMode) -> CrashDirectory {
        let mut s = lock(&self.state);
        s.powered_off = true;
        let mut seed = match mode {
            CrashMode::PowerLoss { seed } => seed,
            CrashMode::ProcessKill => 0,
        };
        let mut below = |n: u64| crate::splitmix::below(&mut seed, n);
        let keep_all = matches!(mode, CrashMode::ProcessKill);

        let mut names = s.durable.clone();
        let kept_dir_ops = if keep_all {
            s.dir_log.len()
        } else {
            below(s.dir_log.len() as u64 + 1) as usize
        };
        for op in &s.dir_log[..kept_dir_ops] {
            apply_dir_op(&mut names, op);
        }

        let mut inodes = Vec::with_capacity(s.inodes.len());
        for node in &s.inodes {
            let mut image = node.durable.clone();
            for op in &node.pending {
                if keep_all {
                    apply(&mut image, op);
                    continue;
                }
                match (op, below(3)) {
                    (_, 0) => apply(&mut image, op),
                    (_, 1) => {}
                    (Pending::SetLen(_), _) => {}
                    (Pending::Write { offset, data }, _) => {
                        // Torn: each sector of the write independently made it or not.
                        let end = offset + data.len() as u64;
                        let mut at = *offset;
                        while at < end {
                            let next = ((at / SECTOR + 1) * SECTOR).min(end);
                            if below(2) < 1 {
                                let piece = &data[(at - offset) as usize..(next - offset) as usize];
                                apply(
                                    &mut image,
                                    &Pending::Write {
                                        offset: at,
                                        data: piece.to_vec(),
                                    },
                                );
                            }
                            at = next;
                        }
                    }
                }
            }
            inodes.push(Inode {
                durable: image.clone(),
                live: image,
                pending: Vec::new(),
            });
        }
        CrashDirectory {
            state: Arc::new(Mutex::new(State {
                inodes,
                live: names.clone(),
                durable: names,
                ..State::default()
            })),
        }
    }

    /// The live content of a file (what reads see now), for tests.
    pub fn file_content(&self, path: &str) -> Option<Vec<u8>> {
        let s = lock(&self.state);
        s.file(path).map(|i| s.inodes[i].live.clone())
    }
}

/// A region of a [`CrashDirectory`].
pub struct CrashRegion {
    state: Arc<Mutex<State>>,
    inode: usize,
    path: String,
}

impl fmt::Debug for CrashRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashRegion")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish()
    }
}

impl Region for CrashRegion {
    fn len(&self) -> u64 {
        lock(&self.state).inodes[self.inode].live.len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let s = lock(&self.state);
        s.alive(&self.path, "read")?;
        let live = &s.inodes[self.inode].live;
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= live.len() as u64 => {
                buf.copy_from_slice(&live[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(short_read(&self.path, offset, buf.len(), live.len() as u64)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.tick(&self.path, "write")?;
        s.write(
            self.inode,
            Pending::Write {
                offset,
                data: data.to_vec(),
            },
        );
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.tick(&self.path, "set length")?;
        s.write(self.inode, Pending::SetLen(len));
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.tick(&self.path, "sync")?;
        s.sync_file(self.inode);
        Ok(())
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.tick(&self.path, "punch hole")?;
        let size = s.inodes[self.inode].live.len() as u64;
        let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
        s.write(
            self.inode,
            Pending::Write {
                offset: start,
                data: vec![0; (end - start) as usize],
            },
        );
        Ok(())
    }
}

fn not_found(path: &str, op: &'static str) -> StorageError {
    StorageError::io(
        path,
        op,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    )
}

impl Directory for CrashDirectory {
    fn open_region(&self, path: &str, _access: Access) -> Result<Box<dyn Region>, StorageError> {
        check_path(path)?;
        let mut s = lock(&self.state);
        s.alive(path, "open")?;
        let inode = match s.live.get(path) {
            Some(Node::File(i)) => *i,
            Some(Node::Dir) => return Err(fault(path, "open", "is a directory")),
            None => {
                if !s.has_dir(parent_of(path)) {
                    return Err(not_found(path, "open"));
                }
                s.tick(path, "create")?;
                s.new_file(path)
            }
        };
        Ok(Box::new(CrashRegion {
            state: self.state.clone(),
            inode,
            path: path.to_string(),
        }))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_path(path)?;
        let s = lock(&self.state);
        s.alive(path, "read")?;
        Ok(s.file(path).map(|i| s.inodes[i].live.clone()))
    }

    fn write_atomic(&self, path: &str, data: &[u8]) -> Result<(), StorageError> {
        check_path(path)?;
        let tmp = format!("{path}.tmp");
        let mut s = lock(&self.state);
        if !s.has_dir(parent_of(path)) {
            return Err(not_found(path, "write"));
        }
        // The same steps as the file-system directory, each a place the power can go out.
        s.tick(&tmp, "create")?;
        let inode = s.new_file(&tmp);
        s.tick(&tmp, "write")?;
        s.write(
            inode,
            Pending::Write {
                offset: 0,
                data: data.to_vec(),
            },
        );
        s.tick(&tmp, "sync")?;
        s.sync_file(inode);
        s.tick(path, "rename")?;
        s.log(DirOp::Rename(tmp, path.to_string()));
        s.tick(path, "sync directory")?;
        s.sync_dirs();
        Ok(())
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let mut s = lock(&self.state);
        match s.live.get(path) {
            Some(Node::Dir) => return Ok(()),
            Some(Node::File(_)) => return Err(fault(path, "create directory", "is a file")),
            None if !s.has_dir(parent_of(path)) => return Err(not_found(path, "create directory")),
            None => {}
        }
        s.tick(path, "create directory")?;
        s.log(DirOp::Insert(path.to_string(), Node::Dir));
        s.tick(path, "sync directory")?;
        s.sync_dirs();
        Ok(())
    }

    fn list(&self, path: &str) -> Result<Vec<Entry>, StorageError> {
        check_path(path)?;
        let s = lock(&self.state);
        s.alive(path, "list")?;
        Ok(s.live
            .iter()
            .filter(|(p, _)| !p.is_empty() && parent_of(p) == path)
            .map(|(p, n)| Entry {
                name: p.rsplit('/').next().unwrap_or(p).to_string(),
                is_dir: *n == Node::Dir,
            })
            .collect())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from)?;
        check_path(to)?;
        let mut s = lock(&self.state);
        if !s.live.contains_key(from) {
            return Err(not_found(from, "rename"));
        }
        if s.live.contains_key(to) {
            return Err(fault(to, "rename", "target exists"));
        }
        s.tick(from, "rename")?;
        s.log(DirOp::Rename(from.to_string(), to.to_string()));
        s.tick(to, "sync directory")?;
        s.sync_dirs();
        Ok(())
    }

    fn remove_dir_all(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let mut s = lock(&self.state);
        if !s.live.contains_key(path) {
            return Ok(());
        }
        s.tick(path, "remove directory")?;
        s.log(DirOp::Remove(path.to_string()));
        s.tick(path, "sync directory")?;
        s.sync_dirs();
        Ok(())
    }

    fn remove_file(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let mut s = lock(&self.state);
        if s.file(path).is_none() {
            return Ok(());
        }
        s.tick(path, "remove")?;
        s.log(DirOp::Remove(path.to_string()));
        s.tick(path, "sync directory")?;
        s.sync_dirs();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::conformance;

    #[test]
    fn crash_directory_conforms() {
        conformance::directory_suite(&|| Box::new(CrashDirectory::new(0)));
    }

    #[test]
    fn crash_region_conforms() {
        let dir = CrashDirectory::new(0);
        let mut n = 0;
        conformance::region_suite(&mut || {
            n += 1;
            dir.open_region(&format!("r{n}"), Access::Random).unwrap()
        });
    }

    #[test]
    fn synced_bytes_survive_every_crash_and_unsynced_ones_may_not() {
        let mut lost = 0;
        for seed in 0..64 {
            let dir = CrashDirectory::new(seed);
            dir.write_atomic("meta", b"m").unwrap(); // makes the directory durable
            let mut r = dir.open_region("f", Access::Random).unwrap();
            r.write(0, &[1; 1024]).unwrap();
            r.sync().unwrap();
            r.write(1024, &[2; 2048]).unwrap();
            dir.write_atomic("meta", b"m2").unwrap();
            let after = dir.crash(CrashMode::PowerLoss { seed });
            let content = after.file_content("f").unwrap();
            assert_eq!(&content[..1024], &[1; 1024][..], "seed {seed}");
            // Each unsynced sector is either all new bytes or absent/zero: tearing is per sector.
            for sector in content[1024..].chunks(SECTOR as usize) {
                assert!(sector.iter().all(|&b| b == 2) || sector.iter().all(|&b| b == 0));
            }
            if content.len() < 3072 || content[1024..].iter().any(|&b| b != 2) {
                lost += 1;
            }
            assert_eq!(after.read_file("meta").unwrap().unwrap(), b"m2");
        }
        assert!(
            lost > 0,
            "power loss never lost an unsynced write in 64 seeds"
        );
    }

    #[test]
    fn a_file_created_but_never_made_durable_may_vanish() {
        let mut vanished = 0;
        for seed in 0..32 {
            let dir = CrashDirectory::new(seed);
            let mut r = dir.open_region("f", Access::Random).unwrap();
            r.write(0, b"x").unwrap();
            r.sync().unwrap();
            if dir
                .crash(CrashMode::PowerLoss { seed })
                .read_file("f")
                .unwrap()
                .is_none()
            {
                vanished += 1;
            }
        }
        assert!(vanished > 0);
    }

    #[test]
    fn power_off_fails_the_nth_operation_and_everything_after() {
        let dir = CrashDirectory::new(0);
        let mut r = dir.open_region("f", Access::Random).unwrap();
        dir.power_off_after(2);
        r.write(0, b"a").unwrap();
        assert!(r.write(1, b"b").is_err());
        assert!(r.sync().is_err());
        let mut b = [0u8; 1];
        assert!(r.read(0, &mut b).is_err());
    }

    #[test]
    fn process_kill_keeps_every_completed_write() {
        let dir = CrashDirectory::new(0);
        dir.write_atomic("meta", b"m").unwrap();
        let mut r = dir.open_region("f", Access::Random).unwrap();
        r.write(0, b"abc").unwrap();
        let after = dir.crash(CrashMode::ProcessKill);
        assert_eq!(after.file_content("f").unwrap(), b"abc");
        assert!(
            r.write(0, b"z").is_err(),
            "handles of the crashed directory are dead"
        );
    }

    #[test]
    fn interrupted_atomic_write_leaves_old_or_new_content() {
        for n in 1..=5 {
            for seed in 0..16 {
                let dir = CrashDirectory::new(seed);
                dir.write_atomic("c", b"old").unwrap();
                dir.power_off_after(n);
                let _ = dir.write_atomic("c", b"new");
                let after = dir.crash(CrashMode::PowerLoss { seed });
                let got = after.read_file("c").unwrap().unwrap();
                assert!(
                    got == b"old" || got == b"new",
                    "step {n} seed {seed}: {got:?}"
                );
            }
        }
    }
}
