//! Unary RPC on the RouteGuide: what is at a point? One point has a feature, one has none.
//!
//! ```text
//! cargo run --example get_feature
//! cargo run --example get_feature -- --server http://127.0.0.1:50051
//! ```
//!
//! "Nothing here" is not an error: the server answers with a feature whose name is empty.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{Point, route_guide_client::RouteGuideClient};
use tonic::{Request, Status, transport::Channel};

/// How long each call may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Arrakeen, the capital: a feature of the built-in map. Coordinates are degrees x 10^7,
/// as on the wire: 30.3215 N, 35.4421 E.
const ARRAKEEN: Point = Point {
    latitude: 303_215_000,
    longitude: 354_421_000,
};

/// Open desert between Arrakeen and the sietches: nothing there.
const OPEN_DESERT: Point = Point {
    latitude: 300_000_000,
    longitude: 360_000_000,
};

/// Looks up the feature at a point with a hit, then at one with a miss.
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

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    // grpc-tour: `--server`, or the default server, or the services on plain tonic here.
    let channel = grpc_tour::lesson::connect::channel(args.server.as_deref()).await?;
    let mut guide = RouteGuideClient::new(channel);
    for point in [ARRAKEEN, OPEN_DESERT] {
        show_feature_at(&mut guide, point).await?;
    }
    Ok(())
}

// ANCHOR: show_feature_at
async fn show_feature_at(
    guide: &mut RouteGuideClient<Channel>,
    point: Point,
) -> Result<(), Box<dyn Error>> {
    let mut request = Request::new(point);
    request.set_timeout(DEADLINE);
    let feature = guide
        .get_feature(request)
        .await
        .map_err(failed)?
        .into_inner();
    if feature.name.is_empty() {
        println!("No feature at {}", degrees(point));
    } else {
        println!("Found {:?} at {}", feature.name, degrees(point));
    }
    Ok(())
}
// ANCHOR_END: show_feature_at

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
