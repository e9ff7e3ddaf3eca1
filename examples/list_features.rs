//! Server-streaming RPC: every feature in a rectangle, printed as each one arrives.
//!
//! ```text
//! cargo run --example list_features
//! cargo run --example list_features -- --server http://127.0.0.1:50051
//! ```
//!
//! One request, many responses: the client reads the stream until the server ends it.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, ServerArgs},
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
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), client::Error> {
    let mut guide = RouteGuideClient::new(args.server.connect().await?);

    let mut request = Request::new(SOUTHERN_DESERT);
    request.set_timeout(DEADLINE);
    let mut features = guide.list_features(request).await?.into_inner();

    let mut count = 0;
    while let Some(feature) = features.message().await? {
        count += 1;
        let location = feature.location.unwrap_or_default();
        println!("{:?} at {location}", feature.name);
    }
    println!("{count} features in the southern desert");
    Ok(())
}
