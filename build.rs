//! Turns `protos/tour.proto` into Rust at build time, with no system `protoc`.
//!
//! `protox` parses the proto in pure Rust into a file descriptor set: the same binary
//! description of the services that `protoc` would produce. `tonic-prost-build` then
//! generates the messages (prost) and the client and server code (tonic) from it. The
//! encoded descriptor set is also written to `OUT_DIR`, so that the server can later describe
//! itself to tools such as grpcurl (gRPC reflection) without shipping the proto.
//!
//! `protos/playground/playground.proto`, the browser playground's own service (`src/playground/`), is
//! compiled the same way, on its own, so that the tour's descriptor set describes the
//! tour's contract only.

use std::{
    env,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

use prost::Message;

const PROTO: &str = "protos/tour.proto";
const PLAYGROUND: &str = "protos/playground/playground.proto";

// ANCHOR: main
fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO}");

    let descriptors = protox::compile([PROTO], ["protos"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("tour_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure().compile_fds(descriptors)?;
    playground(&out_dir)
}
// ANCHOR_END: main

/// The playground's service, the same way: its descriptor set (which the page reads to
/// decode messages), its messages, its server, and a client for the tests.
fn playground(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PLAYGROUND}");
    let descriptors = protox::compile([PLAYGROUND], ["protos"])?;
    fs::write(
        out_dir.join("playground_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
