//! How fast is each kind of RPC? A benchmark that answers with figures anyone can reproduce.
//!
//! ```text
//! bench/run                                   # build, then `bench compare`: the full table
//! cargo run --release -p grpc-tour-bench --bin bench -- --help
//! cargo run --release -p grpc-tour-bench --bin bench -- load --server http://127.0.0.1:50051 [--streams]
//! ```
//!
//! `load` drives one running server with each kind of RPC: `Sum` at several numbers of
//! calls in flight over one and several connections (calls/s, p50/p99/p999 latency from an
//! HDR histogram), `ListFeatures` (features/s), `RecordRoute` (points/s), and `RouteChat`
//! pipelined (notes/s) and one note at a time (round trips/s, latency).
//!
//! `compare` starts each server itself, pinned to core 0 while the load runs on core 1:
//! grpc-tour as shipped (with its metrics on), grpc-tour without metrics, with a log line
//! per call, and on a multi-thread runtime, the smallest tonic server of `Sum`
//! (`src/minimal_tonic.rs`, the floor), gRPC C++ serving `Sum` (`bench/cpp/`, the peer to
//! beat) and the Python grpcio server of `interop/python` (a reference). It adds h2load
//! against `Sum` and the servers' memory with 1000 chats open, repeats it all `--runs` times, and prints the medians, the ratios and
//! the targets of docs/performance.md, and draws the plot. Nothing here is part of the
//! test suite: tests never assert on time.

mod compare;
mod h2load;
mod instructions;
mod load;
mod overload;
mod report;
mod soak;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, ensure};
use clap::{Args, Parser, Subcommand};
use grpc_tour::lesson::proto::Point;
use std::io::Read;

use compare::{Contender, Running};
use load::{Figure, Kind, Timing};

#[derive(Parser)]
#[command(about = "How fast is each kind of RPC? See docs/performance.md")]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Drives one running server and prints what it sustains.
    Load(LoadArgs),
    /// Starts every server in turn, measures them all, and prints the table.
    Compare(CompareArgs),
    /// Offers the server ten times the calls in flight it can serve, with its admission
    /// limit and without, and prints goodput, admitted latency, refusals and memory.
    Overload(OverloadArgs),
    /// Every kind of RPC at a steady mixed rate for minutes, sampling the server's memory,
    /// descriptors, live calls and notes into a CSV and a plot.
    Soak(SoakArgs),
    /// Instructions per call and per streamed message, each kind, each server, counted by
    /// valgrind's callgrind (numbers that repeat, where time does not).
    Instructions(InstructionsArgs),
}

#[derive(Args)]
struct InstructionsArgs {
    /// How many times to count it all; the table shows the medians and how far runs moved.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// A few calls of each kind, to prove it works (as CI does): figures from it mean little.
    #[arg(long)]
    smoke: bool,
    /// Another malloc for every server (LD_PRELOAD), e.g. Debian's libjemalloc2:
    /// /usr/lib/x86_64-linux-gnu/libjemalloc.so.2.
    #[arg(long, value_name = "LIBRARY")]
    preload: Option<PathBuf>,
    /// Only the servers named (minimal tonic, gRPC C++, grpc-tour) [default: all three].
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// One more argument for grpc-tour (repeat the flag), to count it with a part of it
    /// changed, e.g. --tour-arg=--no-playground.
    #[arg(long, allow_hyphen_values = true)]
    tour_arg: Vec<String>,
    /// Only these kinds [default: all four].
    #[arg(long, value_delimiter = ',', value_parser = ["sum", "list-features", "record-route", "route-chat"])]
    kinds: Vec<String>,
    /// Also count `Sum` on each `grpc-tour-PART` binary in this folder (grpc-tour built
    /// without PART: bench/layers makes them) and on grpc-tour without --metrics-addr, and
    /// print what each part costs.
    #[arg(long, value_name = "DIR")]
    parts: Option<PathBuf>,
    /// Where the table, the logs and callgrind's dumps go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Args)]
struct SoakArgs {
    /// How long to run, in minutes (at most 60).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// How often to sample the server, in seconds.
    #[arg(long, default_value_t = 10.0)]
    every: f64,
    /// The server's note budget (--max-notes), filled in the first minute.
    #[arg(long, default_value_t = 2000)]
    max_notes: u64,
    /// Where the CSV, the plot and the server's log go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Args)]
struct OverloadArgs {
    /// Calls in flight to try on the server without a limit, to find its capacity.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 25, 50, 100, 200, 400, 1000])]
    sweep: Vec<usize>,
    /// The capacity, in calls in flight, instead of finding it by the sweep.
    #[arg(long)]
    capacity: Option<usize>,
    /// How many times the capacity to offer.
    #[arg(long, default_value_t = 10)]
    factor: usize,
    /// The server's --max-calls-in-flight [default: the server's default].
    #[arg(long)]
    limit: Option<u32>,
    /// How long to measure each figure, in seconds, after its warm-up.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// How many times to run it all; the table shows the medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A second in all, to prove it works (as CI does): figures from it mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Where the results and the servers' logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Args)]
struct LoadArgs {
    /// The server to drive.
    #[arg(long, value_name = "URL")]
    server: String,
    /// How long to measure each figure, in seconds, after the warm-up.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// How long to warm up before each figure, in seconds.
    #[arg(long, default_value_t = 0.3)]
    warm_up: f64,
    /// Sum: the numbers of calls in flight to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 100, 1000])]
    in_flight: Vec<usize>,
    /// Sum: the numbers of connections to spread them over.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4])]
    connections: Vec<usize>,
    /// Also measure the streaming RPCs.
    #[arg(long)]
    streams: bool,
    /// Measure RouteChat only (for a server whose notes live in Redis).
    #[arg(long)]
    chats_only: bool,
    /// ListFeatures: how many features the server has, which each call must bring [default:
    /// as many as the first call brings].
    #[arg(long)]
    features: Option<u64>,
    /// RecordRoute: points per call.
    #[arg(long, default_value_t = 10_000)]
    route_points: usize,
    /// RouteChat: notes per pipelined call.
    #[arg(long, default_value_t = 20_000)]
    chat_notes: u64,
    /// Instead: make exactly --calls calls of this streaming kind, one at a time (each of
    /// --features, --route-points or --chat-notes messages), and print the messages handled.
    #[arg(long, value_enum, requires = "calls")]
    count: Option<Kind>,
    /// With --count: how many calls.
    #[arg(long)]
    calls: Option<u64>,
    /// With --count chat-pipelined: the first fresh point's number, so that successive
    /// runs against one server never meet each other's notes.
    #[arg(long, default_value_t = 0)]
    first_note: u64,
    /// Instead: open this many chats, print `open`, and keep them open until stdin closes.
    #[arg(long, value_name = "CHATS")]
    hold_chats: Option<usize>,
    /// One JSON figure per line, for `compare`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CompareArgs {
    /// How many times to run everything; the table shows the medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// How long to measure each figure, in seconds.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// How many features to generate for ListFeatures.
    #[arg(long, default_value_t = 100_000)]
    features: u64,
    /// How many chats to hold open while reading the servers' memory.
    #[arg(long, default_value_t = 1000)]
    chats: usize,
    /// A few seconds in all, to prove the benchmark works (as CI does): figures from it
    /// mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Also measure grpc-tour and minimal tonic with another malloc (LD_PRELOAD; repeat
    /// the flag for more), e.g. Debian's /usr/lib/x86_64-linux-gnu/libjemalloc.so.2.
    #[arg(long, value_name = "LIBRARY")]
    preload: Vec<PathBuf>,
    /// Where the results, the logs and the plot go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    // Current-thread: the load runs on one core, and this is the fastest runtime there.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match Cli::parse().command {
        Mode::Load(args) => runtime.block_on(drive(args)),
        Mode::Compare(args) => runtime.block_on(compare_all(args)),
        Mode::Overload(args) => runtime.block_on(overload_all(args)),
        Mode::Soak(args) => runtime.block_on(soak_all(args)),
        Mode::Instructions(args) => count_instructions(args),
    }
}

async fn drive(args: LoadArgs) -> anyhow::Result<()> {
    let url = args.server.as_str();
    if let Some(chats) = args.hold_chats {
        let _open = load::open_chats(url, chats, chats.div_ceil(200)).await?;
        println!("open {chats}");
        // Until the reader closes stdin; meanwhile the runtime keeps the chats open.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read(&mut [0])).await;
        return Ok(());
    }
    if let (Some(kind), Some(calls)) = (args.count, args.calls) {
        let per_call = match kind {
            Kind::ListFeatures => args
                .features
                .context("--count list-features needs --features")?,
            Kind::RecordRoute => args.route_points as u64,
            _ => args.chat_notes,
        };
        let handled = load::streamed_calls(url, kind, calls, per_call, args.first_note).await?;
        println!("{handled}");
        return Ok(());
    }
    let timing = Timing {
        warm_up: Duration::from_secs_f64(args.warm_up),
        measure: Duration::from_secs_f64(args.seconds),
    };
    let mut figures = Vec::new();
    if !args.chats_only {
        for &connections in &args.connections {
            for &in_flight in &args.in_flight {
                figures.push(load::sum(url, in_flight, connections, timing).await?);
                show(&args, figures.last())?;
            }
        }
    }
    if args.streams && !args.chats_only {
        let route = route(args.route_points);
        figures.push(load::list_features(url, args.features, timing).await?);
        show(&args, figures.last())?;
        figures.push(load::record_route(url, &route, timing).await?);
        show(&args, figures.last())?;
    }
    if args.streams || args.chats_only {
        // The server keeps every note, and refuses new ones once full.
        let keeps_notes = "RouteChat: a server keeps every note it is sent; give it room with \
            --max-notes 100000000 --max-note-bytes 100000000000, as `bench compare` does";
        figures.push(
            load::chat_pipelined(url, args.chat_notes, timing)
                .await
                .context(keeps_notes)?,
        );
        show(&args, figures.last())?;
        figures.push(
            load::chat_round_trip(url, timing)
                .await
                .context(keeps_notes)?,
        );
        show(&args, figures.last())?;
    }
    Ok(())
}

fn show(args: &LoadArgs, figure: Option<&Figure>) -> anyhow::Result<()> {
    let Some(figure) = figure else { return Ok(()) };
    if args.json {
        println!("{}", serde_json::to_string(figure)?);
    } else {
        println!("{}", report::line(figure));
    }
    Ok(())
}

/// A route of `points` points that visits generated features and the desert between them.
fn route(points: usize) -> Vec<Point> {
    (0..points)
        .map(|n| feature_point(n as u64 % 1000))
        .collect()
}

/// Where the `n`th generated feature is: a grid over the globe, 10⁻³ degrees apart.
fn feature_point(n: u64) -> Point {
    Point {
        latitude: (n % 100_000) as i32 * 10_000 - 500_000_000,
        longitude: (n / 100_000) as i32 * 10_000,
    }
}

/// Writes `count` named features, in grpc.io's route_guide_db.json format.
fn write_features(path: &Path, count: u64) -> anyhow::Result<()> {
    let features: Vec<serde_json::Value> = (0..count)
        .map(|n| {
            let point = feature_point(n);
            serde_json::json!({
                "location": {"latitude": point.latitude, "longitude": point.longitude},
                "name": format!("Feature {n}"),
            })
        })
        .collect();
    std::fs::write(path, serde_json::to_vec(&features)?)?;
    Ok(())
}

async fn compare_all(args: CompareArgs) -> anyhow::Result<()> {
    let (runs, seconds, features) = if args.smoke {
        (1, 0.2, 2_000)
    } else {
        (args.runs, args.seconds, args.features)
    };
    ensure!(runs > 0, "--runs must be at least 1");
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let features_file = args.out.join("features.json");
    write_features(&features_file, features)?;

    // A Redis for the contender whose notes live there, on the load's core: in production
    // it is another machine, not the server's own core.
    let redis = match compare::RedisServer::start(&logs.join("redis.log")) {
        Ok(redis) => Some(redis),
        Err(why) => {
            eprintln!("(no RouteChat figures with notes in Redis: {why:#})");
            None
        }
    };
    let mut contenders = contenders(&features_file, redis.as_ref().map(|r| r.url.as_str()))?;
    for library in &args.preload {
        contenders.extend(with_malloc(&contenders, library)?);
    }
    let h2load_found = std::process::Command::new("h2load")
        .arg("--version")
        .output()
        .is_ok();
    if !h2load_found {
        eprintln!("(h2load not found: no h2load figures; Debian: apt-get install nghttp2-client)");
    }
    let measure = Duration::from_secs_f64(seconds);
    let in_flight = if args.smoke { "1,100" } else { "1,10,100,1000" };
    let load_args = [
        "--seconds".to_owned(),
        seconds.to_string(),
        "--warm-up".to_owned(),
        (seconds * 0.3).to_string(),
        "--in-flight".to_owned(),
        in_flight.to_owned(),
        "--features".to_owned(),
        features.to_string(),
    ];

    let mut results: Vec<report::Measured> = contenders
        .iter()
        .map(|c| report::Measured::new(c.name))
        .collect();
    for run in 1..=runs {
        // Each run starts with the next contender, so that none is always first (or always
        // right after the same one): on a shared machine, a figure's place in the run
        // moves it by more than some of the differences measured.
        let count = contenders.len();
        for index in (0..count).map(|i| (i + run - 1) % count) {
            let (contender, measured) = (&contenders[index], &mut results[index]);
            eprintln!("run {run} of {runs}: {}", contender.name);
            let log = logs.join(format!("{}.log", contender.name.replace([' ', ','], "-")));
            if contender.measure_memory {
                // On a server of its own: a server that has held 1000 chats serves about
                // an eighth fewer calls a second after, so the throughput figures get a
                // fresh one.
                let server = Running::start(contender, &log)?;
                measured.memory_at_rest.push(server.memory()?.0);
                let (_, peak) = compare::memory_with_chats(&server, args.chats)?;
                measured.memory_with_chats.push(peak);
            }
            let server = Running::start(contender, &log)?;
            if contender.chats_only {
                if let Some(redis) = &redis {
                    redis.flush()?;
                }
                let mut chats = load_args.to_vec();
                chats.push("--chats-only".to_owned());
                measured.runs.push(compare::load(&server.addr, &chats)?);
                continue;
            }
            let mut figures = Vec::new();
            if h2load_found {
                figures.push(
                    compare::h2load_sum(&server.addr, &args.out, (50, 20), measure)
                        .await
                        .with_context(|| format!("h2load against {}", contender.name))?,
                );
            }
            let mut this_load = load_args.to_vec();
            if compare::measures(contender, Kind::ListFeatures) {
                this_load.push("--streams".to_owned());
            }
            figures.extend(compare::load(&server.addr, &this_load)?);
            measured.runs.push(figures);
        }
    }

    let report = report::Report::new(results, args.chats, features, runs);
    let table = report.markdown();
    println!("{table}");
    std::fs::write(args.out.join("results.md"), &table)?;
    let plot = args.out.join("bench.svg");
    report.plot(&plot)?;
    eprintln!(
        "wrote {} and {}",
        args.out.join("results.md").display(),
        plot.display()
    );
    Ok(())
}

/// grpc-tour and minimal tonic again, with `library` preloaded as their malloc, each named
/// after it ("grpc-tour, jemalloc"), their memory measured too.
fn with_malloc(contenders: &[Contender], library: &Path) -> anyhow::Result<Vec<Contender>> {
    ensure!(library.exists(), "{} does not exist", library.display());
    let file = library.file_name().unwrap_or_default().to_string_lossy();
    // libjemalloc.so.2 -> jemalloc
    let malloc = file
        .trim_start_matches("lib")
        .split('.')
        .next()
        .unwrap_or("malloc");
    Ok(contenders
        .iter()
        .filter(|c| c.name == "grpc-tour" || c.name == "minimal tonic")
        .map(|c| {
            let mut again = c.clone();
            // The table's names are &'static str; a handful made once per run of the program.
            again.name = Box::leak(format!("{}, {malloc}", c.name).into_boxed_str());
            again
                .env
                .push(("LD_PRELOAD", library.display().to_string()));
            again.measure_memory = true;
            again
        })
        .collect())
}

/// The servers to compare, built by `bench/run` (or `cargo build --release`).
fn contenders(features_file: &Path, redis: Option<&str>) -> anyhow::Result<Vec<Contender>> {
    // This program is target/release/bench: the others are beside it.
    let exe = std::env::current_exe()?;
    let release = exe.parent().context("no release dir")?;
    let root = release
        .parent()
        .and_then(Path::parent)
        .context("no project dir")?;
    let tour = release.join("grpc-tour");
    let features = features_file.display().to_string();
    // The server as shipped, with its metrics on (they are off unless asked for).
    let tour_args = |more: &[&str], metrics: bool| -> Vec<String> {
        let mut args: Vec<String> = ["--addr", "127.0.0.1:0", "--features", &features]
            .map(String::from)
            .to_vec();
        // Room for every note the chats leave: the default cap is a safety net, not a
        // figure to measure.
        args.extend(
            [
                "--max-notes",
                "100000000",
                "--max-note-bytes",
                "100000000000",
            ]
            .map(String::from),
        );
        if metrics {
            args.extend(["--metrics-addr", "127.0.0.1:0"].map(String::from));
        }
        args.extend(more.iter().map(|s| s.to_string()));
        args
    };
    let mut contenders = vec![
        Contender {
            name: "grpc-tour",
            program: tour.clone(),
            args: tour_args(&[], true),
            env: vec![],
            serves_streams: true,
            measure_memory: true,
            chats_only: false,
        },
        Contender {
            name: "no metrics",
            program: tour.clone(),
            // As shipped, but without --metrics-addr: what the metrics cost.
            args: tour_args(&[], false),
            env: vec![],
            serves_streams: false,
            measure_memory: false,
            chats_only: false,
        },
        Contender {
            name: "call log",
            program: tour.clone(),
            // As shipped, with a log line per call: what the line costs.
            args: tour_args(&["--log-calls"], true),
            env: vec![],
            serves_streams: false,
            measure_memory: false,
            chats_only: false,
        },
        Contender {
            name: "multi-thread",
            program: tour.clone(),
            args: tour_args(&["--runtime", "multi-thread"], true),
            env: vec![],
            serves_streams: false,
            measure_memory: false,
            chats_only: false,
        },
        Contender {
            name: "minimal tonic",
            program: release.join("minimal-tonic"),
            args: vec![
                "--addr".into(),
                "127.0.0.1:0".into(),
                "--features".into(),
                features.clone(),
            ],
            env: vec![],
            serves_streams: true,
            measure_memory: true,
            chats_only: false,
        },
    ];
    if let Some(url) = redis {
        contenders.push(Contender {
            name: "notes in Redis",
            program: tour.clone(),
            args: tour_args(&["--notes", url], true),
            env: vec![],
            serves_streams: true,
            measure_memory: false,
            chats_only: true,
        });
    }
    let cpp = release.join("grpc-cpp-tour");
    if cpp.exists() {
        contenders.push(Contender {
            name: "gRPC C++",
            program: cpp,
            args: vec![
                "--addr".into(),
                "127.0.0.1:0".into(),
                "--features".into(),
                features.clone(),
            ],
            env: vec![],
            serves_streams: true,
            measure_memory: false,
            chats_only: false,
        });
    } else {
        eprintln!("(no gRPC C++: bench/cpp/build makes it, with Debian's libgrpc++-dev)");
    }
    let python = root.join("target/interop/venv/bin/python");
    if python.exists() {
        contenders.push(Contender {
            name: "Python grpcio",
            program: python,
            args: vec![
                root.join("interop/python/tour_server.py")
                    .display()
                    .to_string(),
                "--features".into(),
                features,
            ],
            env: vec![(
                "PYTHONPATH",
                format!(
                    "{}:{}",
                    root.join("target/interop/py").display(),
                    root.join("interop/python").display()
                ),
            )],
            serves_streams: true,
            measure_memory: false,
            chats_only: false,
        });
    } else {
        eprintln!("(no Python venv: run interop/python/setup for the Python figures)");
    }
    for contender in &contenders {
        ensure!(
            contender.program.exists(),
            "{} is missing: build it first (bench/run does)",
            contender.program.display()
        );
    }
    Ok(contenders)
}

async fn overload_all(args: OverloadArgs) -> anyhow::Result<()> {
    let (runs, seconds, sweep) = if args.smoke {
        (1, 0.2, vec![10, 100])
    } else {
        (args.runs, args.seconds, args.sweep.clone())
    };
    ensure!(runs > 0, "--runs must be at least 1");
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let features_file = args.out.join("features.json");
    write_features(&features_file, 1000)?;
    let tour = contenders(&features_file, None)?
        .into_iter()
        .next()
        .context("no grpc-tour")?;
    let servers = overload::servers(&tour, args.limit);
    let log = logs.join("overload.log");

    // 1. The capacity: where goodput stops growing, on the server without a limit.
    let capacity = match args.capacity {
        Some(capacity) => capacity,
        None => {
            let running = Running::start(&servers[0].1, &log)?;
            let mut points = Vec::new();
            for &in_flight in &sweep {
                let outcome = overload::measure(&running, in_flight, seconds).await?;
                println!("{}", report::overload_line("sweep, no limit", &outcome));
                points.push(outcome);
            }
            report::capacity(&points)
        }
    };
    println!(
        "capacity: {capacity} calls in flight; offered: {}",
        capacity * args.factor
    );

    // 2. Both servers, at capacity and past it, runs interleaved; each server fresh.
    let mut results = vec![Vec::new(); servers.len() * 2];
    for run in 0..runs {
        for (index, (name, contender)) in servers.iter().enumerate() {
            let running = Running::start(contender, &log)?;
            for (step, in_flight) in [capacity, capacity * args.factor].into_iter().enumerate() {
                let outcome = overload::measure(&running, in_flight, seconds).await?;
                println!("run {}: {}", run + 1, report::overload_line(name, &outcome));
                results[index * 2 + step].push((outcome, running.memory()?));
            }
        }
    }
    let names: Vec<&str> = servers.iter().map(|(name, _)| name.as_str()).collect();
    let table = report::overload_table(&names, capacity, args.factor, &results);
    println!("\n{table}");
    let path = args.out.join("overload.md");
    std::fs::write(&path, &table)?;
    println!("(also in {})", path.display());
    Ok(())
}

fn count_instructions(args: InstructionsArgs) -> anyhow::Result<()> {
    let amounts = if args.smoke {
        instructions::Amounts::SMOKE
    } else {
        instructions::Amounts::FULL
    };
    ensure!(args.runs > 0, "--runs must be at least 1");
    let work = args.out.join("instructions");
    std::fs::create_dir_all(&work)?;
    // Every ListFeatures call brings every feature: as many as the other kinds' messages.
    let features_file = work.join("features.json");
    write_features(&features_file, amounts.per_call)?;
    let mut servers = instructions::servers(contenders(&features_file, None)?, &args.servers)?;
    ensure!(!servers.is_empty(), "no server is named {:?}", args.servers);
    for server in servers.iter_mut().filter(|s| s.name == "grpc-tour") {
        server.args.extend(args.tour_arg.iter().cloned());
    }
    let kinds: Vec<Kind> = instructions::KINDS
        .iter()
        .map(|(kind, _, _)| *kind)
        .zip(["sum", "list-features", "record-route", "route-chat"])
        .filter(|(_, name)| args.kinds.is_empty() || args.kinds.iter().any(|k| k == name))
        .map(|(kind, _)| kind)
        .collect();
    if let Some(dir) = &args.parts {
        let shipped = servers
            .iter()
            .find(|s| s.name == "grpc-tour")
            .cloned()
            .context("--parts needs grpc-tour among the servers")?;
        ensure!(
            servers.iter().any(|s| s.name == "minimal tonic"),
            "--parts needs minimal tonic among the servers"
        );
        let mut without = |part: &str, program: PathBuf, args: Vec<String>| {
            let mut variant = shipped.clone();
            variant.name = Box::leak(format!("grpc-tour without {part}").into_boxed_str());
            variant.program = program;
            variant.args = args;
            servers.push(variant);
        };
        let mut no_metrics = shipped.args.clone();
        if let Some(at) = no_metrics.iter().position(|a| a == "--metrics-addr") {
            no_metrics.drain(at..at + 2);
        }
        without("metrics", shipped.program.clone(), no_metrics);
        let mut builds: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("grpc-tour-"))
            })
            .collect();
        builds.sort();
        for build in builds {
            let name = build.file_name().unwrap_or_default().to_string_lossy();
            let part = name.trim_start_matches("grpc-tour-").to_owned();
            without(&part, build.clone(), shipped.args.clone());
        }
    }
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        let mut counted = Vec::new();
        for server in &servers {
            eprintln!(
                "run {run} of {}: {} under callgrind",
                args.runs, server.name
            );
            let figures = instructions::count(
                server,
                &kinds,
                amounts,
                &features_file,
                args.preload.as_deref(),
                &work,
            )?;
            eprintln!("  {figures:?}");
            counted.push(figures);
        }
        runs.push(counted);
    }
    let mut table = instructions::markdown(&runs, amounts, args.preload.as_deref());
    if args.parts.is_some() {
        let at = |name: &str| servers.iter().position(|s| s.name == name).unwrap_or(0);
        table.push('\n');
        table.push_str(&instructions::parts(
            &runs,
            at("minimal tonic"),
            at("grpc-tour"),
        ));
    }
    println!("{table}");
    let path = args.out.join("instructions.md");
    std::fs::write(&path, &table)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

async fn soak_all(args: SoakArgs) -> anyhow::Result<()> {
    ensure!(
        args.minutes > 0.0 && args.minutes <= 60.0,
        "--minutes must be more than 0 and at most 60"
    );
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let features_file = args.out.join("soak-features.json");
    write_features(&features_file, 10)?;
    let mut tour = contenders(&features_file, None)?
        .into_iter()
        .next()
        .context("no grpc-tour")?;
    // Its own metrics port, to scrape; and a small note budget, full within a minute.
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut set = |flag: &str, value: String| match tour.args.iter().position(|a| a == flag) {
        Some(at) => tour.args[at + 1] = value,
        None => tour.args.extend([flag.to_owned(), value]),
    };
    set("--metrics-addr", format!("127.0.0.1:{metrics}"));
    set("--max-notes", args.max_notes.to_string());
    let running = Running::start(&tour, &logs.join("soak.log"))?;
    let result = soak::soak(
        &running,
        metrics,
        Duration::from_secs_f64(args.minutes * 60.0),
        Duration::from_secs_f64(args.every),
    )
    .await?;
    let csv = args.out.join("soak.csv");
    std::fs::write(&csv, soak::csv(&result.samples))?;
    let plot = args.out.join("soak.svg");
    soak::plot(&result.samples, &plot)?;
    let first_minute = result
        .samples
        .iter()
        .find(|s| s.seconds >= 60.0)
        .or(result.samples.last())
        .context("no samples")?;
    let last = result.samples.last().context("no samples")?;
    println!(
        "{} calls in {:.0} s, {} chats refused for a full note store, {} failures",
        last.calls,
        last.seconds,
        last.notes_refused,
        result.failures.len()
    );
    println!(
        "memory: {:.1} MiB after the first minute, {:.1} MiB at the end ({:+.1}%)",
        first_minute.rss_mib,
        last.rss_mib,
        100.0 * (last.rss_mib / first_minute.rss_mib - 1.0)
    );
    println!(
        "descriptors: {} before the load, {} at the end of it, {} once it stopped",
        result.fds_before, last.fds, result.fds_after
    );
    println!("(samples in {}, plot in {})", csv.display(), plot.display());
    for failure in &result.failures {
        println!("failure: {failure}");
    }
    ensure!(result.failures.is_empty(), "calls failed");
    Ok(())
}
