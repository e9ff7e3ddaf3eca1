//! Requiring a bearer token on every tour call, with tonic's own [`Interceptor`], as tonic's
//! `authentication` example does.
//!
//! With `--token T`, a call must carry the metadata `authorization: Bearer T`, or it fails
//! with `UNAUTHENTICATED` before its handler runs. The server puts the interceptor on the
//! tour's three services only: health checks and reflection stay open on purpose, so that a
//! load balancer or `grpcurl list` can ask whether the server is up and what it serves
//! without holding the secret.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, errors::InvalidMetadataValue},
    service::Interceptor,
};

/// The interceptor that checks tokens; with no token configured, it lets every call through.
#[derive(Debug, Clone, Default)]
pub struct RequireToken {
    /// The whole expected metadata value, `Bearer <token>`.
    expected: Option<Arc<[u8]>>,
}

impl RequireToken {
    /// Requires `authorization: Bearer <token>` when `token` is set. Fails if the token
    /// cannot travel as a metadata value (it must be visible ASCII).
    pub fn new(token: Option<&str>) -> Result<Self, InvalidMetadataValue> {
        let expected = token
            .map(|token| AsciiMetadataValue::try_from(format!("Bearer {token}")))
            .transpose()?;
        Ok(RequireToken {
            expected: expected.map(|value| value.as_bytes().into()),
        })
    }
}

// ANCHOR: interceptor
impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let Some(given) = request.metadata().get("authorization") else {
            return Err(Status::unauthenticated(
                "this server requires `authorization: Bearer <token>` metadata \
                 (examples/production_client.rs sends it with --token)",
            ));
        };
        // Compared in constant time, so that how long a refusal takes says nothing about
        // how much of a guess was right. (Only its length shows: `subtle` refuses a guess of
        // another length at once.)
        if bool::from(given.as_bytes().ct_eq(expected)) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "the bearer token is not the server's",
            ))
        }
    }
}
// ANCHOR_END: interceptor
