//! Connections that age: past `--max-connection-age` the server sends GOAWAY, the calls in
//! flight finish within the grace, the client connects again, and whatever is still open
//! after the grace is closed. Watched through the wire relay, so each test waits for the
//! frames themselves rather than for time to pass.

use std::time::Duration;

use futures::{SinkExt, channel::mpsc};
use grpc_tour::{
    lesson::proto::{
        SumRequest, route_guide_client::RouteGuideClient, summator_client::SummatorClient,
    },
    production::server::Config,
    wire::{Direction, Event, Frame, Relay, What},
};
use tonic::transport::{Channel, Endpoint};

use crate::support::{PATIENCE, note, point, spawn_server, test_config};

/// A server whose connections are old at 1 s, with `grace` to finish their calls: long
/// enough for a busy machine to open the test's call before the GOAWAY, which would
/// otherwise refuse it.
fn aging(grace: Duration) -> Config {
    let mut config = test_config();
    config.limits.connection.max_connection_age = Duration::from_secs(1);
    config.limits.connection.max_connection_age_grace = grace;
    config
}

/// Waits, within [`PATIENCE`] (or three times it), for an event `wanted` picks.
async fn wait_for(relay: &mut Relay, wanted: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(3 * PATIENCE, async {
        loop {
            let event = relay.next().await.expect("the relay runs");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event came in time")
}

fn goaway(connection: u64) -> impl Fn(&Event) -> bool {
    move |event| {
        event.connection == connection
            && matches!(
                event.what,
                What::Frame(Direction::ToClient, Frame::GoAway { .. })
            )
    }
}

fn closed(connection: u64) -> impl Fn(&Event) -> bool {
    move |event| event.connection == connection && event.what == What::Closed
}

async fn channel(relay: &Relay) -> Channel {
    Endpoint::from_shared(relay.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_old_connection_gets_goaway_finishes_its_calls_and_the_client_connects_again() {
    let server = spawn_server(aging(3 * PATIENCE)).await;
    let mut relay = Relay::start(server.addr.to_string()).await.unwrap();
    let channel = channel(&relay).await;
    // A chat open across the connection's age.
    let (mut notes, outgoing) = mpsc::channel(4);
    let mut replies = RouteGuideClient::new(channel.clone())
        .route_chat(outgoing)
        .await
        .unwrap()
        .into_inner();
    let here = point(12.5, 12.5);
    notes.send(note(here, "before the GOAWAY")).await.unwrap();

    wait_for(&mut relay, goaway(1)).await;

    // The chat goes on after the GOAWAY, within the grace, and ends as it should.
    notes.send(note(here, "after the GOAWAY")).await.unwrap();
    let reply = replies.message().await.unwrap().expect("a reply");
    assert_eq!(reply.message, "before the GOAWAY");
    drop(notes);
    assert!(replies.message().await.unwrap().is_none());
    // With its last call over, the old connection closes long before the grace is up, and
    // the channel's next call goes on a new one.
    wait_for(&mut relay, closed(1)).await;
    let sum = SummatorClient::new(channel)
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
    wait_for(&mut relay, |event| {
        event.connection == 2
            && matches!(
                event.what,
                What::Frame(Direction::ToServer, Frame::Headers { .. })
            )
    })
    .await;
}

#[tokio::test]
async fn a_call_still_open_after_the_grace_is_cut_with_its_connection() {
    let server = spawn_server(aging(Duration::from_millis(300))).await;
    let mut relay = Relay::start(server.addr.to_string()).await.unwrap();
    let channel = channel(&relay).await;
    // A chat that never ends by itself: only the grace's end closes it.
    let (notes, outgoing) = mpsc::channel::<grpc_tour::lesson::proto::RouteNote>(4);
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(outgoing)
        .await
        .unwrap()
        .into_inner();

    wait_for(&mut relay, goaway(1)).await;
    wait_for(&mut relay, closed(1)).await;
    assert!(
        replies.message().await.is_err(),
        "the chat outlived its connection"
    );
    drop(notes);
}

// The example's layer-4 balancer in miniature, shared rather than copied (its replicas are
// shared by the balancing tests).
#[path = "../../examples/load_balance/pinned.rs"]
mod pinned;
use crate::balance::replica;

/// Behind a balancer that places connections, not calls, a replica that joins later gets
/// nothing from clients already connected, until their connections age: then each client
/// connects again, and the balancer may place it on the newcomer.
#[tokio::test]
async fn a_replica_that_joins_later_gets_calls_once_the_clients_connections_age() {
    use std::collections::BTreeMap;

    use grpc_tour::production::server::SERVED_BY;

    let mut config = Config::default();
    // Long enough that a busy machine's first calls are not met by the GOAWAY.
    config.limits.connection.max_connection_age = Duration::from_secs(1);
    let first = ["replica-1", "replica-2"]
        .map(|name| replica::Replica::spawn(name, config.clone()).unwrap());
    let balancer = pinned::Pinned::new(first.iter().map(|r| r.url.as_str()));
    let clients: Vec<_> = (0..4)
        .map(|_| SummatorClient::new(balancer.channel()))
        .collect();
    let served_by = |response: &tonic::Response<_>| -> String {
        response
            .metadata()
            .get(SERVED_BY)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    // Each client's connection lands on one of the first two.
    for mut client in clients.clone() {
        let response = client
            .sum(SumRequest {
                value1: 1.0,
                value2: 2.0,
            })
            .await
            .unwrap();
        let name = served_by(&response);
        assert!(name == "replica-1" || name == "replica-2", "{name}");
    }
    let third = replica::Replica::spawn("replica-3", config).unwrap();
    balancer.add(&third.url);
    // Calls go on; once the connections age and the clients connect again, the balancer
    // places some of them on the newcomer.
    let mut counts = BTreeMap::<String, u64>::new();
    let joined = async {
        loop {
            for mut client in clients.clone() {
                let response = client
                    .sum(SumRequest {
                        value1: 1.0,
                        value2: 2.0,
                    })
                    .await;
                // A call that meets the GOAWAY's race may fail; the next one reconnects.
                if let Ok(response) = response {
                    *counts.entry(served_by(&response)).or_default() += 1;
                }
            }
            if counts.contains_key("replica-3") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(3 * PATIENCE, joined)
        .await
        .unwrap_or_else(|_| panic!("replica-3 never served a call: {counts:?}"));
}
