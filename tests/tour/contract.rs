//! Evolving the contract: what a client built from another version of the proto sees. The
//! messages below are written by hand, as a client generated from an older or newer proto
//! would have them, and sent to the real server.

use grpc_tour::lesson::proto::SumResponse;
use http::uri::PathAndQuery;
use tonic::{Code, Request, Status, client::Grpc};
use tonic_prost::ProstCodec;

use crate::support::{TestServer, spawn_test_server};

/// Calls `path` with `message`, as a client whose proto says so.
async fn call<M>(server: &TestServer, path: &'static str, message: M) -> Result<f64, Status>
where
    M: prost::Message + Send + Sync + 'static,
{
    let mut grpc = Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let codec = ProstCodec::<M, SumResponse>::default();
    let path = PathAndQuery::from_static(path);
    let response = grpc.unary(Request::new(message), path, codec).await?;
    Ok(response.into_inner().value)
}

// ANCHOR: newer_client
/// `SumRequest` as a newer proto has it: a field 3 added.
#[derive(Clone, PartialEq, prost::Message)]
struct SumRequestWithComment {
    #[prost(double, tag = "1")]
    value1: f64,
    #[prost(double, tag = "2")]
    value2: f64,
    #[prost(string, tag = "3")]
    comment: String,
}

#[tokio::test]
async fn a_field_the_server_does_not_know_is_skipped() {
    let server = spawn_test_server().await;
    let newer = SumRequestWithComment {
        value1: 2.0,
        value2: 3.0,
        comment: "from a newer client".to_owned(),
    };
    assert_eq!(
        call(&server, "/tour.Summator/Sum", newer).await.unwrap(),
        5.0
    );
}
// ANCHOR_END: newer_client

// ANCHOR: renumbered
/// `SumRequest` with `value2` renumbered from 2 to 3: the same names, another contract.
#[derive(Clone, PartialEq, prost::Message)]
struct SumRequestRenumbered {
    #[prost(double, tag = "1")]
    value1: f64,
    #[prost(double, tag = "3")]
    value2: f64,
}

#[tokio::test]
async fn a_renumbered_field_gives_a_wrong_answer_and_no_error() {
    let server = spawn_test_server().await;
    let renumbered = SumRequestRenumbered {
        value1: 2.0,
        value2: 3.0,
    };
    // The server skips field 3 as unknown, and reads value2 as its default, 0.
    assert_eq!(
        call(&server, "/tour.Summator/Sum", renumbered)
            .await
            .unwrap(),
        2.0
    );
}
// ANCHOR_END: renumbered

// ANCHOR: removed_method
#[tokio::test]
async fn a_method_the_server_does_not_have_is_unimplemented() {
    let server = spawn_test_server().await;
    let request = SumRequestRenumbered::default();
    let status = call(&server, "/tour.Summator/Subtract", request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}
// ANCHOR_END: removed_method

/// `SumRequest` with `value1` changed from `double` to `int64`: another wire type (a varint,
/// where a double is 8 fixed bytes) under the same number.
#[derive(Clone, PartialEq, prost::Message)]
struct SumRequestRetyped {
    #[prost(int64, tag = "1")]
    value1: i64,
    #[prost(double, tag = "2")]
    value2: f64,
}

#[tokio::test]
async fn a_field_of_another_wire_type_fails_to_decode_in_prost() {
    let server = spawn_test_server().await;
    let retyped = SumRequestRetyped {
        value1: 2,
        value2: 3.0,
    };
    // prost refuses a field whose wire type is not its own; tonic answers INTERNAL. (Python's
    // protobuf skips such a field as unknown instead: `.ci/interop` checks that side.)
    let status = call(&server, "/tour.Summator/Sum", retyped)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
}
