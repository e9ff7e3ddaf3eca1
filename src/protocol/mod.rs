//! The little of gRPC's protocol that both the production server and the wire tool read
//! for themselves, written once for both: the 5-byte prefix in front of every message
//! ([`prefix`]), the methods the descriptor sets describe ([`methods`]), and a call's
//! deadline as `grpc-timeout` carries it ([`timeout`]).
//!
//! A service written with tonic never needs either: tonic frames and decodes every message,
//! and routes by path. The server's layers and the relay read the bytes tonic would, without
//! decoding them.

pub mod methods;
pub mod prefix;
pub mod timeout;
