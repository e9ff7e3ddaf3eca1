//! RouteChat's notes in a real Redis, shared by replicas: the same contract as in memory
//! (every earlier note at the point, from any replica, exactly once, in one agreed order),
//! the same budgets, and what happens when Redis goes away and comes back.
//!
//! Each test starts its own Debian `redis-server` on a free loopback port, with no
//! persistence, and stops it after. Where `redis-server` is not on PATH, a test prints one
//! line saying it was skipped and passes; with `GRPC_TOUR_REQUIRE_REDIS` set (as `.ci/run`
//! sets it) it fails instead.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use grpc_tour::{
    lesson::{
        proto::{Point, RouteNote, SumRequest},
        route_guide::landmarks::{ARRAKEEN, CAVE_OF_BIRDS, SIETCH_TABR},
    },
    production::{notes::NoteHome, server::Config},
};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::support::{PATIENCE, TempDir, TestServer, note, spawn_server, test_config};

/// A `redis-server` of this test's own, stopped when dropped.
struct Redis {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Redis {
    /// A Redis with no persistence on a free loopback port, or `None` when `redis-server`
    /// is not installed and the test may be skipped.
    fn start(test: &str) -> Option<Redis> {
        Redis::start_with(test, &[])
    }

    /// The same, with extra `redis-server` arguments.
    fn start_with(test: &str, args: &[&str]) -> Option<Redis> {
        let Some(program) = redis_server() else {
            assert!(
                std::env::var_os("GRPC_TOUR_REQUIRE_REDIS").is_none(),
                "{test}: redis-server is not on PATH, and GRPC_TOUR_REQUIRE_REDIS is set"
            );
            eprintln!("skipped {test}: redis-server is not on PATH (apt-get install redis-server)");
            return None;
        };
        let mut redis = Redis {
            port: 0,
            dir: TempDir::new(),
            child: None,
        };
        // A port the system has just handed out; should another process take it before
        // Redis does, Redis exits and another port is tried.
        for _ in 0..5 {
            redis.port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if redis.run(&program, args) {
                return Some(redis);
            }
        }
        panic!("{test}: redis-server did not start on any of 5 free ports");
    }

    /// Starts `redis-server` on this port and waits until it answers a PING; false if it
    /// exits first.
    fn run(&mut self, program: &PathBuf, args: &[&str]) -> bool {
        let child = Command::new(program)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                self.child = None;
                return false;
            }
            if self.answers() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} never answered", self.port);
    }

    /// Whether the Redis answering on this port is this one's own child: should another
    /// test's Redis have taken the port first, ours has exited and that one answers.
    fn answers(&self) -> bool {
        let Some(child) = self.child.as_ref() else {
            return false;
        };
        let info = redis::Client::open(self.url())
            .and_then(|client| client.get_connection())
            .and_then(|mut connection| {
                redis::cmd("INFO")
                    .arg("server")
                    .query::<String>(&mut connection)
            });
        info.is_ok_and(|info| info.contains(&format!("process_id:{}\r\n", child.id())))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills Redis the way a crash would.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Redis again on the same port (empty: it keeps nothing on disk).
    fn restart(&mut self) {
        let program = redis_server().unwrap();
        assert!(self.run(&program, &[]), "redis-server restarts on its port");
    }

    /// The notes stored at `point`, in the store's order, read from Redis itself.
    fn notes_at(&self, point: Point) -> Vec<String> {
        let mut connection = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let key = format!("grpc-tour:notes:{}:{}", point.latitude, point.longitude);
        let stored: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(&mut connection)
            .unwrap();
        stored
            .iter()
            .map(|bytes| RouteNote::decode(&bytes[..]).unwrap().message)
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_server() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|path| path.is_file())
    })
}

/// A tour server keeping its notes in `redis`.
async fn replica(redis: &Redis) -> TestServer {
    spawn_server(config_in(redis)).await
}

fn config_in(redis: &Redis) -> Config {
    Config {
        notes: NoteHome::Redis(redis.url()),
        ..test_config()
    }
}

/// One chat on `server`: sends `notes`, ends its stream, and returns every reply heard.
async fn chat(server: &TestServer, notes: Vec<RouteNote>) -> Result<Vec<String>, tonic::Status> {
    let mut guide = server.route_guide().await;
    let mut replies = guide.route_chat(stream::iter(notes)).await?.into_inner();
    let mut heard = Vec::new();
    while let Some(reply) = replies.message().await? {
        heard.push(reply.message);
    }
    Ok(heard)
}

#[tokio::test]
async fn notes_left_through_one_replica_are_heard_through_the_other_exactly_once_in_order() {
    let Some(redis) = Redis::start("the shared contract") else {
        return;
    };
    let (one, two) = (replica(&redis).await, replica(&redis).await);

    let heard = chat(&one, vec![note(ARRAKEEN, "a1"), note(ARRAKEEN, "a2")]).await;
    assert_eq!(heard.unwrap(), ["a1"]);
    let heard = chat(&two, vec![note(ARRAKEEN, "b1"), note(SIETCH_TABR, "b2")]).await;
    assert_eq!(heard.unwrap(), ["a1", "a2"]);
    let heard = chat(&one, vec![note(ARRAKEEN, "a3")]).await;
    assert_eq!(heard.unwrap(), ["a1", "a2", "b1"]);

    assert_eq!(redis.notes_at(ARRAKEEN), ["a1", "a2", "b1", "a3"]);
    assert_eq!(redis.notes_at(SIETCH_TABR), ["b2"]);
}

#[tokio::test]
async fn sixteen_clients_on_two_replicas_lose_no_note_and_hear_each_earlier_one_once() {
    const CLIENTS: usize = 16;
    const NOTES: usize = 12;
    let Some(redis) = Redis::start("sixteen clients") else {
        return;
    };
    let replicas = [replica(&redis).await, replica(&redis).await];
    let points = [ARRAKEEN, SIETCH_TABR, CAVE_OF_BIRDS];
    let sent = |client: usize| -> Vec<RouteNote> {
        (0..NOTES)
            .map(|n| note(points[(client + n) % 3], &format!("c{client}-n{n}")))
            .collect()
    };

    let chats = (0..CLIENTS).map(|client| {
        let server = &replicas[client % 2];
        async move { (client, chat(server, sent(client)).await.unwrap()) }
    });
    let heard: HashMap<usize, Vec<String>> = stream::iter(chats)
        .buffer_unordered(CLIENTS)
        .collect()
        .await;

    // The order every replica agreed on, per point, as Redis holds it.
    let order: HashMap<(i32, i32), Vec<String>> = points
        .iter()
        .map(|p| ((p.latitude, p.longitude), redis.notes_at(*p)))
        .collect();
    let stored: usize = order.values().map(Vec::len).sum();
    assert_eq!(stored, CLIENTS * NOTES, "every note is stored, once");
    for client in 0..CLIENTS {
        // For each of its notes, a client hears exactly the notes stored before it at that
        // point: no more, no fewer, none twice, in the agreed order.
        let mut expected = Vec::new();
        for note in sent(client) {
            let point = note.location.unwrap();
            let here = &order[&(point.latitude, point.longitude)];
            let at = here.iter().position(|m| *m == note.message).unwrap();
            expected.extend(here[..at].iter().cloned());
        }
        assert_eq!(heard[&client], expected, "client {client}");
    }
}

#[tokio::test]
async fn the_budgets_hold_across_replicas_and_a_refused_note_is_not_stored() {
    let Some(redis) = Redis::start("the budgets") else {
        return;
    };
    let limited = || Config {
        max_notes: 3,
        ..config_in(&redis)
    };
    let (one, two) = (spawn_server(limited()).await, spawn_server(limited()).await);
    chat(&one, vec![note(ARRAKEEN, "1"), note(ARRAKEEN, "2")])
        .await
        .unwrap();
    chat(&two, vec![note(ARRAKEEN, "3")]).await.unwrap();
    let refused = chat(&one, vec![note(ARRAKEEN, "4")]).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("--max-notes"),
        "{}",
        refused.message()
    );
    assert_eq!(redis.notes_at(ARRAKEEN), ["1", "2", "3"]);

    // The byte budget: two notes of 100-byte messages fit in 250 bytes, a third does not.
    let Some(redis) = Redis::start("the byte budget") else {
        return;
    };
    let server = spawn_server(Config {
        max_note_bytes: 250,
        ..config_in(&redis)
    })
    .await;
    let long = "x".repeat(100);
    chat(
        &server,
        vec![note(SIETCH_TABR, &long), note(SIETCH_TABR, &long)],
    )
    .await
    .unwrap();
    let refused = chat(&server, vec![note(SIETCH_TABR, &long)])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("--max-note-bytes"),
        "{}",
        refused.message()
    );
    assert_eq!(redis.notes_at(SIETCH_TABR).len(), 2);
}

#[tokio::test]
async fn redis_out_of_memory_refuses_a_note_with_resource_exhausted() {
    let Some(redis) = Redis::start_with(
        "Redis's maxmemory",
        &["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"],
    ) else {
        return;
    };
    let server = replica(&redis).await;
    let big = "x".repeat(256 * 1024);
    let mut refused = None;
    let mut stored = 0;
    // 2 MiB cannot hold 40 notes of 256 KiB: Redis refuses one well before.
    for n in 0..40 {
        match chat(&server, vec![note(CAVE_OF_BIRDS, &big)]).await {
            Ok(_) => stored += 1,
            Err(status) => {
                refused = Some((n, status));
                break;
            }
        }
    }
    let (_, status) = refused.expect("Redis refused a note past its maxmemory");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("maxmemory"),
        "{}",
        status.message()
    );
    assert_eq!(redis.notes_at(CAVE_OF_BIRDS).len(), stored);
}

#[tokio::test]
async fn with_redis_down_at_start_the_server_serves_and_chats_fail_fast_with_unavailable() {
    let Some(mut redis) = Redis::start("Redis down at start") else {
        return;
    };
    redis.stop();
    let server = replica(&redis).await;

    // A deadline far away: the chat must fail on its own, not wait for it.
    let mut guide = server.route_guide().await;
    let mut request = tonic::Request::new(stream::iter([note(ARRAKEEN, "anyone?")]));
    request.set_timeout(PATIENCE * 3);
    let failed = match guide.route_chat(request).await {
        Ok(response) => response.into_inner().message().await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
    assert!(
        failed.message().contains(&redis.url()),
        "{}",
        failed.message()
    );

    let sum = server
        .summator()
        .await
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
}

#[tokio::test]
async fn redis_lost_mid_chat_ends_it_with_unavailable_and_redis_back_serves_new_chats() {
    let Some(mut redis) = Redis::start("Redis lost and back") else {
        return;
    };
    let server = replica(&redis).await;
    let mut guide = server.route_guide().await;
    let (notes, outgoing) = mpsc::channel(1);
    let mut replies = guide
        .route_chat(ReceiverStream::new(outgoing))
        .await
        .unwrap()
        .into_inner();
    notes.send(note(ARRAKEEN, "before")).await.unwrap();
    notes.send(note(ARRAKEEN, "still before")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "before");

    redis.stop();
    notes.send(note(ARRAKEEN, "after")).await.unwrap();
    let lost = replies.message().await.unwrap_err();
    assert_eq!(lost.code(), Code::Unavailable, "{lost:?}");

    redis.restart();
    let back = Instant::now();
    // The first chat after Redis returns may still meet the broken connection (and
    // reconnect it); a later one must succeed.
    let mut tries = 0;
    let heard = loop {
        tries += 1;
        match chat(&server, vec![note(SIETCH_TABR, "back")]).await {
            Ok(heard) => break heard,
            Err(status) if status.code() == Code::Unavailable && back.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("no chat works after Redis is back: {status:?}"),
        }
    };
    assert!(heard.is_empty());
    assert_eq!(redis.notes_at(SIETCH_TABR), ["back"]);
    eprintln!(
        "the first good chat came {:?} after Redis was back, on try {tries}",
        back.elapsed()
    );
}
