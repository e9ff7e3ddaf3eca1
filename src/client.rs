//! How the examples reach a server: the one named with `--server`, or, when none is named
//! and nothing answers at the default address, one they start in-process.
//!
//! The fallback is what makes `cargo run --example route_chat` work on a fresh machine with
//! no server started by hand. A server named explicitly is never replaced: if it does not
//! answer, that is an error the user should see.

use std::{future, io, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::{self, Channel, Endpoint};

use crate::server::{Config, TourServer};

/// Where `cargo run` serves by default, and so where the examples look first.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// How long to wait for a TCP connection before deciding nothing is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The `--server` flag every example takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server to call [default: http://127.0.0.1:50051, or a server started in-process
    /// when nothing answers there].
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

/// Why an example could not reach a server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL could not be parsed.
    #[error("{url:?} is not a server URL such as {DEFAULT_SERVER}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        #[source]
        source: transport::Error,
    },
    /// Nothing answered at the URL.
    #[error("no gRPC server answers at {url}")]
    Unreachable {
        /// The URL as given.
        url: String,
        /// What the connection attempt said.
        #[source]
        source: transport::Error,
    },
    /// The in-process server could not be started.
    #[error("could not start an in-process server")]
    InProcess(#[from] io::Error),
}

impl ServerArgs {
    /// Connects to the server the user named, or to the default one, or else starts a
    /// server in this process and connects to that, saying so on stderr.
    pub async fn connect(&self) -> Result<Channel, ConnectError> {
        if let Some(url) = &self.server {
            return connect(url).await;
        }
        match connect(DEFAULT_SERVER).await {
            Ok(channel) => Ok(channel),
            Err(_) => {
                let url = spawn_in_process().await?;
                eprintln!("(no server at {DEFAULT_SERVER}; started one in this process at {url})");
                connect(&url).await
            }
        }
    }
}

/// Opens a channel to the server at `url`, failing at once if nothing answers there.
pub async fn connect(url: &str) -> Result<Channel, ConnectError> {
    let endpoint =
        Endpoint::from_shared(url.to_owned()).map_err(|source| ConnectError::BadUrl {
            url: url.to_owned(),
            source,
        })?;
    endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|source| ConnectError::Unreachable {
            url: url.to_owned(),
            source,
        })
}

/// Starts the tour server with its default configuration on `127.0.0.1:0`, in a task of the
/// current runtime, and returns its URL. It serves until the runtime shuts down.
pub async fn spawn_in_process() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = TourServer::new(Config::default());
    tokio::spawn(async move {
        if let Err(error) = server.serve(listener, future::pending()).await {
            eprintln!("the in-process server stopped: {error}");
        }
    });
    Ok(url)
}
