//! Refusing calls past the server's capacity: a bound on the calls in flight across every
//! connection, with the calls past it refused at once with `UNAVAILABLE`.
//!
//! None of this is tonic's. A tonic server of your own admits every call its clients send:
//! `max_concurrent_streams` bounds each connection (so a hundred connections may hold
//! 25,600 calls), and `Server::concurrency_limit_per_connection` and `load_shed` work per
//! connection too. Offered more than it can serve, such a server queues every call, and
//! every call's latency grows with the queue, past the clients' deadlines, while the server
//! does work nobody waits for any more (docs/performance.md, "Past capacity").
//!
//! The bound is the live-call gauge that [`super::observe`] keeps, read once per call: a
//! call that finds more than `--max-calls-in-flight` calls live (itself included) is
//! answered at once, before any layer inside this one or its handler runs, with a
//! trailers-only `UNAVAILABLE` ("retry with back-off" in gRPC's status guide; its request
//! was never read, so even a call that is not idempotent is safe to send again, here or to
//! another replica). A call is live until its response has ended, so a stream counts for as
//! long as it is open, and a chat held open for an hour holds its place for an hour. Health
//! checks are never refused: a balancer must go on seeing a busy replica as `SERVING`, or it
//! would move all of its load to the others at once. (Metrics scrapes never come here: they
//! are served on their own port.)
//!
//! What it bounds is the work the server has taken on: handlers running or waiting (on a
//! backend, a lock, Redis), and streams open. What it cannot see is the queue in front of
//! it: hyper accepts each stream in the connection's task and spawns a task for it, but
//! tonic's glue (`TowerToHyperService`, hyper-util) calls the tower layers only when that
//! task first runs. Calls waiting in the runtime's queue are not live yet, and a cheap call
//! like `Sum` is live only while it runs: with 2,000 `Sum` calls in flight, no call found
//! more than 20 live, and none was refused. docs/performance.md ("Past capacity") measures
//! it, and says why refusing queued calls instead would not help a client that sends a
//! refused call again at once: in a queue served in order, a refusal costs the server 71%
//! of a served `Sum`'s instructions, so refusing trades goodput for latency almost one for one.
//!
//! A static limit, not a wait queue or an adaptive one: docs/production.md, section 14,
//! argues the choice. Tower's `ConcurrencyLimit` + `LoadShed` would not do: their permit
//! ends with the response future, that is at the response's headers, so a stream would
//! count only until its first message.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::production::{layers::observe::LiveCalls, metrics::Metrics};

/// The path prefix of the health service's methods, which are never refused.
const HEALTH: &str = "/grpc.health.v1.Health/";

/// The layer that refuses calls past the limit; see the module documentation.
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    live: LiveCalls,
    limit: usize,
    metrics: Option<Arc<Metrics>>,
}

impl AdmissionLayer {
    /// Admits a call while `live` counts at most `limit` calls, itself included, and counts
    /// each refusal in `metrics`, if there are any. `live` must be the gauge of a layer
    /// outside this one, which has counted the call already.
    pub fn new(live: LiveCalls, limit: usize, metrics: Option<Arc<Metrics>>) -> Self {
        AdmissionLayer {
            live,
            limit,
            metrics,
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = AdmissionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService {
            inner,
            live: self.live.clone(),
            limit: self.limit,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service that [`AdmissionLayer`] wraps.
#[derive(Debug, Clone)]
pub struct AdmissionService<S> {
    inner: S,
    live: LiveCalls,
    limit: usize,
    metrics: Option<Arc<Metrics>>,
}

impl<S, Request, B> Service<http::Request<Request>> for AdmissionService<S>
where
    S: Service<http::Request<Request>, Response = http::Response<B>>,
{
    type Response = http::Response<Admitted<B>>;
    type Error = S::Error;
    type Future = AdmissionFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Request>) -> Self::Future {
        if self.live.count() <= self.limit || request.uri().path().starts_with(HEALTH) {
            return AdmissionFuture::Admitted {
                inner: self.inner.call(request),
            };
        }
        if let Some(metrics) = &self.metrics {
            metrics.method(request.uri().path()).refused();
        }
        let refusal = tonic::Status::unavailable(format!(
            "the server is at its limit of {} calls in flight (--max-calls-in-flight); \
             this call was not started: retry it with back-off",
            self.limit
        ))
        .into_http::<()>();
        AdmissionFuture::Refused {
            refusal: Some(refusal),
        }
    }
}

pin_project! {
    /// The response future of [`AdmissionService`]: the inner service's, or a refusal,
    /// ready at once.
    // The variants' fields are said above: pin-project-lite takes no doc comments on them.
    #[allow(missing_docs)]
    #[project = AdmissionProjection]
    pub enum AdmissionFuture<F> {
        /// Admitted: the layers and the handler inside answer.
        Admitted {
            #[pin]
            inner: F,
        },
        /// Refused: this answer, taken when polled.
        Refused {
            refusal: Option<http::Response<()>>,
        },
    }
}

impl<F, B, E> Future for AdmissionFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Admitted<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmissionProjection::Admitted { inner } => inner
                .poll(cx)
                .map_ok(|response| response.map(|inner| Admitted::Served { inner })),
            AdmissionProjection::Refused { refusal } => {
                let refusal = refusal.take().expect("polled after it was ready");
                Poll::Ready(Ok(refusal.map(|_| Admitted::Refused)))
            }
        }
    }
}

pin_project! {
    /// A response body: the handler's, or none at all for a refusal, whose status is in its
    /// headers (a "trailers-only" answer).
    #[allow(missing_docs)]
    #[project = AdmittedProjection]
    pub enum Admitted<B> {
        /// The handler's body.
        Served {
            #[pin]
            inner: B,
        },
        /// No body: the status is in the headers.
        Refused,
    }
}

impl<B: Body> Body for Admitted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project() {
            AdmittedProjection::Served { inner } => inner.poll_frame(cx),
            AdmittedProjection::Refused => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Admitted::Served { inner } => inner.is_end_stream(),
            Admitted::Refused => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Admitted::Served { inner } => inner.size_hint(),
            Admitted::Refused => SizeHint::with_exact(0),
        }
    }
}
