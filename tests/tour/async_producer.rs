//! A producer that is itself async: when each item of a server stream must be awaited (a
//! database cursor, an upstream RPC), a lazy iterator will not do. A task produces the items
//! into a bounded channel, and the response is the channel's receiver. The rule that keeps
//! it safe: a failed send means the client has gone, and the task ends there.

use std::{pin::Pin, time::Duration};

use futures::Stream;
use grpc_tour::lesson::proto::{
    Feature, Point, Rectangle, RouteNote, RouteSummary,
    route_guide_client::RouteGuideClient,
    route_guide_server::{RouteGuide, RouteGuideServer},
};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Request, Response, Status, Streaming,
    transport::{Server, server::TcpIncoming},
};

use crate::support::{PATIENCE, everywhere};

/// A stand-in for a database cursor: each feature takes an `.await` to fetch, and there
/// are far more than any client reads.
async fn fetch(page: u64) -> Feature {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Feature {
        name: format!("row {page}"),
        location: Some(Point::default()),
    }
}

/// A route guide whose features come from [`fetch`]; it says when its producer ends.
struct CursorGuide {
    producer_ended: std::sync::Mutex<Option<oneshot::Sender<u64>>>,
}

// ANCHOR: producer
/// How many fetched features may wait for the client: the bound on what is computed
/// ahead.
const AHEAD: usize = 16;

/// The cursor's features as a stream, fetched by a task of their own; `ended` hears how
/// many it sent, when it ends.
fn from_a_task(ended: Option<oneshot::Sender<u64>>) -> ReceiverStream<Result<Feature, Status>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(AHEAD);
    tokio::spawn(async move {
        let mut sent = 0;
        for page in 0.. {
            let feature = fetch(page).await;
            // The receiver is gone when the client is: stop fetching, end the task.
            if sender.send(Ok(feature)).await.is_err() {
                break;
            }
            sent += 1;
        }
        if let Some(ended) = ended {
            let _ = ended.send(sent);
        }
    });
    ReceiverStream::new(receiver)
}
// ANCHOR_END: producer

#[tonic::async_trait]
impl RouteGuide for CursorGuide {
    type ListFeaturesStream = ReceiverStream<Result<Feature, Status>>;

    async fn list_features(
        &self,
        _: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        let ended = self.producer_ended.lock().unwrap().take();
        Ok(Response::new(from_a_task(ended)))
    }

    async fn get_feature(&self, _: Request<Point>) -> Result<Response<Feature>, Status> {
        Err(Status::unimplemented("only ListFeatures here"))
    }

    async fn record_route(
        &self,
        _: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        Err(Status::unimplemented("only ListFeatures here"))
    }

    type RouteChatStream = Pin<Box<dyn Stream<Item = Result<RouteNote, Status>> + Send>>;

    async fn route_chat(
        &self,
        _: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        Err(Status::unimplemented("only ListFeatures here"))
    }
}

// ANCHOR: no_task_outlives_its_call
#[tokio::test]
async fn the_producer_task_ends_when_its_client_hangs_up() {
    let (ended, producer_ended) = oneshot::channel();
    let guide = CursorGuide {
        producer_ended: std::sync::Mutex::new(Some(ended)),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .add_service(RouteGuideServer::new(guide))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = grpc_tour::lesson::connect::connect(&url).await.unwrap();
    let mut features = RouteGuideClient::new(channel)
        .list_features(everywhere())
        .await
        .unwrap()
        .into_inner();
    for row in 0..3 {
        let feature = features.message().await.unwrap().unwrap();
        assert_eq!(feature.name, format!("row {row}"));
    }

    // Hanging up drops the receiver; the task's next send fails, and it ends.
    drop(features);
    let sent = tokio::time::timeout(PATIENCE, producer_ended)
        .await
        .expect("the producer ends once its client has gone")
        .unwrap();
    // It fetched what the client read, what waited in the channel and in flow control,
    // and no more: not the endless cursor.
    assert!(sent >= 3, "{sent}");
}
// ANCHOR_END: no_task_outlives_its_call
