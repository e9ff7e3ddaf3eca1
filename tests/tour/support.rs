//! Spawning a tour server for a test, and connecting clients to it.
//!
//! The listener is bound before the server task starts, so a client can connect at once:
//! no test sleeps to wait for a server.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use grpc_tour::{
    lesson::{
        connect,
        proto::{
            Point, Rectangle, RouteNote, dune_client::DuneClient,
            route_guide_client::RouteGuideClient, summator_client::SummatorClient,
        },
        route_guide::{features::FeatureDb, notes::NoteStore},
    },
    production::{
        layers::observe::LiveCalls,
        metrics::Metrics,
        server::{Config, TourServer},
    },
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

/// The seed every test server uses unless a test says otherwise.
pub const SEED: u64 = 7;

/// The longest any test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A tour server running in the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    pub live: LiveCalls,
    pub notes: Arc<NoteStore>,
    /// The server's metrics, when its configuration asked for them.
    pub metrics: Option<Arc<Metrics>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// A server with the built-in features and the test seed.
pub async fn spawn_test_server() -> TestServer {
    spawn_server(test_config()).await
}

/// The configuration of [`spawn_test_server`], for tests that change one thing.
///
/// A call past its deadline that a test leaves unread for a while must still end with its
/// status, not with its connection closed under it: so the server waits [`PATIENCE`]
/// before it takes such a call to be stalled. The tests of stalled clients set their own.
pub fn test_config() -> Config {
    let mut config = Config {
        seed: Some(SEED),
        ..Config::default()
    };
    config.limits.connection.stalled_grace = PATIENCE;
    config
}

/// A server with the given features, and the test seed.
pub async fn spawn_server_with_features(json: &str) -> TestServer {
    let features = FeatureDb::from_json(json).expect("test features are valid");
    spawn_server(Config {
        features: Some(features),
        ..test_config()
    })
    .await
}

// ANCHOR: spawn_server
pub async fn spawn_server(config: Config) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = TourServer::new(config).expect("the test configuration is valid");
    // The notes of a server that keeps them in memory (an empty store for one that keeps
    // them in Redis: the Redis tests read Redis itself).
    let notes = server.notes().in_memory().cloned().unwrap_or_default();
    let live = server.live_calls();
    let metrics = server.metrics();
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = signal.await;
    }));
    TestServer {
        addr,
        url: format!("http://{addr}"),
        live,
        notes,
        metrics,
        shutdown: Some(shutdown),
        task,
    }
}
// ANCHOR_END: spawn_server

impl TestServer {
    pub async fn channel(&self) -> Channel {
        connect::connect(&self.url).await.unwrap()
    }

    pub async fn summator(&self) -> SummatorClient<Channel> {
        SummatorClient::new(self.channel().await)
    }

    pub async fn dune(&self) -> DuneClient<Channel> {
        DuneClient::new(self.channel().await)
    }

    pub async fn route_guide(&self) -> RouteGuideClient<Channel> {
        RouteGuideClient::new(self.channel().await)
    }

    /// Waits, within [`PATIENCE`], until no call is in progress on the server.
    pub async fn wait_until_idle(&self) {
        tokio::time::timeout(PATIENCE, self.live.wait_for(0))
            .await
            .unwrap_or_else(|_| {
                panic!("{} calls still live after {PATIENCE:?}", self.live.count())
            });
    }

    /// Starts a graceful shutdown; [`TestServer::stopped`] waits for it to finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits, within [`PATIENCE`], for the server to stop, and returns how `serve` ended.
    pub async fn stopped(self) -> Result<(), tonic::transport::Error> {
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the server stops in time")
            .expect("the server task does not panic")
    }
}

/// Runs `open_call` as a client on a runtime of its own, then drops that runtime while what
/// `open_call` returned (the call's streams) is still alive: the client's sockets close at
/// once, as when a client process dies mid-call. `open_call` should return only once its
/// call is under way on the server.
pub async fn vanish_mid_call<F, Fut, T>(url: String, open_call: F)
where
    F: FnOnce(Channel) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let open = runtime.block_on(async {
            let channel = connect::connect(&url).await.unwrap();
            open_call(channel).await
        });
        drop(runtime);
        drop(open);
    })
    .await
    .unwrap();
}

/// Asserts that a call failed with `code` and a message that contains `fragment`.
#[track_caller]
pub fn assert_status(status: &Status, code: Code, fragment: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(fragment),
        "{:?} does not mention {fragment:?}",
        status.message()
    );
}

/// Asserts that a call failed with INVALID_ARGUMENT because of `field`: the message says
/// "`field` `problem`...", and the `google.rpc.BadRequest` detail names the same field, so
/// that a program can tell which one without reading the message.
#[track_caller]
pub fn assert_bad_field(status: &Status, field: &str, problem: &str) {
    assert_status(status, Code::InvalidArgument, &format!("{field} {problem}"));
    let bad_request = status
        .get_details_bad_request()
        .expect("the status carries a BadRequest detail");
    let [violation] = bad_request.field_violations.as_slice() else {
        panic!("one field violation: {bad_request:?}");
    };
    assert_eq!(violation.field, field);
    assert!(
        violation.description.starts_with(problem),
        "{:?} does not start with {problem:?}",
        violation.description
    );
}

/// A chat note with `message` at `location`.
pub fn note(location: Point, message: &str) -> RouteNote {
    RouteNote {
        location: Some(location),
        message: message.to_owned(),
    }
}

/// A point from degrees, as a person would write it.
pub fn point(latitude: f64, longitude: f64) -> Point {
    Point {
        latitude: (latitude * 1e7).round() as i32,
        longitude: (longitude * 1e7).round() as i32,
    }
}

/// A `route_guide_db.json` text with one feature at each of `named`.
pub fn features_json(named: &[(&str, Point)]) -> String {
    let entries: Vec<String> = named
        .iter()
        .map(|(name, p)| {
            format!(
                r#"{{"location": {{"latitude": {}, "longitude": {}}}, "name": "{name}"}}"#,
                p.latitude, p.longitude
            )
        })
        .collect();
    format!("[{}]", entries.join(","))
}

/// Far more features than HTTP/2 flow control lets the server send ahead of a client (a
/// few MB): a stream of them cannot finish before the client has read most of it. Named
/// `dune 0`, `dune 1`, ... in the order `ListFeatures` sends them, a step of 0.000001
/// degrees apart, northwards from (29.5, 35.3): inside the `list_features` example's
/// southern desert.
pub fn many_features_json() -> String {
    let many: Vec<(String, Point)> = (0..200_000)
        .map(|i| (format!("dune {i}"), point(29.5 + i as f64 / 1e6, 35.3)))
        .collect();
    let named: Vec<(&str, Point)> = many.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    features_json(&named)
}

/// The rectangle that holds the whole world.
pub fn everywhere() -> Rectangle {
    Rectangle {
        lo: Some(point(-90.0, -180.0)),
        hi: Some(point(90.0, 180.0)),
    }
}

/// A directory of a test's own under the system's temporary one, removed when dropped.
///
/// Not the `tempfile` crate: as a dev-dependency it gives rustix and bitflags features that
/// the server's own build lacks, so `cargo run` after `cargo test` (or an example) would
/// rebuild a dozen crates. A process id and a counter make the name unique.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "grpc-tour-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
