//! The floor: the smallest tonic server of `Summator.Sum`, with nothing around it.
//!
//! ```text
//! cargo run --release -p grpc-tour-bench --bin minimal-tonic -- --addr 127.0.0.1:0
//! ```
//!
//! The benchmark runs it beside the grpc-tour server, so that what the tour adds is
//! measured against what tonic itself costs, in the same run. It
//! answers `Sum` only; every other method of the tour is `UNIMPLEMENTED` here.

use std::net::SocketAddr;

use clap::Parser;
use grpc_tour::{
    lesson::proto::{
        SumRequest, SumResponse,
        summator_server::{Summator, SummatorServer},
    },
    production::server::Runtime,
};
use tokio::net::TcpListener;
use tonic::{
    Request, Response, Status,
    transport::{Server, server::TcpIncoming},
};

/// Serves `Summator.Sum` and nothing else.
#[derive(Parser)]
struct Args {
    /// The address to listen on; prints the one it got.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The tokio runtime to serve on, as for grpc-tour.
    #[arg(long, value_enum, default_value_t = Runtime::Auto)]
    runtime: Runtime,
}

struct Adder;

#[tonic::async_trait]
impl Summator for Adder {
    async fn sum(&self, request: Request<SumRequest>) -> Result<Response<SumResponse>, Status> {
        let SumRequest { value1, value2 } = request.into_inner();
        Ok(Response::new(SumResponse {
            value: value1 + value2,
        }))
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    args.runtime.build()?.block_on(async {
        let listener = TcpListener::bind(args.addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_service(SummatorServer::new(Adder))
            .serve_with_incoming(incoming)
            .await
            .map_err(std::io::Error::other)
    })
}
