//! Clients that misbehave on purpose: one that stops reading a stream while keeping its
//! connection alive must not hold the call past its deadline, nor past a shutdown.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use grpc_tour::proto::{Point, RouteNote};
use prost::Message;
use tokio::{net::TcpStream, task::JoinHandle};

use crate::support::{
    PATIENCE, everywhere, many_features_json, spawn_server, spawn_server_with_features, test_config,
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
        let mut client = client.ready().await.unwrap();
        let mut request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(timeout) = grpc_timeout {
            request = request.header("grpc-timeout", timeout);
        }
        let (response, mut request_body) = client
            .send_request(request.body(()).unwrap(), false)
            .unwrap();
        let mut framed = Vec::new();
        for message in messages {
            framed.push(0);
            framed.extend((message.len() as u32).to_be_bytes());
            framed.extend(message);
        }
        let chat = path.ends_with("Chat");
        request_body.send_data(framed.into(), !chat).unwrap();
        let mut response = tokio::time::timeout(PATIENCE, response)
            .await
            .expect("the server answers")
            .unwrap()
            .into_body();
        let first = tokio::time::timeout(PATIENCE, response.data())
            .await
            .expect("the server sends the start of the stream");
        assert!(first.is_some_and(|chunk| chunk.is_ok()));
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

#[tokio::test]
async fn a_client_that_stops_reading_a_server_stream_loses_it_at_its_deadline() {
    let server = spawn_server_with_features(&many_features_json()).await;
    let path = "/tour.RouteGuide/ListFeatures";

    let client = StalledClient::call(server.addr, path, Some("1S"), &[encoded(everywhere())]).await;
    assert_eq!(server.live.count(), 1);

    // The server cannot send the end of the stream: only closing the connection ends it.
    server.wait_until_idle().await;
    client.closed_by_the_server().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_chat_loses_it_at_the_servers_limit() {
    let mut config = test_config();
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

    let client = StalledClient::call(server.addr, path, None, &notes).await;

    server.wait_until_idle().await;
    client.closed_by_the_server().await;
}

#[tokio::test]
async fn a_shutdown_ends_a_stream_whose_client_stopped_reading() {
    let mut config = test_config();
    config.features =
        grpc_tour::route_guide::features::FeatureDb::from_json(&many_features_json()).unwrap();
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
