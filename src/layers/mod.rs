//! What happens to every call before and after its handler: the tower layers the server
//! wraps around all of its services.
//!
//! The services only answer requests. Everything a production server does around that lives
//! here, one concern per module, and none of it needs a line in a handler:
//!
//! | order | layer                           | what it does                                       |
//! |-------|---------------------------------|----------------------------------------------------|
//! | 1     | `SetRequestId` (tower-http)     | gives each call an `x-request-id` if it has none    |
//! | 2     | [`observe`]                     | a tracing span, the live-call gauge, one log line   |
//! | 3     | `PropagateRequestId` (tower-http) | returns the request id in the response metadata |
//! | 4     | [`oversize`]                    | too-large messages: RESOURCE_EXHAUSTED, per spec    |
//! | 5     | [`cutoff`]                      | ends calls at their deadline or the grace period    |
//! | 6     | [`auth`]                        | refuses tour calls without the bearer token         |
//!
//! The order matters, outermost first: the request id exists before the span that records
//! it; observing sits outside the others, so every call is logged and counted with the
//! status the client saw, whichever layer set it.
//!
//! tonic adds its own layers outside ours (it records the peer's address, which the span
//! reads, and applies its own `grpc-timeout` check, which [`cutoff`] finishes).

pub mod auth;
pub mod cutoff;
pub mod observe;
pub mod oversize;

use tower::ServiceBuilder;
use tower_http::{
    ServiceBuilderExt,
    request_id::{MakeRequestId, PropagateRequestId, RequestId, SetRequestId},
};
use tower_layer::Layer;

use auth::{AuthLayer, AuthService};
use cutoff::{CutoffLayer, CutoffService};
use observe::{LiveCalls, ObserveLayer, ObserveService};
use oversize::{OversizeLayer, OversizeService};

/// All the layers, in order, as one layer for tonic's `Server::layer`.
#[derive(Debug, Clone)]
pub struct TourLayers {
    live: LiveCalls,
    cutoff: CutoffLayer,
    auth: AuthLayer,
}

impl TourLayers {
    /// The stack in the order of the module documentation.
    pub fn new(live: LiveCalls, cutoff: CutoffLayer, auth: AuthLayer) -> Self {
        TourLayers { live, cutoff, auth }
    }
}

impl<S> Layer<S> for TourLayers {
    /// The type spells the order out: each layer wraps the ones after it.
    type Service = SetRequestId<
        ObserveService<PropagateRequestId<OversizeService<CutoffService<AuthService<S>>>>>,
        NewRequestId,
    >;

    fn layer(&self, routes: S) -> Self::Service {
        ServiceBuilder::new()
            .set_x_request_id(NewRequestId)
            .layer(ObserveLayer::new(self.live.clone()))
            .propagate_x_request_id()
            .layer(OversizeLayer)
            .layer(self.cutoff.clone())
            .layer(self.auth.clone())
            .service(routes)
    }
}

/// Random (v4) UUIDs as request ids, like tower-http's `MakeRequestUuid`, made for less:
/// each is written straight into its header, with no `String` in between, and the header
/// is marked sensitive, which tells HPACK never to index it. A value that never repeats
/// would only push useful entries out of the connection's compression table.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        let mut id = http::HeaderValue::from_str(text).ok()?;
        id.set_sensitive(true);
        Some(RequestId::new(id))
    }
}
