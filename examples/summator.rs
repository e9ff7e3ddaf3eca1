//! Unary RPC: the Summator adds two numbers on the server.
//!
//! ```text
//! cargo run --example summator              # 2 + 3
//! cargo run --example summator -- 1.5 -4    # any two numbers
//! cargo run --example summator -- --server http://127.0.0.1:50051 2 3
//! ```
//!
//! One request, one response: the simplest kind of RPC, and the one that feels most like
//! calling a local function. This example also shows what a client adds for a production
//! server (docs/production.md): a bearer token (`--token`), compression (`--compress`) and
//! TLS (`--ca`, with `--cert` and `--key` for mutual TLS), all with tonic's own types.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour": copy the file
//! into a project of your own and make that line tonic's
//! `Endpoint::from_shared(url)?.connect().await?`.

use std::{error::Error, fs, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{SumRequest, summator_client::SummatorClient};
use tonic::{
    Request, Status,
    codec::CompressionEncoding,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tonic_types::StatusExt;

/// How long the call may take. Every call gets a deadline: without one, a client waits
/// forever on a server that never answers.
const DEADLINE: Duration = Duration::from_secs(5);

/// Adds two numbers with the Summator service.
#[derive(Parser)]
struct Args {
    /// The server to call [default: http://127.0.0.1:50051, or a server started in this
    /// process when nothing answers there; with --ca, https://localhost:50051].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// Send `authorization: Bearer TOKEN` with the call, for a server started with --token.
    #[arg(long, env = "GRPC_TOUR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Compress the request with gzip or zstd, and accept a response compressed with it.
    #[arg(long, value_name = "ALGORITHM", value_parser = compression)]
    compress: Option<CompressionEncoding>,
    /// Call over TLS, trusting the CA in this PEM file.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Mutual TLS: this client's certificate (with --ca and --key).
    #[arg(long, value_name = "PEM", requires_all = ["ca", "key"])]
    cert: Option<PathBuf>,
    /// Mutual TLS: this client's private key (with --ca and --cert).
    #[arg(long, value_name = "PEM", requires_all = ["ca", "cert"])]
    key: Option<PathBuf>,
    /// The first number.
    #[arg(default_value_t = 2.0, allow_negative_numbers = true)]
    value1: f64,
    /// The second number.
    #[arg(default_value_t = 3.0, allow_negative_numbers = true)]
    value2: f64,
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

// ANCHOR: run
async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let mut summator = client(&args).await?;

    let mut request = Request::new(SumRequest {
        value1: args.value1,
        value2: args.value2,
    });
    request.set_timeout(DEADLINE);
    // A new trace, in W3C's `traceparent` header (version 00, a random trace id and span
    // id, sampled): the server's log line for this call (`--log-calls`) has the same
    // trace_id.
    let trace_id: u128 = rand::random();
    let traceparent = format!("00-{trace_id:032x}-{:016x}-01", rand::random::<u64>());
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse()?);
    eprintln!("(trace_id={trace_id:032x})");
    let sum = summator.sum(request).await.map_err(failed)?.into_inner();

    println!("{} + {} = {}", args.value1, args.value2, sum.value);
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: client
/// The Summator client over a channel to the server, with what a production server may
/// ask of it: a bearer token in every call's metadata, compression, TLS.
async fn client(
    args: &Args,
) -> Result<SummatorClient<InterceptedService<Channel, impl Interceptor>>, Box<dyn Error>> {
    let channel = match &args.ca {
        None => {
            // grpc-tour: `--server`, or the default server, or one started in this process.
            grpc_tour::lesson::connect::channel(args.server.as_deref()).await?
        }
        // TLS, with tonic's own `Endpoint`: a TLS server is never started in-process.
        Some(ca) => {
            let mut tls =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(fs::read(ca)?));
            if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
                tls = tls.identity(Identity::from_pem(fs::read(cert)?, fs::read(key)?));
            }
            let url = args.server.as_deref().unwrap_or("https://localhost:50051");
            Endpoint::from_shared(url.to_owned())?
                .tls_config(tls)?
                .connect()
                .await?
        }
    };
    // An interceptor adds the metadata every call carries: here, the bearer token.
    let token: Option<AsciiMetadataValue> = match &args.token {
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
    if let Some(encoding) = args.compress {
        summator = summator
            .send_compressed(encoding)
            .accept_compressed(encoding);
    }
    Ok(summator)
}
// ANCHOR_END: client

// ANCHOR: failed
/// A failed call, as one line: its status code and message, and the fields the server
/// refused, from the `google.rpc.BadRequest` detail that rich errors carry.
fn failed(status: Status) -> String {
    let mut line = format!(
        "the call failed with {:?}: {}",
        status.code(),
        status.message()
    );
    for violation in status
        .get_details_bad_request()
        .map_or(vec![], |bad_request| bad_request.field_violations)
    {
        line += &format!("; field `{}`: {}", violation.field, violation.description);
    }
    line
}
// ANCHOR_END: failed

/// The `--compress` names tonic speaks.
fn compression(name: &str) -> Result<CompressionEncoding, String> {
    match name {
        "gzip" => Ok(CompressionEncoding::Gzip),
        "zstd" => Ok(CompressionEncoding::Zstd),
        _ => Err("gzip or zstd".to_owned()),
    }
}
