//! Every example runs against a test server and prints what a learner should see.
//!
//! The examples are separate binaries that `cargo test` builds beside this one; the tests
//! run them as a learner would, with `--server` pointing at a test server.

use std::{os::unix::fs::PermissionsExt, path::PathBuf, process::Output};

use grpc_tour::{
    lesson::{
        dune::Mentat,
        proto::{
            SumRequest, WeFoundHim, dune_client::DuneClient, route_guide_client::RouteGuideClient,
            summator_client::SummatorClient,
        },
        route_guide::{
            features::FeatureDb,
            geo::Bounds,
            landmarks::{ARRAKEEN, OPEN_DESERT},
        },
    },
    production::{
        server::Config,
        tls::{Pem, ServerTls},
    },
};
use std::sync::Arc;
use tokio::{io::AsyncBufReadExt, process::Command};

use crate::support::{
    PATIENCE, SEED, TempDir, TestServer, many_features_json, point, spawn_server,
    spawn_server_with_features, spawn_test_server, test_config,
};

pub fn example(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps; cargo puts examples in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples, `cargo test --test tour` does not",
        path.display()
    );
    path
}

async fn run(name: &str, args: &[&str]) -> Output {
    let command = Command::new(example(name)).args(args).output();
    tokio::time::timeout(PATIENCE * 3, command)
        .await
        .expect("the example ends by itself")
        .unwrap()
}

/// Runs an example against `server` and returns what it printed, after checking it
/// succeeded.
async fn stdout_of(server: &TestServer, name: &str, args: &[&str]) -> String {
    let mut all = vec!["--server", &server.url];
    all.extend_from_slice(args);
    let output = run(name, &all).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed: {stderr}");
    // Only the production client says something beside its answer: the trace it sent.
    let (traces, complaints): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| is_trace(l));
    assert!(complaints.is_empty(), "{name} complained: {stderr}");
    assert_eq!(
        traces.len(),
        usize::from(name == "production_client"),
        "{name}: {stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `line` is what an example prints of the trace it sends: `(trace_id=` and 32
/// lower-case hex digits.
pub fn is_trace(line: &str) -> bool {
    line.strip_prefix("(trace_id=")
        .and_then(|rest| rest.strip_suffix(')'))
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn the_summator_example_prints_the_sum() {
    let server = spawn_test_server().await;
    assert_eq!(stdout_of(&server, "summator", &[]).await, "2 + 3 = 5\n");
    assert_eq!(
        stdout_of(&server, "summator", &["1.5", "-4"]).await,
        "1.5 + -4 = -2.5\n"
    );
}

#[tokio::test]
async fn the_dune_example_prints_the_mentats_verdict() {
    let server = spawn_test_server().await;
    let verdict = Mentat::new(Some(SEED))
        .judge("Gurney Halleck")
        .await
        .unwrap();

    let printed = stdout_of(&server, "dune", &["Gurney Halleck"]).await;

    assert_eq!(
        printed,
        format!("Soldier: we found Gurney Halleck. Is it the Muad'Dib?\nMentat: {verdict}\n")
    );
}

#[tokio::test]
async fn the_get_feature_example_shows_a_hit_and_a_miss() {
    let server = spawn_test_server().await;
    assert_eq!(
        stdout_of(&server, "get_feature", &[]).await,
        format!("Found \"Arrakeen\" at {ARRAKEEN}\nNo feature at {OPEN_DESERT}\n")
    );
}

#[tokio::test]
async fn the_list_features_example_prints_each_feature_then_the_count() {
    let server = spawn_test_server().await;
    let southern_desert = Bounds::spanning(&point(29.5, 35.2), &point(29.9, 35.5));
    let expected: Vec<String> = Arc::new(FeatureDb::embedded())
        .within(southern_desert)
        .map(|f| format!("{:?} at {}", f.name, f.location.unwrap()))
        .collect();

    let printed = stdout_of(&server, "list_features", &[]).await;

    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[..lines.len() - 1], expected);
    assert_eq!(
        lines.last().unwrap(),
        &format!("{} features in the southern desert", expected.len())
    );
}

#[tokio::test]
async fn the_record_route_example_prints_each_point_then_the_summary() {
    let server = spawn_test_server().await;

    let printed = stdout_of(&server, "record_route", &[]).await;

    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 7, "{printed}");
    assert!(
        lines[..6].iter().all(|l| l.starts_with("visiting (")),
        "{printed}"
    );
    assert!(
        lines[6].starts_with("Finished the route: 6 points, 5 features, 86575 metres, "),
        "{printed}"
    );
}

#[tokio::test]
async fn the_route_chat_example_hears_earlier_notes_and_a_second_run_hears_the_first() {
    let server = spawn_test_server().await;
    let got = |printed: &str| printed.lines().filter(|l| l.starts_with("got:  ")).count();

    let first = stdout_of(&server, "route_chat", &[]).await;
    assert_eq!(
        first.lines().filter(|l| l.starts_with("sent: ")).count(),
        6,
        "{first}"
    );
    assert_eq!(got(&first), 3, "{first}");
    assert!(first.contains("got:  \"The spice must flow\" at (30.3215000, 35.4421000)"));
    assert!(
        first.ends_with("The chat is over: 3 earlier notes heard\n"),
        "{first}"
    );

    // Two notes per point from the first run: each point now answers 2, then 3.
    let second = stdout_of(&server, "route_chat", &[]).await;
    assert_eq!(got(&second), 15, "{second}");
    assert_eq!(server.notes.len(), 12);
}

#[tokio::test]
async fn an_example_pointed_at_a_server_that_is_not_there_fails_in_one_line() {
    // A port that was free a moment ago: nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");

    let output = run("summator", &["--server", &url]).await;

    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: no gRPC server answers at {url}")),
        "{stderr}"
    );
    assert_eq!(output.stdout, b"");
}

/// Runs an example that should fail, and returns its one line of stderr (beside the trace id
/// it prints if it got as far as a call).
async fn failure_of(name: &str, args: &[&str]) -> String {
    let output = run(name, args).await;
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{name} succeeded: {stderr}");
    let said: Vec<&str> = stderr.lines().filter(|l| !is_trace(l)).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    format!("{}\n", said[0])
}

#[tokio::test]
async fn list_features_take_hangs_up_after_n_and_the_server_stops_streaming() {
    let server = spawn_server_with_features(&many_features_json()).await;

    let printed = stdout_of(&server, "list_features", &["--take", "3"]).await;

    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "\"dune 0\" at (29.5000000, 35.3000000)",
            "\"dune 1\" at (29.5000010, 35.3000000)",
            "\"dune 2\" at (29.5000020, 35.3000000)",
            "took 3 features and hung up",
        ]
    );
    // The other 199,997 features are never produced: the call is over on the server.
    server.wait_until_idle().await;
}

#[tokio::test]
async fn an_example_prints_which_field_the_server_refused() {
    let server = spawn_test_server().await;

    let stderr = failure_of("summator", &["--server", &server.url, "--", "inf", "1"]).await;

    assert!(
        stderr.starts_with("error: the call failed with InvalidArgument: value1 must be"),
        "{stderr}"
    );
    assert!(
        stderr.contains("; field `value1`: must be a finite number"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_dune_example_sees_its_deadline_pass_on_a_slow_mentat() {
    let server = spawn_server(Config {
        mentat_delay: PATIENCE,
        ..test_config()
    })
    .await;

    let stderr = failure_of("dune", &["--server", &server.url, "--deadline", "300ms"]).await;

    assert!(
        stderr.starts_with("error: the call failed with DeadlineExceeded: "),
        "{stderr}"
    );
    server.wait_until_idle().await;
}

#[tokio::test]
async fn the_production_client_sends_the_token_and_compresses_when_asked() {
    let server = spawn_server(Config {
        token: Some("kwisatz".to_owned()),
        ..test_config()
    })
    .await;

    let stderr = failure_of("production_client", &["--server", &server.url]).await;
    assert!(
        stderr.starts_with("error: the call failed with Unauthenticated: "),
        "{stderr}"
    );
    for compression in ["gzip", "zstd"] {
        let args = ["--token", "kwisatz", "--compress", compression];
        let printed = stdout_of(&server, "production_client", &args).await;
        assert_eq!(printed, "2 + 3 = 5\n");
    }
}

#[tokio::test]
async fn the_production_client_alone_starts_a_server_with_mutual_tls_and_a_token() {
    let output = run("production_client", &["--compress", "zstd"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 + 3 = 5\n");
    let said: Vec<&str> = stderr.lines().collect();
    assert!(
        said[0].starts_with("(no --server: started a tour server in this process at https://"),
        "{stderr}"
    );
    assert!(is_trace(said[1]), "{stderr}");
}

#[tokio::test]
async fn the_certs_command_makes_a_ca_for_a_mutual_tls_server_and_an_example() {
    let dir = TempDir::new();
    let output = Command::new(env!("CARGO_BIN_EXE_grpc-tour"))
        .arg("certs")
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    for name in [
        "ca.pem",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        let metadata = std::fs::metadata(dir.path().join(name)).unwrap();
        if name.ends_with(".key") {
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let pem = |name: &str| Some(Pem::read(&file(name)).unwrap());
    let tls = ServerTls {
        tls_cert: pem("server.pem"),
        tls_key: pem("server.key"),
        client_ca: pem("ca.pem"),
    };
    let server = spawn_server(Config {
        tls,
        ..test_config()
    })
    .await;
    let url = format!("https://localhost:{}", server.addr.port());

    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let mutual = [
        "--server", &url, "--ca", &ca, "--cert", &cert, "--key", &key,
    ];
    let output = run("production_client", &mutual).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 + 3 = 5\n");

    let without_certificate =
        failure_of("production_client", &["--server", &url, "--ca", &ca]).await;
    assert!(
        without_certificate.starts_with("error: "),
        "{without_certificate}"
    );
}

#[tokio::test]
async fn the_wire_example_shows_all_seven_calls_frame_by_frame() {
    let server = spawn_test_server().await;
    let shown = stdout_of(&server, "wire", &[]).await;
    for heading in [
        "unary: Summator.Sum(2, 3)",
        "server streaming: RouteGuide.ListFeatures",
        "client streaming: RouteGuide.RecordRoute",
        "bidirectional: RouteGuide.RouteChat",
        "refused: Summator.Sum(inf, 2)",
        "deadline: RouteGuide.RouteChat",
        "cancelled: RouteGuide.RouteChat",
    ] {
        assert!(
            shown.contains(&format!("\n{heading}")),
            "no {heading:?} in:\n{shown}"
        );
    }
    for seen in [
        ":path: /tour.Summator/Sum",
        "SumRequest { value1: 2.0, value2: 3.0 }",
        "SumResponse { value: 5.0 }",
        "grpc-status: 3   (InvalidArgument)",
        "field: \"value1\"",
        "RST_STREAM    stream 1  CANCEL",
        "the client got: 2 + 3 = 5",
        "the client got: 3 features: Arrakeen, Residency Gardens, Water Seller's Market",
    ] {
        assert!(shown.contains(seen), "no {seen:?} in:\n{shown}");
    }
}

#[tokio::test]
async fn the_minimal_server_serves_all_three_services() {
    let mut server = Command::new(example("minimal_server"))
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, stdout.read_line(&mut line))
        .await
        .expect("the server says where it listens")
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap();
    let channel = grpc_tour::lesson::connect::connect(&format!("http://{addr}"))
        .await
        .unwrap();

    let sum = SummatorClient::new(channel.clone())
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 5.0);
    let verdict = DuneClient::new(channel.clone())
        .is_muad_dib(WeFoundHim {
            message: "Paul Atreides".to_owned(),
        })
        .await
        .unwrap();
    assert!(verdict.into_inner().message.starts_with("Hello minion"));
    let feature = RouteGuideClient::new(channel)
        .get_feature(ARRAKEEN)
        .await
        .unwrap();
    assert_eq!(feature.into_inner().name, "Arrakeen");
}
