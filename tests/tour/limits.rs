//! Limits: the maximum message size, the cap on concurrent streams per connection, and
//! HTTP/2 keepalive closing connections to peers that stopped answering.

use std::time::Duration;

use futures::{channel::mpsc, stream};
use grpc_tour::{
    lesson::proto::{
        RouteNote, SumRequest, WeFoundHim, route_guide_client::RouteGuideClient,
        summator_client::SummatorClient,
    },
    production::server::Config,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;

use crate::support::{PATIENCE, assert_status, spawn_server, spawn_test_server, test_config};

#[tokio::test]
async fn a_message_over_4_mib_is_resource_exhausted_and_one_under_is_served() {
    let server = spawn_test_server().await;
    let mut mentat = server.dune().await;
    let name = |bytes: usize| WeFoundHim {
        message: "P".repeat(bytes),
    };

    let status = mentat
        .is_muad_dib(name(4 * 1024 * 1024 + 1))
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::ResourceExhausted,
        "over the server's limit of 4194304 bytes",
    );

    let answer = mentat
        .is_muad_dib(name(4 * 1024 * 1024 - 64))
        .await
        .unwrap();
    assert!(answer.into_inner().message.ends_with("!"));
}

#[tokio::test]
async fn a_connection_past_its_stream_cap_waits_for_a_stream_to_end() {
    let mut config = test_config();
    config.limits.max_concurrent_streams = 2;
    let server = spawn_server(config).await;
    let connection = server.channel().await;
    let mut guide = RouteGuideClient::new(connection.clone());
    let mut summator = SummatorClient::new(connection);

    let (first_sender, first_notes) = mpsc::unbounded::<RouteNote>();
    let _first = guide.route_chat(first_notes).await.unwrap();
    let _second = guide.route_chat(stream::pending()).await.unwrap();
    server.live.wait_for(2).await;
    let third = tokio::spawn(async move {
        let request = SumRequest {
            value1: 1.0,
            value2: 1.0,
        };
        summator.sum(request).await
    });

    // The third call waits in the client: the server never sees it while two are open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.live.count(), 2);
    assert!(!third.is_finished());

    // Ending one chat lets it through.
    drop(first_sender);
    let sum = tokio::time::timeout(PATIENCE, third)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum.unwrap().into_inner().value, 2.0);
}

/// The client preface of HTTP/2 and an empty SETTINGS frame: enough for the server to
/// count this as a connection, after which this "client" never says anything again.
const PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test]
async fn keepalive_closes_a_connection_whose_peer_stopped_answering() {
    let mut config: Config = test_config();
    config.limits.keepalive_interval = Duration::from_millis(100);
    config.limits.keepalive_timeout = Duration::from_millis(100);
    let server = spawn_server(config).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    silent.write_all(PREFACE_AND_SETTINGS).await.unwrap();
    // Read (and ignore) whatever the server sends, PINGs included, without ever
    // answering: the server must give up on us and close the connection.
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0; 1024];
        while silent.read(&mut buffer).await.unwrap_or(0) > 0 {}
    })
    .await;

    assert!(
        closed.is_ok(),
        "the server kept a dead peer's connection open"
    );
}
