//! What a server is started with: the binary's flags, which are the server's settings.
//!
//! [`Config`] *is* the flags (clap's `Args`, flattened into the binary's), so each setting
//! is written once: its type, its default and the reason for it, which `grpc-tour --help`
//! shows. Code that starts a server (the tests, the examples) writes the same struct.

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::{
    lesson::route_guide::{features::FeatureDb, notes},
    production::{connection::ConnectionLimits, notes::NoteHome, tls::ServerTls},
};

/// Everything the server is started with.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Seeds the Mentat's verdicts, so that the same calls get the same answers.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Makes the Mentat think this long before each verdict, so that a client with a
    /// shorter deadline sees DEADLINE_EXCEEDED (try `--mentat-delay 2s`).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub mentat_delay: Duration,

    /// Serves the features in FILE (grpc.io's route_guide_db.json format) instead of the
    /// built-in set.
    #[arg(long, value_name = "FILE", value_parser = |path: &str| FeatureDb::load(Path::new(path)))]
    pub features: Option<FeatureDb>,

    /// How many RouteChat notes to keep; once full, new notes are refused with
    /// RESOURCE_EXHAUSTED rather than silently dropped.
    #[arg(long, value_name = "N", default_value_t = notes::DEFAULT_CAPACITY)]
    pub max_notes: usize,

    /// How many bytes of RouteChat notes to keep (each at its encoded size), refusing the
    /// note that would pass it with RESOURCE_EXHAUSTED. The count alone bounds no memory,
    /// as one note may be a whole 4 MiB message; 256 MiB suits a 1 GiB container.
    #[arg(long, value_name = "BYTES", default_value_t = notes::DEFAULT_BYTE_BUDGET)]
    pub max_note_bytes: usize,

    /// Where RouteChat's notes live: `memory` (this process; each replica has its own), or
    /// `redis://HOST:PORT[/DB]`, shared by every replica that names the same Redis (the
    /// budgets above then hold across them). While Redis cannot be reached, RouteChat
    /// answers UNAVAILABLE and the other RPCs are unaffected.
    #[arg(long, value_name = "HOME", default_value = "memory")]
    pub notes: NoteHome,

    /// Requires `authorization: Bearer TOKEN` on every tour call; health checks and
    /// reflection stay open.
    #[arg(long, env = "GRPC_TOUR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The name to give in an `x-served-by` header on every response, to tell replicas
    /// apart behind a load balancer [default: no such header].
    #[arg(long, value_name = "NAME")]
    pub replica_name: Option<String>,

    /// Serves Prometheus metrics on http://ADDR/metrics: calls, statuses, latencies and
    /// messages per method, calls in progress, and the note store's size. Without it, the
    /// server keeps no metrics at all.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Serves no playground: no page at http://ADDR/ and no `playground.Relay` service.
    /// gRPC-Web stays on, as browsers are real clients.
    #[arg(long)]
    pub no_playground: bool,

    /// An origin (`https://app.example.com`) whose pages may call this server with
    /// gRPC-Web, besides the server's own; repeat the flag for more. Without it, only pages
    /// this server serves may read its answers (the browser's same-origin rule).
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = cors_origin)]
    pub cors_origins: Vec<http::HeaderValue>,

    /// TLS and mutual TLS: the certificate, its key, and the CA clients must be signed by.
    #[command(flatten)]
    pub tls: ServerTls,

    /// What one client may make the server hold, and for how long.
    #[command(flatten)]
    pub limits: Limits,
}

/// An origin as the `Origin` header carries it: a scheme, a host and maybe a port.
fn cors_origin(origin: &str) -> Result<http::HeaderValue, String> {
    let uri: http::Uri = origin
        .parse()
        .map_err(|_| format!("{origin:?} is not an origin such as https://app.example.com"))?;
    let bare = uri.path_and_query().is_none_or(|path| path == "/") && !origin.ends_with('/');
    match (uri.scheme_str(), uri.host(), bare) {
        (Some("http" | "https"), Some(_), true) => http::HeaderValue::try_from(origin)
            .map_err(|_| format!("{origin:?} cannot travel in a header")),
        _ => Err(format!(
            "{origin:?} is not an origin: give a scheme and host, and no path, such as \
             https://app.example.com"
        )),
    }
}

impl Default for Config {
    /// The defaults of the flags, for servers started from code.
    fn default() -> Self {
        defaults()
    }
}

/// The value every flag of `A` takes when none is given: one source of truth for the
/// defaults, the flag definitions.
fn defaults<A: clap::Args + clap::FromArgMatches>() -> A {
    let flags = A::augment_args(clap::Command::new("defaults")).get_matches_from(["defaults"]);
    A::from_arg_matches(&flags).expect("the flags' defaults are valid")
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

    /// How many calls the whole server runs at once, across all its connections; a stream
    /// counts until it ends. A call past it is refused at once with UNAVAILABLE, before its
    /// handler runs, so its client can retry it with back-off, here or on another replica.
    /// Health checks are never refused. An open stream costs the server about 12 KiB, so
    /// the default holds live calls to about 120 MiB (docs/performance.md, "Past capacity").
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_calls_in_flight: u32,

    /// The longest any call may last (but a health check's Watch, which balancers hold
    /// open). A client's own deadline (grpc-timeout) applies when it is sooner; a call
    /// without one gets this one, so no call runs forever. A call past its deadline ends
    /// with DEADLINE_EXCEEDED (one whose client stopped reading has its connection closed,
    /// --stalled-grace later).
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

    /// What one connection may do: take its time to begin, sit idle, hold a stalled call.
    #[command(flatten)]
    pub connection: ConnectionLimits,
}

impl Default for Limits {
    /// The defaults of the flags, for servers started from code.
    fn default() -> Self {
        defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_a_scheme_a_host_and_a_port() {
        assert!(cors_origin("https://app.example.com").is_ok());
        assert!(cors_origin("http://127.0.0.1:8080").is_ok());
        for wrong in [
            "app.example.com",
            "https://app.example.com/",
            "https://a.com/x",
            "ftp://a.com",
            "*",
        ] {
            let error = cors_origin(wrong).unwrap_err();
            assert!(error.contains("origin"), "{wrong}: {error}");
        }
    }

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
        assert_eq!(limits.connection.handshake_timeout, Duration::from_secs(10));
        assert_eq!(limits.connection.idle_timeout, Duration::from_secs(300));
        assert_eq!(limits.connection.stalled_grace, Duration::from_millis(500));
        assert_eq!(
            limits.connection.max_connection_age,
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            limits.connection.max_connection_age_grace,
            Duration::from_secs(300)
        );
        let config = Config::default();
        assert_eq!(config.max_notes, notes::DEFAULT_CAPACITY);
        assert_eq!(config.notes, NoteHome::Memory);
        assert!(config.features.is_none() && config.metrics_addr.is_none());
        assert!(!config.no_playground && config.cors_origins.is_empty());
    }
}
