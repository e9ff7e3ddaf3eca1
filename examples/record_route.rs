//! Client-streaming RPC: send the points of a route one by one, then get a summary.
//!
//! ```text
//! cargo run --example record_route
//! cargo run --example record_route -- --server http://127.0.0.1:50051
//! ```
//!
//! Many requests, one response: the server answers with its summary only after the client
//! closes its stream, which here happens when the stream of points runs out (an error, or
//! the tour server's deadline, ends the call sooner).
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use futures::{StreamExt, stream};
use grpc_tour::lesson::proto::{Point, route_guide_client::RouteGuideClient};
use tonic::{Request, Status};

/// How long the whole route may take to record.
const DEADLINE: Duration = Duration::from_secs(10);

/// The pause between points, as a traveller walks from one to the next.
const PACE: Duration = Duration::from_millis(200);

/// A walk through Arrakeen and out into the desert: five features of the built-in map and
/// one empty dune. Coordinates are degrees x 10^7, as on the wire.
const ROUTE: [Point; 6] = [
    // Arrakeen, the capital: 30.3215 N, 35.4421 E.
    point(303_215_000, 354_421_000),
    // The Residency Gardens, in Arrakeen.
    point(303_280_000, 354_310_000),
    // The Water Seller's Market, in Arrakeen.
    point(303_150_000, 354_550_000),
    // A dune with no name: 30.0 N, 35.5 E.
    point(300_000_000, 355_000_000),
    // Sietch Tabr, Stilgar's sietch.
    point(296_618_000, 354_207_000),
    // The Cave of Birds.
    point(296_095_000, 353_510_000),
];

const fn point(latitude: i32, longitude: i32) -> Point {
    Point {
        latitude,
        longitude,
    }
}

/// Records a route and prints the server's summary of it.
#[derive(Parser)]
struct Args {
    /// The server to call [default: http://127.0.0.1:50051, or, when nothing answers there,
    /// the three services on plain tonic, started in this process].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
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
    // grpc-tour: `--server`, or the default server, or the services on plain tonic here.
    let channel = grpc_tour::lesson::connect::channel(args.server.as_deref()).await?;
    let mut guide = RouteGuideClient::new(channel);

    // The request is a stream: each point is sent when the stream yields it.
    let points = stream::iter(ROUTE).then(|point| async move {
        tokio::time::sleep(PACE).await;
        println!("visiting {}", degrees(point));
        point
    });
    let mut request = Request::new(points);
    request.set_timeout(DEADLINE);
    let summary = guide
        .record_route(request)
        .await
        .map_err(failed)?
        .into_inner();

    println!(
        "Finished the route: {} points, {} features, {} metres, {} seconds",
        summary.point_count, summary.feature_count, summary.distance, summary.elapsed_time
    );
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
