//! Watching every call from outside the services: how many calls are live, and one tracing
//! span per call with its service, method, peer, request id, gRPC status and latency.
//!
//! This is a tower layer around the whole server, so no handler has to remember to log or
//! count. The span is entered whenever the call's handler or response stream runs, so any
//! event a handler logs carries the call's fields too. When the call ends, its status and
//! latency are recorded on the span and one `call` event is logged inside it; `RUST_LOG`
//! chooses what is shown (`RUST_LOG=grpc_tour=debug`, `RUST_LOG=warn`, ...). A call is live from the moment its request arrives until its response body has
//! been sent or dropped, which for a stream means until the last message went out or the
//! client hung up. So when every client has gone, [`LiveCalls`] reads zero again: a test
//! can prove that no call's work outlived its client.
//!
//! The status of a gRPC call is not in the HTTP status (that is 200 even for errors) but in
//! the `grpc-status` field of the trailers, or of the headers for an error sent before any
//! message ("trailers-only"). The layer reads it from whichever carries it.
//!
//! Written by hand because the ready-made tracing layer (`tower-http`'s) reports when a
//! body *ends*, not when it is *dropped*, and a client hanging up mid-stream is exactly the
//! case the gauge must see.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use http::{HeaderMap, HeaderName};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::watch;
use tonic::{
    Code,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

/// The header that carries a call's request id, from the client or made by the server.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A gauge of the calls in progress, shared by the layer and anyone watching it.
#[derive(Debug, Clone)]
pub struct LiveCalls(Arc<watch::Sender<usize>>);

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls(Arc::new(watch::Sender::new(0)))
    }
}

impl LiveCalls {
    /// How many calls are in progress now.
    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until exactly `count` calls are in progress.
    pub async fn wait_for(&self, count: usize) {
        let mut changes = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = changes.wait_for(|live| *live == count).await;
    }

    fn begin<B>(&self, request: &http::Request<B>) -> Call {
        self.0.send_modify(|live| *live += 1);
        Call {
            span: call_span(request),
            started: Instant::now(),
            status: None,
            live: self.clone(),
        }
    }
}

/// The span of one call. Status and latency are empty until the call ends.
fn call_span<B>(request: &http::Request<B>) -> Span {
    // A gRPC path is `/package.Service/Method`.
    let (service, method) = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", request.uri().path()));
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "call",
        %service,
        %method,
        peer = peer(request).map(tracing::field::display),
        %request_id,
        status = tracing::field::Empty,
        latency = tracing::field::Empty,
    )
}

/// The client's address, which tonic records on every request it accepts, TLS or not.
fn peer<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    match extensions.get::<TcpConnectInfo>() {
        Some(tcp) => tcp.remote_addr(),
        None => extensions
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|tls| tls.get_ref().remote_addr()),
    }
}

/// The layer that watches every call; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct ObserveLayer {
    live: LiveCalls,
}

impl ObserveLayer {
    /// A layer that counts its calls in `live`.
    pub fn new(live: LiveCalls) -> Self {
        ObserveLayer { live }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            live: self.live.clone(),
        }
    }
}

/// The service that [`ObserveLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
    live: LiveCalls,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ObserveService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let call = self.live.begin(&request);
        ResponseFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

/// One call in progress. Dropping it ends the call: the gauge goes down and the line is
/// logged, however the call ended.
struct Call {
    span: Span,
    started: Instant,
    /// The gRPC status, once the server has sent it.
    status: Option<Code>,
    live: LiveCalls,
}

impl Call {
    fn note_status(&mut self, fields: &HeaderMap) {
        if let Some(status) = fields.get("grpc-status") {
            self.status = Some(Code::from_bytes(status.as_bytes()));
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.live.0.send_modify(|live| *live -= 1);
        let latency = self.started.elapsed();
        self.span.record("latency", tracing::field::debug(latency));
        let _inside = self.span.enter();
        match self.status {
            Some(status) => {
                self.span.record("status", tracing::field::debug(status));
                tracing::info!("call");
            }
            None => tracing::info!("call ended by the client"),
        }
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
            let _inside = this.call.as_ref().map(|call| call.span.enter());
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
            let _inside = this.call.as_ref().map(|call| call.span.enter());
            ready!(this.inner.poll_frame(cx))
        };
        if let (Some(Ok(frame)), Some(call)) = (&frame, this.call.as_mut())
            && let Some(trailers) = frame.trailers_ref()
        {
            call.note_status(trailers);
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
