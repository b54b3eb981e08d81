//! The command line that starts a session's sandbox: `sh` (joins the session's cgroups, where
//! there are some) → `setpriv` (to the slot uid, when we are root) → `prlimit` (rlimits) →
//! `bwrap` → the venv's Python running the driver. Only exec-chaining tools, so the crate needs
//! no `pre_exec` (and no unsafe) of its own; the seccomp programs travel to bwrap as file
//! descriptors.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use command_fds::{CommandFdExt, FdMapping};

use crate::{SandboxConfig, SandboxError};

/// Where things are inside the sandbox.
pub(crate) const VENV: &str = "/opt/venv";
pub(crate) const DRIVER: &str = "/opt/assistd/driver.py";
pub(crate) const DATA: &str = "/mnt/data";

/// The driver script, written once per content under the work root.
pub(crate) const DRIVER_SOURCE: &str = include_str!("driver.py");

/// The host tools, resolved to absolute paths (the spawned command has an empty environment,
/// so nothing may depend on `PATH` there).
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub(crate) setpriv: PathBuf,
    pub(crate) prlimit: PathBuf,
    pub(crate) bwrap: PathBuf,
}

/// Looks `name` up in `PATH` (and the usual system directories) unless it is a path already.
pub(crate) fn which(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    path.push(":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

pub(crate) fn tools(cfg: &SandboxConfig) -> Result<Tools, SandboxError> {
    let find = |name: &Path, what: &str| {
        which(name).ok_or_else(|| SandboxError::Unavailable(format!("{what} not found")))
    };
    Ok(Tools {
        setpriv: find(Path::new("setpriv"), "setpriv (util-linux)")?,
        prlimit: find(Path::new("prlimit"), "prlimit (util-linux)")?,
        bwrap: find(&cfg.bwrap, "bubblewrap")?,
    })
}

/// Writes the driver under `work_root` (world-readable: the slot uid runs it) unless a file
/// with this exact content is there.
pub(crate) fn install_driver(work_root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hash = DRIVER_SOURCE
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let path = work_root.join(format!("driver-{hash:016x}.py"));
    if std::fs::read(&path).is_ok_and(|b| b == DRIVER_SOURCE.as_bytes()) {
        return Ok(path);
    }
    let tmp = work_root.join(format!("driver-{hash:016x}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, DRIVER_SOURCE)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The full command for one session.
pub(crate) fn command(
    cfg: &SandboxConfig,
    tools: &Tools,
    uid: Option<u32>,
    workdir: &Path,
    driver: &Path,
    seccomp: [Vec<u8>; 2],
    cgroup_procs: &[PathBuf],
) -> Result<Command, SandboxError> {
    let mut args: Vec<OsString> = Vec::new();
    let mut arg = |a: &dyn AsRef<std::ffi::OsStr>| args.push(a.as_ref().to_owned());
    let program = if let Some(uid) = uid {
        for a in [
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".to_owned(),
        ] {
            arg(&a);
        }
        arg(&tools.prlimit);
        tools.setpriv.clone()
    } else {
        tools.prlimit.clone()
    };
    for a in [
        format!("--cpu={}", cfg.cpu_secs),
        format!("--as={}", cfg.memory_bytes),
        format!("--fsize={}", cfg.file_bytes),
        format!("--nofile={}", cfg.open_files),
        format!("--nproc={}", cfg.processes),
        "--core=0".to_owned(),
        "--".to_owned(),
    ] {
        arg(&a);
    }
    arg(&tools.bwrap);
    args.extend(bwrap_args(cfg, workdir, driver));

    // The process joins the cgroups itself, before anything of the sandbox runs or forks: a
    // move from outside would race bwrap's forks, and each v1 migration can wait for an RCU
    // grace period.
    let (program, args) = if cgroup_procs.is_empty() {
        (program, args)
    } else {
        let script = r#"for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@""#;
        let mut wrapped: Vec<OsString> = vec!["-c".into(), script.into(), "sh".into()];
        wrapped.extend(cgroup_procs.iter().map(|f| f.as_os_str().to_owned()));
        wrapped.push("--".into());
        wrapped.push(program.into_os_string());
        wrapped.extend(args);
        (PathBuf::from("/bin/sh"), wrapped)
    };

    let mut fds = Vec::new();
    for (child_fd, program) in [10, 11].into_iter().zip(seccomp) {
        let (reader, mut writer) = std::io::pipe()?;
        // A few hundred instructions: far below a pipe's buffer, so this cannot block.
        writer.write_all(&program)?;
        drop(writer);
        fds.push(FdMapping {
            parent_fd: reader.into(),
            child_fd,
        });
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .process_group(0)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.fd_mappings(fds)
        .map_err(|e| SandboxError::Io(std::io::Error::other(e)))?;
    Ok(cmd)
}

/// bubblewrap's arguments, through the command it runs.
fn bwrap_args(cfg: &SandboxConfig, workdir: &Path, driver: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut arg = |a: &dyn AsRef<std::ffi::OsStr>| args.push(a.as_ref().to_owned());
    let fixed = [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/sbin",
        "/sbin",
        "--ro-bind-try",
        "/etc/alternatives",
        "/etc/alternatives",
        "--ro-bind-try",
        "/etc/fonts",
        "/etc/fonts",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ];
    for a in fixed {
        arg(&a);
    }
    arg(&"--ro-bind");
    arg(&cfg.python);
    arg(&VENV);
    arg(&"--ro-bind");
    arg(&driver);
    arg(&DRIVER);
    for a in [
        "--size".to_owned(),
        cfg.tmp_bytes.to_string(),
        "--tmpfs".to_owned(),
        "/tmp".to_owned(),
    ] {
        arg(&a);
    }
    arg(&"--bind");
    arg(&workdir);
    arg(&DATA);
    for a in ["--remount-ro", "/", "--chdir", DATA, "--clearenv"] {
        arg(&a);
    }
    let env = [
        ("PATH", "/opt/venv/bin:/usr/bin:/bin"),
        ("HOME", DATA),
        ("MPLCONFIGDIR", "/tmp"),
        ("XDG_CACHE_HOME", "/tmp"),
        ("OPENBLAS_NUM_THREADS", "1"),
        ("OMP_NUM_THREADS", "1"),
        ("MPLBACKEND", "Agg"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("LANG", "C.UTF-8"),
    ];
    for (k, v) in env {
        arg(&"--setenv");
        arg(&k);
        arg(&v);
    }
    for a in [
        "--add-seccomp-fd",
        "10",
        "--add-seccomp-fd",
        "11",
        "/opt/venv/bin/python",
        "-u",
        "-I",
        DRIVER,
    ] {
        arg(&a);
    }

    args
}
