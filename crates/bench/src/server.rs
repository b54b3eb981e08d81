//! The assistd process under test: started on port 0 in a fresh data directory (which outlives
//! a restart, so a second configuration can serve the same data), its RSS read from /proc.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running assistd.
pub struct Server {
    /// `127.0.0.1:PORT`
    pub addr: String,
    child: Child,
    bin: PathBuf,
    database_url: Option<String>,
    dir: tempfile::TempDir,
}

fn default_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("bench binary has no directory")?;
    Ok(dir.join("assistd"))
}

impl Server {
    /// Starts `bin` (default: `assistd` beside this binary) and waits until it listens.
    pub async fn start(
        bin: Option<PathBuf>,
        config_toml: &str,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let bin = match bin {
            Some(b) => b,
            None => default_bin()?,
        };
        let dir = tempfile::tempdir()?;
        let (addr, child) = spawn(&bin, dir.path(), config_toml, database_url).await?;
        Ok(Self {
            addr,
            child,
            bin,
            database_url: database_url.map(str::to_owned),
            dir,
        })
    }

    /// Stops the server and starts it again on the same data directory and database with
    /// `config_toml` (e.g. another search mode over the same index).
    pub async fn restart(mut self, config_toml: &str) -> anyhow::Result<Self> {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let (addr, child) = spawn(
            &self.bin,
            self.dir.path(),
            config_toml,
            self.database_url.as_deref(),
        )
        .await?;
        self.addr = addr;
        self.child = child;
        Ok(self)
    }

    /// The server's `--data-dir` (its SQLite database is `assistd.db` in it by default).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's process id (`None` once it has exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `(current, peak)` resident set size in bytes.
    pub fn rss(&self) -> (u64, u64) {
        self.pid().map_or((0, 0), rss_of)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Writes the configuration into `dir`, starts `bin` with its data under `dir/data`, and
/// returns the address it listens on.
async fn spawn(
    bin: &Path,
    dir: &Path,
    config_toml: &str,
    database_url: Option<&str>,
) -> anyhow::Result<(String, Child)> {
    let config = dir.join("assistd.toml");
    std::fs::write(&config, config_toml)?;
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .env_remove("ASSISTD_API_KEYS")
        .env_remove("ASSISTD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await?
            .context("assistd exited before listening")?;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((addr, child))
}

/// `(current, peak)` resident set size of process `pid` in bytes (zeros once it is gone).
pub fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
