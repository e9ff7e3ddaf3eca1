//! Client-side load balancing: one channel over several replicas, which keeps working when
//! a replica is lost.
//!
//! tonic's balancing channel holds a connection to each replica and sends every call to
//! the less loaded of two replicas picked at random ("power of two choices"); as tonic's
//! connections report no load, the pick is in effect random among the ready replicas.
//! What it does not do is notice that a replica died: a dead replica stays in the set, and
//! calls sent to it fail. So each replica here is *tracked* by its own health check (a `Watch` on the
//! standard health service): the replica joins the channel when it reports `SERVING`, and
//! leaves it as soon as the watch says otherwise or its connection breaks, as it does the
//! moment the replica's process dies. A watch that merely ends (a server's or a proxy's
//! limit on how long a call may last) is opened again at once, and the replica leaves only
//! if that fails. This is what gRPC's own client-side health checking does.
//!
//! A call already sent to a replica that dies fails with `UNAVAILABLE`. Retrying it on
//! another replica is safe only when running it twice does no harm: see [`Retry`]. And the
//! retry rule can trust `UNAVAILABLE` only if a broken connection is reported as such,
//! which tonic does not always do: see [`spec_codes`].

use std::{collections::BTreeSet, error::Error as _, future::Future, time::Duration};

use tokio::{
    sync::{mpsc::Sender, watch},
    task::JoinSet,
};
use tonic::{
    Code, Status, Streaming, TimeoutExpired,
    transport::{self, Channel, Endpoint, channel::Change},
};
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, HealthCheckResponse, health_client::HealthClient},
};
use tower::util::MapErr;

use crate::lesson::connect::{self, ConnectError};

/// How long a lost replica waits before its tracker tries it again, so that a restarted
/// replica rejoins on its own.
const RETRACK_AFTER: Duration = Duration::from_millis(500);

/// The pause before a watch that ended is opened again: short, but never a busy loop on a
/// server that ends every watch at once.
const REWATCH_AFTER: Duration = Duration::from_millis(50);

/// Which replicas are in the balanced channel, and how many times one has left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The URLs of the replicas the trackers keep in the channel (the channel itself takes
    /// a change when a call next needs it).
    pub joined: BTreeSet<String>,
    /// How many times, in all, a replica has left the channel.
    pub leaves: u64,
}

/// The tasks that track the replicas of a balanced channel; dropping this stops them.
#[derive(Debug)]
pub struct Trackers {
    _tasks: JoinSet<()>,
    membership: watch::Receiver<Membership>,
}

impl Trackers {
    /// Which replicas are in the channel, as it changes.
    pub fn membership(&self) -> watch::Receiver<Membership> {
        self.membership.clone()
    }
}

// ANCHOR: balanced_channel
/// A channel balanced over `urls`, with each replica tracked by its health check. The
/// trackers run until the returned [`Trackers`] are dropped.
pub fn balanced_channel(urls: &[String]) -> Result<(Channel, Trackers), ConnectError> {
    let (channel, changes) = Channel::balance_channel(urls.len().max(1));
    let (membership, watching) = watch::channel(Membership::default());
    let mut tasks = JoinSet::new();
    for url in urls {
        let member = Member {
            url: url.clone(),
            endpoint: connect::endpoint(url)?,
            changes: changes.clone(),
            membership: membership.clone(),
            joined: false,
        };
        tasks.spawn(track(member));
    }
    let trackers = Trackers {
        _tasks: tasks,
        membership: watching,
    };
    Ok((channel, trackers))
}

/// Keeps one replica in the channel while its health check says `SERVING`, and while it
/// can be reached.
async fn track(mut member: Member) {
    loop {
        let Some(mut statuses) = watch_health(&member.endpoint).await else {
            // It cannot be watched: it died, or is unreachable. Out it goes, at once.
            if member.set_joined(false).await.is_err() {
                return;
            }
            tokio::time::sleep(RETRACK_AFTER).await;
            continue;
        };
        let ended = loop {
            match statuses.message().await {
                Ok(Some(status)) => {
                    let serving = status.status() == ServingStatus::Serving.into();
                    if member.set_joined(serving).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break Ended::Stream,
                // A status with a cause is the connection failing, not the server speaking.
                Err(status) if status.source().is_some() => break Ended::Connection,
                Err(_) => break Ended::Stream,
            }
        };
        match ended {
            // The replica is gone with its connection: out at once, tried again later.
            Ended::Connection => {
                if member.set_joined(false).await.is_err() {
                    return;
                }
                tokio::time::sleep(RETRACK_AFTER).await;
            }
            // Only the stream ended: watch again, and stay in meanwhile.
            Ended::Stream => tokio::time::sleep(REWATCH_AFTER).await,
        }
    }
}
// ANCHOR_END: balanced_channel

/// How a health watch ended.
enum Ended {
    /// The stream ended, cleanly or with a status the server sent.
    Stream,
    /// The connection under it failed.
    Connection,
}

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
    membership: watch::Sender<Membership>,
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
            // Told first: the change itself waits until the channel next takes changes,
            // which is when a call next needs it.
            self.membership.send_modify(|membership| {
                if joined {
                    membership.joined.insert(self.url.clone());
                } else {
                    membership.joined.remove(&self.url);
                    membership.leaves += 1;
                }
            });
            self.changes.send(change).await.map_err(|_| ChannelGone)?;
            self.joined = joined;
        }
        Ok(())
    }
}

// ANCHOR: retry
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
pub enum Retry {
    /// Safe to send again: retry on `UNAVAILABLE`.
    OnUnavailable,
    /// Not safe: report the failure, and let the caller decide.
    Never,
}
// ANCHOR_END: retry

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
/// Runs a call, and runs it again on `UNAVAILABLE` when `retry` allows, up to
/// [`MAX_ATTEMPTS`] in all. `call` is called once per attempt, so that each attempt sends
/// a fresh request (a request, and its deadline, is used up by sending it).
pub async fn with_retries<T, F, Fut>(retry: Retry, mut call: F) -> Attempted<T>
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
                    && retry == Retry::OnUnavailable
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

// ANCHOR: spec_codes
/// A channel whose failures carry the status codes the gRPC spec gives them, so that a
/// retry rule can trust them.
pub type SpecCodes = MapErr<Channel, fn(transport::Error) -> Status>;

/// `channel`, with its failures reported as [`SpecCodes`] describes.
pub fn spec_codes(channel: Channel) -> SpecCodes {
    MapErr::new(channel, spec_status)
}

/// The status of a call that failed in the connection rather than on the server. Two of
/// tonic's own choices differ from the gRPC spec's table of status codes:
///
/// - tonic's client enforces a call's deadline itself as well as sending it, and when its
///   own timer fires first it reports `CANCELLED` ("Timeout expired"). A passed deadline
///   is `DEADLINE_EXCEEDED`, whichever side noticed.
/// - A connection that breaks under a call (the server's process died, say) is `UNKNOWN`
///   ("transport error") in tonic, or `CANCELLED` when the call was still queued on it;
///   the spec makes both `UNAVAILABLE`, the code that tells a client the call may be
///   retried elsewhere. (A client that really cancels drops the call, and sees no error.)
fn spec_status(error: transport::Error) -> Status {
    let mut cause = error.source();
    let (mut timed_out, mut closed) = (false, false);
    while let Some(source) = cause {
        timed_out |= source.is::<TimeoutExpired>();
        closed |= source
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled);
        cause = source.source();
    }
    if timed_out {
        return Status::deadline_exceeded("the deadline passed before the server answered");
    }
    if closed {
        return Status::unavailable("the connection closed before the call was sent");
    }
    let status = Status::from_error(Box::new(error));
    match status.code() {
        // What tonic could not classify is the connection failing.
        Code::Unknown => {
            Status::unavailable(format!("the connection failed: {}", status.message()))
        }
        _ => status,
    }
}
// ANCHOR_END: spec_codes
