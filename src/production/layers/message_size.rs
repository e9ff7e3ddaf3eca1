//! A request message over `--max-message-size` fails with `RESOURCE_EXHAUSTED`, the code the
//! gRPC spec and every other implementation give it, before the server buffers it.
//!
//! Hand-written because no stock part fits: tonic enforces the same limit but reports
//! `OUT_OF_RANGE`, and tower-http's body limits count the bytes of a whole body, where a
//! stream's limit is per message. This reads the 5-byte prefix of each message as it
//! arrives (a flag and a big-endian length) and ends the call as soon as a length is over
//! the limit, without waiting for the message itself.
//!
//! A compressed message is measured as it travels; tonic checks its size again once
//! decompressed.
//!
//! Reading the prefixes also counts the messages, for the metrics
//! (`grpc_server_msg_received_total`): the observe layer leaves the call's
//! [`MethodMetrics`] in the request's extensions, and the count goes there. The same
//! `Messages` counts the response's messages for it (`grpc_server_msg_sent_total`).

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use std::sync::Arc;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Status;

use crate::production::metrics::MethodMetrics;

/// The request, its body measured message by message against `limit` bytes.
pub fn limit_messages(
    request: http::Request<tonic::body::Body>,
    limit: usize,
) -> http::Request<tonic::body::Body> {
    let received = request.extensions().get::<Arc<MethodMetrics>>().cloned();
    request.map(|body| {
        tonic::body::Body::new(MeasuredBody {
            inner: body,
            messages: Messages::new(limit),
            received,
        })
    })
}

/// A gRPC message's prefix: a compressed flag, then its length as a big-endian u32.
const PREFIX: usize = 5;

pin_project! {
    /// A request body that fails, with `RESOURCE_EXHAUSTED`, at the prefix of a message
    /// longer than its limit.
    struct MeasuredBody<B> {
        #[pin]
        inner: B,
        messages: Messages,
        // Where to count the messages, when the server keeps metrics.
        received: Option<Arc<MethodMetrics>>,
    }
}

/// Where a body is in its stream of messages, chunk after chunk.
#[derive(Debug)]
pub(crate) struct Messages {
    limit: usize,
    /// The prefix of the next message, as far as it has arrived.
    prefix: [u8; PREFIX],
    prefix_read: usize,
    /// Bytes of the current message still to come.
    message_left: usize,
}

impl Messages {
    /// A body at its start, whose messages may be `limit` bytes at most.
    pub(crate) fn new(limit: usize) -> Self {
        Messages {
            limit,
            prefix: [0; PREFIX],
            prefix_read: 0,
            message_left: 0,
        }
    }

    /// Follows the messages through the next chunk of a body with no limit, and says how
    /// many began in it.
    pub(crate) fn count(&mut self, chunk: &[u8]) -> u64 {
        self.measure(chunk).unwrap_or_default()
    }

    /// Follows the messages through the next chunk of the body, and says how many began in
    /// it (their prefixes read whole).
    fn measure(&mut self, mut chunk: &[u8]) -> Result<u64, Status> {
        let mut begun = 0;
        while !chunk.is_empty() {
            if self.message_left > 0 {
                let skipped = self.message_left.min(chunk.len());
                self.message_left -= skipped;
                chunk = &chunk[skipped..];
                continue;
            }
            let taken = (PREFIX - self.prefix_read).min(chunk.len());
            self.prefix[self.prefix_read..self.prefix_read + taken]
                .copy_from_slice(&chunk[..taken]);
            self.prefix_read += taken;
            chunk = &chunk[taken..];
            if self.prefix_read == PREFIX {
                self.prefix_read = 0;
                let [_, a, b, c, d] = self.prefix;
                let length =
                    usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
                if length > self.limit {
                    return Err(Status::resource_exhausted(format!(
                        "a request message of {length} bytes is over the server's limit of \
                         {} bytes (--max-message-size)",
                        self.limit
                    )));
                }
                self.message_left = length;
                begun += 1;
            }
        }
        Ok(begun)
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
            let begun = this.messages.measure(chunk)?;
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
    fn measure(chunks: &[&[u8]], limit: usize) -> Result<(), Status> {
        let mut messages = Messages::new(limit);
        chunks
            .iter()
            .try_for_each(|chunk| messages.measure(chunk).map(drop))
    }

    fn message(length: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend(length.to_be_bytes());
        bytes.extend(std::iter::repeat_n(7, length as usize));
        bytes
    }

    #[test]
    fn messages_up_to_the_limit_pass_in_any_chunking() {
        let body = [message(10), message(0), message(10)].concat();
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert!(measure(&[a, b], 10).is_ok(), "split at {split}");
        }
    }

    #[test]
    fn each_message_is_counted_once_in_any_chunking() {
        let body = [message(10), message(0), message(3)].concat();
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            let mut messages = Messages::new(usize::MAX);
            assert_eq!(messages.count(a) + messages.count(b), 3, "split at {split}");
        }
    }

    #[test]
    fn a_message_over_the_limit_fails_at_its_prefix() {
        let body = [message(10), message(11)].concat();
        // Only the prefix of the second message has arrived: that is enough.
        let status = measure(&[&body[..15 + PREFIX]], 10).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("11 bytes"),
            "{}",
            status.message()
        );
        // A prefix split across chunks is read whole.
        let status = measure(&[&body[..17], &body[17..20]], 10).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }
}
