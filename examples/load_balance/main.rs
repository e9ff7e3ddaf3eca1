//! Client-side load balancing: calls spread over three replicas, and one replica dies
//! mid-run without costing a call.
//!
//! ```text
//! cargo run --example load_balance     # three replicas in this process; one is killed
//! cargo run --example load_balance -- --notes redis://127.0.0.1:6379   # notes they share
//! cargo run --example load_balance -- --server http://127.0.0.1:50051 --server http://127.0.0.1:50052
//! cargo run --example load_balance -- --server http://127.0.0.1:8080   # a proxy: see proxy/run
//! cargo run --example load_balance -- --join-later   # a replica joins behind a layer-4 balancer
//! ```
//!
//! One channel holds a connection to every replica and spreads the calls over them; each
//! reply names its replica in `x-served-by`. A third of the way through, one in-process
//! replica is killed: its health watch breaks, it leaves the channel, and the calls that
//! were already on their way to it fail with `UNAVAILABLE` and are retried on the others.
//! Both calls made here are safe to retry (see `grpc_tour::production::balance::Retry`).
//!
//! Then one chat through each replica still standing (through a proxy: as many chats as
//! `--replicas` says, which the proxy spreads), each leaving a note at one new point. Whether
//! each chat hears the notes before it says whether the replicas share their notes: with
//! `--notes redis://...` they do, in memory they do not.
//!
//! With `--join-later`, something else: clients behind a balancer that places connections,
//! not calls (`pinned.rs`), and a replica that joins after they connected. It gets no call
//! until the clients' connections reach their age (2 s here; `--max-connection-age`, 30
//! minutes by default) and they connect again. The calls each replica served, second by
//! second, show it.
//!
//! The pattern (the balanced channel, its health tracking, the retry rule) is the library's
//! `grpc_tour::production::balance`; the in-process replicas and the tally of where calls went are this
//! example's own bookkeeping, in `replica.rs` and `tally.rs` beside this file.

mod pinned;
mod replica;
mod tally;

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use futures::{StreamExt, stream};
use grpc_tour::{
    lesson::{
        connect,
        proto::{
            Point, RouteNote, SumRequest, route_guide_client::RouteGuideClient,
            summator_client::SummatorClient,
        },
        route_guide::landmarks::ARRAKEEN,
    },
    production::{
        balance::{Retry, balanced_channel, spec_codes, with_retries},
        notes::NoteHome,
        server::Config,
    },
};
use tonic::Request;

use replica::Replica;
use tally::Tally;

/// How long each call may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Spreads calls over several replicas and counts where they went.
#[derive(Parser)]
struct Args {
    /// A replica to call; repeat it for each one [default: three replicas started in this
    /// process, one of which is killed mid-run].
    #[arg(long = "server", value_name = "URL")]
    servers: Vec<String>,
    /// How many calls to make, alternating Sum and GetFeature.
    #[arg(long, default_value_t = 300)]
    calls: u64,
    /// How many calls to keep in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Kill an in-process replica after this many calls [default: a third of --calls].
    #[arg(long, value_name = "N")]
    kill_after: Option<u64>,
    /// Where the in-process replicas keep their chat notes: `memory` (each its own) or
    /// `redis://HOST:PORT`, shared.
    #[arg(long, value_name = "HOME", default_value = "memory")]
    notes: NoteHome,
    /// Through a proxy, how many chats to send (so that each replica gets one).
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Instead: clients behind a layer-4 balancer, and a replica that joins after they
    /// connected, with connections that age at 2 s.
    #[arg(long)]
    join_later: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.join_later {
        return join_later().await;
    }
    let mut replicas = Vec::new();
    if args.servers.is_empty() {
        for name in ["replica-1", "replica-2", "replica-3"] {
            let config = Config {
                notes: args.notes.clone(),
                ..Config::default()
            };
            replicas.push(Replica::spawn(name, config)?);
        }
        println!("(started replica-1, replica-2 and replica-3 in this process)");
    }
    let urls: Vec<String> = if replicas.is_empty() {
        args.servers.clone()
    } else {
        replicas.iter().map(|replica| replica.url.clone()).collect()
    };
    // ANCHOR: proxy_or_replicas
    // One server is a proxy (or a single replica): one connection, and the proxy spreads
    // the calls. Several are replicas: the channel spreads the calls itself.
    let (channel, _trackers) = if let [proxy] = urls.as_slice() {
        println!("(one server: every call goes to {proxy}, which picks a replica for it)");
        (connect::connect(proxy).await?, None)
    } else {
        let (channel, trackers) = balanced_channel(&urls)?;
        // A call waits while no replica is in the channel: wait for one, but not forever.
        let mut membership = trackers.membership();
        let joined = membership.wait_for(|m| !m.joined.is_empty());
        if tokio::time::timeout(DEADLINE, joined).await.is_err() {
            return Err(format!("none of {} answers its health check", urls.join(", ")).into());
        }
        (channel, Some(trackers))
    };
    // ANCHOR_END: proxy_or_replicas
    // A broken connection must say UNAVAILABLE, or the retry rule cannot see it.
    let channel = spec_codes(channel);
    let summator = SummatorClient::new(channel.clone());
    let guide = RouteGuideClient::new(channel);

    // The calls run `--concurrency` at a time, so that some are in flight when a replica
    // dies, as they would be in a busy service.
    let mut calls = stream::iter(0..args.calls)
        .map(|call| {
            let (summator, guide) = (&summator, &guide);
            // Even calls add, odd calls look up a feature: two methods safe to retry.
            with_retries(Retry::OnUnavailable, move || {
                let (mut summator, mut guide) = (summator.clone(), guide.clone());
                async move {
                    if call % 2 == 0 {
                        let sum = SumRequest {
                            value1: call as f64,
                            value2: 1.0,
                        };
                        summator.sum(deadline(sum)).await.map(|r| r.map(|_| ()))
                    } else {
                        guide
                            .get_feature(deadline(ARRAKEEN))
                            .await
                            .map(|r| r.map(|_| ()))
                    }
                }
            })
        })
        .buffer_unordered(args.concurrency);

    let kill_after = args.kill_after.unwrap_or(args.calls / 3);
    let mut tally = Tally::default();
    while let Some(attempted) = calls.next().await {
        tally.record(&attempted);
        if let Err(status) = &attempted.result {
            println!("call failed: {:?}: {}", status.code(), status.message());
        }
        if tally.sent == kill_after && replicas.len() > 1 {
            let victim = replicas.remove(1);
            println!("killing {} after {kill_after} calls", victim.name);
            victim.kill();
        }
    }

    for (replica, served) in &tally.served_by {
        println!("{replica} served {served} calls");
    }
    println!(
        "sent {}, succeeded {}, retried {}, failed {}",
        tally.sent, tally.succeeded, tally.retried, tally.failed
    );

    // A chat through each replica still standing, or as many through the proxy.
    let chats: Vec<String> = match urls.as_slice() {
        [proxy] => vec![proxy.clone(); args.replicas],
        _ if replicas.is_empty() => urls.clone(),
        _ => replicas.iter().map(|replica| replica.url.clone()).collect(),
    };
    chat_across(&chats).await?;
    Ok(())
}

/// Leaves one note through each of `urls` in turn, all at one point no earlier run used,
/// and says what each chat heard. When the replicas share their notes, chat N hears the
/// N - 1 notes before it, whichever replica served it.
async fn chat_across(urls: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let here = Point {
        latitude: rand::random_range(-900_000_000..=900_000_000),
        longitude: rand::random_range(-1_800_000_000..=1_800_000_000),
    };
    let mut shared = true;
    for (n, url) in urls.iter().enumerate() {
        let mut guide = RouteGuideClient::new(connect::connect(url).await?);
        let note = RouteNote {
            location: Some(here),
            message: format!("note {}", n + 1),
        };
        let response = guide
            .route_chat(deadline(stream::iter([note])))
            .await
            .map_err(failed)?;
        let served_by = response.metadata().get("x-served-by").cloned();
        let mut replies = response.into_inner();
        let mut heard = 0;
        while replies.message().await.map_err(failed)?.is_some() {
            heard += 1;
        }
        let served_by = served_by.as_ref().and_then(|name| name.to_str().ok());
        println!(
            "chat {} through {}: heard {heard} earlier notes",
            n + 1,
            served_by.unwrap_or("an unnamed replica")
        );
        shared &= heard == n;
    }
    match shared {
        true => println!("notes shared across replicas: yes"),
        false => println!("notes shared across replicas: no, each keeps its own (see --notes)"),
    }
    Ok(())
}

/// A failed chat, as one line: its status code and message.
fn failed(status: tonic::Status) -> String {
    format!(
        "a chat failed with {:?}: {}",
        status.code(),
        status.message()
    )
}

fn deadline<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// Clients behind a balancer that places connections (`pinned.rs`); a third replica joins
/// after a second; each second, the calls each replica served.
async fn join_later() -> Result<(), Box<dyn std::error::Error>> {
    const AGE: Duration = Duration::from_secs(2);
    let mut config = Config::default();
    config.limits.connection.max_connection_age = AGE;
    let mut replicas = vec![
        Replica::spawn("replica-1", config.clone())?,
        Replica::spawn("replica-2", config.clone())?,
    ];
    let balancer = pinned::Pinned::new(replicas.iter().map(|r| r.url.as_str()));
    println!(
        "(6 clients, each with one connection placed by a layer-4 balancer over replica-1 and \
         replica-2; connections age at {AGE:?})"
    );
    let clients: Vec<_> = (0..6)
        .map(|_| SummatorClient::new(balancer.channel()))
        .collect();
    for second in 1..=6 {
        if second == 2 {
            replicas.push(Replica::spawn("replica-3", config.clone())?);
            balancer.add(&replicas[2].url);
            println!("replica-3 joins the balancer");
        }
        let mut served = std::collections::BTreeMap::<String, u64>::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < end {
            for client in &clients {
                let sum = SumRequest {
                    value1: 1.0,
                    value2: 2.0,
                };
                // A call that races its connection's GOAWAY may fail; the next reconnects.
                if let Ok(response) = client.clone().sum(deadline(sum)).await {
                    *served.entry(tally::served_by(&response)).or_default() += 1;
                }
            }
        }
        let counts: Vec<String> = ["replica-1", "replica-2", "replica-3"]
            .iter()
            .map(|name| format!("{name} {}", served.get(*name).unwrap_or(&0)))
            .collect();
        println!("second {second}: {}", counts.join(", "));
    }
    Ok(())
}
