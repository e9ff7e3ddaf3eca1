//! The `grpc-tour` binary itself: it serves, logs each call, stops on SIGTERM with exit
//! code 0, and reports start-up mistakes in one line.

use std::{io::Write, process::Stdio};

use grpc_tour::{
    client,
    proto::{
        Point, SumRequest, route_guide_client::RouteGuideClient, summator_client::SummatorClient,
    },
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use crate::support::{PATIENCE, features_json};

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

#[tokio::test]
async fn the_binary_serves_a_feature_file_logs_each_call_and_exits_zero_on_sigterm() {
    let village = Point {
        latitude: 409_146_138,
        longitude: -746_188_906,
    };
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "{}", features_json(&[("Jefferson", village)])).unwrap();
    let path = file.path().to_str().unwrap();

    let mut server = Command::new(BINARY)
        .args(["--addr", "127.0.0.1:0", "--features", path])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
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

    let channel = client::connect(&format!("http://{addr}")).await.unwrap();
    let sum = SummatorClient::new(channel.clone())
        .sum(SumRequest {
            value1: 20.0,
            value2: 22.0,
        })
        .await
        .unwrap();
    assert_eq!(sum.into_inner().value, 42.0);
    let feature = RouteGuideClient::new(channel)
        .get_feature(village)
        .await
        .unwrap();
    assert_eq!(feature.into_inner().name, "Jefferson");

    let pid = server.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(PATIENCE, server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let mut rest = Vec::new();
    while let Some(line) = log.next_line().await.unwrap() {
        rest.push(line);
    }
    let logged = |fragments: &[&str]| rest.iter().any(|l| fragments.iter().all(|f| l.contains(f)));
    assert!(
        logged(&[
            "service=tour.Summator method=Sum peer=127.0.0.1:",
            "request_id=",
            "latency=",
            "status=Ok"
        ]),
        "{rest:#?}"
    );
    assert!(
        logged(&["service=tour.RouteGuide method=GetFeature", "status=Ok"]),
        "{rest:#?}"
    );
    assert!(
        logged(&["shutting down"]) && logged(&["stopped"]),
        "{rest:#?}"
    );
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
    assert!(
        stderr.starts_with("grpc-tour: cannot load features from /no/such/features.json: "),
        "{stderr}"
    );

    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        r#"[{{"location": {{"latitude": 1}}, "name": "half a point"}}]"#
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let (success, stderr) = run_to_exit(&["--addr", "127.0.0.1:0", "--features", path]).await;
    assert!(!success);
    assert!(
        stderr.starts_with(&format!(
            "grpc-tour: cannot load features from {path}: not a JSON list"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("missing field `longitude`"), "{stderr}");
}
