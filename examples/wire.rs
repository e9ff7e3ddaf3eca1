//! gRPC on the wire: one call of each kind, and three that go wrong, frame by frame.
//!
//! A tool, not a client to copy: it calls through grpc-tour's relay. With no `--server`,
//! it watches the tour's production server, started in this process: of the three calls
//! that go wrong, one is a deadline passing in the middle of a chat, and only that server
//! ends such a stream (plain tonic's deadline check stops at the response headers, so on
//! it the call would simply stay open). Every frame of the other six is tonic's
//! own; `--server` watches any other server, a plain tonic one included.
//!
//! ```text
//! cargo run --example wire                       # all seven calls
//! cargo run --example wire -- unary              # one of them (see --help for the names)
//! cargo run --example wire -- --all unary        # with SETTINGS, PING, WINDOW_UPDATE...
//! cargo run --example wire -- --server http://127.0.0.1:50051
//! ```
//!
//! Each call goes through a relay (`grpc_tour::wire`) that sits between this client and
//! the server, reads every HTTP/2 frame both ways, and prints it as it passes: the headers
//! HPACK carried, each gRPC message behind its 5-byte prefix, the status in the trailers.
//! Each call has a connection of its own, so each starts at stream 1.
//!
//! The streaming calls send their next message only once the relay has seen the last one
//! (and every reply it should bring) go by: each message then travels in a DATA frame of
//! its own, and the timeline shows how requests and replies interleave rather than how
//! fast this machine happens to be.

use std::{error::Error, process::ExitCode, time::Duration};

use clap::{Parser, ValueEnum};
use grpc_tour::{
    lesson::{
        proto::{
            Point, Rectangle, RouteNote, SumRequest, route_guide_client::RouteGuideClient,
            summator_client::SummatorClient,
        },
        route_guide::landmarks::{ARRAKEEN, CAVE_OF_BIRDS, SIETCH_TABR},
    },
    wire::{Direction, Relay, What, timeline::LEGEND, timeline::Timeline},
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Request,
    transport::{Channel, Endpoint},
};

/// The deadline of every call but the one that shows a deadline passing.
const DEADLINE: Duration = Duration::from_secs(5);

/// The deadline that the `deadline` call lets pass: long enough that the response headers
/// (which stop tonic's own timer) come first, so that it is the server that ends the call.
const SHORT_DEADLINE: Duration = Duration::from_secs(1);

/// How long to wait for the relay to see a frame go by before going on regardless.
const PATIENCE: Duration = Duration::from_secs(5);

/// How long one call's connection may stay open before the timeline moves on.
const CALL_PATIENCE: Duration = Duration::from_secs(30);

/// How long a chat waits for response headers before it sends anyway.
const HEADERS_PATIENCE: Duration = Duration::from_secs(1);

/// Watches calls to a gRPC server frame by frame.
#[derive(Parser)]
struct Args {
    /// The server to watch (plaintext HTTP/2) [default: the tour's server, started in this
    /// process].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// Show every frame: the preface, SETTINGS, PING, WINDOW_UPDATE and GOAWAY too.
    #[arg(long)]
    all: bool,
    /// The calls to watch, in order [default: all seven].
    #[arg(value_enum)]
    calls: Vec<Call>,
}

/// One call to watch.
#[derive(Clone, Copy, ValueEnum)]
enum Call {
    /// Summator.Sum(2, 3): one message each way.
    Unary,
    /// RouteGuide.ListFeatures around Arrakeen: one request, three features.
    ServerStreaming,
    /// RouteGuide.RecordRoute: three points, one summary.
    ClientStreaming,
    /// RouteGuide.RouteChat: notes and replies interleaving.
    Bidirectional,
    /// Summator.Sum(inf, 2): refused with INVALID_ARGUMENT and its details.
    Refused,
    /// RouteGuide.RouteChat left silent past a 1 s deadline.
    Deadline,
    /// RouteGuide.RouteChat that the client hangs up on.
    Cancelled,
}

impl Call {
    fn heading(self) -> &'static str {
        match self {
            Call::Unary => "unary: Summator.Sum(2, 3), with a 5 s deadline",
            Call::ServerStreaming => {
                "server streaming: RouteGuide.ListFeatures around Arrakeen, three features"
            }
            Call::ClientStreaming => "client streaming: RouteGuide.RecordRoute of three points",
            Call::Bidirectional => {
                "bidirectional: RouteGuide.RouteChat, four notes at two points, replies between"
            }
            Call::Refused => "refused: Summator.Sum(inf, 2), an invalid argument",
            Call::Deadline => {
                "deadline: RouteGuide.RouteChat with a 1 s deadline, and nothing said"
            }
            Call::Cancelled => {
                "cancelled: RouteGuide.RouteChat, one note, then the client hangs up"
            }
        }
    }

    /// Makes the call on `channel`; `seen` counts the messages the relay has seen go by.
    /// Returns what the client got, as one line.
    async fn run(self, channel: Channel, seen: Seen) -> String {
        let result = match self {
            Call::Unary => sum(channel, 2.0, 3.0).await,
            Call::ServerStreaming => list_features(channel).await,
            Call::ClientStreaming => record_route(channel, seen).await,
            Call::Bidirectional => route_chat(channel, seen).await,
            Call::Refused => sum(channel, f64::INFINITY, 2.0).await,
            Call::Deadline => silent_chat(channel).await,
            Call::Cancelled => hang_up(channel, seen).await,
        };
        match result {
            Ok(line) => line,
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        }
    }
}

/// What the relay has seen of the call so far.
#[derive(Clone, Copy, Default)]
struct Progress {
    /// Messages to the server.
    sent: usize,
    /// Messages to the client.
    got: usize,
    /// Whether the response headers have come.
    answered: bool,
}

type Seen = watch::Receiver<Progress>;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let server = match args.server {
        Some(url) => url,
        None => {
            let url = tour_server().await?;
            eprintln!("(watching a tour server started in this process at {url})");
            url
        }
    };
    let upstream = upstream(&server)?;
    // A server that is not there is one line, not seven failed calls.
    tokio::net::TcpStream::connect(&upstream)
        .await
        .map_err(|error| format!("no server answers at {server}: {error}"))?;
    let mut relay = Relay::start(upstream).await?;
    let calls = match args.calls.is_empty() {
        true => Call::value_variants().to_vec(),
        false => args.calls,
    };
    println!("{LEGEND}");
    for call in calls {
        println!("\n{}", call.heading());
        watch_call(&mut relay, call, args.all).await?;
    }
    Ok(())
}

/// `host:port` of a plaintext server URL.
fn upstream(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(host)) => Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80))),
        _ => Err(format!(
            "{url:?}: the relay reads plaintext HTTP/2 only, at a URL such as http://127.0.0.1:50051"
        )),
    }
}

/// Makes one call on a connection of its own through the relay, printing each frame as it
/// passes, until the connection closes; then what the client got.
async fn watch_call(relay: &mut Relay, call: Call, all: bool) -> Result<(), Box<dyn Error>> {
    let channel = Endpoint::from_shared(relay.url())?.connect().await?;
    let (progress, seen) = watch::channel(Progress::default());
    // The channel moves into the call: when the call is done, the connection closes.
    let mut outcome = tokio::spawn(call.run(channel, seen));
    let mut timeline = Timeline::new(all);
    let mut result = None;
    let give_up = tokio::time::sleep(CALL_PATIENCE);
    tokio::pin!(give_up);
    let mut connection = None;
    let mut gave_up = false;
    loop {
        tokio::select! {
            event = relay.next() => {
                let Some(event) = event else { break };
                // This call's connection is the first one the relay reports from now on.
                if *connection.get_or_insert(event.connection) != event.connection {
                    continue;
                }
                for line in timeline.lines(&event) {
                    println!("{line}");
                }
                progress.send_replace(Progress {
                    sent: timeline.messages(Direction::ToServer),
                    got: timeline.messages(Direction::ToClient),
                    answered: timeline.answered(),
                });
                if matches!(event.what, What::Closed | What::Unreachable(_)) {
                    break;
                }
            }
            line = &mut outcome, if result.is_none() => result = Some(line?),
            () = &mut give_up => {
                println!("(the connection was still open after {CALL_PATIENCE:?}; moving on)");
                gave_up = true;
                break;
            }
        }
    }
    if let Some(hidden) = timeline.hidden() {
        println!("{hidden}");
    }
    let result = match result {
        Some(line) => line,
        None if gave_up => {
            outcome.abort();
            "(no answer yet)".to_owned()
        }
        None => outcome.await?,
    };
    println!("the client got: {result}");
    Ok(())
}

/// Waits until the relay has seen `to_server` messages go to the server and `to_client`
/// come back, or until [`PATIENCE`] runs out (a server that answers less than the tour's).
async fn until_seen(seen: &mut Seen, to_server: usize, to_client: usize) {
    let wait = seen.wait_for(|seen| seen.sent >= to_server && seen.got >= to_client);
    let _ = tokio::time::timeout(PATIENCE, wait).await;
}

/// Waits for the response headers of a chat before its first note, so that they come first
/// on the timeline. tonic's server sends them as soon as the handler returns its stream;
/// grpcio's only with its first message, so the wait for them is short.
async fn until_answered(seen: &mut Seen) {
    let wait = seen.wait_for(|seen| seen.answered);
    let _ = tokio::time::timeout(HEADERS_PATIENCE, wait).await;
}

async fn sum(channel: Channel, value1: f64, value2: f64) -> Result<String, tonic::Status> {
    let mut request = Request::new(SumRequest { value1, value2 });
    request.set_timeout(DEADLINE);
    let response = SummatorClient::new(channel).sum(request).await?;
    Ok(format!(
        "{value1} + {value2} = {}",
        response.into_inner().value
    ))
}

async fn list_features(channel: Channel) -> Result<String, tonic::Status> {
    // Arrakeen, the Residency Gardens and the Water Seller's Market.
    let around_arrakeen = Rectangle {
        lo: Some(Point {
            latitude: 303_100_000,
            longitude: 354_300_000,
        }),
        hi: Some(Point {
            latitude: 303_300_000,
            longitude: 354_600_000,
        }),
    };
    let mut request = Request::new(around_arrakeen);
    request.set_timeout(DEADLINE);
    let mut features = RouteGuideClient::new(channel)
        .list_features(request)
        .await?
        .into_inner();
    let mut names = Vec::new();
    while let Some(feature) = features.message().await? {
        names.push(feature.name);
    }
    Ok(format!("{} features: {}", names.len(), names.join(", ")))
}

async fn record_route(channel: Channel, mut seen: Seen) -> Result<String, tonic::Status> {
    let (points, outgoing) = mpsc::channel(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    request.set_timeout(DEADLINE);
    let sender = async move {
        for (sent, point) in [ARRAKEEN, SIETCH_TABR, CAVE_OF_BIRDS]
            .into_iter()
            .enumerate()
        {
            if points.send(point).await.is_err() {
                break;
            }
            until_seen(&mut seen, sent + 1, 0).await;
        }
        // Dropping `points` ends the client's stream: then the server answers.
    };
    let mut guide = RouteGuideClient::new(channel);
    let (summary, ()) = tokio::join!(guide.record_route(request), sender);
    let summary = summary?.into_inner();
    Ok(format!(
        "{} points, {} features, {} m",
        summary.point_count, summary.feature_count, summary.distance
    ))
}

async fn route_chat(channel: Channel, mut seen: Seen) -> Result<String, tonic::Status> {
    let (notes, outgoing) = mpsc::channel(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    request.set_timeout(DEADLINE);
    let chat = [
        (ARRAKEEN, "The spice must flow"),
        (ARRAKEEN, "Beware the Harkonnen"),
        (SIETCH_TABR, "Water is life"),
        (ARRAKEEN, "Ride at dawn"),
    ];
    let sender = async move {
        until_answered(&mut seen).await;
        let mut expected = 0;
        for (sent, &(location, message)) in chat.iter().enumerate() {
            let note = RouteNote {
                location: Some(location),
                message: message.into(),
            };
            if notes.send(note).await.is_err() {
                break;
            }
            // The server answers each note with the earlier ones at its point.
            expected += chat[..sent]
                .iter()
                .filter(|(at, _)| *at == location)
                .count();
            until_seen(&mut seen, sent + 1, expected).await;
        }
        // Dropping `notes` ends the client's stream: then the server ends the call.
    };
    // Sending does not wait for the call to be answered: a server may answer only after
    // the first note (grpcio does).
    let receiver = async {
        let mut replies = RouteGuideClient::new(channel)
            .route_chat(request)
            .await?
            .into_inner();
        let mut heard = Vec::new();
        while let Some(note) = replies.message().await? {
            heard.push(format!("{:?}", note.message));
        }
        Ok::<_, tonic::Status>(heard)
    };
    let ((), heard) = tokio::join!(sender, receiver);
    let heard = heard?;
    Ok(format!("{} replies: {}", heard.len(), heard.join(", ")))
}

async fn silent_chat(channel: Channel) -> Result<String, tonic::Status> {
    let (notes, outgoing) = mpsc::channel::<RouteNote>(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    request.set_timeout(SHORT_DEADLINE);
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(request)
        .await?
        .into_inner();
    // Nothing is said; the server ends the call at the deadline.
    let ended = replies.message().await;
    drop(notes);
    ended.map(|_| "the chat ended with no deadline passing".to_owned())
}

async fn hang_up(channel: Channel, mut seen: Seen) -> Result<String, tonic::Status> {
    let (notes, outgoing) = mpsc::channel(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    request.set_timeout(DEADLINE);
    // tonic's way to hang up on a call: the handle resets its stream with CANCEL.
    let hang_up = request.cancellation_handle();
    let mut guide = RouteGuideClient::new(channel);
    let call = async move {
        let mut replies = guide.route_chat(request).await?.into_inner();
        while replies.message().await?.is_some() {}
        Ok::<_, tonic::Status>(())
    };
    let one_note = async {
        until_answered(&mut seen).await;
        // At a point where no earlier chat left a note, so that no reply races the hang-up.
        let note = RouteNote {
            location: Some(CAVE_OF_BIRDS),
            message: "Hang up after this".into(),
        };
        let _ = notes.send(note).await;
        until_seen(&mut seen, 1, 0).await;
        hang_up.cancel();
    };
    let (ended, ()) = tokio::join!(call, one_note);
    match ended {
        Err(status) if status.code() == tonic::Code::Cancelled => {
            Ok("hung up after one note; the call ended as CANCELLED".to_owned())
        }
        Err(status) => Err(status),
        Ok(()) => Ok("the server ended the chat before the client hung up".to_owned()),
    }
}

/// Starts the tour's server, with its defaults, on a free port of this machine, in a task
/// of this process, and returns its URL.
async fn tour_server() -> Result<String, Box<dyn Error>> {
    use grpc_tour::production::server::{Config, TourServer};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = TourServer::new(Config::default())?;
    tokio::spawn(server.serve(listener, std::future::pending()));
    Ok(url)
}
