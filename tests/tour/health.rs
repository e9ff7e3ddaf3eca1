//! Health checking (`grpc.health.v1`): every service reports SERVING, and a shutdown turns
//! them NOT_SERVING before the server stops.

use std::time::Duration;

use futures::{FutureExt, stream};
use grpc_tour::lesson::proto::{RouteNote, route_guide_client::RouteGuideClient};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{PATIENCE, spawn_server, spawn_test_server, test_config};

const SERVICES: [&str; 4] = ["", "tour.Summator", "tour.Dune", "tour.RouteGuide"];

fn asking_about(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test]
async fn the_server_and_each_tour_service_report_serving() {
    let server = spawn_test_server().await;
    let mut health = HealthClient::new(server.channel().await);

    for service in SERVICES {
        let status = health.check(asking_about(service)).await.unwrap();
        assert_eq!(
            status.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = health.check(asking_about("tour.Nope")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_shutdown_turns_every_service_not_serving_and_ends_watches_after_the_grace_period() {
    let mut config = test_config();
    // Long enough that NOT_SERVING goes out before the grace period ends the watches, even
    // on a busy machine: the test waits for the end, it does not race it.
    config.limits.grace_period = Duration::from_secs(2);
    let mut server = spawn_server(config).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watches = Vec::new();
    for service in SERVICES {
        let mut watch = health
            .watch(asking_about(service))
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status(), ServingStatus::Serving, "{service:?}");
        watches.push(watch);
    }

    server.begin_shutdown();

    for (service, watch) in SERVICES.iter().zip(&mut watches) {
        let next = tokio::time::timeout(PATIENCE, watch.message())
            .await
            .expect("the change is sent at once")
            .unwrap()
            .unwrap();
        assert_eq!(next.status(), ServingStatus::NotServing, "{service:?}");
    }
    // A watch never ends by itself: the grace period ends it, and the server stops.
    let ended = watches[0].message().await.unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    server.stopped().await.expect("the server stops cleanly");
}

#[tokio::test]
async fn a_health_watch_outlives_the_servers_limit_on_other_calls() {
    let mut config = test_config();
    config.limits.max_deadline = Duration::from_millis(200);
    let server = spawn_server(config).await;
    let channel = server.channel().await;
    let mut watch = HealthClient::new(channel.clone())
        .watch(asking_about(""))
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    // Two chats opened after the watch, one after the other, each ended by the limit: had
    // the limit applied to the watch, it would have ended first, and long before now.
    let mut guide = RouteGuideClient::new(channel);
    for _ in 0..2 {
        // On a busy machine the limit may pass before the chat is even answered: then the
        // call itself fails with the status, rather than its first message.
        let ended = tokio::time::timeout(PATIENCE, async {
            let mut replies = guide
                .route_chat(stream::pending::<RouteNote>())
                .await?
                .into_inner();
            replies.message().await
        })
        .await
        .expect("the limit ends the chat");
        let status = ended.expect_err("a chat that says nothing has no reply");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    assert!(
        watch.message().now_or_never().is_none(),
        "the watch is still open, with nothing to say"
    );
}
