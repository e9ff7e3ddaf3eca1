//! A message over the size limit fails with `RESOURCE_EXHAUSTED`, as the gRPC spec and
//! every other implementation say, rather than tonic's `OUT_OF_RANGE`.
//!
//! tonic checks each message against `--max-message-size` before decoding it (or after
//! encoding it), and ends the call with `OUT_OF_RANGE`. A client in any other language
//! expects `RESOURCE_EXHAUSTED` for that, and may retry or report it differently; so this
//! layer rewrites the code of exactly those errors, wherever the status travels: in the
//! headers of a call that failed before its first message, or in the trailers of a stream.
//! Our own `OUT_OF_RANGE` errors (a route too long to sum) keep their code.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, combinators::MapFrame};
use pin_project_lite::pin_project;
use tonic::Code;
use tower_layer::Layer;
use tower_service::Service;

/// How tonic's size errors begin, as they travel in `grpc-message` (percent-encoded).
const TONIC_SIZE_ERRORS: [&str; 2] = [
    "Error,%20decoded%20message%20length%20too%20large",
    "Error,%20encoded%20message%20length%20too%20large",
];

/// Rewrites tonic's size errors in a header or trailer block; see the module documentation.
fn resource_exhausted_not_out_of_range(fields: &mut HeaderMap) {
    let out_of_range = fields.get("grpc-status").map(HeaderValue::as_bytes)
        == Some(i32::from(Code::OutOfRange).to_string().as_bytes());
    let from_tonic = fields
        .get("grpc-message")
        .and_then(|message| message.to_str().ok())
        .is_some_and(|message| TONIC_SIZE_ERRORS.iter().any(|e| message.starts_with(e)));
    if out_of_range && from_tonic {
        let code = i32::from(Code::ResourceExhausted);
        fields.insert("grpc-status", HeaderValue::from(code));
    }
}

fn fix_trailers<D>(mut frame: Frame<D>) -> Frame<D> {
    if let Some(trailers) = frame.trailers_mut() {
        resource_exhausted_not_out_of_range(trailers);
    }
    frame
}

/// A response body whose trailers get the same fix.
pub type FixedBody<B> = MapFrame<B, fn(Frame<<B as Body>::Data>) -> Frame<<B as Body>::Data>>;

/// The layer that fixes the code; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct OversizeLayer;

impl<S> Layer<S> for OversizeLayer {
    type Service = OversizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OversizeService { inner }
    }
}

/// The service that [`OversizeLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct OversizeService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for OversizeService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Body,
{
    type Response = http::Response<FixedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`OversizeService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Body,
{
    type Output = Result<http::Response<FixedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        resource_exhausted_not_out_of_range(response.headers_mut());
        let fix: fn(Frame<B::Data>) -> Frame<B::Data> = fix_trailers;
        Poll::Ready(Ok(response.map(|body| body.map_frame(fix))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(status: &str, message: &str) -> HeaderMap {
        let mut fields = HeaderMap::new();
        fields.insert("grpc-status", status.parse().unwrap());
        fields.insert("grpc-message", message.parse().unwrap());
        fields
    }

    #[test]
    fn only_tonics_size_errors_change_code() {
        for (status, message, expected) in [
            (
                "11",
                "Error,%20decoded%20message%20length%20too%20large:%20found",
                "8",
            ),
            (
                "11",
                "Error,%20encoded%20message%20length%20too%20large:%20found",
                "8",
            ),
            ("11", "the%20route%20is%20too%20long%20to%20sum", "11"),
            (
                "3",
                "Error,%20decoded%20message%20length%20too%20large",
                "3",
            ),
        ] {
            let mut fields = fields(status, message);
            resource_exhausted_not_out_of_range(&mut fields);
            assert_eq!(fields["grpc-status"], expected, "{message}");
        }
    }
}
