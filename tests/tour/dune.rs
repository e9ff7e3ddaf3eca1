//! Dune.IsMuadDib: the Mentat's random verdict, reproducible under a seed.

use grpc_tour::{
    lesson::{dune::Mentat, proto::WeFoundHim},
    production::server::Config,
};

use crate::support::{SEED, TestServer, assert_bad_field, spawn_server, spawn_test_server};

async fn ask(server: &TestServer, names: &[&str]) -> Vec<String> {
    let mut dune = server.dune().await;
    let mut answers = Vec::new();
    for name in names {
        let request = WeFoundHim {
            message: name.to_string(),
        };
        answers.push(
            dune.is_muad_dib(request)
                .await
                .unwrap()
                .into_inner()
                .message,
        );
    }
    answers
}

#[tokio::test]
async fn is_muad_dib_answers_as_the_seeded_mentat_would() {
    let server = spawn_test_server().await;
    let names = [
        "Paul Atreides",
        "Gurney Halleck",
        "Stilgar",
        "Chani",
        "Duncan Idaho",
    ];

    let answers = ask(&server, &names).await;

    let mentat = Mentat::new(Some(SEED));
    let mut expected = Vec::new();
    for name in names {
        expected.push(mentat.judge(name).await.unwrap());
    }
    assert_eq!(answers, expected);
    assert!(
        answers[0].starts_with("Hello minion, you ask me if Paul Atreides is the Muad'Dib... ")
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_verdicts_and_both_verdicts_occur() {
    let names = ["Paul Atreides"; 24];
    let seeded = |seed| Config {
        seed: Some(seed),
        ..Config::default()
    };
    let first = ask(&spawn_server(seeded(99)).await, &names).await;
    let second = ask(&spawn_server(seeded(99)).await, &names).await;

    assert_eq!(first, second);
    assert!(first.iter().any(|a| a.ends_with("... YES!")), "{first:?}");
    assert!(first.iter().any(|a| a.ends_with("... NO!")), "{first:?}");
}

#[tokio::test]
async fn is_muad_dib_refuses_an_empty_or_blank_name() {
    let server = spawn_test_server().await;
    let mut dune = server.dune().await;

    for blank in ["", "   "] {
        let request = WeFoundHim {
            message: blank.to_owned(),
        };
        let status = dune.is_muad_dib(request).await.unwrap_err();
        assert_bad_field(&status, "message", "must name the one you found");
    }
}
