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

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, Compress, ServerArgs},
    proto::{Point, Rectangle, route_guide_client::RouteGuideClient},
};
use tonic::Request;

/// How long the call may take to start answering.
const DEADLINE: Duration = Duration::from_secs(5);

/// The southern desert, from the Red Wall Sink to the Stilltent Camp.
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
    #[command(flatten)]
    server: ServerArgs,
    /// Stop after N features, cancelling the rest of the stream.
    #[arg(long, value_name = "N")]
    take: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

// ANCHOR: run
async fn run(args: Args) -> Result<(), client::Error> {
    let mut guide =
        RouteGuideClient::new(args.server.connect().await?).compressed(args.server.compress);

    let mut request = Request::new(SOUTHERN_DESERT);
    request.set_timeout(DEADLINE);
    let mut features = guide.list_features(request).await?.into_inner();

    let mut count = 0;
    while let Some(feature) = features.message().await? {
        count += 1;
        let location = feature.location.unwrap_or_default();
        println!("{:?} at {location}", feature.name);
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
