//! The Summator service: the smallest useful unary RPC.
//!
//! A unary handler is an `async fn` that takes one `Request` and returns one `Response` or a
//! `Status`. The arithmetic lives in a plain function, [`sum`], so it can be tested without
//! a server; the handler only unwraps the request and wraps the answer.

use tonic::{Request, Response, Status};

use crate::lesson::{
    error::Error,
    proto::{SumRequest, SumResponse, summator_server},
};

/// Adds two numbers for any client.
#[derive(Debug, Default)]
pub struct Summator;

// ANCHOR: sum_handler
#[tonic::async_trait]
impl summator_server::Summator for Summator {
    /// Unary: adds `value1` and `value2`.
    async fn sum(&self, request: Request<SumRequest>) -> Result<Response<SumResponse>, Status> {
        let SumRequest { value1, value2 } = request.into_inner();
        let value = sum(value1, value2)?;
        Ok(Response::new(SumResponse { value }))
    }
}
// ANCHOR_END: sum_handler

/// `value1 + value2`, for finite inputs whose sum is finite.
///
/// A NaN or an infinity in a request is almost always a bug in the caller, so it is refused
/// rather than propagated; two huge finite numbers can still overflow, which is a result the
/// response cannot carry rather than a bad argument.
pub fn sum(value1: f64, value2: f64) -> Result<f64, Error> {
    finite("value1", value1)?;
    finite("value2", value2)?;
    let total = value1 + value2;
    if total.is_finite() {
        Ok(total)
    } else {
        Err(Error::OutOfRange(format!(
            "{value1:e} + {value2:e} overflows a double"
        )))
    }
}

fn finite(field: &str, value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a finite number, got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn adds_finite_numbers() {
        assert_eq!(sum(2.0, 3.5), Ok(5.5));
        assert_eq!(sum(-1.25, 1.25), Ok(0.0));
    }

    #[test]
    fn refuses_nan_and_infinity_naming_the_field() {
        let error = sum(f64::NAN, 1.0).unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert_eq!(error.to_string(), "value1 must be a finite number, got NaN");

        let error = sum(1.0, f64::NEG_INFINITY).unwrap_err();
        assert_eq!(
            error.to_string(),
            "value2 must be a finite number, got -inf"
        );
    }

    #[test]
    fn reports_overflow_as_out_of_range() {
        let error = sum(f64::MAX, f64::MAX).unwrap_err();
        assert_eq!(error.code(), Code::OutOfRange);
    }
}
