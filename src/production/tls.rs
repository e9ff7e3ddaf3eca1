//! TLS and mutual TLS, with rustls (ended by the server itself, `production::connection`
//! says why; tonic's `ClientTlsConfig` on the client side): the flags that load certificates from PEM
//! files, and a throwaway certificate authority to try them with.
//!
//! With TLS, the client checks that the server's certificate was signed by a CA it trusts
//! (`--ca`) and names the host it dialled. With *mutual* TLS the server checks the client
//! the same way (`--client-ca`), so only clients holding a certificate from that CA can
//! connect at all: authentication before the first byte of gRPC.
//!
//! `grpc-tour certs DIR` writes a CA, a server certificate for `localhost` and
//! `127.0.0.1`, and a client certificate, all signed by that CA and made fresh each time
//! with `rcgen`: no openssl commands, and no private key is ever committed.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio_rustls::rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Why certificates could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A certificate could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// rcgen could not make a certificate.
    #[error("cannot make a certificate")]
    Generate(#[from] rcgen::Error),
    /// A PEM file holds no certificate or key of the kind its flag needs.
    #[error("{0}")]
    Parse(&'static str),
    /// rustls refused the certificates (a key that does not match, a CA it cannot use).
    #[error("TLS: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

/// The server's TLS flags: each file is read when the flag is parsed, so a missing one is a
/// usage error before the server starts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerTls {
    /// Serve TLS with this certificate (chain), in PEM; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key", value_parser = Pem::read)]
    pub tls_cert: Option<Pem>,

    /// The private key of --tls-cert, in PEM.
    #[arg(long, value_name = "PEM", requires = "tls_cert", value_parser = Pem::read)]
    pub tls_key: Option<Pem>,

    /// Mutual TLS: also require each client to present a certificate signed by this CA.
    #[arg(long, value_name = "PEM", requires = "tls_cert", value_parser = Pem::read)]
    pub client_ca: Option<Pem>,
}

impl ServerTls {
    /// TLS with the server's certificate and key; with `client_ca`, mutual TLS.
    pub fn new(
        cert: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        client_ca: Option<impl AsRef<[u8]>>,
    ) -> Self {
        let pem = |bytes: &dyn AsRef<[u8]>| Pem(bytes.as_ref().to_vec());
        ServerTls {
            tls_cert: Some(pem(&cert)),
            tls_key: Some(pem(&key)),
            client_ca: client_ca.as_ref().map(|ca| pem(ca)),
        }
    }

    /// The rustls settings to serve with, or `None` to serve plaintext: the certificate
    /// chain and its key, HTTP/2 offered by ALPN (a tonic client insists on it), and with
    /// `--client-ca`, a client certificate required and checked against that CA. As
    /// tonic's own `ServerTlsConfig` builds them; built here because the server ends TLS
    /// itself, below its connection watch (`production::connection` says why).
    pub fn config(&self) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let chain = CertificateDer::pem_slice_iter(cert.as_ref())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TlsError::Parse("--tls-cert: no certificate in PEM"))?;
        let key = PrivateKeyDer::from_pem_slice(key.as_ref())
            .map_err(|_| TlsError::Parse("--tls-key: no private key in PEM"))?;
        let builder = ServerConfig::builder();
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_ref()) {
                    let cert = cert.map_err(|_| TlsError::Parse("--client-ca: not PEM"))?;
                    roots.add(cert)?;
                }
                let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|_| TlsError::Parse("--client-ca: no usable CA certificate"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

/// The contents of a PEM file. Its `Debug` shows only its size, so that a private key
/// never reaches a log.
#[derive(Clone)]
pub struct Pem(Vec<u8>);

impl Pem {
    /// Reads the PEM file at `path`.
    pub fn read(path: &str) -> Result<Pem, TlsError> {
        fs::read(path).map(Pem).map_err(|source| TlsError::Read {
            path: path.into(),
            source,
        })
    }
}

impl AsRef<[u8]> for Pem {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

/// TLS that trusts `ca`; with `identity` (certificate, key), mutual TLS.
pub fn client_config(
    ca: impl AsRef<[u8]>,
    identity: Option<(impl AsRef<[u8]>, impl AsRef<[u8]>)>,
) -> ClientTlsConfig {
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    match identity {
        Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
        None => config,
    }
}

/// A throwaway certificate authority, with a server and a client certificate it signed,
/// all in PEM. For trying TLS and for tests; never for anything that matters.
#[derive(Debug, Clone)]
pub struct Throwaway {
    /// The CA's certificate: what clients (`--ca`) and mTLS servers (`--client-ca`) trust.
    pub ca_cert: String,
    /// The server's certificate, for `localhost` and `127.0.0.1`.
    pub server_cert: String,
    /// The server's private key.
    pub server_key: String,
    /// The client's certificate, for mutual TLS.
    pub client_cert: String,
    /// The client's private key.
    pub client_key: String,
}

/// The names the throwaway server certificate is valid for: how a client on the same
/// machine dials the server.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

impl Throwaway {
    /// Makes a new CA and two certificates, with fresh keys.
    pub fn generate() -> Result<Self, TlsError> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "grpc-tour throwaway CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

        let (server_cert, server_key) = leaf(
            &ca,
            SERVER_NAMES.map(String::from).to_vec(),
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert, client_key) = leaf(
            &ca,
            vec!["grpc-tour-client".to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(Throwaway {
            ca_cert: ca.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        })
    }

    /// Writes the five PEM files into `dir` (created if needed) and returns their paths.
    /// The keys are readable by their owner only.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(write_error(dir))?;
        let files = [
            ("ca.pem", &self.ca_cert, false),
            ("server.pem", &self.server_cert, false),
            ("server.key", &self.server_key, true),
            ("client.pem", &self.client_cert, false),
            ("client.key", &self.client_key, true),
        ];
        let mut written = Vec::new();
        for (name, pem, secret) in files {
            let path = dir.join(name);
            write_file(&path, pem, secret).map_err(write_error(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// A certificate for `names`, signed by `ca`, and its new key, both in PEM.
fn leaf(
    ca: &CertifiedIssuer<'_, KeyPair>,
    names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::new(names.clone())?;
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `contents` to `path`; a `secret` is readable by its owner only, where the system
/// has Unix file modes.
fn write_file(path: &Path, contents: &str, secret: bool) -> io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    options.open(path)?.write_all(contents.as_bytes())
}
