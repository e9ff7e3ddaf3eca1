//! The Prometheus metrics count exactly what happened: each call by method and status (a
//! stream's status read from its trailers, an abandoned call as `Canceled`), each message of
//! a stream, and what is in progress.

use std::{collections::HashMap, str::FromStr, sync::Arc};

use futures::{StreamExt, stream};
use grpc_tour::{
    lesson::proto::{Point, SumRequest, SumResponse},
    production::{metrics::Metrics, server::Config},
};
use tonic::{Code, Request, codegen::http::uri::PathAndQuery};

use crate::support::{
    TestServer, everywhere, many_features_json, note, point, spawn_server, test_config,
};

async fn spawn_measured(config: Config) -> (TestServer, Arc<Metrics>) {
    let server = spawn_server(Config {
        // Kept, though nothing serves them there: the test reads them directly.
        metrics_addr: Some(([127, 0, 0, 1], 0).into()),
        ..config
    })
    .await;
    let metrics = server.metrics.clone().expect("a server with metrics");
    (server, metrics)
}

/// Every sample of the text, by its name and labels as written.
pub async fn samples(metrics: &Metrics) -> HashMap<String, f64> {
    metrics
        .render()
        .await
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(series, value)| (series.to_owned(), f64::from_str(value).unwrap()))
        .collect()
}

/// The labels of a method, as the metrics write them.
fn labels(grpc_type: &str, method: &str) -> String {
    let (service, method) = method.split_once('/').unwrap();
    format!(r#"grpc_type="{grpc_type}",grpc_service="tour.{service}",grpc_method="{method}""#)
}

#[track_caller]
fn assert_sample(samples: &HashMap<String, f64>, series: &str, expected: f64) {
    assert_eq!(samples.get(series), Some(&expected), "{series}");
}

fn sum(value1: f64, value2: f64) -> SumRequest {
    SumRequest { value1, value2 }
}

#[tokio::test]
async fn each_call_is_counted_by_method_and_status_with_its_messages() {
    let (server, metrics) = spawn_measured(test_config()).await;
    let mut summator = server.summator().await;
    let mut guide = server.route_guide().await;

    for i in 0..3 {
        summator.sum(sum(f64::from(i), 1.0)).await.unwrap();
    }
    for _ in 0..2 {
        let refused = summator.sum(sum(f64::NAN, 1.0)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
    }
    // Server streaming: the status comes in the trailers, after every feature.
    let features = guide
        .list_features(everywhere())
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await
        .len();
    // Client streaming: five points in, one summary out.
    let route: Vec<Point> = (0..5).map(|i| point(30.0 + f64::from(i), 35.0)).collect();
    guide.record_route(stream::iter(route)).await.unwrap();
    // Bidirectional: two notes at one point, so the second hears the first.
    let at = point(29.0, 35.0);
    let notes = vec![note(at, "first"), note(at, "second")];
    let replies = guide
        .route_chat(stream::iter(notes))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(replies.len(), 1);
    server.wait_until_idle().await;

    let samples = samples(&metrics).await;
    let sum = labels("unary", "Summator/Sum");
    assert_sample(
        &samples,
        &format!("grpc_server_started_total{{{sum}}}"),
        5.0,
    );
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{sum},grpc_code="OK"}}"#),
        3.0,
    );
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{sum},grpc_code="InvalidArgument"}}"#),
        2.0,
    );
    assert_sample(
        &samples,
        &format!("grpc_server_handling_seconds_count{{{sum}}}"),
        5.0,
    );
    assert_sample(
        &samples,
        &format!("grpc_server_msg_received_total{{{sum}}}"),
        5.0,
    );
    // A refused call sends no message.
    assert_sample(
        &samples,
        &format!("grpc_server_msg_sent_total{{{sum}}}"),
        3.0,
    );

    let list = labels("server_stream", "RouteGuide/ListFeatures");
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{list},grpc_code="OK"}}"#),
        1.0,
    );
    assert_sample(
        &samples,
        &format!("grpc_server_msg_sent_total{{{list}}}"),
        features as f64,
    );
    let record = labels("client_stream", "RouteGuide/RecordRoute");
    assert_sample(
        &samples,
        &format!("grpc_server_msg_received_total{{{record}}}"),
        5.0,
    );
    assert_sample(
        &samples,
        &format!("grpc_server_msg_sent_total{{{record}}}"),
        1.0,
    );
    let chat = labels("bidi_stream", "RouteGuide/RouteChat");
    assert_sample(
        &samples,
        &format!("grpc_server_msg_received_total{{{chat}}}"),
        2.0,
    );
    assert_sample(
        &samples,
        &format!("grpc_server_msg_sent_total{{{chat}}}"),
        1.0,
    );
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{chat},grpc_code="OK"}}"#),
        1.0,
    );
    assert_sample(&samples, "grpc_tour_notes", 2.0);
    assert!(samples["grpc_tour_note_bytes"] > 0.0);
    for method in [&sum, &list, &record, &chat] {
        let in_progress = format!("grpc_tour_calls_in_progress{{{method}}}");
        assert_sample(&samples, &in_progress, 0.0);
    }
}

#[tokio::test]
async fn a_stream_the_client_abandons_counts_as_canceled_and_is_no_longer_in_progress() {
    let (server, metrics) = spawn_measured(Config {
        features: Some(
            grpc_tour::lesson::route_guide::features::FeatureDb::from_json(&many_features_json())
                .unwrap(),
        ),
        ..test_config()
    })
    .await;
    let list = labels("server_stream", "RouteGuide/ListFeatures");
    let mut stream = server
        .route_guide()
        .await
        .list_features(everywhere())
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().expect("a first feature");

    let in_progress = format!("grpc_tour_calls_in_progress{{{list}}}");
    assert_sample(&samples(&metrics).await, &in_progress, 1.0);
    drop(stream);
    server.wait_until_idle().await;

    let samples = samples(&metrics).await;
    assert_sample(&samples, &in_progress, 0.0);
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{list},grpc_code="Canceled"}}"#),
        1.0,
    );
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{list},grpc_code="OK"}}"#),
        0.0,
    );
    // Some features went out before the client left; nowhere near all 200,000.
    let sent = samples[&format!("grpc_server_msg_sent_total{{{list}}}")];
    assert!((1.0..200_000.0).contains(&sent), "{sent}");
}

#[tokio::test]
async fn made_up_paths_share_one_series_so_a_client_cannot_grow_them() {
    let (server, metrics) = spawn_measured(test_config()).await;
    let series_before = samples(&metrics).await.len();
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    for i in 0..50 {
        grpc.ready().await.unwrap();
        let path = PathAndQuery::try_from(format!("/made.Up{i}/Method{i}")).unwrap();
        let status = grpc
            .unary::<SumRequest, SumResponse, _>(
                Request::new(sum(2.0, 3.0)),
                path,
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }
    server.wait_until_idle().await;

    let samples = samples(&metrics).await;
    assert_eq!(samples.len(), series_before);
    let unknown = r#"grpc_type="unknown",grpc_service="unknown",grpc_method="unknown""#;
    assert_sample(
        &samples,
        &format!("grpc_server_started_total{{{unknown}}}"),
        50.0,
    );
    assert_sample(
        &samples,
        &format!(r#"grpc_server_handled_total{{{unknown},grpc_code="Unimplemented"}}"#),
        50.0,
    );
}
