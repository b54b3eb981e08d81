//! `assistd-bench`: starts its own `assistd` (release build, fresh data directory), drives it
//! over keep-alive HTTP/1.1 connections, and prints one table of throughput, latency
//! percentiles, errors and the server's peak RSS.
//!
//! The load generator runs on a single-threaded runtime with bare hyper connections so it takes
//! as little of the machine as possible from the server it measures.

mod client;
mod report;
mod scenarios;
mod server;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Benchmarks for assistd.
#[derive(Parser, Debug, Clone)]
#[command(name = "assistd-bench")]
pub struct Args {
    /// Which scenarios to run.
    #[arg(value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// The assistd binary (default: target/release/assistd next to this binary).
    #[arg(long)]
    pub assistd_bin: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Upper bound on each scenario's duration, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Upper bound on each scenario's request count.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Messages in the thread that the list scenario pages through.
    #[arg(long, default_value_t = 10_000)]
    pub list_thread_size: usize,
    /// Total messages stored before the RSS reading.
    #[arg(long, default_value_t = 100_000)]
    pub rss_messages: usize,
    /// A tiny configuration that finishes in seconds (used by the test suite so the bench
    /// cannot rot).
    #[arg(long)]
    pub smoke: bool,
}

/// The scenarios.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Everything below.
    All,
    /// `POST /threads/{id}/messages`.
    CreateMessage,
    /// `GET /threads/{id}/messages?limit=100` on a large thread.
    ListMessages,
    /// Server RSS after storing many messages.
    Rss,
}

impl Args {
    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    fn shrink_for_smoke(&mut self) {
        if self.smoke {
            self.connections = self.connections.min(4);
            self.duration = self.duration.min(1.0);
            self.requests = self.requests.min(200);
            self.list_thread_size = self.list_thread_size.min(150);
            self.rss_messages = self.rss_messages.min(300);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Connections are driven by `spawn_local` tasks: no cross-thread synchronization.
    tokio::task::LocalSet::new().run_until(run()).await
}

async fn run() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.shrink_for_smoke();
    let server = server::Server::start(args.assistd_bin.clone()).await?;
    let mut rows = Vec::new();
    let run = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    if run(Scenario::CreateMessage) {
        rows.push(scenarios::create_message(&server, &args).await?);
    }
    if run(Scenario::ListMessages) {
        rows.push(scenarios::list_messages(&server, &args).await?);
    }
    if run(Scenario::Rss) {
        rows.push(scenarios::rss_after_messages(&server, &args).await?);
    }
    println!();
    println!("{}", report::machine_line());
    println!("{}", report::table(&rows));
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    server.stop().await;
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    Ok(())
}
