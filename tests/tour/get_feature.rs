//! RouteGuide.GetFeature: the unary lookup of a point, hit or miss.

use grpc_tour::lesson::route_guide::landmarks::{ARRAKEEN, OPEN_DESERT};

use crate::support::{assert_bad_field, point, spawn_test_server};

#[tokio::test]
async fn get_feature_finds_the_named_feature_at_a_point() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;

    let feature = guide.get_feature(ARRAKEEN).await.unwrap().into_inner();

    assert_eq!(feature.name, "Arrakeen");
    assert_eq!(feature.location, Some(ARRAKEEN));
}

#[tokio::test]
async fn get_feature_answers_an_unnamed_feature_at_an_empty_point() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let feature = guide.get_feature(OPEN_DESERT).await.unwrap().into_inner();

    assert_eq!(feature.name, "");
    assert_eq!(feature.location, Some(OPEN_DESERT));
}

#[tokio::test]
async fn get_feature_refuses_a_point_off_the_globe_naming_the_coordinate() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;

    let status = guide.get_feature(point(90.5, 0.0)).await.unwrap_err();
    assert_bad_field(&status, "latitude", "must be within -90 and 90");

    let status = guide.get_feature(point(0.0, -181.0)).await.unwrap_err();
    assert_bad_field(&status, "longitude", "must be within -180 and 180");
}
