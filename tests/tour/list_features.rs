//! RouteGuide.ListFeatures: streaming every feature in a rectangle, and stopping when the
//! client stops listening.

use grpc_tour::lesson::proto::{Feature, Point, Rectangle};

use crate::support::{
    PATIENCE, TestServer, assert_bad_field, everywhere, features_json, many_features_json, point,
    spawn_server_with_features, spawn_test_server,
};

fn rectangle(lo: Point, hi: Point) -> Rectangle {
    Rectangle {
        lo: Some(lo),
        hi: Some(hi),
    }
}

async fn list(server: &TestServer, area: Rectangle) -> Vec<String> {
    let mut guide = server.route_guide().await;
    let mut stream = guide.list_features(area).await.unwrap().into_inner();
    let mut names = Vec::new();
    while let Some(Feature { name, .. }) = stream.message().await.unwrap() {
        names.push(name);
    }
    names
}

#[tokio::test]
async fn list_features_streams_every_feature_inside_edges_included() {
    let server = spawn_server_with_features(&features_json(&[
        ("south-west corner", point(10.0, 20.0)),
        ("inside", point(10.5, 20.5)),
        ("north of it", point(11.0000001, 20.5)),
        ("north-east corner", point(11.0, 21.0)),
        ("east of it", point(10.5, 21.0000001)),
        ("east edge", point(10.2, 21.0)),
    ]))
    .await;

    let names = list(&server, rectangle(point(10.0, 20.0), point(11.0, 21.0))).await;

    assert_eq!(
        names,
        [
            "south-west corner",
            "inside",
            "north-east corner",
            "east edge"
        ]
    );
}

#[tokio::test]
async fn list_features_accepts_the_corners_in_either_order() {
    let server = spawn_test_server().await;
    let (south_west, north_east) = (point(29.5, 35.2), point(29.9, 35.5));
    let (north_west, south_east) = (point(29.9, 35.2), point(29.5, 35.5));

    let expected = list(&server, rectangle(south_west, north_east)).await;

    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(
        list(&server, rectangle(north_east, south_west)).await,
        expected
    );
    assert_eq!(
        list(&server, rectangle(north_west, south_east)).await,
        expected
    );
}

#[tokio::test]
async fn list_features_refuses_a_missing_or_invalid_corner() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;

    let no_lo = Rectangle {
        lo: None,
        hi: Some(point(1.0, 1.0)),
    };
    let status = guide.list_features(no_lo).await.unwrap_err();
    assert_bad_field(&status, "lo", "is required");

    let bad_hi = rectangle(point(1.0, 1.0), point(1.0, 200.0));
    let status = guide.list_features(bad_hi).await.unwrap_err();
    assert_bad_field(&status, "hi.longitude", "must be within");
}

// ANCHOR: hang_up
#[tokio::test]
async fn a_client_that_hangs_up_mid_list_features_ends_the_servers_work() {
    let server = spawn_server_with_features(&many_features_json()).await;
    let mut guide = server.route_guide().await;

    let mut stream = guide
        .list_features(everywhere())
        .await
        .unwrap()
        .into_inner();
    for expected in ["dune 0", "dune 1", "dune 2"] {
        let feature = stream.message().await.unwrap().unwrap();
        assert_eq!(feature.name, expected);
    }
    assert_eq!(server.live.count(), 1, "the call is still streaming");

    drop(stream);
    server.wait_until_idle().await;

    // And the server is none the worse for it.
    let feature = tokio::time::timeout(PATIENCE, guide.get_feature(point(29.5, 35.3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(feature.into_inner().name, "dune 0");
}
// ANCHOR_END: hang_up
