//! One tonic server that serves every service of the tour.
//!
//! [`TourServer::new`] builds the services and the state they share from a [`Config`],
//! without touching the network; [`TourServer::serve`] then runs them on a listener the
//! caller has already bound, until a shutdown future completes. Binding first means the
//! address is known, and connectable, before the server task even starts: the binary binds
//! `--addr`, the tests and examples bind `127.0.0.1:0`, and nobody has to sleep and hope.

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;
use tonic::transport::{self, server::TcpIncoming};

use crate::{
    calls::{CallLayer, LiveCalls},
    dune::Mentat,
    proto::{
        dune_server::DuneServer, route_guide_server::RouteGuideServer,
        summator_server::SummatorServer,
    },
    route_guide::{
        RouteGuide,
        features::FeatureDb,
        notes::{self, NoteStore},
    },
    summator::Summator,
};

/// Everything the server is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds the Mentat's verdicts, so that a run can be repeated; `None` for fresh ones.
    pub seed: Option<u64>,
    /// The features the route guide knows.
    pub features: FeatureDb,
    /// How many chat notes the server keeps before it refuses new ones.
    pub max_notes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: None,
            features: FeatureDb::embedded(),
            max_notes: notes::DEFAULT_CAPACITY,
        }
    }
}

/// The tour's three services and the state they share, ready to serve.
#[derive(Debug)]
pub struct TourServer {
    mentat: Mentat,
    route_guide: RouteGuide,
    notes: Arc<NoteStore>,
    live: LiveCalls,
}

impl TourServer {
    /// Builds the services from `config`.
    pub fn new(config: Config) -> Self {
        let notes = Arc::new(NoteStore::new(config.max_notes));
        TourServer {
            mentat: Mentat::new(config.seed),
            route_guide: RouteGuide::new(Arc::new(config.features), Arc::clone(&notes)),
            notes,
            live: LiveCalls::default(),
        }
    }

    /// The gauge of calls in progress on this server.
    pub fn live_calls(&self) -> LiveCalls {
        self.live.clone()
    }

    /// The chat notes this server stores.
    pub fn notes(&self) -> Arc<NoteStore> {
        Arc::clone(&self.notes)
    }

    /// Serves every service on `listener` until `shutdown` completes. Then it stops
    /// accepting connections and calls, lets the calls in flight finish, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), transport::Error> {
        // gRPC sends many small frames; without TCP_NODELAY, Nagle's algorithm holds them
        // back waiting for ACKs, adding tens of milliseconds to a call.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        transport::Server::builder()
            .layer(CallLayer::new(self.live))
            .add_service(SummatorServer::new(Summator))
            .add_service(DuneServer::new(self.mentat))
            .add_service(RouteGuideServer::new(self.route_guide))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}
