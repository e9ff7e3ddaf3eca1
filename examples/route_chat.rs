//! Bidirectional-streaming RPC: leave notes at points while reading the notes others left.
//!
//! ```text
//! cargo run --example route_chat
//! cargo run --example route_chat -- --server http://127.0.0.1:50051
//! ```
//!
//! Both sides stream at once: notes go out on a timer while replies are printed the moment
//! they arrive, so "sent" and "got" lines interleave. For each note it receives, the server
//! sends back every earlier note at the same point, from any client. Run it twice against
//! one server and the second run also hears the first.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use futures::{StreamExt, stream};
use grpc_tour::lesson::proto::{Point, RouteNote, route_guide_client::RouteGuideClient};
use tonic::{Request, Status};

/// How long the whole chat may take. The tour's server ends the call at its deadline; a
/// plain tonic server (and tonic's client) holds a call to it only until the response
/// headers, which a chat gets at once.
const DEADLINE: Duration = Duration::from_secs(10);

/// The pause between notes, so that replies visibly arrive while we are still sending.
const PACE: Duration = Duration::from_millis(200);

/// Three places of the built-in map, in degrees x 10^7 as on the wire: Arrakeen (30.3215 N,
/// 35.4421 E), Sietch Tabr and the Cave of Birds.
const ARRAKEEN: Point = point(303_215_000, 354_421_000);
const SIETCH_TABR: Point = point(296_618_000, 354_207_000);
const CAVE_OF_BIRDS: Point = point(296_095_000, 353_510_000);

const fn point(latitude: i32, longitude: i32) -> Point {
    Point {
        latitude,
        longitude,
    }
}

/// Chats at three points of the map.
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

    let notes = [
        (ARRAKEEN, "The spice must flow"),
        (SIETCH_TABR, "Water is life"),
        (CAVE_OF_BIRDS, "Wait for the sandworm"),
        (ARRAKEEN, "Beware the Harkonnen"),
        (SIETCH_TABR, "The sietch is safe"),
        (CAVE_OF_BIRDS, "Ride at dawn"),
    ];
    let outgoing = stream::iter(notes).then(|(location, message)| async move {
        tokio::time::sleep(PACE).await;
        println!("sent: {message:?} at {}", degrees(location));
        RouteNote {
            location: Some(location),
            message: message.to_owned(),
        }
    });
    let mut request = Request::new(outgoing);
    request.set_timeout(DEADLINE);

    // The replies start flowing while `outgoing` is still being sent.
    let mut replies = guide
        .route_chat(request)
        .await
        .map_err(failed)?
        .into_inner();
    let mut count = 0;
    while let Some(note) = replies.message().await.map_err(failed)? {
        count += 1;
        let location = note.location.unwrap_or_default();
        println!("got:  {:?} at {}", note.message, degrees(location));
    }
    println!("The chat is over: {count} earlier notes heard");
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
