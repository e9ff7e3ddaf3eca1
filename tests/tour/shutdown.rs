//! Graceful shutdown: no new connections, the calls in flight may finish within the grace
//! period, and those still open after it end with UNAVAILABLE.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::channel::mpsc;
use grpc_tour::lesson::{proto::RouteNote, route_guide::landmarks::ARRAKEEN};
use tokio::net::TcpStream;
use tonic::Code;

use crate::support::{PATIENCE, assert_status, spawn_server, spawn_test_server, test_config};

/// Waits until connecting to `addr` fails: the server has closed its listener.
async fn until_connections_are_refused(addr: SocketAddr) {
    tokio::time::timeout(PATIENCE, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server stops accepting connections");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_stream_finish() {
    let mut server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let (sender, points) = mpsc::unbounded();
    sender.unbounded_send(ARRAKEEN).unwrap();
    let call = tokio::spawn(async move { guide.record_route(points).await });
    tokio::time::timeout(PATIENCE, server.live.wait_for(1))
        .await
        .expect("the call reaches the server");

    server.begin_shutdown();
    until_connections_are_refused(server.addr).await;

    // The route is still open, and the client can finish it.
    sender.unbounded_send(ARRAKEEN).unwrap();
    drop(sender);
    let summary = call.await.unwrap().expect("the call in flight succeeds");
    assert_eq!(summary.into_inner().point_count, 2);
    server.stopped().await.expect("the server stops cleanly");
}

#[tokio::test]
async fn a_stream_still_open_after_the_grace_period_ends_with_unavailable_losing_nothing() {
    let mut config = test_config();
    config.limits.grace_period = Duration::from_millis(200);
    let mut server = spawn_server(config).await;
    let notes = Arc::clone(&server.notes);
    let mut guide = server.route_guide().await;
    let (sender, outgoing) = mpsc::unbounded();
    sender
        .unbounded_send(RouteNote {
            location: Some(ARRAKEEN),
            message: "said before the end".to_owned(),
        })
        .unwrap();
    let mut replies = guide.route_chat(outgoing).await.unwrap().into_inner();
    tokio::time::timeout(PATIENCE, async {
        while notes.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the note is stored");

    server.begin_shutdown();

    let status = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .expect("the grace period ends the chat")
        .unwrap_err();
    assert_status(
        &status,
        Code::Unavailable,
        "grace period for calls in flight is over",
    );
    server.stopped().await.expect("the server stops cleanly");
    assert_eq!(
        notes.notes_at(&ARRAKEEN).len(),
        1,
        "the stored note is kept"
    );
    drop(sender);
}
