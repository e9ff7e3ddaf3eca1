//! The 5-byte message prefixes of a request body, however its chunks are cut: the walker
//! finds the same prefixes and the same message bytes whether the body comes whole or in
//! three pieces, and hands out every byte exactly once.
#![no_main]

use grpc_tour::protocol::prefix::{Piece, Prefixes};
use libfuzzer_sys::fuzz_target;

/// Every prefix, and the message bytes joined, of `chunks` read in order.
fn walk(chunks: &[&[u8]]) -> (Vec<(bool, usize)>, Vec<u8>, usize) {
    let mut prefixes = Prefixes::default();
    let (mut found, mut messages, mut prefix_bytes) = (Vec::new(), Vec::new(), 0);
    for chunk in chunks {
        let mut chunk = *chunk;
        while let Some(piece) = prefixes.next(&mut chunk) {
            match piece {
                Piece::Prefix { compressed, length } => {
                    found.push((compressed, length));
                    prefix_bytes += 5;
                }
                Piece::Message(bytes) => messages.extend_from_slice(bytes),
            }
        }
    }
    prefix_bytes += prefixes.prefix_read();
    (found, messages, prefix_bytes)
}

fuzz_target!(|input: (u16, u16, &[u8])| {
    let (a, b, body) = input;
    let (a, b) = (a as usize % (body.len() + 1), b as usize % (body.len() + 1));
    let (first, second) = (a.min(b), a.max(b));
    let whole = walk(&[body]);
    let cut = walk(&[&body[..first], &body[first..second], &body[second..]]);
    assert_eq!(whole, cut);
    // Every byte is a prefix's or a message's.
    assert_eq!(whole.1.len() + whole.2, body.len());
});
