//! The counter's server: `cargo run --bin server` (or `-- 127.0.0.1:0` for any free port).

// ANCHOR: server
use tokio_stream::Stream;
use tonic::{Request, Response, Status, transport::Server};

mod proto {
    tonic::include_proto!("counter");
}
use proto::{
    Count, Limit, Numbers, Total,
    counter_server::{Counter, CounterServer},
};

struct MyCounter;

#[tonic::async_trait]
impl Counter for MyCounter {
    async fn add(&self, request: Request<Numbers>) -> Result<Response<Total>, Status> {
        let Numbers { a, b } = request.into_inner();
        let total = a
            .checked_add(b)
            .ok_or_else(|| Status::out_of_range("the total does not fit in 64 bits"))?;
        Ok(Response::new(Total { total }))
    }

    type CountToStream = std::pin::Pin<Box<dyn Stream<Item = Result<Count, Status>> + Send>>;

    async fn count_to(
        &self,
        request: Request<Limit>,
    ) -> Result<Response<Self::CountToStream>, Status> {
        let up_to = request.into_inner().up_to;
        let counts = (1..=up_to).map(|number| Ok(Count { number }));
        Ok(Response::new(Box::pin(tokio_stream::iter(counts))))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or("127.0.0.1:50052".to_owned());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("counting on {}", listener.local_addr()?);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    Server::builder()
        .add_service(CounterServer::new(MyCounter))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
// ANCHOR_END: server
