//! A layer-4 balancer in miniature, for the example and the tests: each new TCP connection
//! goes to the next replica on a list, round robin, and stays on it for its life, as it
//! would behind a TCP load balancer or a Kubernetes `Service`'s virtual IP. A replica added
//! to the list gets only the connections made after it joined: what
//! `--max-connection-age` is for (docs/load-balancing.md).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

/// The replicas' addresses, and where the next connection goes.
#[derive(Debug, Clone, Default)]
pub struct Pinned {
    replicas: Arc<Mutex<Vec<SocketAddr>>>,
    next: Arc<AtomicUsize>,
}

impl Pinned {
    /// A balancer over the replicas at `urls` (`http://IP:PORT`).
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a str>) -> Pinned {
        let pinned = Pinned::default();
        for url in urls {
            pinned.add(url);
        }
        pinned
    }

    /// Adds a replica: new connections may go to it from now on.
    pub fn add(&self, url: &str) {
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("a replica's url is http://IP:PORT");
        self.replicas.lock().unwrap().push(addr);
    }

    /// A client channel whose every connection, the first and each made again after a
    /// GOAWAY, is placed by this balancer.
    pub fn channel(&self) -> Channel {
        let pinned = self.clone();
        Endpoint::from_static("http://pinned.invalid").connect_with_connector_lazy(service_fn(
            move |_: Uri| {
                let addr = pinned.pick();
                async move {
                    let tcp = TcpStream::connect(addr).await?;
                    // As tonic's own connector does: no waiting to fill a packet.
                    tcp.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(TokioIo::new(tcp))
                }
            },
        ))
    }

    fn pick(&self) -> SocketAddr {
        let replicas = self.replicas.lock().unwrap();
        replicas[self.next.fetch_add(1, Ordering::Relaxed) % replicas.len()]
    }
}
