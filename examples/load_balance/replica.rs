//! A replica of the tour server in this process, which can be killed the way a crash
//! would: for the example and the tests, which need replicas to lose.

use std::io;

use grpc_tour::production::{
    notes::Notes,
    server::{Config, TourServer},
};
use tokio::{net::TcpListener, sync::oneshot};

/// A replica of the tour server running in this process on its own thread and runtime,
/// so that [`Replica::kill`] can end it the way a crash would: every connection closes at
/// once, with no graceful shutdown.
#[derive(Debug)]
pub struct Replica {
    /// Its name, as `x-served-by` gives it.
    pub name: String,
    /// Where it listens, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where this replica keeps its chat notes: its own memory, or a Redis its peers share.
    /// (Read by the tests, which share this file, not by the example.)
    #[allow(dead_code)]
    pub notes: Notes,
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
