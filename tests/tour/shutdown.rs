//! Graceful shutdown: no new connections, but the calls in flight finish.

use std::net::SocketAddr;

use futures::channel::mpsc;
use grpc_tour::route_guide::landmarks::ARRAKEEN;
use tokio::net::TcpStream;

use crate::support::{PATIENCE, spawn_test_server};

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
