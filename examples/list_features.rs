//! Server-streaming RPC: every feature in a rectangle, printed as each one arrives.
//!
//! ```text
//! cargo run --example list_features
//! cargo run --example list_features -- --server http://127.0.0.1:50051
//! ```
//!
//! One request, many responses: the client reads the stream until the server ends it, or
//! until it has read `--take N` features and hangs up. Hanging up is how a client cancels a
//! stream: dropping it resets the HTTP/2 stream (if the call is still open), and the tour's
//! RouteGuide, which builds its stream lazily, stops producing at once.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{Point, Rectangle, route_guide_client::RouteGuideClient};
use tonic::{Request, Status};

/// How long the whole call may take. The tour's server ends the stream at its deadline,
/// however far it has got; a plain tonic server (and tonic's client) holds a call to it
/// only until the response headers.
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
    /// The server to call [default: http://127.0.0.1:50051, or, when nothing answers there,
    /// the three services on plain tonic, started in this process].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// Stop after N features, cancelling the rest of the stream.
    #[arg(long, value_name = "N")]
    take: Option<usize>,
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

    let mut request = Request::new(SOUTHERN_DESERT);
    request.set_timeout(DEADLINE);
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
            // Dropping the stream cancels the call if it is still open: h2 resets the stream,
            // and the server drops its side (this server's lazy stream stops with it).
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
