//! Keepalive enforcement: a client that pings far more often than `--min-ping-interval`
//! is sent away with GOAWAY `ENHANCE_YOUR_CALM` (`too_many_pings`), as gRPC's servers do,
//! having cost the server almost no pongs; a client that pings politely is left alone.

use std::time::Duration;

use grpc_tour::{
    lesson::proto::{SumRequest, summator_client::SummatorClient},
    production::server::Config,
    wire::{
        Event, Relay, What,
        frame::{Direction, Direction as WireDirection, ErrorCode, Frame, FrameReader, PREFACE},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::transport::Endpoint;

use crate::support::{PATIENCE, spawn_server, test_config};

/// An HTTP/2 frame: its header, then `payload`.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    bytes.extend([kind, flags, 0, 0, 0, 0]);
    bytes.extend(payload);
    bytes
}

#[tokio::test]
async fn a_ping_flood_gets_goaway_enhance_your_calm_and_costs_almost_no_pongs() {
    let server = spawn_server(test_config()).await;
    let mut flood = TcpStream::connect(server.addr).await.unwrap();
    // The preface, empty SETTINGS, then a thousand PINGs at once.
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(0x4, 0, &[]));
    for i in 0..1000_u64 {
        bytes.extend(frame(0x6, 0, &i.to_be_bytes()));
    }
    // The server may close before it has read them all.
    let _ = flood.write_all(&bytes).await;

    // Everything the server sends, until it closes.
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0; 4096];
        while let Ok(read @ 1..) = flood.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("the server closes the connection");
    let frames = FrameReader::new(Direction::ToClient).push(&answer);
    let pongs = frames
        .iter()
        .filter(|frame| matches!(frame, Frame::Ping { ack: true, .. }))
        .count();
    let goaway = frames
        .iter()
        .find_map(|frame| match frame {
            Frame::GoAway { code, debug, .. } => Some((*code, debug.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no GOAWAY after {pongs} pongs: {frames:?}"));
    assert_eq!(goaway, (ErrorCode(0xb), "too_many_pings".to_owned()));
    assert!(pongs < 10, "{pongs} pongs for a flood");
}

/// One Sum(2, 3), then nothing but keepalive pings every 200 ms, over a connection watched
/// through a relay; returns the relay's events.
async fn a_second_of_pings(min_ping_interval: Duration) -> Vec<Event> {
    let mut config: Config = test_config();
    config.limits.connection.min_ping_interval = min_ping_interval;
    let server = spawn_server(config).await;
    let mut relay = Relay::start(server.addr.to_string()).await.unwrap();
    let channel = Endpoint::from_shared(relay.url())
        .unwrap()
        .http2_keep_alive_interval(Duration::from_millis(200))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .unwrap();
    let mut summator = SummatorClient::new(channel);
    let two_and_three = SumRequest {
        value1: 2.0,
        value2: 3.0,
    };
    summator.sum(two_and_three).await.unwrap();
    // Then nothing but the client's pings, until it has pinged five times or is sent away.
    let mut events = Vec::new();
    let mut pings = 0;
    while pings < 5 && !sent_away(&events) {
        let event = tokio::time::timeout(PATIENCE, relay.next())
            .await
            .expect("the client pings")
            .unwrap();
        if matches!(
            event.what,
            What::Frame(WireDirection::ToServer, Frame::Ping { ack: false, .. })
        ) {
            pings += 1;
        }
        events.push(event);
    }
    events
}

fn sent_away(events: &[Event]) -> bool {
    events.iter().any(|event| {
        matches!(
            event.what,
            What::Frame(WireDirection::ToClient, Frame::GoAway { .. })
        )
    })
}

#[tokio::test]
async fn a_client_that_pings_no_sooner_than_the_minimum_is_left_alone() {
    // Pings every 200 ms against a minimum of 50 ms: polite, however long it goes on.
    assert!(!sent_away(
        &a_second_of_pings(Duration::from_millis(50)).await
    ));
}

#[tokio::test]
async fn a_client_that_pings_every_200_ms_with_no_call_between_is_sent_away_by_the_default() {
    // gRPC's default minimum is five minutes: three strikes and the client goes.
    assert!(sent_away(
        &a_second_of_pings(Duration::from_secs(300)).await
    ));
}
