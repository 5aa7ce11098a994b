//! The article's scene in one process: two servers and the client, all tasks of one nbio
//! runtime on one thread.
//!
//! The article needs three processes: `python server.py 1234`, `python server.py 5678`, and
//! the client script. Here the servers are tasks too. They listen on ports the system picks
//! (`127.0.0.1:0`), so the scene runs on any machine without a port to choose.

use std::sync::Arc;

use nbio::net::AsyncTcpListener;

use crate::client::{self, ClientConfig, ClientReport};
use crate::server::{self, Log, ServerConfig};
use crate::Failure;

/// How many servers the scene starts: the article's two.
pub const SERVERS: usize = 2;

/// Starts two servers, runs the client against them (each sender sending `payload`), and
/// returns its report. Must run inside an nbio runtime. `client.servers` is ignored: the scene
/// fills it in.
///
/// ```
/// use demo::client::{payload, ClientConfig};
/// use demo::counter::CounterConfig;
///
/// let client = ClientConfig {
///     servers: Vec::new(),
///     counter: CounterConfig::default(),
///     live: false,
/// };
/// let payload = payload(10_000); // 70,000 bytes to each server: a quick scene
/// let report = nbio::block_on(demo::scene::run(client, payload, 1024)).unwrap();
/// assert!(report.every_byte_arrived());
/// assert_eq!(report.sends.len(), 2);
/// ```
///
/// # Errors
/// A server that cannot bind or fails, or any failure of the client.
pub async fn run(
    mut client: ClientConfig,
    payload: Arc<[u8]>,
    read_size: usize,
) -> Result<ClientReport, Failure> {
    let mut servers = Vec::new();
    client.servers.clear();
    for _ in 0..SERVERS {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")
            .map_err(|err| Failure::new(format!("starting a server failed: {err}")))?;
        let addr = listener
            .local_addr()
            .map_err(|err| Failure::new(format!("starting a server failed: {err}")))?;
        let config = ServerConfig {
            read_size,
            print: false,
            connections: Some(1), // the scene's client connects once; then the server is done
            log: Log::Quiet,
        };
        client.servers.push(addr);
        let server = nbio::task::Builder::new()
            .name(&format!("server {addr}"))
            .spawn(server::serve(listener, config));
        servers.push((addr, server));
    }

    let report = client::run(&client, payload).await?;

    for (addr, server) in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                return Err(Failure::new(format!("the server on {addr} failed: {err}")))
            }
            Err(err) => return Err(Failure::new(format!("the server on {addr} failed: {err}"))),
        }
    }
    Ok(report)
}
