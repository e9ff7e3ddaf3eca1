//! `bench compare`: every server side by side, in one run. Each server gets core 0 and the
//! load core 1 (`taskset`), so neither steals from the other; each server is started fresh
//! for each run, and every figure reported is the median of the runs.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail, ensure};

use crate::{
    h2load,
    load::{Figure, Kind},
};

/// The core each server runs on; the load runs on [`LOAD_CPU`].
pub const SERVER_CPU: usize = 0;
pub const LOAD_CPU: usize = 1;

/// One server to measure.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Its name in the table.
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
    /// What it serves beyond `Sum`, so what else is measured.
    pub serves_streams: bool,
    /// Whether to measure its memory with many chats open (the Python server's 16 threads
    /// could hold only 16).
    pub measure_memory: bool,
    /// Whether only RouteChat is measured (grpc-tour with its notes in Redis: the rest is
    /// the same server as "grpc-tour").
    pub chats_only: bool,
}

/// A `redis-server` on a free loopback port and the load's core, keeping nothing on disk;
/// stopped when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl RedisServer {
    pub fn start(log: &Path) -> anyhow::Result<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("taskset")
            .args(["-c", &LOAD_CPU.to_string(), "redis-server"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::fs::File::create(log)?)
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server (Debian: apt-get install redis-server)")?;
        let redis = RedisServer {
            child,
            port,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "redis-server did not listen on port {port}; see {}",
            log.display()
        )
    }
}

impl RedisServer {
    /// Empties Redis, so that each run's chats start from no notes, as a fresh server's do.
    pub fn flush(&self) -> anyhow::Result<()> {
        use std::io::{Read, Write};
        let mut redis = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        // An inline command of the Redis protocol; the answer is `+OK`.
        redis.write_all(b"FLUSHALL\r\n")?;
        let mut answer = [0; 5];
        redis.read_exact(&mut answer)?;
        ensure!(&answer == b"+OK\r\n", "FLUSHALL answered {answer:?}");
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A contender, running on [`SERVER_CPU`].
pub struct Running {
    child: Child,
    pub addr: String,
}

impl Running {
    pub fn start(contender: &Contender, log: &Path) -> anyhow::Result<Running> {
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new("taskset")
            .args(["-c", &SERVER_CPU.to_string()])
            .arg(&contender.program)
            .args(&contender.args)
            .envs(contender.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", contender.program.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let addr = match wait_for_addr(stdout, log) {
            Ok(addr) => addr,
            Err(error) => {
                let _ = child.kill();
                return Err(error.context(format!("{} did not start", contender.name)));
            }
        };
        Ok(Running { child, addr })
    }

    /// The server's process id (taskset execs it, so it is the child's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now, and its peak so far, in MiB.
    pub fn memory(&self) -> anyhow::Result<(f64, f64)> {
        // taskset execs the server, so the child's pid is the server's.
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = |name: &str| -> anyhow::Result<f64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("no {name}"))?;
            Ok(line
                .split_whitespace()
                .nth(1)
                .context("no value")?
                .parse::<f64>()?
                / 1024.0)
        };
        Ok((kib("VmRSS:")?, kib("VmHWM:")?))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's output (or its log) until it names its address: grpc-tour logs
/// `addr=...` on stderr, the others print `listening on ...` on stdout.
fn wait_for_addr(stdout: ChildStdout, log: &Path) -> anyhow::Result<String> {
    let (found, addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = found.send(addr.trim().to_owned());
            }
        }
    });
    // A minute: under callgrind a server takes seconds to start.
    for _ in 0..600 {
        if let Ok(addr) = addr.recv_timeout(Duration::from_millis(100)) {
            return Ok(addr);
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text.split(" addr=").nth(1) {
            return Ok(addr
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned());
        }
    }
    bail!("no address in 60 s; see {}", log.display())
}

/// Runs this benchmark's `load` mode on [`LOAD_CPU`], and collects its figures.
pub fn load(addr: &str, args: &[String]) -> anyhow::Result<Vec<Figure>> {
    let output = load_command(addr, args)?
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(output.status.success(), "the load failed against {addr}");
    String::from_utf8(output.stdout)?
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("bad figure: {line}")))
        .collect()
}

fn load_command(addr: &str, args: &[String]) -> anyhow::Result<Command> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", &LOAD_CPU.to_string()])
        .arg(std::env::current_exe()?)
        .args(["load", "--json", "--server", &format!("http://{addr}")])
        .args(args);
    Ok(command)
}

/// Opens `chats` chats against the server and reads its memory while they are open.
pub fn memory_with_chats(server: &Running, chats: usize) -> anyhow::Result<(f64, f64)> {
    let mut holder = load_command(&server.addr, &["--hold-chats".into(), chats.to_string()])?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut opened = String::new();
    BufReader::new(holder.stdout.take().context("no stdout")?).read_line(&mut opened)?;
    ensure!(
        opened.starts_with("open"),
        "the chats did not open: {opened:?}"
    );
    // Let the server settle into the state it keeps them in.
    std::thread::sleep(Duration::from_millis(300));
    let memory = server.memory();
    // Closing its stdin tells the holder to hang up.
    drop(holder.stdin.take());
    holder.wait()?;
    memory
}

/// Runs h2load against `Sum` on [`LOAD_CPU`], after checking its request once.
pub async fn h2load_sum(
    addr: &str,
    work: &Path,
    in_flight: (usize, usize),
    measure: Duration,
) -> anyhow::Result<Figure> {
    let body = h2load::sum_body();
    let body_file = work.join("sum.bin");
    std::fs::write(&body_file, &body)?;
    h2load::probe(addr, body).await?;
    h2load::run(
        addr,
        &body_file,
        &work.join("h2load.log"),
        in_flight,
        measure,
        Some(LOAD_CPU),
    )
}

/// The median of each figure over the runs, matched by kind and setting.
pub fn medians(runs: &[Vec<Figure>]) -> Vec<Figure> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|figure| {
            let same: Vec<&Figure> = runs
                .iter()
                .filter_map(|run| {
                    run.iter().find(|f| {
                        f.kind == figure.kind
                            && f.in_flight == figure.in_flight
                            && f.connections == figure.connections
                    })
                })
                .collect();
            let mut median = figure.clone();
            median.rate = median_of(same.iter().map(|f| f.rate));
            if let Some(latency) = median.latency.as_mut() {
                let of = |pick: fn(&crate::load::Latency) -> f64| {
                    median_of(same.iter().filter_map(|f| f.latency.as_ref().map(pick)))
                };
                latency.p50 = of(|l| l.p50);
                latency.p99 = of(|l| l.p99);
                latency.p999 = of(|l| l.p999);
            }
            median
        })
        .collect()
}

pub fn median_of(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whether `kind` applies to a contender.
pub fn measures(contender: &Contender, kind: Kind) -> bool {
    if contender.chats_only {
        return matches!(kind, Kind::ChatPipelined | Kind::ChatRoundTrip);
    }
    matches!(kind, Kind::Sum | Kind::SumH2load) || contender.serves_streams
}
