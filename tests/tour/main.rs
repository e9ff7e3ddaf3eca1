//! The integration tests of grpc-tour: every RPC, error and promise of the tour, checked
//! against a real server on `127.0.0.1:0` through the generated clients.
//!
//! One test binary (so the crate is linked once), one module per service or concern, and a
//! `support` module that spawns servers and connects clients.

mod async_producer;
mod balance;
mod binary;
mod compression;
mod connection_age;
mod contract;
mod deadlines;
mod dune;
mod examples;
mod get_feature;
mod health;
mod hostile;
mod in_memory;
mod keepalive;
mod limits;
mod list_features;
mod metadata;
mod metrics;
mod overload;
mod record_route;
mod redis;
mod reflection;
mod route_chat;
mod shutdown;
mod summator;
mod support;
mod tls;
mod web;
mod wire;
