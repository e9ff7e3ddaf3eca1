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

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use futures::{StreamExt, stream};
use grpc_tour::{
    client::{self, Compress, ServerArgs},
    proto::{RouteNote, route_guide_client::RouteGuideClient},
    route_guide::landmarks::{ARRAKEEN, CAVE_OF_BIRDS, SIETCH_TABR},
};
use tonic::Request;

/// How long the chat may take to start answering.
const DEADLINE: Duration = Duration::from_secs(10);

/// The pause between notes, so that replies visibly arrive while we are still sending.
const PACE: Duration = Duration::from_millis(200);

/// Chats at three points of the map.
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
        println!("sent: {message:?} at {location}");
        RouteNote {
            location: Some(location),
            message: message.to_owned(),
        }
    });
    let mut request = Request::new(outgoing);
    request.set_timeout(DEADLINE);

    // The replies start flowing while `outgoing` is still being sent.
    let mut replies = guide.route_chat(request).await?.into_inner();
    let mut count = 0;
    while let Some(note) = replies.message().await? {
        count += 1;
        let location = note.location.unwrap_or_default();
        println!("got:  {:?} at {location}", note.message);
    }
    println!("The chat is over: {count} earlier notes heard");
    Ok(())
}
// ANCHOR_END: run
