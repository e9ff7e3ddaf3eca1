//! W3C Trace Context: the `traceparent` header that ties one call's log lines together
//! across every process it passes through.
//!
//! ```text
//! traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//!              │  │                                │                └ flags (01: sampled)
//!              │  │                                └ the caller's span id (16 hex digits)
//!              │  └ the trace id, the same in every process of the trace (32 hex digits)
//!              └ version
//! ```
//!
//! A client that sends one makes the server's call a child of its own span: the server keeps
//! the trace id and gives the call a span id of its own. A call without one (or with one
//! that does not parse, which the spec says to treat alike) starts a new trace. Either way,
//! the server's log line and span carry `trace_id` and `span_id`, so a client that printed
//! its `traceparent` finds its call in the server's log by the trace id.
//!
//! Parsed here rather than with the `opentelemetry` crates: the format is one fixed-length
//! line, and the tour exports no spans, which is what those crates are for (with their
//! SDK, about 30 more crates to build). A server that exports to a collector would use
//! them, and this header is what they read.

use std::fmt;

use http::HeaderName;

/// The header, lower-case as HTTP/2 sends it.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Where one span sits in its trace: the ids a `traceparent` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace, shared by every span in it. Never zero.
    pub trace_id: u128,
    /// This span. Never zero.
    pub span_id: u64,
    /// The flags; bit 0 says the caller records (samples) this trace.
    pub flags: u8,
}

impl TraceContext {
    /// The first span of a new trace, sampled.
    pub fn new_trace() -> Self {
        TraceContext {
            trace_id: nonzero(rand::random()),
            span_id: nonzero(rand::random()),
            flags: 1,
        }
    }

    /// The span of a call made under `self`: the same trace, a new span id.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: nonzero(rand::random()),
            ..*self
        }
    }

    /// The context in a `traceparent` value, or `None` if it is not one the spec's
    /// version 00 allows (a later version is read by its first four fields, as the spec
    /// asks).
    pub fn parse(value: &[u8]) -> Option<Self> {
        // version-traceid-spanid-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 bytes.
        let version = hex(value.get(0..2)?)? as u8;
        let fits = match version {
            0x00 => value.len() == 55,
            0xff => false,
            _ => value.len() == 55 || value.get(55) == Some(&b'-'),
        };
        if !fits || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let trace_id = hex(&value[3..35])?;
        let span_id = hex(&value[36..52])? as u64;
        let flags = hex(&value[53..55])? as u8;
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The trace id as the 32 hex digits that logs and tracing systems show.
    pub fn trace_id_hex(&self) -> TraceId {
        TraceId(self.trace_id)
    }

    /// The span id as 16 hex digits.
    pub fn span_id_hex(&self) -> SpanId {
        SpanId(self.span_id)
    }
}

impl fmt::Display for TraceContext {
    /// The `traceparent` form: `00-{trace id}-{span id}-{flags}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

/// A trace id, shown as 32 lower-case hex digits.
#[derive(Debug, Clone, Copy)]
pub struct TraceId(u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A span id, shown as 16 lower-case hex digits.
#[derive(Debug, Clone, Copy)]
pub struct SpanId(u64);

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Lower-case hex digits only, as the spec requires, as a number.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |number, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(number << 4 | u128::from(value))
    })
}

/// All-zero ids are invalid; a random draw is zero about never, but never is cheap to make
/// sure of.
fn nonzero<T: Default + PartialEq + From<u8>>(id: T) -> T {
    if id == T::default() { T::from(1) } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_the_specs_example_and_writes_it_back() {
        let context = TraceContext::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(context.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(context.span_id, 0x00f067aa0ba902b7);
        assert_eq!(context.flags, 1);
        assert_eq!(context.to_string(), SPEC_EXAMPLE);
        assert_eq!(
            context.trace_id_hex().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id_hex().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn refuses_what_the_spec_does_not_allow() {
        for bad in [
            "",
            "00",
            // Upper-case hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // All-zero trace id and span id.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Version ff is forbidden; version 00 has nothing after the flags.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // A short span id, a missing dash.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            // Not even ASCII: a header value may carry any byte.
            "00-4bf92f3577b34da6a3ce929d0e0e47\u{e9}-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        let context = TraceContext::parse(later.as_bytes()).unwrap();
        assert_eq!(context.span_id, 0x00f067aa0ba902b7);
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_its_own_span() {
        let root = TraceContext::new_trace();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(TraceContext::new_trace().trace_id, root.trace_id);
        let header = root.to_string();
        assert_eq!(TraceContext::parse(header.as_bytes()), Some(root));
    }
}
