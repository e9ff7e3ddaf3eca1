//! Past capacity: with `--max-calls-in-flight` calls live, the next is refused at once with
//! UNAVAILABLE, before its handler runs (nothing stored, nothing started); health checks
//! are never refused; a stream holds its place until it ends; the metrics count each
//! refusal by method. The calls that hold the places are Mentat calls that never answer
//! and open streams, so the count is the test's, whatever the machine's speed.

use std::{collections::HashMap, time::Duration};

use futures::{StreamExt, channel::mpsc};
use grpc_tour::{
    lesson::proto::{SumRequest, WeFoundHim},
    production::server::Config,
};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{
    PATIENCE, TestServer, assert_status, everywhere, note, point, spawn_server, test_config,
};

/// A server that admits `limit` calls at once, whose Mentat never answers in a test's time.
async fn spawn_limited(limit: u32) -> TestServer {
    let mut config = Config {
        mentat_delay: Duration::from_secs(3600),
        metrics_addr: Some(([127, 0, 0, 1], 0).into()),
        ..test_config()
    };
    config.limits.max_calls_in_flight = limit;
    spawn_server(config).await
}

/// Waits, within [`PATIENCE`], until `count` calls are live on the server.
async fn wait_for_live(server: &TestServer, count: usize) {
    tokio::time::timeout(PATIENCE, server.live.wait_for(count))
        .await
        .unwrap_or_else(|_| panic!("{} calls live, not {count}", server.live.count()));
}

/// Opens a Mentat call, which holds its place until the task is aborted.
async fn hold_a_place(server: &TestServer) -> JoinHandle<()> {
    let mut mentat = server.dune().await;
    tokio::spawn(async move {
        let _ = mentat
            .is_muad_dib(WeFoundHim {
                message: "Paul".into(),
            })
            .await;
    })
}

async fn sum(server: &TestServer) -> Result<f64, tonic::Status> {
    let answer = server
        .summator()
        .await
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await?;
    Ok(answer.into_inner().value)
}

/// The metric samples of a server that keeps them, by series as written.
async fn samples(server: &TestServer) -> HashMap<String, f64> {
    crate::metrics::samples(server.metrics.as_ref().expect("a server with metrics")).await
}

#[tokio::test]
async fn past_the_limit_a_call_is_refused_at_once_and_health_is_not() {
    let server = spawn_limited(2).await;
    let held = [hold_a_place(&server).await, hold_a_place(&server).await];
    wait_for_live(&server, 2).await;

    // Unary and streaming alike: UNAVAILABLE, saying why and what to do.
    let refused = sum(&server).await.unwrap_err();
    assert_status(&refused, Code::Unavailable, "limit of 2 calls in flight");
    assert_status(&refused, Code::Unavailable, "retry it with back-off");
    let listing = server
        .route_guide()
        .await
        .list_features(everywhere())
        .await
        .unwrap_err();
    assert_status(&listing, Code::Unavailable, "limit of 2 calls in flight");

    // A balancer's health check still gets its answer.
    let mut health = HealthClient::new(server.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: "tour.Summator".into(),
        })
        .await
        .unwrap();
    assert_eq!(status.into_inner().status(), ServingStatus::Serving);

    // Counted by method, and among the handled calls as Unavailable.
    let samples = samples(&server).await;
    let sum_labels = r#"grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum""#;
    let list_labels =
        r#"grpc_type="server_stream",grpc_service="tour.RouteGuide",grpc_method="ListFeatures""#;
    assert_eq!(
        samples.get(&format!("grpc_tour_refused_total{{{sum_labels}}}")),
        Some(&1.0)
    );
    assert_eq!(
        samples.get(&format!("grpc_tour_refused_total{{{list_labels}}}")),
        Some(&1.0)
    );
    assert_eq!(
        samples.get(&format!(
            r#"grpc_server_handled_total{{{sum_labels},grpc_code="Unavailable"}}"#
        )),
        Some(&1.0)
    );
    let dune_labels = r#"grpc_type="unary",grpc_service="tour.Dune",grpc_method="IsMuadDib""#;
    assert_eq!(
        samples.get(&format!("grpc_tour_refused_total{{{dune_labels}}}")),
        Some(&0.0)
    );

    // A place freed is a place taken: the next call is served.
    held[0].abort();
    wait_for_live(&server, 1).await;
    assert_eq!(sum(&server).await.unwrap(), 5.0);
    held[1].abort();
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_stream_holds_its_place_until_it_ends_and_a_refused_chat_stores_nothing() {
    let server = spawn_limited(1).await;
    // A chat that has said nothing yet: open, and live.
    let (notes, outbound) = mpsc::unbounded();
    let mut replies = server
        .route_guide()
        .await
        .route_chat(outbound)
        .await
        .unwrap()
        .into_inner();
    wait_for_live(&server, 1).await;

    // A second chat, with a note to leave, is refused before it reads one.
    let second = server
        .route_guide()
        .await
        .route_chat(futures::stream::iter([note(point(1.0, 1.0), "lost?")]))
        .await
        .unwrap_err();
    assert_status(&second, Code::Unavailable, "limit of 1 calls in flight");
    assert!(server.notes.is_empty(), "a refused chat stored a note");

    // The open chat is served as usual; once it ends, its place is free again.
    notes.unbounded_send(note(point(2.0, 2.0), "kept")).unwrap();
    drop(notes);
    assert!(replies.next().await.is_none());
    assert_eq!(server.notes.len(), 1);
    server.wait_until_idle().await;
    assert_eq!(sum(&server).await.unwrap(), 5.0);
}

#[tokio::test]
async fn of_twenty_callers_at_once_the_limit_are_admitted_and_the_rest_refused() {
    let server = spawn_limited(5).await;
    let (answered, mut answers) = mpsc::unbounded();
    let mut calls = Vec::new();
    for _ in 0..20 {
        let mut mentat = server.dune().await;
        let answered = answered.clone();
        calls.push(tokio::spawn(async move {
            let answer = mentat
                .is_muad_dib(WeFoundHim {
                    message: "Paul".into(),
                })
                .await;
            let _ = answered.unbounded_send(answer);
        }));
    }
    // Fifteen are answered, each refused; five hold their places.
    for _ in 0..15 {
        let answer = tokio::time::timeout(PATIENCE, answers.next())
            .await
            .expect("fifteen answers")
            .unwrap();
        assert_status(&answer.unwrap_err(), Code::Unavailable, "limit of 5 calls");
    }
    wait_for_live(&server, 5).await;
    let dune = r#"grpc_tour_refused_total{grpc_type="unary",grpc_service="tour.Dune",grpc_method="IsMuadDib"}"#;
    assert_eq!(samples(&server).await.get(dune), Some(&15.0));
    for call in calls {
        call.abort();
    }
    server.wait_until_idle().await;
}
