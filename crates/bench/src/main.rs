//! `assistd-bench`: starts its own `assistd` (release build, fresh data directory), drives it
//! over keep-alive HTTP/1.1 connections, and prints one table of throughput, latency
//! percentiles, errors and the server's peak RSS.
//!
//! The load generator runs on a single-threaded runtime with bare hyper connections so it takes
//! as little of the machine as possible from the server it measures.

mod client;
mod floor;
mod model;
mod report;
mod rng;
mod sandbox;
mod scenarios;
mod search;
mod server;
mod upstream;

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
    /// The database the server uses (default: a fresh SQLite file in its data directory).
    #[arg(long)]
    pub database_url: Option<String>,
    /// assistd instances sharing the database (needs a PostgreSQL `--database-url` beyond 1);
    /// the run round trip spreads its clients over them.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Delay before the first token of the streaming scenario's upstream, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub upstream_latency_ms: u64,
    /// Delay before the first token of the concurrent-runs scenario's upstream, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub slow_upstream_latency_ms: u64,
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
    /// Concurrent streams of the streaming scenario.
    #[arg(long, default_value_t = 500)]
    pub streams: usize,
    /// Tokens per upstream reply in the streaming scenario.
    #[arg(long, default_value_t = 50)]
    pub stream_tokens: usize,
    /// Pace of the streaming scenario's upstream, tokens per second per stream.
    #[arg(long, default_value_t = 20.0)]
    pub stream_tokens_per_sec: f64,
    /// Tokens per upstream reply in the run round-trip scenario (sent as fast as possible).
    #[arg(long, default_value_t = 10)]
    pub round_trip_tokens: usize,
    /// Pause between the run round trip's polls, microseconds; 0 polls again as soon as the
    /// answer arrives. The client's timer rounds a pause up to whole milliseconds, so the
    /// default (kept for comparison with earlier figures) pauses 2–3 ms, and the scenario
    /// cannot show less than about 3 ms whatever the server does.
    #[arg(long, default_value_t = 2000)]
    pub round_trip_poll_us: u64,
    /// Runs created at once against the 1 s upstream.
    #[arg(long, default_value_t = 2000)]
    pub concurrent_runs: usize,
    /// Poll interval of the concurrent-runs scenario, milliseconds.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
    /// Simulated users of the mixed workload.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Average pause of each mixed-workload user between two rounds, milliseconds (0: none,
    /// every user always waiting on the server, as the targets are stated).
    #[arg(long, default_value_t = 0)]
    pub think_ms: u64,
    /// Also write an SVG chart of the latency percentiles to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// A tiny configuration that finishes in seconds (used by the test suite so the bench
    /// cannot rot).
    #[arg(long)]
    pub smoke: bool,
    /// The `model` scenario's settings.
    #[command(flatten)]
    pub model: model::ModelArgs,
    /// The `search` scenario's settings.
    #[command(flatten)]
    pub search: search::SearchArgs,
    /// The `sandbox` scenario's settings.
    #[command(flatten)]
    pub sandbox: sandbox::SandboxArgs,
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
    /// Create a run, poll until it completes, against a zero-latency upstream.
    RunRoundTrip,
    /// Token latency from the upstream to the client's `thread.message.delta`.
    StreamLatency,
    /// The same through an API-only instance, the run executed by another one and its events
    /// relayed through PostgreSQL (needs a PostgreSQL `--database-url`; skipped otherwise).
    RelayedStream,
    /// Many runs at once against a 1 s upstream.
    ConcurrentRuns,
    /// Simulated users doing everything at once.
    Mixed,
    /// What the hardware and libraries allow: a minimal SQLite handler, the upstream directly.
    Floor,
    /// The built-in model against llama.cpp's `llama-bench` (not part of `all`: it needs
    /// llama-bench; `scripts/bench-model` builds it and runs this).
    Model,
    /// `file_search` at scale: search latency on a large store, memory while ingesting large
    /// uploads, the built-in embedder against llama-bench (not part of `all`: it takes
    /// minutes; `scripts/bench-search` runs it).
    Search,
    /// The `code_interpreter` sandbox: start over a bare Python, warm calls, RSS (not part of
    /// `all`: it needs bubblewrap and `scripts/install-sandbox`).
    Sandbox,
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
            self.streams = self.streams.min(5);
            self.stream_tokens = self.stream_tokens.min(5);
            self.stream_tokens_per_sec = self.stream_tokens_per_sec.max(50.0);
            self.concurrent_runs = self.concurrent_runs.min(10);
            self.users = self.users.min(5);
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
    match args.scenario {
        // These print tables of their own.
        Scenario::Model => model::run(args.assistd_bin.clone(), &args.model).await,
        Scenario::Sandbox => sandbox::run(&args.sandbox, args.smoke).await,
        Scenario::Search => {
            if args.smoke {
                args.search.shrink_for_smoke();
            }
            search::run(
                args.assistd_bin.clone(),
                &args.search,
                args.model.llama_bench.as_deref(),
            )
            .await
        }
        _ => {
            args.shrink_for_smoke();
            run_table(args).await
        }
    }
}

/// Stream token latency through an API-only instance: every run it streams is executed by
/// the other instance on the database, and its events relayed through PostgreSQL.
async fn relayed_stream(args: &Args, config: &str) -> anyhow::Result<report::Row> {
    let api = server::Server::start(
        args.assistd_bin.clone(),
        &format!("workers = 0\n{config}"),
        args.database_url.as_deref(),
    )
    .await?;
    let row = scenarios::stream_latency(&api, args, "stream token latency, relayed").await;
    api.stop().await;
    row
}

/// The scenarios of the common table.
async fn run_table(args: Args) -> anyhow::Result<()> {
    // Two fake upstreams, routed by model name: one answers as fast as it can (server
    // overhead), one paces its tokens like a real model (streaming latency).
    let fast = upstream::start(upstream::UpstreamConfig {
        latency: std::time::Duration::ZERO,
        tokens: args.round_trip_tokens,
        tokens_per_sec: 0.0,
    })?;
    let paced = upstream::start(upstream::UpstreamConfig {
        latency: std::time::Duration::from_millis(args.upstream_latency_ms),
        tokens: args.stream_tokens,
        tokens_per_sec: args.stream_tokens_per_sec,
    })?;
    let slow = upstream::start(upstream::UpstreamConfig {
        latency: std::time::Duration::from_millis(args.slow_upstream_latency_ms),
        tokens: 5,
        tokens_per_sec: 0.0,
    })?;
    // One tenant drives the whole load: the per-project quotas (active runs, request rate),
    // there to keep projects from each other, would only turn its bursts into 429s. They are
    // off here, and docs/benchmarks.md says so. Everything else, `workers` included, is what a
    // user gets by default.
    let config = format!(
        "poll_after_ms = 5\n\n[limits]\nproject_active_runs = 0\nproject_requests_per_second = 0\n\n[embeddings]\nenabled = false\n\n[[models]]\nmatch = \"fast-*\"\nbase_url = \"{fast}\"\n\n[[models]]\nmatch = \"paced-*\"\nbase_url = \"{paced}\"\n\n[[models]]\nmatch = \"slow-*\"\nbase_url = \"{slow}\"\n"
    );
    let postgres = args
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"));
    let server = server::Server::start(
        args.assistd_bin.clone(),
        &config,
        args.database_url.as_deref(),
    )
    .await?;
    anyhow::ensure!(
        args.instances <= 1 || postgres,
        "--instances > 1 needs a PostgreSQL --database-url that they share"
    );
    let mut others = Vec::new();
    for _ in 1..args.instances {
        others.push(
            server::Server::start(
                args.assistd_bin.clone(),
                &config,
                args.database_url.as_deref(),
            )
            .await?,
        );
    }
    let addrs: Vec<String> = std::iter::once(server.addr.clone())
        .chain(others.iter().map(|s| s.addr.clone()))
        .collect();
    let mut rows = Vec::new();
    let run = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    if run(Scenario::CreateMessage) {
        rows.push(scenarios::create_message(&server, &args).await?);
    }
    if run(Scenario::ListMessages) {
        rows.push(scenarios::list_messages(&server, &args).await?);
    }
    // Read before the run scenarios: the memory of thousands of concurrent streams and
    // connections would otherwise be what this row reports.
    if run(Scenario::Rss) {
        rows.push(scenarios::rss_after_messages(&server, &args).await?);
    }
    if run(Scenario::RunRoundTrip) {
        rows.push(scenarios::run_round_trip(&server, &addrs, &args).await?);
    }
    if run(Scenario::StreamLatency) {
        rows.push(scenarios::stream_latency(&server, &args, "stream token latency").await?);
    }
    if run(Scenario::RelayedStream) && postgres {
        rows.push(relayed_stream(&args, &config).await?);
    }
    if run(Scenario::ConcurrentRuns) {
        rows.push(scenarios::concurrent_runs(&server, &addrs, &args).await?);
    }
    if run(Scenario::Mixed) {
        rows.extend(scenarios::mixed(&server, &args).await?);
    }
    if run(Scenario::Floor) {
        let dir = tempfile::tempdir()?;
        rows.push(scenarios::floor_create_message(&args, dir.path()).await?);
        rows.push(scenarios::floor_upstream_direct(&args, &paced).await?);
    }
    println!();
    println!("{}", report::machine_line());
    println!("{}", report::table(&rows));
    if let Some(path) = &args.plot {
        std::fs::write(path, report::svg(&rows))?;
        println!("chart written to {}", path.display());
    }
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    server.stop().await;
    for s in others {
        s.stop().await;
    }
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    Ok(())
}
