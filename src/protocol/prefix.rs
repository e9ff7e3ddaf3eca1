//! gRPC's message framing: in an HTTP/2 body, each message travels behind a 5-byte prefix,
//! a compressed flag (one byte) and the message's length (a big-endian `u32`).
//!
//! A body arrives in chunks that cut anywhere, through a prefix too. [`Prefixes`] follows a
//! body chunk by chunk and hands out its pieces: each prefix once it is whole, and the
//! message bytes after it. The production server's size limit and message counts
//! (`production::layers::messages`) and the wire tool's reassembly (`wire::frame`) read
//! bodies with it.

/// The length of the prefix in front of every gRPC message.
pub const PREFIX: usize = 5;

/// Where a body is in its stream of messages, chunk after chunk.
#[derive(Clone, Debug, Default)]
pub struct Prefixes {
    /// The prefix of the next message, as far as it has arrived.
    prefix: [u8; PREFIX],
    prefix_read: usize,
    /// Bytes of the current message still to come.
    left: usize,
}

/// A piece of a body, as [`Prefixes::next`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A message's prefix, read whole: whether the message is compressed, and its length.
    Prefix {
        /// The flag byte is not zero: the message is compressed (by `grpc-encoding`).
        compressed: bool,
        /// The message's length, without the prefix.
        length: usize,
    },
    /// Bytes of the current message, up to its end or the chunk's.
    Message(&'a [u8]),
}

impl Prefixes {
    /// Takes the next piece off the front of `chunk`, or `None` when the chunk is used up.
    /// A prefix cut by the chunk's end is kept, and completed by the next chunk.
    pub fn next<'a>(&mut self, chunk: &mut &'a [u8]) -> Option<Piece<'a>> {
        while !chunk.is_empty() {
            if self.left > 0 {
                let (message, rest) = chunk.split_at(self.left.min(chunk.len()));
                *chunk = rest;
                self.left -= message.len();
                return Some(Piece::Message(message));
            }
            let taken = (PREFIX - self.prefix_read).min(chunk.len());
            self.prefix[self.prefix_read..self.prefix_read + taken]
                .copy_from_slice(&chunk[..taken]);
            self.prefix_read += taken;
            *chunk = &chunk[taken..];
            if self.prefix_read == PREFIX {
                self.prefix_read = 0;
                let [flag, a, b, c, d] = self.prefix;
                let length =
                    usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
                self.left = length;
                return Some(Piece::Prefix {
                    compressed: flag != 0,
                    length,
                });
            }
        }
        None
    }

    /// How many bytes of the current message have not arrived yet.
    pub fn message_left(&self) -> usize {
        self.left
    }

    /// How many bytes of the next message's prefix have arrived (0 between messages).
    pub fn prefix_read(&self) -> usize {
        self.prefix_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(length: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend(length.to_be_bytes());
        bytes.extend(std::iter::repeat_n(7, length as usize));
        bytes
    }

    /// The lengths of the prefixes found, and the message bytes after them, over `chunks`.
    fn walk(chunks: &[&[u8]]) -> (Vec<usize>, usize) {
        let mut prefixes = Prefixes::default();
        let (mut lengths, mut bytes) = (Vec::new(), 0);
        for chunk in chunks {
            let mut chunk = *chunk;
            while let Some(piece) = prefixes.next(&mut chunk) {
                match piece {
                    Piece::Prefix { length, .. } => lengths.push(length),
                    Piece::Message(message) => bytes += message.len(),
                }
            }
        }
        (lengths, bytes)
    }

    #[test]
    fn every_prefix_is_found_once_however_the_body_is_cut() {
        let body = [message(10), message(0), message(3)].concat();
        for first in 0..body.len() {
            for second in first..body.len() {
                let chunks = [&body[..first], &body[first..second], &body[second..]];
                assert_eq!(
                    walk(&chunks),
                    (vec![10, 0, 3], 13),
                    "cut at {first}, {second}"
                );
            }
        }
    }

    #[test]
    fn a_prefix_says_whether_its_message_is_compressed() {
        let mut prefixes = Prefixes::default();
        let mut chunk: &[u8] = &[1, 0, 0, 1, 0];
        assert_eq!(
            prefixes.next(&mut chunk),
            Some(Piece::Prefix {
                compressed: true,
                length: 256
            })
        );
        assert_eq!(
            (prefixes.message_left(), prefixes.next(&mut chunk)),
            (256, None)
        );
    }
}
