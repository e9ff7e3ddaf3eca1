//! h2load against `Sum`: a load generator in C, independent of tonic, which costs about half
//! the CPU per call that a Rust client does and so saturates the server before itself.
//!
//! h2load knows HTTP/2, not gRPC: it counts every HTTP 200 as a success, even when the
//! `grpc-status` in the trailers says the call failed. Two checks make up for it. Before
//! the run, the same request, byte for byte, is sent once here and its trailers read: it
//! must be `grpc-status: 0` with `Sum = 5`. After the run, h2load's count of response
//! bytes must be 14 per call: every answer carried one `SumResponse` message (a 5-byte
//! prefix and 9 bytes of protobuf). A failed unary call has no message at all, only a
//! status, so a single failure would show in that count.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{Context, bail, ensure};
use bytes::{BufMut, Bytes, BytesMut};
use grpc_tour::lesson::proto::{SumRequest, SumResponse};
use hdrhistogram::Histogram;
use prost::Message;

use crate::load::{Figure, Kind, Latency};

/// The bytes of one SumResponse on the wire, prefix included.
const RESPONSE_BYTES: u64 = 5 + 9;

/// The body of a `Sum(2, 3)` call: the 5-byte gRPC prefix (not compressed, then the length,
/// big-endian) and the encoded `SumRequest`.
pub fn sum_body() -> Bytes {
    let message = SumRequest {
        value1: 2.0,
        value2: 3.0,
    }
    .encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(message.len() as u32);
    body.put_slice(&message);
    body.freeze()
}

/// Sends `body` once, as h2load will, and checks the trailers and the answer.
pub async fn probe(addr: &str, body: Bytes) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut client, connection) = h2::client::handshake(tcp).await?;
    tokio::spawn(connection);
    let request = http::Request::post(format!("http://{addr}/tour.Summator/Sum"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    let (response, mut send) = client.send_request(request, false)?;
    send.send_data(body, true)?;
    let response = response.await?;
    let status = response.headers().get("grpc-status").cloned();
    let mut body = response.into_body();
    let mut answer = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        answer.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?.unwrap_or_default();
    let status = trailers.get("grpc-status").cloned().or(status);
    ensure!(
        status.as_ref().map(|s| s.as_bytes()) == Some(b"0"),
        "the probe's grpc-status is {status:?}"
    );
    ensure!(answer.len() as u64 == RESPONSE_BYTES, "{answer:?}");
    let sum = SumResponse::decode(&answer[5..])?;
    ensure!(
        sum.value == 5.0,
        "the probe's Sum(2, 3) answered {}",
        sum.value
    );
    Ok(())
}

/// Runs h2load with `connections` × `streams` calls in flight: first ten calls per stream,
/// to warm the server up and learn its pace, then as many calls as that pace fits in
/// `measure`, which are all checked. Both runs are counted in calls, not timed: a timed run
/// cuts off the calls in flight at its end, and its byte count includes the warm-up's.
/// (Cut-off calls are not harmless either: after a timed run, grpcio answered about one
/// call in ten of the next run with `CANCELLED`, which the byte count caught.)
pub fn run(
    addr: &str,
    body_file: &Path,
    log_file: &Path,
    (connections, streams): (usize, usize),
    measure: Duration,
    cpu: Option<usize>,
) -> anyhow::Result<Figure> {
    let in_flight = connections * streams;
    let warm = h2load(
        addr,
        body_file,
        cpu,
        (connections, streams),
        &[format!("--requests={}", in_flight * 10)],
    )?;
    let pace = field_f64(&warm, "finished in", "req/s")?;
    let calls = ((pace * measure.as_secs_f64()) as usize).max(in_flight) / in_flight * in_flight;
    // h2load appends to its log.
    let _ = std::fs::remove_file(log_file);
    let report = h2load(
        addr,
        body_file,
        cpu,
        (connections, streams),
        &[
            format!("--requests={calls}"),
            format!("--log-file={}", log_file.display()),
        ],
    )?;
    check_answers(&report, calls)?;
    Ok(Figure {
        kind: Kind::SumH2load,
        in_flight,
        connections,
        rate: field_f64(&report, "finished in", "req/s")?,
        latency: Some(latency_from_log(log_file)?),
    })
}

/// Exactly `calls` `Sum` calls, `connections` × `streams` in flight, every answer checked;
/// for counts that must not depend on time (`bench instructions`).
pub fn sum_calls(
    addr: &str,
    body_file: &Path,
    cpu: Option<usize>,
    in_flight: (usize, usize),
    calls: usize,
) -> anyhow::Result<()> {
    let report = h2load(
        addr,
        body_file,
        cpu,
        in_flight,
        &[format!("--requests={calls}")],
    )?;
    check_answers(&report, calls)
}

/// Every one of `calls` calls succeeded, and brought one `SumResponse`.
fn check_answers(report: &str, calls: usize) -> anyhow::Result<()> {
    let succeeded = field(report, "requests:", "succeeded")?;
    let data = bytes_in(report, "data")?;
    ensure!(
        succeeded == calls as u64,
        "{succeeded} of {calls} calls succeeded:\n{report}"
    );
    if data != succeeded * RESPONSE_BYTES {
        bail!(
            "{succeeded} calls but {data} response bytes, not {}: some calls failed in gRPC\n{report}",
            succeeded * RESPONSE_BYTES
        );
    }
    Ok(())
}

/// Runs h2load against `Sum` with `args`, and returns its report.
fn h2load(
    addr: &str,
    body_file: &Path,
    cpu: Option<usize>,
    (connections, streams): (usize, usize),
    args: &[String],
) -> anyhow::Result<String> {
    let mut command = match cpu {
        Some(cpu) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &cpu.to_string(), "h2load"]);
            taskset
        }
        None => Command::new("h2load"),
    };
    let output = command
        .args(["-c", &connections.to_string(), "-m", &streams.to_string()])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg(format!("--data={}", body_file.display()))
        .args(args)
        .arg(format!("http://{addr}/tour.Summator/Sum"))
        .output()
        .context("cannot run h2load (Debian: apt-get install nghttp2-client)")?;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "h2load failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (failed, errored) = (
        field(&report, "requests:", "failed")?,
        field(&report, "requests:", "errored")?,
    );
    ensure!(
        failed == 0 && errored == 0,
        "h2load saw failures:\n{report}"
    );
    Ok(report)
}

/// The number just before `name` on the line that starts with `line`.
fn field(report: &str, line: &str, name: &str) -> anyhow::Result<u64> {
    Ok(field_f64(report, line, name)? as u64)
}

fn field_f64(report: &str, line: &str, name: &str) -> anyhow::Result<f64> {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(line))
        .with_context(|| format!("no `{line}` line in h2load's report:\n{report}"))?;
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let at = words
        .iter()
        .position(|w| *w == name)
        .with_context(|| format!("no `{name}` in `{line}`"))?;
    words[at - 1]
        .parse()
        .with_context(|| format!("`{name}` in `{line}`"))
}

/// The exact byte count in parentheses before `name` on the traffic line:
/// `traffic: ... 2.67MB (2800000) data`.
fn bytes_in(report: &str, name: &str) -> anyhow::Result<u64> {
    let line = report
        .lines()
        .find(|l| l.starts_with("traffic:"))
        .context("no traffic line")?;
    let before = line
        .split(&format!(") {name}"))
        .next()
        .context("no data count")?;
    let count = before.rsplit('(').next().context("no data count")?;
    Ok(count.parse()?)
}

/// Percentiles from h2load's log: one line per call, tab-separated, the third column the
/// microseconds until its response ended.
fn latency_from_log(log_file: &Path) -> anyhow::Result<Latency> {
    let log = std::fs::read_to_string(log_file)?;
    let mut latencies = Histogram::<u64>::new(3)?;
    for line in log.lines() {
        if let Some(micros) = line.split('\t').nth(2) {
            latencies.record(micros.trim().parse()?)?;
        }
    }
    ensure!(!latencies.is_empty(), "h2load logged no calls");
    Ok(Latency::of(&latencies))
}
