//! The assistd process under test: started on port 0 in a fresh data directory, its RSS read
//! from /proc.

use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running assistd.
pub struct Server {
    /// `127.0.0.1:PORT`
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
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
        let config = dir.path().join("assistd.toml");
        std::fs::write(&config, config_toml)?;
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
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
        Ok(Self {
            addr,
            child,
            _dir: dir,
        })
    }

    /// `(current, peak)` resident set size in bytes.
    pub fn rss(&self) -> (u64, u64) {
        let Some(pid) = self.child.id() else {
            return (0, 0);
        };
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

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
