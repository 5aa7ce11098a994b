//! The article's server, on nbio.
//!
//! ```python
//! sock.bind(('localhost', port)); sock.listen(5)
//! while True:
//!     conn, info = sock.accept()
//!     data = conn.recv(1024)
//!     while data:
//!         print data
//!         data = conn.recv(1024)
//! ```
//!
//! The same loop, with two differences. Each connection is its own task, so one slow client
//! does not keep the others waiting as the article's blocking `accept`/`recv` loop does. And
//! when a client has sent everything (it shuts down its write half, so `read` returns 0), the
//! server replies `received N` with the byte count: that is how a client confirms every byte
//! arrived. Every connection's count is kept in a [`Ledger`], so that a server stopped with
//! Ctrl-C can say what each connection had sent by then.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::task::JoinSet;

use crate::report::{duration, thousands};

/// A connection task that keeps finding data yields after reading this many bytes.
const YIELD_EVERY: usize = 64 * 1024;

/// How a server reads and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Bytes asked for per `read` (the article's `conn.recv(1024)`).
    pub read_size: usize,
    /// Copy the received data to stdout, as the article's `print data` does.
    pub print: bool,
    /// Stop after serving this many connections; `None` serves until the process is stopped.
    pub connections: Option<u64>,
    /// Where the server says what it does.
    pub log: Log,
}

impl Default for ServerConfig {
    /// Reads of 1024 bytes, nothing printed, serves forever, silent.
    fn default() -> ServerConfig {
        ServerConfig {
            read_size: 1024,
            print: false,
            connections: None,
            log: Log::Quiet,
        }
    }
}

/// Where a server writes its status lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// Nowhere: the scene's servers let the client's summary speak for them.
    Quiet,
    /// To stdout.
    Stdout,
    /// To stderr, which keeps stdout for the data when `--print` echoes it.
    Stderr,
}

impl Log {
    fn line(self, line: std::fmt::Arguments<'_>) {
        match self {
            Log::Quiet => {}
            Log::Stdout => println!("{line}"),
            Log::Stderr => eprintln!("{line}"),
        }
    }
}

/// The reply that confirms a connection's byte count: `received 7340032\n`.
pub fn confirmation(bytes: u64) -> String {
    format!("received {bytes}\n")
}

/// Reads a confirmation line back; `None` if it is not one.
///
/// ```
/// assert_eq!(demo::server::parse_confirmation(&demo::server::confirmation(42)), Some(42));
/// assert_eq!(demo::server::parse_confirmation("hello\n"), None);
/// ```
pub fn parse_confirmation(line: &str) -> Option<u64> {
    line.strip_prefix("received ")?.trim_end().parse().ok()
}

/// What a server has received on each connection so far, in the order they came.
///
/// ```
/// let ledger = demo::server::Ledger::default();
/// assert_eq!(ledger.lines(), ["no connection was made"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    connections: Arc<Mutex<Vec<Entry>>>,
}

#[derive(Debug)]
struct Entry {
    peer: SocketAddr,
    received: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl Ledger {
    /// Records a new connection; returns its byte count and its "finished" flag.
    fn open(&self, peer: SocketAddr) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
        let entry = Entry {
            peer,
            received: Arc::default(),
            done: Arc::default(),
        };
        let handles = (Arc::clone(&entry.received), Arc::clone(&entry.done));
        self.lock().push(entry);
        handles
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One line per connection: its peer, the bytes received, and whether it had finished.
    pub fn lines(&self) -> Vec<String> {
        let connections = self.lock();
        if connections.is_empty() {
            return vec!["no connection was made".to_string()];
        }
        connections
            .iter()
            .map(|entry| {
                let state = if entry.done.load(Relaxed) {
                    "finished"
                } else {
                    "still open"
                };
                format!(
                    "{}: received {} bytes, {state}",
                    entry.peer,
                    thousands(entry.received.load(Relaxed))
                )
            })
            .collect()
    }
}

/// Accepts connections on `listener` and serves each one in its own task, until
/// `config.connections` have been served (or forever).
///
/// ```
/// use demo::server::{serve, ServerConfig};
/// use nbio::net::{AsyncTcpListener, AsyncTcpStream};
///
/// nbio::block_on(async {
///     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let config = ServerConfig { connections: Some(1), ..ServerConfig::default() };
///     let server = nbio::spawn(serve(listener, config));
///
///     let stream = AsyncTcpStream::connect(addr).await?;
///     stream.write_all(b"foobar\n").await?;
///     stream.shutdown(std::net::Shutdown::Write)?; // "that was all"
///     let mut reply = [0u8; 16];
///     let n = stream.read(&mut reply).await?;
///     assert_eq!(&reply[..n], b"received 7\n");
///     server.await.unwrap()
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// If accepting fails for a reason other than a client that gave up. A failure of one
/// connection is logged and ends only that connection.
pub async fn serve(listener: AsyncTcpListener, config: ServerConfig) -> io::Result<()> {
    serve_recording(listener, config, Ledger::default()).await
}

/// [`serve`], keeping each connection's count in `ledger` as it goes. The connections are the
/// server's: if its future is dropped (its task aborted on Ctrl-C), they are aborted with it.
pub async fn serve_recording(
    listener: AsyncTcpListener,
    config: ServerConfig,
    ledger: Ledger,
) -> io::Result<()> {
    let mut served = 0;
    let mut connections = JoinSet::new();
    while !config.connections.is_some_and(|limit| served >= limit) {
        let (conn, peer) = listener.accept().await?;
        served += 1;
        config.log.line(format_args!("{peer}: connected"));
        let config = config.clone();
        let (received, done) = ledger.open(peer);
        connections.spawn(async move {
            match serve_connection(&conn, &config, &received).await {
                Ok(report) => config.log.line(format_args!("{peer}: {report}")),
                Err(err) => config.log.line(format_args!("{peer}: {err}")),
            }
            done.store(true, Relaxed);
        });
        // Results are only log lines: collect the finished ones as we go.
        while let Some(Some(_)) = futures_lite::future::poll_once(connections.join_next()).await {}
    }
    // With a limit, wait until the last connection is done before saying the server is.
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Reads one connection to its end, then confirms the count; returns a line for the log.
async fn serve_connection(
    conn: &AsyncTcpStream,
    config: &ServerConfig,
    counted: &AtomicU64,
) -> io::Result<String> {
    let started = Instant::now();
    let mut buf = vec![0u8; config.read_size.max(1)];
    let mut received: u64 = 0;
    let mut since_yield = 0;
    loop {
        // conn.recv(1024): when nothing has arrived, this task waits and others run.
        let n = conn
            .read(&mut buf)
            .await
            .map_err(|err| with_context(err, "reading", received))?;
        if n == 0 {
            break; // The client shut down its write half: that was everything.
        }
        received += n as u64;
        counted.store(received, Relaxed);
        // A client on the same machine can keep the socket full, and then `read` never has to
        // wait: this loop would hold the thread until the client is done. nbio is cooperative,
        // like the article's loop, so a task that always finds work yields now and then.
        since_yield += n;
        if since_yield >= YIELD_EVERY {
            since_yield = 0;
            nbio::yield_now().await;
        }
        if config.print {
            // `print data`. Writing to stdout is a blocking call; fine for a demo that asks
            // for it, but it holds up every other task while the terminal catches up.
            io::stdout().write_all(&buf[..n])?;
        }
    }
    conn.write_all(confirmation(received).as_bytes())
        .await
        .map_err(|err| with_context(err, "confirming", received))?;
    Ok(format!(
        "received {} bytes in {}; confirmed",
        thousands(received),
        duration(started.elapsed())
    ))
}

fn with_context(err: io::Error, step: &str, received: u64) -> io::Error {
    io::Error::new(
        err.kind(),
        format!(
            "{step} failed after {} bytes received: {err}",
            thousands(received)
        ),
    )
}

/// The address a server listens on, for its first log line.
pub fn listening_line(addr: SocketAddr, config: &ServerConfig) -> String {
    format!(
        "listening on {addr}, reading {} bytes at a time; stop with Ctrl-C",
        thousands(config.read_size as u64)
    )
}
