//! Ending the calls the server will no longer wait for: those past their deadline, and those
//! still running when the shutdown grace period is over.
//!
//! A gRPC client sends its deadline as a `grpc-timeout` header ("answer within 500 ms").
//! Past it, the answer is useless: the server should stop working on the call and tell the
//! client `DEADLINE_EXCEEDED`. tonic's server does part of this: it honours `grpc-timeout`
//! only until the response *headers* are sent, so a stream that has started runs on
//! forever, and it reports `CANCELLED`. This layer covers the whole call, streams included,
//! and reports the code the gRPC spec asks for. It also gives every call a server-side
//! limit, so that a client that sets no deadline cannot hold a call open forever.
//!
//! One call is meant to stay open: a health check's `Watch`, which a load balancer holds
//! for as long as it watches the server. It gets no server-side limit (a client's own
//! deadline still holds), or every balancer would see every replica's watch end at once,
//! every `--max-deadline`.
//!
//! The same mechanism ends the calls still open when a graceful shutdown's grace period is
//! over: they get `UNAVAILABLE`, the code that tells a client to retry elsewhere.
//!
//! Ending a call means: before the response starts, answer with the status alone and drop
//! the handler's future; once it has started, send the status as the trailers and drop the
//! response stream. Dropping is what stops the server's work, as when a client hangs up.
//!
//! A client that stops reading stops all of that: hyper does not poll a response body
//! while it waits for the client's flow-control window, so this layer never runs for that
//! call. Each call's deadline is therefore also registered with its connection's watch
//! (`production::connection`), which closes the connection once the call is overdue.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Buf;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    production::connection::{ConnectionInfo, Registration, sleep_until_some},
    protocol::timeout,
};

/// How much sooner than the client's deadline this layer ends a call. tonic's own
/// `grpc-timeout` check runs outside this layer and answers `CANCELLED`; ending the call
/// first is what makes the client see `DEADLINE_EXCEEDED`. tonic starts its timer just
/// after it calls into this layer (`GrpcTimeout` in tonic's `transport/service`), and the
/// timer wheel counts whole milliseconds: a millisecond ahead makes sure this layer's comes
/// first, and is far less than any deadline worth setting.
const AHEAD_OF_TONIC: Duration = Duration::from_millis(1);

/// The header that carries a client's deadline, as a duration.
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The layer that ends calls; see the module documentation.
#[derive(Debug, Clone)]
pub struct CutoffLayer {
    max_deadline: Duration,
    /// In an `Arc`: the stack of layers is cloned for every call, and cloning a
    /// `CancellationToken` itself takes a lock.
    grace_over: Arc<CancellationToken>,
}

impl CutoffLayer {
    /// Ends each call at the client's deadline or after `max_deadline`, whichever is
    /// sooner, and every call still open once `grace_over` is cancelled.
    pub fn new(max_deadline: Duration, grace_over: CancellationToken) -> Self {
        CutoffLayer {
            max_deadline,
            grace_over: Arc::new(grace_over),
        }
    }

    fn cutoff_for<B>(&self, request: &http::Request<B>) -> Cutoff {
        let max_deadline = match request.uri().path() {
            HEALTH_WATCH => None,
            _ => Some(self.max_deadline),
        };
        let client = request
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|value| timeout::parse(value.as_bytes()))
            .filter(|client| max_deadline.is_none_or(|max| *client < max));
        let timeout = match client {
            Some(client) => Some(client.saturating_sub(AHEAD_OF_TONIC)),
            None => max_deadline,
        };
        // The clock starts now, as the call arrives, not when the future is first polled.
        // A deadline too far to count in an `Instant` is no deadline.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        Cutoff {
            deadline,
            registration: ConnectionInfo::of(request)
                .map(|connection| connection.register(deadline)),
            client,
            max_deadline: self.max_deadline,
            grace_over: Arc::clone(&self.grace_over),
            armed: None,
        }
    }
}

/// The health check's stream of status changes, open for as long as a balancer watches.
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

/// When a call must end, and what ends it: its deadline, or the end of the grace period.
struct Cutoff {
    /// `None` for a call with no deadline at all: a health watch without one of its own.
    deadline: Option<Instant>,
    /// The call, as its connection's watch knows it; dropped with the call.
    registration: Option<Registration>,
    client: Option<Duration>,
    max_deadline: Duration,
    grace_over: Arc<CancellationToken>,
    /// The timer and the shutdown watch, armed only once the call waits for something. A
    /// call that never waits (most unary calls: the answer is ready at the first poll)
    /// never touches the timer wheel; one that keeps sending is checked at every frame.
    armed: Option<Pin<Box<dyn Future<Output = Status> + Send>>>,
}

impl Cutoff {
    /// The status to end the call with, if its time is up already.
    fn reached(&self) -> Option<Status> {
        if self.grace_over.is_cancelled() {
            Some(grace_over())
        } else if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            Some(passed(self.client, self.max_deadline))
        } else {
            None
        }
    }

    /// Arms the cutoff, if it is not yet, and asks whether it has come. Called when the call
    /// itself has nothing ready, so that the cutoff wakes the call while it waits.
    fn poll_reached(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        if self.armed.is_none() {
            let (deadline, grace) = (self.deadline, CancellationToken::clone(&self.grace_over));
            let (client, max_deadline) = (self.client, self.max_deadline);
            self.armed = Some(Box::pin(async move {
                tokio::select! {
                    () = sleep_until_some(deadline) => passed(client, max_deadline),
                    () = grace.cancelled_owned() => grace_over(),
                }
            }));
        }
        self.armed
            .as_mut()
            .map_or(Poll::Pending, |armed| armed.as_mut().poll(cx))
    }
}

/// The status of a call still open when the shutdown's grace period is over.
fn grace_over() -> Status {
    Status::unavailable(
        "the server is shutting down and the grace period for calls in flight is over",
    )
}

/// The status of a call past its deadline: the client's, or else the server's limit.
fn passed(client: Option<Duration>, max_deadline: Duration) -> Status {
    let message = match client {
        Some(client) => format!(
            "the client's deadline ({}) passed",
            humantime::format_duration(client)
        ),
        None => format!(
            "the call reached the server's limit of {} per call (--max-deadline)",
            humantime::format_duration(max_deadline)
        ),
    };
    Status::deadline_exceeded(message)
}

impl<S> Layer<S> for CutoffLayer {
    type Service = CutoffService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CutoffService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service that [`CutoffLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct CutoffService<S> {
    inner: S,
    layer: CutoffLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CutoffService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<CutoffBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let cutoff = self.layer.cutoff_for(&request);
        ResponseFuture {
            inner: self.inner.call(request),
            cutoff: Some(cutoff),
        }
    }
}

pin_project! {
    /// The response future of [`CutoffService`]: the handler's answer, unless the cutoff
    /// comes first.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cutoff: Option<Cutoff>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<CutoffBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            let cutoff = this.cutoff.take();
            return Poll::Ready(
                response.map(|response| response.map(|inner| CutoffBody::running(inner, cutoff))),
            );
        }
        match this.cutoff.as_mut().map(|cutoff| cutoff.poll_reached(cx)) {
            // A status with no body: gRPC's "trailers-only" response.
            Some(Poll::Ready(status)) => Poll::Ready(Ok(status.into_http())),
            _ => Poll::Pending,
        }
    }
}

pin_project! {
    #[project = CutoffBodyProj]
    /// A response body that ends with the cutoff's status if the cutoff comes before the
    /// body's own end.
    pub struct CutoffBody<B> {
        // `None` once ended: by the cutoff, or for a response that never had a body.
        #[pin]
        inner: Option<B>,
        cutoff: Option<Cutoff>,
        // Frames sent so far, to look at the clock only every so often.
        frames: u32,
    }
}

/// How many frames a busy stream sends between two looks at the clock. A stream that waits
/// needs no look (the armed cutoff wakes it), and a unary answer (two frames) never gets
/// one: reading the clock is not free, and a call has many layers that read it.
const FRAMES_BETWEEN_CHECKS: u32 = 32;

impl<B> CutoffBody<B> {
    fn running(inner: B, cutoff: Option<Cutoff>) -> Self {
        CutoffBody {
            inner: Some(inner),
            cutoff,
            frames: 0,
        }
    }
}

impl<B> Default for CutoffBody<B> {
    fn default() -> Self {
        CutoffBody {
            inner: None,
            cutoff: None,
            frames: 0,
        }
    }
}

/// What polling a body for its next frame gives.
type PolledFrame<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// Ends a call with `status` as its trailers, dropping the handler's stream: dropping it is
/// what stops its work.
fn end<B: Body>(mut this: CutoffBodyProj<'_, B>, status: Status) -> PolledFrame<B> {
    *this.cutoff = None;
    this.inner.set(None);
    let mut trailers = HeaderMap::new();
    // Only fails for a message that is not a valid header; ours all are.
    let _ = status.add_header(&mut trailers);
    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
}

impl<B: Body> Body for CutoffBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        // Checked every so often: a stream with plenty to send never waits, so the armed
        // cutoff would never get its turn.
        *this.frames = this.frames.wrapping_add(1);
        if this.frames.is_multiple_of(FRAMES_BETWEEN_CHECKS)
            && let Some(status) = this.cutoff.as_ref().and_then(Cutoff::reached)
        {
            return end(this, status);
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let Poll::Ready(frame) = inner.poll_frame(cx) else {
            return match this.cutoff.as_mut().map(|cutoff| cutoff.poll_reached(cx)) {
                Some(Poll::Ready(status)) => end(this, status),
                _ => Poll::Pending,
            };
        };
        let finished = match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(registration)) = (
                    frame.data_ref(),
                    this.cutoff
                        .as_mut()
                        .and_then(|cutoff| cutoff.registration.as_mut()),
                ) {
                    registration.sent(data.remaining());
                }
                frame.is_trailers()
            }
            _ => true,
        };
        if finished {
            // The call's own status is on its way: too late for the cutoff to send another.
            *this.cutoff = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or(SizeHint::with_exact(0), Body::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Duration> {
        timeout::parse(text.as_bytes())
    }

    #[test]
    fn parses_every_unit_of_the_spec() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("4S"), Some(Duration::from_secs(4)));
        assert_eq!(parse("500m"), Some(Duration::from_millis(500)));
        assert_eq!(parse("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
    }

    fn request(path: &str, grpc_timeout: Option<&str>) -> http::Request<()> {
        let mut request = http::Request::post(path);
        if let Some(timeout) = grpc_timeout {
            request = request.header("grpc-timeout", timeout);
        }
        request.body(()).unwrap()
    }

    #[tokio::test]
    async fn a_limit_too_far_to_count_is_no_limit_rather_than_a_panic() {
        let layer = CutoffLayer::new(Duration::MAX, CancellationToken::new());
        let cutoff = layer.cutoff_for(&request("/tour.Summator/Sum", None));
        assert_eq!(cutoff.deadline, None);
        assert!(cutoff.reached().is_none());
    }

    #[tokio::test]
    async fn a_health_watch_gets_no_server_limit_but_keeps_its_clients_deadline() {
        let layer = CutoffLayer::new(Duration::from_secs(3), CancellationToken::new());
        let watch = layer.cutoff_for(&request(HEALTH_WATCH, None));
        assert_eq!(watch.deadline, None);
        let check = layer.cutoff_for(&request("/grpc.health.v1.Health/Check", None));
        assert!(check.deadline.is_some());
        // A client's own deadline on a watch still holds, even past the server's limit.
        let start = Instant::now();
        let watch = layer.cutoff_for(&request(HEALTH_WATCH, Some("10S")));
        let deadline = watch.deadline.expect("the client's deadline");
        assert!(deadline >= start + Duration::from_secs(9), "{deadline:?}");
    }

    #[test]
    fn refuses_what_the_spec_does_not_allow() {
        for bad in [
            "",
            "S",
            "5",
            "5s",
            "123456789S",
            "-1S",
            "+1S",
            "1.5S",
            "1 S",
            " 1S",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
