//! The operator's wing: what a production server and its clients add around the lesson's
//! services. Plain tonic does none of this by itself; each module says what tonic gives and
//! what it adds.
//!
//! - [`server`]: all services in one tonic server, with health checks, reflection, limits,
//!   compression, TLS and a bearer token, run on a listener until a graceful shutdown.
//! - [`layers`]: what wraps every call: the live-call gauge, metrics, trace ids, the call
//!   log line and the message size limit; deadlines over whole streams and the shutdown
//!   cutoff.
//! - [`connection`]: what the server does per connection, below gRPC: the handshake and
//!   idle timeouts, and closing a connection whose client stopped reading.
//! - [`pings`]: keepalive enforcement: GOAWAY `ENHANCE_YOUR_CALM` for a client that pings
//!   too often.
//! - [`metrics`]: each method's calls, statuses, latency and messages, for Prometheus to
//!   scrape (`--metrics-addr`).
//! - [`notes`]: where RouteChat's notes live: the lesson's in-memory store, or Redis
//!   (`--notes redis://...`), so that every replica tells the same story.
//! - [`tls`]: TLS and mutual TLS from PEM files, and a throwaway CA to try them with.
//! - [`web`]: the front door: gRPC-Web for browsers beside native gRPC on the same port,
//!   CORS for the origins listed, and the playground's page.
//! - [`balance`]: one channel over several replicas, tracked by their health checks, and
//!   retries where they are safe.

pub mod balance;
pub mod connection;
pub mod layers;
pub mod metrics;
pub mod notes;
pub mod pings;
pub mod server;
pub mod tls;
pub mod web;
