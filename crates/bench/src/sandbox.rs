//! `assistd-bench sandbox`: the `code_interpreter` sandbox's own costs, each next to its floor:
//! a bare `python -c pass` of the sandbox's venv, a session's start (bubblewrap, the driver,
//! the first trivial call) over that floor, a trivial call in a warm interpreter, and this
//! process's RSS across many calls (it must not grow).

use crate::report::quantile;
use crate::server::rss_of;
use anyhow::Context;
use assistd_sandbox::{Sandbox, SandboxConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The sandbox scenario's settings.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// The sandbox's Python venv (`scripts/install-sandbox` prints it).
    #[arg(
        long,
        env = "ASSISTD_TEST_SANDBOX_PYTHON",
        default_value = "target/sandbox-python"
    )]
    pub sandbox_python: PathBuf,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (quantile(&v, 0.5), quantile(&v, 0.95))
}

pub async fn run(args: &SandboxArgs, smoke: bool) -> anyhow::Result<()> {
    let (starts, warm_calls, rss_calls) = if smoke { (3, 20, 50) } else { (30, 200, 1000) };
    let python = std::path::absolute(&args.sandbox_python)?;
    let sandbox = Sandbox::new(SandboxConfig {
        python: python.clone(),
        ..SandboxConfig::default()
    });
    let description = sandbox
        .check()
        .await
        .context("the sandbox is unavailable")?;
    println!("sandbox: {description}");

    // Interleaved, so a change in the machine's load hits both alike.
    let mut floor = Vec::new();
    let mut start = Vec::new();
    for _ in 0..starts {
        let started = Instant::now();
        let status = std::process::Command::new(python.join("bin/python"))
            .args(["-c", "pass"])
            .env_clear()
            .status()?;
        anyhow::ensure!(status.success(), "python -c pass failed");
        floor.push(started.elapsed());

        let started = Instant::now();
        let mut session = sandbox.session(Vec::new()).await?;
        session.run("pass").await?;
        start.push(started.elapsed());
        drop(session);
    }
    let (floor_p50, floor_p95) = summary(floor);
    let (start_p50, start_p95) = summary(start);

    let mut session = sandbox.session(Vec::new()).await?;
    let mut warm = Vec::new();
    for _ in 0..warm_calls {
        let started = Instant::now();
        session.run("x = 1").await?;
        warm.push(started.elapsed());
    }
    let (warm_p50, warm_p95) = summary(warm);

    let me = std::process::id();
    let (rss_before, _) = rss_of(me);
    for _ in 0..rss_calls {
        session.run("x = 1").await?;
    }
    let (rss_after, _) = rss_of(me);
    drop(session);

    let over = |d: Duration| d.saturating_sub(floor_p50);
    println!();
    println!("| measure | median ms | p95 ms | target |");
    println!("|---|---|---|---|");
    println!(
        "| floor: `python -c pass` (venv, no sandbox), {starts} runs | {} | {} | |",
        ms(floor_p50),
        ms(floor_p95)
    );
    println!(
        "| session start + first trivial call, over the floor, {starts} runs | {} | {} | ≤ 30 |",
        ms(over(start_p50)),
        ms(over(start_p95))
    );
    println!(
        "| session start + first trivial call, absolute | {} | {} | |",
        ms(start_p50),
        ms(start_p95)
    );
    println!(
        "| warm trivial call (`x = 1`), {warm_calls} calls | {} | {} | ≤ 5 |",
        ms(warm_p50),
        ms(warm_p95)
    );
    println!(
        "| bench RSS before / after {rss_calls} calls, KiB | {} | {} | no growth |",
        rss_before >> 10,
        rss_after >> 10
    );
    Ok(())
}
