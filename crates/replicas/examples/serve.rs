//! Serves one replica until Ctrl-C, for manual checks in a browser or with curl.
//!
//! `cargo run -p switchyard-replicas --example serve -- deepseek [127.0.0.1:8787]`
//! prints the base URL; `GET /__replica/requests` shows what the site received.

use std::net::SocketAddr;

use switchyard_replicas::{Knobs, ReplicaServer, Site};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let site = args.next().unwrap_or_else(|| "deepseek".into());
    let site = Site::from_slug(&site).ok_or_else(|| format!("unknown site {site:?}"))?;
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    let server = ReplicaServer::start_on(site, Knobs::default(), addr).await?;
    println!("{} replica at {}", site.name(), server.base_url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
