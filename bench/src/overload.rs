//! `bench overload`: what the server does when offered more calls than it can serve, with
//! its admission limit (`--max-calls-in-flight`) and without it, in one run.
//!
//! Each server runs on core 0 (`taskset`) and this program on core 1. The load is `Sum`
//! over bare HTTP/2 (the h2 crate, no tonic), a closed loop like h2load's: `connections`
//! × `streams` calls in flight, each sent again as soon as it is answered. Unlike h2load,
//! it reads every call's `grpc-status`, so the calls answered OK (each answer checked:
//! `Sum(2, 3) = 5`) and the calls refused are counted and timed apart. Goodput is OK calls
//! a second; "admitted p99" is the 99th percentile of the OK calls' latency, as a client
//! sees it, from its request sent to its trailers read.
//!
//! 1. Today's server (the limit set past any load: `--max-calls-in-flight 4294967295`) at
//!    several numbers of calls in flight: where goodput stops growing is the server's
//!    capacity, in calls in flight.
//! 2. Both servers at that capacity, then at `--factor` (10) times it: goodput, admitted
//!    p50/p99, refusals a second, and the server's CPU time per call and RSS.
//!
//! h2load is not used because it cannot tell a refused call from a served one (both are
//! HTTP 200); `bench/run` checks that this driver and h2load reach the same rate.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use anyhow::{Context, bail, ensure};
use bytes::{Bytes, BytesMut};
use grpc_tour::lesson::proto::SumResponse;
use hdrhistogram::Histogram;
use prost::Message;
use tokio::{net::TcpStream, task::JoinSet};

use crate::{
    compare::{Contender, Running},
    h2load::sum_body,
    load::Latency,
};

/// What one closed-loop run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub in_flight: usize,
    pub seconds: f64,
    /// OK calls (answer checked), refused calls (`UNAVAILABLE`), anything else.
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub ok_latency: Option<Latency>,
    pub refused_latency: Option<Latency>,
    /// The server's CPU seconds (user + system) during the run.
    pub server_cpu: f64,
}

impl Outcome {
    pub fn goodput(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    pub fn refusals(&self) -> f64 {
        self.refused as f64 / self.seconds
    }
}

/// The shared tallies of one run.
struct Tally {
    /// Calls still to send; each worker takes one before it sends.
    left: AtomicU64,
    ok: std::sync::Mutex<Histogram<u64>>,
    refused: std::sync::Mutex<Histogram<u64>>,
    failed: AtomicU64,
}

/// Sends `calls` `Sum` calls to `addr` with `connections` × `streams` in flight, and
/// tallies them. `pid` is the server's, for its CPU time.
pub async fn drive(
    addr: &str,
    (connections, streams): (usize, usize),
    calls: u64,
    pid: u32,
) -> anyhow::Result<Outcome> {
    let tally = Arc::new(Tally {
        left: AtomicU64::new(calls),
        ok: std::sync::Mutex::new(Histogram::new(3)?),
        refused: std::sync::Mutex::new(Histogram::new(3)?),
        failed: AtomicU64::new(0),
    });
    let body = sum_body();
    let mut senders = Vec::new();
    let mut drivers = JoinSet::new();
    for _ in 0..connections {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 24)
            .handshake::<_, Bytes>(tcp)
            .await?;
        drivers.spawn(async move {
            let _ = connection.await;
        });
        senders.push(client);
    }
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for client in &senders {
        for _ in 0..streams {
            let (client, tally, body) = (client.clone(), Arc::clone(&tally), body.clone());
            let uri = format!("http://{addr}/tour.Summator/Sum");
            workers.spawn(async move { worker(client, uri, body, tally).await });
        }
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(pid)? - cpu_before;
    drivers.abort_all();
    let ok = tally.ok.lock().unwrap();
    let refused = tally.refused.lock().unwrap();
    Ok(Outcome {
        in_flight: connections * streams,
        seconds,
        ok: ok.len(),
        refused: refused.len(),
        failed: tally.failed.load(Ordering::Relaxed),
        ok_latency: (!ok.is_empty()).then(|| Latency::of(&ok)),
        refused_latency: (!refused.is_empty()).then(|| Latency::of(&refused)),
        server_cpu,
    })
}

/// One stream's loop: a call, its answer read and judged, the next call.
async fn worker(
    mut client: h2::client::SendRequest<Bytes>,
    uri: String,
    body: Bytes,
    tally: Arc<Tally>,
) -> anyhow::Result<()> {
    while tally
        .left
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
    {
        client = client.ready().await?;
        let request = http::Request::post(&uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let sent = Instant::now();
        let (response, mut send) = client.send_request(request, false)?;
        send.send_data(body.clone(), true)?;
        let outcome = answer(response).await;
        let micros = sent.elapsed().as_micros() as u64;
        match outcome {
            Ok(Answer::Ok) => tally.ok.lock().unwrap().record(micros)?,
            Ok(Answer::Refused) => tally.refused.lock().unwrap().record(micros)?,
            Ok(Answer::Failed) | Err(_) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

enum Answer {
    Ok,
    Refused,
    Failed,
}

/// Reads one call's answer: `Sum(2, 3) = 5` with `grpc-status: 0`, or a refusal.
async fn answer(response: h2::client::ResponseFuture) -> anyhow::Result<Answer> {
    let response = response.await?;
    // A trailers-only answer carries its status in the headers.
    if let Some(status) = response.headers().get("grpc-status") {
        return Ok(if status == "14" {
            Answer::Refused
        } else {
            Answer::Failed
        });
    }
    let mut body = response.into_body();
    let mut message = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?.unwrap_or_default();
    if trailers.get("grpc-status").is_none_or(|s| s != "0") || message.len() != 14 {
        return Ok(Answer::Failed);
    }
    Ok(if SumResponse::decode(&message[5..])?.value == 5.0 {
        Answer::Ok
    } else {
        Answer::Failed
    })
}

/// The CPU seconds a process has used, user and system, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command's closing parenthesis; utime and stime are the 14th and
    // 15th of the line, the 12th and 13th after it.
    let after = stat.rsplit_once(')').context("no command in stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / clock_ticks()?)
}

fn clock_ticks() -> anyhow::Result<f64> {
    let output = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// The connections × streams for `in_flight` calls: at most 100 streams a connection (the
/// server allows 256).
pub fn spread(in_flight: usize) -> (usize, usize) {
    let connections = in_flight.div_ceil(100).max(1);
    (connections, in_flight / connections)
}

/// Runs `in_flight` calls for about `seconds`, after a warm-up that learns the pace.
pub async fn measure(server: &Running, in_flight: usize, seconds: f64) -> anyhow::Result<Outcome> {
    let shape = spread(in_flight);
    let warm = drive(&server.addr, shape, (in_flight * 20) as u64, server.pid()).await?;
    ensure!(
        warm.failed == 0,
        "{} calls failed in the warm-up",
        warm.failed
    );
    let pace = (warm.ok + warm.refused) as f64 / warm.seconds;
    let calls = ((pace * seconds) as u64).max(in_flight as u64 * 5);
    let outcome = drive(&server.addr, shape, calls, server.pid()).await?;
    if outcome.failed > 0 {
        bail!("{} of {calls} calls failed", outcome.failed);
    }
    Ok(outcome)
}

/// The two servers measured.
pub fn servers(tour: &Contender, limit: Option<u32>) -> [(String, Contender); 2] {
    let with = |value: String| {
        let mut contender = tour.clone();
        contender
            .args
            .extend(["--max-calls-in-flight".to_string(), value]);
        contender
    };
    [
        ("no limit (today)".into(), with(u32::MAX.to_string())),
        (
            match limit {
                Some(limit) => format!("limit {limit}"),
                None => "limit (default)".into(),
            },
            match limit {
                Some(limit) => with(limit.to_string()),
                None => tour.clone(),
            },
        ),
    ]
}
