//! The messages of every call, read from their 5-byte prefixes as the bytes pass: a request
//! message over `--max-message-size` fails its call with `RESOURCE_EXHAUSTED`, the code the
//! gRPC spec and every other implementation give it, before the server buffers it; and the
//! messages each way are counted, for the metrics (`grpc_server_msg_received_total`,
//! `grpc_server_msg_sent_total`).
//!
//! Hand-written because no stock part fits: tonic enforces the same limit but reports
//! `OUT_OF_RANGE`, and tower-http's body limits count the bytes of a whole body, where a
//! stream's limit is per message. This reads the prefix of each message as it arrives
//! ([`Prefixes`]) and ends the call as soon as a length is over the limit, without waiting
//! for the message itself.
//!
//! A compressed message is measured as it travels; tonic checks its size again once
//! decompressed.
//!
//! The call layer (`observe`) uses both halves, on the request and on the response: it is
//! the one place that knows the call's method, and so where its counts go.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Status;

use crate::{
    production::metrics::MethodMetrics,
    protocol::prefix::{Piece, Prefixes},
};

/// The request, its body measured message by message against `limit` bytes, and its
/// messages counted into `received` when the server keeps metrics.
pub fn measure_request(
    request: http::Request<tonic::body::Body>,
    limit: usize,
    received: Option<Arc<MethodMetrics>>,
) -> http::Request<tonic::body::Body> {
    request.map(|body| {
        tonic::body::Body::new(MeasuredBody {
            inner: body,
            prefixes: Prefixes::default(),
            limit,
            received,
        })
    })
}

/// How many messages begin in `chunk`, the next chunk of a body that `prefixes` follows.
pub fn count(prefixes: &mut Prefixes, chunk: &[u8]) -> u64 {
    let mut chunk = chunk;
    let mut begun = 0;
    while let Some(piece) = prefixes.next(&mut chunk) {
        if let Piece::Prefix { .. } = piece {
            begun += 1;
        }
    }
    begun
}

/// How many messages begin in `chunk`, or the status that ends the call at the first
/// message longer than `limit`.
fn measure(prefixes: &mut Prefixes, mut chunk: &[u8], limit: usize) -> Result<u64, Status> {
    let mut begun = 0;
    while let Some(piece) = prefixes.next(&mut chunk) {
        if let Piece::Prefix { length, .. } = piece {
            if length > limit {
                return Err(Status::resource_exhausted(format!(
                    "a request message of {length} bytes is over the server's limit of \
                     {limit} bytes (--max-message-size)"
                )));
            }
            begun += 1;
        }
    }
    Ok(begun)
}

pin_project! {
    /// A request body that fails, with `RESOURCE_EXHAUSTED`, at the prefix of a message
    /// longer than its limit.
    struct MeasuredBody<B> {
        #[pin]
        inner: B,
        prefixes: Prefixes,
        limit: usize,
        // Where to count the messages, when the server keeps metrics.
        received: Option<Arc<MethodMetrics>>,
    }
}

impl<B> Body for MeasuredBody<B>
where
    B: Body<Data = Bytes, Error = Status>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(chunk) = frame.data_ref()
        {
            let begun = measure(this.prefixes, chunk, *this.limit)?;
            if let Some(received) = this.received {
                received.received(begun);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Measures `chunks` in order against `limit`, as one body.
    fn measured(chunks: &[&[u8]], limit: usize) -> Result<u64, Status> {
        let mut prefixes = Prefixes::default();
        chunks.iter().try_fold(0, |sum, chunk| {
            Ok(sum + measure(&mut prefixes, chunk, limit)?)
        })
    }

    fn message(length: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend(length.to_be_bytes());
        bytes.extend(std::iter::repeat_n(7, length as usize));
        bytes
    }

    #[test]
    fn messages_up_to_the_limit_pass_and_are_counted_once_in_any_chunking() {
        let body = [message(10), message(0), message(10)].concat();
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(measured(&[a, b], 10).unwrap(), 3, "split at {split}");
            let mut prefixes = Prefixes::default();
            assert_eq!(count(&mut prefixes, a) + count(&mut prefixes, b), 3);
        }
    }

    #[test]
    fn a_message_over_the_limit_fails_at_its_prefix() {
        let body = [message(10), message(11)].concat();
        // Only the prefix of the second message has arrived: that is enough.
        let status = measured(&[&body[..15 + 5]], 10).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("11 bytes"),
            "{}",
            status.message()
        );
        // A prefix split across chunks is read whole.
        let status = measured(&[&body[..17], &body[17..20]], 10).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }
}
