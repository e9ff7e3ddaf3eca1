//! The one line of each example that is grpc-tour's rather than tonic's: a plain
//! [`Channel`] to the server named by `--server`, or else to one started in this process.
//!
//! In a project of your own, that line is tonic's
//! `Endpoint::from_shared(url)?.connect().await?`. This one adds the fallback that makes
//! `cargo run --example route_chat` work on a fresh machine with no server started by hand:
//! when no server is named and nothing answers at the default address, it serves the three
//! services in this process, on tonic's `Server` with nothing around them (as
//! `examples/minimal_server.rs` does), and says so. A server named explicitly is never
//! replaced: if it does not answer, that is an error the user should see.

use std::{io, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::{self, Channel, Endpoint, Server, server::TcpIncoming};

use crate::lesson::{
    dune::Mentat,
    proto::{
        dune_server::DuneServer, route_guide_server::RouteGuideServer,
        summator_server::SummatorServer,
    },
    route_guide::RouteGuide,
    summator::Summator,
};

/// Where `cargo run` serves by default, and so where the examples look first.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// How long to wait for a TCP connection before deciding nothing is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

// ANCHOR: channel
/// A channel to `server`; with none named, to [`DEFAULT_SERVER`], or else to the three
/// services on plain tonic, started in this process (saying so on stderr).
pub async fn channel(server: Option<&str>) -> Result<Channel, ConnectError> {
    if let Some(url) = server {
        return connect(url).await;
    }
    if let Ok(channel) = connect(DEFAULT_SERVER).await {
        return Ok(channel);
    }
    let url = spawn_in_process().await?;
    eprintln!(
        "(no server at {DEFAULT_SERVER}; serving the three services on plain tonic in this process, at {url})"
    );
    connect(&url).await
}
// ANCHOR_END: channel

/// Opens a plaintext channel to the server at `url`, failing at once if nothing answers.
pub async fn connect(url: &str) -> Result<Channel, ConnectError> {
    endpoint(url)?
        .connect()
        .await
        .map_err(|source| ConnectError::Unreachable {
            url: url.to_owned(),
            source,
        })
}

/// How to reach the server at `url`, not yet connected: a URL with a scheme and a host,
/// a bounded wait for the TCP connection, and no Nagle delay.
pub fn endpoint(url: &str) -> Result<Endpoint, ConnectError> {
    let bad_url = || ConnectError::BadUrl {
        url: url.to_owned(),
    };
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|_| bad_url())?;
    if endpoint.uri().scheme().is_none() || endpoint.uri().host().is_none() {
        return Err(bad_url());
    }
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true))
}

/// Serves the three services on `127.0.0.1:0`, in a task of the current runtime, and
/// returns the URL. Plain tonic, as `examples/minimal_server.rs`: no deadlines beyond
/// tonic's own, no limits, no shutdown but the runtime's.
pub async fn spawn_in_process() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = Server::builder()
        .add_service(SummatorServer::new(Summator))
        .add_service(DuneServer::new(Mentat::new(None)))
        .add_service(RouteGuideServer::new(RouteGuide::default()));
    tokio::spawn(async move {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        if let Err(error) = server.serve_with_incoming(incoming).await {
            eprintln!("the in-process server stopped: {error}");
        }
    });
    Ok(url)
}

/// Why no channel could be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL could not be parsed, or names no scheme and host.
    #[error("{url:?} is not a server URL such as {DEFAULT_SERVER}")]
    BadUrl {
        /// The URL as given.
        url: String,
    },
    /// Nothing answered at the URL. The message gives the causes too, on one line.
    #[error("no gRPC server answers at {url}{}", causes(source))]
    Unreachable {
        /// The URL as given.
        url: String,
        /// What the connection attempt said.
        #[source]
        source: transport::Error,
    },
    /// The in-process server could not be started.
    #[error("could not start an in-process server: {0}")]
    InProcess(#[from] io::Error),
}

/// An error and its causes as `: error: its cause`, each said once (tonic's transport
/// errors often repeat their inner message).
fn causes(error: &transport::Error) -> String {
    let mut line = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(source) = cause {
        let text = source.to_string();
        if !line.contains(&text) {
            line.push_str(&format!(": {text}"));
        }
        cause = source.source();
    }
    line
}
