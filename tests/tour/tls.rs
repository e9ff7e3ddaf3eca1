//! TLS and mutual TLS: the right CA connects, a wrong one does not, an mTLS server refuses
//! clients without a certificate, and plaintext to a TLS port fails cleanly.

use std::sync::{Arc, LazyLock};

use grpc_tour::{
    lesson::{
        connect::{self, ConnectError},
        proto::{SumRequest, summator_client::SummatorClient},
    },
    production::{
        server::Config,
        tls::{self, ServerTls, Throwaway},
    },
};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, ServerName, pem::PemObject},
    },
};
use tonic::transport::Channel;

use crate::support::{PATIENCE, TestServer, spawn_server, test_config};

/// Key generation takes a moment: one CA for all the tests, and one stranger.
static PKI: LazyLock<Throwaway> = LazyLock::new(|| Throwaway::generate().unwrap());
static STRANGER: LazyLock<Throwaway> = LazyLock::new(|| Throwaway::generate().unwrap());

/// A TLS server; with `mutual`, one that also requires client certificates from [`PKI`].
async fn spawn_tls_server(mutual: bool) -> TestServer {
    let client_ca = mutual.then_some(&PKI.ca_cert);
    spawn_server(Config {
        tls: ServerTls::new(&PKI.server_cert, &PKI.server_key, client_ca),
        ..test_config()
    })
    .await
}

/// Connects over TLS trusting `trusted`'s CA, presenting `identity`'s client certificate
/// if given.
async fn connect(
    server: &TestServer,
    trusted: &Throwaway,
    identity: Option<&Throwaway>,
) -> Result<Channel, ConnectError> {
    let identity = identity.map(|pki| (&pki.client_cert, &pki.client_key));
    let config = tls::client_config(&trusted.ca_cert, identity);
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let endpoint = connect::endpoint(&url)?.tls_config(config).unwrap();
    tokio::time::timeout(PATIENCE, endpoint.connect())
        .await
        .expect("connecting ends, one way or the other")
        .map_err(|source| ConnectError::Unreachable { url, source })
}

/// Calls Sum on `channel`: only a successful call proves the whole handshake went through.
async fn sum(channel: Channel) -> Result<f64, tonic::Status> {
    let request = SumRequest {
        value1: 40.0,
        value2: 2.0,
    };
    let mut summator = SummatorClient::new(channel);
    let response = tokio::time::timeout(PATIENCE, summator.sum(request))
        .await
        .expect("the call ends, one way or the other")?;
    Ok(response.into_inner().value)
}

#[tokio::test]
async fn a_client_trusting_the_servers_ca_calls_over_tls() {
    let server = spawn_tls_server(false).await;
    let channel = connect(&server, &PKI, None).await.unwrap();
    assert_eq!(sum(channel).await.unwrap(), 42.0);
}

#[tokio::test]
async fn a_client_trusting_another_ca_cannot_connect() {
    let server = spawn_tls_server(false).await;
    let error = connect(&server, &STRANGER, None).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::Unreachable { .. }),
        "{error:?}"
    );
    let causes = format!("{error:?}");
    assert!(causes.contains("InvalidCertificate"), "{causes}");
}

#[tokio::test]
async fn mutual_tls_admits_a_client_certificate_from_the_ca_and_refuses_others() {
    let server = spawn_tls_server(true).await;

    let with_certificate = connect(&server, &PKI, Some(&PKI)).await.unwrap();
    assert_eq!(sum(with_certificate).await.unwrap(), 42.0);

    // With TLS 1.3 the client may finish its side of the handshake before the server has
    // judged its certificate, so the refusal shows at the connection or at the first call.
    let without = match connect(&server, &PKI, None).await {
        Ok(channel) => sum(channel).await.err().map(|s| s.to_string()),
        Err(error) => Some(format!("{error:?}")),
    };
    assert!(without.is_some(), "a client without a certificate got in");

    let foreign = match connect(&server, &PKI, Some(&STRANGER)).await {
        Ok(channel) => sum(channel).await.err().map(|s| s.to_string()),
        Err(error) => Some(format!("{error:?}")),
    };
    assert!(foreign.is_some(), "a certificate from another CA got in");
    assert_eq!(
        server.live.count(),
        0,
        "no refused client reached a handler"
    );
}

#[tokio::test]
async fn plaintext_to_a_tls_port_fails_cleanly() {
    let server = spawn_tls_server(false).await;

    let outcome = match tokio::time::timeout(PATIENCE, connect::connect(&server.url))
        .await
        .expect("connecting ends, one way or the other")
    {
        Ok(channel) => sum(channel).await.map(|_| ()),
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };

    let status = outcome.expect_err("plaintext gRPC cannot talk to a TLS port");
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
        ),
        "{status:?}"
    );
    // And the server is fine: a TLS client still gets in.
    let channel = connect(&server, &PKI, None).await.unwrap();
    assert_eq!(sum(channel).await.unwrap(), 42.0);
}

/// A TLS server whose connections must begin HTTP/2, TLS handshake included, within one
/// second.
async fn spawn_impatient_tls_server() -> TestServer {
    let mut config = test_config();
    config.tls = ServerTls::new(&PKI.server_cert, &PKI.server_key, None::<&str>);
    config.limits.connection.handshake_timeout = std::time::Duration::from_secs(1);
    spawn_server(config).await
}

/// Reads from `stream` until the server closes it; panics if it has not within PATIENCE.
async fn closed_by_the_server(mut stream: impl tokio::io::AsyncRead + Unpin) {
    let mut buffer = [0; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        while stream.read(&mut buffer).await.unwrap_or(0) > 0 {}
    })
    .await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
}

#[tokio::test]
async fn a_peer_that_finishes_tls_and_then_says_nothing_is_closed_at_the_handshake_timeout() {
    let server = spawn_impatient_tls_server().await;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(PKI.ca_cert.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let localhost = ServerName::try_from("localhost").unwrap();
    // The TLS handshake completes; then not a byte of HTTP/2.
    let tls = TlsConnector::from(Arc::new(client))
        .connect(localhost, tcp)
        .await
        .unwrap();
    closed_by_the_server(tls).await;
}

#[tokio::test]
async fn a_peer_that_never_begins_tls_is_closed_at_the_handshake_timeout() {
    let server = spawn_impatient_tls_server().await;
    let silent = TcpStream::connect(server.addr).await.unwrap();
    closed_by_the_server(silent).await;
}
