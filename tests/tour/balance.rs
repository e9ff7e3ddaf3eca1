//! Client-side load balancing over in-process replicas: calls spread over all of them, a
//! replica killed mid-run costs no safe call, a stream stays on one replica, and each
//! replica names itself.

use futures::{StreamExt, stream};
use grpc_tour::{
    lesson::proto::{
        RouteNote, SumRequest, route_guide_client::RouteGuideClient,
        summator_client::SummatorClient,
    },
    production::{
        balance::{Retry, SpecCodes, balanced_channel, spec_codes, with_retries},
        server::{Config, SERVED_BY, TourServer},
    },
};
use std::{
    collections::BTreeSet,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures::Stream;
use grpc_tour::{lesson::summator::Summator, production::balance::Trackers};
use tokio::{net::TcpListener, sync::Notify};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse,
    health_check_response::ServingStatus,
    health_server::{Health, HealthServer},
};

use crate::support::{PATIENCE, point, spawn_test_server};

// The example's own bookkeeping, shared rather than copied: in-process replicas to kill, and
// a tally of where calls went.
#[path = "../../examples/load_balance/replica.rs"]
pub mod replica;
#[path = "../../examples/load_balance/tally.rs"]
mod tally;

use replica::Replica;
use tally::Tally;

fn replicas() -> Vec<Replica> {
    ["replica-1", "replica-2", "replica-3"]
        .into_iter()
        .map(|name| Replica::spawn(name, Config::default()).unwrap())
        .collect()
}

fn balanced(replicas: &[Replica]) -> (SpecCodes, Trackers) {
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    let (channel, trackers) = balanced_channel(&urls).unwrap();
    (spec_codes(channel), trackers)
}

/// Runs `calls` Sum calls, `in_flight` at a time, retrying where safe; calls `midway` once
/// after `kill_after` of them have finished.
async fn sums(
    channel: SpecCodes,
    calls: u64,
    in_flight: usize,
    kill_after: u64,
    mut midway: impl FnMut(),
) -> Tally {
    let summator = SummatorClient::new(channel);
    let mut results = stream::iter(0..calls)
        .map(|call| {
            let summator = &summator;
            with_retries(Retry::OnUnavailable, move || {
                let mut summator = summator.clone();
                async move {
                    summator
                        .sum(SumRequest {
                            value1: call as f64,
                            value2: 1.0,
                        })
                        .await
                }
            })
        })
        .buffer_unordered(in_flight);
    let mut tally = Tally::default();
    while let Some(attempted) = tokio::time::timeout(PATIENCE, results.next())
        .await
        .unwrap()
    {
        match &attempted.result {
            Ok(response) => assert_eq!(response.get_ref().value % 1.0, 0.0),
            Err(status) => eprintln!("a call failed: {status:?}"),
        }
        tally.record(&attempted);
        if tally.sent == kill_after {
            midway();
        }
    }
    tally
}

#[tokio::test]
async fn calls_spread_over_every_replica_and_say_which_one_answered() {
    let replicas = replicas();
    let (channel, _trackers) = balanced(&replicas);

    let tally = sums(channel, 300, 8, 0, || {}).await;

    assert_eq!((tally.sent, tally.succeeded, tally.failed), (300, 300, 0));
    let names: Vec<&str> = tally.served_by.keys().map(String::as_str).collect();
    assert_eq!(names, ["replica-1", "replica-2", "replica-3"]);
    for (replica, served) in &tally.served_by {
        assert!(*served >= 30, "{replica} served only {served} of 300 calls");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_run_costs_no_safe_call() {
    let mut replicas = replicas();
    let (channel, _trackers) = balanced(&replicas);
    let mut victim = Some(replicas.remove(1));
    assert_eq!(victim.as_ref().unwrap().name, "replica-2");

    let tally = sums(channel, 1500, 16, 500, || victim.take().unwrap().kill()).await;

    assert_eq!(tally.sent, 1500);
    assert_eq!(tally.failed, 0, "{tally:?}");
    assert_eq!(tally.succeeded, 1500);
    // The killed replica answered only before it died; the survivors took the rest.
    let served = |name: &str| tally.served_by.get(name).copied().unwrap_or(0);
    assert!(served("replica-2") <= 500 + 16, "{tally:?}");
    assert_eq!(
        served("replica-1") + served("replica-3") + served("replica-2"),
        1500
    );
}

#[tokio::test]
async fn a_route_chat_stream_stays_on_one_replica_for_its_life() {
    let replicas = replicas();
    let (channel, _trackers) = balanced(&replicas);
    let mut guide = RouteGuideClient::new(channel);
    let here = point(12.0, 34.0);

    let notes: Vec<RouteNote> = (0..20)
        .map(|i| RouteNote {
            location: Some(here),
            message: format!("note {i}"),
        })
        .collect();
    let response = guide.route_chat(stream::iter(notes)).await.unwrap();
    let mut replies = response.into_inner();
    let mut heard = 0;
    while tokio::time::timeout(PATIENCE, replies.message())
        .await
        .unwrap()
        .unwrap()
        .is_some()
    {
        heard += 1;
    }

    // ANCHOR: one_replica_per_stream
    // One stream is one HTTP/2 stream on one connection: all 20 notes reached one replica,
    // which replayed 0 + 1 + ... + 19 of them. The other replicas never saw the chat.
    assert_eq!(heard, (0..20).sum::<usize>());
    let stored: Vec<usize> = replicas
        .iter()
        .map(|r| r.notes.in_memory().unwrap().notes_at(&here).len())
        .collect();
    assert_eq!(stored.iter().sum::<usize>(), 20, "{stored:?}");
    assert!(stored.contains(&20), "{stored:?}");
    // ANCHOR_END: one_replica_per_stream
}

#[tokio::test]
async fn a_server_with_no_replica_name_sends_no_x_served_by() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;
    let response = summator.sum(SumRequest::default()).await.unwrap();
    assert_eq!(response.metadata().get(SERVED_BY), None);
}

#[test]
fn a_replica_name_that_cannot_travel_in_a_header_is_refused_at_start() {
    let config = Config {
        replica_name: Some("replica\n2".to_owned()),
        ..Config::default()
    };
    let error = TourServer::new(config).unwrap_err();
    assert!(error.to_string().contains("printable ASCII"), "{error}");
}

/// A health service whose every `Watch` says SERVING once and then ends, as a server's or a
/// proxy's limit on call length would end it; it counts the watches it was asked for.
#[derive(Clone, Default)]
struct ShortWatches {
    watches: Arc<AtomicUsize>,
    watched: Arc<Notify>,
}

#[tonic::async_trait]
impl Health for ShortWatches {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(serving()))
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.watches.fetch_add(1, Ordering::AcqRel);
        self.watched.notify_waiters();
        let ended = Status::deadline_exceeded("the call reached the server's limit");
        Ok(Response::new(Box::pin(stream::iter([
            Ok(serving()),
            Err(ended),
        ]))))
    }
}

fn serving() -> HealthCheckResponse {
    HealthCheckResponse {
        status: ServingStatus::Serving.into(),
    }
}

#[tokio::test]
async fn a_replica_whose_watch_merely_ends_stays_in_the_channel() {
    let health = ShortWatches::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HealthServer::new(health.clone()))
            .add_service(grpc_tour::lesson::proto::summator_server::SummatorServer::new(Summator))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let (channel, trackers) = balanced_channel(std::slice::from_ref(&url)).unwrap();
    let mut membership = trackers.membership();

    // Three watches, each ended by the server: the replica joined once and never left.
    while health.watches.load(Ordering::Acquire) < 3 {
        let watched = health.watched.notified();
        tokio::time::timeout(PATIENCE, watched)
            .await
            .expect("the tracker watches again");
    }
    let now = membership.borrow_and_update().clone();
    assert_eq!(now.joined.into_iter().collect::<Vec<_>>(), [url]);
    assert_eq!(now.leaves, 0);
    let sum = SummatorClient::new(channel)
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
}

#[tokio::test]
async fn a_killed_replica_leaves_the_channel() {
    let mut replicas = replicas();
    let (_channel, trackers) = balanced(&replicas);
    let mut membership = trackers.membership();
    let all: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    tokio::time::timeout(PATIENCE, membership.wait_for(|m| m.joined.len() == 3))
        .await
        .expect("every replica joins")
        .unwrap();

    let victim = replicas.remove(1);
    victim.kill();

    let after = tokio::time::timeout(PATIENCE, membership.wait_for(|m| m.leaves == 1))
        .await
        .expect("the killed replica leaves")
        .unwrap()
        .clone();
    let survivors = BTreeSet::from([all[0].clone(), all[2].clone()]);
    assert_eq!(after.joined, survivors);
}
