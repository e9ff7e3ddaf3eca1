//! Requiring a bearer token on every tour call, while health checks and reflection stay
//! open.
//!
//! With `--token T`, a call must carry the metadata `authorization: Bearer T`, or it fails
//! with `UNAUTHENTICATED` before any handler runs. Health and reflection are left open on
//! purpose: a load balancer or `grpcurl list` must be able to ask whether the server is up
//! and what it serves without holding the secret. Everything else is closed by default, so
//! a service added later is protected without anyone remembering to.
//!
//! This is a tower layer rather than tonic's per-service `Interceptor` so that one check
//! guards every service, and so that the paths it leaves open are listed in one place.

use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use http::HeaderValue;
use subtle::ConstantTimeEq;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

/// The services anyone may call: health checks and reflection.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The layer that checks tokens; with no token configured, it lets every call through.
#[derive(Debug, Clone, Default)]
pub struct AuthLayer {
    /// The whole expected header value, `Bearer <token>`.
    expected: Option<HeaderValue>,
}

impl AuthLayer {
    /// Requires `authorization: Bearer <token>` on tour calls when `token` is set.
    ///
    /// Fails if the token cannot be sent as a header value (it must be visible ASCII).
    pub fn new(token: Option<&str>) -> Result<Self, http::header::InvalidHeaderValue> {
        let expected = token
            .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
            .transpose()?;
        Ok(AuthLayer { expected })
    }

    fn check<B>(&self, request: &http::Request<B>) -> Result<(), Status> {
        let Some(expected) = &self.expected else {
            return Ok(());
        };
        let path = request.uri().path();
        if OPEN_SERVICES.iter().any(|open| path.starts_with(open)) {
            return Ok(());
        }
        let Some(given) = request.headers().get(http::header::AUTHORIZATION) else {
            return Err(Status::unauthenticated(
                "this server requires `authorization: Bearer <token>` metadata \
                 (the examples send it with --token)",
            ));
        };
        // Compared in constant time, so that how long a refusal takes says nothing about
        // how much of a guess was right.
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "the bearer token is not the server's",
            ))
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service that [`AuthLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        match self.layer.check(&request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}
