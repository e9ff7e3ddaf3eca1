//! The wire view's frame reader (HTTP/2 frames, HPACK header blocks, gRPC messages inside),
//! on bytes as a relayed peer may send them: it never panics, and it reads the same frames
//! whether the bytes come whole or in three pieces.
#![no_main]

use grpc_tour::wire::frame::{Direction, FrameReader, PREFACE};
use libfuzzer_sys::fuzz_target;

fn read(direction: Direction, chunks: &[&[u8]]) -> Vec<grpc_tour::wire::Frame> {
    let mut reader = FrameReader::new(direction);
    chunks.iter().flat_map(|chunk| reader.push(chunk)).collect()
}

fuzz_target!(|input: (bool, u16, u16, &[u8])| {
    let (to_server, a, b, frames) = input;
    let (direction, bytes) = if to_server {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(frames);
        (Direction::ToServer, bytes)
    } else {
        (Direction::ToClient, frames.to_vec())
    };
    let (a, b) = (
        a as usize % (bytes.len() + 1),
        b as usize % (bytes.len() + 1),
    );
    let (first, second) = (a.min(b), a.max(b));
    let whole = read(direction, &[&bytes]);
    let cut = read(
        direction,
        &[&bytes[..first], &bytes[first..second], &bytes[second..]],
    );
    assert_eq!(whole, cut);
});
