//! Load: 8,000 TCP connections open at once on one runtime, each echoing 4 KiB, every byte
//! checked.
//!
//! Both ends live in this test process and on one runtime, so the runtime holds 16,000 sockets
//! at once, all of them registered with its reactor. What could break under that load: the
//! reactor's source table (keys, lookups per event), readiness lost among thousands of events
//! per wait, a connection served with another's bytes, the run queue growing to thousands of
//! tasks and shrinking back. Each client writes a message that only it could have written (its
//! index is in every 8 bytes), so a byte delivered to the wrong connection, lost or repeated
//! fails the comparison.
//!
//! This file holds a single test: it counts the process's open descriptors, which another test
//! running in parallel in the same process would disturb.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio_tests::{open_fds, raise_fd_limit, set_listen_backlog, watchdog, Barrier};

/// Connections held open at the same time.
const CONNECTIONS: usize = 8_000;
/// Bytes each client sends and gets back.
const MESSAGE: usize = 4096;
/// Connects in progress at once. The listener's backlog (at most `somaxconn`, 4,096 here)
/// must not overflow: a SYN dropped by a full queue is retried only after a second.
const CONNECTING_AT_ONCE: usize = 64;

/// Descriptors the test needs: two per connection, plus the listener, the runtime's poller and
/// the test harness's own.
fn descriptors_needed() -> u64 {
    2 * CONNECTIONS as u64 + 100
}

/// Client `id`'s message: `id` and the position, as little-endian words, so that no two
/// clients' messages share an 8-byte word and no message repeats itself.
fn message(id: usize) -> Vec<u8> {
    (0..MESSAGE / 8)
        .flat_map(|word| (((id as u64) << 32) | word as u64).to_le_bytes())
        .collect()
}

/// The server's side of one connection: echo one message, then close first.
async fn echo(conn: AsyncTcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; MESSAGE];
    conn.read_exact(&mut buf).await?;
    conn.write_all(&buf).await
}

/// What the clients found.
#[derive(Debug, Default)]
struct Tally {
    connected: AtomicUsize,
    bytes_checked: AtomicUsize,
    fds_while_all_open: AtomicUsize,
}

/// Client `id`: connect, wait until every other client has connected too, then send its
/// message and check the echo byte for byte, then see the server's end of stream.
async fn client(
    id: usize,
    stream: AsyncTcpStream,
    all_open: Barrier,
    tally: Arc<Tally>,
) -> io::Result<()> {
    tally.connected.fetch_add(1, SeqCst);
    all_open.wait().await;
    if id == 0 {
        tally.fds_while_all_open.store(open_fds(), SeqCst);
    }
    let sent = message(id);
    stream.write_all(&sent).await?;
    let mut echoed = vec![0u8; MESSAGE];
    stream.read_exact(&mut echoed).await?;
    if let Some(at) = sent.iter().zip(&echoed).position(|(a, b)| a != b) {
        return Err(io::Error::other(format!(
            "connection {id}: echoed byte {at} is {:#04x}, sent {:#04x}",
            echoed[at], sent[at]
        )));
    }
    tally.bytes_checked.fetch_add(MESSAGE, SeqCst);
    let mut after = [0u8; 1];
    match stream.read(&mut after).await? {
        0 => Ok(()),
        n => Err(io::Error::other(format!(
            "connection {id}: {n} bytes more than were sent"
        ))),
    }
}

/// Accepts `CONNECTIONS` connections and echoes on each in a task of its own.
async fn serve(listener: AsyncTcpListener) -> io::Result<Vec<nbio::JoinHandle<io::Result<()>>>> {
    let mut echoes = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let (conn, _) = listener.accept().await?;
        echoes.push(nbio::spawn(echo(conn)));
    }
    Ok(echoes)
}

/// Makes `CONNECTIONS` connections, `CONNECTING_AT_ONCE` at a time, and starts a client task on
/// each as soon as it is connected.
async fn connect_all(
    addr: SocketAddr,
    all_open: Barrier,
    tally: Arc<Tally>,
) -> io::Result<Vec<nbio::JoinHandle<io::Result<()>>>> {
    let next = Arc::new(AtomicUsize::new(0));
    let connectors: Vec<_> = (0..CONNECTING_AT_ONCE)
        .map(|_| {
            let (next, all_open, tally) = (Arc::clone(&next), all_open.clone(), tally.clone());
            nbio::spawn(async move {
                let mut clients = Vec::new();
                loop {
                    let id = next.fetch_add(1, SeqCst);
                    if id >= CONNECTIONS {
                        return io::Result::Ok(clients);
                    }
                    let stream = AsyncTcpStream::connect(addr).await?;
                    let task = client(id, stream, all_open.clone(), Arc::clone(&tally));
                    clients.push(nbio::spawn(task));
                }
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for connector in connectors {
        clients.extend(connector.await.expect("a connector task panicked")?);
    }
    Ok(clients)
}

#[test]
fn eight_thousand_connections_open_at_once_each_echo_4_kib_byte_exact() {
    let limit = raise_fd_limit();
    if limit < descriptors_needed() {
        eprintln!(
            "skipped: {CONNECTIONS} connections need {} descriptors, and RLIMIT_NOFILE allows \
             only {limit} here (raise the hard limit to run this test)",
            descriptors_needed()
        );
        return;
    }
    let fds_before = open_fds();
    let started = Instant::now();
    let (tally, stats) = watchdog("8,000 echo connections", Duration::from_secs(60), || {
        // The last arrival at the barrier wakes 8,000 tasks in one poll: slow, and expected.
        let runtime = nbio::Runtime::builder()
            .slow_poll_threshold(None)
            .build()
            .unwrap();
        let tally = Arc::new(Tally::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        set_listen_backlog(&listener, 4096).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = AsyncTcpListener::from_std(listener).unwrap();
        let all_open = Barrier::new(CONNECTIONS);
        runtime
            .block_on(async {
                let server = nbio::spawn(serve(listener));
                let clients = connect_all(addr, all_open, Arc::clone(&tally)).await?;
                let echoes = server.await.expect("the server task panicked")?;
                for handle in clients.into_iter().chain(echoes) {
                    handle.await.expect("a connection task panicked")?;
                }
                io::Result::Ok(())
            })
            .unwrap();
        let stats = runtime.stats();
        drop(runtime);
        (tally, stats)
    });
    let fds_after = open_fds();
    let fds_while_all_open = tally.fds_while_all_open.load(SeqCst);
    eprintln!(
        "{CONNECTIONS} connections held at once ({fds_while_all_open} descriptors open, \
         {fds_before} before and {fds_after} after), {} bytes echoed and checked in {:.1?}; {stats}",
        tally.bytes_checked.load(SeqCst),
        started.elapsed()
    );
    assert_eq!(tally.connected.load(SeqCst), CONNECTIONS);
    assert_eq!(tally.bytes_checked.load(SeqCst), CONNECTIONS * MESSAGE);
    assert!(
        fds_while_all_open >= fds_before + 2 * CONNECTIONS,
        "not every connection was open at once: {fds_while_all_open} descriptors open, \
         {fds_before} before the test"
    );
    assert_eq!(stats.tasks_alive, 0, "{stats}");
    assert_eq!(fds_after, fds_before, "descriptors leaked");
}
