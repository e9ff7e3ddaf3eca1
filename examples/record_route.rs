//! Client-streaming RPC: send the points of a route one by one, then get a summary.
//!
//! ```text
//! cargo run --example record_route
//! cargo run --example record_route -- --server http://127.0.0.1:50051
//! ```
//!
//! Many requests, one response: the server answers only after the client closes its stream,
//! which here happens when the stream of points runs out.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use futures::{StreamExt, stream};
use grpc_tour::{
    client::{self, Compress, ServerArgs},
    proto::{Point, route_guide_client::RouteGuideClient},
    route_guide::landmarks::{
        ARRAKEEN, CAVE_OF_BIRDS, RESIDENCY_GARDENS, SIETCH_TABR, WATER_SELLERS_MARKET,
    },
};
use tonic::Request;

/// How long the whole route may take to record.
const DEADLINE: Duration = Duration::from_secs(10);

/// The pause between points, as a traveller walks from one to the next.
const PACE: Duration = Duration::from_millis(200);

/// A walk through Arrakeen and out into the desert: five features and one empty dune.
const ROUTE: [Point; 6] = [
    ARRAKEEN,
    RESIDENCY_GARDENS,
    WATER_SELLERS_MARKET,
    // Degrees x 1e7, as on the wire: 30.0 N, 35.5 E, a dune with no name.
    Point {
        latitude: 300_000_000,
        longitude: 355_000_000,
    },
    SIETCH_TABR,
    CAVE_OF_BIRDS,
];

/// Records a route and prints the server's summary of it.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

// ANCHOR: run
async fn run(args: Args) -> Result<(), client::Error> {
    let mut guide =
        RouteGuideClient::new(args.server.connect().await?).compressed(args.server.compress);

    // The request is a stream: each point is sent when the stream yields it.
    let points = stream::iter(ROUTE).then(|point| async move {
        tokio::time::sleep(PACE).await;
        println!("visiting {point}");
        point
    });
    let mut request = Request::new(points);
    request.set_timeout(DEADLINE);
    let summary = guide.record_route(request).await?.into_inner();

    println!(
        "Finished the route: {} points, {} features, {} metres, {} seconds",
        summary.point_count, summary.feature_count, summary.distance, summary.elapsed_time
    );
    Ok(())
}
// ANCHOR_END: run
