//! Step 3 of the ladder: a non-blocking send takes only part of the data.
//!
//! What it shows: after `set_nonblocking(true)` (the article's `sock.setblocking(0)`), `send`
//! never waits. It copies what fits into the socket's buffers and returns how much that was,
//! which for 70 MB is far less than 70 MB: the article's `assert sock.send(data) == len(data)`
//! fails with an AssertionError. Here the shortfall is printed instead of crashing. The next
//! `send`, with the buffers still full, fails at once with `EAGAIN` ("Resource temporarily
//! unavailable"), which Rust calls `io::ErrorKind::WouldBlock`.
//!
//! What the next step fixes: send the rest later, once the socket is writable again, waiting
//! for that with a poller instead of guessing (step4_retry_with_polling).
//!
//! Run it with `cargo run -p nbio --example step3_partial_send`.
//!
//! ```python
//! sock.setblocking(0)
//! data = 'foobar\n' * 10 * 1024 * 1024  # 70 MB of data
//! assert sock.send(data) == len(data)  # AssertionError
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

fn main() -> io::Result<()> {
    // A server that accepts, then does not read until we say so: the buffers between us fill
    // up and stay full, so what `send` does is the same on every run.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (go, wait_for_go) = mpsc::channel::<()>();
    let server = thread::spawn(move || -> io::Result<usize> {
        let (mut conn, _) = listener.accept()?;
        let _ = wait_for_go.recv(); // hold off reading
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            match conn.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    });

    let mut sock = TcpStream::connect(addr)?;
    sock.set_nonblocking(true)?; // sock.setblocking(0)
    let data = b"foobar\n".repeat(10 * 1024 * 1024); // 73,400,320 bytes

    // One send: it returns at once, with what fit.
    let sent = sock.write(&data)?;
    if sent < data.len() {
        println!(
            "send() sent only part: {sent} of {} bytes, {} left over",
            data.len(),
            data.len() - sent
        );
        println!(
            "(the article's `assert sock.send(data) == len(data)` raises AssertionError here)"
        );
    } else {
        println!("send() took all {sent} bytes: this system's socket buffers are unusually large");
    }

    // Keep sending: once the buffers are full, send fails at once instead of waiting.
    let mut extra = 0;
    let error = loop {
        match sock.write(&data[sent + extra..]) {
            Ok(n) => extra += n, // a little room opened up; try again
            Err(err) => break err,
        }
    };
    println!(
        "the next send() fails at once: {error} (kind {:?}, errno EAGAIN)",
        error.kind()
    );
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

    // Let the server read what was taken, and check that nothing more and nothing less arrived.
    let _ = go.send(());
    drop(sock);
    let received = server.join().expect("the server thread panicked")?;
    assert_eq!(received, sent + extra);
    println!(
        "the server received {received} bytes; the other {} were never sent",
        data.len() - received
    );
    Ok(())
}
