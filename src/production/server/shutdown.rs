//! A graceful shutdown, in three steps: tell the balancers, stop taking calls, then give the
//! calls in flight a grace period before ending them.
//!
//! tonic gives the middle step: `serve_with_incoming_shutdown` stops accepting when its
//! signal completes, sends GOAWAY on open connections and waits for their calls to end,
//! however long that takes. A chat that never ends would hold the process for ever; so the
//! tour's server adds the first step (health turns `NOT_SERVING`) and the last (after
//! `--grace-period`, every call still open is ended with `UNAVAILABLE`).

use std::{future::Future, pin::Pin, time::Duration};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tonic::transport;
use tonic_health::{ServingStatus, server::HealthReporter};

/// How long after the grace period `run` still waits for connections to close. Ending a
/// call only queues its status; this is the time to send it.
const AFTER_GRACE: Duration = Duration::from_secs(1);

/// The signal that tells tonic to stop accepting: it completes once health says
/// `NOT_SERVING`.
pub(super) type StopAccepting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How one server shuts down.
#[derive(Debug)]
pub(super) struct Shutdown<S> {
    /// Completes when the server is asked to stop: Ctrl-C or SIGTERM in the binary, a
    /// oneshot in the tests.
    requested: S,
    /// The health service's handle, to turn every service `NOT_SERVING` first, so that
    /// balancers that check health send no new calls.
    health: HealthReporter,
    /// The services whose health turns: the tour's, and the whole server's `""`.
    services: Vec<&'static str>,
    /// How long the calls in flight may go on once the server stops accepting.
    grace_period: Duration,
    /// Cancelled when the grace period is over. The cutoff layer ends every call still
    /// open, and the connection watches close the connections whose calls stay stuck.
    grace_over: CancellationToken,
}

impl<S: Future<Output = ()>> Shutdown<S> {
    /// A shutdown that begins when `requested` completes.
    pub(super) fn new(
        requested: S,
        health: HealthReporter,
        services: Vec<&'static str>,
        grace_period: Duration,
    ) -> Self {
        Shutdown {
            requested,
            health,
            services,
            grace_period,
            grace_over: CancellationToken::new(),
        }
    }

    /// The token cancelled when the grace period is over, for whatever must end calls then.
    pub(super) fn grace_over(&self) -> CancellationToken {
        self.grace_over.clone()
    }

    /// Runs the server that `serve` starts, handing it the signal to stop accepting, until
    /// it has ended every connection or the grace period (and [`AFTER_GRACE`]) has passed.
    pub(super) async fn run<F>(
        self,
        serve: impl FnOnce(StopAccepting) -> F,
    ) -> Result<(), transport::Error>
    where
        F: Future<Output = Result<(), transport::Error>>,
        S: Send + 'static,
    {
        let Shutdown {
            requested,
            health,
            services,
            grace_period,
            grace_over,
        } = self;
        let (stopping, stopped_accepting) = oneshot::channel();
        // 1. Health turns NOT_SERVING, then tonic stops accepting.
        let stop_accepting = Box::pin(async move {
            requested.await;
            for service in services {
                health
                    .set_service_status(service, ServingStatus::NotServing)
                    .await;
            }
            tracing::info!("shutting down: no new calls; calls in flight may finish");
            let _ = stopping.send(());
        });
        // 2. The calls in flight get the grace period, then are ended.
        let draining = async move {
            if stopped_accepting.await.is_err() {
                // The server ended without a shutdown (an error): nothing to drain.
                return std::future::pending().await;
            }
            tokio::time::sleep(grace_period).await;
            tracing::warn!(
                ?grace_period,
                "grace period over: ending the calls in flight"
            );
            grace_over.cancel();
            tokio::time::sleep(AFTER_GRACE).await;
        };
        tokio::select! {
            served = serve(stop_accepting) => served,
            () = draining => {
                // Connections that still have not closed (a peer that stopped reading) are
                // left to die with the process rather than hold up the shutdown.
                tracing::warn!("connections still open after the grace period; stopping anyway");
                Ok(())
            }
        }
    }
}
