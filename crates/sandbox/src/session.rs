//! A session: one sandbox with a persistent interpreter, its work dir, its slot (uid) and its
//! cgroup. The sandbox is spawned from a thread that lives as long as the session, because
//! bwrap's `--die-with-parent` fires when the spawning *thread* exits; that thread also does the
//! slow part of the teardown so `Drop` never blocks the runtime.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::OwnedSemaphorePermit;

use crate::cgroup::Cgroup;
use crate::logs::{Logs, Stream, read_until_marker};
use crate::{Inner, InputFile, SandboxError, outputs, seccomp, spawn};

/// What one call did.
#[derive(Debug, Clone)]
pub struct Execution {
    /// stdout and stderr, interleaved in arrival order, capped at `output_cap` with a note of
    /// what was cut. Tracebacks land here.
    pub logs: String,
    /// Regular files under `/mnt/data` that this call created or changed.
    pub files: Vec<OutputFile>,
    /// The call hit `call_timeout`; the session is dead.
    pub timed_out: bool,
    /// Why the interpreter died during the call; `None` while it is alive.
    pub exit: Option<String>,
}

/// A file a call created or changed.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// Relative to `/mnt/data`, e.g. `chart.png` or `out/a.csv`.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// One sandbox with a persistent interpreter. Dropping it kills the sandbox, removes the work
/// dir and frees the slot (in the background).
pub struct Session {
    inner: Arc<Inner>,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: ChildStderr,
    workdir: PathBuf,
    uid: Option<u32>,
    slot: u32,
    permit: Option<OwnedSemaphorePermit>,
    cgroup: Option<Cgroup>,
    alive: bool,
    teardown: Option<std::sync::mpsc::Sender<Teardown>>,
}

/// Everything the session thread needs to tear the session down.
struct Teardown {
    inner: Arc<Inner>,
    child: Option<Child>,
    workdir: PathBuf,
    uid: Option<u32>,
    slot: u32,
    permit: Option<OwnedSemaphorePermit>,
    cgroup: Option<Cgroup>,
}

/// A slot taken from the pool, given back when dropped before a session owns it.
struct SlotLease {
    inner: Arc<Inner>,
    slot: Option<u32>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            release(&self.inner, slot);
        }
    }
}

fn release(inner: &Inner, slot: u32) {
    if let Ok(mut free) = inner.free.lock() {
        free.push(slot);
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Makes an input name safe as a single path component.
fn sanitize(name: &str, taken: &mut HashSet<String>) -> Result<String, SandboxError> {
    let clean: String = name
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    let clean = clean.replace("..", "_");
    if clean.is_empty() || clean == "." {
        return Err(SandboxError::InvalidName(name.to_owned()));
    }
    let mut candidate = clean.clone();
    let mut n = 1;
    while taken.contains(&candidate) {
        candidate = match clean.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{n}.{ext}"),
            _ => format!("{clean}-{n}"),
        };
        n += 1;
    }
    taken.insert(candidate.clone());
    Ok(candidate)
}

fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Creates the session's work dir with its inputs, owned by `uid`, mode 0700.
fn make_workdir(
    root: &Path,
    uid: Option<u32>,
    inputs: &[InputFile],
) -> Result<PathBuf, SandboxError> {
    let dir = root.join(random_hex());
    std::fs::create_dir(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let mut taken = HashSet::new();
    for input in inputs {
        let name = sanitize(&input.name, &mut taken)?;
        let path = dir.join(name);
        std::fs::write(&path, &input.bytes)?;
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&path, Some(uid), Some(uid))?;
        }
    }
    if let Some(uid) = uid {
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid))?;
    }
    Ok(dir)
}

/// The work root: created if missing, `0711` so slot uids can reach their own dirs and list
/// nobody's.
fn ensure_work_root(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    let meta = std::fs::metadata(root)?;
    if std::os::unix::fs::MetadataExt::uid(&meta) == rustix::process::geteuid().as_raw() {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))?;
    }
    Ok(())
}

/// Host pids of the processes whose real uid is `uid`: what a session left behind, if anything
/// (the escape tests check it from outside too).
pub fn processes_of(uid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILLs every process of `uid` until none is left or `deadline` passes (the pid namespace
/// dies asynchronously after its init). Returns whether none is left.
fn reap_uid(uid: u32, deadline: Instant) -> bool {
    loop {
        let left = processes_of(uid);
        if left.is_empty() {
            return true;
        }
        for pid in left {
            if let Some(pid) = rustix::process::Pid::from_raw(pid.cast_signed()) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    let (signal, by) = match (status.signal(), status.code()) {
        (Some(sig), _) => (sig, "the sandbox was killed by signal"),
        // bwrap reports a child killed by a signal as 128 + the signal.
        (None, Some(code)) if code > 128 => (code - 128, "killed by signal"),
        (None, Some(code)) => return format!("the interpreter exited with status {code}"),
        (None, None) => return "the interpreter exited".to_owned(),
    };
    let hint = match signal {
        libc::SIGKILL => " (memory, process or CPU limit, or killed)",
        libc::SIGXCPU => " (CPU time limit)",
        libc::SIGSEGV => " (segmentation fault)",
        _ => "",
    };
    format!("{by} {signal}{hint}")
}

/// The runtime-thread part of the teardown, run on the session's thread.
fn teardown(mut t: Teardown) {
    if let Some(child) = t.child.as_mut() {
        let _ = child.start_kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let gone = t
        .uid
        .is_none_or(|uid| reap_uid(uid, Instant::now() + Duration::from_secs(5)));
    if let Some(cgroup) = t.cgroup.take() {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !cgroup.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        cgroup.remove();
    }
    let _ = std::fs::remove_dir_all(&t.workdir);
    // A uid with processes left would share them with the next session: keep the slot out.
    if gone {
        release(&t.inner, t.slot);
    }
    drop(t.permit.take());
}

/// Takes a free slot, waiting up to `call_timeout` for one.
async fn lease(inner: &Arc<Inner>) -> Result<(SlotLease, u32), SandboxError> {
    let permit = tokio::time::timeout(
        inner.cfg.call_timeout,
        inner.permits.clone().acquire_owned(),
    )
    .await
    .map_err(|_| SandboxError::Busy)?
    .map_err(|_| SandboxError::Busy)?;
    let slot = inner
        .free
        .lock()
        .ok()
        .and_then(|mut free| free.pop())
        .ok_or(SandboxError::Busy)?;
    let lease = SlotLease {
        inner: inner.clone(),
        slot: Some(slot),
        permit: Some(permit),
    };
    Ok((lease, slot))
}

/// Why a sandbox did not start, from its first call.
fn startup_error(startup: Execution) -> SandboxError {
    let mut reason = startup.logs.trim().to_owned();
    if let Some(exit) = startup.exit {
        reason = format!("{reason} ({exit})");
    }
    if reason.contains("namespace") {
        reason = format!("no user namespaces: {reason}");
    }
    SandboxError::Unavailable(format!("the sandbox did not start: {reason}"))
}

/// Spawns the sandbox from a thread of its own that lives as long as the session (see the module
/// doc) and then tears it down; returns the child and the channel that starts the teardown.
async fn spawn_on_thread(
    mut cmd: tokio::process::Command,
) -> Result<(Child, std::sync::mpsc::Sender<Teardown>), SandboxError> {
    let handle = tokio::runtime::Handle::current();
    let (spawned_tx, spawned_rx) = tokio::sync::oneshot::channel();
    let (teardown_tx, teardown_rx) = std::sync::mpsc::channel::<Teardown>();
    std::thread::Builder::new()
        .name("assistd-sandbox".to_owned())
        .spawn(move || {
            let spawned = {
                let _runtime = handle.enter();
                cmd.spawn()
            };
            let ok = spawned.is_ok();
            let _ = spawned_tx.send(spawned);
            if ok && let Ok(t) = teardown_rx.recv() {
                teardown(t);
            }
        })?;
    let child = spawned_rx
        .await
        .map_err(|_| SandboxError::Io(std::io::Error::other("sandbox thread died")))?
        .map_err(SandboxError::Io)?;
    Ok((child, teardown_tx))
}

/// Opens a session.
pub(crate) async fn open(
    inner: &Arc<Inner>,
    inputs: Vec<InputFile>,
) -> Result<Session, SandboxError> {
    let cfg = &inner.cfg;
    let tools = spawn::tools(cfg)?;
    if !cfg.python.join("bin/python").exists() {
        return Err(SandboxError::Unavailable(format!(
            "python venv missing at {} (scripts/install-sandbox creates it)",
            cfg.python.display()
        )));
    }
    let (mut lease, slot) = lease(inner).await?;
    let uid = is_root().then(|| cfg.uid_base.saturating_add(slot));

    let work_root = cfg.work_root.clone();
    let inputs_uid = uid;
    let (workdir, driver) = tokio::task::spawn_blocking(move || {
        ensure_work_root(&work_root)?;
        let driver = spawn::install_driver(&work_root)?;
        let workdir = make_workdir(&work_root, inputs_uid, &inputs)?;
        Ok::<_, SandboxError>((workdir, driver))
    })
    .await
    .map_err(|e| SandboxError::Io(std::io::Error::other(e)))??;
    let name = workdir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("session")
        .to_owned();
    let cgroup = Cgroup::create(&name, cfg.memory_bytes, cfg.processes);

    let built = seccomp::programs()
        .map_err(|e| SandboxError::Unavailable(format!("seccomp filter: {e}")))
        .and_then(|programs| {
            spawn::command(
                cfg,
                &tools,
                uid,
                &workdir,
                &driver,
                programs,
                &cgroup.as_ref().map(Cgroup::procs_files).unwrap_or_default(),
            )
        });
    let cmd = match built {
        Ok(cmd) => cmd,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&workdir);
            if let Some(c) = cgroup {
                c.remove();
            }
            return Err(e);
        }
    };
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);

    let spawned = spawn_on_thread(cmd).await;
    let (mut child, teardown_tx) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&workdir);
            if let Some(c) = cgroup {
                c.remove();
            }
            return Err(e);
        }
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(SandboxError::Io(std::io::Error::other(
            "sandbox pipes missing",
        )));
    };
    let mut session = Session {
        inner: inner.clone(),
        child: Some(child),
        stdin: Some(stdin),
        stdout,
        stderr,
        workdir,
        uid,
        slot,
        permit: lease.permit.take(),
        cgroup,
        alive: true,
        teardown: Some(teardown_tx),
    };
    lease.slot = None;

    let startup = session
        .call("", Duration::from_secs(30).max(cfg.call_timeout))
        .await?;
    if !session.alive {
        return Err(startup_error(startup));
    }
    Ok(session)
}

/// Removes what sessions of an earlier process left behind (their teardown runs in the
/// background and dies with the process): empty stale cgroups, and work dirs of our slot uids
/// older than a minute whose uid has no process left.
fn sweep(inner: &Inner) {
    crate::cgroup::sweep();
    if !is_root() {
        // Every session runs as us: nothing tells an orphan from a live session's dir.
        return;
    }
    let cfg = &inner.cfg;
    let slots = u32::try_from(cfg.max_sessions).unwrap_or(u32::MAX);
    let Ok(entries) = std::fs::read_dir(&cfg.work_root) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let owner = std::os::unix::fs::MetadataExt::uid(&meta);
        let ours = meta.is_dir()
            && owner >= cfg.uid_base
            && owner - cfg.uid_base < slots
            && entry.file_name().len() == 32;
        let old = meta
            .modified()
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
        if ours && old && processes_of(owner).is_empty() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The start-up check.
pub(crate) async fn check(inner: &Arc<Inner>) -> Result<String, SandboxError> {
    let sweeper = inner.clone();
    let _ = tokio::task::spawn_blocking(move || sweep(&sweeper)).await;
    let mut session = open(inner, Vec::new()).await?;
    let probe = r#"
import platform
try:
    import numpy, pandas, matplotlib
    libs = "numpy %s, pandas %s, matplotlib %s" % (numpy.__version__, pandas.__version__, matplotlib.__version__)
except Exception as e:
    libs = "numpy/pandas/matplotlib unavailable: %r" % (e,)
print("Python %s; %s" % (platform.python_version(), libs))
"#;
    // Importing the libraries takes seconds on a loaded host: not held to `call_timeout`.
    let limit = Duration::from_secs(60).max(inner.cfg.call_timeout);
    let run = session.call(probe, limit).await?;
    if !session.is_alive() {
        return Err(SandboxError::Unavailable(format!(
            "the sandbox's python failed: {}",
            run.logs.trim()
        )));
    }
    let cfg = &inner.cfg;
    let uid = match session.uid {
        Some(_) => format!(
            "a dedicated uid per slot ({}..{})",
            cfg.uid_base,
            u64::from(cfg.uid_base) + cfg.max_sessions as u64
        ),
        None => {
            "the server's own uid (not root: RLIMIT_NPROC is shared by all sessions)".to_owned()
        }
    };
    let cgroup = if session.cgroup.is_some() {
        "memory and pids cgroup per session"
    } else {
        "no cgroup (none writable): rlimits only"
    };
    Ok(format!(
        "{}; {uid}; {cgroup}; rlimits: cpu {} s, address space {} bytes, file size {} bytes, {} open files, {} processes; seccomp on",
        run.logs.trim(),
        cfg.cpu_secs,
        cfg.memory_bytes,
        cfg.file_bytes,
        cfg.open_files,
        cfg.processes
    ))
}

impl Session {
    /// Runs one cell in the persistent interpreter (like a notebook: the value of a final
    /// expression is printed). Returns what it printed and the files it created or changed.
    pub async fn run(&mut self, code: &str) -> Result<Execution, SandboxError> {
        if !self.alive {
            return Err(SandboxError::Dead(
                "the interpreter died in an earlier call; open a new session".to_owned(),
            ));
        }
        let root = self.workdir.clone();
        let before = tokio::task::spawn_blocking(move || outputs::snapshot(&root))
            .await
            .map_err(|e| SandboxError::Io(std::io::Error::other(e)))?;
        let mut execution = self.call(code, self.inner.cfg.call_timeout).await?;
        let root = self.workdir.clone();
        let (max_files, max_bytes) = (self.inner.cfg.max_output_files, self.inner.cfg.work_bytes);
        let (files, notes) = tokio::task::spawn_blocking(move || {
            let after = outputs::snapshot(&root);
            outputs::collect(&root, &before, &after, max_files, max_bytes)
        })
        .await
        .map_err(|e| SandboxError::Io(std::io::Error::other(e)))?;
        for note in notes {
            execution.logs.push_str(&note);
            execution.logs.push('\n');
        }
        execution.files = files;
        Ok(execution)
    }

    /// Whether the interpreter is still alive (false after a timeout or crash).
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Sends one request and reads until both end markers (or the end of the interpreter).
    async fn call(&mut self, code: &str, limit: Duration) -> Result<Execution, SandboxError> {
        let nonce = random_hex();
        let marker = format!("\0assistd-end:{nonce}\0").into_bytes();
        // The driver's framing: length, the 32-byte nonce, the code.
        let len = u32::try_from(nonce.len() + code.len())
            .map_err(|_| SandboxError::Io(std::io::ErrorKind::InvalidInput.into()))?;
        let mut frame = Vec::with_capacity(4 + nonce.len() + code.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(nonce.as_bytes());
        frame.extend_from_slice(code.as_bytes());

        let mut state = (
            Stream::new(),
            Stream::new(),
            Logs::new(self.inner.cfg.output_cap),
        );
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(SandboxError::Dead("the interpreter is gone".to_owned()));
        };
        let (stdout, stderr) = (&mut self.stdout, &mut self.stderr);
        // Dead until the call is seen to its end: a caller that drops this future midway (a
        // cancelled run) leaves an interpreter that may still be running the code, and its
        // next call would read this one's output.
        self.alive = false;
        let outcome = tokio::time::timeout(limit, async {
            // A write error means the interpreter is gone; the reads then see end of file.
            let _ = stdin.write_all(&frame).await;
            let _ = stdin.flush().await;
            read_until_marker(stdout, stderr, &marker, &mut state).await
        })
        .await;
        let (mut out, mut err, mut logs) = state;
        let timed_out = outcome.is_err();
        let finished = matches!(outcome, Ok(Ok(()))) && out.done && err.done;
        let mut exit = None;
        if finished {
            self.alive = true;
        } else {
            // `timed_out` says why; the caller words it for its reader.
            out.flush(&mut logs);
            err.flush(&mut logs);
            exit = Some(self.kill().await);
        }
        Ok(Execution {
            logs: logs.finish(),
            files: Vec::new(),
            timed_out,
            exit,
        })
    }

    /// Kills the whole sandbox (SIGKILL to the outer bwrap takes its pid namespace down) and
    /// waits, briefly, until nothing of it is left. Returns how the interpreter ended.
    async fn kill(&mut self) -> String {
        self.stdin = None;
        let mut exit = "the interpreter is gone".to_owned();
        if let Some(child) = self.child.as_mut() {
            let already = child.try_wait().ok().flatten();
            if already.is_none() {
                let _ = child.start_kill();
            }
            let status = match already {
                Some(status) => Some(status),
                None => tokio::time::timeout(Duration::from_secs(5), child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok),
            };
            if let Some(status) = status {
                exit = describe_exit(status);
            }
        }
        if let Some(uid) = self.uid {
            let _ = tokio::task::spawn_blocking(move || {
                reap_uid(uid, Instant::now() + Duration::from_secs(3))
            })
            .await;
        }
        exit
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let t = Teardown {
            inner: self.inner.clone(),
            child: self.child.take(),
            workdir: std::mem::take(&mut self.workdir),
            uid: self.uid,
            slot: self.slot,
            permit: self.permit.take(),
            cgroup: self.cgroup.take(),
        };
        self.stdin = None;
        if let Some(tx) = self.teardown.take()
            && let Err(std::sync::mpsc::SendError(mut t)) = tx.send(t)
        {
            // The thread is gone (it panicked): at least kill; the slot stays out of the pool.
            if let Some(child) = t.child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}
