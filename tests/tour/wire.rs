//! The wire view: each kind of RPC through the relay of `grpc_tour::wire`, and the HTTP/2
//! frames it saw, asserted in order.
//!
//! Nothing here depends on timing: a streaming test sends its next message only once the
//! relay has seen the last one go by, and a frame is only ever compared with the frames
//! that caused it.

use grpc_tour::{
    lesson::{
        proto::{
            Rectangle, RouteNote, SumRequest, route_guide_client::RouteGuideClient,
            summator_client::SummatorClient,
        },
        route_guide::landmarks::{
            ARRAKEEN, CAVE_OF_BIRDS, RESIDENCY_GARDENS, SIETCH_TABR, WATER_SELLERS_MARKET,
        },
    },
    production::server::Config,
    wire::{Direction, Event, Frame, Relay, What, frame::ErrorCode},
};
use prost::Message;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Code, Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

use crate::support::{
    PATIENCE, TestServer, note, point, spawn_server, spawn_test_server, test_config,
};

/// A relay in front of a server, and the frames it has reported so far.
struct Watched {
    relay: Relay,
    frames: Vec<(Direction, Frame)>,
    closed: bool,
}

impl Watched {
    /// A relay in front of `server`, and a channel through it.
    async fn start(server: &TestServer) -> (Watched, Channel) {
        let relay = Relay::start(server.addr.to_string()).await.unwrap();
        let channel = Endpoint::from_shared(relay.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let watched = Watched {
            relay,
            frames: Vec::new(),
            closed: false,
        };
        (watched, channel)
    }

    /// Reads the relay's events until `done` holds of the frames seen so far.
    async fn until(&mut self, done: impl Fn(&Watched) -> bool) {
        let wait = async {
            while !done(self) {
                let event = self.relay.next().await.expect("the relay goes on");
                self.take(event);
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("never seen; the frames so far: {:#?}", self.shape()));
    }

    /// Reads the relay's events until the connection has closed: the channel must be gone.
    async fn until_closed(&mut self) {
        self.until(|watched| watched.closed).await;
    }

    fn take(&mut self, event: Event) {
        match event.what {
            What::Frame(direction, frame) => self.frames.push((direction, frame)),
            What::Closed => self.closed = true,
            What::Opened => {}
            What::Unreachable(why) => panic!("the relay could not reach the server: {why}"),
        }
    }

    /// The gRPC messages seen going `direction`.
    fn messages(&self, direction: Direction) -> Vec<&[u8]> {
        self.frames
            .iter()
            .filter(|(going, _)| *going == direction)
            .flat_map(|(_, frame)| match frame {
                Frame::Data { messages, .. } => messages.iter().map(|m| &m.payload[..]).collect(),
                _ => vec![],
            })
            .collect()
    }

    /// The frames of the call, one line each: the housekeeping left out, a DATA frame by
    /// the number of messages it completes, a HEADERS or RST_STREAM by what ends the stream.
    fn shape(&self) -> Vec<String> {
        self.frames
            .iter()
            .filter(|(_, frame)| !frame.is_housekeeping())
            .map(|(direction, frame)| {
                let mut line = format!("{} {}", direction.arrow(), frame.name());
                match frame {
                    Frame::Data { messages, .. } => line += &format!(" ({})", messages.len()),
                    Frame::RstStream { code, .. } => line += &format!(" {}", code.name()),
                    _ => {}
                }
                if frame.ends_stream() {
                    line += " END_STREAM";
                }
                line
            })
            .collect()
    }

    /// The HEADERS frames going `direction`, in order.
    fn headers(&self, direction: Direction) -> Vec<&Frame> {
        self.frames
            .iter()
            .filter(|(going, frame)| *going == direction && matches!(frame, Frame::Headers { .. }))
            .map(|(_, frame)| frame)
            .collect()
    }
}

fn sum_request(value1: f64, value2: f64) -> Request<SumRequest> {
    let mut request = Request::new(SumRequest { value1, value2 });
    request.set_timeout(Duration::from_secs(5));
    request
}

#[tokio::test]
async fn a_unary_call_is_headers_one_message_each_way_and_the_status_in_trailers() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let sum = SummatorClient::new(channel)
        .sum(sum_request(2.0, 3.0))
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            "→ DATA (1)",
            // tonic ends the request's side in a DATA frame of its own, with no message.
            "→ DATA (0) END_STREAM",
            "← HEADERS",
            "← DATA (1)",
            "← HEADERS END_STREAM",
        ]
    );
    let request = watched.headers(Direction::ToServer)[0];
    assert_eq!(request.header(":method"), Some("POST"));
    assert_eq!(request.header(":path"), Some("/tour.Summator/Sum"));
    assert_eq!(request.header("content-type"), Some("application/grpc"));
    assert_eq!(request.header("te"), Some("trailers"));
    assert_eq!(request.header("grpc-timeout"), Some("5000000u"));
    assert_eq!(
        watched.messages(Direction::ToServer),
        [&SumRequest {
            value1: 2.0,
            value2: 3.0
        }
        .encode_to_vec()[..]]
    );
    let [response, trailers] = watched.headers(Direction::ToClient)[..] else {
        panic!("not headers and trailers");
    };
    assert_eq!(response.header(":status"), Some("200"));
    // With no --replica-name the tour adds no header of its own: all of these are tonic's.
    assert_eq!(response.header("x-served-by"), None);
    assert_eq!(response.header("grpc-status"), None);
    assert_eq!(trailers.header("grpc-status"), Some("0"));
}

#[tokio::test]
async fn a_server_stream_sends_its_ready_messages_together_in_one_data_frame() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let around_arrakeen = Rectangle {
        lo: Some(point(30.31, 35.43)),
        hi: Some(point(30.33, 35.46)),
    };
    let mut features = RouteGuideClient::new(channel)
        .list_features(around_arrakeen)
        .await
        .unwrap()
        .into_inner();
    let mut locations = Vec::new();
    while let Some(feature) = features.message().await.unwrap() {
        locations.push(feature.location.unwrap());
    }
    assert_eq!(
        locations,
        [ARRAKEEN, RESIDENCY_GARDENS, WATER_SELLERS_MARKET]
    );
    drop(features);
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            "→ DATA (1)",
            "→ DATA (0) END_STREAM",
            "← HEADERS",
            "← DATA (3)",
            "← HEADERS END_STREAM",
        ]
    );
    assert_eq!(
        watched.headers(Direction::ToClient)[1].header("grpc-status"),
        Some("0")
    );
}

#[tokio::test]
async fn a_client_stream_sends_a_frame_per_message_and_is_answered_after_its_end() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let (points, outgoing) = mpsc::channel(1);
    let call = tokio::spawn(async move {
        RouteGuideClient::new(channel)
            .record_route(ReceiverStream::new(outgoing))
            .await
    });
    for (sent, point) in [ARRAKEEN, SIETCH_TABR, CAVE_OF_BIRDS]
        .into_iter()
        .enumerate()
    {
        points.send(point).await.unwrap();
        watched
            .until(|w| w.messages(Direction::ToServer).len() == sent + 1)
            .await;
    }
    // The server has answered nothing yet: it answers when the client's stream ends.
    assert!(watched.headers(Direction::ToClient).is_empty());
    drop(points);
    let summary = call.await.unwrap().unwrap().into_inner();
    assert_eq!(summary.point_count, 3);
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            "→ DATA (1)",
            "→ DATA (1)",
            "→ DATA (1)",
            "→ DATA (0) END_STREAM",
            "← HEADERS",
            "← DATA (1)",
            "← HEADERS END_STREAM",
        ]
    );
}

#[tokio::test]
async fn a_chat_interleaves_notes_and_replies_on_one_stream() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let (notes, outgoing) = mpsc::channel(1);
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(ReceiverStream::new(outgoing))
        .await
        .unwrap()
        .into_inner();
    // Each note, and how many replies the relay has seen once the server has answered it.
    let chat = [
        (note(ARRAKEEN, "The spice must flow"), 0),
        (note(ARRAKEEN, "Beware the Harkonnen"), 1),
        (note(SIETCH_TABR, "Water is life"), 1),
        (note(ARRAKEEN, "Ride at dawn"), 3),
    ];
    for (sent, (note, replies)) in chat.into_iter().enumerate() {
        notes.send(note).await.unwrap();
        watched
            .until(|w| {
                w.messages(Direction::ToServer).len() == sent + 1
                    && w.messages(Direction::ToClient).len() == replies
            })
            .await;
    }
    drop(notes);
    let mut heard = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        heard.push(reply.message);
    }
    assert_eq!(
        heard,
        [
            "The spice must flow",
            "The spice must flow",
            "Beware the Harkonnen"
        ]
    );
    drop(replies);
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            // The response headers come first: the handler returned its stream at once.
            "← HEADERS",
            "→ DATA (1)",
            "→ DATA (1)",
            "← DATA (1)",
            "→ DATA (1)",
            "→ DATA (1)",
            // Both earlier notes at Arrakeen, ready together, in one frame.
            "← DATA (2)",
            "→ DATA (0) END_STREAM",
            "← HEADERS END_STREAM",
        ]
    );
}

#[tokio::test]
async fn a_refused_call_is_answered_trailers_only_with_its_status_and_details() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let refused = SummatorClient::new(channel)
        .sum(sum_request(f64::INFINITY, 2.0))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            "→ DATA (1)",
            "→ DATA (0) END_STREAM",
            // One HEADERS frame that ends the stream: no body, no separate trailers.
            "← HEADERS END_STREAM",
        ]
    );
    let answer = watched.headers(Direction::ToClient)[0];
    assert_eq!(answer.header(":status"), Some("200"));
    assert_eq!(answer.header("grpc-status"), Some("3"));
    let status = answer.grpc_status().expect("a status in the headers");
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "value1");
}

#[tokio::test]
async fn a_deadline_travels_as_grpc_timeout_and_the_server_ends_the_call_with_status_4() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let (notes, outgoing) = mpsc::channel::<RouteNote>(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    // The response headers stop the client's own timer, so only the server's is left; the
    // deadline is long enough that the headers are certain to come first.
    request.set_timeout(Duration::from_secs(2));
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(request)
        .await
        .unwrap()
        .into_inner();
    let ended = replies.message().await.unwrap_err();
    assert_eq!(ended.code(), Code::DeadlineExceeded);
    drop((notes, replies));
    watched.until_closed().await;

    let request = watched.headers(Direction::ToServer)[0];
    assert_eq!(request.header("grpc-timeout"), Some("2000000u"));
    let server_frames: Vec<String> = watched
        .shape()
        .into_iter()
        .filter(|line| line.starts_with('←'))
        .collect();
    // The server sends the status in trailers; since the client never ended its side, the
    // server may then reset the stream (hyper does, with NO_ERROR).
    assert_eq!(server_frames[..2], ["← HEADERS", "← HEADERS END_STREAM"]);
    assert!(
        server_frames[2..]
            .iter()
            .all(|line| line.starts_with("← RST_STREAM")),
        "{server_frames:?}"
    );
    assert_eq!(
        watched.headers(Direction::ToClient)[1].header("grpc-status"),
        Some("4")
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_resets_its_stream_with_cancel() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let (notes, outgoing) = mpsc::channel(1);
    let mut request = Request::new(ReceiverStream::new(outgoing));
    let hang_up = request.cancellation_handle();
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(request)
        .await
        .unwrap()
        .into_inner();
    notes
        .send(note(CAVE_OF_BIRDS, "Hang up after this"))
        .await
        .unwrap();
    watched
        .until(|w| w.messages(Direction::ToServer).len() == 1)
        .await;
    hang_up.cancel();
    let ended = replies.message().await.unwrap_err();
    assert_eq!(ended.code(), Code::Cancelled);
    drop((replies, notes));
    watched.until_closed().await;

    assert_eq!(
        watched.shape(),
        [
            "→ HEADERS",
            "← HEADERS",
            "→ DATA (1)",
            "→ RST_STREAM CANCEL"
        ]
    );
    let cancel = &watched
        .frames
        .iter()
        .find(|(_, f)| f.name() == "RST_STREAM")
        .unwrap()
        .1;
    assert_eq!(
        *cancel,
        Frame::RstStream {
            stream: 1,
            code: ErrorCode::CANCEL
        }
    );
}

#[tokio::test]
async fn the_relay_passes_a_token_on_unchanged_but_never_shows_it() {
    let server = spawn_server(Config {
        token: Some("sesame".into()),
        ..test_config()
    })
    .await;
    let (mut watched, channel) = Watched::start(&server).await;
    let mut request = sum_request(2.0, 3.0);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::from_static("Bearer sesame"));
    let sum = SummatorClient::new(channel).sum(request).await.unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
    watched.until_closed().await;

    let request = watched.headers(Direction::ToServer)[0];
    assert_eq!(request.header("authorization"), Some("Bearer [redacted]"));
}

#[tokio::test]
async fn a_relay_that_cannot_reach_its_server_says_so_and_the_call_fails() {
    // A port held by a socket that does not listen: a connection to it is refused, and no
    // other test can take it meanwhile.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = held.local_addr().unwrap();
    let mut relay = Relay::start(closed.to_string()).await.unwrap();
    let url = relay.url();
    let call = async {
        let channel = Endpoint::from_shared(url).unwrap().connect_lazy();
        SummatorClient::new(channel)
            .sum(sum_request(2.0, 3.0))
            .await
    };
    let (failed, event) = tokio::join!(call, relay.next());
    // The connection closes before HTTP/2 begins: tonic reports a transport error.
    assert!(failed.is_err());
    assert!(matches!(event.unwrap().what, What::Unreachable(_)));
}

#[tokio::test]
async fn a_message_longer_than_a_frame_spans_data_frames_and_is_reassembled() {
    let server = spawn_test_server().await;
    let (mut watched, channel) = Watched::start(&server).await;
    let long = note(ARRAKEEN, &"spice ".repeat(7_000));
    let (notes, outgoing) = mpsc::channel(1);
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(ReceiverStream::new(outgoing))
        .await
        .unwrap()
        .into_inner();
    notes.send(long.clone()).await.unwrap();
    drop(notes);
    while replies.message().await.unwrap().is_some() {}
    drop(replies);
    watched.until_closed().await;

    // Each DATA frame of the request: its length, the messages it completes, and whether
    // one is left unfinished.
    let data: Vec<(usize, usize, bool)> = watched
        .frames
        .iter()
        .filter_map(|(direction, frame)| match frame {
            Frame::Data {
                length,
                messages,
                pending,
                ..
            } if *direction == Direction::ToServer && *length > 0 => {
                Some((*length, messages.len(), pending.is_some()))
            }
            _ => None,
        })
        .collect();
    // 42 KB in frames of at most 16 KiB, the MAX_FRAME_SIZE both sides' SETTINGS allow:
    // the message begins in the first frame and ends in the last.
    assert_eq!(data.len(), 3, "{data:?}");
    assert!(
        data.iter().all(|(length, _, _)| *length <= 16_384),
        "{data:?}"
    );
    let shape: Vec<(usize, bool)> = data
        .iter()
        .map(|&(_, done, pending)| (done, pending))
        .collect();
    assert_eq!(shape, [(0, true), (0, true), (1, false)]);
    assert_eq!(
        watched.messages(Direction::ToServer),
        [&long.encode_to_vec()[..]]
    );
}
