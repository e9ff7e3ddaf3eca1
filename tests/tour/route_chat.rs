//! RouteGuide.RouteChat: notes shared between clients, replies while sending, many
//! clients at once, refusals, and clients that vanish mid-chat.

use std::borrow::Borrow;

use futures::{channel::mpsc, stream};
use grpc_tour::{
    lesson::proto::{RouteNote, route_guide_client::RouteGuideClient},
    production::server::Config,
};
use prost::Message;
use tonic::{Code, Streaming, transport::Channel};

use crate::support::{
    PATIENCE, TestServer, assert_bad_field, assert_status, note, point, spawn_server,
    spawn_test_server, test_config, vanish_mid_call,
};

fn messages<N: Borrow<RouteNote>>(notes: &[N]) -> Vec<&str> {
    notes.iter().map(|n| n.borrow().message.as_str()).collect()
}

/// Opens a chat that sends `outgoing`; fails the test if the server does not answer within
/// [`PATIENCE`] (as one that waited for the client's whole stream would not).
async fn open_chat(
    guide: &mut RouteGuideClient<Channel>,
    outgoing: mpsc::UnboundedReceiver<RouteNote>,
) -> Streaming<RouteNote> {
    tokio::time::timeout(PATIENCE, guide.route_chat(outgoing))
        .await
        .expect("the server answers before the client's stream ends")
        .unwrap()
        .into_inner()
}

/// The next reply's message; fails the test if none comes within [`PATIENCE`].
async fn next_reply(replies: &mut Streaming<RouteNote>) -> String {
    let reply = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .expect("a reply arrives while the client is still sending");
    reply.unwrap().expect("the chat is still open").message
}

/// Sends `notes` in one chat and returns every reply.
async fn chat(server: &TestServer, notes: Vec<RouteNote>) -> Vec<String> {
    let mut guide = server.route_guide().await;
    let mut replies = guide
        .route_chat(stream::iter(notes))
        .await
        .unwrap()
        .into_inner();
    let mut heard = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        heard.push(reply.message);
    }
    heard
}

// ANCHOR: replays
#[tokio::test]
async fn route_chat_replays_earlier_notes_at_the_same_point_then_stores_the_note() {
    let server = spawn_test_server().await;
    let (here, there) = (point(10.0, 10.0), point(20.0, 20.0));

    let heard = chat(
        &server,
        vec![
            note(here, "a"),
            note(there, "b"),
            note(here, "c"),
            note(here, "d"),
        ],
    )
    .await;
    assert_eq!(heard, ["a", "a", "c"]);

    // Another client at the same point hears everyone's notes, in arrival order.
    let heard = chat(&server, vec![note(here, "e")]).await;
    assert_eq!(heard, ["a", "c", "d"]);
    assert_eq!(
        messages(&server.notes.notes_at(&here)),
        ["a", "c", "d", "e"]
    );
    assert_eq!(messages(&server.notes.notes_at(&there)), ["b"]);
}
// ANCHOR_END: replays

#[tokio::test]
async fn route_chat_replies_while_the_client_is_still_sending() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let here = point(1.0, 2.0);
    let (sender, outgoing) = mpsc::unbounded();

    sender.unbounded_send(note(here, "first")).unwrap();
    sender.unbounded_send(note(here, "second")).unwrap();
    let mut replies = open_chat(&mut guide, outgoing).await;
    assert_eq!(next_reply(&mut replies).await, "first");

    sender.unbounded_send(note(here, "third")).unwrap();
    assert_eq!(next_reply(&mut replies).await, "first");
    assert_eq!(next_reply(&mut replies).await, "second");

    drop(sender);
    assert!(
        replies.message().await.unwrap().is_none(),
        "the chat ends with the client's stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_chatting_at_one_point_lose_no_note_and_keep_each_clients_order() {
    const CLIENTS: usize = 8;
    const NOTES: usize = 25;
    let server = spawn_test_server().await;
    let here = point(-33.0, 151.0);

    let mut chats = Vec::new();
    for client in 0..CLIENTS {
        let channel = server.channel().await;
        chats.push(tokio::spawn(async move {
            let notes = (0..NOTES).map(move |n| note(here, &format!("client {client}: note {n}")));
            let mut guide = RouteGuideClient::new(channel);
            let mut replies = guide
                .route_chat(stream::iter(notes))
                .await
                .unwrap()
                .into_inner();
            let mut heard = 0;
            while replies.message().await.unwrap().is_some() {
                heard += 1;
            }
            heard
        }));
    }
    let mut heard = 0;
    for chat in chats {
        heard += chat.await.unwrap();
    }

    // Every note is stored once, and each client's notes keep the order they were sent in.
    let stored = server.notes.notes_at(&here);
    let total = CLIENTS * NOTES;
    assert_eq!(stored.len(), total);
    for client in 0..CLIENTS {
        let prefix = format!("client {client}: ");
        let mine: Vec<&str> = messages(&stored)
            .into_iter()
            .filter(|m| m.starts_with(&prefix))
            .collect();
        let sent: Vec<String> = (0..NOTES).map(|n| format!("{prefix}note {n}")).collect();
        assert_eq!(mine, sent);
    }
    // The k-th note stored was answered with the k notes before it: nothing lost, nothing twice.
    assert_eq!(heard, total * (total - 1) / 2);
}

#[tokio::test]
async fn route_chat_refuses_a_note_without_a_location_and_stores_nothing_of_it() {
    let server = spawn_test_server().await;
    let mut guide = server.route_guide().await;
    let here = point(5.0, 5.0);
    let nowhere = RouteNote {
        location: None,
        message: "where am I?".to_owned(),
    };

    let notes = stream::iter([note(here, "kept"), nowhere, note(here, "never sent")]);
    let mut replies = guide.route_chat(notes).await.unwrap().into_inner();
    let status = replies.message().await.unwrap_err();

    assert_bad_field(&status, "location", "is required");
    assert_eq!(server.notes.len(), 1);
    assert_eq!(messages(&server.notes.notes_at(&here)), ["kept"]);
}

#[tokio::test]
async fn a_full_note_store_refuses_new_notes_with_resource_exhausted() {
    let server = spawn_server(Config {
        max_notes: 2,
        ..test_config()
    })
    .await;
    let mut guide = server.route_guide().await;
    let here = point(7.0, 7.0);

    let notes = stream::iter([note(here, "a"), note(here, "b"), note(here, "c")]);
    let mut replies = guide.route_chat(notes).await.unwrap().into_inner();
    assert_eq!(next_reply(&mut replies).await, "a");
    let status = replies.message().await.unwrap_err();

    assert_status(
        &status,
        Code::ResourceExhausted,
        "the note store is full (2 notes, --max-notes)",
    );
    assert_eq!(messages(&server.notes.notes_at(&here)), ["a", "b"]);
}

#[tokio::test]
async fn a_note_past_the_byte_budget_is_resource_exhausted_and_not_stored() {
    // Room for two notes of 1 KiB, not three: a count limit alone would take them all.
    let big = "x".repeat(1024);
    let size = note(point(8.0, 8.0), &big).encoded_len();
    let server = spawn_server(Config {
        max_note_bytes: 2 * size + size / 2,
        ..test_config()
    })
    .await;
    let mut guide = server.route_guide().await;
    let here = point(8.0, 8.0);

    let notes = stream::iter([note(here, &big), note(here, &big), note(here, &big)]);
    let mut replies = guide.route_chat(notes).await.unwrap().into_inner();
    assert_eq!(next_reply(&mut replies).await, big);
    let status = replies.message().await.unwrap_err();

    assert_status(&status, Code::ResourceExhausted, "--max-note-bytes");
    assert_eq!(server.notes.len(), 2);
    assert_eq!(server.notes.bytes(), 2 * size);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_route_chat_ends_the_servers_work() {
    let server = spawn_test_server().await;
    let live = server.live.clone();
    let here = point(3.0, 3.0);

    vanish_mid_call(server.url.clone(), move |channel| async move {
        let mut guide = RouteGuideClient::new(channel);
        let (sender, outgoing) = mpsc::unbounded();
        sender.unbounded_send(note(here, "hello")).unwrap();
        sender.unbounded_send(note(here, "anyone?")).unwrap();
        let mut replies = open_chat(&mut guide, outgoing).await;
        assert_eq!(next_reply(&mut replies).await, "hello");
        assert_eq!(
            live.count(),
            1,
            "the chat is open: the client never closed its stream"
        );
        (sender, replies)
    })
    .await;

    server.wait_until_idle().await;
    assert_eq!(
        messages(&server.notes.notes_at(&here)),
        ["hello", "anyone?"]
    );
}
