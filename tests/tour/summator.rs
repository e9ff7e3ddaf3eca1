//! Summator.Sum: unary addition, and the statuses for inputs it cannot add.

use grpc_tour::lesson::proto::SumRequest;
use prost::Message;
use tonic::Code;

use crate::support::{assert_bad_field, assert_status, spawn_test_server};

fn request(value1: f64, value2: f64) -> SumRequest {
    SumRequest { value1, value2 }
}

// ANCHOR: sum_adds
#[tokio::test]
async fn sum_adds_the_two_values() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;

    for (a, b, total) in [(2.0, 3.0, 5.0), (-1.5, 0.25, -1.25), (1e300, 1e300, 2e300)] {
        let response = summator.sum(request(a, b)).await.unwrap().into_inner();
        assert_eq!(response.value, total, "{a} + {b}");
    }
}
// ANCHOR_END: sum_adds

#[tokio::test]
async fn sum_refuses_nan_or_infinity_naming_the_field() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;

    let status = summator.sum(request(f64::NAN, 1.0)).await.unwrap_err();
    assert_bad_field(&status, "value1", "must be a finite number");

    let status = summator.sum(request(1.0, f64::INFINITY)).await.unwrap_err();
    assert_bad_field(&status, "value2", "must be a finite number");
}

#[tokio::test]
async fn sum_that_overflows_is_out_of_range() {
    let server = spawn_test_server().await;
    let mut summator = server.summator().await;

    let status = summator.sum(request(f64::MAX, f64::MAX)).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "overflows a double");
}

// ANCHOR: encoding
#[test]
fn a_sum_request_is_a_few_tagged_bytes_on_the_wire() {
    // Each field is a tag, (field number << 3) | wire type, then the value. Wire type 1
    // is "64 bits", here a little-endian double: 2.0 is 0x4000000000000000.
    let two_and_three = [
        0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, // field 1 (value1): 2.0
        0x11, 0, 0, 0, 0, 0, 0, 0x08, 0x40, // field 2 (value2): 3.0
    ];
    assert_eq!(request(2.0, 3.0).encode_to_vec(), two_and_three);

    // A field at its default value is not sent at all, and a reader that finds no field 2
    // takes 0.0: a renumbered field does not fail, it silently reads as zero.
    assert_eq!(request(2.0, 0.0).encode_to_vec(), two_and_three[..9]);
}
// ANCHOR_END: encoding
