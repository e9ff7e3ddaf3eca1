//! One tonic server that serves every service of the tour, with what production needs
//! around them: health checks, reflection, limits, compression, TLS and a graceful shutdown.
//!
//! [`TourServer::new`] builds the services and the state they share from a [`Config`],
//! without touching the network; [`TourServer::serve`] then runs them on a listener the
//! caller has already bound, until a shutdown future completes. Binding first means the
//! address is known, and connectable, before the server task even starts: the binary binds
//! `--addr`, the tests and examples bind `127.0.0.1:0`, and nobody has to sleep and hope.
//!
//! How the server shuts down is [`shutdown`]'s: health turns `NOT_SERVING`, tonic stops
//! accepting, and calls still open after the grace period end with `UNAVAILABLE`.

mod config;
mod runtime;
pub mod shutdown;
pub mod token;

use std::{future::Future, sync::Arc};

use http::{HeaderName, HeaderValue};

use tokio::net::TcpListener;
use tonic::{
    codec::CompressionEncoding, server::NamedService, service::interceptor::InterceptedService,
    transport,
};
use tonic_health::ServingStatus;
use tower::ServiceBuilder;
use tower_http::{ServiceBuilderExt, set_header::SetResponseHeaderLayer};

pub use config::{Config, Limits};
pub use runtime::Runtime;

use crate::{
    lesson::{
        dune::Mentat,
        proto::{
            self, dune_server::DuneServer, route_guide_server::RouteGuideServer,
            summator_server::SummatorServer,
        },
        route_guide::{RouteGuide, features::FeatureDb},
        summator::Summator,
    },
    playground::{
        page::Page,
        proto::relay_server::RelayServer,
        relay::{self, RelayService},
    },
    production::{
        connection,
        layers::{
            admission::AdmissionLayer, cutoff::CutoffLayer, observe::LiveCalls,
            observe::ObserveLayer,
        },
        metrics::Metrics,
        notes::Notes,
        tls::TlsError,
        web::WebLayer,
    },
};
use shutdown::Shutdown;
use token::RequireToken;
use tokio_rustls::rustls::ServerConfig;

/// Applies the message limits, compression and the token check to one generated service.
/// A macro because the generated servers share these methods but no trait that has them.
macro_rules! tuned {
    ($service:expr, $limits:expr, $token:expr) => {
        InterceptedService::new(
            $service
                .max_decoding_message_size($limits.max_message_size)
                .max_encoding_message_size($limits.max_message_size)
                // Accept compressed requests, and compress responses for the clients that
                // say (in `grpc-accept-encoding`) that they can read them.
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd),
            // The bearer token, checked on the tour's services only: health and reflection
            // stay open.
            $token.clone(),
        )
    };
}

/// The tour's three services and the state they share, ready to serve.
#[derive(Debug)]
pub struct TourServer {
    mentat: Mentat,
    route_guide: RouteGuide<Notes>,
    notes: Arc<Notes>,
    live: LiveCalls,
    metrics: Option<Arc<Metrics>>,
    token: RequireToken,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    /// How many features the route guide knows, for the start-up line.
    features: usize,
    replica_name: Option<HeaderValue>,
    /// Whether to serve the playground (its page and its relay).
    playground: bool,
    /// The token as configured, for the playground's relayed calls.
    token_text: Option<String>,
    cors_origins: Vec<HeaderValue>,
}

/// Why a server could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The token cannot be sent as metadata.
    #[error("the token must be printable ASCII, as it travels in a header")]
    BadToken,
    /// The replica name cannot be sent as metadata.
    #[error("the replica name must be printable ASCII, as it travels in a header")]
    BadReplicaName,
    /// The Redis URL of `--notes` does not parse.
    #[error("--notes: {0}")]
    BadRedisUrl(#[from] redis::RedisError),
    /// The TLS certificates, key or CA cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The response header that names the replica that served a call: with several replicas
/// behind a balancer, it shows where each call went.
pub const SERVED_BY: &str = "x-served-by";

impl TourServer {
    // ANCHOR: new
    /// Builds the services from `config`.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let notes = Arc::new(Notes::new(
            &config.notes,
            config.max_notes,
            config.max_note_bytes,
        )?);
        let features = config.features.unwrap_or_else(FeatureDb::embedded);
        Ok(TourServer {
            features: features.len(),
            mentat: Mentat::new(config.seed).thinking_for(config.mentat_delay),
            route_guide: RouteGuide::new(Arc::new(features), Arc::clone(&notes)),
            metrics: config
                .metrics_addr
                .map(|_| Arc::new(Metrics::new(Notes::clone(&notes)))),
            notes,
            live: LiveCalls::default(),
            token: RequireToken::new(config.token.as_deref()).map_err(|_| ConfigError::BadToken)?,
            token_text: config.token,
            playground: !config.no_playground,
            cors_origins: config.cors_origins,
            tls: config.tls.config()?,
            limits: config.limits,
            replica_name: config
                .replica_name
                .map(HeaderValue::try_from)
                .transpose()
                .map_err(|_| ConfigError::BadReplicaName)?,
        })
    }
    // ANCHOR_END: new

    /// How many features the route guide knows, and whether it serves TLS: for the line
    /// the binary logs at start-up.
    pub fn describe(&self) -> (usize, bool) {
        (self.features, self.tls.is_some())
    }

    /// Whether it serves the playground's page (`--no-playground` turns it off).
    pub fn serves_playground(&self) -> bool {
        self.playground
    }

    /// The gauge of calls in progress on this server.
    pub fn live_calls(&self) -> LiveCalls {
        self.live.clone()
    }

    /// This server's metrics, if it keeps them (`Config::metrics_addr`); the binary serves
    /// them there.
    pub fn metrics(&self) -> Option<Arc<Metrics>> {
        self.metrics.clone()
    }

    /// Where this server keeps its chat notes.
    pub fn notes(&self) -> Notes {
        Notes::clone(&self.notes)
    }

    /// Serves every service on `listener` until `shutdown` completes, then shuts down as
    /// [`shutdown`] describes, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), transport::Error> {
        // 1. Health: every service SERVING, until the shutdown turns it.
        let (health, health_service) = tonic_health::server::health_reporter();
        for service in TOUR_SERVICES {
            health
                .set_service_status(service, ServingStatus::Serving)
                .await;
        }
        let services = TOUR_SERVICES.into_iter().chain([""]).collect();
        let shutdown = Shutdown::new(shutdown, health, services, self.limits.grace_period);
        // 2. Say where RouteChat's notes are, without holding up the other services.
        self.report_notes();
        // 3. HTTP/2, as the limits say (TLS is ended below, per connection: step 5), and
        // HTTP/1.1 for browsers (gRPC-Web and the playground's page).
        let limits = &self.limits;
        let builder = transport::Server::builder()
            .accept_http1(true)
            .max_concurrent_streams(Some(limits.max_concurrent_streams))
            .http2_max_header_list_size(limits.max_header_list_size)
            .http2_max_pending_accept_reset_streams(Some(limits.max_pending_resets))
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            // A GOAWAY at the age, then tonic waits for the calls; the connection's watch
            // closes what is left after the grace (tonic's own grace skips the GOAWAY).
            .max_connection_age(limits.connection.max_connection_age);
        // 4. The layers around every call, and the services.
        let relay = self.playground.then(|| {
            // The relay reads plaintext only: over TLS it has nothing to call.
            let upstream = self.tls.is_none().then(|| own_address(&listener)).flatten();
            RelayService::new(upstream, self.token_text.clone(), relay::AT_ONCE)
        });
        let page = self.playground.then(|| {
            Page::new(
                self.token_text.is_some(),
                relay.as_ref().is_some_and(RelayService::runs),
            )
        });
        // ANCHOR: router
        // Around every call, outermost first: the front door (gRPC-Web and the playground's
        // page, src/production/web.rs), then the layers of src/production/layers/mod.rs.
        let layers = ServiceBuilder::new()
            .layer(WebLayer::new(page, self.cors_origins))
            .layer(ObserveLayer::new(
                self.live.clone(),
                self.metrics.clone(),
                limits.max_message_size,
            ))
            .layer(AdmissionLayer::new(
                self.live,
                limits.max_calls_in_flight as usize,
                self.metrics,
            ))
            .propagate_x_request_id()
            .layer(CutoffLayer::new(limits.max_deadline, shutdown.grace_over()))
            .option_layer(self.replica_name.map(|name| {
                SetResponseHeaderLayer::overriding(HeaderName::from_static(SERVED_BY), name)
            }));
        let token = &self.token;
        let router = builder
            .layer(layers)
            .add_service(health_service)
            .add_service(reflection_v1())
            .add_service(reflection_v1alpha())
            .add_service(tuned!(SummatorServer::new(Summator), limits, token))
            .add_service(tuned!(DuneServer::new(self.mentat), limits, token))
            .add_service(tuned!(
                RouteGuideServer::new(self.route_guide),
                limits,
                token
            ))
            .add_optional_service(
                relay.map(|relay| tuned!(RelayServer::new(relay), limits, token)),
            );
        // ANCHOR_END: router
        // 5. Each connection, TLS ended when there is TLS, watched: so that one that never
        // begins HTTP/2, or whose client stopped reading, can be closed.
        let incoming =
            connection::incoming(listener, limits.connection, shutdown.grace_over(), self.tls);
        // 6. Serve until the shutdown has run its course.
        shutdown
            .run(|stop_accepting| router.serve_with_incoming_shutdown(incoming, stop_accepting))
            .await
    }

    /// Logs, once Redis answers or does not, where RouteChat's notes are kept.
    fn report_notes(&self) {
        if let Notes::Redis(redis) = &*self.notes {
            let redis = Arc::clone(redis);
            tokio::spawn(async move {
                match redis.check().await {
                    Ok(()) => tracing::info!(redis = redis.url(), "chat notes kept in Redis"),
                    Err(unreachable) => tracing::warn!(
                        "{unreachable}; RouteChat answers UNAVAILABLE until it can be"
                    ),
                }
            });
        }
    }
}

/// The names health checks know the tour's services by, beside the whole server's `""`.
const TOUR_SERVICES: [&str; 3] = [
    <SummatorServer<Summator> as NamedService>::NAME,
    <DuneServer<Mentat> as NamedService>::NAME,
    <RouteGuideServer<RouteGuide<Notes>> as NamedService>::NAME,
];

/// Where this server can call itself: the listener's address, on loopback when it listens
/// on every address.
fn own_address(listener: &TcpListener) -> Option<std::net::SocketAddr> {
    let mut addr = listener.local_addr().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(addr)
}

/// Server reflection, as the `grpc.reflection.v1` protocol that current tools (buf curl,
/// grpcurl 1.8.8 and later, Python's reflection client) speak.
fn reflection_v1() -> tonic_reflection::server::v1::ServerReflectionServer<
    impl tonic_reflection::server::v1::ServerReflection,
> {
    reflection()
        .build_v1()
        .expect("the descriptor sets built into the binary are valid")
}

/// The same, as the older `v1alpha` protocol, for grpcurl up to 1.8.7 (which pip installs)
/// and other older tools.
fn reflection_v1alpha() -> tonic_reflection::server::v1alpha::ServerReflectionServer<
    impl tonic_reflection::server::v1alpha::ServerReflection,
> {
    reflection()
        .build_v1alpha()
        .expect("the descriptor sets built into the binary are valid")
}

/// Reflection over the tour's proto, from the descriptor set that `build.rs` writes, and
/// over the health service's: so a client with no `.proto` file can list and call every
/// service. The `google.rpc` error details ride along, so that such a client can also
/// decode the `BadRequest` in an error.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}
