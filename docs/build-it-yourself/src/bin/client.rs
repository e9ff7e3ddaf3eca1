//! The counter's client: `cargo run --bin client` (or `-- http://127.0.0.1:PORT`).

// ANCHOR: client
use std::time::Duration;

use tonic::Request;

mod proto {
    tonic::include_proto!("counter");
}
use proto::{Limit, Numbers, counter_client::CounterClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("http://127.0.0.1:50052".to_owned());
    let mut counter = CounterClient::connect(url).await?;

    let mut add = Request::new(Numbers { a: 40, b: 2 });
    add.set_timeout(Duration::from_secs(5));
    let total = counter.add(add).await?.into_inner().total;
    println!("40 + 2 = {total}");

    let mut count = Request::new(Limit { up_to: 3 });
    count.set_timeout(Duration::from_secs(5));
    let mut counts = counter.count_to(count).await?.into_inner();
    while let Some(count) = counts.message().await? {
        println!("counted {}", count.number);
    }
    Ok(())
}
// ANCHOR_END: client
