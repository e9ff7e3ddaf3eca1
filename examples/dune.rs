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
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour" (see
//! `examples/summator.rs`).

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{WeFoundHim, dune_client::DuneClient};
use tonic::{Code, Request, Status, TimeoutExpired};

/// Asks the Dune service whether someone is the Muad'Dib.
#[derive(Parser)]
struct Args {
    /// The server to call [default: http://127.0.0.1:50051, or, when nothing answers there,
    /// the three services on plain tonic, started in this process].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// How long the Mentat may take to answer: even a Mentat must answer in time.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// The name of the one the soldiers found.
    #[arg(default_value = "Paul Atreides")]
    name: String,
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
    let mut mentat = DuneClient::new(channel);

    println!("Soldier: we found {}. Is it the Muad'Dib?", args.name);
    let mut request = Request::new(WeFoundHim { message: args.name });
    request.set_timeout(args.deadline);
    let answer = mentat
        .is_muad_dib(request)
        .await
        .map_err(failed)?
        .into_inner();

    println!("Mentat: {}", answer.message);
    Ok(())
}

/// A failed call, as one line: its status code and message.
fn failed(status: Status) -> String {
    // tonic's client watches the deadline too. When its own timer fires first, it reports
    // CANCELLED ("Timeout expired"), where the gRPC spec says DEADLINE_EXCEEDED: the cause
    // tells them apart. (A plain tonic server's timer says CANCELLED too, and that one
    // arrives with no cause: it is printed as Cancelled. The tour's server says
    // DEADLINE_EXCEEDED itself.)
    let timed_out = std::iter::successors(status.source(), |&error| error.source())
        .any(|error| error.is::<TimeoutExpired>());
    let code = if timed_out {
        Code::DeadlineExceeded
    } else {
        status.code()
    };
    format!("the call failed with {code:?}: {}", status.message())
}
// ANCHOR_END: run
