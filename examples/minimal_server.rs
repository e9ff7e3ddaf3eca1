//! The smallest server of the tour: its three services on tonic's `Server`, and nothing
//! else.
//!
//! ```text
//! cargo run --example minimal_server                 # serves on 127.0.0.1:50051
//! cargo run --example minimal_server -- 127.0.0.1:0  # any free port
//! cargo run --example route_chat                     # in another terminal
//! ```
//!
//! This is the whole of what a gRPC server needs: a listener, and one generated
//! `...Server` wrapper per service around the type that implements it. What tonic does
//! here by itself: a 4 MiB limit on a request message (`OUT_OF_RANGE` past it), and a
//! check of the client's deadline until the response headers (`CANCELLED`). The grpc-tour
//! binary (`src/main.rs`, `src/production/`) serves the same services with what
//! production adds around them: health checks, reflection, a message limit answered with
//! `RESOURCE_EXHAUSTED`, deadlines over the whole call and a cap on every call, metrics and
//! a per-call log line when asked for, compression, a token, TLS, a graceful shutdown.

use std::{error::Error, sync::Arc};

use grpc_tour::lesson::{
    dune::Mentat,
    proto::{
        dune_server::DuneServer, route_guide_server::RouteGuideServer,
        summator_server::SummatorServer,
    },
    route_guide::{RouteGuide, features::FeatureDb, notes::NoteStore},
    summator::Summator,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::args().nth(1);
    let listener = TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:50051")).await?;
    println!(
        "serving Summator, Dune and RouteGuide on {}",
        listener.local_addr()?
    );

    let notes = Arc::new(NoteStore::default());
    let route_guide = RouteGuide::new(Arc::new(FeatureDb::embedded()), notes);
    Server::builder()
        .add_service(SummatorServer::new(Summator))
        .add_service(DuneServer::new(Mentat::new(None)))
        .add_service(RouteGuideServer::new(route_guide))
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}
// ANCHOR_END: main
