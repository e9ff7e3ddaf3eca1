//! grpc-tour: learn gRPC in Rust by running it.
//!
//! One proto, `protos/tour.proto`, defines three services taken from classic tutorials,
//! and together they show all four kinds of RPC:
//!
//! | service      | RPC            | kind             |
//! |--------------|----------------|------------------|
//! | `Summator`   | `Sum`          | unary            |
//! | `Dune`       | `IsMuadDib`    | unary            |
//! | `RouteGuide` | `GetFeature`   | unary            |
//! | `RouteGuide` | `ListFeatures` | server streaming |
//! | `RouteGuide` | `RecordRoute`  | client streaming |
//! | `RouteGuide` | `RouteChat`    | bidirectional    |
//!
//! # Layout
//!
//! Layers point one way: proto <- services <- server <- binary and examples.
//!
//! - [`proto`]: the code generated from the proto, included once for everyone.
//! - [`summator`], [`dune`], [`route_guide`]: one module per service; each handler is a thin
//!   wrapper over plain functions that are tested without a server.
//! - [`error`]: the one error type of the services, and how it becomes a gRPC status.
//! - [`calls`]: the layer around every call: a live-call gauge and one log line per call.
//! - [`server`]: all services in one tonic server, run on a listener until shutdown.
//! - [`client`]: how the examples reach a server, or start one in-process.
//!
//! The binary (`src/main.rs`) only parses flags, binds the address and calls
//! [`server::TourServer::serve`]. The walkthrough in `docs/` explains it all in order.

#![warn(missing_docs)]

pub mod calls;
pub mod client;
pub mod dune;
pub mod error;
pub mod proto;
pub mod route_guide;
pub mod server;
pub mod summator;
