//! The code generated from `protos/tour.proto`, included once for the whole crate.
//!
//! `build.rs` writes it to `OUT_DIR`; the server, the examples and the tests all use these
//! types through `grpc_tour::lesson::proto`, so there is exactly one copy of the contract in Rust.
//! For each service the generated code holds a client (`summator_client::SummatorClient`)
//! and a server trait with a wrapper that makes it a tower service
//! (`summator_server::Summator`, `summator_server::SummatorServer`).

// Generated code is not ours to lint: it follows the proto, not clippy.
#![allow(clippy::all, missing_docs)]

// ANCHOR: include
tonic::include_proto!("tour");
// ANCHOR_END: include

/// The encoded `FileDescriptorSet` of `tour.proto`: a binary description of every service
/// and message, which gRPC reflection serves to tools that have no copy of the proto.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tour_descriptor");
