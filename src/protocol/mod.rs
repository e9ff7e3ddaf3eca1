//! The little of gRPC's wire format that both the production server and the wire tool read.
