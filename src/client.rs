//! How the examples reach a server: the one named with `--server`, or, when none is named
//! and nothing answers at the default address, one they start in-process.
//!
//! The fallback is what makes `cargo run --example route_chat` work on a fresh machine with
//! no server started by hand. A server named explicitly is never replaced: if it does not
//! answer, that is an error the user should see. Nor is a TLS one (`--ca`): the in-process
//! server has no certificate.
//!
//! The same flags set what every call carries: a bearer token (`--token`), TLS and client
//! certificates (`--ca`, `--cert`, `--key`), and compression (`--compress`).

use std::{error::Error as _, future, io, process::ExitCode, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    Code, Request, Status, TimeoutExpired,
    codec::CompressionEncoding,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{self, Channel, ClientTlsConfig, Endpoint},
};
use tonic_types::StatusExt;
use tower::util::MapErr;

use crate::{
    proto::{
        dune_client::DuneClient, route_guide_client::RouteGuideClient,
        summator_client::SummatorClient,
    },
    server::{Config, TourServer},
    tls::{ClientTlsFiles, TlsError},
};

/// Where `cargo run` serves by default, and so where the examples look first.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// The same server over TLS, where the examples look when given `--ca`.
pub const DEFAULT_TLS_SERVER: &str = "https://localhost:50051";

/// How long to wait for a TCP connection before deciding nothing is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The flags every example takes to reach a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server to call [default: http://127.0.0.1:50051, or a server started in-process
    /// when nothing answers there; with --ca, https://localhost:50051].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    pub server: Option<String>,

    /// Send `authorization: Bearer TOKEN` with every call, for a server started with
    /// --token.
    #[arg(long, env = "GRPC_TOUR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Compress requests with this algorithm, and accept responses compressed with it.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub compress: Option<Compression>,

    /// TLS: the CA to trust, and the client certificate for mutual TLS.
    #[command(flatten)]
    pub tls: ClientTlsFiles,
}

/// The compression algorithms the tour speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Every gRPC implementation has it.
    Gzip,
    /// Faster, with smaller output; not every implementation has it.
    Zstd,
}

impl From<Compression> for CompressionEncoding {
    fn from(compression: Compression) -> Self {
        match compression {
            Compression::Gzip => CompressionEncoding::Gzip,
            Compression::Zstd => CompressionEncoding::Zstd,
        }
    }
}

/// The channel the examples call through: a connection, its failures reported with the
/// status codes the gRPC spec gives them, and the metadata every call carries.
pub type TourChannel = InterceptedService<MapErr<Channel, StatusFix>, CallMetadata>;

/// How [`TourChannel`] turns a failure of the connection into a status.
pub type StatusFix = fn(transport::Error) -> Status;

/// A channel that calls with `metadata`, and reports connection failures as the spec says.
pub fn tour_channel(channel: Channel, metadata: CallMetadata) -> TourChannel {
    let fix: StatusFix = spec_status;
    InterceptedService::new(MapErr::new(channel, fix), metadata)
}

/// The status of a call that failed in the connection rather than on the server; tonic
/// then returns the `Status` found in the error. Two of tonic's own choices differ from
/// the gRPC spec's table of status codes, and are corrected here:
///
/// - tonic's client enforces a call's deadline itself as well as sending it, and when its
///   own timer fires first it reports `CANCELLED` ("Timeout expired"). A passed deadline
///   is `DEADLINE_EXCEEDED`, whichever side noticed.
/// - A connection that breaks under a call (the server's process died, say) is `UNKNOWN`
///   ("transport error") in tonic, or `CANCELLED` when the call was still queued on it;
///   the spec makes both `UNAVAILABLE`, the code that tells a client the call may be
///   retried elsewhere. (A client that really cancels drops the call, and sees no error.)
fn spec_status(error: transport::Error) -> Status {
    let mut cause = error.source();
    let (mut timed_out, mut closed) = (false, false);
    while let Some(source) = cause {
        timed_out |= source.is::<TimeoutExpired>();
        closed |= source
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled);
        cause = source.source();
    }
    if timed_out {
        return Status::deadline_exceeded("the deadline passed before the server answered");
    }
    if closed {
        return Status::unavailable("the connection closed before the call was sent");
    }
    let status = Status::from_error(Box::new(error));
    match status.code() {
        // What tonic could not classify is the connection failing.
        Code::Unknown => {
            Status::unavailable(format!("the connection failed: {}", status.message()))
        }
        _ => status,
    }
}

/// Adds the bearer token, if any, to every call.
#[derive(Debug, Clone, Default)]
pub struct CallMetadata {
    authorization: Option<AsciiMetadataValue>,
}

impl CallMetadata {
    /// Metadata carrying `token`; fails if the token cannot travel in a header.
    pub fn with_token(token: Option<&str>) -> Result<Self, ConnectError> {
        let authorization = token
            .map(|token| format!("Bearer {token}").parse())
            .transpose()
            .map_err(|_| ConnectError::BadToken)?;
        Ok(CallMetadata { authorization })
    }
}

impl Interceptor for CallMetadata {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

/// The generated clients' compression settings, behind one trait so that `--compress`
/// applies the same way to any of them. (The generated clients share these methods but no
/// trait.)
pub trait Compress: Sized {
    /// The client, compressing requests with `compression` and accepting responses
    /// compressed with it; unchanged for `None`.
    fn compressed(self, compression: Option<Compression>) -> Self;
}

macro_rules! impl_compress {
    ($($client:ident),+) => {$(
        impl<T> Compress for $client<T>
        where
            T: tonic::client::GrpcService<tonic::body::Body>,
            T::Error: Into<tonic::codegen::StdError>,
            T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
            <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
        {
            fn compressed(self, compression: Option<Compression>) -> Self {
                match compression {
                    Some(compression) => self
                        .send_compressed(compression.into())
                        .accept_compressed(compression.into()),
                    None => self,
                }
            }
        }
    )+};
}
impl_compress!(SummatorClient, DuneClient, RouteGuideClient);

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
    /// The TLS files could not be read.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token cannot be sent as metadata.
    #[error("the token must be printable ASCII, as it travels in a header")]
    BadToken,
}

/// Why an example failed: it could not reach a server, or a call returned an error status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server could be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A call failed; the status says how. (Not a `#[source]`: its text is the message.)
    #[error("the call failed with {:?}: {}{}", .0.code(), .0.message(), field_violations(.0))]
    Call(Status),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::Call(status)
    }
}

/// The fields a server said were wrong, from the `google.rpc.BadRequest` detail of an
/// error status, as "; field `lo.latitude`: must be ...", or nothing if it has none.
fn field_violations(status: &Status) -> String {
    let Some(bad_request) = status.get_details_bad_request() else {
        return String::new();
    };
    bad_request
        .field_violations
        .iter()
        .map(|violation| format!("; field `{}`: {}", violation.field, violation.description))
        .collect()
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
    pub async fn connect(&self) -> Result<TourChannel, ConnectError> {
        let metadata = CallMetadata::with_token(self.token.as_deref())?;
        let tls = self.tls.load()?;
        let channel = match (&self.server, tls) {
            (Some(url), tls) => connect_with(url, tls).await?,
            (None, Some(tls)) => connect_with(DEFAULT_TLS_SERVER, Some(tls)).await?,
            (None, None) => match connect(DEFAULT_SERVER).await {
                Ok(channel) => channel,
                Err(_) => {
                    let url = spawn_in_process().await?;
                    eprintln!(
                        "(no server at {DEFAULT_SERVER}; started one in this process at {url})"
                    );
                    connect(&url).await?
                }
            },
        };
        Ok(tour_channel(channel, metadata))
    }
}

/// Opens a plaintext channel to the server at `url`, failing at once if nothing answers.
pub async fn connect(url: &str) -> Result<Channel, ConnectError> {
    connect_with(url, None).await
}

/// Opens a channel to the server at `url`, with TLS when `tls` is given, failing at once
/// if nothing answers there (or the TLS handshake fails).
pub async fn connect_with(
    url: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, ConnectError> {
    let mut endpoint = endpoint(url)?;
    let unreachable = |source| ConnectError::Unreachable {
        url: url.to_owned(),
        source,
    };
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(unreachable)?;
    }
    endpoint.connect().await.map_err(unreachable)
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

/// Starts the tour server with its default configuration on `127.0.0.1:0`, in a task of the
/// current runtime, and returns its URL. It serves until the runtime shuts down.
pub async fn spawn_in_process() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = TourServer::new(Config::default()).map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(error) = server.serve(listener, future::pending()).await {
            eprintln!("the in-process server stopped: {error}");
        }
    });
    Ok(url)
}
