//! The floor: the tour's own services on tonic's `Server`, with nothing around them.
//!
//! ```text
//! cargo run --release -p grpc-tour-bench --bin minimal-tonic -- --addr 127.0.0.1:0 --features FILE
//! ```
//!
//! The benchmark runs it beside the grpc-tour server, so that what the tour adds is
//! measured against what tonic itself costs, in the same run. It serves all six methods
//! with the lesson's handlers (`src/lesson/`, the same code the grpc-tour binary serves),
//! as `examples/minimal_server.rs` does, and nothing else: no health, no reflection, no
//! layers, no limit beyond tonic's own, and a note store that never fills. So every
//! difference between the two in the benchmark is the tour's production machinery.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Parser;
use grpc_tour::{
    lesson::{
        dune::Mentat,
        proto::{
            dune_server::DuneServer, route_guide_server::RouteGuideServer,
            summator_server::SummatorServer,
        },
        route_guide::{RouteGuide, features::FeatureDb, notes::NoteStore},
        summator::Summator,
    },
    production::server::Runtime,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

/// Serves the tour's three services, and nothing else.
#[derive(Parser)]
struct Args {
    /// The address to listen on; prints the one it got.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The features to serve, in grpc.io's route_guide_db.json format [default: the
    /// tour's embedded set].
    #[arg(long)]
    features: Option<PathBuf>,
    /// The tokio runtime to serve on, as for grpc-tour.
    #[arg(long, value_enum, default_value_t = Runtime::Auto)]
    runtime: Runtime,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let features = match &args.features {
        Some(path) => FeatureDb::load(path)?,
        None => FeatureDb::embedded(),
    };
    // Never full: the benchmark's chats leave millions of notes.
    let notes = NoteStore::new(usize::MAX, usize::MAX);
    let route_guide = RouteGuide::new(Arc::new(features), Arc::new(notes));
    args.runtime.build()?.block_on(async {
        let listener = TcpListener::bind(args.addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_service(SummatorServer::new(Summator))
            .add_service(DuneServer::new(Mentat::new(None)))
            .add_service(RouteGuideServer::new(route_guide))
            .serve_with_incoming(incoming)
            .await?;
        Ok(())
    })
}
