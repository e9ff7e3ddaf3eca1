//! The load generator: drives one server with each kind of RPC and measures what it
//! sustains. Every call's answer is checked, so a server that fails calls fast does not
//! look fast.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, channel::mpsc, stream};
use grpc_tour::lesson::{
    connect,
    proto::{
        Point, Rectangle, RouteNote, SumRequest, route_guide_client::RouteGuideClient,
        summator_client::SummatorClient,
    },
};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tonic::{Streaming, transport::Channel};

/// What one measurement measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Kind {
    /// `Sum` calls per second, by the Rust client.
    Sum,
    /// `Sum` calls per second, by h2load.
    SumH2load,
    /// Features per second received from `ListFeatures`.
    ListFeatures,
    /// Points per second sent to `RecordRoute`.
    RecordRoute,
    /// Notes per second through `RouteChat`, sent without waiting for replies.
    ChatPipelined,
    /// Round trips per second through `RouteChat`, one note at a time.
    ChatRoundTrip,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub kind: Kind,
    /// Calls in flight at once, and the connections they share.
    pub in_flight: usize,
    pub connections: usize,
    /// Per second: calls, features, points, notes or round trips.
    pub rate: f64,
    /// Latency percentiles, in microseconds, where there is one per call.
    pub latency: Option<Latency>,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        Latency {
            p50: histogram.value_at_quantile(0.50) as f64,
            p99: histogram.value_at_quantile(0.99) as f64,
            p999: histogram.value_at_quantile(0.999) as f64,
        }
    }
}

/// How long to warm up, and then how long to measure.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warm_up: Duration,
    pub measure: Duration,
}

/// `connections` separate connections to `url`: a tonic `Channel` is one HTTP/2 connection.
async fn connect(url: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(connect::connect(url).await?);
    }
    Ok(channels)
}

/// `Sum` with `in_flight` calls at once over `connections` connections.
pub async fn sum(
    url: &str,
    in_flight: usize,
    connections: usize,
    timing: Timing,
) -> anyhow::Result<Figure> {
    let channels = connect(url, connections).await?;
    let measure_from = Instant::now() + timing.warm_up;
    let end = measure_from + timing.measure;
    let mut callers = JoinSet::new();
    for caller in 0..in_flight {
        let mut summator = SummatorClient::new(channels[caller % connections].clone());
        callers.spawn(async move {
            let mut latencies = Histogram::<u64>::new(3)?;
            let two_and_three = SumRequest {
                value1: 2.0,
                value2: 3.0,
            };
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return anyhow::Ok(latencies);
                }
                let sum = summator.sum(two_and_three).await?.into_inner();
                ensure!(sum.value == 5.0, "Sum(2, 3) answered {}", sum.value);
                if sent >= measure_from {
                    latencies.record(micros(sent.elapsed()))?;
                }
            }
        });
    }
    let mut latencies = Histogram::<u64>::new(3)?;
    while let Some(caller) = callers.join_next().await {
        latencies.add(caller??)?;
    }
    Ok(Figure {
        kind: Kind::Sum,
        in_flight,
        connections,
        rate: latencies.len() as f64 / timing.measure.as_secs_f64(),
        latency: Some(Latency::of(&latencies)),
    })
}

/// A rectangle that holds every point on the globe.
pub fn everywhere() -> Rectangle {
    Rectangle {
        lo: Some(Point {
            latitude: -900_000_000,
            longitude: -1_800_000_000,
        }),
        hi: Some(Point {
            latitude: 900_000_000,
            longitude: 1_800_000_000,
        }),
    }
}

/// Calls `call` until the warm-up is over, then until the measurement is; returns how many
/// items the measured calls handled per second. Time is only read between calls.
async fn repeat<F, Fut>(timing: Timing, mut call: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let warm = Instant::now();
    while warm.elapsed() < timing.warm_up {
        call().await?;
    }
    let (measured, mut items) = (Instant::now(), 0);
    while measured.elapsed() < timing.measure {
        items += call().await?;
    }
    Ok(items as f64 / measured.elapsed().as_secs_f64())
}

/// `ListFeatures` over the whole globe, one call at a time: features received per second.
/// Every call must bring `expected` features, or as many as the first call did.
pub async fn list_features(
    url: &str,
    expected: Option<u64>,
    timing: Timing,
) -> anyhow::Result<Figure> {
    let guide = RouteGuideClient::new(connect::connect(url).await?);
    let expected = std::cell::Cell::new(expected);
    let rate = repeat(timing, || list_features_once(guide.clone(), &expected)).await?;
    Ok(streamed(Kind::ListFeatures, rate))
}

/// One `ListFeatures` call over the whole globe; it must bring `expected` features, or as
/// many as the first call did. Returns how many it brought.
async fn list_features_once(
    mut guide: RouteGuideClient<Channel>,
    expected: &std::cell::Cell<Option<u64>>,
) -> anyhow::Result<u64> {
    let mut features = guide.list_features(everywhere()).await?.into_inner();
    let mut received = 0;
    while features.message().await?.is_some() {
        received += 1;
    }
    let wanted = *expected.get().get_or_insert(received);
    ensure!(received == wanted, "{received} features, not {wanted}");
    expected.set(Some(wanted));
    Ok(received)
}

/// `RecordRoute` with `route` sent in each call: points per second.
pub async fn record_route(url: &str, route: &[Point], timing: Timing) -> anyhow::Result<Figure> {
    let guide = RouteGuideClient::new(connect::connect(url).await?);
    let rate = repeat(timing, || record_route_once(guide.clone(), route)).await?;
    Ok(streamed(Kind::RecordRoute, rate))
}

/// One `RecordRoute` call sending `route`; the summary must count every point.
async fn record_route_once(
    mut guide: RouteGuideClient<Channel>,
    route: &[Point],
) -> anyhow::Result<u64> {
    let summary = guide
        .record_route(stream::iter(route.to_vec()))
        .await?
        .into_inner();
    ensure!(summary.point_count as usize == route.len(), "{summary:?}");
    Ok(route.len() as u64)
}

/// A point no other note of this run is at: `n` walks the globe in steps of 10⁻⁷ degrees.
fn fresh_point(n: u64) -> Point {
    Point {
        latitude: (n % 1_700_000_000) as i32 - 850_000_000,
        longitude: (n / 1_700_000_000) as i32,
    }
}

fn note(n: u64) -> RouteNote {
    RouteNote {
        location: Some(fresh_point(n)),
        message: "a small note".to_owned(),
    }
}

/// `RouteChat` with `notes` notes per call, in pairs at fresh points, all sent without
/// waiting: the second of each pair hears the first. Notes per second.
pub async fn chat_pipelined(url: &str, notes: u64, timing: Timing) -> anyhow::Result<Figure> {
    let guide = RouteGuideClient::new(connect::connect(url).await?);
    let mut next = 0;
    let rate = repeat(timing, || {
        let first = next;
        next += notes / 2;
        chat_pipelined_once(guide.clone(), first, notes)
    })
    .await?;
    Ok(streamed(Kind::ChatPipelined, rate))
}

/// One pipelined chat of `notes` notes, in pairs at the fresh points from `first` on; every
/// second note must be answered by the first of its pair.
async fn chat_pipelined_once(
    mut guide: RouteGuideClient<Channel>,
    first: u64,
    notes: u64,
) -> anyhow::Result<u64> {
    let sent = stream::iter(0..notes).map(move |n| note(first + n / 2));
    let mut replies = guide.route_chat(sent).await?.into_inner();
    let mut heard = 0;
    while replies.message().await?.is_some() {
        heard += 1;
    }
    ensure!(heard == notes / 2, "heard {heard} replies to {notes} notes");
    Ok(notes)
}

/// Exactly `calls` calls of a streaming kind, one after another, each with `per_call`
/// messages (`ListFeatures`: as many as the server has, which must be `per_call`); for
/// counts that must not depend on time (`bench instructions`). Returns the messages
/// handled. `first_note` keeps the chats of successive runs at fresh points.
pub async fn streamed_calls(
    url: &str,
    kind: Kind,
    calls: u64,
    per_call: u64,
    first_note: u64,
) -> anyhow::Result<u64> {
    let guide = RouteGuideClient::new(connect::connect(url).await?);
    let expected = std::cell::Cell::new(Some(per_call));
    let route = (kind == Kind::RecordRoute).then(|| crate::route(per_call as usize));
    let mut handled = 0;
    for call in 0..calls {
        handled += match kind {
            Kind::ListFeatures => list_features_once(guide.clone(), &expected).await?,
            Kind::RecordRoute => {
                record_route_once(guide.clone(), route.as_deref().unwrap_or_default()).await?
            }
            Kind::ChatPipelined => {
                chat_pipelined_once(guide.clone(), first_note + call * per_call / 2, per_call)
                    .await?
            }
            other => bail!("{other:?} is not a streaming kind"),
        };
    }
    Ok(handled)
}

/// `RouteChat` one note at a time, on one stream: each note is sent at a point that has one
/// earlier note, and the reply awaited. Round trips per second, and their latency.
pub async fn chat_round_trip(url: &str, timing: Timing) -> anyhow::Result<Figure> {
    let mut guide = RouteGuideClient::new(connect::connect(url).await?);
    let (notes, sent) = mpsc::unbounded();
    // Far from the points the pipelined chat uses.
    let mut next = 1 << 40;
    // A first round trip before waiting for the call to start: some servers (grpcio) send
    // their response headers only with their first reply.
    notes.unbounded_send(note(next))?;
    notes.unbounded_send(note(next))?;
    next += 1;
    let mut replies = guide.route_chat(sent).await?.into_inner();
    ensure!(replies.message().await?.is_some(), "the chat ended early");
    let mut latencies = Histogram::<u64>::new(3)?;
    let measure_from = Instant::now() + timing.warm_up;
    let end = measure_from + timing.measure;
    let mut round_trips = 0;
    loop {
        let asked = Instant::now();
        if asked >= end {
            break;
        }
        notes.unbounded_send(note(next))?;
        notes.unbounded_send(note(next))?;
        next += 1;
        ensure!(replies.message().await?.is_some(), "the chat ended early");
        if asked >= measure_from {
            latencies.record(micros(asked.elapsed()))?;
            round_trips += 1;
        }
    }
    Ok(Figure {
        kind: Kind::ChatRoundTrip,
        in_flight: 1,
        connections: 1,
        rate: f64::from(round_trips) / timing.measure.as_secs_f64(),
        latency: Some(Latency::of(&latencies)),
    })
}

/// Opens `chats` `RouteChat` streams over `connections` connections, each with one note
/// sent, and keeps them open until the returned handles are dropped.
pub async fn open_chats(
    url: &str,
    chats: usize,
    connections: usize,
) -> anyhow::Result<Vec<(mpsc::UnboundedSender<RouteNote>, Streaming<RouteNote>)>> {
    let channels = connect(url, connections).await?;
    let mut open = Vec::new();
    for chat in 0..chats {
        let mut guide = RouteGuideClient::new(channels[chat % connections].clone());
        let (notes, sent) = mpsc::unbounded();
        notes.unbounded_send(note((1 << 41) + chat as u64))?;
        let replies = guide
            .route_chat(sent)
            .await
            .with_context(|| format!("opening chat {chat}"))?;
        open.push((notes, replies.into_inner()));
    }
    if open.len() != chats {
        bail!("opened {} chats of {chats}", open.len());
    }
    Ok(open)
}

fn streamed(kind: Kind, rate: f64) -> Figure {
    Figure {
        kind,
        in_flight: 1,
        connections: 1,
        rate,
        latency: None,
    }
}

fn micros(elapsed: Duration) -> u64 {
    elapsed.as_micros().try_into().unwrap_or(u64::MAX)
}
