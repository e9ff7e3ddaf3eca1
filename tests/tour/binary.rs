//! The `grpc-tour` binary itself: it serves, logs each call, stops on SIGTERM with exit
//! code 0, and reports start-up mistakes in one line.

use std::{process::Stdio, time::Duration};

use futures::channel::mpsc;
use grpc_tour::lesson::{
    connect,
    proto::{
        Point, RouteNote, SumRequest, SumResponse, route_guide_client::RouteGuideClient,
        summator_client::SummatorClient,
    },
    route_guide::landmarks::ARRAKEEN,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStderr, Command},
};
use tonic::{Code, Request};

use crate::support::{PATIENCE, TempDir, features_json};

const BINARY: &str = env!("CARGO_BIN_EXE_grpc-tour");

/// Runs the binary to completion and returns its exit success and its stderr.
async fn run_to_exit(args: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(PATIENCE, Command::new(BINARY).args(args).output())
        .await
        .expect("the binary exits")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The binary, serving on a free port, with its log on a pipe.
struct Running {
    child: Child,
    log: Lines<BufReader<ChildStderr>>,
    addr: String,
}

impl Running {
    /// Starts `grpc-tour --addr 127.0.0.1:0 ARGS` and waits for it to log its address.
    async fn start(args: &[&str]) -> Running {
        let mut command = Command::new(BINARY);
        command.args(["--addr", "127.0.0.1:0"]).args(args);
        Running::spawn(command).await
    }

    /// Starts `command`, which runs the server, and waits for it to log its address.
    async fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            loop {
                let line = log
                    .next_line()
                    .await
                    .unwrap()
                    .expect("the server logs its address");
                if let Some(rest) = line.split(" addr=").nth(1) {
                    return rest.split_whitespace().next().unwrap().to_owned();
                }
            }
        })
        .await
        .expect("the server starts in time");
        Running { child, log, addr }
    }

    /// `Sum(2, 3)` on this server, with no token.
    async fn two_plus_three(&self) -> tonic::Response<SumResponse> {
        let channel = connect::connect(&format!("http://{}", self.addr))
            .await
            .unwrap();
        let two_and_three = SumRequest {
            value1: 2.0,
            value2: 3.0,
        };
        SummatorClient::new(channel)
            .sum(two_and_three)
            .await
            .unwrap()
    }

    /// Sends SIGTERM, waits for the exit, and returns whether it was a success and the
    /// rest of the log.
    async fn terminate(mut self) -> (bool, Vec<String>) {
        let pid = self.child.id().unwrap().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(kill.await.unwrap().success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits in time")
            .unwrap();
        let mut rest = Vec::new();
        while let Some(line) = self.log.next_line().await.unwrap() {
            rest.push(line);
        }
        (status.success(), rest)
    }
}

/// Whether a line of `log` holds every one of `fragments`.
fn logged(log: &[String], fragments: &[&str]) -> bool {
    log.iter().any(|l| fragments.iter().all(|f| l.contains(f)))
}

#[tokio::test]
async fn with_log_calls_the_binary_logs_each_call_under_its_clients_trace_and_exits_zero_on_sigterm()
 {
    let village = Point {
        latitude: 409_146_138,
        longitude: -746_188_906,
    };
    let dir = TempDir::new();
    let file = dir.path().join("features.json");
    std::fs::write(&file, features_json(&[("Jefferson", village)])).unwrap();
    let server = Running::start(&["--features", file.to_str().unwrap(), "--log-calls"]).await;

    let channel = connect::connect(&format!("http://{}", server.addr))
        .await
        .unwrap();
    let mut sum = Request::new(SumRequest {
        value1: 20.0,
        value2: 22.0,
    });
    sum.metadata_mut()
        .insert("x-request-id", "harkonnen-7".parse().unwrap());
    // The client's span: the server's call is its child, in the same trace.
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sum.metadata_mut()
        .insert("traceparent", parent.parse().unwrap());
    let sum = SummatorClient::new(channel.clone()).sum(sum).await.unwrap();
    assert_eq!(sum.into_inner().value, 42.0);
    let feature = RouteGuideClient::new(channel)
        .get_feature(village)
        .await
        .unwrap();
    assert_eq!(feature.into_inner().name, "Jefferson");
    // A browser's call, over gRPC-Web: logged like any other, and marked.
    let addr = server.addr.parse().unwrap();
    let web = crate::web::web_sum(addr, &[("x-request-id", "from-a-page")], 2.0).await;
    assert_eq!(web.status().0, tonic::Code::Ok);

    let (success, log) = server.terminate().await;

    assert!(success, "exit status after SIGTERM: {log:#?}");
    assert!(
        logged(
            &log,
            &[
                "call service=tour.Summator method=Sum peer=127.0.0.1:",
                "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=",
                "request_id=harkonnen-7",
                "latency_us=",
                "status=Ok"
            ]
        ),
        "{log:#?}"
    );
    assert!(
        logged(
            &log,
            &[
                "service=tour.RouteGuide method=GetFeature",
                // A call that came without a trace starts one.
                "trace_id=",
                "status=Ok"
            ]
        ),
        "{log:#?}"
    );
    assert!(
        logged(
            &log,
            &[
                "method=Sum",
                "request_id=from-a-page grpc_web=true status=Ok"
            ]
        ),
        "{log:#?}"
    );
    assert!(
        !logged(&log, &["request_id=harkonnen-7 grpc_web"]),
        "{log:#?}"
    );
    assert!(
        logged(&log, &["shutting down"]) && logged(&log, &["stopped"]),
        "{log:#?}"
    );
}

#[tokio::test]
async fn sigterm_with_a_chat_open_ends_it_after_the_grace_period_and_exits_zero() {
    // The chat is open, not stalled: it ends with its status at the grace period, never by
    // its connection closing.
    let server = Running::start(&[
        "--grace-period",
        "300ms",
        "--stalled-grace",
        "10s",
        "--log-calls",
    ])
    .await;
    let channel = connect::connect(&format!("http://{}", server.addr))
        .await
        .unwrap();
    let (sender, notes) = mpsc::unbounded();
    sender
        .unbounded_send(RouteNote {
            location: Some(ARRAKEEN),
            message: "still here".to_owned(),
        })
        .unwrap();
    let mut replies = RouteGuideClient::new(channel)
        .route_chat(notes)
        .await
        .unwrap()
        .into_inner();

    let (success, log) = server.terminate().await;

    assert!(success, "exit status after SIGTERM: {log:#?}");
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("grace period"), "{status:?}");
    assert!(logged(&log, &["grace period over"]), "{log:#?}");
    assert!(
        logged(&log, &["method=RouteChat", "status=Unavailable"]),
        "{log:#?}"
    );
    drop(sender);
}

#[tokio::test]
async fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let (success, stderr) = run_to_exit(&["--addr", &addr]).await;

    assert!(!success);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("grpc-tour: cannot listen on {addr}: ")),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_or_malformed_feature_file_stops_start_up_naming_the_file() {
    let (success, stderr) = run_to_exit(&[
        "--addr",
        "127.0.0.1:0",
        "--features",
        "/no/such/features.json",
    ])
    .await;
    assert!(!success);
    // A usage error, in clap's words: which flag, which value, and why.
    let refused = "error: invalid value '/no/such/features.json' for '--features <FILE>': \
                   cannot load features from /no/such/features.json: ";
    assert!(stderr.starts_with(refused), "{stderr}");

    let dir = TempDir::new();
    let file = dir.path().join("features.json");
    std::fs::write(
        &file,
        r#"[{"location": {"latitude": 1}, "name": "half a point"}]"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (success, stderr) = run_to_exit(&["--addr", "127.0.0.1:0", "--features", path]).await;
    assert!(!success);
    assert!(
        stderr.contains(&format!(
            "for '--features <FILE>': cannot load features from {path}: not a JSON list"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("missing field `longitude`"), "{stderr}");
}

#[tokio::test]
async fn an_examples_trace_id_is_the_one_in_the_servers_line_for_its_call() {
    let server = Running::start(&["--log-calls"]).await;
    let url = format!("http://{}", server.addr);
    let output = Command::new(crate::examples::example("production_client"))
        .args(["--server", &url])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stderr).unwrap();
    assert!(crate::examples::is_trace(printed.trim_end()), "{printed}");
    let trace_id = &printed.trim_end()["(trace_id=".len()..][..32];

    let (success, log) = server.terminate().await;
    assert!(success, "{log:#?}");
    assert!(
        logged(
            &log,
            &["method=Sum", &format!("trace_id={trace_id} "), "status=Ok"]
        ),
        "{trace_id} in {log:#?}"
    );
}

#[tokio::test]
async fn metrics_addr_serves_prometheus_text_over_plain_http() {
    let mut server = Running::start(&["--metrics-addr", "127.0.0.1:0"]).await;
    let metrics_addr = tokio::time::timeout(PATIENCE, async {
        loop {
            let line = server.log.next_line().await.unwrap().unwrap();
            if let Some(rest) = line.split(" metrics=").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
    })
    .await
    .expect("the server logs where its metrics are");
    server.two_plus_three().await;
    server.two_plus_three().await;

    // What Prometheus sends, over a plain socket: HTTP/1.1, then the connection closed.
    let mut http = tokio::net::TcpStream::connect(&metrics_addr).await.unwrap();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {metrics_addr}\r\nConnection: close\r\n\r\n");
    http.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, http.read_to_string(&mut answer))
        .await
        .expect("the metrics arrive")
        .unwrap();

    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        answer.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{answer}"
    );
    let ok = r#"grpc_server_handled_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="OK"} 2"#;
    assert!(answer.lines().any(|line| line == ok), "{answer}");
    assert!(answer.trim_end().ends_with("# EOF"), "{answer}");
    let (success, log) = server.terminate().await;
    assert!(success, "{log:#?}");
}

#[tokio::test]
async fn both_runtimes_serve() {
    for runtime in ["current-thread", "multi-thread"] {
        let server = Running::start(&["--runtime", runtime]).await;
        let sum = server.two_plus_three().await;
        assert_eq!(sum.into_inner().value, 5.0, "{runtime}");
        let (success, log) = server.terminate().await;
        assert!(success, "{runtime}: {log:#?}");
        // By default, no line per call: only --log-calls adds them.
        assert!(!logged(&log, &["call service="]), "{runtime}: {log:#?}");
    }
}

/// The CPU time a process has used so far, in clock ticks (user and system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_waits_and_then_serves_again() {
    // A server allowed 64 files, and a hundred connections it cannot all accept.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("ulimit -n 64 && exec {BINARY} --addr 127.0.0.1:0"),
    ]);
    let server = Running::spawn(command).await;
    let mut crowd = Vec::new();
    for _ in 0..100 {
        crowd.push(tokio::net::TcpStream::connect(&server.addr).await.unwrap());
    }
    // While it cannot accept, it does not spin: over a second it uses a fifth of one at
    // most (about none, measured; a busy retry used half).
    let pid = server.child.id().unwrap();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(pid) - before;
    assert!(used < 20, "{used} ticks of CPU in 1 s: a busy loop");

    // Once the crowd leaves, it serves again, and it never exited.
    drop(crowd);
    let sum = tokio::time::timeout(PATIENCE, server.two_plus_three())
        .await
        .expect("the server serves again");
    assert_eq!(sum.into_inner().value, 5.0);
    let (success, log) = server.terminate().await;
    assert!(success, "{log:#?}");
}

#[tokio::test]
async fn a_stalled_stderr_never_stalls_a_call() {
    // Nobody reads the server's stderr past its address: the pipe fills, then the buffer.
    let mut server = Running::start(&["--log-buffer-lines", "100", "--log-calls"]).await;
    let channel = connect::connect(&format!("http://{}", server.addr))
        .await
        .unwrap();
    let mut summator = SummatorClient::new(channel);
    let calls = async {
        for i in 0..3000 {
            let request = SumRequest {
                value1: f64::from(i),
                value2: 1.0,
            };
            let sum = summator.sum(request).await.unwrap();
            assert_eq!(sum.into_inner().value, f64::from(i) + 1.0);
        }
    };
    tokio::time::timeout(PATIENCE * 3, calls)
        .await
        .expect("every call is served while stderr is stalled");

    // Read again: the server says what it had to drop.
    let said = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = server.log.next_line().await.unwrap() {
            if line.contains("log lines dropped") {
                return line;
            }
        }
        panic!("the log ended without saying it dropped lines");
    })
    .await
    .expect("the server reports the dropped lines");
    assert!(said.contains("dropped="), "{said}");
    let (success, log) = server.terminate().await;
    assert!(success, "{log:#?}");
}
