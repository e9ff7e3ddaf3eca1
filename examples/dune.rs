//! Unary RPC: a Harkonnen soldier asks the Mentat whether they found the Muad'Dib.
//!
//! ```text
//! cargo run --example dune                      # asks about Paul Atreides
//! cargo run --example dune -- "Gurney Halleck"
//! cargo run --example dune -- --server http://127.0.0.1:50051 "Paul Atreides"
//! ```
//!
//! The verdict is random; start the server with `--seed N` to make it repeatable.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, ServerArgs},
    proto::{WeFoundHim, dune_client::DuneClient},
};
use tonic::Request;

/// How long the call may take: even a Mentat must answer in time.
const DEADLINE: Duration = Duration::from_secs(5);

/// Asks the Dune service whether someone is the Muad'Dib.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The name of the one the soldiers found.
    #[arg(default_value = "Paul Atreides")]
    name: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), client::Error> {
    let mut mentat = DuneClient::new(args.server.connect().await?);

    println!("Soldier: we found {}. Is it the Muad'Dib?", args.name);
    let mut request = Request::new(WeFoundHim { message: args.name });
    request.set_timeout(DEADLINE);
    let answer = mentat.is_muad_dib(request).await?.into_inner();

    println!("Mentat: {}", answer.message);
    Ok(())
}
