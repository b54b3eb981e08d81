//! Escape and limit tests for the code sandbox. Each case runs hostile code in a real sandbox
//! and checks the result from outside (the host's filesystem, `/proc`, listeners, our RSS).
//! Without a working sandbox they print "skipped: <reason>", unless
//! `ASSISTD_TEST_SANDBOX=required`, which makes them fail.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assistd_sandbox::{Execution, InputFile, Sandbox, SandboxConfig, Session};

/// Each test gets its own uid range, so parallel tests never share a slot uid.
static NEXT_RANGE: AtomicU32 = AtomicU32::new(0);

struct Env {
    sandbox: Sandbox,
    work_root: tempfile::TempDir,
}

fn venv() -> PathBuf {
    std::env::var_os("ASSISTD_TEST_SANDBOX_PYTHON")
        .map_or_else(|| SandboxConfig::default().python, PathBuf::from)
}

fn config(work_root: &Path, timeout_secs: u64) -> SandboxConfig {
    let range = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
    SandboxConfig {
        python: venv(),
        work_root: work_root.to_path_buf(),
        // Away from the default range so a server on this host is never disturbed.
        // Per process (nextest runs each test in its own) and per test.
        uid_base: 1_950_000_000 + (std::process::id() % 1000) * 10_000 + range * 10,
        max_sessions: 4,
        memory_bytes: 1 << 30,
        call_timeout: Duration::from_secs(timeout_secs),
        ..SandboxConfig::default()
    }
}

/// A sandbox, or `None` (test skipped) when this host cannot run one.
async fn setup(timeout_secs: u64, tweak: impl FnOnce(&mut SandboxConfig)) -> Option<Env> {
    let work_root = tempfile::tempdir().unwrap();
    let mut cfg = config(work_root.path(), timeout_secs);
    tweak(&mut cfg);
    let sandbox = Sandbox::new(cfg);
    match sandbox.check().await {
        Ok(_) => Some(Env { sandbox, work_root }),
        Err(e) => {
            assert!(
                std::env::var("ASSISTD_TEST_SANDBOX").as_deref() != Ok("required"),
                "ASSISTD_TEST_SANDBOX=required but the sandbox is unavailable: {e}"
            );
            println!("skipped: {e}");
            None
        }
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap()
        == 0
}

/// The uid of the first session of `env` (slot 0), when we are root.
fn slot_uid(env: &Env) -> Option<u32> {
    is_root().then_some(env.sandbox.config().uid_base)
}

/// Host pids and command lines of the processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<(u32, String)> {
    assistd_sandbox::processes_of(uid)
        .into_iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
}

/// Processes of any command line containing `needle` (host-wide).
fn processes_matching(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry
            .file_name()
            .to_str()
            .is_none_or(|s| s.parse::<u32>().is_err())
        {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push(cmdline);
        }
    }
    out
}

/// Waits (briefly) until no process of the sandbox's slot uids (from `uid` on) is left; the
/// test's session may have any slot, since the check's session may still hold slot 0.
async fn assert_no_process_of(uid: Option<u32>) {
    let Some(uid) = uid else { return };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<_> = (uid..uid + 4).flat_map(processes_of).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the slot uids left: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(session: &mut Session, code: &str) -> Execution {
    session.run(code).await.unwrap()
}

#[tokio::test]
async fn state_lasts_across_calls_and_outputs_come_back() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let csv = InputFile {
        name: "data.csv".to_owned(),
        bytes: "a,b\n1,2\n3,4\n5,6\n".into(),
    };
    let dup = InputFile {
        name: "../data.csv".to_owned(),
        bytes: "x\n".into(),
    };
    let mut s = env.sandbox.session(vec![csv, dup]).await.unwrap();
    let r = run(&mut s, "x = 41\nopen('keep.txt', 'w').write('kept')\n").await;
    assert!(r.exit.is_none() && !r.timed_out, "{r:?}");
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].path, "keep.txt");
    assert_eq!(r.files[0].bytes, b"kept");
    let r = run(&mut s, "x + 1").await;
    assert_eq!(r.logs.trim(), "42");
    let r = run(&mut s, "print(open('keep.txt').read())").await;
    assert_eq!(r.logs.trim(), "kept");
    assert!(r.files.is_empty(), "nothing changed: {:?}", r.files);
    let r = run(&mut s, "import os\nsorted(os.listdir('.'))").await;
    assert!(
        r.logs.contains("'data.csv'") && r.logs.contains("'__data.csv'"),
        "{}",
        r.logs
    );
    let r = run(
        &mut s,
        "import pandas as pd\nprint(pd.read_csv('data.csv')['b'].mean())",
    )
    .await;
    assert_eq!(r.logs.trim(), "4.0", "{}", r.logs);
    let r = run(
        &mut s,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nos.makedirs('out', exist_ok=True)\nplt.savefig('chart.png')\nopen('out/a.csv', 'w').write('1')",
    )
    .await;
    let chart = r
        .files
        .iter()
        .find(|f| f.path == "chart.png")
        .expect("chart.png");
    assert!(chart.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        r.files.iter().any(|f| f.path == "out/a.csv"),
        "{:?}",
        r.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    let r = run(&mut s, "1 / 0").await;
    assert!(r.logs.contains("ZeroDivisionError"), "{}", r.logs);
    assert!(
        !r.logs.contains("driver.py"),
        "driver frames leak: {}",
        r.logs
    );
    assert!(s.is_alive());
}

#[tokio::test]
async fn no_network() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let code = format!(
        r#"
import socket
def attempt(what, f):
    try:
        f()
        print(what, "OK")
    except Exception as e:
        print(what, "FAILED", type(e).__name__, e)
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
attempt("tcp6", lambda: socket.create_connection(("::1", {port}), timeout=2))
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("127.0.0.1", {port}))
attempt("udp", udp)
def netlink():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
attempt("netlink", netlink)
"#
    );
    let r = run(&mut s, &code).await;
    for what in ["tcp", "tcp6", "dns", "udp", "netlink"] {
        assert!(
            r.logs.contains(&format!("{what} FAILED")),
            "{what}: {}",
            r.logs
        );
    }
    assert!(!r.logs.contains(" OK"), "{}", r.logs);
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}

#[tokio::test]
async fn host_files_and_environment_stay_hidden() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let secret_file = data_dir.path().join("secret.txt");
    std::fs::write(&secret_file, "host-secret-4711").unwrap();
    let mut other = env.sandbox.session(Vec::new()).await.unwrap();
    run(
        &mut other,
        "open('mine.txt', 'w').write('other-session-secret')",
    )
    .await;
    let other_dir = std::fs::read_dir(env.work_root.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().join("mine.txt").exists())
        .unwrap()
        .path();

    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let code = format!(
        r#"
import os, glob
for path in ["/etc/shadow", "/etc/passwd", {secret:?}, {other:?}, "/root/.bashrc"]:
    try:
        print("READ", path, open(path).read()[:50])
    except Exception as e:
        print("DENIED", path, type(e).__name__)
for d in ["/", "/mnt", "/tmp", "/opt", "/etc", {root:?}]:
    try:
        print("LIST", d, sorted(os.listdir(d)))
    except Exception as e:
        print("NOLIST", d, type(e).__name__)
print("ENV", dict(os.environ))
for p in glob.glob("/proc/*/environ"):
    try:
        print("PROCENV", p, open(p, "rb").read())
    except Exception as e:
        print("NOPROCENV", p, type(e).__name__)
"#,
        secret = secret_file.display().to_string(),
        other = other_dir.join("mine.txt").display().to_string(),
        root = env.work_root.path().display().to_string(),
    );
    let r = run(&mut s, &code).await;
    assert!(
        !r.logs.lines().any(|l| l.starts_with("READ ")),
        "{}",
        r.logs
    );
    assert!(!r.logs.contains("host-secret-4711"), "{}", r.logs);
    assert!(!r.logs.contains("other-session-secret"), "{}", r.logs);
    assert!(r.logs.contains("PROCENV /proc/1/environ"), "{}", r.logs);
    // Nothing of the server's environment: cargo sets CARGO_PKG_NAME for this very process.
    assert_eq!(
        std::env::var("CARGO_PKG_NAME").as_deref(),
        Ok("assistd-sandbox")
    );
    for (name, value) in std::env::vars() {
        if value.len() >= 6
            && !matches!(
                name.as_str(),
                "LANG" | "HOME" | "TERM" | "SHELL" | "USER" | "LOGNAME" | "PWD" | "OLDPWD"
            )
        {
            assert!(
                !r.logs.contains(&format!("{name}={value}")),
                "{name} leaked: {}",
                r.logs
            );
            assert!(
                !r.logs.contains(&format!("'{name}': '{value}'")),
                "{name} leaked: {}",
                r.logs
            );
        }
    }
}

#[tokio::test]
async fn writes_outside_data_fail_and_identity_is_unprivileged() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let targets = [
        "/usr/assistd-probe",
        "/etc/assistd-probe",
        "/assistd-probe",
        "/opt/venv/assistd-probe",
        "/mnt/assistd-probe",
    ];
    let code = format!(
        r#"
import os
for path in {targets:?}:
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except Exception as e:
        print("DENIED", path, type(e).__name__)
open("owned.txt", "w").write("x")
print([l for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm", "CapBnd", "Uid"))])
print("UID", os.getuid())
"#
    );
    let r = run(&mut s, &code).await;
    assert!(!r.logs.contains("WROTE"), "{}", r.logs);
    assert!(r.logs.contains("CapEff:\\t0000000000000000"), "{}", r.logs);
    assert!(r.logs.contains("CapPrm:\\t0000000000000000"), "{}", r.logs);
    let venv = venv();
    for host in [
        Path::new("/usr/assistd-probe"),
        Path::new("/etc/assistd-probe"),
        Path::new("/assistd-probe"),
        &venv.join("assistd-probe"),
    ] {
        assert!(!host.exists(), "{} appeared on the host", host.display());
    }
    let owned = r
        .files
        .iter()
        .find(|f| f.path == "owned.txt")
        .expect("owned.txt");
    assert_eq!(owned.bytes, b"x");
    if let Some(uid) = slot_uid(&env) {
        let file = std::fs::read_dir(env.work_root.path())
            .unwrap()
            .flatten()
            .map(|e| e.path().join("owned.txt"))
            .find(|p| p.exists())
            .unwrap();
        let meta = std::fs::metadata(file).unwrap();
        let file_uid = std::os::unix::fs::MetadataExt::uid(&meta);
        // A slot uid (the check's session may still hold slot 0 while it is torn down).
        assert!((uid..uid + 4).contains(&file_uid), "owner {file_uid}");
        // Every process of the session is in its cgroups, where the host offers them.
        if Path::new("/sys/fs/cgroup/memory/assistd-sandbox").exists() {
            let procs = processes_of(file_uid);
            assert!(!procs.is_empty());
            for (pid, cmdline) in procs {
                let cgroups =
                    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                for controller in ["memory", "pids"] {
                    assert!(
                        cgroups
                            .lines()
                            .any(|l| l.contains(&format!(":{controller}:/assistd-sandbox/"))),
                        "{pid} {cmdline} not in the {controller} cgroup: {cgroups}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn fork_bomb_is_contained() {
    let Some(env) = setup(5, |c| c.processes = 32).await else {
        return;
    };
    let uid = slot_uid(&env);
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let started = Instant::now();
    let r = s
        .run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    if let Ok(r) = &r {
        assert!(r.timed_out || r.exit.is_some(), "{r:?}");
    }
    drop(s);
    assert_no_process_of(uid).await;
    // The host still forks.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn memory_bomb_is_contained() {
    let Some(env) = setup(20, |c| c.memory_bytes = 512 << 20).await else {
        return;
    };
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let r = run(
        &mut s,
        "hog = []\nwhile True:\n    hog.append(bytearray(32 << 20))\n",
    )
    .await;
    assert!(!r.timed_out);
    assert!(r.logs.contains("MemoryError") || r.exit.is_some(), "{r:?}");
}

#[tokio::test]
async fn infinite_loop_times_out_and_leaves_nothing() {
    let Some(env) = setup(3, |_| {}).await else {
        return;
    };
    let uid = slot_uid(&env);
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let started = Instant::now();
    let r = run(
        &mut s,
        "print('before', flush=True)\nwhile True:\n    pass\n",
    )
    .await;
    assert!(r.timed_out, "{r:?}");
    assert!(r.logs.contains("before"), "{}", r.logs);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!s.is_alive());
    assert!(matches!(
        s.run("1").await,
        Err(assistd_sandbox::SandboxError::Dead(_))
    ));
    assert_no_process_of(uid).await;
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_gigabyte_of_stdout_is_capped() {
    let Some(env) = setup(60, |_| {}).await else {
        return;
    };
    let cap = env.sandbox.config().output_cap;
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let before = rss_bytes();
    let r = run(
        &mut s,
        "import sys, os\nb = b'x' * (1 << 20)\nfor _ in range(1024):\n    os.write(1, b)\nprint('err', file=sys.stderr)",
    )
    .await;
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        !r.timed_out && r.exit.is_none(),
        "{:?} {:?}",
        r.timed_out,
        r.exit
    );
    assert!(r.logs.len() <= cap + 200, "{}", r.logs.len());
    assert!(
        r.logs.contains("more bytes of output were cut"),
        "{}",
        &r.logs[r.logs.len() - 200..]
    );
    assert!(grown < 50 << 20, "RSS grew by {grown} bytes");
    let r = run(&mut s, "print('still here')").await;
    assert_eq!(r.logs.trim(), "still here");
}

#[tokio::test]
async fn symlinks_are_never_outputs() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let host_dir = tempfile::tempdir().unwrap();
    let host_file = host_dir.path().join("host.txt");
    std::fs::write(&host_file, "host-only").unwrap();
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let code = format!(
        "import os\nos.symlink('/etc/shadow', 'out.png')\nos.symlink({host:?}, 'host.txt')\nos.symlink('/etc', 'etcdir')\nos.mkfifo('fifo')\nopen('real.txt', 'w').write('ok')",
        host = host_file.display().to_string()
    );
    let r = run(&mut s, &code).await;
    let paths: Vec<_> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["real.txt"], "{}", r.logs);
}

#[tokio::test]
async fn killing_the_parent_and_init_does_not_escape() {
    let Some(env) = setup(10, |_| {}).await else {
        return;
    };
    let uid = slot_uid(&env);
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let r = s
        .run("import os\nprint(os.getpid(), os.getppid())\nfor p in (os.getppid(), 1, -1):\n    try:\n        os.kill(p, 9)\n    except Exception as e:\n        print(p, type(e).__name__)\n")
        .await;
    // Whatever became of the session, the call returned.
    if let Ok(r) = r {
        assert!(!r.timed_out, "{r:?}");
    }
    drop(s);
    assert_no_process_of(uid).await;
}

#[tokio::test]
async fn background_processes_do_not_outlive_the_call() {
    let Some(env) = setup(20, |_| {}).await else {
        return;
    };
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let code = r"
import os, subprocess, time
p = subprocess.Popen(['sleep', '1000'])
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '1001'])
    os._exit(0)
time.sleep(0.2)
print('started', p.pid)
";
    let r = run(&mut s, code).await;
    assert!(r.logs.contains("started"), "{}", r.logs);
    assert!(s.is_alive());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = [
            processes_matching("sleep 1000"),
            processes_matching("sleep 1001"),
        ]
        .concat();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = run(&mut s, "print('alive')").await;
    assert_eq!(r.logs.trim(), "alive");
}

#[tokio::test]
async fn ptrace_mount_and_unshare_are_denied() {
    let Some(env) = setup(20, |_| {}).await else {
        return;
    };
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let code = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(name, rc):
    print(name, rc, os.strerror(ctypes.get_errno()) if rc != 0 else "OK")
errno_of("ptrace", libc.ptrace(0, 0, None, None))
errno_of("mount", libc.mount(b"x", b"/mnt", b"tmpfs", 0, None))
errno_of("unshare_user", libc.unshare(0x10000000))
errno_of("unshare_net", libc.unshare(0x40000000))
errno_of("chroot", libc.chroot(b"/tmp"))
print("mount_cmd", os.system("mount -t tmpfs x /mnt 2>/dev/null"))
"#;
    let r = run(&mut s, code).await;
    for name in ["ptrace", "mount", "unshare_user", "unshare_net", "chroot"] {
        let line = r
            .logs
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {}", r.logs));
        assert!(line.contains("Operation not permitted"), "{line}");
    }
    assert!(!r.logs.contains("mount_cmd 0"), "{}", r.logs);
}

#[tokio::test]
async fn check_describes_the_sandbox() {
    let Some(env) = setup(30, |_| {}).await else {
        return;
    };
    let description = env.sandbox.check().await.unwrap();
    println!("{description}");
    assert!(description.contains("Python 3."), "{description}");
    assert!(description.contains("numpy "), "{description}");
}

#[tokio::test]
async fn the_protocol_survives_closed_std_streams_and_threads_work() {
    let Some(env) = setup(20, |_| {}).await else {
        return;
    };
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let r = run(
        &mut s,
        "import os, sys, threading\nt = threading.Thread(target=lambda: print('thread ran'))\nt.start()\nt.join()\nsys.stdout.flush()\nos.close(0)\nos.close(1)\nsys.stdin = None\nsys.stdout = open(os.devnull, 'w')\n",
    )
    .await;
    assert!(r.exit.is_none(), "{r:?}");
    assert!(r.logs.contains("thread ran"), "{}", r.logs);
    let r = run(&mut s, "print('via stderr', file=sys.stderr)").await;
    assert_eq!(r.logs.trim(), "via stderr");
    assert!(s.is_alive());
}

#[tokio::test]
async fn a_killed_interpreter_ends_the_session() {
    let Some(env) = setup(20, |_| {}).await else {
        return;
    };
    let uid = slot_uid(&env);
    let mut s = env.sandbox.session(Vec::new()).await.unwrap();
    let r = run(
        &mut s,
        "import os\nprint('bye', flush=True)\nos.kill(os.getpid(), 9)",
    )
    .await;
    assert!(!r.timed_out);
    let exit = r.exit.expect("an exit reason");
    assert!(exit.contains("signal 9"), "{exit}");
    assert!(r.logs.contains("bye"), "{}", r.logs);
    assert!(!s.is_alive());
    drop(s);
    // The slot comes back: every slot can still be taken.
    let mut sessions = Vec::new();
    for _ in 0..env.sandbox.config().max_sessions {
        sessions.push(env.sandbox.session(Vec::new()).await.unwrap());
    }
    drop(sessions);
    assert_no_process_of(uid).await;
}
