//! How the examples reach a server: the one named with `--server`, or, when none is named
//! and nothing answers at the default address, one they start in-process.
//!
//! The fallback is what makes `cargo run --example route_chat` work on a fresh machine with
//! no server started by hand. A server named explicitly is never replaced: if it does not
//! answer, that is an error the user should see.

use std::{error::Error as _, future, io, process::ExitCode, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    Status,
    transport::{self, Channel, Endpoint},
};

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
    /// The URL could not be parsed, or names no scheme and host.
    #[error("{url:?} is not a server URL such as {DEFAULT_SERVER}")]
    BadUrl {
        /// The URL as given.
        url: String,
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

/// Why an example failed: it could not reach a server, or a call returned an error status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server could be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A call failed; the status says how. (Not a `#[source]`: its text is the message.)
    #[error("the call failed with {:?}: {}", .0.code(), .0.message())]
    Call(Status),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::Call(status)
    }
}

/// Ends an example: prints a failure as one line, with its causes, and turns it into the
/// exit code, so a script running the example can tell success from failure.
pub fn report(result: Result<(), Error>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    let mut line = format!("error: {error}");
    let mut cause = error.source();
    while let Some(source) = cause {
        // Layered transport errors often repeat their inner message; say each thing once.
        let text = source.to_string();
        if !line.contains(&text) {
            line.push_str(&format!(": {text}"));
        }
        cause = source.source();
    }
    eprintln!("{line}");
    ExitCode::FAILURE
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
    let bad_url = || ConnectError::BadUrl {
        url: url.to_owned(),
    };
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|_| bad_url())?;
    if endpoint.uri().scheme().is_none() || endpoint.uri().host().is_none() {
        return Err(bad_url());
    }
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
