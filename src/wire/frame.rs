//! HTTP/2 frames read off one direction of a connection, and the gRPC messages inside them.
//!
//! Every HTTP/2 frame starts with 9 bytes: a 24-bit length, a type, flags, and a 31-bit
//! stream id (RFC 9113, section 4.1). The frame layout is simple enough to read here; the
//! header blocks inside HEADERS and CONTINUATION are not: they are HPACK-compressed against a
//! table both peers keep (RFC 7541), and `loona-hpack` decodes them. Inside the DATA frames
//! of one stream, gRPC sends each message behind a 5-byte prefix (a compressed flag and a
//! 32-bit length), and a message may span frames or share one with others: [`FrameReader`]
//! reassembles them per stream.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use crate::protocol::prefix::{PREFIX, Piece, Prefixes};

/// Which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server: `→`.
    ToServer,
    /// From the server to the client: `←`.
    ToClient,
}

impl Direction {
    /// The arrow the timeline prints for this direction.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::ToServer => "→",
            Direction::ToClient => "←",
        }
    }
}

/// What a client sends before its first frame (RFC 9113, section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame, decoded. HEADERS and its CONTINUATIONs count as one frame here,
/// since only together do they hold a header block that can be decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The client's connection preface, the 24 bytes before its first SETTINGS.
    Preface,
    /// Part of a stream's body: for gRPC, messages behind their 5-byte prefixes.
    Data {
        /// The stream it belongs to.
        stream: u32,
        /// Whether the sender's side of the stream ends with this frame.
        end_stream: bool,
        /// The frame's payload length, padding included.
        length: usize,
        /// The gRPC messages that this frame completes, in order.
        messages: Vec<Message>,
        /// A message begun but not finished by the end of this frame.
        pending: Option<Pending>,
    },
    /// A header block: the request's or response's headers, or the trailers.
    Headers {
        /// The stream it belongs to.
        stream: u32,
        /// Whether the sender's side of the stream ends with this frame: trailers do that.
        end_stream: bool,
        /// The fields, in order; an `authorization` value is redacted.
        fields: Vec<(String, String)>,
        /// How many CONTINUATION frames carried the rest of the block.
        continuations: usize,
    },
    /// A stream's priority (deprecated by RFC 9113; tonic sends none).
    Priority {
        /// The stream it belongs to.
        stream: u32,
    },
    /// The sender abandons the stream at once, with a reason.
    RstStream {
        /// The stream it ends.
        stream: u32,
        /// Why, as an HTTP/2 error code.
        code: ErrorCode,
    },
    /// Connection settings, or the acknowledgement of the peer's.
    Settings {
        /// An acknowledgement carries no settings.
        ack: bool,
        /// Each setting's name and value, in the order sent.
        settings: Vec<(String, u32)>,
    },
    /// A server push (gRPC never uses it).
    PushPromise {
        /// The stream it was promised on.
        stream: u32,
    },
    /// A liveness check, or its answer.
    Ping {
        /// Whether this answers a PING.
        ack: bool,
        /// The 8 opaque bytes, echoed in the answer.
        payload: u64,
    },
    /// The sender will take no more streams after `last_stream`.
    GoAway {
        /// The last stream the sender has processed or might still process.
        last_stream: u32,
        /// Why the connection is closing.
        code: ErrorCode,
        /// Optional diagnostics.
        debug: String,
    },
    /// Flow control: the receiver can take `increment` more bytes.
    WindowUpdate {
        /// The stream, or 0 for the whole connection.
        stream: u32,
        /// How many more bytes may be sent.
        increment: u32,
    },
    /// A frame type this reader does not know (HTTP/2 says to ignore it).
    Unknown {
        /// The frame type.
        kind: u8,
        /// The stream it belongs to.
        stream: u32,
        /// Its payload length.
        length: usize,
    },
    /// The bytes are not HTTP/2 as this reader understands it; it reads no further.
    Unreadable {
        /// What was wrong.
        reason: String,
    },
}

impl Frame {
    /// The frame's name as RFC 9113 spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Preface => "PREFACE",
            Frame::Data { .. } => "DATA",
            Frame::Headers { .. } => "HEADERS",
            Frame::Priority { .. } => "PRIORITY",
            Frame::RstStream { .. } => "RST_STREAM",
            Frame::Settings { .. } => "SETTINGS",
            Frame::PushPromise { .. } => "PUSH_PROMISE",
            Frame::Ping { .. } => "PING",
            Frame::GoAway { .. } => "GOAWAY",
            Frame::WindowUpdate { .. } => "WINDOW_UPDATE",
            Frame::Unknown { .. } => "UNKNOWN",
            Frame::Unreadable { .. } => "UNREADABLE",
        }
    }

    /// The stream the frame belongs to; 0 for the connection as a whole.
    pub fn stream(&self) -> u32 {
        match self {
            Frame::Data { stream, .. }
            | Frame::Headers { stream, .. }
            | Frame::Priority { stream }
            | Frame::RstStream { stream, .. }
            | Frame::PushPromise { stream }
            | Frame::WindowUpdate { stream, .. }
            | Frame::Unknown { stream, .. } => *stream,
            _ => 0,
        }
    }

    /// Whether the sender's side of the stream ends with this frame.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Frame::Data {
                end_stream: true,
                ..
            } | Frame::Headers {
                end_stream: true,
                ..
            }
        )
    }

    /// Whether the frame is about the connection and its flow control rather than a call:
    /// the preface, SETTINGS, PING, GOAWAY and WINDOW_UPDATE (on any stream).
    pub fn is_housekeeping(&self) -> bool {
        matches!(
            self,
            Frame::Preface
                | Frame::Settings { .. }
                | Frame::Ping { .. }
                | Frame::GoAway { .. }
                | Frame::WindowUpdate { .. }
        )
    }

    /// The value of header `name` in a HEADERS frame.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Frame::Headers { fields, .. } => fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.as_str()),
            _ => None,
        }
    }

    /// The gRPC status a HEADERS frame carries (trailers, or a trailers-only answer), read
    /// as a client reads it: tonic's `Status::from_header_map` percent-decodes the message
    /// and base64-decodes the details.
    pub fn grpc_status(&self) -> Option<tonic::Status> {
        let Frame::Headers { fields, .. } = self else {
            return None;
        };
        let mut headers = http::HeaderMap::new();
        // The pseudo-headers (`:status`) are not header names a map can hold.
        for (name, value) in fields.iter().filter(|(name, _)| !name.starts_with(':')) {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        tonic::Status::from_header_map(&headers)
    }
}

/// One gRPC message, as its 5-byte prefix framed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The prefix's first byte: whether the message is compressed (by `grpc-encoding`).
    pub compressed: bool,
    /// The message's length, as its prefix gives it.
    pub length: usize,
    /// The message itself, without its prefix: protobuf bytes, unless compressed. Empty
    /// for a message longer than [`MAX_KEPT`] (or past what one frame may keep): the
    /// reader counts such a message's bytes but does not keep them.
    pub payload: Bytes,
}

impl Message {
    /// Whether the reader kept the message's bytes.
    pub fn is_kept(&self) -> bool {
        self.payload.len() == self.length
    }
}

/// The longest message whose bytes the reader keeps, to show and decode it: the relay is
/// for reading, and a peer's messages may be as long as 4 GiB.
pub const MAX_KEPT: usize = 64 * 1024;

/// The most message bytes one frame's report may keep, whatever the frame's size: so that
/// what the relay holds per event is bounded in bytes, not only in events.
pub const MAX_KEPT_PER_FRAME: usize = 256 * 1024;

/// The longest header block the reader assembles from HEADERS and CONTINUATION frames.
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// A message that a DATA frame began or continued but did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// How many bytes of the message (prefix included) have arrived so far.
    pub have: usize,
    /// How long it is, prefix included, once its prefix has arrived.
    pub of: Option<usize>,
}

/// An HTTP/2 error code, as in RST_STREAM and GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// `CANCEL`: the stream is no longer needed, as when a client hangs up.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// `NO_ERROR`: a graceful end.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);

    /// The code's name as RFC 9113 spells it.
    pub fn name(self) -> String {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => (*name).to_owned(),
            None => format!("0x{:x}", self.0),
        }
    }
}

/// A setting's name as RFC 9113 spells it.
fn setting_name(id: u16) -> String {
    match id {
        1 => "HEADER_TABLE_SIZE".into(),
        2 => "ENABLE_PUSH".into(),
        3 => "MAX_CONCURRENT_STREAMS".into(),
        4 => "INITIAL_WINDOW_SIZE".into(),
        5 => "MAX_FRAME_SIZE".into(),
        6 => "MAX_HEADER_LIST_SIZE".into(),
        8 => "ENABLE_CONNECT_PROTOCOL".into(),
        other => format!("0x{other:x}"),
    }
}

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The part of a stream's next message that has arrived so far.
#[derive(Default)]
struct Partial {
    /// Where the stream is in its messages.
    prefixes: Prefixes,
    /// The current message's prefix, once whole: whether it is compressed, and its length.
    current: Option<(bool, usize)>,
    /// The message's bytes so far, while it is to be kept.
    payload: BytesMut,
}

impl Partial {
    fn pending(&self) -> Option<Pending> {
        match self.current {
            Some((_, length)) => Some(Pending {
                have: PREFIX + length - self.prefixes.message_left(),
                of: length.checked_add(PREFIX),
            }),
            None if self.prefixes.prefix_read() > 0 => Some(Pending {
                have: self.prefixes.prefix_read(),
                of: None,
            }),
            None => None,
        }
    }
}

/// A header block still waiting for its CONTINUATION frames.
struct OpenBlock {
    stream: u32,
    end_stream: bool,
    fragment: BytesMut,
    continuations: usize,
}

/// Reads the frames of one direction of one connection, from bytes as they arrive in any
/// pieces. It keeps what decoding needs from frame to frame: the HPACK table of the
/// sender's encoder, a header block awaiting its CONTINUATIONs, and each stream's
/// unfinished gRPC message.
pub struct FrameReader {
    /// Bytes received but not yet a whole frame.
    buffer: BytesMut,
    /// Whether the connection preface is still to come (client to server only).
    expect_preface: bool,
    /// The decoding side of the sender's HPACK table.
    hpack: loona_hpack::Decoder<'static>,
    open_block: Option<OpenBlock>,
    /// Per stream: a gRPC message begun but not finished.
    partial: HashMap<u32, Partial>,
    /// Whether the first frame from the server, which must be SETTINGS, is still to come.
    expect_settings: bool,
    /// Set once the bytes could not be read: the rest is passed on unread.
    broken: bool,
}

impl FrameReader {
    /// A reader for the frames going `direction`.
    pub fn new(direction: Direction) -> Self {
        FrameReader {
            buffer: BytesMut::new(),
            expect_preface: direction == Direction::ToServer,
            hpack: loona_hpack::Decoder::new(),
            open_block: None,
            partial: HashMap::new(),
            expect_settings: direction == Direction::ToClient,
            broken: false,
        }
    }

    /// Takes the next bytes of the connection and returns every frame they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        if self.broken {
            return frames;
        }
        self.buffer.extend_from_slice(bytes);
        if self.expect_preface {
            let have = self.buffer.len().min(PREFACE.len());
            if self.buffer[..have] != PREFACE[..have] {
                return self.give_up(frames, "the client did not begin with the HTTP/2 preface");
            }
            if have < PREFACE.len() {
                return frames;
            }
            self.buffer.advance(PREFACE.len());
            self.expect_preface = false;
            frames.push(Frame::Preface);
        }
        while self.buffer.len() >= 9 {
            // An HTTP/1 or TLS answer reads as a frame of megabytes: the type tells first.
            if self.expect_settings && self.buffer[3] != 0x4 {
                return self.give_up(frames, "the server did not begin with HTTP/2 SETTINGS");
            }
            let length = usize::from(self.buffer[0]) << 16
                | usize::from(self.buffer[1]) << 8
                | usize::from(self.buffer[2]);
            if self.buffer.len() < 9 + length {
                break;
            }
            self.expect_settings = false;
            let mut header = self.buffer.split_to(9);
            let payload = self.buffer.split_to(length).freeze();
            header.advance(3);
            let (kind, flags) = (header.get_u8(), header.get_u8());
            let stream = header.get_u32() & 0x7fff_ffff;
            match self.frame(kind, flags, stream, payload) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {}
                Err(reason) => return self.give_up(frames, &reason),
            }
        }
        frames
    }

    fn give_up(&mut self, mut frames: Vec<Frame>, reason: &str) -> Vec<Frame> {
        self.broken = true;
        self.buffer.clear();
        frames.push(Frame::Unreadable {
            reason: reason.to_owned(),
        });
        frames
    }

    /// One whole frame; `None` for a HEADERS or CONTINUATION that leaves its block open.
    fn frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream: u32,
        mut payload: Bytes,
    ) -> Result<Option<Frame>, String> {
        if self.open_block.is_some() && kind != 0x9 {
            return Err(format!(
                "frame type {kind} inside an unfinished header block"
            ));
        }
        let short = |name: &str| format!("a {name} frame too short for its fields");
        let frame = match kind {
            0x0 => {
                let length = payload.len();
                let data = unpadded(payload, flags).ok_or_else(|| short("DATA"))?;
                let (messages, pending) = self.messages(stream, &data);
                let end_stream = flags & END_STREAM != 0;
                if end_stream {
                    self.partial.remove(&stream);
                }
                Frame::Data {
                    stream,
                    end_stream,
                    length,
                    messages,
                    pending,
                }
            }
            0x1 => {
                let mut block = unpadded(payload, flags).ok_or_else(|| short("HEADERS"))?;
                if flags & PRIORITY != 0 {
                    if block.len() < 5 {
                        return Err(short("HEADERS"));
                    }
                    block.advance(5);
                }
                let end_stream = flags & END_STREAM != 0;
                if end_stream {
                    self.partial.remove(&stream);
                }
                self.open_block = Some(OpenBlock {
                    stream,
                    end_stream,
                    fragment: BytesMut::from(&block[..]),
                    continuations: 0,
                });
                if flags & END_HEADERS == 0 {
                    return Ok(None);
                }
                self.close_block()?
            }
            0x9 => {
                let block = self
                    .open_block
                    .as_mut()
                    .filter(|block| block.stream == stream)
                    .ok_or("a CONTINUATION that continues nothing")?;
                if block.fragment.len() + payload.len() > MAX_HEADER_BLOCK {
                    return Err(format!(
                        "a header block longer than {MAX_HEADER_BLOCK} bytes"
                    ));
                }
                block.fragment.extend_from_slice(&payload);
                block.continuations += 1;
                if flags & END_HEADERS == 0 {
                    return Ok(None);
                }
                self.close_block()?
            }
            0x2 => Frame::Priority { stream },
            0x3 => {
                if payload.len() < 4 {
                    return Err(short("RST_STREAM"));
                }
                self.partial.remove(&stream);
                Frame::RstStream {
                    stream,
                    code: ErrorCode(payload.get_u32()),
                }
            }
            0x4 => {
                let mut settings = Vec::new();
                while payload.len() >= 6 {
                    let id = payload.get_u16();
                    settings.push((setting_name(id), payload.get_u32()));
                }
                Frame::Settings {
                    ack: flags & ACK != 0,
                    settings,
                }
            }
            0x5 => Frame::PushPromise { stream },
            0x6 => {
                if payload.len() < 8 {
                    return Err(short("PING"));
                }
                Frame::Ping {
                    ack: flags & ACK != 0,
                    payload: payload.get_u64(),
                }
            }
            0x7 => {
                if payload.len() < 8 {
                    return Err(short("GOAWAY"));
                }
                Frame::GoAway {
                    last_stream: payload.get_u32() & 0x7fff_ffff,
                    code: ErrorCode(payload.get_u32()),
                    debug: String::from_utf8_lossy(&payload).into_owned(),
                }
            }
            0x8 => {
                if payload.len() < 4 {
                    return Err(short("WINDOW_UPDATE"));
                }
                Frame::WindowUpdate {
                    stream,
                    increment: payload.get_u32() & 0x7fff_ffff,
                }
            }
            kind => Frame::Unknown {
                kind,
                stream,
                length: payload.len(),
            },
        };
        Ok(Some(frame))
    }

    /// Decodes the header block just completed, with the table the sender encoded it by.
    fn close_block(&mut self) -> Result<Frame, String> {
        let block = self.open_block.take().ok_or("no header block is open")?;
        let mut fields = Vec::new();
        self.hpack
            .decode_with_cb(&block.fragment, |name, value| {
                let name = String::from_utf8_lossy(&name).into_owned();
                let value = if name == "authorization" {
                    redacted(&value)
                } else {
                    String::from_utf8_lossy(&value).into_owned()
                };
                fields.push((name, value));
            })
            .map_err(|error| format!("an HPACK block that does not decode: {error:?}"))?;
        Ok(Frame::Headers {
            stream: block.stream,
            end_stream: block.end_stream,
            fields,
            continuations: block.continuations,
        })
    }

    /// Adds a DATA frame's bytes to its stream and takes out every message they complete.
    fn messages(&mut self, stream: u32, mut data: &[u8]) -> (Vec<Message>, Option<Pending>) {
        let mut partial = self.partial.remove(&stream).unwrap_or_default();
        let mut messages = Vec::new();
        let mut kept = 0;
        while let Some(piece) = partial.prefixes.next(&mut data) {
            match piece {
                Piece::Prefix { compressed, length } => {
                    partial.current = Some((compressed, length))
                }
                Piece::Message(bytes) => {
                    if partial
                        .current
                        .is_some_and(|(_, length)| length <= MAX_KEPT)
                    {
                        partial.payload.extend_from_slice(bytes);
                    }
                }
            }
            let Some((compressed, length)) = partial.current else {
                continue;
            };
            if partial.prefixes.message_left() > 0 {
                continue;
            }
            partial.current = None;
            let payload = std::mem::take(&mut partial.payload);
            let keep = length <= MAX_KEPT && kept + length <= MAX_KEPT_PER_FRAME;
            if keep {
                kept += length;
            }
            messages.push(Message {
                compressed,
                length,
                payload: if keep { payload.freeze() } else { Bytes::new() },
            });
        }
        let pending = partial.pending();
        if pending.is_some() {
            self.partial.insert(stream, partial);
        }
        (messages, pending)
    }
}

/// A payload without its padding, if the PADDED flag is set and the padding fits.
fn unpadded(mut payload: Bytes, flags: u8) -> Option<Bytes> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let padding = usize::from(*payload.first()?);
    payload.advance(1);
    let keep = payload.len().checked_sub(padding)?;
    payload.truncate(keep);
    Some(payload)
}

/// An `authorization` value with its secret left out: the scheme stays, so that a reader
/// still sees that a bearer token was sent.
fn redacted(value: &[u8]) -> String {
    let value = String::from_utf8_lossy(value);
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} [redacted]"),
        None => "[redacted]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as its sender writes it.
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        bytes.extend([kind, flags]);
        bytes.extend(stream.to_be_bytes());
        bytes.extend(payload);
        bytes
    }

    /// A reader of the server's frames, past the SETTINGS a server begins with.
    fn server() -> FrameReader {
        let mut reader = FrameReader::new(Direction::ToClient);
        assert_eq!(reader.push(&frame(0x4, 0, 0, &[])).len(), 1);
        reader
    }

    /// A gRPC message behind its 5-byte prefix.
    fn grpc(message: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend((message.len() as u32).to_be_bytes());
        bytes.extend(message);
        bytes
    }

    fn headers(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut encoder = loona_hpack::Encoder::new();
        encoder.encode(
            fields
                .iter()
                .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
        )
    }

    #[test]
    fn the_preface_then_frames_arrive_in_any_pieces() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        bytes.extend(frame(0x8, 0, 0, &[0, 1, 0, 0]));
        let mut reader = FrameReader::new(Direction::ToServer);
        let mut frames = Vec::new();
        for byte in &bytes {
            frames.extend(reader.push(std::slice::from_ref(byte)));
        }
        assert_eq!(
            frames,
            [
                Frame::Preface,
                Frame::Settings {
                    ack: false,
                    settings: vec![("MAX_CONCURRENT_STREAMS".into(), 100)],
                },
                Frame::WindowUpdate {
                    stream: 0,
                    increment: 65536,
                },
            ]
        );
    }

    #[test]
    fn a_header_block_split_over_continuations_decodes_as_one_and_hides_the_token() {
        let block = headers(&[
            (":path", "/tour.Summator/Sum"),
            ("authorization", "Bearer sesame"),
        ]);
        let (first, rest) = block.split_at(block.len() / 2);
        let mut bytes = frame(0x1, END_STREAM, 1, first);
        bytes.extend(frame(0x9, END_HEADERS, 1, rest));
        let frames = server().push(&bytes);
        assert_eq!(
            frames,
            [Frame::Headers {
                stream: 1,
                end_stream: true,
                fields: vec![
                    (":path".into(), "/tour.Summator/Sum".into()),
                    ("authorization".into(), "Bearer [redacted]".into()),
                ],
                continuations: 1,
            }]
        );
    }

    #[test]
    fn messages_are_reassembled_across_data_frames_and_several_share_one() {
        let mut body = grpc(b"first");
        body.extend(grpc(b"second"));
        body.extend(grpc(b"third"));
        // Split inside the third message's prefix, and pad the first frame.
        let split = body.len() - 7;
        let mut padded = vec![3];
        padded.extend(&body[..split]);
        padded.extend([0, 0, 0]);
        let mut reader = server();
        let frames = reader.push(&frame(0x0, PADDED, 3, &padded));
        let Frame::Data {
            messages, pending, ..
        } = &frames[0]
        else {
            panic!("not DATA: {frames:?}");
        };
        let payloads: Vec<_> = messages.iter().map(|m| &m.payload[..]).collect();
        assert_eq!(payloads, [&b"first"[..], b"second"]);
        assert_eq!(*pending, Some(Pending { have: 3, of: None }));

        let frames = reader.push(&frame(0x0, END_STREAM, 3, &body[split..]));
        let Frame::Data {
            messages, pending, ..
        } = &frames[0]
        else {
            panic!("not DATA: {frames:?}");
        };
        assert_eq!(messages[0].payload, &b"third"[..]);
        assert_eq!(*pending, None);
        assert!(frames[0].ends_stream());
    }

    #[test]
    fn a_message_longer_than_the_relay_keeps_is_counted_not_kept() {
        let long = vec![7; MAX_KEPT + 1];
        let body = grpc(&long);
        let mut reader = FrameReader::new(Direction::ToServer);
        reader.push(PREFACE);
        let mut messages = Vec::new();
        for piece in body.chunks(16_384) {
            for frame in reader.push(&frame(0x0, 0, 1, piece)) {
                if let Frame::Data { messages: done, .. } = frame {
                    messages.extend(done);
                }
            }
        }
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].length, MAX_KEPT + 1);
        assert!(!messages[0].is_kept());
        assert!(messages[0].payload.is_empty());
        assert!(reader.partial.is_empty(), "nothing is left behind");
    }

    #[test]
    fn a_server_that_does_not_begin_with_settings_is_unreadable_at_once() {
        // An HTTP/1 answer: its first 9 bytes would claim a frame of megabytes.
        let frames = FrameReader::new(Direction::ToClient).push(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(
            matches!(&frames[..], [Frame::Unreadable { .. }]),
            "{frames:?}"
        );
    }

    #[test]
    fn a_reset_and_a_goaway_say_why() {
        let mut bytes = frame(0x3, 0, 5, &8u32.to_be_bytes());
        let mut goaway = 5u32.to_be_bytes().to_vec();
        goaway.extend(0u32.to_be_bytes());
        goaway.extend(b"bye");
        bytes.extend(frame(0x7, 0, 0, &goaway));
        let frames = server().push(&bytes);
        assert_eq!(
            frames,
            [
                Frame::RstStream {
                    stream: 5,
                    code: ErrorCode::CANCEL,
                },
                Frame::GoAway {
                    last_stream: 5,
                    code: ErrorCode::NO_ERROR,
                    debug: "bye".into(),
                },
            ]
        );
        assert_eq!(ErrorCode::CANCEL.name(), "CANCEL");
        assert_eq!(ErrorCode(0x42).name(), "0x42");
    }

    #[test]
    fn bytes_that_are_not_http2_are_reported_once_and_then_ignored() {
        let mut reader = FrameReader::new(Direction::ToServer);
        let frames = reader.push(b"GET / HTTP/1.1\r\n\r\n");
        assert!(
            matches!(&frames[..], [Frame::Unreadable { .. }]),
            "{frames:?}"
        );
        assert!(reader.push(PREFACE).is_empty());
    }

    #[test]
    fn a_frame_too_short_for_its_fields_is_unreadable_not_a_panic() {
        let frames = server().push(&frame(0x3, 0, 1, &[0, 0]));
        assert!(
            matches!(&frames[..], [Frame::Unreadable { .. }]),
            "{frames:?}"
        );
        let frames = server().push(&frame(0x0, PADDED, 1, &[9, 1]));
        assert!(
            matches!(&frames[..], [Frame::Unreadable { .. }]),
            "{frames:?}"
        );
    }
}
