//! Clients that misbehave on purpose: one that stops reading a stream while keeping its
//! connection alive must not hold the call past its deadline, nor past a shutdown.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use grpc_tour::{
    lesson::{
        proto::{Point, RouteNote, SumRequest},
        route_guide::features::FeatureDb,
    },
    production::server::{Config, Limits},
};
use prost::Message;
use tokio::{io::AsyncReadExt, net::TcpStream, task::JoinHandle};

use crate::support::{
    PATIENCE, TestServer, everywhere, many_features_json, spawn_server, spawn_test_server,
    test_config,
};

/// A client that grants each stream a window of 1 KiB and never gives it back: once the
/// server has sent that much, it can send no more, and waits.
struct StalledClient {
    /// The connection's task: it keeps answering the server's pings, so the connection
    /// stays alive, and ends when the server closes it.
    connection: JoinHandle<Result<(), h2::Error>>,
    /// Held, never read past its first chunk.
    _response: h2::RecvStream,
    _request: h2::SendStream<Bytes>,
}

impl StalledClient {
    /// Calls `path` with `messages` as the request stream (left open for a chat, whose
    /// `path` ends in `Chat`), and reads the response's first chunk only.
    async fn call(
        addr: SocketAddr,
        path: &str,
        grpc_timeout: Option<&str>,
        messages: &[Vec<u8>],
    ) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(1024)
            .handshake(tcp)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let metadata: Vec<(&str, &str)> = grpc_timeout
            .map(|timeout| ("grpc-timeout", timeout))
            .into_iter()
            .collect();
        let body = messages.iter().flat_map(|m| framed(0, m)).collect();
        let chat = path.ends_with("Chat");
        let (response, request_body) = start_call(client, addr, path, &metadata, body, !chat).await;
        let mut response = response.into_body();
        // The start of the stream, as a rule. (On a machine so busy that the deadline passed
        // before the server sent anything, the call simply ended: that holds the promise too.)
        let _ = tokio::time::timeout(PATIENCE, response.data())
            .await
            .expect("the server sends the start of the stream, or ends the call");
        StalledClient {
            connection,
            _response: response,
            _request: request_body,
        }
    }

    /// Waits, within [`PATIENCE`], for the server to close the connection.
    async fn closed_by_the_server(self) {
        let closed = tokio::time::timeout(PATIENCE, self.connection).await;
        assert!(closed.is_ok(), "the server closes the connection");
    }
}

fn encoded(message: impl Message) -> Vec<u8> {
    message.encode_to_vec()
}

/// A server with far more features than a window holds, that takes a call left unread
/// past its deadline (or the grace period) for stalled after the grace the binary gives.
fn stalling_config() -> Config {
    let mut config = test_config();
    config.features = Some(FeatureDb::from_json(&many_features_json()).unwrap());
    config.limits.connection.stalled_grace = Limits::default().connection.stalled_grace;
    config
}

#[tokio::test]
async fn a_client_that_stops_reading_a_server_stream_loses_it_at_its_deadline() {
    let server = spawn_server(stalling_config()).await;
    let path = "/tour.RouteGuide/ListFeatures";

    let _client =
        StalledClient::call(server.addr, path, Some("1S"), &[encoded(everywhere())]).await;

    // The server cannot send the end of the stream: only closing the connection ends it.
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_chat_loses_it_at_the_servers_limit() {
    let mut config = stalling_config();
    config.limits.max_deadline = Duration::from_secs(1);
    let server = spawn_server(config).await;
    let path = "/tour.RouteGuide/RouteChat";
    // Notes at one point: each is answered with every earlier one, far more than 1 KiB.
    let here = Point {
        latitude: 1,
        longitude: 1,
    };
    let notes: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            encoded(RouteNote {
                location: Some(here),
                message: format!("note {i} {}", "x".repeat(100)),
            })
        })
        .collect();

    let _client = StalledClient::call(server.addr, path, None, &notes).await;

    server.wait_until_idle().await;
}

/// The server's defaults but for the test seed: the stalled grace is the binary's.
fn small_answer_config() -> Config {
    let mut config = test_config();
    config.limits.connection.stalled_grace = Limits::default().connection.stalled_grace;
    config
}

// The answers below are all produced at once, so the call's body has ended (and with it
// the call, for the layers) while most of its bytes still wait in HTTP/2's send buffer for a
// window the client never grants. Only the connection's count of bytes written shows that
// they never left.

#[tokio::test]
async fn a_client_that_stops_reading_a_small_stream_loses_it_at_its_deadline() {
    // The 58 embedded features: about 2.5 KB, one chunk of tonic's encoder, over a 1 KiB window.
    let server = spawn_server(small_answer_config()).await;
    let path = "/tour.RouteGuide/ListFeatures";
    let client = StalledClient::call(server.addr, path, Some("1S"), &[encoded(everywhere())]).await;
    client.closed_by_the_server().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_unary_answer_loses_it_at_its_deadline() {
    let server = spawn_server(small_answer_config()).await;
    // The Mentat's answer repeats the name: 4 KB of it, over a 1 KiB window.
    let name = encoded(grpc_tour::lesson::proto::WeFoundHim {
        message: "Usul ".repeat(800),
    });
    let client =
        StalledClient::call(server.addr, "/tour.Dune/IsMuadDib", Some("1S"), &[name]).await;
    client.closed_by_the_server().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_small_chat_loses_it_at_its_deadline() {
    let server = spawn_server(small_answer_config()).await;
    let here = Point {
        latitude: 2,
        longitude: 2,
    };
    // Three notes at one point: the replies (about 1.5 KB) pass the 1 KiB window.
    let notes: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            encoded(RouteNote {
                location: Some(here),
                message: format!("note {i} {}", "x".repeat(500)),
            })
        })
        .collect();
    let client = StalledClient::call(
        server.addr,
        "/tour.RouteGuide/RouteChat",
        Some("1S"),
        &notes,
    )
    .await;
    client.closed_by_the_server().await;
}

#[tokio::test]
async fn a_shutdown_ends_a_stream_whose_client_stopped_reading() {
    let mut config = stalling_config();
    config.limits.grace_period = Duration::from_millis(200);
    let mut server = spawn_server(config).await;
    let path = "/tour.RouteGuide/ListFeatures";
    // No deadline of its own: only the server's limit (5 minutes) or the shutdown ends it.
    let client = StalledClient::call(server.addr, path, None, &[encoded(everywhere())]).await;

    server.begin_shutdown();

    server.wait_until_idle().await;
    client.closed_by_the_server().await;
    server.stopped().await.expect("the server stops cleanly");
}

#[tokio::test]
async fn a_connection_that_never_begins_http2_is_closed() {
    let mut config = test_config();
    config.limits.connection.handshake_timeout = Duration::from_millis(200);
    let server = spawn_server(config).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = [0; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        // The server may say its settings first; then it hangs up.
        while silent.read(&mut buffer).await.unwrap_or(0) > 0 {}
    })
    .await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
}

/// An HTTP/2 connection with no call on it yet, and its connection task.
async fn idle_connection(addr: SocketAddr) -> (h2::client::SendRequest<Bytes>, JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

// That a call held open (a health watch) keeps a connection from being idle is checked
// with tokio's paused clock, in `server::connection`'s unit tests: here, the first call of
// a watching connection would race its first idle check.
#[tokio::test]
async fn a_connection_with_no_call_is_closed_once_idle() {
    let mut config = test_config();
    config.limits.connection.idle_timeout = Duration::from_millis(200);
    let server = spawn_server(config).await;

    let (_client, idle) = idle_connection(server.addr).await;

    tokio::time::timeout(PATIENCE, idle)
        .await
        .expect("the idle connection is closed")
        .unwrap();
}

#[tokio::test]
async fn headers_over_the_limit_are_refused_and_the_server_serves_on() {
    let server = spawn_test_server().await;
    let (client, _task) = idle_connection(server.addr).await;
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{}/tour.Summator/Sum", server.addr))
        .header("content-type", "application/grpc")
        .header("x-padding", "x".repeat(32 * 1024))
        .body(())
        .unwrap();
    let refused = match client.send_request(request, true) {
        Ok((response, _)) => tokio::time::timeout(PATIENCE, response).await.unwrap(),
        Err(error) => Err(error),
    };
    // Refused at the HTTP/2 level (no gRPC call ever started), however h2 says it.
    match refused {
        Ok(response) => assert_ne!(response.status(), http::StatusCode::OK),
        Err(error) => assert!(
            error.reason().is_some() || error.is_io() || error.is_go_away(),
            "{error:?}"
        ),
    }
    assert_eq!(server.live.count(), 0);

    serves_on(&server).await;
}

#[tokio::test]
async fn a_flood_of_streams_reset_at_once_costs_no_call_and_the_server_serves_on() {
    let server = spawn_test_server().await;
    let (mut client, task) = idle_connection(server.addr).await;
    for _ in 0..1000 {
        let Ok(ready) = client.clone().ready().await else {
            break; // The server has had enough of this connection: it sent GOAWAY.
        };
        client = ready;
        let request = http::Request::post(format!("http://{}/tour.Dune/IsMuadDib", server.addr))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let Ok((_, mut body)) = client.send_request(request, false) else {
            break;
        };
        body.send_reset(h2::Reason::CANCEL);
    }
    drop(client);
    let _ = tokio::time::timeout(PATIENCE, task).await;

    server.wait_until_idle().await;
    serves_on(&server).await;
}

/// A gRPC message on the wire: its compressed flag, its length (big-endian u32), itself.
fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut framed = vec![flag];
    framed.extend((message.len() as u32).to_be_bytes());
    framed.extend(message);
    framed
}

/// Starts a call by hand on `client`: a request to `path` with `metadata`, and `body` as its
/// bytes, the request stream ended if `end`. Returns the response once its headers are in,
/// and the request stream.
async fn start_call(
    client: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
    metadata: &[(&str, &str)],
    body: Vec<u8>,
    end: bool,
) -> (http::Response<h2::RecvStream>, h2::SendStream<Bytes>) {
    let mut client = client.ready().await.unwrap();
    let mut request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in metadata {
        request = request.header(*name, *value);
    }
    let (response, mut request_body) = client
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    request_body.send_data(body.into(), end).unwrap();
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("the server answers")
        .unwrap();
    (response, request_body)
}

/// Sends one gRPC message of `payload` bytes, compressed with `encoding` and flagged so, to
/// `Dune.IsMuadDib`, and returns the `grpc-status` and `grpc-message` of the answer.
async fn compressed_call(addr: SocketAddr, encoding: &str, payload: Vec<u8>) -> (String, String) {
    raw_call(addr, Some(encoding), framed(1, &payload)).await
}

/// Sends `body` as it is, as the request body of `Dune.IsMuadDib` (with `grpc-encoding`
/// if given), and returns the `grpc-status` and `grpc-message` of the answer.
async fn raw_call(addr: SocketAddr, encoding: Option<&str>, body: Vec<u8>) -> (String, String) {
    let (client, _task) = idle_connection(addr).await;
    let metadata: Vec<(&str, &str)> = encoding
        .map(|encoding| ("grpc-encoding", encoding))
        .into_iter()
        .collect();
    let path = "/tour.Dune/IsMuadDib";
    let (response, _request) = start_call(client, addr, path, &metadata, body, true).await;
    let (parts, mut body) = response.into_parts();
    let fields = match parts.headers.contains_key("grpc-status") {
        true => parts.headers,
        false => {
            while body.data().await.is_some() {}
            body.trailers().await.unwrap().unwrap()
        }
    };
    let text = |name: &str| fields.get(name).unwrap().to_str().unwrap().to_owned();
    (text("grpc-status"), text("grpc-message"))
}

/// 64 MiB of zeros, compressed: a few dozen KiB on the wire.
fn bomb(compress: impl FnOnce(&mut dyn std::io::Write)) -> Vec<u8> {
    let mut out = Vec::new();
    compress(&mut out);
    out
}

fn zeros(into: &mut dyn std::io::Write) {
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        into.write_all(&chunk).unwrap();
    }
}

#[tokio::test]
async fn a_compression_bomb_is_resource_exhausted_at_the_message_limit() {
    let server = spawn_test_server().await;
    let gzip = bomb(|out| {
        let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::best());
        zeros(&mut encoder);
        encoder.finish().unwrap();
    });
    let zstd = bomb(|out| {
        let mut encoder = zstd::Encoder::new(out, 19).unwrap();
        zeros(&mut encoder);
        encoder.finish().unwrap();
    });
    for (encoding, payload) in [("gzip", gzip), ("zstd", zstd)] {
        assert!(
            payload.len() < 1024 * 1024,
            "{encoding}: {} bytes",
            payload.len()
        );

        let (status, message) = compressed_call(server.addr, encoding, payload).await;

        assert_eq!(status, "8", "{encoding}: {message}"); // RESOURCE_EXHAUSTED
    }
    assert_eq!(server.live.count(), 0);
}

#[tokio::test]
async fn broken_messages_get_a_status_and_cost_the_server_nothing() {
    let server = spawn_test_server().await;
    // A prefix that may lie about the length of what follows it.
    let prefixed = |flag: u8, length: u32, bytes: &[u8]| {
        let mut body = vec![flag];
        body.extend(length.to_be_bytes());
        body.extend(bytes);
        body
    };
    let cases: [(&str, Option<&str>, Vec<u8>, &str); 6] = [
        (
            "garbage for a protobuf",
            None,
            prefixed(0, 5, &[0xff; 5]),
            "13",
        ),
        ("a message cut short", None, prefixed(0, 10, b"abc"), "13"),
        ("half a prefix", None, vec![0, 0, 0], "13"),
        (
            "a length prefix past the limit",
            None,
            prefixed(0, u32::MAX, b"abc"),
            "8",
        ),
        (
            "compressed, with no encoding named",
            None,
            prefixed(1, 3, b"abc"),
            "13",
        ),
        (
            "an encoding the server does not speak",
            Some("br"),
            prefixed(1, 3, b"abc"),
            "12",
        ),
    ];
    for (what, encoding, body, expected) in cases {
        let (status, message) = raw_call(server.addr, encoding, body).await;
        assert_eq!(status, expected, "{what}: {message}");
    }
    assert_eq!(server.live.count(), 0);
    serves_on(&server).await;
}

/// Asserts that the server, whatever it was sent before, still answers a plain call.
async fn serves_on(server: &TestServer) {
    let sum = server.summator().await.sum(SumRequest::default()).await;
    assert_eq!(sum.unwrap().into_inner().value, 0.0);
}
