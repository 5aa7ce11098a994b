//! The article's client script, on nbio: a counter and one sender per server, taking turns.
//!
//! ```python
//! tasks = [other_task(),
//!          send_data_task(port=1234, data='foo'),
//!          send_data_task(port=5678, data='bar')]
//! ```
//!
//! Each entry becomes an nbio task. A sender connects, hands its payload to
//! [`AsyncTcpStream::write_all`] (the article's send loop, which waits for writability whenever
//! the socket's buffer is full), shuts down its write half to say "that was all", and reads the
//! server's `received N` line to confirm that every byte arrived.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbio::net::AsyncTcpStream;
use nbio::time::timeout;

use crate::counter::{self, CounterConfig};
use crate::meter::CountWaits;
use crate::progress::Live;
use crate::report::{duration, thousands};
use crate::server::parse_confirmation;
use crate::Failure;

/// What the article repeats: `'foobar\n' * 1024 * 1024`.
pub const PATTERN: &[u8] = b"foobar\n";

/// The article's repeat count: 1,048,576 times 7 bytes is 7,340,032 bytes.
pub const ARTICLE_REPEAT: usize = 1024 * 1024;

/// How long a connect may take before the client gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to confirm once everything was sent.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// The payload is handed to `write_all` in slices of this size, only so that the live display
/// moves between slices; one call with the whole payload would behave the same way.
const SLICE: usize = 256 * 1024;

/// What the client does.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// One sender per address, all at once.
    pub servers: Vec<SocketAddr>,
    /// The counter that counts meanwhile.
    pub counter: CounterConfig,
    /// Show live progress bars (the caller checks that stdout is a terminal).
    pub live: bool,
}

/// The payload: [`PATTERN`] repeated `repeat` times. Build it before entering the runtime:
/// making 7 MB is plain CPU work, and done inside a poll it would hold up every task.
///
/// ```
/// assert_eq!(demo::client::payload(demo::client::ARTICLE_REPEAT).len(), 7_340_032);
/// ```
pub fn payload(repeat: usize) -> Arc<[u8]> {
    PATTERN.repeat(repeat).into()
}

/// One sender's progress, shared with the live display. Atomics, not `Cell`s: with
/// `--threads N` the senders run on worker threads while the display runs on the `block_on`
/// thread.
#[derive(Debug)]
pub struct SendProgress {
    /// The server.
    pub addr: SocketAddr,
    /// Bytes to send.
    pub total: u64,
    /// Bytes `write_all` has taken so far.
    pub sent: AtomicU64,
    /// How often the send found the socket's buffer full and waited for writability.
    pub waits: Arc<AtomicU64>,
    /// Where the sender is (a `Phase`).
    phase: AtomicU8,
}

impl SendProgress {
    /// Where the sender is now.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Relaxed) {
            0 => Phase::Connecting,
            1 => Phase::Sending,
            2 => Phase::Confirming,
            _ => Phase::Done,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Relaxed);
    }

    /// Bytes taken so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Relaxed)
    }
}

/// Where a sender is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for the TCP handshake.
    Connecting,
    /// In `write_all`.
    Sending,
    /// Everything sent; waiting for the server's `received N`.
    Confirming,
    /// Confirmed.
    Done,
}

/// How one send went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReport {
    /// The server.
    pub addr: SocketAddr,
    /// Bytes written.
    pub sent: u64,
    /// Bytes the server says it received.
    pub confirmed: u64,
    /// Waits for room during the send (after a `WouldBlock` or a short write).
    pub waits: u64,
    /// From the start of the connect to the confirmation.
    pub elapsed: Duration,
}

/// How the whole client run went.
#[derive(Clone, Debug)]
pub struct ClientReport {
    /// Bytes each sender had to send.
    pub payload_len: u64,
    /// One per server, in the order they were given.
    pub sends: Vec<SendReport>,
    /// The counter's settings.
    pub counter: CounterConfig,
    /// The count when the senders started.
    pub counter_at_start: u64,
    /// The count when the last server had confirmed.
    pub counter_at_confirmed: u64,
    /// The count when the counter stopped (at its limit, or when the sends were done).
    pub counter_final: u64,
    /// From the start of the sends to the last confirmation.
    pub elapsed: Duration,
    /// The runtime's counters at the end.
    pub stats: nbio::Stats,
}

impl ClientReport {
    /// True when every server confirmed exactly the bytes that were sent to it.
    pub fn every_byte_arrived(&self) -> bool {
        self.sends
            .iter()
            .all(|send| send.sent == self.payload_len && send.confirmed == self.payload_len)
    }
}

/// Runs the counter and one sender per server, each sending `payload`, until every server
/// has confirmed (and the counter has reached its limit, if it has one). Must run inside an
/// nbio runtime.
///
/// The tasks are named (`counter`, `send 127.0.0.1:1234`, ...), so that nbio's slow-poll
/// warnings and traces say which one they mean.
///
/// # Errors
/// The first failure among the senders, in the order the servers were given: a refused or
/// timed-out connect, a server gone mid-send, a missing confirmation.
pub async fn run(config: &ClientConfig, payload: Arc<[u8]>) -> Result<ClientReport, Failure> {
    let count = Rc::new(Cell::new(0));
    // The article's task list, in its order: other_task() first, then the senders.
    let counter = nbio::task::Builder::new()
        .name("counter")
        .spawn_local(counter::count(config.counter.clone(), Rc::clone(&count)));
    let started = Instant::now();
    let counter_at_start = count.get();

    let mut senders = Vec::new();
    for &addr in &config.servers {
        let progress = Arc::new(SendProgress {
            addr,
            total: payload.len() as u64,
            sent: AtomicU64::new(0),
            waits: Arc::new(AtomicU64::new(0)),
            phase: AtomicU8::new(Phase::Connecting as u8),
        });
        let send = send_to(addr, Arc::clone(&payload), Arc::clone(&progress));
        // `spawn`, not `spawn_local`: on a multi-thread runtime (`--threads N`) the senders
        // run on the workers, side by side; on the article's one loop they take turns.
        let task = nbio::task::Builder::new()
            .name(&format!("send {addr}"))
            .spawn(send);
        senders.push((Arc::clone(&progress), task));
    }
    let progress: Vec<_> = senders.iter().map(|(p, _)| Arc::clone(p)).collect();
    let live = Live::start(config.live, progress, Rc::clone(&count), &config.counter);

    let mut sends = Vec::new();
    let mut first_failure = None;
    for (progress, handle) in senders {
        match handle.await {
            Ok(Ok(report)) => sends.push(report),
            Ok(Err(failure)) => {
                first_failure.get_or_insert(failure);
            }
            Err(err) => {
                first_failure.get_or_insert(Failure::new(format!(
                    "the task sending to {} failed: {err}",
                    progress.addr
                )));
            }
        }
    }
    let elapsed = started.elapsed();
    let counter_at_confirmed = count.get();
    if let Some(failure) = first_failure {
        live.abandon();
        return Err(failure);
    }
    if config.counter.limit.is_some() {
        // Replaying the article: the counter goes on to its limit, as other_task() did.
        let _ = counter.await;
    } else {
        counter.abort();
    }
    live.finish();
    Ok(ClientReport {
        payload_len: payload.len() as u64,
        sends,
        counter: config.counter.clone(),
        counter_at_start,
        counter_at_confirmed,
        counter_final: count.get(),
        elapsed,
        stats: nbio::stats(),
    })
}

/// One sender: the article's `send_data_task`, plus the confirmation.
async fn send_to(
    addr: SocketAddr,
    payload: Arc<[u8]>,
    progress: Arc<SendProgress>,
) -> Result<SendReport, Failure> {
    let started = Instant::now();
    let stream = match timeout(CONNECT_TIMEOUT, AsyncTcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(connect_failure(addr, &err)),
        Err(_elapsed) => {
            return Err(Failure::new(format!(
                "connecting to {addr} timed out after {}",
                duration(CONNECT_TIMEOUT)
            )))
        }
    };

    progress.set_phase(Phase::Sending);
    for slice in payload.chunks(SLICE) {
        // The article's whole `while len(data): try: sock.send(data) ... except EAGAIN:
        // yield ('w', sock)` loop is this one call. When the socket's buffer is full it waits
        // for writability, and the thread runs the counter and the servers meanwhile. Each
        // time it has to wait, its future returns `Pending`: `CountWaits` counts those.
        CountWaits::new(stream.write_all(slice), &progress.waits)
            .await
            .map_err(|err| send_failure(addr, &progress, &err))?;
        progress.sent.fetch_add(slice.len() as u64, Relaxed);
    }
    // Shutting down the write half is how the server learns that this was everything: its
    // next read returns 0 and it replies with its count.
    stream
        .shutdown(Shutdown::Write)
        .map_err(|err| send_failure(addr, &progress, &err))?;

    progress.set_phase(Phase::Confirming);
    let confirmed = read_confirmation(&stream, addr).await?;
    progress.set_phase(Phase::Done);
    Ok(SendReport {
        addr,
        sent: progress.sent(),
        confirmed,
        waits: progress.waits.load(Relaxed),
        elapsed: started.elapsed(),
    })
}

/// Reads the server's `received N` line (the server closes the connection after it).
async fn read_confirmation(stream: &AsyncTcpStream, addr: SocketAddr) -> Result<u64, Failure> {
    let mut reply = Vec::new();
    let read_reply = async {
        let mut buf = [0u8; 64];
        while reply.len() <= 64 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        io::Result::Ok(())
    };
    match timeout(CONFIRM_TIMEOUT, read_reply).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            return Err(Failure::new(format!(
                "reading the confirmation from {addr} failed: {err}"
            )))
        }
        Err(_elapsed) => {
            return Err(Failure::new(format!(
                "{addr} did not confirm the byte count within {} (is it a `demo server`?)",
                duration(CONFIRM_TIMEOUT)
            )))
        }
    }
    parse_confirmation(&String::from_utf8_lossy(&reply)).ok_or_else(|| {
        Failure::new(format!(
            "{addr} closed the connection without confirming the byte count \
             (a `demo server` replies \"received N\")"
        ))
    })
}

fn connect_failure(addr: SocketAddr, err: &io::Error) -> Failure {
    // nbio's connect errors already name the address ("connection refused by 127.0.0.1:5678").
    if err.kind() == io::ErrorKind::ConnectionRefused {
        Failure::new(format!(
            "{err} (is a server listening there? `demo server --port {}` starts one)",
            addr.port()
        ))
    } else {
        Failure::new(err.to_string())
    }
}

fn send_failure(addr: SocketAddr, progress: &SendProgress, err: &io::Error) -> Failure {
    let gone = matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    );
    Failure::new(format!(
        "sending to {addr} failed after {} of {} bytes: {err}{}",
        thousands(progress.sent()),
        thousands(progress.total),
        if gone { " (the server went away)" } else { "" }
    ))
}
