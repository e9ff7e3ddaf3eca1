//! The lesson: gRPC in plain tonic, in the order to read it.
//!
//! Everything here is what a tonic project of your own would have, and nothing more; none
//! of it imports the [`production`](crate::production) wing.
//!
//! - `docs/build-it-yourself.md`: the whole of it from `cargo new`, a server and a client of
//!   one unary and one streaming RPC, before this crate's own.
//! - [`proto`]: the code generated from the proto, included once for everyone.
//! - [`summator`], [`dune`], [`route_guide`]: one module per service; each handler is a thin
//!   wrapper over plain functions that are tested without a server.
//! - [`error`]: the one error type of the services, and how it becomes a gRPC status.
//! - `examples/minimal_server.rs`: the three services on tonic's `Server`, and nothing else.
//! - `examples/*.rs`: one client per kind of RPC, in plain tonic but for one line,
//!   [`connect::channel`], which reaches `--server`, or else serves the three services in
//!   the example's own process, as `minimal_server` does.

pub mod connect;
pub mod dune;
pub mod error;
pub mod proto;
pub mod route_guide;
pub mod summator;
