//! Browsers: gRPC-Web beside native gRPC on one port, the playground's page, CORS, and the
//! relay that shows a page the two kinds it cannot send. A gRPC-Web call is held to every
//! promise a native one is (the token, the deadline, the message limit, the metrics), bad
//! gRPC-Web gets a status, and the relay is bounded for the whole server.
//!
//! The calls here are written by hand over HTTP/1.1, as a browser's `fetch` sends them, so
//! that each test sees the bytes: a gRPC-Web body is the native one (5-byte prefix, message)
//! and its answer ends with a frame flagged `0x80` that carries the trailers as text.

use std::{collections::HashMap, net::SocketAddr, str::FromStr, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures::StreamExt;
use grpc_tour::{
    lesson::proto::{SumRequest, SumResponse, WeFoundHim},
    playground::proto::{Call, WatchRequest, relay_client::RelayClient},
    production::server::Config,
};
use prost::Message;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;

use crate::support::{PATIENCE, spawn_server, test_config};

/// An HTTP/1.1 answer, whole.
pub struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    /// The gRPC-Web frames of the body: each a flag byte and a payload.
    fn frames(&self) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut rest = &self.body[..];
        while rest.len() >= 5 {
            let length = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            assert!(rest.len() >= 5 + length, "a frame longer than the body");
            frames.push((rest[0], rest[5..5 + length].to_vec()));
            rest = &rest[5 + length..];
        }
        assert!(rest.is_empty(), "bytes after the last frame");
        frames
    }

    /// The messages of the body.
    fn messages(&self) -> Vec<Vec<u8>> {
        self.frames()
            .into_iter()
            .filter(|(flag, _)| flag & 0x80 == 0)
            .map(|(_, payload)| payload)
            .collect()
    }

    /// The call's status and message: from the trailer frame, or from the headers of a
    /// trailers-only answer.
    pub fn status(&self) -> (Code, String) {
        let trailers = self
            .frames()
            .into_iter()
            .find(|(flag, _)| flag & 0x80 != 0)
            .map(|(_, payload)| String::from_utf8(payload).unwrap());
        let fields: HashMap<String, String> = match trailers {
            Some(text) => text
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
                .collect(),
            None => self.headers.clone(),
        };
        let code = fields.get("grpc-status").expect("a grpc-status");
        let message = percent_decode(fields.get("grpc-message").map_or("", String::as_str));
        (Code::from_i32(code.parse().unwrap()), message)
    }
}

/// A `grpc-message`, whose bytes outside printable ASCII travel as `%XX`.
fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// One HTTP/1.1 request on a connection of its own, and its whole answer.
async fn http1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut connection = TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    connection.write_all(request.as_bytes()).await.unwrap();
    // A server that refuses a body early may close before it has all of it.
    let _ = connection.write_all(body).await;
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, connection.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = answer[split + 4..].to_vec();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// A chunked body, joined.
fn unchunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line = chunked.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&chunked[..line]).unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[line + 2..line + 2 + size]);
        chunked = &chunked[line + 2 + size + 2..];
    }
}

/// A message behind its 5-byte prefix, as gRPC and gRPC-Web both frame it.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut body = vec![0];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    body
}

const GRPC_WEB: (&str, &str) = ("content-type", "application/grpc-web+proto");

pub async fn web_sum(addr: SocketAddr, extra: &[(&str, &str)], value1: f64) -> Answer {
    let request = SumRequest {
        value1,
        value2: 3.0,
    }
    .encode_to_vec();
    let headers: Vec<_> = [GRPC_WEB, ("x-grpc-web", "1")]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    http1(
        addr,
        "POST",
        "/tour.Summator/Sum",
        &headers,
        &framed(&request),
    )
    .await
}

/// The value of one sample of the server's metrics.
async fn sample(server: &crate::support::TestServer, series: &str) -> f64 {
    let text = server.metrics.as_ref().expect("metrics").render().await;
    text.lines()
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .map(|(_, value)| f64::from_str(value).unwrap())
        .unwrap_or_else(|| panic!("no {series}"))
}

fn measured() -> Config {
    Config {
        metrics_addr: Some(([127, 0, 0, 1], 0).into()),
        ..test_config()
    }
}

#[tokio::test]
async fn a_browser_call_is_a_grpc_call_with_its_status_in_the_body() {
    let server = spawn_server(measured()).await;
    let answer = web_sum(server.addr, &[], 2.0).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/grpc-web+proto");
    let messages = answer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(SumResponse::decode(&messages[0][..]).unwrap().value, 5.0);
    assert_eq!(answer.status(), (Code::Ok, String::new()));

    // The same answer natively, and the metrics count both, the browser's apart.
    let native = server
        .summator()
        .await
        .sum(SumRequest {
            value1: 2.0,
            value2: 3.0,
        })
        .await
        .unwrap();
    assert_eq!(native.into_inner().value, 5.0);
    let labels =
        r#"grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="OK""#;
    assert_eq!(
        sample(&server, &format!("grpc_server_handled_total{{{labels}}}")).await,
        2.0
    );
    assert_eq!(
        sample(&server, &format!("grpc_tour_web_handled_total{{{labels}}}")).await,
        1.0
    );

    // A refused call: its status read by the metrics before tonic-web moved it into the body.
    let refused = web_sum(server.addr, &[], f64::INFINITY).await;
    let (code, message) = refused.status();
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("value1"), "{message}");
    let refused = r#"grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="InvalidArgument""#;
    assert_eq!(
        sample(
            &server,
            &format!("grpc_tour_web_handled_total{{{refused}}}")
        )
        .await,
        1.0
    );
    server.wait_until_idle().await;
}

#[tokio::test]
async fn grpc_web_text_is_base64_and_bad_base64_gets_a_status() {
    let server = spawn_server(test_config()).await;
    let text = ("content-type", "application/grpc-web-text");
    let accept = ("accept", "application/grpc-web-text");
    let request = framed(
        &SumRequest {
            value1: 2.0,
            value2: 3.0,
        }
        .encode_to_vec(),
    );
    let encoded = base64_encode(&request);
    let answer = http1(
        server.addr,
        "POST",
        "/tour.Summator/Sum",
        &[text, accept],
        encoded.as_bytes(),
    )
    .await;
    assert_eq!(
        answer.headers["content-type"],
        "application/grpc-web-text+proto"
    );
    let decoded = Answer {
        body: base64_decode(&answer.body),
        ..answer
    };
    assert_eq!(
        SumResponse::decode(&decoded.messages()[0][..])
            .unwrap()
            .value,
        5.0
    );

    for bad in ["not base64 at all!", "AAAA*AAA"] {
        let answer = http1(
            server.addr,
            "POST",
            "/tour.Summator/Sum",
            &[text, accept],
            bad.as_bytes(),
        )
        .await;
        let decoded = Answer {
            body: base64_decode(&answer.body),
            ..answer
        };
        // tonic-web's status, as for a native body it cannot read: INTERNAL, with what it
        // could not decode.
        let (code, message) = decoded.status();
        assert_eq!(code, Code::Internal, "{bad}: {message}");
        assert!(!message.is_empty(), "{bad}: no message");
    }
    server.wait_until_idle().await;
}

#[tokio::test]
async fn a_lying_length_or_a_message_over_the_limit_gets_a_status() {
    let server = spawn_server(test_config()).await;
    let limit = Config::default().limits.max_message_size;
    // A prefix that promises more than the body holds, at two sizes: a little more, and
    // more than the limit.
    for promised in [100_u32, limit as u32 + 1] {
        let mut body = vec![0];
        body.extend_from_slice(&promised.to_be_bytes());
        body.extend_from_slice(&[0x09; 20]);
        let answer = http1(
            server.addr,
            "POST",
            "/tour.Summator/Sum",
            &[GRPC_WEB],
            &body,
        )
        .await;
        let (code, message) = answer.status();
        assert!(
            matches!(code, Code::Internal | Code::ResourceExhausted),
            "promised {promised}: {code:?} {message}"
        );
        assert!(!message.is_empty(), "promised {promised}: no message");
    }
    // A whole message one byte over the limit, and one under it whose reply (the name and
    // the Mentat's words) still fits.
    for (size, refused) in [(limit + 1, true), (limit - 100, false)] {
        // A 4-byte length (22 bits) and a 1-byte tag before the name.
        let name = "x".repeat(size - 5);
        let request = WeFoundHim { message: name }.encode_to_vec();
        assert_eq!(request.len(), size);
        let answer = http1(
            server.addr,
            "POST",
            "/tour.Dune/IsMuadDib",
            &[GRPC_WEB],
            &framed(&request),
        )
        .await;
        let (code, message) = answer.status();
        if refused {
            assert_eq!(code, Code::ResourceExhausted, "{size}: {message}");
            assert!(message.contains(&limit.to_string()), "{message}");
        } else {
            assert_eq!(code, Code::Ok, "{size}: {message}");
        }
    }
    server.wait_until_idle().await;
}

#[tokio::test]
async fn the_token_and_the_deadline_hold_for_a_browser() {
    let server = spawn_server(Config {
        token: Some("sesame".into()),
        // The Mentat never answers: only the deadline can end the call.
        mentat_delay: Duration::from_secs(3600),
        ..test_config()
    })
    .await;
    let (code, _) = web_sum(server.addr, &[], 2.0).await.status();
    assert_eq!(code, Code::Unauthenticated);
    let bearer = ("authorization", "Bearer sesame");
    assert_eq!(
        web_sum(server.addr, &[bearer], 2.0).await.status().0,
        Code::Ok
    );

    let request = framed(
        &WeFoundHim {
            message: "Paul".into(),
        }
        .encode_to_vec(),
    );
    let headers = [GRPC_WEB, bearer, ("grpc-timeout", "100m")];
    let answer = http1(
        server.addr,
        "POST",
        "/tour.Dune/IsMuadDib",
        &headers,
        &request,
    )
    .await;
    assert_eq!(answer.status().0, Code::DeadlineExceeded);
    server.wait_until_idle().await;
}

#[tokio::test]
async fn the_page_is_served_beside_grpc_and_can_be_turned_off() {
    let server = spawn_server(test_config()).await;
    let page = http1(server.addr, "GET", "/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(String::from_utf8_lossy(&page.body).contains("/playground.js"));
    let script = http1(server.addr, "GET", "/playground.js", &[], b"").await;
    assert_eq!(
        (script.status, script.headers["content-type"].as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let descriptors = http1(server.addr, "GET", "/playground/descriptors", &[], b"").await;
    let set = prost_types::FileDescriptorSet::decode(&descriptors.body[..]).unwrap();
    let files: Vec<_> = set
        .file
        .iter()
        .filter_map(|file| file.name.as_deref())
        .collect();
    // tonic-types names its files without their folders.
    for file in [
        "tour.proto",
        "playground/playground.proto",
        "error_details.proto",
    ] {
        assert!(files.contains(&file), "{file} not in {files:?}");
    }
    let about = http1(server.addr, "GET", "/playground/server.json", &[], b"").await;
    assert_eq!(about.body, br#"{"token":false,"relay":true}"#);
    // Neither gRPC-Web nor the page: a 404 that says what the port serves.
    let other = http1(server.addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(other.status, 404);
    assert!(String::from_utf8_lossy(&other.body).contains("gRPC-Web"));

    let plain = spawn_server(Config {
        no_playground: true,
        ..test_config()
    })
    .await;
    assert_eq!(http1(plain.addr, "GET", "/", &[], b"").await.status, 404);
    assert_eq!(web_sum(plain.addr, &[], 2.0).await.status().0, Code::Ok);
    let watch = framed(
        &WatchRequest {
            call: Call::RouteChat as i32,
        }
        .encode_to_vec(),
    );
    let relay = http1(
        plain.addr,
        "POST",
        "/playground.Relay/Watch",
        &[GRPC_WEB],
        &watch,
    )
    .await;
    assert_eq!(relay.status().0, Code::Unimplemented);
}

#[tokio::test]
async fn only_the_origins_listed_may_call_from_another_page() {
    let server = spawn_server(Config {
        cors_origins: vec!["https://app.example.com".parse().unwrap()],
        ..test_config()
    })
    .await;
    let preflight = async |origin: &'static str| {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,grpc-timeout",
            ),
        ];
        http1(server.addr, "OPTIONS", "/tour.Summator/Sum", &headers, b"").await
    };
    let listed = preflight("https://app.example.com").await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(listed.headers["access-control-allow-headers"].contains("grpc-timeout"));
    let other = preflight("https://evil.example.net").await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));

    let call = web_sum(server.addr, &[("origin", "https://app.example.com")], 2.0).await;
    assert_eq!(
        call.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(call.headers["access-control-expose-headers"].contains("grpc-status"));
    // A page of another origin still reaches the server, but its browser will not let it
    // read the answer: no header allows it.
    let other = web_sum(server.addr, &[("origin", "https://evil.example.net")], 2.0).await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));

    // With no origin listed, no CORS at all: the server's own pages need none.
    let same_origin_only = spawn_server(test_config()).await;
    let call = web_sum(
        same_origin_only.addr,
        &[("origin", "https://app.example.com")],
        2.0,
    )
    .await;
    assert_eq!(call.status().0, Code::Ok);
    assert!(
        call.headers
            .keys()
            .all(|name| !name.starts_with("access-control-"))
    );
    let headers = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let preflight = http1(
        same_origin_only.addr,
        "OPTIONS",
        "/tour.Summator/Sum",
        &headers,
        b"",
    )
    .await;
    assert_eq!(preflight.status, 404);
}

#[tokio::test]
async fn the_relay_shows_a_chat_frame_by_frame() {
    let server = spawn_server(test_config()).await;
    let mut relay = RelayClient::new(server.channel().await);
    let events: Vec<_> = relay
        .watch(WatchRequest {
            call: Call::RouteChat as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .map(|event| event.unwrap())
        .collect()
        .await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.code, last.result.as_str()),
        (0, "4 notes sent, 2 replies heard")
    );
    let to_server = events
        .iter()
        .filter(|e| e.to_server && e.frame == "DATA")
        .count();
    let to_client = events
        .iter()
        .filter(|e| !e.to_server && e.frame == "DATA")
        .count();
    // Four notes, then the empty frame that ends the client's side; two replies, each in a
    // frame of its own.
    assert_eq!((to_server, to_client), (5, 2));
    assert!(events[0].to_server && events[0].frame == "HEADERS");
    assert!(
        events[0]
            .details
            .iter()
            .any(|line| line.contains("/tour.RouteGuide/RouteChat"))
    );
    let trailers = &events[events.len() - 2];
    assert!(!trailers.to_server && trailers.end_stream, "{trailers:?}");

    let record = relay
        .watch(WatchRequest {
            call: Call::RecordRoute as i32,
        })
        .await
        .unwrap();
    let last = record
        .into_inner()
        .collect::<Vec<_>>()
        .await
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(last.result, "4 points, 4 features, 84272 m");

    // A client that hangs up: the server learns of it from one frame.
    let hung_up = relay
        .watch(WatchRequest {
            call: Call::RouteChatHangUp as i32,
        })
        .await
        .unwrap();
    let events: Vec<_> = hung_up
        .into_inner()
        .map(|event| event.unwrap())
        .collect()
        .await;
    let reset = events
        .iter()
        .find(|e| e.frame == "RST_STREAM")
        .expect("an RST_STREAM");
    assert!(
        reset.to_server && reset.summary.contains("CANCEL"),
        "{reset:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.code, Code::Cancelled as u32, "{}", last.result);

    let unnamed = relay.watch(WatchRequest { call: 0 }).await.unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    server.wait_until_idle().await;
}

fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// tonic-web encodes each chunk of its answer on its own, padding included: decoded in
/// groups of four characters, as a browser's gRPC-Web client does.
fn base64_decode(text: &[u8]) -> Vec<u8> {
    text.chunks(4)
        .flat_map(|group| STANDARD.decode(group).expect("base64 from the server"))
        .collect()
}
