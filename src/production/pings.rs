//! Keepalive enforcement: a client that pings more often than `--min-ping-interval` gets an
//! HTTP/2 GOAWAY with `ENHANCE_YOUR_CALM` and the debug text `too_many_pings`, and its
//! connection is closed, as gRPC's servers do (grpc-go's `EnforcementPolicy`, gRPC core's
//! `GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS` and `MAX_PING_STRIKES`).
//!
//! Plain tonic does none of this: h2 answers every PING, as fast as a client sends them,
//! with a PING of its own. So the connection's watch (`production::connection`) reads the
//! frame headers of what the client sends (9 bytes each; payloads are skipped, not
//! read) and counts strikes: a PING that comes sooner than the minimum after the last one,
//! with nothing but pongs sent in between, is a strike; a new call or any other answer
//! forgives them. Past [`MAX_STRIKES`], the watch writes the GOAWAY itself, once h2 has
//! flushed (so never inside one of h2's frames), and closes the connection.
//!
//! Hand-written because neither h2, hyper nor tonic counts pings or lets a layer send a
//! GOAWAY with a code of its choosing. The wire view's `FrameReader` reads the same headers,
//! but decodes whole frames (HPACK, messages) into allocations: too much for every read of
//! every connection, where this one only follows the 9-byte headers and skips payloads.

use std::time::Duration;

use tokio::time::Instant;

use crate::wire::frame::PREFACE;

/// Strikes a client may have before it is sent away: gRPC core's default.
pub const MAX_STRIKES: u32 = 2;

/// The size of a PING (ACK) frame: a 9-byte header and 8 bytes of payload.
const PING_FRAME: u64 = 9 + 8;

const HEADERS: u8 = 0x1;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// Whether a frame header counts for the policy: a call begun, or a ping.
pub fn matters(header: Header) -> bool {
    matches!(header.kind, HEADERS | PING)
}

/// The GOAWAY a client that pings too often gets: stream 0, the last stream the server
/// processed, `ENHANCE_YOUR_CALM` (0xb), and `too_many_pings`.
pub fn too_many_pings(last_stream: u32) -> Vec<u8> {
    const DEBUG: &[u8] = b"too_many_pings";
    let length = (8 + DEBUG.len()) as u32;
    let mut frame = Vec::with_capacity(9 + length as usize);
    frame.extend_from_slice(&length.to_be_bytes()[1..]);
    frame.extend_from_slice(&[0x7, 0x0, 0, 0, 0, 0]);
    frame.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    frame.extend_from_slice(&0xb_u32.to_be_bytes());
    frame.extend_from_slice(DEBUG);
    frame
}

/// Where a reader of HTTP/2 frame headers is in a byte stream.
#[derive(Debug, Clone)]
pub enum Frames {
    /// Still in the client's preface: this many bytes of it matched.
    Preface(usize),
    /// In the frames: this much of the next header is in, or this much payload is left.
    Header([u8; 9], usize),
    /// Skipping a payload of this many more bytes.
    Payload(usize),
    /// Not HTTP/2 (HTTP/1.1, for a browser): nothing to read.
    Off,
}

/// A frame header, as [`Frames::push`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The frame's type.
    pub kind: u8,
    /// Its flags.
    pub flags: u8,
    /// Its stream.
    pub stream: u32,
}

impl Frames {
    /// A reader of what a client sends: the preface, then frames.
    pub fn client() -> Self {
        Frames::Preface(0)
    }

    /// A reader of what a server sends: frames from the first byte.
    pub fn server() -> Self {
        Frames::Header([0; 9], 0)
    }

    /// Reads `bytes`, the next of the stream, and calls `seen` with each frame header
    /// completed in them.
    pub fn push(&mut self, mut bytes: &[u8], mut seen: impl FnMut(Header)) {
        while !bytes.is_empty() {
            match self {
                Frames::Off => return,
                Frames::Preface(matched) => {
                    let take = (PREFACE.len() - *matched).min(bytes.len());
                    if bytes[..take] != PREFACE[*matched..*matched + take] {
                        *self = Frames::Off;
                        return;
                    }
                    *matched += take;
                    bytes = &bytes[take..];
                    if *matched == PREFACE.len() {
                        *self = Frames::server();
                    }
                }
                Frames::Header(_, 0) if bytes.len() >= 9 => {
                    // The whole header is here: read in place.
                    let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
                    let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
                    seen(Header {
                        kind: bytes[3],
                        flags: bytes[4],
                        stream: stream & 0x7fff_ffff,
                    });
                    bytes = &bytes[9..];
                    *self = Frames::Payload(length as usize);
                }
                Frames::Header(header, have) => {
                    let take = (9 - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 9 {
                        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
                        let stream =
                            u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
                        seen(Header {
                            kind: header[3],
                            flags: header[4],
                            stream: stream & 0x7fff_ffff,
                        });
                        *self = Frames::Payload(length as usize);
                    }
                }
                Frames::Payload(left) => {
                    let take = (*left).min(bytes.len());
                    *left -= take;
                    bytes = &bytes[take..];
                }
            }
            if let Frames::Payload(0) = self {
                *self = Frames::server();
            }
        }
    }
}

/// One connection's pings, and whether its client has pinged too often.
#[derive(Debug)]
pub struct PingPolicy {
    min_interval: Duration,
    last_ping: Option<Instant>,
    /// The connection's bytes written at the last ping: more than its pong since means the
    /// server has answered something else.
    written_at_last_ping: u64,
    strikes: u32,
    /// The highest stream the client opened, for the GOAWAY.
    pub last_stream: u32,
}

impl PingPolicy {
    /// A policy that strikes pings closer together than `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        PingPolicy {
            min_interval,
            last_ping: None,
            written_at_last_ping: 0,
            strikes: 0,
            last_stream: 0,
        }
    }

    /// Takes in a frame header the client sent, with the connection's bytes written so
    /// far; returns whether the client is now past its strikes.
    pub fn saw(&mut self, header: Header, written: u64) -> bool {
        match (header.kind, header.flags & ACK) {
            (HEADERS, _) => {
                self.last_stream = self.last_stream.max(header.stream);
                self.strikes = 0;
                false
            }
            (PING, 0) => {
                let now = Instant::now();
                if written > self.written_at_last_ping + PING_FRAME {
                    // Something besides the last pong was sent since: the connection works.
                    self.strikes = 0;
                } else if self
                    .last_ping
                    .is_some_and(|last| now.duration_since(last) < self.min_interval)
                {
                    self.strikes += 1;
                }
                self.last_ping = Some(now);
                self.written_at_last_ping = written;
                self.strikes > MAX_STRIKES
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        bytes.extend([kind, flags]);
        bytes.extend(stream.to_be_bytes());
        bytes.extend(payload);
        bytes
    }

    #[test]
    fn headers_are_read_however_the_bytes_are_cut() {
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(0x4, 0, 0, &[0; 6]));
        stream.extend(frame(HEADERS, 0x4, 1, &[1, 2, 3]));
        stream.extend(frame(0x0, 0x1, 1, &[0; 40]));
        stream.extend(frame(PING, 0, 0, &[7; 8]));
        let whole = {
            let mut frames = Frames::client();
            let mut seen = Vec::new();
            frames.push(&stream, |header| seen.push(header));
            seen
        };
        assert_eq!(
            whole.iter().map(|h| h.kind).collect::<Vec<_>>(),
            [0x4, HEADERS, 0x0, PING]
        );
        for cut in 1..stream.len() {
            let mut frames = Frames::client();
            let mut seen = Vec::new();
            frames.push(&stream[..cut], |header| seen.push(header));
            frames.push(&stream[cut..], |header| seen.push(header));
            assert_eq!(seen, whole, "cut at {cut}");
        }
    }

    #[test]
    fn http1_is_not_read() {
        let mut frames = Frames::client();
        let mut seen = 0;
        frames.push(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", |_| seen += 1);
        assert!(matches!(frames, Frames::Off) && seen == 0);
    }

    #[test]
    fn the_goaway_says_enhance_your_calm_and_too_many_pings() {
        let goaway = too_many_pings(7);
        let mut frames = Frames::server();
        let mut seen = Vec::new();
        frames.push(&goaway, |header| seen.push(header));
        assert_eq!(
            seen,
            [Header {
                kind: 0x7,
                flags: 0,
                stream: 0
            }]
        );
        // Its length field says what follows the header, to the byte.
        assert_eq!(
            u32::from_be_bytes([0, goaway[0], goaway[1], goaway[2]]) as usize,
            goaway.len() - 9
        );
        assert!(matches!(frames, Frames::Header(_, 0)));
        assert_eq!(&goaway[9..13], &7_u32.to_be_bytes());
        assert_eq!(&goaway[13..17], &0xb_u32.to_be_bytes());
        assert_eq!(&goaway[17..], b"too_many_pings");
    }

    #[tokio::test(start_paused = true)]
    async fn pings_too_close_together_strike_and_a_call_forgives() {
        let ping = Header {
            kind: PING,
            flags: 0,
            stream: 0,
        };
        let mut policy = PingPolicy::new(Duration::from_secs(300));
        // A polite client: one ping every five minutes, for ever.
        for _ in 0..10 {
            assert!(!policy.saw(ping, 0));
            tokio::time::advance(Duration::from_secs(300)).await;
        }
        // A flood: the first is fine, then two strikes are allowed, the third is too many.
        let mut written = 0;
        assert!(!policy.saw(ping, written));
        for _ in 0..MAX_STRIKES {
            written += PING_FRAME;
            assert!(!policy.saw(ping, written));
        }
        // A new call forgives the strikes.
        policy.saw(
            Header {
                kind: HEADERS,
                flags: 0x4,
                stream: 9,
            },
            written,
        );
        assert_eq!(policy.last_stream, 9);
        for _ in 0..MAX_STRIKES {
            written += PING_FRAME;
            assert!(!policy.saw(ping, written));
        }
        written += PING_FRAME;
        assert!(policy.saw(ping, written), "three strikes");
        // An answer besides the pongs would have forgiven them too.
        let mut busy = PingPolicy::new(Duration::from_secs(300));
        for sent in 0..10 {
            assert!(!busy.saw(ping, sent * 1000));
        }
    }
}
