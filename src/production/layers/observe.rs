//! Watching every call from outside the services: how many calls are live, the Prometheus
//! metrics of each (`crate::production::metrics`), its place in a trace (`traceparent`), one
//! log line per call with its service, method, peer, trace id, gRPC status and latency, and
//! its messages, held to `--max-message-size` and counted both ways ([`super::messages`]).
//! None of this is tonic's: a tonic server of your own counts, logs and traces nothing
//! until a layer like this one is added, and reports an oversized message as `OUT_OF_RANGE`.
//!
//! This is a tower layer around the whole server, so no handler has to remember to log or
//! count. When a call ends, one event is logged with all of its fields, under the target
//! `grpc_tour::calls`. The server logs them with `--log-calls` (or when a `RUST_LOG` it is
//! given enables that target); by default it does not, and the metrics count every call instead: a line
//! per call cost the server a fifth of its calls a second (docs/observability.md).
//!
//! Each call belongs to a trace: the client's, when it sent a W3C `traceparent`, or a new
//! one. Its log line and its span carry `trace_id` and `span_id`. At debug level
//! (`RUST_LOG=grpc_tour=debug`) each call gets that span, entered whenever its handler or
//! response stream runs, so that anything a handler logs says which call it belongs to. At
//! the default level the span is never created: on a busy server it would cost more than
//! the line itself.
//!
//! A call is live from the moment its request arrives until its response body has been
//! sent or dropped, which for a stream means until the last message went out or the client
//! hung up. So when every client has gone, [`LiveCalls`] reads zero again: a test can prove
//! that no call's work outlived its client.
//!
//! The status of a gRPC call is not in the HTTP status (that is 200 even for errors) but in
//! the `grpc-status` field of the trailers, or of the headers for an error sent before any
//! message ("trailers-only"). The layer reads it from whichever carries it.
//!
//! Why not tower-http's parts (`TraceLayer::new_for_grpc`, `OnEarlyDropLayer` for a client
//! that hangs up, `InFlightRequestsLayer` for the gauge): their fields must live in an
//! info-level span per call, and they wrap each body three times where this wraps it once.
//! With them, the server served 9% fewer `Sum` calls a second (79,830 against 87,321, both
//! with tower-http's request ids; h2load, medians of 3 interleaved runs, 2026-12-01).

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Buf;
use http::{HeaderMap, HeaderName, HeaderValue, uri::PathAndQuery};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tonic::Code;
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Level, Span};

use crate::{
    production::{
        connection::ConnectionInfo,
        layers::{
            messages,
            trace_context::{TRACEPARENT, TraceContext},
        },
        metrics::{MethodMetrics, Metrics},
        web::GrpcWeb,
    },
    protocol::prefix::Prefixes,
};

/// The header that carries a client's request id, which the server echoes and logs.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The target of the per-call log lines: `RUST_LOG=grpc_tour::calls=info` shows them.
pub const CALLS: &str = "grpc_tour::calls";

/// A gauge of the calls in progress, shared by the layer and anyone watching it.
///
/// A counter and a `Notify` rather than a `watch` channel: every call moves the gauge
/// twice, and waking watchers costs nothing when nobody is waiting, which is always, outside
/// the tests.
#[derive(Debug, Clone, Default)]
pub struct LiveCalls(Arc<Gauge>);

#[derive(Debug, Default)]
struct Gauge {
    live: AtomicUsize,
    changed: Notify,
}

impl LiveCalls {
    /// How many calls are in progress now.
    pub fn count(&self) -> usize {
        self.0.live.load(Ordering::Acquire)
    }

    /// Waits until exactly `count` calls are in progress.
    pub async fn wait_for(&self, count: usize) {
        loop {
            // Registered before the count is read, so a change in between still wakes us.
            let changed = self.0.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.count() == count {
                return;
            }
            changed.await;
        }
    }

    /// Counts a call in (`true`) or out, and wakes whoever waits for a count.
    fn count_in(&self, arriving: bool) {
        if arriving {
            self.0.live.fetch_add(1, Ordering::AcqRel);
        } else {
            self.0.live.fetch_sub(1, Ordering::AcqRel);
        }
        self.0.changed.notify_waiters();
    }
}

/// The client's address, which tonic records on every request it accepts, TLS or not.
fn peer<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    ConnectionInfo::of(request).and_then(|connection| connection.tcp.remote_addr())
}

/// The layer that watches every call; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct ObserveLayer {
    watch: Watch,
}

/// What the layer records each call into, and the limit it holds request messages to.
#[derive(Debug, Clone, Default)]
struct Watch {
    live: LiveCalls,
    metrics: Option<Arc<Metrics>>,
    max_message_size: usize,
}

impl ObserveLayer {
    /// A layer that counts its calls in `live`, records them in `metrics` if there are any,
    /// and fails a call whose request has a message over `max_message_size` bytes.
    pub fn new(live: LiveCalls, metrics: Option<Arc<Metrics>>, max_message_size: usize) -> Self {
        ObserveLayer {
            watch: Watch {
                live,
                metrics,
                max_message_size,
            },
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            watch: self.watch.clone(),
        }
    }
}

impl Watch {
    fn begin<B>(&self, request: &http::Request<B>) -> Call {
        self.live.count_in(true);
        let method = self.metrics.as_ref().map(|metrics| {
            let method = Arc::clone(metrics.method(request.uri().path()));
            method.start();
            method
        });
        // What only a log line or a span shows is gathered only when one will be written.
        let recorded =
            tracing::enabled!(target: CALLS, Level::INFO) || tracing::enabled!(Level::DEBUG);
        Call {
            started: Instant::now(),
            web: request.extensions().get::<GrpcWeb>().is_some(),
            status: None,
            live: self.live.clone(),
            metrics: method.map(|method| (method, Prefixes::default())),
            record: recorded.then(|| Box::new(Record::of(request))),
        }
    }
}

/// The service that [`ObserveLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
    watch: Watch,
}

impl<S, ResBody> Service<http::Request<tonic::body::Body>> for ObserveService<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let call = self.watch.begin(&request);
        // The request's messages, each held to the limit as its prefix arrives, and counted.
        let received = call.metrics.as_ref().map(|(method, _)| Arc::clone(method));
        let request = messages::measure_request(request, self.watch.max_message_size, received);
        ResponseFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

/// One call in progress. Dropping it ends the call: the gauge goes down, the metrics count
/// it and the line is logged, however the call ended.
struct Call {
    started: Instant,
    /// Whether it came over gRPC-Web (`production::web` marks those).
    web: bool,
    /// The gRPC status, once the server has sent it.
    status: Option<Code>,
    live: LiveCalls,
    /// The method's metrics, and where the response is in its messages, to count those
    /// sent; `None` when the server keeps no metrics.
    metrics: Option<(Arc<MethodMetrics>, Prefixes)>,
    /// What the log line and the span show, when either is enabled.
    record: Option<Box<Record>>,
}

/// A call as its log line and its span show it.
struct Record {
    /// At debug level, a span around everything the handler does, so that its own events
    /// say which call they belong to.
    span: Span,
    /// `/package.Service/Method`, as the request had it (a cheap, shared copy).
    path: Option<PathAndQuery>,
    peer: Option<SocketAddr>,
    /// The client's `x-request-id`, if it sent one.
    request_id: Option<HeaderValue>,
    /// This call's span in its trace: a child of the client's, or the first of a new trace.
    trace: TraceContext,
}

impl Record {
    fn of<B>(request: &http::Request<B>) -> Self {
        let headers = request.headers();
        let trace = headers
            .get(TRACEPARENT)
            .and_then(|parent| TraceContext::parse(parent.as_bytes()))
            .map_or_else(TraceContext::new_trace, |parent| parent.child());
        let path = request.uri().path_and_query().cloned();
        Record {
            span: tracing::debug_span!(
                "call",
                path = path.as_ref().map(|p| p.as_str()),
                trace_id = %trace.trace_id_hex(),
                span_id = %trace.span_id_hex(),
            ),
            path,
            peer: peer(request),
            request_id: headers.get(REQUEST_ID).cloned(),
            trace,
        }
    }
}

impl Call {
    fn note_status(&mut self, fields: &HeaderMap) {
        if let Some(status) = fields.get(GRPC_STATUS) {
            self.status = Some(Code::from_bytes(status.as_bytes()));
        }
    }

    /// Enters the call's span, if it has one, until the guard is dropped.
    fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.record.as_ref().map(|record| record.span.enter())
    }
}

/// The field that carries a gRPC call's status, in the trailers or a trailers-only answer.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

impl Drop for Call {
    fn drop(&mut self) {
        let latency = self.started.elapsed();
        if let Some((method, _)) = &self.metrics {
            method.end(self.status, latency.as_secs_f64(), self.web);
        }
        // After the metrics: whoever waits for the gauge to reach zero then finds every
        // call counted.
        self.live.count_in(false);
        let Some(record) = &self.record else { return };
        // One event with every field, rather than an info-level span per call: creating,
        // entering and closing a span costs more than the line itself.
        let path = record.path.as_ref().map_or("", PathAndQuery::path);
        // A gRPC path is `/package.Service/Method`.
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", path));
        let request_id = record.request_id.as_ref().and_then(|id| id.to_str().ok());
        let _inside = record.span.enter();
        tracing::info!(
            target: CALLS,
            %service,
            %method,
            peer = record.peer.map(tracing::field::display),
            trace_id = %record.trace.trace_id_hex(),
            span_id = %record.trace.span_id_hex(),
            request_id = request_id.map(tracing::field::display),
            // Only on a browser's call: a native call's line stays as it was.
            grpc_web = self.web.then_some(true),
            status = self.status.map(tracing::field::debug),
            // Whole microseconds: cheaper to write than a float, and easier to sum.
            latency_us = latency.as_micros() as u64,
            "{}",
            if self.status.is_some() { "call" } else { "call ended by the client" },
        );
    }
}

pin_project! {
    /// The response future of [`ObserveService`]: the inner future, then the call handed on
    /// to the response body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<ObservedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = {
            let _inside = this.call.as_ref().and_then(Call::enter);
            ready!(this.inner.poll(cx))?
        };
        let mut call = this.call.take();
        if let Some(call) = call.as_mut() {
            call.note_status(response.headers());
        }
        Poll::Ready(Ok(response.map(|inner| ObservedBody { inner, call })))
    }
}

pin_project! {
    /// A response body that ends its call when it is dropped.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = {
            let _inside = this.call.as_ref().and_then(Call::enter);
            ready!(this.inner.poll_frame(cx))
        };
        if let (Some(Ok(frame)), Some(call)) = (&frame, this.call.as_mut()) {
            if let Some(trailers) = frame.trailers_ref() {
                call.note_status(trailers);
            } else if let (Some(data), Some((method, sent))) =
                (frame.data_ref(), call.metrics.as_mut())
            {
                method.sent(messages::count(sent, data.chunk()));
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
