//! The playground: a page, served on the gRPC port, that calls every RPC of the tour from a
//! browser and shows its messages and frames (`cargo run`, then `http://127.0.0.1:50051/`;
//! docs/playground.md walks through it).
//!
//! A teaching aid, like [`crate::wire`], and not part of the lesson. The page's source is
//! `playground/` at the top of the repository (JavaScript, bundled by esbuild into
//! `playground/dist/`); the binary embeds the bundle, so `cargo run` needs no Node.
//!
//! - [`page`]: the page's files, served from memory.
//! - [`relay`]: the one thing a page cannot do itself. gRPC-Web's browser libraries send
//!   one request message per call, so a page can make unary and server-streaming calls
//!   only. For the other two
//!   kinds, the server makes the call to itself through the wire view's relay and streams
//!   the frames of it to the page: a server-streaming method, `playground.Relay/Watch`.
//! - [`proto`]: that method's messages, from `protos/playground/playground.proto`.
//!
//! Serving gRPC-Web beside native gRPC, which the page's own calls use, is the production
//! server's (`crate::production::web`): it stays when `--no-playground` turns the page off.

pub mod page;
pub mod proto;
pub mod relay;
