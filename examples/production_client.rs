//! What a production server asks of a client, in tonic's own types: TLS (and mutual TLS),
//! a bearer token, compression, and a trace id.
//!
//! ```text
//! cargo run --example production_client          # against a server it starts itself
//! cargo run --example production_client -- --server https://localhost:50051 \
//!     --ca tls/ca.pem --cert tls/client.pem --key tls/client.key --token sesame --compress zstd
//! ```
//!
//! The six per-kind examples reach any gRPC server, the lesson's plain tonic one included.
//! This one calls what only the tour's production server adds (`cargo run -- --help`): plain
//! tonic serves no TLS unless configured to, checks no token, ignores a `traceparent`, and
//! answers a compressed request with UNIMPLEMENTED unless a service accepts the encoding.
//! So with no `--server` it starts the production server in this process, with a throwaway
//! CA, mutual TLS and a token, and says so; that part is the tour's (`in_process`), the
//! client is plain tonic.

use std::{error::Error, fs, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{SumRequest, summator_client::SummatorClient};
use tonic::{
    Request, Status,
    codec::CompressionEncoding,
    metadata::AsciiMetadataValue,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

/// How long the call may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Calls Summator.Sum(2, 3) as a client of a production server.
#[derive(Parser)]
struct Args {
    /// The server to call, `https://` with --ca [default: a production server started in
    /// this process, with mutual TLS and a token].
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Call over TLS, trusting the CA in this PEM file.
    #[arg(long, value_name = "PEM", requires = "server")]
    ca: Option<PathBuf>,
    /// Mutual TLS: this client's certificate (with --key).
    #[arg(long, value_name = "PEM", requires_all = ["ca", "key"])]
    cert: Option<PathBuf>,
    /// Mutual TLS: this client's private key (with --cert).
    #[arg(long, value_name = "PEM", requires_all = ["ca", "cert"])]
    key: Option<PathBuf>,
    /// Send `authorization: Bearer TOKEN`, for a server started with --token.
    #[arg(long, env = "GRPC_TOUR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Compress the request with gzip or zstd, and accept a response compressed with it.
    #[arg(long, value_name = "ALGORITHM", value_parser = compression)]
    compress: Option<CompressionEncoding>,
}

/// Where the server is and what proves who we are: read from the flags' files, or made up
/// for a server started in this process.
struct Credentials {
    url: String,
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    token: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let credentials = match &args.server {
        Some(url) => Credentials {
            url: url.clone(),
            ca: args.ca.as_ref().map(fs::read).transpose()?,
            identity: match (&args.cert, &args.key) {
                (Some(cert), Some(key)) => Some((fs::read(cert)?, fs::read(key)?)),
                _ => None,
            },
            token: args.token.clone(),
        },
        None => in_process::start().await?,
    };
    let sum = call(&credentials, args.compress).await?;
    println!("2 + 3 = {sum}");
    Ok(())
}

// ANCHOR: call
/// Sum(2, 3), over TLS when there is a CA to trust, with the token, compression and a new
/// trace.
async fn call(
    credentials: &Credentials,
    compress: Option<CompressionEncoding>,
) -> Result<f64, Box<dyn Error>> {
    let mut endpoint = Endpoint::from_shared(credentials.url.clone())?;
    if let Some(ca) = &credentials.ca {
        // TLS: trust the server's CA; with an identity, also show our certificate (mTLS).
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert, key)) = &credentials.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint.connect().await?;

    // The token, in every call's metadata: an interceptor adds it.
    let token: Option<AsciiMetadataValue> = match &credentials.token {
        Some(token) => Some(format!("Bearer {token}").parse()?),
        None => None,
    };
    let mut summator = SummatorClient::with_interceptor(channel, move |mut request: Request<()>| {
        if let Some(token) = &token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    });
    if let Some(encoding) = compress {
        summator = summator
            .send_compressed(encoding)
            .accept_compressed(encoding);
    }

    let mut request = Request::new(SumRequest {
        value1: 2.0,
        value2: 3.0,
    });
    request.set_timeout(DEADLINE);
    // A new trace, in W3C's `traceparent` header (version 00, a random trace id and span
    // id, sampled): a tour server started with `--log-calls` (and named with --server)
    // logs this call's line with the same trace_id.
    let trace_id: u128 = rand::random();
    let traceparent = format!("00-{trace_id:032x}-{:016x}-01", rand::random::<u64>());
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse()?);
    eprintln!("(trace_id={trace_id:032x})");
    let response = summator.sum(request).await.map_err(|status: Status| {
        format!(
            "the call failed with {:?}: {}",
            status.code(),
            status.message()
        )
    })?;
    Ok(response.into_inner().value)
}
// ANCHOR_END: call

/// The `--compress` names tonic speaks.
fn compression(name: &str) -> Result<CompressionEncoding, String> {
    match name {
        "gzip" => Ok(CompressionEncoding::Gzip),
        "zstd" => Ok(CompressionEncoding::Zstd),
        _ => Err("gzip or zstd".to_owned()),
    }
}

/// The tour's part: a production server in this process, to call when none is named.
mod in_process {
    use std::{error::Error, future};

    use grpc_tour::production::{
        server::{Config, TourServer},
        tls::{ServerTls, Throwaway},
    };
    use tokio::net::TcpListener;

    use super::Credentials;

    /// The token the in-process server asks for.
    const TOKEN: &str = "kwisatz-haderach";

    /// Starts a tour server with a throwaway CA, mutual TLS and a token, and returns what a
    /// client needs to call it.
    pub async fn start() -> Result<Credentials, Box<dyn Error>> {
        let pki = Throwaway::generate()?;
        let config = Config {
            tls: ServerTls::new(&pki.server_cert, &pki.server_key, Some(&pki.ca_cert)),
            token: Some(TOKEN.to_owned()),
            ..Config::default()
        };
        let server = TourServer::new(config)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://localhost:{}", listener.local_addr()?.port());
        tokio::spawn(server.serve(listener, future::pending()));
        eprintln!(
            "(no --server: started a tour server in this process at {url}, with mutual TLS \
             from a throwaway CA and the token {TOKEN:?})"
        );
        Ok(Credentials {
            url,
            ca: Some(pki.ca_cert.into_bytes()),
            identity: Some((pki.client_cert.into_bytes(), pki.client_key.into_bytes())),
            token: Some(TOKEN.to_owned()),
        })
    }
}
