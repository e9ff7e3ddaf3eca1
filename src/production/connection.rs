//! What the server does per connection, below gRPC: accepting without spinning when file
//! descriptors run out; closing a connection that never completes its HTTP/2 handshake, or
//! has had no call for a long time; and closing one whose client has stopped reading a
//! call past that call's deadline.
//!
//! Why a connection, and not the one call: while a client grants no flow-control window,
//! hyper holds the response's next chunk and does not poll the response body again until
//! the client reads (`PipeToSendStream` in hyper's `proto/h2`). So nothing that lives in the
//! body, such as the deadline cutoff of `layers::cutoff`, runs for that call, and hyper
//! offers no way to reset one stream from outside it. What can end the call is closing its
//! connection. So each connection has a watch: the cutoff registers each call's deadline
//! with it, the registration ends with the call, and a call still registered
//! `--stalled-grace` past its deadline (or past the shutdown's grace period) has its connection
//! closed, which drops every call on it. A client that reads is never closed on: its calls
//! end at their deadline, by the cutoff.
//!
//! A small answer needs one more step: hyper hands h2 a whole chunk (and then the trailers)
//! once the window has room for a single byte, so the call's body ends, and its
//! registration with it, while most of its bytes wait in h2's buffer for a window that never
//! comes. So the watch counts the bytes the connection writes, each call the bytes it
//! handed over, and a call that ends with fewer written since it began stays on the books
//! ([`Registration`]) until they are, or its deadline and the grace have passed.
//!
//! With TLS, the server ends TLS here, below the watch, rather than with tonic's
//! `tls_config`: the watch must count the bytes of HTTP/2, not of TLS, to tell a client that
//! began HTTP/2 from one that finished its TLS handshake and then said nothing (a ClientHello
//! alone is longer than HTTP/2's preface). The TLS handshake and HTTP/2's together must fit
//! in `--handshake-timeout`.
//!
//! Hand-written because nothing stock does either: tonic's `TcpIncoming` retries a failed
//! `accept` at once (a busy loop when out of descriptors), and neither tonic, hyper nor
//! tower-http can close a connection from a layer.

use std::{
    collections::{HashMap, VecDeque},
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::{Stream, StreamExt, task::AtomicWaker};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Instant,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{ServerConfig, pki_types::CertificateDer},
    server::TlsStream,
};
use tokio_util::{either::Either, sync::CancellationToken};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::production::pings::{self, Frames, PingPolicy};

/// How long to wait before accepting again when the process is out of file descriptors (or
/// memory for a socket): long enough not to spin a core, short enough to serve again as
/// soon as connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How many TLS handshakes may be under way at once. Each is bounded in time by
/// `--handshake-timeout`; past this many, the server accepts no more until one ends.
const MAX_TLS_HANDSHAKES: usize = 1024;

/// The bytes a client sends first: the HTTP/2 preface (24 bytes) and a SETTINGS frame (a
/// 9-byte header at least).
const HANDSHAKE_BYTES: u64 = 24 + 9;

/// How long a connection may take to begin, sit with no call, and hold a stalled call:
/// flags of the server's (`--help` says each).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ConnectionLimits {
    /// How long a new connection may take to send its HTTP/2 preface and settings (with
    /// TLS, its TLS handshake included) before it is closed, so that a peer that connects
    /// and says nothing, before TLS or after it, cannot hold a socket.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,

    /// How long a connection may go with no call at all before it is closed (checked once
    /// a period, so between one and two periods after its last call). A client that needs
    /// the connection again reconnects; an abandoned one stops holding a socket.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// How long a call may stay open past its deadline, or past the shutdown's grace period,
    /// before the server takes it to be blocked by a client that stopped reading and closes
    /// its connection (a reading client's call has ended by then).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub stalled_grace: Duration,

    /// How often a client may ping the server: one that pings sooner, again and again
    /// (three times), with no call between, gets GOAWAY ENHANCE_YOUR_CALM
    /// (too_many_pings) and is closed, as gRPC's servers do. gRPC's default.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub min_ping_interval: Duration,

    /// How old a connection may grow before the server asks its client to go (an HTTP/2
    /// GOAWAY): the client finishes its calls and connects again, so that behind a load
    /// balancer a replica added later gets its share of clients already connected.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub max_connection_age: Duration,

    /// How long a connection's calls may go on after its GOAWAY before the connection is
    /// closed, calls and all: as long as `--max-deadline`, so that only calls with no limit
    /// (a health watch) are cut.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_connection_age_grace: Duration,
}

/// The connections a listener accepts, with TLS ended when `tls` is given, each with its
/// watch (and a task that keeps it), with `TCP_NODELAY` set: gRPC sends many small frames,
/// and Nagle's algorithm would hold them back waiting for ACKs.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    grace_over: CancellationToken,
    tls: Option<Arc<ServerConfig>>,
) -> impl Stream<Item = io::Result<WatchedConnection>> {
    let tls = tls.map(TlsAcceptor::from);
    accepted(listener)
        .map(move |tcp| {
            let (tls, grace_over) = (tls.clone(), grace_over.clone());
            async move {
                let accepted_at = Instant::now();
                let io = match tls {
                    None => Either::Left(tcp),
                    Some(tls) => {
                        let handshake = tokio::time::timeout_at(
                            accepted_at + limits.handshake_timeout,
                            tls.accept(tcp),
                        );
                        match handshake.await {
                            Ok(Ok(stream)) => Either::Right(Box::new(stream)),
                            Ok(Err(error)) => {
                                tracing::debug!(%error, "a TLS handshake failed");
                                return None;
                            }
                            Err(_) => {
                                tracing::warn!("closing a connection: its client did not finish TLS in time (--handshake-timeout)");
                                return None;
                            }
                        }
                    }
                };
                Some(Ok(WatchedConnection::new(io, limits, grace_over, accepted_at)))
            }
        })
        .buffer_unordered(MAX_TLS_HANDSHAKES)
        .filter_map(std::future::ready)
}

/// The TCP connections a listener accepts, with `TCP_NODELAY` set.
fn accepted(listener: TcpListener) -> impl Stream<Item = TcpStream> {
    futures::stream::unfold(listener, move |listener| {
        async move {
            loop {
                match listener.accept().await {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nodelay(true);
                        return Some((tcp, listener));
                    }
                    Err(error) if out_of_resources(&error) => {
                        tracing::warn!(%error, "cannot accept a connection; trying again shortly");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    // The connection failed before it was accepted: nothing to serve.
                    Err(error) => tracing::debug!(%error, "a connection failed while accepted"),
                }
            }
        }
    })
}

/// Whether an `accept` failed for want of descriptors or memory, which only time fixes.
fn out_of_resources(error: &io::Error) -> bool {
    // EMFILE (24), ENFILE (23), ENOBUFS (105) and ENOMEM (12), as Linux numbers them.
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}

/// One connection, which its watch can close.
#[derive(Debug)]
pub struct WatchedConnection {
    io: Io,
    watch: Arc<ConnectionWatch>,
    /// The frame headers the client sends, for its pings.
    incoming: Frames,
    pings: PingPolicy,
    /// A client that pinged too often, on its way out.
    calm: Calm,
}

/// Sending a client that pinged too often away.
#[derive(Debug)]
enum Calm {
    /// It has not.
    No,
    /// The GOAWAY, and how much of it is written.
    Writing(Vec<u8>, usize),
    /// Written; the connection's writing side is being shut.
    Shutting,
    /// Gone: every read and write fails from now on.
    Done,
}

/// What a connection carries: TCP, or TLS over it (tokio-util's `Either` reads and writes
/// whichever it holds).
type Io = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// What each request on a connection carries (as tonic's connect info): the peer's
/// address, its certificates with mutual TLS, and the connection's watch.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The addresses, as tonic gives them for a plain TCP connection.
    pub tcp: TcpConnectInfo,
    /// The client's certificate chain, when it showed one (mutual TLS).
    pub peer_certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    watch: Arc<ConnectionWatch>,
}

impl ConnectionInfo {
    /// The connection info of `request`.
    pub fn of<B>(request: &http::Request<B>) -> Option<&ConnectionInfo> {
        request.extensions().get::<ConnectionInfo>()
    }

    /// Registers a call, which must be over by `deadline` if it has one; the registration
    /// lasts until it is dropped, which is when the call ends.
    pub fn register(&self, deadline: Option<Instant>) -> Registration {
        let id = self.watch.next_id.fetch_add(1, Ordering::Relaxed);
        let written_before = self.watch.written.load(Ordering::Relaxed);
        let sooner = {
            let mut calls = self.watch.calls();
            calls.deadlines.insert(id, deadline);
            let overdue = deadline.map(|deadline| deadline + self.watch.limits.stalled_grace);
            overdue.is_some_and(|overdue| calls.waking_at.is_none_or(|at| overdue < at))
        };
        // The watch sleeps until its earliest deadline: only a sooner one needs to wake it.
        if sooner {
            self.watch.changed.notify_one();
        }
        Registration {
            watch: Arc::clone(&self.watch),
            id,
            deadline,
            written_before,
            sent: 0,
        }
    }
}

/// A call registered with its connection's watch, until this is dropped.
///
/// A call's body may end while most of its bytes still wait in HTTP/2's send buffer: hyper
/// hands h2 a whole chunk as soon as the client's window has room for one byte of it, and
/// then the trailers. A client that grants no more window never gets them, and the call,
/// over for every layer, would hold its stream (and the connection) open. So a call with a
/// deadline that ends before the connection has written as many bytes as the call handed
/// over stays on the watch's books ("lingers") until it has, or its deadline passes.
#[derive(Debug)]
pub struct Registration {
    watch: Arc<ConnectionWatch>,
    id: u64,
    deadline: Option<Instant>,
    /// The connection's bytes written when the call began.
    written_before: u64,
    /// The response bytes the call has handed to HTTP/2 so far.
    sent: u64,
}

impl Registration {
    /// The call has handed `bytes` more of its response to HTTP/2.
    pub fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let written = self.watch.written.load(Ordering::Relaxed);
        let mut calls = self.watch.calls();
        calls.deadlines.remove(&self.id);
        // Whatever was written since, for any call, counts: a stalled call can be missed
        // when others keep the connection busy, but a call whose bytes all left never lingers.
        let target = self.written_before + self.sent;
        if let Some(deadline) = self.deadline
            && written < target
        {
            calls.lingering.push_back(Lingering { deadline, target });
        }
        while calls
            .lingering
            .front()
            .is_some_and(|call| call.target <= written)
        {
            calls.lingering.pop_front();
        }
    }
}

/// A call whose body has ended with bytes not yet written: the connection must have written
/// `target` bytes by `deadline` (and the stalled grace).
#[derive(Debug, Clone, Copy)]
struct Lingering {
    deadline: Instant,
    target: u64,
}

/// The calls open on one connection, with their deadlines, and whether it must close.
#[derive(Debug)]
struct ConnectionWatch {
    limits: ConnectionLimits,
    calls: Mutex<Calls>,
    next_id: AtomicU64,
    /// A call was registered, or the connection went away.
    changed: Notify,
    /// Set to close the connection; reads and writes fail from then on.
    closed: AtomicBool,
    /// Bytes read so far, up to the handshake's: whether the client has begun.
    handshake_read: AtomicU64,
    /// Bytes written so far (of HTTP/2, under TLS when there is TLS).
    written: AtomicU64,
    /// The connection is gone: its watch can stop.
    gone: AtomicBool,
    /// The task reading the connection, woken to see that it is closed.
    reader: AtomicWaker,
}

#[derive(Debug, Default)]
struct Calls {
    /// Each live call's deadline, if it has one, by an id of its own.
    deadlines: HashMap<u64, Option<Instant>>,
    /// Calls over whose bytes have not all been written yet, oldest first.
    lingering: VecDeque<Lingering>,
    /// When the watch will next look, if it sleeps.
    waking_at: Option<Instant>,
}

impl ConnectionWatch {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        // Each change is one insert or remove: a panic cannot leave it half done.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self, why: &str) {
        tracing::warn!("closing a connection: {why}");
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn new(limits: ConnectionLimits) -> Self {
        ConnectionWatch {
            limits,
            calls: Mutex::default(),
            next_id: AtomicU64::default(),
            changed: Notify::new(),
            closed: AtomicBool::default(),
            handshake_read: AtomicU64::default(),
            written: AtomicU64::default(),
            gone: AtomicBool::default(),
            reader: AtomicWaker::new(),
        }
    }

    /// Closes the connection once a call is `stalled_grace` past its deadline, or still open
    /// `stalled_grace` after the grace period; or if it has not begun its handshake within
    /// the limit, or has had no call for the idle limit. Returns when the connection is gone.
    async fn keep(self: Arc<Self>, grace_over: CancellationToken, accepted_at: Instant) {
        let limits = self.limits;
        let stalled_grace = limits.stalled_grace;
        // Once the grace period is over: when calls still open must be over.
        let (mut grace_seen, mut grace_deadline) = (false, None);
        let mut handshake_by = Some(accepted_at + limits.handshake_timeout);
        // Calls are counted by their ids: no new id and none open for a whole idle period
        // means idle.
        let (mut idle_check_at, mut calls_seen) = (Instant::now() + limits.idle_timeout, 0);
        // tonic sends the GOAWAY at the age; what is still open after the grace is closed.
        let too_old = accepted_at
            .checked_add(limits.max_connection_age)
            .and_then(|age| age.checked_add(limits.max_connection_age_grace));
        loop {
            if self.gone.load(Ordering::Acquire) {
                return;
            }
            let close_at = {
                let mut calls = self.calls();
                let written = self.written.load(Ordering::Relaxed);
                calls.lingering.retain(|call| call.target > written);
                let overdue = calls
                    .deadlines
                    .values()
                    .flatten()
                    .chain(calls.lingering.iter().map(|call| &call.deadline))
                    .min()
                    .map(|at| *at + stalled_grace);
                calls.waking_at = match (overdue, grace_deadline) {
                    (Some(overdue), Some(grace)) => Some(overdue.min(grace)),
                    (overdue, grace) => overdue.or(grace),
                };
                calls.waking_at
            };
            tokio::select! {
                () = sleep_until_some(close_at) => {
                    let now = Instant::now();
                    let grace_passed = grace_deadline.is_some_and(|grace| grace <= now);
                    let late = {
                        let calls = self.calls();
                        let written = self.written.load(Ordering::Relaxed);
                        let stuck = |call: &&Lingering| call.target > written;
                        calls.deadlines.values().flatten().any(|at| *at + stalled_grace <= now)
                            || calls
                                .lingering
                                .iter()
                                .filter(stuck)
                                .any(|call| call.deadline + stalled_grace <= now)
                            || (grace_passed && !calls.deadlines.is_empty())
                    };
                    if late {
                        self.close(
                            "its client stopped reading a call that is past its deadline or \
                             the shutdown's grace period",
                        );
                        return;
                    }
                    if grace_passed {
                        grace_deadline = None;
                    }
                }
                () = self.changed.notified() => {}
                () = sleep_until_some(handshake_by) => {
                    handshake_by = None;
                    if self.handshake_read.load(Ordering::Relaxed) < HANDSHAKE_BYTES {
                        self.close("its client did not begin HTTP/2 in time (--handshake-timeout)");
                        return;
                    }
                }
                () = tokio::time::sleep_until(idle_check_at) => {
                    let (calls_open, calls_ever) = {
                        let calls = self.calls();
                        (calls.deadlines.len(), self.next_id.load(Ordering::Relaxed))
                    };
                    if calls_open == 0 && calls_ever == calls_seen {
                        self.close("it had no call for --idle-timeout");
                        return;
                    }
                    (idle_check_at, calls_seen) = (Instant::now() + limits.idle_timeout, calls_ever);
                }
                () = sleep_until_some(too_old) => {
                    self.close("it passed --max-connection-age and its grace with calls still open");
                    return;
                }
                () = grace_over.cancelled(), if !grace_seen => {
                    grace_seen = true;
                    grace_deadline = Some(Instant::now() + stalled_grace);
                }
            }
        }
    }
}

/// How long the server reads (and drops) what a client sent away still sends, so that
/// closing with its bytes unread does not reset the connection before it reads the GOAWAY.
const DRAIN: Duration = Duration::from_secs(1);

/// Reads and drops what comes on `tcp` for [`DRAIN`] at most, on a copy of its socket that
/// outlives the connection.
fn drain(tcp: &TcpStream) {
    use std::os::fd::AsFd;
    let Ok(socket) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let socket = std::net::TcpStream::from(socket);
    if socket.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut socket) = TcpStream::from_std(socket) else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut sink = [0; 4096];
        let _ = tokio::time::timeout(DRAIN, async {
            while let Ok(1..) = socket.read(&mut sink).await {}
        })
        .await;
    });
}

/// Sleeps until `at`, or forever for `None`.
pub(crate) async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl WatchedConnection {
    fn new(
        io: Io,
        limits: ConnectionLimits,
        grace_over: CancellationToken,
        accepted_at: Instant,
    ) -> Self {
        let watch = Arc::new(ConnectionWatch::new(limits));
        tokio::spawn(Arc::clone(&watch).keep(grace_over, accepted_at));
        WatchedConnection {
            io,
            incoming: Frames::client(),
            pings: PingPolicy::new(limits.min_ping_interval),
            calm: Calm::No,
            watch,
        }
    }

    fn closed() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "closed by the server: a stalled call, no handshake, or idle",
        )
    }
}

impl WatchedConnection {
    fn count_written(&self, written: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(bytes)) = written {
            self.watch
                .written
                .fetch_add(*bytes as u64, Ordering::Relaxed);
        }
    }

    /// Writes the GOAWAY of a client that pinged too often, shuts the writing side, and
    /// closes the connection; the flush h2 asked for fails. Called only once h2 has flushed:
    /// h2 flushes once every frame it buffered is written, so the GOAWAY cannot cut into one
    /// of its frames.
    fn send_away(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            match &mut self.calm {
                Calm::Writing(goaway, sent) => {
                    match ready!(Pin::new(&mut self.io).poll_write(cx, &goaway[*sent..])) {
                        Ok(bytes) => *sent += bytes,
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                    if *sent == goaway.len() {
                        self.calm = Calm::Shutting;
                    }
                }
                Calm::Shutting => {
                    let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                    self.calm = Calm::Done;
                    self.watch.close(
                        "its client pinged more often than --min-ping-interval (GOAWAY \
                         ENHANCE_YOUR_CALM, too_many_pings)",
                    );
                }
                Calm::No | Calm::Done => return Poll::Ready(Err(Self::closed())),
            }
        }
    }
}

impl Drop for WatchedConnection {
    fn drop(&mut self) {
        if matches!(self.calm, Calm::Done) {
            drain(tcp(&self.io));
        }
        self.watch.gone.store(true, Ordering::Release);
        self.watch.changed.notify_one();
    }
}

impl Connected for WatchedConnection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            tcp: tcp(&self.io).connect_info(),
            peer_certs: peer_certs(&self.io),
            watch: Arc::clone(&self.watch),
        }
    }
}

/// The TCP connection under `io`.
fn tcp(io: &Io) -> &TcpStream {
    match io {
        Either::Left(tcp) => tcp,
        Either::Right(tls) => tls.get_ref().0,
    }
}

/// The certificates the client showed, with mutual TLS.
fn peer_certs(io: &Io) -> Option<Arc<Vec<CertificateDer<'static>>>> {
    let Either::Right(tls) = io else {
        return None;
    };
    let certs = tls.get_ref().1.peer_certificates()?;
    Some(Arc::new(
        certs.iter().map(|cert| cert.clone().into_owned()).collect(),
    ))
}

impl AsyncRead for WatchedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.watch.reader.register(cx.waker());
        if self.watch.is_closed() {
            return Poll::Ready(Err(Self::closed()));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        // Counted only until the handshake is in: a load, then nothing, after that.
        if this.watch.handshake_read.load(Ordering::Relaxed) < HANDSHAKE_BYTES {
            this.watch
                .handshake_read
                .fetch_add(new.len() as u64, Ordering::Relaxed);
        }
        let (pings, watch) = (&mut this.pings, &this.watch);
        let mut too_many = false;
        this.incoming.push(new, |header| {
            if pings::matters(header) {
                too_many |= pings.saw(header, watch.written.load(Ordering::Relaxed));
            }
        });
        if too_many && matches!(this.calm, Calm::No) {
            this.calm = Calm::Writing(pings::too_many_pings(this.pings.last_stream), 0);
        }
        if !matches!(this.calm, Calm::No) {
            // h2 reads no more of a client on its way out (not one more ping to answer);
            // it flushes what it has, and the flush sends the GOAWAY.
            buf.set_filled(before);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        read
    }
}

impl AsyncWrite for WatchedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.watch.is_closed() {
            return Poll::Ready(Err(Self::closed()));
        }
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count_written(&written);
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = ready!(Pin::new(&mut self.io).poll_flush(cx));
        if matches!(self.calm, Calm::No) {
            return Poll::Ready(flushed);
        }
        self.send_away(cx).map_ok(|_| ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.watch.is_closed() {
            return Poll::Ready(Err(Self::closed()));
        }
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count_written(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch over no socket, its handshake done, and a way to register calls with it.
    fn watch(idle_timeout: Duration) -> (Arc<ConnectionWatch>, ConnectionInfo) {
        let limits = ConnectionLimits {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout,
            stalled_grace: Duration::from_millis(500),
            min_ping_interval: Duration::from_secs(300),
            max_connection_age: Duration::from_secs(1_000_000),
            max_connection_age_grace: Duration::from_secs(1_000_000),
        };
        let watch = Arc::new(ConnectionWatch::new(limits));
        watch
            .handshake_read
            .store(HANDSHAKE_BYTES, Ordering::Relaxed);
        let info = ConnectionInfo {
            tcp: TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            },
            peer_certs: None,
            watch: Arc::clone(&watch),
        };
        (watch, info)
    }

    // The clock is tokio's, paused: it moves only as the test sleeps, so nothing races.
    #[tokio::test(start_paused = true)]
    async fn a_connection_with_a_call_open_is_not_idle_and_one_without_is() {
        let (watch, info) = watch(Duration::from_secs(60));
        // A call with no deadline, such as a health watch.
        let call = info.register(None);
        let keeper =
            tokio::spawn(Arc::clone(&watch).keep(CancellationToken::new(), Instant::now()));

        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watch.is_closed(), "closed with a call open");

        drop(call);
        tokio::time::sleep(Duration::from_secs(121)).await;
        assert!(watch.is_closed(), "still open after two idle periods");
        keeper.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_call_still_open_past_its_deadline_and_grace_closes_its_connection() {
        let (watch, info) = watch(Duration::from_secs(3600));
        let keeper =
            tokio::spawn(Arc::clone(&watch).keep(CancellationToken::new(), Instant::now()));

        // A call that ends before its deadline leaves the connection alone.
        let finished = info.register(Some(Instant::now() + Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_millis(900)).await;
        drop(finished);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!watch.is_closed());

        // One still open past its deadline is given the grace, then its connection closes.
        let _stalled = info.register(Some(Instant::now() + Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_millis(1400)).await;
        assert!(!watch.is_closed(), "closed within the grace");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(watch.is_closed());
        keeper.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_over_whose_bytes_never_left_closes_its_connection_after_its_deadline() {
        let (watch, info) = watch(Duration::from_secs(3600));
        let keeper =
            tokio::spawn(Arc::clone(&watch).keep(CancellationToken::new(), Instant::now()));

        // A call whose 100 bytes were all written by its end: nothing lingers.
        let mut written = info.register(Some(Instant::now() + Duration::from_secs(1)));
        written.sent(100);
        watch.written.fetch_add(130, Ordering::Relaxed);
        drop(written);
        // One whose bytes are written only after it ended, but before its deadline.
        let mut late = info.register(Some(Instant::now() + Duration::from_secs(1)));
        late.sent(100);
        drop(late);
        tokio::time::sleep(Duration::from_millis(500)).await;
        watch.written.fetch_add(130, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!watch.is_closed(), "closed on a call whose bytes all left");

        // One over at once, whose bytes never leave: closed after its deadline and grace.
        let mut stuck = info.register(Some(Instant::now() + Duration::from_secs(1)));
        stuck.sent(100);
        drop(stuck);
        tokio::time::sleep(Duration::from_millis(1400)).await;
        assert!(!watch.is_closed(), "closed within the grace");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(watch.is_closed());
        keeper.await.unwrap();
    }
}
