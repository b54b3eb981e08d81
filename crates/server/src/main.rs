//! The `assistd` binary.

use assistd_server::app;
use assistd_server::config::{CliOverrides, Settings};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// An open-source server for the OpenAI Assistants API.
#[derive(Parser)]
#[command(name = "assistd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API under /v1.
    Serve(ServeArgs),
}

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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cli = CliOverrides {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
    };
    let settings = Settings::load(args.config.as_deref(), &cli)?;
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("assistd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assistd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
