//! The wire view: a relay between a client and a gRPC server that reads every HTTP/2
//! frame passing through it, both ways, and reports each as an [`Event`].
//!
//! A tool for seeing the protocol, not a pattern to copy: neither the lesson nor the
//! production server uses it, and a gRPC service never needs to read its own frames.
//!
//! gRPC is HTTP/2: a call is a stream, its path names the method, each message travels
//! behind a 5-byte prefix in DATA frames, and the status comes last, in trailers. The relay
//! shows it happen. A client connects to [`Relay::url`] instead of the server; the relay
//! opens a connection of its own to the server for each one it accepts, passes every byte
//! on unchanged, and reads the frames on the way. `cargo run --example wire` prints them
//! with [`timeline::Timeline`].
//!
//! - [`frame`]: HTTP/2 frames and the gRPC messages inside them, read from bytes.
//! - [`contract`]: which method a path names, and its messages decoded.
//! - [`timeline`]: events as lines a person reads.
//!
//! The relay reads plaintext HTTP/2 (h2c), as the tour serves without `--tls-cert`; it
//! cannot read inside TLS. A frame's event is sent before its bytes are passed on, so
//! whatever a frame causes on the other side is reported after it.

pub mod contract;
pub mod frame;
pub mod timeline;

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::mpsc,
    task::JoinHandle,
};

pub use frame::{Direction, Frame};

/// How many events may wait for the reader before the relay waits for it in turn: the
/// traffic slows down rather than the queue growing without bound. An event keeps at most
/// [`frame::MAX_KEPT_PER_FRAME`] bytes of messages (or a header block of at most
/// [`frame::MAX_HEADER_BLOCK`]), so the queue is bounded in bytes too.
const QUEUE: usize = 256;

/// Something that happened on a relayed connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Which connection, numbered from 1 in the order the relay accepted them.
    pub connection: u64,
    /// When, since the relay accepted that connection.
    pub at: Duration,
    /// What happened.
    pub what: What,
}

/// What an [`Event`] reports.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A client connected, and the relay reached the server for it.
    Opened,
    /// A frame passed through.
    Frame(Direction, Frame),
    /// The relay could not reach the server; the client's connection is closed.
    Unreachable(String),
    /// Both sides have closed the connection.
    Closed,
}

/// A relay listening on `127.0.0.1`, in front of one server.
pub struct Relay {
    addr: SocketAddr,
    events: mpsc::Receiver<Event>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Starts a relay in front of the server at `upstream` (`host:port`), on a port of
    /// `127.0.0.1` that the system picks.
    pub async fn start(upstream: String) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (events, receiver) = mpsc::channel(QUEUE);
        let numbers = Arc::new(AtomicU64::new(1));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let connection = numbers.fetch_add(1, Ordering::Relaxed);
                let reporter = Reporter {
                    connection,
                    opened: Instant::now(),
                    events: events.clone(),
                };
                tokio::spawn(relay(client, upstream.clone(), reporter));
            }
        });
        Ok(Relay {
            addr,
            events: receiver,
            accept,
        })
    }

    /// The URL a client connects to instead of the server's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next event of any connection, in the order the relay saw them; `None` once the
    /// relay has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Sends one connection's events, stamped with its number and the time since it opened.
#[derive(Clone)]
struct Reporter {
    connection: u64,
    opened: Instant,
    events: mpsc::Sender<Event>,
}

impl Reporter {
    /// Reports `what`; a relay whose events nobody reads any more goes on relaying.
    async fn report(&self, what: What) {
        let event = Event {
            connection: self.connection,
            at: self.opened.elapsed(),
            what,
        };
        let _ = self.events.send(event).await;
    }
}

/// Relays one client connection to the server and back, until both sides have closed.
async fn relay(client: TcpStream, upstream: String, reporter: Reporter) {
    let server = match TcpStream::connect(&upstream).await {
        Ok(server) => server,
        Err(error) => {
            let why = format!("could not reach {upstream}: {error}");
            return reporter.report(What::Unreachable(why)).await;
        }
    };
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
    }
    reporter.report(What::Opened).await;
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    tokio::join!(
        pass_on(Direction::ToServer, from_client, to_server, &reporter),
        pass_on(Direction::ToClient, from_server, to_client, &reporter),
    );
    reporter.report(What::Closed).await;
}

/// Copies one direction until its sender closes (or fails), reporting each frame before
/// passing its bytes on; then closes the writing side, so that the other peer sees the end.
async fn pass_on(
    direction: Direction,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    reporter: &Reporter,
) {
    let mut reader = frame::FrameReader::new(direction);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for frame in reader.push(&buffer[..read]) {
            reporter.report(What::Frame(direction, frame)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
