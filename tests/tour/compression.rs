//! Compression: the server accepts gzip and zstd requests, and answers in the encoding a
//! client accepts.

use grpc_tour::lesson::proto::{Feature, SumRequest};
use tonic::codec::CompressionEncoding;

use crate::support::{everywhere, spawn_test_server};

#[tokio::test]
async fn gzip_and_zstd_travel_both_ways() {
    let server = spawn_test_server().await;
    for (compression, name) in [
        (CompressionEncoding::Gzip, "gzip"),
        (CompressionEncoding::Zstd, "zstd"),
    ] {
        let mut summator = server
            .summator()
            .await
            .send_compressed(compression)
            .accept_compressed(compression);
        let request = SumRequest {
            value1: 1.25,
            value2: 2.5,
        };

        let response = summator.sum(request).await.unwrap();

        let encoding = response.metadata().get("grpc-encoding").unwrap();
        assert_eq!(encoding, name);
        assert_eq!(response.into_inner().value, 3.75);
    }
}

#[tokio::test]
async fn a_compressed_stream_holds_the_same_features() {
    let server = spawn_test_server().await;
    let names =
        |features: Vec<Feature>| -> Vec<String> { features.into_iter().map(|f| f.name).collect() };
    let mut plain = server.route_guide().await;
    let mut zstd = server
        .route_guide()
        .await
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Zstd);

    let mut expected = Vec::new();
    let mut stream = plain
        .list_features(everywhere())
        .await
        .unwrap()
        .into_inner();
    while let Some(feature) = stream.message().await.unwrap() {
        expected.push(feature);
    }
    let response = zstd.list_features(everywhere()).await.unwrap();
    assert_eq!(response.metadata().get("grpc-encoding").unwrap(), "zstd");
    let mut stream = response.into_inner();
    let mut got = Vec::new();
    while let Some(feature) = stream.message().await.unwrap() {
        got.push(feature);
    }

    assert_eq!(names(got), names(expected));
}
