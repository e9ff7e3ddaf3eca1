//! Unary RPC on the RouteGuide: what is at a point? One point has a feature, one has none.
//!
//! ```text
//! cargo run --example get_feature
//! cargo run --example get_feature -- --server http://127.0.0.1:50051
//! ```
//!
//! "Nothing here" is not an error: the server answers with a feature whose name is empty.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, Compress, ServerArgs, TourChannel},
    proto::{Point, route_guide_client::RouteGuideClient},
    route_guide::landmarks::{ARRAKEEN, OPEN_DESERT},
};
use tonic::Request;

/// How long each call may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Looks up the feature at a point with a hit, then at one with a miss.
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
    let mut guide =
        RouteGuideClient::new(args.server.connect().await?).compressed(args.server.compress);
    for point in [ARRAKEEN, OPEN_DESERT] {
        show_feature_at(&mut guide, point).await?;
    }
    Ok(())
}

// ANCHOR: show_feature_at
async fn show_feature_at(
    guide: &mut RouteGuideClient<TourChannel>,
    point: Point,
) -> Result<(), client::Error> {
    let mut request = Request::new(point);
    request.set_timeout(DEADLINE);
    let feature = guide.get_feature(request).await?.into_inner();
    if feature.name.is_empty() {
        println!("No feature at {point}");
    } else {
        println!("Found {:?} at {point}", feature.name);
    }
    Ok(())
}
// ANCHOR_END: show_feature_at
