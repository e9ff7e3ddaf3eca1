//! The grpc-tour server: Summator, Dune and RouteGuide on one address.
//!
//! ```text
//! cargo run                                # serves on 127.0.0.1:50051
//! cargo run -- --seed 7 --addr 127.0.0.1:0 # reproducible verdicts, any free port
//! cargo run -- certs tls/                  # a throwaway CA and certificates, for --tls-*
//! cargo run -- --help
//! ```
//!
//! This file only parses the flags (the server's own are its [`Config`]), binds the address
//! and serves until Ctrl-C or SIGTERM; everything else lives in the library. By default the
//! server logs start-up, shutdown and trouble; `--log-calls` adds one line per call.
//! `RUST_LOG`, when set, decides what else is logged (the call lines are info events of
//! `grpc_tour::calls`, which `--log-calls` turns on whatever `RUST_LOG` says of them).

use std::{
    io::{BufWriter, IsTerminal},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use grpc_tour::production::{
    metrics,
    server::{Config, Runtime, TourServer},
    tls::Throwaway,
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

    /// The server's own settings, which code that starts a server writes too.
    #[command(flatten)]
    config: Config,

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

    /// How many log lines to hold while stderr is slow to take them (a full pipe, a stalled
    /// log collector). Past it, lines are dropped and counted, and a warning says how many:
    /// a slow log never slows a call.
    #[arg(long, value_name = "LINES", default_value_t = 128_000)]
    log_buffer_lines: usize,
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
    let metrics_addr = args.config.metrics_addr;
    // ANCHOR: serve
    let server = TourServer::new(args.config)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // Registered before serving, so that a SIGTERM that arrives early is not missed.
    let shutdown = shutdown_signal()?;
    let metrics = match (metrics_addr, server.metrics()) {
        (Some(addr), Some(metrics)) => Some((
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            metrics,
        )),
        _ => None,
    };

    let (features, tls) = server.describe();
    tracing::info!(
        addr = %listener.local_addr()?,
        features,
        tls,
        "serving Summator, Dune and RouteGuide"
    );
    if server.serves_playground() {
        let page = format!("http://{}/", listener.local_addr()?);
        tracing::info!(%page, "the playground: open the page in a browser");
    }
    if let Some((listener, metrics)) = metrics {
        tracing::info!(metrics = %listener.local_addr()?, "Prometheus metrics on /metrics");
        tokio::spawn(metrics::serve(listener, metrics));
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
        "call:   cargo run --example production_client -- --server https://localhost:50051 --ca {dir}/ca.pem [--cert {dir}/client.pem --key {dir}/client.key]"
    );
    Ok(())
}
