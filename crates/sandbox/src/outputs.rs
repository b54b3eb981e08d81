//! The files a call created or changed under `/mnt/data`, read from the host without ever
//! following a symlink: code in the sandbox can plant `out.png -> /etc/shadow`, or swap a
//! directory for a symlink while we walk, and the server reading as root must not follow it.
//! Every component is opened with `O_NOFOLLOW` relative to its parent's descriptor.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use crate::OutputFile;

/// Deeper trees are not walked.
const MAX_DEPTH: usize = 8;
/// More entries than this are not looked at (a directory of a million files must not stall).
const MAX_ENTRIES: usize = 10_000;

/// What identifies a version of a file: `(size, mtime seconds, mtime nanoseconds, inode)`.
type Stamp = (i64, i64, u64, u64);

/// The regular files under a work dir and their stamps, keyed by relative path.
#[derive(Default)]
pub(crate) struct Snapshot(BTreeMap<String, Stamp>);

fn open_dir(parent: impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Walks the work dir (never through a symlink).
pub(crate) fn snapshot(root: &Path) -> Snapshot {
    let mut snap = Snapshot::default();
    let Ok(fd) = open_dir(rustix::fs::CWD, root.as_os_str()) else {
        return snap;
    };
    let mut seen = 0;
    walk(&fd, "", 0, &mut seen, &mut snap.0);
    snap
}

fn walk(
    dir: &OwnedFd,
    prefix: &str,
    depth: usize,
    seen: &mut usize,
    out: &mut BTreeMap<String, Stamp>,
) {
    let Ok(fd) = rustix::io::dup(dir) else { return };
    let Ok(mut entries) = Dir::read_from(fd) else {
        return;
    };
    while let Some(Ok(entry)) = entries.read() {
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return;
        }
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let path = format!("{prefix}{name}");
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {
                out.insert(path, (st.st_size, st.st_mtime, st.st_mtime_nsec, st.st_ino));
            }
            FileType::Directory if depth + 1 < MAX_DEPTH => {
                if let Ok(sub) = open_dir(dir, OsStr::new(name)) {
                    walk(&sub, &format!("{path}/"), depth + 1, seen, out);
                }
            }
            _ => {}
        }
    }
}

/// Reads the files that are new or changed between the snapshots, within the limits. Returns
/// the files and notes about the ones left out.
pub(crate) fn collect(
    root: &Path,
    before: &Snapshot,
    after: &Snapshot,
    max_files: usize,
    max_bytes: u64,
) -> (Vec<OutputFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut budget = max_bytes;
    for (path, stamp) in &after.0 {
        if before.0.get(path) == Some(stamp) {
            continue;
        }
        if files.len() >= max_files {
            notes.push(format!(
                "[output file {path} left out: at most {max_files} files per call]"
            ));
            continue;
        }
        match read_nofollow(root, path, budget) {
            Ok(Some(bytes)) => {
                budget -= bytes.len() as u64;
                files.push(OutputFile {
                    path: path.clone(),
                    bytes,
                });
            }
            Ok(None) => notes.push(format!(
                "[output file {path} left out: the output files of a call are capped at {max_bytes} bytes]"
            )),
            // Gone, replaced by a symlink or a non-regular file since the walk: not an output.
            Err(_) => {}
        }
    }
    (files, notes)
}

/// The file's bytes, `None` when larger than `budget`.
fn read_nofollow(root: &Path, path: &str, budget: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut dir = open_dir(rustix::fs::CWD, root.as_os_str())?;
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    for part in parts {
        dir = open_dir(&dir, OsStr::new(part))?;
    }
    let name = CString::new(OsStr::new(name).as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let fd = rustix::fs::openat(
        &dir,
        name.as_c_str(),
        // NONBLOCK: a FIFO must not hang the open.
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(budget.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > budget {
        return Ok(None);
    }
    Ok(Some(bytes))
}
