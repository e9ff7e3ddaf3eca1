//! The server's front door: one port for native gRPC, gRPC-Web and the playground's page.
//!
//! A browser cannot make a native gRPC call: `fetch` sees no HTTP/2 trailers, where gRPC
//! puts a call's status. gRPC-Web is the same call with the trailers moved into the body, as
//! a last frame flagged `0x80`, over HTTP/1.1 or HTTP/2. tonic-web translates it; this
//! layer decides, per request, who answers:
//!
//! | request                                        | answered by |
//! |------------------------------------------------|-------------|
//! | `GET`/`HEAD` of a page path, page on           | the playground's page (`crate::playground::page`) |
//! | `content-type: application/grpc-web...`        | tonic-web, then every layer and service as a native call |
//! | a CORS preflight, with `--cors-origin`         | tower-http's `Cors` |
//! | a `POST` over HTTP/2 (native gRPC)             | the layers and services, untouched |
//! | anything else                                  | `404`, with a line saying what this port serves |
//!
//! A gRPC-Web call is translated *outside* the tour's other layers, so they all see a
//! native call and hold it to the same promises: its deadline, the token, the message
//! limit, the live-call gauge, the metrics (which read its status from the trailers before
//! tonic-web moves them into the body) and the call log. The one difference they see is the
//! [`GrpcWeb`] mark, so that the metrics can count gRPC-Web calls apart.
//!
//! What plain tonic does: a tonic server of your own serves gRPC-Web once it has
//! `accept_http1(true)` and `tonic_web::GrpcWebLayer` around each service; the layer
//! around the whole server would answer `400` to the page's `GET /`, and it boxes
//! every native call's response body, which this layer does not. Neither tonic nor tonic-web
//! answers CORS: without `--cors-origin`, only pages of this server's own origin can read its
//! answers, which is the browser's same-origin rule; each origin listed may too.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::Either;
use pin_project_lite::pin_project;
use tonic::body::Body;
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::util::option_layer;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

use crate::playground::page::Page;

/// The mark a translated gRPC-Web call carries in its request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct GrpcWeb;

/// The headers a gRPC-Web client sends, which a page of another origin must be allowed to.
const REQUEST_HEADERS: [&str; 7] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
    "x-request-id",
    "traceparent",
];

/// The response headers such a page may read: the status of a trailers-only answer, and the
/// tour's own headers.
const RESPONSE_HEADERS: [&str; 5] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "x-served-by",
];

/// The layer that puts the front door around the server's layers and services.
#[derive(Debug, Clone)]
pub struct WebLayer {
    door: Arc<Door>,
}

/// What the front door needs besides the service it wraps: shared by every clone, since
/// tonic clones the whole stack of services for every call.
#[derive(Debug)]
struct Door {
    page: Option<Page>,
    /// CORS for the origins listed; none listed, no CORS headers at all.
    cors: Option<CorsLayer>,
}

impl WebLayer {
    /// Serves `page` (or none), and lets pages of `origins`, besides the server's own,
    /// call it.
    pub fn new(page: Option<Page>, origins: Vec<HeaderValue>) -> Self {
        let cors = (!origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::POST])
                .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
                .expose_headers(RESPONSE_HEADERS.map(HeaderName::from_static))
                .max_age(Duration::from_secs(600))
        });
        WebLayer {
            door: Arc::new(Door { page, cors }),
        }
    }
}

impl<S> Layer<S> for WebLayer {
    type Service = WebService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebService {
            inner,
            door: Arc::clone(&self.door),
        }
    }
}

/// The service of [`WebLayer`]. A native call costs it a look at two headers and the HTTP
/// version: tonic-web's service is made only for a gRPC-Web call, so a native call neither
/// clones it nor goes through it (tonic-web would box a native call's response body).
#[derive(Debug, Clone)]
pub struct WebService<S> {
    inner: S,
    door: Arc<Door>,
}

/// tonic-web around the server's layers and services, inside CORS when origins are listed.
type Web<S> = tower::util::Either<Cors<GrpcWebService<S>>, GrpcWebService<S>>;

/// Whether `request` is a gRPC-Web call: tonic-web's four content types.
fn is_grpc_web<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| {
            matches!(
                kind.as_bytes(),
                b"application/grpc-web"
                    | b"application/grpc-web+proto"
                    | b"application/grpc-web-text"
                    | b"application/grpc-web-text+proto"
            )
        })
}

/// Whether `request` is a browser's CORS preflight, asking whether it may call.
fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to an HTTP/1 request that is neither gRPC-Web nor for the page.
fn not_here(page: bool) -> Response<Body> {
    let what = if page {
        "this port serves gRPC (HTTP/2), gRPC-Web, and the playground at /\n"
    } else {
        "this port serves gRPC (HTTP/2) and gRPC-Web\n"
    };
    let mut response = Response::new(Body::new(what.to_owned()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S, ResBody> Service<Request<Body>> for WebService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display,
{
    type Response = Response<Either<ResBody, Body>>;
    type Error = S::Error;
    type Future = WebFuture<S::Future, <Web<S> as Service<Request<Body>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if let Some(page) = &self.door.page
            && let Some(response) = page.answer(&request)
        {
            return WebFuture::Ready {
                response: Some(response),
            };
        }
        if is_grpc_web(&request) || (self.door.cors.is_some() && is_preflight(&request)) {
            request.extensions_mut().insert(GrpcWeb);
            // The ready service goes to tonic-web; a clone of it stays for the next call.
            let fresh = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, fresh);
            let mut web =
                option_layer(self.door.cors.clone()).layer(GrpcWebLayer::new().layer(ready));
            return WebFuture::Web {
                future: Box::pin(web.call(request)),
            };
        }
        if request.version() == Version::HTTP_2 && request.method() == Method::POST {
            return WebFuture::Native {
                future: self.inner.call(request),
            };
        }
        WebFuture::Ready {
            response: Some(not_here(self.door.page.is_some())),
        }
    }
}

pin_project! {
    /// The response future of [`WebService`]: the native call's, the gRPC-Web call's (or
    /// tower-http's answer to a preflight), or the page or a `404`, ready at once.
    #[project = WebFutureProjection]
    #[allow(missing_docs)]
    pub enum WebFuture<N, W> {
        Native { #[pin] future: N },
        Web { future: Pin<Box<W>> },
        Ready { response: Option<Response<Body>> },
    }
}

impl<N, W, ResBody, E> Future for WebFuture<N, W>
where
    N: Future<Output = Result<Response<ResBody>, E>>,
    W: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Either<ResBody, Body>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            WebFutureProjection::Native { future } => future
                .poll(cx)
                .map_ok(|response| response.map(Either::Left)),
            WebFutureProjection::Web { future } => future
                .as_mut()
                .poll(cx)
                .map_ok(|response| response.map(Either::Right)),
            WebFutureProjection::Ready { response } => {
                let response = response.take().expect("polled after it was ready");
                Poll::Ready(Ok(response.map(Either::Right)))
            }
        }
    }
}
