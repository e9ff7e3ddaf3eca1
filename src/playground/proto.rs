//! The code generated from `protos/playground/playground.proto`: the playground's `Relay` service.

// Generated code is not ours to lint: it follows the proto, not clippy.
#![allow(clippy::all, missing_docs)]

tonic::include_proto!("playground");

/// The encoded `FileDescriptorSet` of `playground.proto`, which the page reads to decode
/// the `Relay` service's messages.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("playground_descriptor");
