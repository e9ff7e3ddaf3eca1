//! The grpc-tour server: Summator, Dune and RouteGuide on one address.
//!
//! ```text
//! cargo run                                # serves on 127.0.0.1:50051
//! cargo run -- --seed 7 --addr 127.0.0.1:0 # reproducible verdicts, any free port
//! cargo run -- certs tls/                  # a throwaway CA and certificates, for --tls-*
//! cargo run -- --help
//! ```
//!
//! This file only turns flags into a [`Config`], binds the address and serves until Ctrl-C
//! or SIGTERM; everything else lives in the library. By default the server logs start-up,
//! shutdown and trouble; `--log-calls` adds one line per call. `RUST_LOG`, when set, alone
//! decides what is logged (the call lines are info events of `grpc_tour::calls`).

use std::{
    io::{BufWriter, IsTerminal},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use grpc_tour::{
    lesson::route_guide::{features::FeatureDb, notes},
    production::{
        notes::NoteHome,
        server::{Config, Limits, Runtime, TourServer},
        tls::{ServerTlsFiles, Throwaway},
    },
};
use tokio::net::TcpListener;
use tracing_appender::non_blocking::ErrorCounter;
use tracing_subscriber::EnvFilter;

/// Serves the grpc-tour services: Summator, Dune and RouteGuide.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

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
    #[arg(long, value_name = "N", default_value_t = notes::DEFAULT_CAPACITY)]
    max_notes: usize,

    /// How many bytes of RouteChat notes to keep (each at its encoded size), refusing the
    /// note that would pass it with RESOURCE_EXHAUSTED. The count alone bounds no memory,
    /// as one note may be a whole 4 MiB message; 256 MiB suits a 1 GiB container.
    #[arg(long, value_name = "BYTES", default_value_t = notes::DEFAULT_BYTE_BUDGET)]
    max_note_bytes: usize,

    /// Where RouteChat's notes live: `memory` (this process; each replica has its own), or
    /// `redis://HOST:PORT[/DB]`, shared by every replica that names the same Redis (the
    /// budgets above then hold across them). While Redis cannot be reached, RouteChat
    /// answers UNAVAILABLE and the other RPCs are unaffected.
    #[arg(long, value_name = "HOME", default_value = "memory")]
    notes: NoteHome,

    /// Makes the Mentat think this long before each verdict, so that a client with a
    /// shorter deadline sees DEADLINE_EXCEEDED (try `--mentat-delay 2s`).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    mentat_delay: Duration,

    /// Requires `authorization: Bearer TOKEN` on every tour call; health checks and
    /// reflection stay open.
    #[arg(long, env = "GRPC_TOUR_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// The name to give in the `x-served-by` header of every response, to tell replicas
    /// apart behind a load balancer [default: the address it listens on].
    #[arg(long, value_name = "NAME")]
    replica_name: Option<String>,

    /// The tokio runtime to serve on. `auto`: current-thread when this process may use
    /// one CPU (a one-core container, `taskset -c 0`), where it is fastest; multi-thread,
    /// a worker per CPU, when it may use more.
    #[arg(long, value_enum, default_value_t = Runtime::Auto)]
    runtime: Runtime,

    /// Logs one line per call: service, method, peer, trace id, status and latency. Off by
    /// default, as on a busy server it costs a fifth of the calls a second; the metrics
    /// count every call either way. (A RUST_LOG that enables info, such as `info`, shows
    /// them too: the lines are the target `grpc_tour::calls`.)
    #[arg(long)]
    log_calls: bool,

    /// Serves Prometheus metrics on http://ADDR/metrics: calls, statuses, latencies and
    /// messages per method, calls in progress, and the note store's size.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,

    /// How many log lines to hold while stderr is slow to take them (a full pipe, a stalled
    /// log collector). Past it, lines are dropped and counted, and a warning says how many:
    /// a slow log never slows a call.
    #[arg(long, value_name = "LINES", default_value_t = 128_000)]
    log_buffer_lines: usize,

    #[command(flatten)]
    tls: ServerTlsFiles,

    #[command(flatten)]
    limits: Limits,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a throwaway CA, a server certificate for localhost and 127.0.0.1, and a
    /// client certificate into DIR, to try --tls-cert, --tls-key and --client-ca with.
    Certs {
        /// Where to write ca.pem, server.pem, server.key, client.pem and client.key.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One log line per call: written to stderr by a thread of its own, which gathers the
    // lines into few writes, so a busy server does not make a system call per call. The
    // guard flushes what is left when main returns. When stderr cannot keep up, lines past
    // `--log-buffer-lines` are dropped and counted, rather than make a call wait.
    let (stderr, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(args.log_buffer_lines)
        .finish(BufWriter::new(std::io::stderr()));
    let dropped = stderr.error_counter();
    // RUST_LOG, when set, decides; the call lines are its target `grpc_tour::calls`.
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,grpc_tour::calls=warn"));
    if args.log_calls {
        filter = filter.add_directive("grpc_tour::calls=info".parse().expect("a directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let served = args
        .runtime
        .build()
        .context("cannot start the tokio runtime")
        .and_then(|runtime| runtime.block_on(run(args, dropped)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, with its causes, instead of a debug dump: a busy port or a bad
            // feature file is a user's mistake, not a crash.
            eprintln!("grpc-tour: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, dropped: ErrorCounter) -> anyhow::Result<()> {
    if let Some(Command::Certs { dir }) = &args.command {
        return write_certs(dir);
    }
    tokio::spawn(report_dropped_lines(dropped));
    let features = match &args.features {
        Some(path) => FeatureDb::load(path)?,
        None => FeatureDb::embedded(),
    };
    let config = Config {
        seed: args.seed,
        mentat_delay: args.mentat_delay,
        features,
        max_notes: args.max_notes,
        max_note_bytes: args.max_note_bytes,
        notes: args.notes,
        token: args.token,
        tls: args.tls.load()?,
        limits: args.limits,
        replica_name: args.replica_name,
        metrics: args.metrics_addr.is_some(),
    };
    let (features, tls) = (config.features.len(), config.tls.is_some());
    // ANCHOR: serve
    let server = TourServer::new(config)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // Registered before serving, so that a SIGTERM that arrives early is not missed.
    let shutdown = shutdown_signal()?;
    let metrics = match (args.metrics_addr, server.metrics()) {
        (Some(addr), Some(metrics)) => Some((
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            metrics,
        )),
        _ => None,
    };

    tracing::info!(
        addr = %listener.local_addr()?,
        features,
        tls,
        "serving Summator, Dune and RouteGuide"
    );
    if let Some((listener, metrics)) = metrics {
        tracing::info!(metrics = %listener.local_addr()?, "Prometheus metrics on /metrics");
        tokio::spawn(grpc_tour::production::metrics::serve(listener, metrics));
    }
    server.serve(listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
    // ANCHOR_END: serve
}

/// Says, once a second at most, how many log lines stderr could not take.
async fn report_dropped_lines(dropped: ErrorCounter) {
    let mut reported = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = dropped.dropped_lines();
        if now > reported {
            tracing::warn!(
                dropped = now - reported,
                "log lines dropped: stderr is not keeping up (--log-buffer-lines)"
            );
            reported = now;
        }
    }
}

/// Completes on Ctrl-C, or on SIGTERM (what `kill`, systemd and Kubernetes send) where
/// there are Unix signals.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn write_certs(dir: &std::path::Path) -> anyhow::Result<()> {
    for path in Throwaway::generate()?.write_to(dir)? {
        println!("wrote {}", path.display());
    }
    let dir = dir.display();
    println!(
        "serve:  cargo run -- --tls-cert {dir}/server.pem --tls-key {dir}/server.key [--client-ca {dir}/ca.pem]"
    );
    println!(
        "call:   cargo run --example summator -- --ca {dir}/ca.pem [--cert {dir}/client.pem --key {dir}/client.key]"
    );
    Ok(())
}
