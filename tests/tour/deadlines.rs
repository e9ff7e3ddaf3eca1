//! Deadlines: a call past its client's deadline, or past the server's limit, ends with
//! DEADLINE_EXCEEDED (never tonic's CANCELLED), whatever kind of call it is and however far
//! it has got, and the server's work for it stops.

use std::{net::SocketAddr, time::Duration};

use futures::{channel::mpsc, stream};
use grpc_tour::{
    lesson::{
        proto::{
            Feature, RouteNote, WeFoundHim, dune_client::DuneClient,
            route_guide_client::RouteGuideClient,
        },
        route_guide::landmarks::ARRAKEEN,
    },
    production::{balance::spec_codes, server::Config},
};
use prost::Message;
use tokio::net::TcpStream;
use tonic::{Code, Request};

use crate::support::{
    PATIENCE, assert_status, everywhere, many_features_json, spawn_server,
    spawn_server_with_features, test_config,
};

const SHORT: Duration = Duration::from_millis(200);

const DUNE: &str = "/tour.Dune/IsMuadDib";
const LIST_FEATURES: &str = "/tour.RouteGuide/ListFeatures";

fn with_deadline<T>(message: T, deadline: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request
}

fn slow_mentat() -> Config {
    Config {
        mentat_delay: PATIENCE,
        ..test_config()
    }
}

#[tokio::test]
async fn a_unary_call_past_its_deadline_is_deadline_exceeded() {
    let server = spawn_server(slow_mentat()).await;
    // Through `spec_codes`: tonic's client enforces short deadlines itself, and reports its
    // own timer as CANCELLED unless told the spec's code.
    let mut mentat = DuneClient::new(spec_codes(server.channel().await));

    // Short deadlines too: tonic's client times out by itself, and must say so the same way.
    for deadline in [1, 2, 5, 10, 20, 50].map(Duration::from_millis) {
        let status = mentat
            .is_muad_dib(with_deadline(muad_dib(), deadline))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::DeadlineExceeded,
            "{deadline:?}: {status:?}"
        );
    }
    server.wait_until_idle().await;
}

/// Starts a call over a bare HTTP/2 connection, with `grpc-timeout` set and `message` as
/// the one request message, and returns the response once its headers are in. A bare
/// client, because tonic's enforces the deadline itself and may answer before the server
/// does: this shows what the server puts on the wire, as a Python or Go client would
/// receive it.
async fn bare_call(
    addr: SocketAddr,
    path: &str,
    message: impl Message,
    grpc_timeout: &str,
) -> http::Response<h2::RecvStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", grpc_timeout)
        .body(())
        .unwrap();
    let (response, mut request_body) = client.send_request(request, false).unwrap();
    // A gRPC message: uncompressed (0), its length (big-endian u32), then the protobuf.
    let message = message.encode_to_vec();
    let mut framed = vec![0];
    framed.extend((message.len() as u32).to_be_bytes());
    framed.extend(message);
    request_body.send_data(framed.into(), true).unwrap();

    tokio::time::timeout(PATIENCE, response)
        .await
        .expect("the server answers")
        .unwrap()
}

/// Reads a bare response to its end: the messages' bytes, then the `grpc-status` and
/// `grpc-message` (from the headers when the response is "trailers-only", an error before
/// any message).
async fn read_to_end(response: http::Response<h2::RecvStream>) -> (Vec<u8>, String, String) {
    let (parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    let fields = match parts.headers.contains_key("grpc-status") {
        true => parts.headers,
        false => {
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                // Give the window back, or the server could send no more than one window.
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            body.trailers()
                .await
                .unwrap()
                .expect("the status is in the trailers")
        }
    };
    let text = |name: &str| fields.get(name).unwrap().to_str().unwrap().to_owned();
    (data, text("grpc-status"), text("grpc-message"))
}

/// The messages in the bytes of a response body, each a 5-byte prefix and a protobuf.
fn messages<M: Message + Default>(mut data: &[u8]) -> Vec<M> {
    let mut messages = Vec::new();
    while let [compressed, a, b, c, d, rest @ ..] = data {
        assert_eq!(*compressed, 0, "the server compresses only when asked");
        let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        messages.push(M::decode(&rest[..length]).unwrap());
        data = &rest[length..];
    }
    messages
}

fn muad_dib() -> WeFoundHim {
    WeFoundHim {
        message: "Paul Atreides".to_owned(),
    }
}

#[tokio::test]
async fn the_server_itself_answers_deadline_exceeded_on_the_wire() {
    let server = spawn_server(slow_mentat()).await;
    // tonic's server-side check starts its clock a moment before ours, so short deadlines
    // are where it would win the race. It must lose every time.
    for millis in [1, 2, 3, 5, 8, 13, 21, 34, 200] {
        let response = bare_call(server.addr, DUNE, muad_dib(), &format!("{millis}m")).await;
        let (_, status, message) = read_to_end(response).await;
        assert_eq!(status, "4", "{millis}ms: {message}"); // DEADLINE_EXCEEDED
        // grpc-message is percent-encoded on the wire.
        assert_eq!(
            message,
            format!("the%20client's%20deadline%20({millis}ms)%20passed")
        );
    }
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_server_stream_past_its_deadline_ends_mid_stream() {
    let server = spawn_server_with_features(&many_features_json()).await;
    // A bare client: tonic's own would also give up at its deadline if the response headers
    // were late, and on a busy machine they can be.
    let features = bare_call(server.addr, LIST_FEATURES, everywhere(), "200m").await;
    // Read nothing until the deadline has certainly passed: the server's clock started
    // before the response headers were sent. Meanwhile the server fills the flow-control
    // window and waits.
    tokio::time::sleep(SHORT * 2).await;

    let (data, status, message) = read_to_end(features).await;
    assert_eq!(status, "4", "{message}"); // DEADLINE_EXCEEDED
    assert_eq!(message, "the%20client's%20deadline%20(200ms)%20passed");
    // Cut off mid-stream: what came first is the start of the stream, in order, and far
    // from all of it.
    let sent: Vec<Feature> = messages(&data);
    assert!(!sent.is_empty(), "the stream had started");
    assert!(sent.len() < 200_000, "the stream was cut off");
    for (i, feature) in sent.iter().enumerate() {
        assert_eq!(feature.name, format!("dune {i}"));
    }
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_client_stream_past_its_deadline_is_deadline_exceeded() {
    let server = spawn_server(test_config()).await;
    // Through `spec_codes`, for the same reason as the unary test's.
    let mut guide = RouteGuideClient::new(spec_codes(server.channel().await));
    // A route that is never finished.
    let (sender, points) = mpsc::unbounded();
    sender.unbounded_send(ARRAKEEN).unwrap();

    let status = guide
        .record_route(with_deadline(points, SHORT))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_call_without_a_deadline_gets_the_servers_limit() {
    let mut config = test_config();
    config.limits.max_deadline = SHORT;
    let server = spawn_server(config).await;
    let mut guide = server.route_guide().await;

    // A chat with no deadline that never ends on its own.
    let mut replies = guide
        .route_chat(stream::pending::<RouteNote>())
        .await
        .unwrap()
        .into_inner();
    let status = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .expect("the server's limit ends the chat")
        .unwrap_err();

    assert_status(
        &status,
        Code::DeadlineExceeded,
        "reached the server's limit of 200ms per call",
    );
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_call_within_its_deadline_is_untouched() {
    let server = spawn_server(test_config()).await;
    let mut mentat = server.dune().await;

    let answer = mentat
        .is_muad_dib(with_deadline(muad_dib(), PATIENCE))
        .await
        .unwrap();

    assert!(answer.into_inner().message.starts_with("Hello minion"));
}

#[tokio::test]
async fn tonic_sends_a_five_second_deadline_as_5000000u() {
    // A bare HTTP/2 server that only records the `grpc-timeout` it receives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::handshake(tcp).await.unwrap();
        let (request, mut respond) = connection.accept().await.unwrap().unwrap();
        let timeout = request.headers()["grpc-timeout"]
            .to_str()
            .unwrap()
            .to_owned();
        // A trailers-only answer, so that the client's call ends.
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "12")
            .body(())
            .unwrap();
        respond.send_response(response, true).unwrap();
        tokio::spawn(async move { while connection.accept().await.is_some() {} });
        timeout
    });

    let channel = grpc_tour::lesson::connect::connect(&url).await.unwrap();
    let mut summator = grpc_tour::lesson::proto::summator_client::SummatorClient::new(channel);
    let status = summator
        .sum(with_deadline(
            grpc_tour::lesson::proto::SumRequest::default(),
            Duration::from_secs(5),
        ))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unimplemented);
    // The most precise unit that fits the spec's 8 digits: microseconds, not `5S`.
    assert_eq!(server.await.unwrap(), "5000000u");
}
