//! The grpc-tour server: Summator, Dune and RouteGuide on one address.
//!
//! ```text
//! cargo run                                # serves on 127.0.0.1:50051
//! cargo run -- --seed 7 --addr 127.0.0.1:0 # reproducible verdicts, any free port
//! cargo run -- --help
//! ```
//!
//! This file only turns flags into a [`Config`], binds the address and serves until Ctrl-C
//! or SIGTERM; everything else lives in the library. `RUST_LOG` sets what is logged
//! (default `info`: one line per call).

use std::{io::IsTerminal, net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Parser;
use grpc_tour::{
    route_guide::{features::FeatureDb, notes},
    server::{Config, TourServer},
};
use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};
use tracing_subscriber::EnvFilter;

/// Serves the grpc-tour services: Summator, Dune and RouteGuide.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The address to listen on (port 0: any free port, logged at start-up).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,

    /// Seeds the Mentat's verdicts, so that the same calls get the same answers.
    #[arg(long)]
    seed: Option<u64>,

    /// Serves the features in FILE (grpc.io's route_guide_db.json format) instead of the
    /// built-in set.
    #[arg(long, value_name = "FILE")]
    features: Option<PathBuf>,

    /// How many RouteChat notes to keep; once full, new notes are refused with
    /// RESOURCE_EXHAUSTED rather than silently dropped.
    #[arg(long, default_value_t = notes::DEFAULT_CAPACITY)]
    max_notes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, with its causes, instead of a debug dump: a busy port or a bad
            // feature file is a user's mistake, not a crash.
            eprintln!("grpc-tour: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let features = match &args.features {
        Some(path) => FeatureDb::load(path)?,
        None => FeatureDb::embedded(),
    };
    let config = Config {
        seed: args.seed,
        features,
        max_notes: args.max_notes,
    };
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // Registered before serving, so that a SIGTERM that arrives early is not missed.
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;

    tracing::info!(
        addr = %listener.local_addr()?,
        features = config.features.len(),
        "serving Summator, Dune and RouteGuide"
    );
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down: no new calls; calls in flight may finish");
    };
    TourServer::new(config).serve(listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
