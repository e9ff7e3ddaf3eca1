//! The frame headers the server reads off every client's bytes, for its ping policy
//! (`production::pings`): it never panics, sees the same headers however the bytes are cut,
//! and finds no frame in what does not begin with HTTP/2's preface (HTTP/1.1, say).
#![no_main]

use grpc_tour::production::pings::{Frames, Header};
use libfuzzer_sys::fuzz_target;

fn read(chunks: &[&[u8]]) -> Vec<Header> {
    let mut frames = Frames::client();
    let mut seen = Vec::new();
    for chunk in chunks {
        frames.push(chunk, |header| seen.push(header));
    }
    seen
}

fuzz_target!(|input: (bool, u16, u16, &[u8])| {
    let (preface, a, b, tail) = input;
    let mut bytes = if preface {
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()
    } else {
        Vec::new()
    };
    bytes.extend_from_slice(tail);
    let (a, b) = (
        a as usize % (bytes.len() + 1),
        b as usize % (bytes.len() + 1),
    );
    let (first, second) = (a.min(b), a.max(b));
    let whole = read(&[&bytes]);
    assert_eq!(
        whole,
        read(&[&bytes[..first], &bytes[first..second], &bytes[second..]])
    );
    if !bytes.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") {
        assert!(whole.is_empty());
    }
    // At most one header per 9 bytes after the preface.
    assert!(whole.len() * 9 <= bytes.len().saturating_sub(24));
});
