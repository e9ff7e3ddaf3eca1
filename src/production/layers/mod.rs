//! What happens to every call before and after its handler: the tower layers the production
//! server wraps around all of its services.
//!
//! The services only answer requests. Everything the tour's server does around that lives
//! here, one concern per module, and none of it needs a line in a handler. A tonic server
//! of your own does none of it until you add such layers (`Server::builder().layer(..)`):
//!
//! | order | layer                             | what it does                                      |
//! |-------|-----------------------------------|---------------------------------------------------|
//! | 1     | [`observe`]                       | live calls, metrics, trace ids, the call log line; each message held to the size limit and counted ([`messages`]) |
//! | 2     | [`admission`]                     | refuses a call past `--max-calls-in-flight` with `UNAVAILABLE` |
//! | 3     | `PropagateRequestId` (tower-http) | echoes a client's `x-request-id` in the response  |
//! | 4     | [`cutoff`]                        | ends calls at their deadline or the grace period  |
//! | 5     | `SetResponseHeader` (tower-http)  | with `--replica-name`: names it in `x-served-by`   |
//!
//! The server stacks them in this order (`server::TourServer::serve`), outermost first. The
//! order matters: observing sits outside the others, so every call is counted (and logged)
//! with the status the client saw, whichever layer set it (a refusal included); admission
//! comes next, so a refused call costs nothing of the layers inside it. Nothing passes
//! between layers but the request and the response: the layers that need a call's metrics
//! (observing, for its messages; admission, for its refusals) look them up themselves. The bearer token is checked inside, by a
//! tonic interceptor on each tour service (`server::token`), so health and reflection stay
//! open.
//!
//! tonic adds its own layers outside ours (it records the peer's address, which the log
//! line reads, and applies its own `grpc-timeout` check, which [`cutoff`] finishes).

pub mod admission;
pub mod cutoff;
pub mod messages;
pub mod observe;
pub mod trace_context;
