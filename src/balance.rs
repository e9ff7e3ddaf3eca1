//! Client-side load balancing: one channel over several replicas, which keeps working when
//! a replica is lost.
//!
//! tonic's balancing channel holds a connection to each replica and sends every call to
//! the less busy of two replicas picked at random ("power of two choices"). What it does
//! not do is notice that a replica died: a dead replica stays in the set, and calls sent
//! to it fail. So each replica here is *tracked* by its own health check (a `Watch` on the
//! standard health service): the replica joins the channel when it reports `SERVING`, and
//! leaves it as soon as the watch says otherwise or breaks, as it does the moment the
//! replica's process dies. This is what gRPC's own client-side health checking does.
//!
//! A call already sent to a replica that dies fails with `UNAVAILABLE`. Retrying it on
//! another replica is safe only when running it twice does no harm: see [`Safe`].

use std::{collections::BTreeMap, future::Future, io, sync::Arc, time::Duration};

use tokio::{
    net::TcpListener,
    sync::{mpsc::Sender, oneshot},
    task::JoinSet,
};
use tonic::{
    Code, Status, Streaming,
    transport::{Channel, Endpoint, channel::Change},
};
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, HealthCheckResponse, health_client::HealthClient},
};

use crate::{
    client::{self, ConnectError},
    route_guide::notes::NoteStore,
    server::{Config, SERVED_BY, TourServer},
};

/// How long a lost replica waits before its tracker tries it again, so that a restarted
/// replica rejoins on its own.
const RETRACK_AFTER: Duration = Duration::from_millis(500);

// ANCHOR: balanced_channel
/// A channel balanced over `urls`, with each replica tracked by its health check. The
/// trackers run until the returned [`JoinSet`] is dropped.
pub fn balanced_channel(urls: &[String]) -> Result<(Channel, JoinSet<()>), ConnectError> {
    let (channel, changes) = Channel::balance_channel(urls.len().max(1));
    let mut trackers = JoinSet::new();
    for url in urls {
        let endpoint = client::endpoint(url)?;
        trackers.spawn(track(url.clone(), endpoint, changes.clone()));
    }
    Ok((channel, trackers))
}

/// Keeps one replica in the channel while its health check says `SERVING`.
async fn track(url: String, endpoint: Endpoint, changes: Sender<Change<String, Endpoint>>) {
    let mut member = Member {
        url,
        endpoint,
        changes,
        joined: false,
    };
    loop {
        if let Some(mut statuses) = watch_health(&member.endpoint).await {
            while let Ok(Some(status)) = statuses.message().await {
                let serving = status.status() == ServingStatus::Serving.into();
                if member.set_joined(serving).await.is_err() {
                    return;
                }
            }
        }
        // The watch broke: the replica died, or is unreachable. Out it goes, at once.
        if member.set_joined(false).await.is_err() {
            return;
        }
        tokio::time::sleep(RETRACK_AFTER).await;
    }
}
// ANCHOR_END: balanced_channel

/// The stream of a replica's health statuses, or `None` if it cannot be watched now.
async fn watch_health(endpoint: &Endpoint) -> Option<Streaming<HealthCheckResponse>> {
    let connection = endpoint.connect().await.ok()?;
    let watch = HealthClient::new(connection)
        .watch(HealthCheckRequest::default())
        .await
        .ok()?;
    Some(watch.into_inner())
}

/// One replica's place in the balanced channel.
struct Member {
    url: String,
    endpoint: Endpoint,
    changes: Sender<Change<String, Endpoint>>,
    joined: bool,
}

/// The balanced channel is gone, so there is nothing left to track.
struct ChannelGone;

impl Member {
    /// Puts the replica in the channel, or takes it out, unless it is there already.
    async fn set_joined(&mut self, joined: bool) -> Result<(), ChannelGone> {
        if self.changes.is_closed() {
            return Err(ChannelGone);
        }
        if joined != self.joined {
            let change = if joined {
                Change::Insert(self.url.clone(), self.endpoint.clone())
            } else {
                Change::Remove(self.url.clone())
            };
            self.changes.send(change).await.map_err(|_| ChannelGone)?;
            self.joined = joined;
        }
        Ok(())
    }
}

// ANCHOR: safe
/// Whether a call may be sent again after it failed with `UNAVAILABLE`.
///
/// `UNAVAILABLE` says the call did not complete, not that it never ran: the replica may
/// have done the work and died before answering. So only calls that change nothing and
/// whose request can be sent again are retried here:
///
/// - `Summator.Sum` and `RouteGuide.GetFeature`: unary reads, with no effect on the
///   server. **Safe.**
/// - `Dune.IsMuadDib` changes nothing either, but its answer is a coin flip: a retry is
///   harmless, yet it may give another verdict than the lost call would have.
/// - `ListFeatures` is a read, but once features have arrived a retry would repeat them.
/// - `RecordRoute` streams points the client has already sent and may not have kept.
/// - `RouteChat` stores notes: running it twice would store them twice. **Never.**
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// Retry on `UNAVAILABLE`.
    ToRetry,
    /// Report the failure; the caller decides.
    Once,
}
// ANCHOR_END: safe

/// What a run of calls over a balanced channel did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Calls started (retries not counted again).
    pub sent: u64,
    /// Calls that succeeded, maybe after retries.
    pub succeeded: u64,
    /// Attempts that failed with `UNAVAILABLE` and were sent again.
    pub retried: u64,
    /// Calls that failed for good.
    pub failed: u64,
    /// How many successful calls each replica answered, by its `x-served-by` name.
    pub served_by: BTreeMap<String, u64>,
}

/// The most times one call is sent in all.
pub const MAX_ATTEMPTS: u32 = 4;

/// One call's outcome, after any retries.
#[derive(Debug)]
pub struct Attempted<T> {
    /// The last attempt's result.
    pub result: Result<tonic::Response<T>, Status>,
    /// How many attempts failed with `UNAVAILABLE` and were sent again.
    pub retries: u32,
}

// ANCHOR: with_retries
/// Runs a call, and runs it again on `UNAVAILABLE` when it is `safe`, up to
/// [`MAX_ATTEMPTS`] in all. `call` is called once per attempt, so that each attempt sends
/// a fresh request (a request, and its deadline, is used up by sending it).
pub async fn with_retries<T, F, Fut>(safe: Safe, mut call: F) -> Attempted<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let mut retries = 0;
    loop {
        let result = call().await;
        match &result {
            Err(status)
                if status.code() == Code::Unavailable
                    && safe == Safe::ToRetry
                    && retries + 1 < MAX_ATTEMPTS =>
            {
                retries += 1;
                // A short pause lets the tracker take the lost replica out.
                tokio::time::sleep(Duration::from_millis(10 * u64::from(retries))).await;
            }
            _ => return Attempted { result, retries },
        }
    }
}
// ANCHOR_END: with_retries

impl Tally {
    /// Counts one call's outcome.
    pub fn record<T>(&mut self, attempted: &Attempted<T>) {
        self.sent += 1;
        self.retried += u64::from(attempted.retries);
        match &attempted.result {
            Ok(response) => {
                self.succeeded += 1;
                *self.served_by.entry(served_by(response)).or_default() += 1;
            }
            Err(_) => self.failed += 1,
        }
    }
}

/// The replica named in a response's `x-served-by` header.
pub fn served_by<T>(response: &tonic::Response<T>) -> String {
    response
        .metadata()
        .get(SERVED_BY)
        .and_then(|name| name.to_str().ok())
        .unwrap_or("(unnamed)")
        .to_owned()
}

/// A replica of the tour server running in this process on its own thread and runtime,
/// so that [`Replica::kill`] can end it the way a crash would: every connection closes at
/// once, with no graceful shutdown.
#[derive(Debug)]
pub struct Replica {
    /// Its name, as `x-served-by` gives it.
    pub name: String,
    /// Where it listens, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The chat notes this replica, and only this replica, stores.
    pub notes: Arc<NoteStore>,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replica {
    /// Starts a replica named `name` on `127.0.0.1:0`, with `config` otherwise.
    pub fn spawn(name: &str, mut config: Config) -> io::Result<Replica> {
        config.replica_name = Some(name.to_owned());
        let server = TourServer::new(config).map_err(io::Error::other)?;
        let notes = server.notes();
        // Bound here, before the thread starts, so the replica accepts connections at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Returning drops the runtime, and with it every task serving a connection.
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                tokio::select! {
                    _ = server.serve(listener, std::future::pending()) => {}
                    _ = killed => {}
                }
            });
        });
        Ok(Replica {
            name: name.to_owned(),
            url,
            notes,
            kill: Some(kill),
            thread: Some(thread),
        })
    }

    /// Ends the replica abruptly, as if its process had died.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}
