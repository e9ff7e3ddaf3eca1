//! RouteGuide.RecordRoute: a client stream of points, summarised once it ends.

use futures::{channel::mpsc, stream};
use grpc_tour::lesson::{
    proto::{RouteSummary, route_guide_client::RouteGuideClient},
    route_guide::{
        geo::distance_metres,
        landmarks::{ARRAKEEN, OPEN_DESERT, SIETCH_TABR},
    },
};

use crate::support::{PATIENCE, assert_bad_field, point, spawn_test_server, vanish_mid_call};

#[tokio::test]
async fn record_route_counts_points_and_features_and_measures_the_distance() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let route = [ARRAKEEN, OPEN_DESERT, SIETCH_TABR, SIETCH_TABR];

    let summary = guide
        .record_route(stream::iter(route))
        .await
        .unwrap()
        .into_inner();

    let metres =
        distance_metres(&ARRAKEEN, &OPEN_DESERT) + distance_metres(&OPEN_DESERT, &SIETCH_TABR);
    assert_eq!(summary.point_count, 4);
    assert_eq!(summary.feature_count, 3, "Arrakeen and Sietch Tabr twice");
    assert_eq!(summary.distance, metres.round() as i32);
    assert!(summary.distance > 100_000, "{summary:?}");
}

#[tokio::test]
async fn record_route_of_no_points_is_all_zeros() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;

    let summary = guide
        .record_route(stream::empty())
        .await
        .unwrap()
        .into_inner();

    assert_eq!(summary, RouteSummary::default());
}

#[tokio::test]
async fn record_route_refuses_a_bad_point_naming_its_place_in_the_route() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let route = [ARRAKEEN, ARRAKEEN, point(-95.0, 0.0), ARRAKEEN];

    let status = guide.record_route(stream::iter(route)).await.unwrap_err();

    assert_bad_field(&status, "route[2].latitude", "must be within");
}

#[tokio::test]
async fn a_client_that_vanishes_mid_record_route_ends_the_servers_work() {
    let server = spawn_test_server().await;
    let live = server.live.clone();

    vanish_mid_call(server.url.clone(), move |channel| async move {
        let (sender, points) = mpsc::unbounded();
        sender.unbounded_send(ARRAKEEN).unwrap();
        let mut guide = RouteGuideClient::new(channel);
        let call = tokio::spawn(async move { guide.record_route(points).await });
        tokio::time::timeout(PATIENCE, live.wait_for(1))
            .await
            .expect("the route reaches the server");
        (sender, call)
    })
    .await;

    server.wait_until_idle().await;
}
