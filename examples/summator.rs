//! Unary RPC: the Summator adds two numbers on the server.
//!
//! ```text
//! cargo run --example summator              # 2 + 3
//! cargo run --example summator -- 1.5 -4    # any two numbers
//! cargo run --example summator -- --server http://127.0.0.1:50051 2 3
//! ```
//!
//! One request, one response: the simplest kind of RPC, and the one that feels most like
//! calling a local function. What a production server asks of a client besides (TLS, a
//! token, compression, a trace id) is `examples/production_client.rs`.
//!
//! Everything here is plain tonic, but for the one line marked "grpc-tour": copy the file
//! into a project of your own and make that line tonic's
//! `Endpoint::from_shared(url)?.connect().await?`.

use std::{error::Error, process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::lesson::proto::{SumRequest, summator_client::SummatorClient};
use tonic::{Request, Status};
use tonic_types::StatusExt;

/// How long the call may take. Every call gets a deadline: tonic's client sets none of its
/// own, and without one it waits forever on a server that never answers.
const DEADLINE: Duration = Duration::from_secs(5);

/// Adds two numbers with the Summator service.
#[derive(Parser)]
struct Args {
    /// The server to call [default: http://127.0.0.1:50051, or, when nothing answers there,
    /// the three services on plain tonic, started in this process].
    #[arg(long, value_name = "URL", env = "GRPC_TOUR_SERVER")]
    server: Option<String>,
    /// The first number.
    #[arg(default_value_t = 2.0, allow_negative_numbers = true)]
    value1: f64,
    /// The second number.
    #[arg(default_value_t = 3.0, allow_negative_numbers = true)]
    value2: f64,
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
    let mut summator = SummatorClient::new(channel);

    let mut request = Request::new(SumRequest {
        value1: args.value1,
        value2: args.value2,
    });
    request.set_timeout(DEADLINE);
    let sum = summator.sum(request).await.map_err(failed)?.into_inner();

    println!("{} + {} = {}", args.value1, args.value2, sum.value);
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: failed
/// A failed call, as one line: its status code and message, and the fields the server
/// refused, from the `google.rpc.BadRequest` detail that rich errors carry.
fn failed(status: Status) -> String {
    let mut line = format!(
        "the call failed with {:?}: {}",
        status.code(),
        status.message()
    );
    for violation in status
        .get_details_bad_request()
        .map_or(vec![], |bad_request| bad_request.field_violations)
    {
        line += &format!("; field `{}`: {}", violation.field, violation.description);
    }
    line
}
// ANCHOR_END: failed
