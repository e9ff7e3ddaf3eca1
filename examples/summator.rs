//! Unary RPC: the Summator adds two numbers on the server.
//!
//! ```text
//! cargo run --example summator              # 2 + 3
//! cargo run --example summator -- 1.5 -4    # any two numbers
//! cargo run --example summator -- --server http://127.0.0.1:50051 2 3
//! ```
//!
//! One request, one response: the simplest kind of RPC, and the one that feels most like
//! calling a local function.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use grpc_tour::{
    client::{self, Compress, ServerArgs},
    proto::{SumRequest, summator_client::SummatorClient},
};
use tonic::Request;

/// How long the call may take. Every call gets a deadline: without one, a client waits
/// forever on a server that never answers.
const DEADLINE: Duration = Duration::from_secs(5);

/// Adds two numbers with the Summator service.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The first number.
    #[arg(default_value_t = 2.0, allow_negative_numbers = true)]
    value1: f64,
    /// The second number.
    #[arg(default_value_t = 3.0, allow_negative_numbers = true)]
    value2: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    client::report(run(Args::parse()).await)
}

// ANCHOR: run
async fn run(args: Args) -> Result<(), client::Error> {
    let mut summator =
        SummatorClient::new(args.server.connect().await?).compressed(args.server.compress);

    let mut request = Request::new(SumRequest {
        value1: args.value1,
        value2: args.value2,
    });
    request.set_timeout(DEADLINE);
    let sum = summator.sum(request).await?.into_inner();

    println!("{} + {} = {}", args.value1, args.value2, sum.value);
    Ok(())
}
// ANCHOR_END: run
