//! `bench soak`: every kind of RPC at a steady mixed rate for a fixed time, against one
//! release server, with its resident memory, open file descriptors, live calls and kept
//! notes sampled every `--every` seconds into a CSV and a plot.
//!
//! Each tick (a tenth of a second) sends, over a few connections made again every minute:
//! 20 `Sum`, 2 `IsMuadDib`, 4 `GetFeature`, 1 `ListFeatures` of a small rectangle, 1
//! `RecordRoute` of 20 points and 1 `RouteChat` of 5 notes. The server keeps at most
//! `--max-notes` notes, so its note store fills within the first minute and stays full
//! (chats past it are answered `RESOURCE_EXHAUSTED`, counted, not failures): from then on
//! memory has no reason to grow. Every other call must succeed.
//!
//! At the end: memory at the last sample against memory at the first minute's, and the
//! descriptors once the load has stopped and its connections closed, against those before
//! it began.

use std::{
    fmt::Write as _,
    io::{Read, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use futures::{StreamExt, stream};
use grpc_tour::lesson::{
    connect,
    proto::{
        Point, Rectangle, RouteNote, SumRequest, WeFoundHim, dune_client::DuneClient,
        route_guide_client::RouteGuideClient, summator_client::SummatorClient,
    },
};
use tokio::task::JoinSet;
use tonic::{Code, transport::Channel};

use crate::compare::Running;

/// One sample of the server.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub seconds: f64,
    pub rss_mib: f64,
    pub fds: usize,
    pub live_calls: f64,
    pub notes: f64,
    /// Calls answered so far, and those refused for a full note store.
    pub calls: u64,
    pub notes_refused: u64,
}

/// What the soak found.
pub struct Soak {
    pub samples: Vec<Sample>,
    pub fds_before: usize,
    pub fds_after: usize,
    pub failures: Vec<String>,
}

/// Drives `server` for `duration`, sampling every `every`; `metrics` is its metrics port.
pub async fn soak(
    server: &Running,
    metrics: u16,
    duration: Duration,
    every: Duration,
) -> anyhow::Result<Soak> {
    let url = format!("http://{}", server.addr);
    let fds_before = fds(server.pid())?;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    let (mut calls, mut notes_refused) = (0u64, 0u64);
    let mut clients = Clients::connect(&url).await?;
    let mut connected = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_sample = Duration::ZERO;
    let mut round = 0u64;
    while started.elapsed() < duration {
        tick.tick().await;
        if connected.elapsed() >= Duration::from_secs(60) {
            // New connections each minute: the old ones close, and their descriptors with
            // them (the server's watch, TLS-less here, must let them go).
            clients = Clients::connect(&url).await?;
            connected = Instant::now();
        }
        let outcome = clients.round(round).await;
        round += 1;
        calls += outcome.calls;
        notes_refused += outcome.notes_refused;
        failures.extend(outcome.failures);
        ensure!(failures.len() < 20, "too many failures: {failures:#?}");
        if started.elapsed() >= next_sample {
            let (live_calls, notes) = scrape(metrics)?;
            samples.push(Sample {
                seconds: started.elapsed().as_secs_f64(),
                rss_mib: server.memory()?.0,
                fds: fds(server.pid())?,
                live_calls,
                notes,
                calls,
                notes_refused,
            });
            next_sample += every;
        }
    }
    drop(clients);
    // The connections close when their channels go; give the server a moment to see it,
    // then count again, for up to ten seconds.
    let mut fds_after = fds(server.pid())?;
    for _ in 0..100 {
        if fds_after <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = fds(server.pid())?;
    }
    Ok(Soak {
        samples,
        fds_before,
        fds_after,
        failures,
    })
}

struct Clients {
    summator: SummatorClient<Channel>,
    dune: DuneClient<Channel>,
    guide: RouteGuideClient<Channel>,
}

#[derive(Default)]
struct Round {
    calls: u64,
    notes_refused: u64,
    failures: Vec<String>,
}

impl Clients {
    async fn connect(url: &str) -> anyhow::Result<Clients> {
        // Three connections: unary, streams, and the Mentat's.
        let unary = connect::connect(url).await?;
        let streams = connect::connect(url).await?;
        let dune = connect::connect(url).await?;
        Ok(Clients {
            summator: SummatorClient::new(unary.clone()),
            dune: DuneClient::new(dune),
            guide: RouteGuideClient::new(streams),
        })
    }

    /// One tick's calls, all at once; each answer checked.
    async fn round(&self, round: u64) -> Round {
        let mut calls: JoinSet<Result<u64, String>> = JoinSet::new();
        for n in 0..20 {
            let mut summator = self.summator.clone();
            calls.spawn(async move {
                let value = n as f64;
                let answer = summator
                    .sum(SumRequest {
                        value1: value,
                        value2: 1.0,
                    })
                    .await
                    .map_err(|s| format!("Sum: {s:?}"))?;
                if answer.into_inner().value != value + 1.0 {
                    return Err("Sum: a wrong sum".into());
                }
                Ok(0)
            });
        }
        for _ in 0..2 {
            let mut dune = self.dune.clone();
            calls.spawn(async move {
                let verdict = dune
                    .is_muad_dib(WeFoundHim {
                        message: "Paul".into(),
                    })
                    .await
                    .map_err(|s| format!("IsMuadDib: {s:?}"))?;
                let verdict = verdict.into_inner().message;
                if !verdict.contains("Paul") {
                    return Err(format!("IsMuadDib: {verdict}"));
                }
                Ok(0)
            });
        }
        for n in 0..4 {
            let mut guide = self.guide.clone();
            calls.spawn(async move {
                guide
                    .get_feature(point(n))
                    .await
                    .map_err(|s| format!("GetFeature: {s:?}"))?;
                Ok(0)
            });
        }
        let mut guide = self.guide.clone();
        calls.spawn(async move {
            let rectangle = Rectangle {
                lo: Some(point(0)),
                hi: Some(point(9)),
            };
            let features = guide
                .list_features(rectangle)
                .await
                .map_err(|s| format!("ListFeatures: {s:?}"))?
                .into_inner()
                .count()
                .await;
            if features == 0 {
                return Err("ListFeatures: no feature".into());
            }
            Ok(0)
        });
        let mut guide = self.guide.clone();
        calls.spawn(async move {
            let points: Vec<Point> = (0..20).map(point).collect();
            let summary = guide
                .record_route(stream::iter(points))
                .await
                .map_err(|s| format!("RecordRoute: {s:?}"))?;
            if summary.into_inner().point_count != 20 {
                return Err("RecordRoute: not 20 points".into());
            }
            Ok(0)
        });
        let mut guide = self.guide.clone();
        calls.spawn(async move {
            // Each chat at a new place, so the store keeps growing until it is full.
            let here = Point {
                latitude: (round % 1_000_000) as i32,
                longitude: (round / 1_000_000) as i32 + 1,
            };
            let notes = (0..5).map(move |n| RouteNote {
                location: Some(here),
                message: format!("note {n} of round {round}"),
            });
            let replies = guide.route_chat(stream::iter(notes)).await;
            let mut replies = match replies {
                Ok(replies) => replies.into_inner(),
                Err(status) => return Err(format!("RouteChat: {status:?}")),
            };
            while let Some(reply) = replies.next().await {
                match reply {
                    Ok(_) => {}
                    Err(status) if status.code() == Code::ResourceExhausted => return Ok(1),
                    Err(status) => return Err(format!("RouteChat: {status:?}")),
                }
            }
            Ok(0)
        });
        let mut round = Round::default();
        while let Some(done) = calls.join_next().await {
            round.calls += 1;
            match done {
                Ok(Ok(refused)) => round.notes_refused += refused,
                Ok(Err(failure)) => round.failures.push(failure),
                Err(panic) => round.failures.push(format!("{panic}")),
            }
        }
        round
    }
}

/// The `n`th point of the soak's small grid, where `bench soak`'s features are.
fn point(n: i32) -> Point {
    Point {
        latitude: n * 10_000 - 500_000_000,
        longitude: 0,
    }
}

/// How many file descriptors a process has open.
fn fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// The live calls (summed over methods) and the notes kept, from the metrics page.
fn scrape(port: u16) -> anyhow::Result<(f64, f64)> {
    let mut http = std::net::TcpStream::connect(("127.0.0.1", port))?;
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")?;
    let mut page = String::new();
    http.read_to_string(&mut page)?;
    let value = |line: &str| -> f64 {
        line.rsplit_once(' ')
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let live = page
        .lines()
        .filter(|l| l.starts_with("grpc_tour_calls_in_progress{"))
        .map(value)
        .sum();
    let notes = page
        .lines()
        .find(|l| l.starts_with("grpc_tour_notes "))
        .map(value)
        .context("no grpc_tour_notes in the metrics")?;
    Ok((live, notes))
}

/// The samples as CSV.
pub fn csv(samples: &[Sample]) -> String {
    let mut csv = String::from("seconds,rss_mib,fds,live_calls,notes,calls,notes_refused\n");
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.1},{:.2},{},{},{},{},{}",
            s.seconds, s.rss_mib, s.fds, s.live_calls, s.notes, s.calls, s.notes_refused
        );
    }
    csv
}

/// Draws RSS, descriptors and notes over time, one panel each, into an SVG.
pub fn plot(samples: &[Sample], path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let end = samples.last().map_or(1.0, |s| s.seconds).max(1.0);
    type Series = (&'static str, fn(&Sample) -> f64);
    let series: [Series; 3] = [
        ("resident memory, MiB", |s| s.rss_mib),
        ("open file descriptors", |s| s.fds as f64),
        ("notes kept", |s| s.notes),
    ];
    for (panel, (name, value)) in panels.iter().zip(series) {
        let top = samples.iter().map(value).fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(name, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .disable_mesh()
            .draw()?;
        chart.draw_series(LineSeries::new(
            samples.iter().map(|s| (s.seconds, value(s))),
            &BLUE,
        ))?;
    }
    root.present()?;
    Ok(())
}
