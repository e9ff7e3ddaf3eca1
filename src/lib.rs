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
//! The learner's path, in the order to read it:
//!
//! - [`proto`]: the code generated from the proto, included once for everyone.
//! - [`summator`], [`dune`], [`route_guide`]: one module per service; each handler is a thin
//!   wrapper over plain functions that are tested without a server.
//! - [`error`]: the one error type of the services, and how it becomes a gRPC status.
//! - `examples/minimal_server.rs`: the three services on tonic's `Server`, and nothing else.
//! - `examples/*.rs`: one client per kind of RPC, in plain tonic but for one line,
//!   [`connect::channel`], which reaches `--server` or starts a server in-process.
//! - [`wire`]: a relay between a client and a server that reads every HTTP/2 frame both
//!   ways; `examples/wire.rs` prints seven calls through it (one of each kind, and three
//!   that go wrong), frame by frame.
//!
//! The operator's rooms, what production and scale add around it:
//!
//! - [`server`]: all services in one tonic server, with health checks, reflection, limits,
//!   compression, TLS and a bearer token, run on a listener until a graceful shutdown.
//! - [`layers`]: what wraps every call: the live-call gauge, metrics, trace ids and the
//!   call log line, the message size limit, deadlines and the shutdown cutoff.
//! - [`metrics`]: each method's calls, statuses, latency and messages, for Prometheus to
//!   scrape (`--metrics-addr`).
//! - [`tls`]: TLS and mutual TLS from PEM files, and a throwaway CA to try them with.
//! - [`balance`]: one channel over several replicas, tracked by their health checks, and
//!   retries where they are safe.
//! - [`route_guide::redis_notes`]: RouteChat's notes in Redis (`--notes redis://...`), so
//!   that every replica tells the same story.
//! - `bench/`: the benchmark, a crate of its own in the workspace.
//!
//! The binary (`src/main.rs`) only parses flags, binds the address and calls
//! [`server::TourServer::serve`].
//!
//! # The walkthrough
//!
//! This reference says what each item does; the walkthrough explains how they fit, in
//! order, from the proto to a tested server: [`docs/README.md`](../../../docs/README.md) in
//! the repository. (The link works from `cargo doc --open`, which writes this page three
//! folders below the repository's root.)

#![warn(missing_docs)]

pub mod balance;
pub mod connect;
pub mod dune;
pub mod error;
pub mod layers;
pub mod metrics;
pub mod proto;
pub mod route_guide;
pub mod server;
pub mod summator;
pub mod tls;
pub mod wire;
