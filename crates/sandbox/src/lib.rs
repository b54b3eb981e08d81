//! `assistd-sandbox`: runs the model's Python for the `code_interpreter` tool in a bubblewrap
//! sandbox, one persistent interpreter per session (variables and files last across the calls
//! of a run).
//!
//! Layers, outermost first: a dedicated non-root uid per session slot (when the server is root),
//! rlimits (`prlimit`), a per-session memory and pids cgroup where the host offers one,
//! bubblewrap's namespaces (no network but `lo`, own pid namespace, only bound paths, read-only
//! but for `/mnt/data` and a size-capped `/tmp`), no capabilities, and a seccomp filter.

mod cgroup;
mod logs;
mod outputs;
mod seccomp;
mod session;
mod spawn;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use session::{Execution, OutputFile, Session, processes_of};

/// How the sandbox is set up and what it may use.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The bubblewrap binary: a path, or a name looked up in `PATH`.
    pub bwrap: PathBuf,
    /// A venv directory (has `bin/python`), bound read-only at `/opt/venv`. Every directory on
    /// its path must be traversable by the slot uids (o+x) and its files readable (o+r).
    pub python: PathBuf,
    /// Where per-session work dirs are created on the host. Created `0711` if missing.
    pub work_root: PathBuf,
    /// When the server runs as root, session slot `i` runs as uid and gid `uid_base + i`:
    /// dedicated non-root ids, so `RLIMIT_NPROC` holds per session and sessions cannot signal
    /// each other. Two `Sandbox`es on one host must use disjoint ranges. Ignored when not root
    /// (every session then runs as the server's own uid).
    pub uid_base: u32,
    /// Concurrent sessions. `Sandbox::session` waits for a free slot for at most
    /// `call_timeout`, then fails with [`SandboxError::Busy`].
    pub max_sessions: usize,
    /// `RLIMIT_CPU` per process, seconds. The interpreter is one process for the whole session,
    /// so this is the session's CPU budget.
    pub cpu_secs: u64,
    /// `RLIMIT_AS` per process, and the session's memory cgroup limit where available.
    pub memory_bytes: u64,
    /// `RLIMIT_FSIZE`: the largest file the code can write.
    pub file_bytes: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
    /// `RLIMIT_NPROC` for the slot uid, and the session's pids cgroup limit where available.
    pub processes: u64,
    /// Size of the tmpfs at `/tmp`.
    pub tmp_bytes: u64,
    /// Total bytes of output files one call returns.
    pub work_bytes: u64,
    /// Wall clock per call. On expiry the whole sandbox is killed and the session is dead.
    pub call_timeout: Duration,
    /// Bytes of stdout and stderr kept per call; the rest is drained and counted.
    pub output_cap: usize,
    /// Output files one call returns at most.
    pub max_output_files: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bwrap: PathBuf::from("bwrap"),
            python: PathBuf::from("/opt/assistd-python"),
            work_root: std::env::temp_dir().join("assistd-sandbox"),
            // Far above the ids distributions hand out (users below 60000) and the usual
            // /etc/subuid ranges (from 100000, 65536 each), and below 2^31 so every tool takes
            // it for a plain positive id.
            uid_base: 1_900_000_000,
            max_sessions: 16,
            cpu_secs: 120,
            memory_bytes: 2 << 30,
            file_bytes: 100 << 20,
            open_files: 256,
            processes: 64,
            tmp_bytes: 64 << 20,
            work_bytes: 64 << 20,
            call_timeout: Duration::from_secs(60),
            output_cap: 64 << 10,
            max_output_files: 20,
        }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The sandbox cannot run on this host (missing tool, no user namespaces, missing venv).
    #[error("code sandbox unavailable: {0}")]
    Unavailable(String),
    /// Every session slot stayed taken for the whole wait.
    #[error("every code sandbox session slot is taken")]
    Busy,
    /// A host-side file or process operation failed.
    #[error("code sandbox I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The session's interpreter is gone (timed out, crashed, or killed); open a new session.
    #[error("code sandbox session is dead: {0}")]
    Dead(String),
    /// An input file name that cannot be made safe (empty after sanitizing).
    #[error("invalid input file name: {0:?}")]
    InvalidName(String),
}

/// An input file placed in `/mnt/data` when a session opens.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The file's name. Sanitized: `/`, NUL and `..` are replaced, duplicates get a numeric
    /// suffix.
    pub name: String,
    /// Its contents.
    pub bytes: bytes::Bytes,
}

/// The sandbox: a configuration and a pool of session slots.
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// What sessions share with the sandbox that opened them.
pub(crate) struct Inner {
    pub(crate) cfg: SandboxConfig,
    /// Slot indices not in use.
    pub(crate) free: Mutex<Vec<u32>>,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
}

impl Sandbox {
    pub fn new(cfg: SandboxConfig) -> Self {
        let slots = u32::try_from(cfg.max_sessions.max(1)).unwrap_or(u32::MAX);
        let free = (0..slots).rev().collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(slots as usize));
        Self {
            inner: Arc::new(Inner {
                cfg,
                free: Mutex::new(free),
                permits,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }

    /// Start-up check: opens a real session and runs a tiny script in it. `Ok` describes the
    /// Python and the limits in force. Also removes what sessions of an earlier process left
    /// behind (stale empty cgroups, orphaned work dirs of this sandbox's slot uids).
    pub async fn check(&self) -> Result<String, SandboxError> {
        session::check(&self.inner).await
    }

    /// Opens a session: a fresh private work dir holding `inputs` at `/mnt/data`, and a started
    /// interpreter. Waits up to `call_timeout` for a free slot, then fails with
    /// [`SandboxError::Busy`].
    pub async fn session(&self, inputs: Vec<InputFile>) -> Result<Session, SandboxError> {
        session::open(&self.inner, inputs).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    /// The server keeps sandboxes and sessions across tasks and spawns their futures.
    #[test]
    fn types_and_futures_cross_threads() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let sandbox = Sandbox::new(SandboxConfig::default());
        send_sync(&sandbox);
        send(&sandbox.check());
        send(&sandbox.session(Vec::new()));
        let _ = session_future;
    }

    fn session_future(s: &mut Session) {
        send(&s.run("1"));
        send_sync(s);
    }
}
