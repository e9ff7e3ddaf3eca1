//! What a server is started with: the tour's own settings, and the limits every production
//! gRPC server should set on purpose rather than inherit.
//!
//! [`Limits`] doubles as the server's command-line flags, so each default is stated once,
//! with the reason for it, and shows in `grpc-tour --help`.

use std::time::Duration;

use tonic::transport::ServerTlsConfig;

use crate::{
    lesson::route_guide::{features::FeatureDb, notes},
    production::notes::NoteHome,
};

/// Everything the server is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds the Mentat's verdicts, so that a run can be repeated; `None` for fresh ones.
    pub seed: Option<u64>,
    /// How long the Mentat thinks before each verdict: a way to see a deadline pass.
    pub mentat_delay: Duration,
    /// The features the route guide knows.
    pub features: FeatureDb,
    /// How many chat notes the server keeps before it refuses new ones.
    pub max_notes: usize,
    /// How many bytes of chat notes the server keeps before it refuses new ones.
    pub max_note_bytes: usize,
    /// Where the chat notes live: in memory, or in a Redis that replicas share.
    pub notes: NoteHome,
    /// The bearer token tour calls must carry, if any.
    pub token: Option<String>,
    /// Serve TLS (and maybe require client certificates) instead of plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// Message size, streams, deadlines, keepalive and the shutdown grace period.
    pub limits: Limits,
    /// The name this server gives in the `x-served-by` header of every response, so that a
    /// client can see which replica answered; its address when `None`.
    pub replica_name: Option<String>,
    /// Whether to keep Prometheus metrics of every call (`crate::production::metrics`).
    pub metrics: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: None,
            mentat_delay: Duration::ZERO,
            features: FeatureDb::embedded(),
            max_notes: notes::DEFAULT_CAPACITY,
            max_note_bytes: notes::DEFAULT_BYTE_BUDGET,
            notes: NoteHome::Memory,
            token: None,
            tls: None,
            limits: Limits::default(),
            replica_name: None,
            metrics: false,
        }
    }
}

/// The largest message the server accepts or sends by default: gRPC's usual 4 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The limits of one server; each field is also a flag of the binary.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// The largest message, in bytes, the server accepts or sends. A larger request message
    /// fails its call with RESOURCE_EXHAUSTED before it is buffered, so one request cannot
    /// make the server allocate without bound (a larger response fails with tonic's
    /// OUT_OF_RANGE). 4 MiB is gRPC's usual default.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_message_size: usize,

    /// How many calls (HTTP/2 streams) one connection may have open at once. A client
    /// past it waits for one of its calls to end; the cap bounds what one connection can
    /// hold on the server.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_concurrent_streams: u32,

    /// The longest any call may last. A client's own deadline (grpc-timeout) applies when
    /// it is sooner; a call without one gets this one, so no call runs forever. A call past
    /// its deadline ends with DEADLINE_EXCEEDED.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_deadline: Duration,

    /// How often to ping a connection with HTTP/2 PING frames. A peer that vanished without
    /// closing its socket (a cable pulled, a VM gone) is noticed only this way.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub keepalive_interval: Duration,

    /// How long to wait for a ping's answer before closing the connection as dead.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub keepalive_timeout: Duration,

    /// How long calls in flight may go on after a shutdown begins (SIGTERM, Ctrl-C). Calls
    /// still open then end with UNAVAILABLE, which tells clients to retry elsewhere. Long
    /// enough for any unary call; short enough that a chat that never ends cannot hold up
    /// a deploy.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace_period: Duration,

    /// The largest block of headers, in bytes, a client may send with a call. 16 KiB is
    /// plenty for gRPC metadata, and bounds what one call's headers can make the server
    /// hold.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub max_header_list_size: u32,

    /// How many streams a client may open and reset before the server has even accepted
    /// them, per connection. Past it the connection is closed: a "rapid reset" flood makes
    /// the server start work for calls that are cancelled at once.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_pending_resets: usize,

    /// How long a new connection may take to send its HTTP/2 preface and settings (and to
    /// finish its TLS handshake, with TLS) before it is closed, so that a peer that connects
    /// and says nothing cannot hold a socket.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,

    /// How long a connection may go with no call at all before it is closed. A client that
    /// needs the connection again reconnects; an abandoned one stops holding a socket.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// How long a call may stay open past its deadline, or past the shutdown's grace period,
    /// before the server takes it to be blocked by a client that stopped reading and closes
    /// its connection (a reading client's call has ended by then).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub stalled_grace: Duration,
}

impl Default for Limits {
    /// The defaults of the flags, for servers started from code.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        // One source of truth for the defaults: the flag definitions above.
        let flags = Limits::augment_args(clap::Command::new("limits")).get_matches_from(["limits"]);
        Limits::from_arg_matches(&flags).expect("the flags' defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_flags() {
        let limits = Limits::default();
        assert_eq!(limits.max_message_size, 4 * 1024 * 1024);
        assert_eq!(limits.max_concurrent_streams, 256);
        assert_eq!(limits.max_deadline, Duration::from_secs(300));
        assert_eq!(limits.keepalive_interval, Duration::from_secs(60));
        assert_eq!(limits.keepalive_timeout, Duration::from_secs(20));
        assert_eq!(limits.grace_period, Duration::from_secs(10));
        assert_eq!(limits.max_header_list_size, 16 * 1024);
        assert_eq!(limits.max_pending_resets, 20);
        assert_eq!(limits.handshake_timeout, Duration::from_secs(10));
        assert_eq!(limits.idle_timeout, Duration::from_secs(300));
        assert_eq!(limits.stalled_grace, Duration::from_millis(500));
    }
}
