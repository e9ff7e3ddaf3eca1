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
//! The crate has two wings and a tool, and the folders say which is which:
//!
//! - [`lesson`] (`src/lesson/`): gRPC in plain tonic, what a learner reads and copies. The
//!   generated code, the three services, their one error type, and the examples' one line
//!   that reaches a server. It imports nothing from the other two.
//! - [`production`] (`src/production/`): what the operator's server adds around the same
//!   services: limits, deadlines over whole streams, a graceful shutdown, health,
//!   reflection, metrics, TLS, a token, balancing, notes shared in Redis. It uses the lesson;
//!   the lesson never uses it.
//! - [`wire`] (`src/wire/`): a tool, not a pattern to copy: a relay that prints every
//!   HTTP/2 frame of a call (`cargo run --example wire`).
//! - [`playground`] (`src/playground/`): the page a browser opens on the server's port, and
//!   the service that shows it the two kinds of call a browser cannot make; the page's
//!   source is `playground/`.
//! - [`protocol`]: the little of gRPC's wire format that the production server and the wire
//!   tool both read: the 5-byte message prefix and the methods of the descriptor sets.
//!
//! Imports point one way: `lesson` <- `protocol` <- `wire` <- `playground` <- `production`;
//! and the binary
//! (`src/main.rs`: flags, bind, [`production::server::TourServer::serve`]) on top.
//!
//! Outside `src/`: `examples/` holds one client per kind of RPC and the smallest server
//! (the lesson), `examples/production_client.rs` and `examples/load_balance/` (what a
//! production client adds), and `examples/wire.rs` (the tool); `bench/` is the benchmark,
//! a crate of its own.
//!
//! # The walkthrough
//!
//! This reference says what each item does; the walkthrough explains how they fit, in
//! order, from the proto to a tested server: [`docs/README.md`](../../../docs/README.md) in
//! the repository. (The link works from `cargo doc --open`, which writes this page three
//! folders below the repository's root.)

#![warn(missing_docs)]

pub mod lesson;
pub mod playground;
pub mod production;
pub mod protocol;
pub mod wire;
