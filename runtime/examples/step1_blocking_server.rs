//! Step 1 of the ladder: the article's blocking server.
//!
//! What it shows: `accept` and `read` on a blocking socket stop the thread until the kernel
//! has something for them. While the server waits for client A, who connected first but is
//! slow to send, client B's data has already arrived and sits in the kernel: the server cannot
//! even accept B until A is done. One blocked call holds up everything behind it.
//!
//! What the next step shows: the other side of the connection. A `send` of 70 MB blocks too,
//! until the kernel has taken every byte (step2_blocking_client).
//!
//! Run it with `cargo run -p nbio --example step1_blocking_server`.
//!
//! The article's server, for reference:
//!
//! ```python
//! sock.bind(('localhost', port))
//! sock.listen(5)
//! while True:
//!     conn, info = sock.accept()
//!     data = conn.recv(1024)
//!     while data:
//!         print data
//!         data = conn.recv(1024)
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How long client A waits before it sends anything.
const A_DELAY: Duration = Duration::from_millis(300);

fn main() -> io::Result<()> {
    // sock.bind(('localhost', port)); sock.listen(5). Port 0 asks the system for a free port,
    // so the example needs no port of its own (std's listen backlog is 128, not 5).
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let start = Instant::now();
    println!("server listening on {addr}");

    // Client A connects first (its connect returns before B starts, so it is first in the
    // listener's queue), then waits before sending. Client B connects and sends at once.
    let a = TcpStream::connect(addr)?;
    let client_a = thread::spawn(move || send_later(a, "A", A_DELAY, start));
    let client_b = thread::spawn(move || connect_and_send(addr, "B", start));

    // The article's loop, for two connections instead of `while True`, so that it ends.
    let mut order = Vec::new();
    for _ in 0..2 {
        let (mut conn, _peer) = listener.accept()?; // blocks until a client is queued
        let mut buf = [0u8; 1024];
        loop {
            let n = conn.read(&mut buf)?; // blocks until data (or the end) arrives
            if n == 0 {
                break; // the client closed its side: the article's `while data:` ends
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            println!("[{:>4} ms] server read: {}", ms(start), text.trim_end());
            order.push(text.chars().next().unwrap_or('?'));
        }
    }
    client_a.join().expect("client A panicked")?;
    client_b.join().expect("client B panicked")?;

    // A was accepted first, so B's message, although it arrived long before A's, is read
    // after it: the server was blocked in `read` on A the whole time.
    assert_eq!(order, ['A', 'B'], "the server reads A, then B");
    println!(
        "B sent its message at once, yet the server read it only after A's, {} ms in:",
        A_DELAY.as_millis()
    );
    println!("a blocking server serves one connection at a time.");
    Ok(())
}

/// Client A: already connected; waits, then sends and closes.
fn send_later(
    mut stream: TcpStream,
    name: &str,
    delay: Duration,
    start: Instant,
) -> io::Result<()> {
    thread::sleep(delay);
    let message = format!("{name}: hello, sent at {} ms", ms(start));
    stream.write_all(message.as_bytes())?;
    stream.shutdown(Shutdown::Write)
}

/// Client B: connects, sends at once, closes.
fn connect_and_send(addr: SocketAddr, name: &str, start: Instant) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    let message = format!("{name}: hello, sent at {} ms", ms(start));
    stream.write_all(message.as_bytes())?;
    println!("[{:>4} ms] client {name} sent its message", ms(start));
    stream.shutdown(Shutdown::Write)
}

fn ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}
