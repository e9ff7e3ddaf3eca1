//! Server-streaming RPC: every feature in a rectangle, printed as each one arrives.
//!
//! ```text
//! cargo run --example list_features
//! cargo run --example list_features -- --server http://127.0.0.1:50051
//! ```
//!
//! One request, many responses: the client reads the stream until the server ends it, or
//! until it has read `--take N` features and hangs up. Hanging up is how a client cancels a
//! stream: dropping it resets the HTTP/2 stream, and the server stops producing at once.
//! A stream is where compression pays: `--compress zstd` compresses every message.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{Point, Rectangle, route_guide_client::RouteGuideClient};
use tonic::{Request, Status, codec::CompressionEncoding};

/// How long the whole call may take: the server ends the stream at the deadline, however
/// far it has got.
const DEADLINE: Duration = Duration::from_secs(5);

/// The southern desert, from the Red Wall Sink to the Stilltent Camp. Coordinates are
/// degrees x 10^7, as on the wire: 29.5 N, 35.2 E to 29.9 N, 35.5 E.
const SOUTHERN_DESERT: Rectangle = Rectangle {
    lo: Some(Point {
        latitude: 295_000_000,
        longitude: 352_000_000,
    }),
    hi: Some(Point {
        latitude: 299_000_000,
        longitude: 355_000_000,
    }),
};

/// Lists the features inside a rectangle.
#[derive(Parser)]
struct Args {
    /// The server to call [default: http://127.0.0.1:50051, or a server started in this
    /// process when nothing answers there].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// Stop after N features, cancelling the rest of the stream.
    #[arg(long, value_name = "N")]
    take: Option<usize>,
    /// Ask for the stream compressed with gzip or zstd (and compress the request with it).
    #[arg(long, value_name = "ALGORITHM", value_parser = compression)]
    compress: Option<CompressionEncoding>,
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
    // grpc-tour: `--server`, or the default server, or one started in this process.
    let channel = grpc_tour::lesson::connect::channel(args.server.as_deref()).await?;
    let mut guide = RouteGuideClient::new(channel);
    if let Some(encoding) = args.compress {
        guide = guide.send_compressed(encoding).accept_compressed(encoding);
    }

    let mut request = Request::new(SOUTHERN_DESERT);
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
    let mut features = guide
        .list_features(request)
        .await
        .map_err(failed)?
        .into_inner();

    let mut count = 0;
    while let Some(feature) = features.message().await.map_err(failed)? {
        count += 1;
        let location = feature.location.unwrap_or_default();
        println!("{:?} at {}", feature.name, degrees(location));
        if args.take == Some(count) {
            // Dropping the stream cancels the call; the server sees the reset at once.
            drop(features);
            println!("took {count} features and hung up");
            return Ok(());
        }
    }
    println!("{count} features in the southern desert");
    Ok(())
}
// ANCHOR_END: run

/// A point as a person reads a map: `(30.3215000, 35.4421000)`.
fn degrees(point: Point) -> String {
    let degrees = |e7: i32| f64::from(e7) / 1e7;
    format!(
        "({:.7}, {:.7})",
        degrees(point.latitude),
        degrees(point.longitude)
    )
}

/// A failed call, as one line: its status code and message.
fn failed(status: Status) -> String {
    format!(
        "the call failed with {:?}: {}",
        status.code(),
        status.message()
    )
}

/// The `--compress` names tonic speaks.
fn compression(name: &str) -> Result<CompressionEncoding, String> {
    match name {
        "gzip" => Ok(CompressionEncoding::Gzip),
        "zstd" => Ok(CompressionEncoding::Zstd),
        _ => Err("gzip or zstd".to_owned()),
    }
}
