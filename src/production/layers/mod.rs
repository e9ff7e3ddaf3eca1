//! What happens to every call before and after its handler: the tower layers the server
//! wraps around all of its services.
//!
//! The services only answer requests. Everything a production server does around that lives
//! here, one concern per module, and none of it needs a line in a handler:
//!
//! | order | layer                             | what it does                                     |
//! |-------|-----------------------------------|--------------------------------------------------|
//! | 1     | [`observe`]                       | live calls, metrics, trace ids, the call log line |
//! | 2     | `PropagateRequestId` (tower-http) | echoes a client's `x-request-id` in the response  |
//! | 3     | [`message_size`] (`MapRequest`)   | too-large messages: RESOURCE_EXHAUSTED, per spec  |
//! | 4     | [`cutoff`]                        | ends calls at their deadline or the grace period  |
//!
//! The server stacks them in this order (`server::TourServer::serve`), outermost first. The
//! order matters: observing sits outside the others, so every call is counted (and logged)
//! with the status the client saw, whichever layer set it. The bearer token is checked inside, by a
//! tonic interceptor on each tour service (`server::token`), so health and reflection stay
//! open.
//!
//! tonic adds its own layers outside ours (it records the peer's address, which the log
//! line reads, and applies its own `grpc-timeout` check, which [`cutoff`] finishes).

pub mod cutoff;
pub mod message_size;
pub mod observe;
pub mod trace_context;
