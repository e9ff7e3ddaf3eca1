//! Tests without a network: a handler called through its trait, and a client and a server
//! joined by an in-memory pipe. The rest of the tour's tests use real sockets on
//! `127.0.0.1:0`; these show the two ways to do without.

use futures::stream;
use grpc_tour::lesson::{
    proto::{
        SumRequest,
        summator_client::SummatorClient,
        summator_server::{Summator as _, SummatorServer},
    },
    summator::Summator,
};
use hyper_util::rt::TokioIo;
use tonic::{
    Code, Request,
    transport::{Channel, Endpoint, Server},
};
use tower::service_fn;

// ANCHOR: through_the_trait
#[tokio::test]
async fn a_handler_called_through_its_trait_needs_no_server() {
    // `Summator` implements the generated trait: call it as any async method.
    let request = Request::new(SumRequest {
        value1: 2.0,
        value2: 3.0,
    });
    let answer = Summator.sum(request).await.unwrap();
    assert_eq!(answer.into_inner().value, 5.0);

    let not_a_number = Request::new(SumRequest {
        value1: f64::NAN,
        value2: 3.0,
    });
    let refused = Summator.sum(not_a_number).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}
// ANCHOR_END: through_the_trait

// ANCHOR: in_memory
/// A Summator client and server joined by an in-memory pipe: the whole of gRPC, HTTP/2
/// included, and no socket.
async fn in_memory_summator() -> SummatorClient<Channel> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let incoming = stream::iter([Ok::<_, std::io::Error>(server_io)]);
    tokio::spawn(
        Server::builder()
            .add_service(SummatorServer::new(Summator))
            .serve_with_incoming(incoming),
    );
    // The URL is never dialled: the connector hands the channel its end of the pipe, once.
    let mut client_io = Some(client_io);
    let channel = Endpoint::from_static("http://in-memory")
        .connect_with_connector(service_fn(move |_| {
            let io = client_io.take().map(TokioIo::new);
            async move { io.ok_or_else(|| std::io::Error::other("the pipe is already taken")) }
        }))
        .await
        .unwrap();
    SummatorClient::new(channel)
}

#[tokio::test]
async fn a_client_and_server_joined_in_memory_speak_grpc() {
    let mut summator = in_memory_summator().await;

    let sum = summator
        .sum(SumRequest {
            value1: 40.0,
            value2: 2.0,
        })
        .await
        .unwrap();

    // What travelled was gRPC over HTTP/2, pipe or not.
    assert_eq!(
        sum.metadata().get("content-type").unwrap(),
        "application/grpc"
    );
    assert_eq!(sum.into_inner().value, 42.0);
}
// ANCHOR_END: in_memory
