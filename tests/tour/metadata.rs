//! Metadata: the bearer token (`--token`) and request ids.

use grpc_tour::{
    lesson::proto::{SumRequest, summator_client::SummatorClient},
    production::server::Config,
};
use prost::Message;
use tonic::{
    Code, Request,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::{TestServer, assert_status, spawn_server, spawn_test_server, test_config};

const TOKEN: &str = "the-spice-must-flow";

async fn spawn_guarded_server() -> TestServer {
    spawn_server(Config {
        token: Some(TOKEN.to_owned()),
        ..test_config()
    })
    .await
}

/// A Summator client that sends `authorization: Bearer TOKEN` with every call, from an
/// interceptor, as `examples/summator.rs` does.
async fn summator_with_token(
    server: &TestServer,
    token: Option<&str>,
) -> SummatorClient<InterceptedService<Channel, impl Interceptor>> {
    let token: Option<MetadataValue<Ascii>> =
        token.map(|token| format!("Bearer {token}").parse().unwrap());
    SummatorClient::with_interceptor(server.channel().await, move |mut request: Request<()>| {
        if let Some(token) = &token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    })
}

fn two_and_three() -> SumRequest {
    SumRequest {
        value1: 2.0,
        value2: 3.0,
    }
}

#[tokio::test]
async fn a_guarded_server_answers_only_calls_with_its_token() {
    let server = spawn_guarded_server().await;

    let mut without = summator_with_token(&server, None).await;
    let status = without.sum(two_and_three()).await.unwrap_err();
    assert_status(
        &status,
        Code::Unauthenticated,
        "requires `authorization: Bearer",
    );

    let mut wrong = summator_with_token(&server, Some("the-spice-must-stop")).await;
    let status = wrong.sum(two_and_three()).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, "not the server's");

    let mut right = summator_with_token(&server, Some(TOKEN)).await;
    let sum = right.sum(two_and_three()).await.unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
    server.wait_until_idle().await;
}

#[tokio::test]
async fn health_checks_stay_open_on_a_guarded_server() {
    let server = spawn_guarded_server().await;
    let mut health = HealthClient::new(server.channel().await);

    let answer = health.check(HealthCheckRequest::default()).await.unwrap();

    assert_eq!(
        answer.into_inner().status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

#[tokio::test]
async fn a_clients_request_id_comes_back_in_the_response() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;
    let mut request = Request::new(two_and_three());
    request
        .metadata_mut()
        .insert("x-request-id", "harkonnen-42".parse().unwrap());

    let response = summator.sum(request).await.unwrap();

    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "harkonnen-42"
    );
}

#[tokio::test]
async fn a_request_id_is_echoed_on_errors_too_and_never_made_up() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;
    let mut bad = Request::new(SumRequest {
        value1: f64::NAN,
        value2: 1.0,
    });
    bad.metadata_mut()
        .insert("x-request-id", "harkonnen-43".parse().unwrap());

    let error = summator.sum(bad).await.unwrap_err();
    let plain = summator.sum(two_and_three()).await.unwrap();

    assert_eq!(
        error.metadata().get("x-request-id").unwrap(),
        "harkonnen-43"
    );
    // A call that sent none gets none: its trace id names it in the server's log.
    assert_eq!(plain.metadata().get("x-request-id"), None);
}

// ANCHOR: reading_metadata
#[tokio::test]
async fn a_client_reads_headers_from_the_response_and_details_from_the_trailers() {
    let server = spawn_server(Config {
        replica_name: Some("replica-1".to_owned()),
        ..test_config()
    })
    .await;
    let mut summator = server.summator().await;

    // What the server's layers add to every response is in its metadata: here the name
    // `--replica-name` gave it.
    let response = summator.sum(two_and_three()).await.unwrap();
    let metadata = response.metadata();
    assert_eq!(metadata.get("x-served-by").unwrap(), "replica-1");

    // An error's details travel in a binary trailer, `grpc-status-details-bin` (base64 on
    // the wire); tonic decodes it into `status.details()`, a `google.rpc.Status`.
    let not_a_number = SumRequest {
        value1: f64::NAN,
        value2: 1.0,
    };
    let status = summator.sum(not_a_number).await.unwrap_err();
    let details = tonic_types::pb::Status::decode(status.details()).unwrap();
    assert_eq!(details.code, Code::InvalidArgument as i32);
    let type_url = &details.details[0].type_url;
    assert_eq!(type_url, "type.googleapis.com/google.rpc.BadRequest");
    // And the error's own metadata carries the layers' headers too.
    assert!(status.metadata().get("x-served-by").is_some());
}
// ANCHOR_END: reading_metadata
