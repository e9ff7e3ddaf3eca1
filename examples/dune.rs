//! Unary RPC: a Harkonnen soldier asks the Mentat whether they found the Muad'Dib.
//!
//! ```text
//! cargo run --example dune                      # asks about Paul Atreides
//! cargo run --example dune -- "Gurney Halleck"
//! cargo run --example dune -- --server http://127.0.0.1:50051 "Paul Atreides"
//! ```
//!
//! The verdict is random; start the server with `--seed N` to make it repeatable.
//!
//! To watch a deadline pass, make the Mentat slow and the soldier impatient:
//!
//! ```text
//! cargo run -- --mentat-delay 2s                 # in one terminal
//! cargo run --example dune -- --deadline 500ms   # in another: DeadlineExceeded
//! ```

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, Compress, ServerArgs},
    proto::{WeFoundHim, dune_client::DuneClient},
};
use tonic::Request;

/// Asks the Dune service whether someone is the Muad'Dib.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// How long the Mentat may take to answer: even a Mentat must answer in time.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// The name of the one the soldiers found.
    #[arg(default_value = "Paul Atreides")]
    name: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

// ANCHOR: run
async fn run(args: Args) -> Result<(), client::Error> {
    let mut mentat = DuneClient::new(args.server.connect().await?).compressed(args.server.compress);

    println!("Soldier: we found {}. Is it the Muad'Dib?", args.name);
    let mut request = Request::new(WeFoundHim { message: args.name });
    request.set_timeout(args.deadline);
    let answer = mentat.is_muad_dib(request).await?.into_inner();

    println!("Mentat: {}", answer.message);
    Ok(())
}
// ANCHOR_END: run
