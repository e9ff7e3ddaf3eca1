//! `playground.Relay/Watch`: a client-streaming or bidirectional call that the server makes
//! to itself, for a page that cannot, with the frames of that call streamed to the page.
//!
//! The page names the call; the server fixes its messages (four landmarks for
//! `RecordRoute`, four notes for `RouteChat`, or one note and a hang-up), so a page cannot
//! make the server send anything of its choosing. Each Watch starts a [`Relay`] on a loopback port in front of
//! this same server, calls through it with a short deadline, and sends one [`WireEvent`]
//! per frame the [`Timeline`] shows (the call's HEADERS, DATA and RST_STREAM frames; not
//! the connection's SETTINGS, PING or WINDOW_UPDATE), then one with what the client got. The relayed call
//! is a real call: it passes through every layer of the server, and its metrics count it.
//!
//! Bounded for the whole server: at most [`AT_ONCE`] Watches run at once, and the next one
//! is refused with `RESOURCE_EXHAUSTED` at once, without touching the network, so a page
//! that asks for a thousand chats gets four and 996 refusals, not a thousand connections.
//! A Watch whose page hangs up ends its relayed call with it, and none lasts more than
//! ten seconds, read or not.

use std::{net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use futures::{Stream, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tonic::{
    Request, Response, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

use crate::{
    lesson::{
        proto::{Point, RouteNote, route_guide_client::RouteGuideClient},
        route_guide::landmarks::{ARRAKEEN, CAVE_OF_BIRDS, RESIDENCY_GARDENS, SIETCH_TABR},
    },
    playground::proto::{Call, WatchRequest, WireEvent, relay_server},
    wire::{Direction, Relay, What, timeline::Timeline},
};

/// How many Watches may run at once, for the whole server.
pub const AT_ONCE: usize = 4;

/// The deadline of each relayed call.
const DEADLINE: Duration = Duration::from_secs(5);

/// How long one Watch may hold its place, whatever its page does: one that stops reading
/// its events cannot keep the relay from others for longer.
const WATCH_LIMIT: Duration = Duration::from_secs(10);

/// How long to wait for the relay to see a message go by before sending the next anyway.
const PATIENCE: Duration = Duration::from_secs(1);

/// How long a chat waits after each note, so that the server's replies to it are drawn
/// before the next note, and a person watching sees the conversation unfold.
const BETWEEN_NOTES: Duration = Duration::from_millis(250);

/// The route `RecordRoute` records.
const ROUTE: [Point; 4] = [ARRAKEEN, RESIDENCY_GARDENS, SIETCH_TABR, CAVE_OF_BIRDS];

/// The notes `RouteChat` sends: the server answers each with the earlier notes at its point.
const CHAT: [(Point, &str); 4] = [
    (ARRAKEEN, "The spice must flow"),
    (SIETCH_TABR, "Water is life"),
    (ARRAKEEN, "Beware the Harkonnen"),
    (SIETCH_TABR, "Ride at dawn"),
];

/// The `Relay` service.
#[derive(Debug, Clone)]
pub struct RelayService {
    /// This server's own address, for the relay to call; `None` when it serves TLS, which
    /// the relay cannot read.
    upstream: Option<SocketAddr>,
    /// The bearer token this server asks for, sent on the relayed calls and hidden from the
    /// frames shown.
    token: Option<String>,
    permits: Arc<Semaphore>,
    /// How long one Watch may hold its place: [`WATCH_LIMIT`], but in the tests.
    limit: Duration,
}

impl RelayService {
    /// Relays calls to the plaintext server at `upstream` (none: the server serves TLS),
    /// with `token` if it asks for one, at most `at_once` at a time.
    pub fn new(upstream: Option<SocketAddr>, token: Option<String>, at_once: usize) -> Self {
        RelayService {
            upstream,
            token,
            permits: Arc::new(Semaphore::new(at_once)),
            limit: WATCH_LIMIT,
        }
    }

    /// Whether it can relay at all: not over TLS.
    pub fn runs(&self) -> bool {
        self.upstream.is_some()
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<WireEvent, Status>> + Send>>;

#[tonic::async_trait]
impl relay_server::Relay for RelayService {
    type WatchStream = Events;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let call = match request.into_inner().call() {
            Call::Unspecified => {
                return Err(Status::invalid_argument(
                    "call: name CALL_RECORD_ROUTE, CALL_ROUTE_CHAT or CALL_ROUTE_CHAT_HANG_UP",
                ));
            }
            call => call,
        };
        let Some(upstream) = self.upstream else {
            return Err(Status::failed_precondition(
                "the relay reads plaintext HTTP/2 only, and this server serves TLS",
            ));
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "the playground relays at most {AT_ONCE} calls at once for the whole server; \
                 try again when one has ended"
            )));
        };
        let (events, receiver) = mpsc::channel(16);
        let (token, limit) = (self.token.clone(), self.limit);
        // Whether the Watch ran out of time: told after the last event, however full the
        // channel was when it did (a page that stopped reading has filled it).
        let (out_of_time, timed_out) = oneshot::channel();
        tokio::spawn(async move {
            let watching = watch(call, upstream, token, events, permit);
            let _ = out_of_time.send(tokio::time::timeout(limit, watching).await.is_err());
        });
        let events = stream::unfold(Some((receiver, timed_out)), |state| async move {
            let (mut receiver, timed_out) = state?;
            match receiver.recv().await {
                Some(event) => Some((event, Some((receiver, timed_out)))),
                None => timed_out.await.unwrap_or(false).then(|| {
                    let status = Status::deadline_exceeded("the relay ends every Watch after 10 s");
                    (Err(status), None)
                }),
            }
        });
        Ok(Response::new(Box::pin(events)))
    }
}

/// What the relay has seen of the relayed call so far.
#[derive(Clone, Copy, Default)]
struct Progress {
    /// Messages to the server.
    sent: usize,
    /// Whether the response headers have come.
    answered: bool,
    /// Whether the client has reset a stream: hung up.
    reset: bool,
}

/// Makes `call` through a relay and sends its frames to `events`, until the call has ended
/// or the page has hung up. Holds `_permit` until then.
async fn watch(
    call: Call,
    upstream: SocketAddr,
    token: Option<String>,
    events: mpsc::Sender<Result<WireEvent, Status>>,
    _permit: OwnedSemaphorePermit,
) {
    let mut relay = match Relay::start(upstream.to_string()).await {
        Ok(relay) => relay,
        Err(error) => {
            let status = Status::unavailable(format!("the relay could not start: {error}"));
            let _ = events.send(Err(status)).await;
            return;
        }
    };
    let channel = match Endpoint::from_shared(relay.url()) {
        Ok(endpoint) => endpoint.connect_lazy(),
        Err(error) => {
            let _ = events.send(Err(Status::internal(error.to_string()))).await;
            return;
        }
    };
    let (progress, seen) = watch::channel(Progress::default());
    let client = make(call, channel, seen, token.clone());
    tokio::pin!(client);
    let mut timeline = Timeline::new(false);
    let mut frames = Vec::new();
    let result = loop {
        tokio::select! {
            biased;
            () = events.closed() => return,
            event = relay.next() => match event {
                Some(event) => frames.extend(event_of(&mut timeline, &event, token.as_deref())),
                None => continue,
            },
            result = &mut client => break result,
        }
        progress.send_modify(|progress| {
            progress.sent = timeline.messages(Direction::ToServer);
            progress.answered = timeline.answered();
            progress.reset |= frames
                .iter()
                .any(|frame| frame.to_server && frame.frame == "RST_STREAM");
        });
        for frame in frames.drain(..) {
            if events.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    };
    // The relay reports a frame before passing it on, so every frame of the call has been
    // reported by the time the client has its answer.
    while let Some(event) = relay.try_next() {
        frames.extend(event_of(&mut timeline, &event, token.as_deref()));
    }
    let (code, result) = match result {
        Ok(result) => (0, result),
        Err(status) => (
            status.code() as u32,
            format!("{:?}: {}", status.code(), status.message()),
        ),
    };
    frames.push(WireEvent {
        result,
        code,
        ..WireEvent::default()
    });
    for frame in frames {
        if events.send(Ok(frame)).await.is_err() {
            return;
        }
    }
}

/// The event the page gets for a relay's `event`, if the timeline shows it.
fn event_of(
    timeline: &mut Timeline,
    event: &crate::wire::Event,
    token: Option<&str>,
) -> Option<WireEvent> {
    let What::Frame(direction, frame) = &event.what else {
        return None;
    };
    let mut lines = timeline.lines(event).into_iter();
    let head = lines.next()?;
    let hide = |line: String| match token {
        Some(token) => line.replace(token, "(the server's token)"),
        None => line,
    };
    let summary = head
        .split_once(direction.arrow())
        .map_or(head.as_str(), |(_, rest)| rest)
        .trim()
        .to_owned();
    Some(WireEvent {
        at_ms: event.at.as_secs_f64() * 1000.0,
        to_server: *direction == Direction::ToServer,
        frame: frame.name().to_owned(),
        stream: frame.stream(),
        end_stream: frame.ends_stream(),
        details: lines.map(|line| hide(line.trim().to_owned())).collect(),
        summary,
        ..WireEvent::default()
    })
}

/// Makes the relayed call on `channel`; returns what the client got, in one line.
async fn make(
    call: Call,
    channel: Channel,
    seen: watch::Receiver<Progress>,
    token: Option<String>,
) -> Result<String, Status> {
    let guide = RouteGuideClient::new(channel);
    match call {
        Call::RecordRoute => record_route(guide, seen, token.as_deref()).await,
        Call::RouteChatHangUp => hang_up(guide, seen, token.as_deref()).await,
        _ => chat(guide, seen, token.as_deref()).await,
    }
}

/// A request whose messages are sent on the returned channel, with the deadline, and the
/// token if there is one; dropping the channel ends the client's stream.
#[allow(clippy::type_complexity)]
fn outgoing<T: Send + 'static>(
    token: Option<&str>,
) -> Result<
    (
        mpsc::Sender<T>,
        Request<impl Stream<Item = T> + Send + 'static>,
    ),
    Status,
> {
    let (outgoing, receiver) = mpsc::channel(1);
    let messages = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|message| (message, receiver))
    });
    let mut request = Request::new(messages);
    request.set_timeout(DEADLINE);
    if let Some(token) = token {
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("the token is not a header value"))?;
        request.metadata_mut().insert("authorization", bearer);
    }
    Ok((outgoing, request))
}

/// The route: each point once the relay has seen the last go by.
async fn record_route(
    mut guide: RouteGuideClient<Channel>,
    mut seen: watch::Receiver<Progress>,
    token: Option<&str>,
) -> Result<String, Status> {
    let (points, request) = outgoing(token)?;
    let sender = async move {
        for (sent, point) in ROUTE.into_iter().enumerate() {
            if points.send(point).await.is_err() {
                break;
            }
            let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.sent > sent)).await;
        }
        // Dropping `points` ends the client's stream: then the server answers.
    };
    let (summary, ()) = tokio::join!(guide.record_route(request), sender);
    let summary = summary?.into_inner();
    Ok(format!(
        "{} points, {} features, {} m",
        summary.point_count, summary.feature_count, summary.distance
    ))
}

/// The chat: each note once the relay has seen the last go by, with a pause for replies.
async fn chat(
    mut guide: RouteGuideClient<Channel>,
    mut seen: watch::Receiver<Progress>,
    token: Option<&str>,
) -> Result<String, Status> {
    let (notes, request) = outgoing(token)?;
    let sender = async move {
        // tonic's server sends the response headers as soon as the handler returns its
        // stream: wait for them, so that they come first on the timeline.
        let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.answered)).await;
        for (sent, (location, message)) in CHAT.into_iter().enumerate() {
            let note = RouteNote {
                location: Some(location),
                message: message.to_owned(),
            };
            if notes.send(note).await.is_err() {
                break;
            }
            let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.sent > sent)).await;
            tokio::time::sleep(BETWEEN_NOTES).await;
        }
        // Dropping `notes` ends the client's stream: then the server ends the call.
    };
    let receiver = async {
        let mut replies = guide.route_chat(request).await?.into_inner();
        let mut heard = 0;
        while replies.message().await?.is_some() {
            heard += 1;
        }
        Ok::<_, Status>(heard)
    };
    let ((), heard) = tokio::join!(sender, receiver);
    Ok(format!(
        "{} notes sent, {} replies heard",
        CHAT.len(),
        heard?
    ))
}

/// One note, then the client hangs up, and waits for the relay to see its RST_STREAM go
/// by: that frame is all the server learns of a client that goes.
async fn hang_up(
    mut guide: RouteGuideClient<Channel>,
    mut seen: watch::Receiver<Progress>,
    token: Option<&str>,
) -> Result<String, Status> {
    let (notes, mut request) = outgoing(token)?;
    // tonic's way to hang up on a call: the handle resets its stream with CANCEL.
    let hang_up = request.cancellation_handle();
    let call = async move {
        let mut replies = guide.route_chat(request).await?.into_inner();
        while replies.message().await?.is_some() {}
        Ok::<_, Status>(())
    };
    let one_note = async {
        let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.answered)).await;
        let note = RouteNote {
            location: Some(CAVE_OF_BIRDS),
            message: "Hang up after this".to_owned(),
        };
        let _ = notes.send(note).await;
        let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.sent > 0)).await;
        hang_up.cancel();
        let _ = tokio::time::timeout(PATIENCE, seen.wait_for(|seen| seen.reset)).await;
    };
    let (ended, ()) = tokio::join!(call, one_note);
    match ended {
        Err(status) if status.code() == tonic::Code::Cancelled => Err(Status::cancelled(
            "the client hung up after one note; the server got RST_STREAM (CANCEL) and dropped the call",
        )),
        Err(status) => Err(status),
        Ok(()) => Ok("the server ended the chat before the client hung up".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::StreamExt;
    use tokio::net::TcpListener;
    use tonic::Code;

    use super::*;
    use crate::playground::proto::relay_server::Relay as _;

    /// A "server" that accepts connections, counts them, and never says a word: a relayed
    /// call to it can end only at a deadline.
    async fn mute_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(connection);
            }
        });
        (addr, accepted)
    }

    fn chat() -> Request<WatchRequest> {
        Request::new(WatchRequest {
            call: Call::RouteChat as i32,
        })
    }

    #[tokio::test]
    async fn past_its_places_a_watch_is_refused_at_once_and_reaches_nothing() {
        let (upstream, accepted) = mute_server().await;
        let relay = RelayService::new(Some(upstream), None, AT_ONCE);
        // Four Watches whose calls cannot end before their 5 s deadline hold the places.
        let mut holders = Vec::new();
        for _ in 0..AT_ONCE {
            holders.push(relay.watch(chat()).await.expect("a place is free"));
        }
        for _ in 0..1000 {
            let Err(refused) = relay.watch(chat()).await else {
                panic!("a Watch past the four was let in");
            };
            assert_eq!(refused.code(), Code::ResourceExhausted);
            assert!(
                refused.message().contains("at most 4"),
                "{}",
                refused.message()
            );
        }
        // Only the four reached the server.
        while accepted.load(Ordering::SeqCst) < AT_ONCE {
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), AT_ONCE);
        // A page that hangs up gives its place back.
        drop(holders.pop());
        let freed = loop {
            match relay.watch(chat()).await {
                Err(status) if status.code() == Code::ResourceExhausted => {
                    tokio::task::yield_now().await
                }
                other => break other,
            }
        };
        assert!(freed.is_ok());
    }

    #[tokio::test]
    async fn a_watch_ends_at_its_limit_with_deadline_exceeded_read_or_not() {
        let (upstream, _) = mute_server().await;
        let mut relay = RelayService::new(Some(upstream), None, 1);
        relay.limit = Duration::from_millis(200);
        let events = relay.watch(chat()).await.unwrap().into_inner();
        // Nothing can come from a server that never answers: the limit ends the Watch.
        let ended: Vec<_> = events.collect().await;
        let status = ended
            .last()
            .unwrap()
            .as_ref()
            .expect_err("ended at the limit");
        assert_eq!(status.code(), Code::DeadlineExceeded);
        // And its place is free again.
        assert!(relay.watch(chat()).await.is_ok());
    }
}
