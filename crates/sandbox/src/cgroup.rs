//! Per-session memory and pids cgroups, best effort: cgroup v1 (`/sys/fs/cgroup/{memory,pids}`)
//! or the v2 unified hierarchy, whichever has the controllers and is writable by us. The rlimits
//! and the slot uid hold either way.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "assistd-sandbox";

/// One session's cgroup directories (one per v1 controller, or one v2 directory).
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    /// Creates the session's cgroups with their limits, or `None` where the host has none we
    /// can use.
    pub(crate) fn create(name: &str, memory: u64, pids: u64) -> Option<Self> {
        let root = Path::new(ROOT);
        let (v1_mem, v1_pids) = (root.join("memory"), root.join("pids"));
        if v1_mem.join("memory.limit_in_bytes").exists() && v1_pids.join("cgroup.procs").exists() {
            let mut dirs = Vec::new();
            for (base, file, value) in [
                (&v1_mem, "memory.limit_in_bytes", memory),
                (&v1_pids, "pids.max", pids),
            ] {
                let dir = base.join(PARENT).join(name);
                let made = fs::create_dir_all(&dir)
                    .and_then(|()| fs::write(dir.join(file), value.to_string()));
                if made.is_err() {
                    let _ = fs::remove_dir(&dir);
                    Self { dirs }.remove();
                    return None;
                }
                dirs.push(dir);
            }
            // Swap would let the memory limit be dodged; not every kernel has these knobs.
            let _ = fs::write(
                dirs[0].join("memory.memsw.limit_in_bytes"),
                memory.to_string(),
            );
            let _ = fs::write(dirs[0].join("memory.swappiness"), "0");
            return Some(Self { dirs });
        }
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).ok()?;
        if !(controllers.contains("memory") && controllers.contains("pids")) {
            return None;
        }
        let parent = root.join(PARENT);
        fs::create_dir_all(&parent).ok()?;
        let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids");
        let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids");
        let dir = parent.join(name);
        fs::create_dir(&dir).ok()?;
        let ok = fs::write(dir.join("memory.max"), memory.to_string()).is_ok()
            && fs::write(dir.join("pids.max"), pids.to_string()).is_ok();
        let _ = fs::write(dir.join("memory.swap.max"), "0");
        let cgroup = Self { dirs: vec![dir] };
        if ok {
            Some(cgroup)
        } else {
            cgroup.remove();
            None
        }
    }

    /// The files a process writes its pid to to join the session's cgroups.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// Whether any process is still in the cgroups.
    pub(crate) fn is_empty(&self) -> bool {
        self.dirs.iter().all(|dir| {
            fs::read_to_string(dir.join("cgroup.procs")).map_or(true, |s| s.trim().is_empty())
        })
    }

    /// Removes the directories (they must be empty of processes).
    pub(crate) fn remove(self) {
        for dir in &self.dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Removes session cgroups left behind by a process that exited before its sessions' teardown
/// finished: empty ones older than a minute (a starting session joins its new cgroup within
/// milliseconds; the kernel refuses to remove one with processes anyway).
pub(crate) fn sweep() {
    let root = Path::new(ROOT);
    for parent in [
        root.join("memory").join(PARENT),
        root.join("pids").join(PARENT),
        root.join(PARENT),
    ] {
        let Ok(entries) = fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
            if old && path.is_dir() {
                let empty = fs::read_to_string(path.join("cgroup.procs"))
                    .is_ok_and(|s| s.trim().is_empty());
                if empty {
                    let _ = fs::remove_dir(&path);
                }
            }
        }
    }
}
