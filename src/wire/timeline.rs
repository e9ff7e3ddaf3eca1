//! The relay's events as a timeline a person reads: one line per frame, with its time since
//! the connection opened and an arrow for its direction, then what it carries: each header
//! field, each gRPC message decoded, the status in the trailers.
//!
//! Frames that keep the connection going rather than carry a call (the preface, SETTINGS,
//! PING, GOAWAY and WINDOW_UPDATE) are counted and summed up in one line, unless the
//! timeline shows everything.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{
    Direction, Event, Frame, What,
    contract::Contract,
    frame::{MAX_KEPT, Message, Pending},
};

/// The first line of a timeline: what the arrows mean.
pub const LEGEND: &str =
    "→ client to server, ← server to client; times are since the connection opened";

/// How many bytes of a message the hex line shows.
const HEX_BYTES: usize = 12;

/// Header fields that the tour's own layers add, and which layer.
const TOUR_HEADERS: [(&str, &str); 2] = [
    ("x-request-id", "echoed by the tour's request-id layer"),
    ("x-served-by", "added by the tour's replica-name layer"),
];

/// Turns one connection's events into lines.
pub struct Timeline {
    contract: Contract,
    all: bool,
    /// The path of each stream, from its request headers.
    paths: HashMap<u32, String>,
    /// The streams whose response headers have been seen: the next HEADERS are trailers.
    answered: HashMap<u32, bool>,
    /// Each direction's messages so far.
    messages: HashMap<Direction, usize>,
    /// Housekeeping frames not shown, by name.
    hidden: Vec<(&'static str, usize)>,
}

impl Timeline {
    /// A timeline that shows every frame if `all`, or else sums up the housekeeping.
    pub fn new(all: bool) -> Self {
        Timeline {
            contract: Contract::default(),
            all,
            paths: HashMap::new(),
            answered: HashMap::new(),
            messages: HashMap::new(),
            hidden: Vec::new(),
        }
    }

    /// How many gRPC messages have gone `direction` so far.
    pub fn messages(&self, direction: Direction) -> usize {
        self.messages.get(&direction).copied().unwrap_or(0)
    }

    /// Whether the server has sent the response headers of any stream yet.
    pub fn answered(&self) -> bool {
        !self.answered.is_empty()
    }

    /// The lines for `event`: none for a frame this timeline does not show.
    pub fn lines(&mut self, event: &Event) -> Vec<String> {
        let at = format!("{:>6.1} ms ", event.at.as_secs_f64() * 1000.0);
        let (direction, frame) = match &event.what {
            What::Frame(direction, frame) => (*direction, frame),
            What::Unreachable(why) => return vec![format!("{at}the relay {why}")],
            What::Opened | What::Closed => return vec![],
        };
        if frame.is_housekeeping() && !self.all {
            match self
                .hidden
                .iter_mut()
                .find(|(name, _)| *name == frame.name())
            {
                Some((_, count)) => *count += 1,
                None => self.hidden.push((frame.name(), 1)),
            }
            return vec![];
        }
        let mut head = format!("{at}{} {:<13}", direction.arrow(), frame.name());
        if frame.stream() != 0 || matches!(frame, Frame::WindowUpdate { .. }) {
            head += &format!(" stream {}", frame.stream());
        }
        if frame.ends_stream() {
            head += "  END_STREAM";
        }
        let details = self.details(direction, frame, &mut head);
        let indent = " ".repeat(at.len() + 2);
        std::iter::once(head.trim_end().to_owned())
            .chain(details.into_iter().map(|line| format!("{indent}{line}")))
            .collect()
    }

    /// The line that sums up the frames not shown, if any were hidden.
    pub fn hidden(&self) -> Option<String> {
        if self.hidden.is_empty() {
            return None;
        }
        // In a fixed order: which peer speaks first is not the point here.
        let mut hidden = self.hidden.clone();
        hidden.sort();
        let counted: Vec<String> = hidden
            .iter()
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        Some(format!(
            "(not shown: {}; --all shows every frame)",
            counted.join(", ")
        ))
    }

    /// What the frame carries, line by line; `head` gets what fits on the frame's line.
    fn details(&mut self, direction: Direction, frame: &Frame, head: &mut String) -> Vec<String> {
        match frame {
            Frame::Headers {
                stream,
                fields,
                end_stream,
                continuations,
            } => {
                if direction == Direction::ToServer {
                    if let Some(path) = frame.header(":path") {
                        self.paths.insert(*stream, path.to_owned());
                    }
                } else {
                    let before = self.answered.insert(*stream, true).unwrap_or(false);
                    *head += match (before, end_stream) {
                        (true, _) => "  (trailers)",
                        (false, true) => "  (trailers-only: no body, the status at once)",
                        (false, false) => "",
                    };
                }
                if *continuations > 0 {
                    *head += &format!("  (+{continuations} CONTINUATION)");
                }
                self.header_lines(fields, frame.grpc_status())
            }
            Frame::Data {
                stream,
                length,
                messages,
                pending,
                ..
            } => {
                *head += &format!("  {length} bytes");
                *self.messages.entry(direction).or_default() += messages.len();
                self.message_lines(direction, *stream, messages, *pending)
            }
            Frame::RstStream { code, .. } => {
                *head += &format!("  {}", code.name());
                vec![]
            }
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => {
                *head += &format!("  last stream {last_stream}, {}", code.name());
                if !debug.is_empty() {
                    *head += &format!(": {debug:?}");
                }
                vec![]
            }
            Frame::Settings { ack, settings } => {
                if *ack {
                    *head += "  ACK";
                }
                settings
                    .iter()
                    .map(|(name, value)| format!("{name} {value}"))
                    .collect()
            }
            Frame::Ping { ack, payload } => {
                *head += &format!("  {}{payload:016x}", if *ack { "ACK " } else { "" });
                vec![]
            }
            Frame::WindowUpdate { increment, .. } => {
                *head += &format!("  +{increment} bytes");
                vec![]
            }
            Frame::Unknown { kind, length, .. } => {
                *head += &format!("  type 0x{kind:x}, {length} bytes");
                vec![]
            }
            Frame::Unreadable { reason } => vec![reason.clone()],
            Frame::Preface | Frame::Priority { .. } | Frame::PushPromise { .. } => vec![],
        }
    }

    fn header_lines(&self, fields: &[(String, String)], status: Option<Status>) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, value) in fields {
            let mut line = format!("{name}: {}", shortened(value))
                .trim_end()
                .to_owned();
            if let Some((_, layer)) = TOUR_HEADERS.iter().find(|(header, _)| header == name) {
                line += &format!("   ({layer})");
            }
            if name == "grpc-timeout" {
                line += &format!("   ({})", timeout(value));
            }
            if name == ":authority" {
                line += "   (the address the client dialled: here, the relay's)";
            }
            if name == "grpc-status" {
                let code = value.parse().map(Code::from_i32).unwrap_or(Code::Unknown);
                line += &format!("   ({code:?})");
            }
            lines.push(line);
        }
        if let Some(status) = status {
            if fields.iter().any(|(name, _)| name == "grpc-message") {
                lines.push(format!(
                    "(grpc-message, percent-decoded: {:?})",
                    status.message()
                ));
            }
            if !status.details().is_empty() {
                lines.push(format!(
                    "(grpc-status-details-bin, decoded: {})",
                    details(&status)
                ));
            }
        }
        lines
    }

    fn message_lines(
        &self,
        direction: Direction,
        stream: u32,
        messages: &[Message],
        pending: Option<Pending>,
    ) -> Vec<String> {
        let method = self
            .paths
            .get(&stream)
            .and_then(|path| self.contract.method(path));
        let type_name = method.map(|method| match direction {
            Direction::ToServer => method.input.as_str(),
            Direction::ToClient => method.output.as_str(),
        });
        let mut lines = Vec::new();
        for message in messages {
            let size = message.length;
            let shown = if !message.is_kept() {
                format!("longer than the relay keeps ({MAX_KEPT} bytes a message): not shown")
            } else if message.compressed {
                "compressed (by the stream's grpc-encoding): not decoded here".to_owned()
            } else {
                match type_name {
                    Some(name) => self
                        .contract
                        .decode(name, &message.payload)
                        .unwrap_or_else(|| format!("(bytes that do not decode as {name})")),
                    None => "(a message of a method this binary does not know)".to_owned(),
                }
            };
            lines.push(format!("gRPC message, {size} bytes: {shown}"));
            lines.push(format!("  {}", hex(message)));
        }
        if let Some(pending) = pending {
            lines.push(match pending.of {
                Some(of) => format!(
                    "... and {} of a message's {of} bytes, continued in the next DATA",
                    pending.have
                ),
                None => format!(
                    "... and {} bytes of the next message's prefix",
                    pending.have
                ),
            });
        }
        if messages.is_empty() && pending.is_none() {
            lines.push("(no message: only the end of the stream)".into());
        }
        lines
    }
}

/// A value short enough for one line: a long one (a `-bin` detail) keeps its start.
fn shortened(value: &str) -> String {
    const LONG: usize = 48;
    match value.char_indices().nth(LONG) {
        Some((cut, _)) => format!("{}... ({} bytes)", &value[..cut], value.len()),
        None => value.to_owned(),
    }
}

/// The prefix and the first bytes of a message, in hex: `00 00 00 00 12  09 00 00 ...`.
fn hex(message: &Message) -> String {
    let length = u32::try_from(message.length).unwrap_or(u32::MAX);
    let prefix: Vec<String> = std::iter::once(u8::from(message.compressed))
        .chain(length.to_be_bytes())
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let body: Vec<String> = message
        .payload
        .iter()
        .take(HEX_BYTES)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let more = if message.payload.len() > HEX_BYTES {
        " ..."
    } else {
        ""
    };
    format!(
        "prefix {}  message {}{more}",
        prefix.join(" "),
        body.join(" ")
    )
}

/// A `grpc-timeout` value as a person reads it: `5000000u` is 5 s, written in microseconds
/// (tonic writes the finest unit whose figure fits gRPC's 8 digits).
fn timeout(value: &str) -> String {
    let (figure, unit) = value.split_at(value.len().saturating_sub(1));
    let (per_second, name): (f64, &str) = match unit {
        "H" => (1.0 / 3600.0, "hours"),
        "M" => (1.0 / 60.0, "minutes"),
        "S" => (1.0, "seconds"),
        "m" => (1e3, "milliseconds"),
        "u" => (1e6, "microseconds"),
        "n" => (1e9, "nanoseconds"),
        _ => return "not a grpc-timeout".to_owned(),
    };
    match figure.parse::<f64>() {
        Ok(figure) => format!("{} s, in {name}", figure / per_second),
        Err(_) => "not a grpc-timeout".to_owned(),
    }
}

/// The rich error details of a status, as the `google.rpc` types debug-print them.
fn details(status: &Status) -> String {
    let details = status.get_error_details_vec();
    if details.is_empty() {
        return format!(
            "{} bytes of details this binary cannot read",
            status.details().len()
        );
    }
    format!("{details:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_timeout_reads_in_seconds_whatever_its_unit() {
        assert_eq!(timeout("5000000u"), "5 s, in microseconds");
        assert_eq!(timeout("250m"), "0.25 s, in milliseconds");
        assert_eq!(timeout("2S"), "2 s, in seconds");
        assert_eq!(timeout("1H"), "3600 s, in hours");
        assert_eq!(timeout("5x"), "not a grpc-timeout");
        assert_eq!(timeout(""), "not a grpc-timeout");
    }
}
