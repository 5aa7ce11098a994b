//! Plain blocking std threads: W1's count servers (shared by every runtime), and the "std
//! threads" column of W1 and W2, the limit an async runtime is measured against for bulk TCP.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use crate::measure::{median, ms};
use crate::workloads::Figures;

/// The size of the count servers' read buffer.
const SERVER_BUFFER: usize = 64 * 1024;

/// Starts W1's two servers on 127.0.0.1 and returns their addresses. Each reads a connection
/// to its end into a 64 KiB buffer and replies with the byte count (8 bytes, little endian)
/// once the client has half-closed, then serves the next connection. They run on their own
/// threads for the rest of the process, identical whichever runtime is the client.
pub fn start_count_servers() -> [SocketAddr; 2] {
    [(); 2].map(|()| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a W1 count server");
        let addr = listener.local_addr().expect("count server address");
        thread::Builder::new()
            .name("count-server".into())
            .spawn(move || serve_counts(listener))
            .expect("start a count server thread");
        addr
    })
}

fn serve_counts(listener: TcpListener) {
    let mut buf = vec![0u8; SERVER_BUFFER];
    for conn in listener.incoming() {
        let result = conn.and_then(|mut conn| {
            let total = drain(&mut conn, &mut buf)?;
            conn.write_all(&total.to_le_bytes())
        });
        if let Err(err) = result {
            eprintln!("compare: W1 count server: {err}");
        }
    }
}

/// Reads until end of stream; returns how many bytes came.
fn drain(conn: &mut TcpStream, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match conn.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Checks a count server's reply against what was sent.
pub fn check_count(reply: [u8; 8], sent: usize) {
    let counted = u64::from_le_bytes(reply);
    assert_eq!(
        counted, sent as u64,
        "W1: the server counted {counted} bytes, the client sent {sent}"
    );
}

/// One client of W1 on a blocking thread: send, half-close, read the count.
fn send_and_check(addr: SocketAddr, payload: &[u8]) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(payload)?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = [0u8; 8];
    stream.read_exact(&mut reply)?;
    check_count(reply, payload.len());
    Ok(())
}

/// W1 with two blocking threads per round (no counter: a blocked thread has no one to yield
/// to). Thread creation is inside the round, as task creation is for the runtimes.
pub fn demo(addrs: [SocketAddr; 2], payload: &'static [u8], rounds: usize) -> Figures {
    let mut round_ms = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        let start = Instant::now();
        thread::scope(|scope| {
            let senders = addrs.map(|addr| scope.spawn(move || send_and_check(addr, payload)));
            for sender in senders {
                sender
                    .join()
                    .expect("a W1 sender thread panicked")
                    .expect("W1 send over std");
            }
        });
        // Round 0 warms up (connections, page faults in the payload, the servers' buffers).
        if round > 0 {
            round_ms.push(ms(start.elapsed()));
        }
    }
    vec![("round_ms", median(&round_ms))]
}

/// W2 with a thread per connection on both sides.
pub fn echo(clients: usize, round_trips: usize) -> Figures {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the W2 echo server");
    let addr = listener.local_addr().expect("echo server address");
    // The accept thread stays blocked in accept() after the clients are done; the process
    // exits under it.
    thread::spawn(move || {
        for conn in listener.incoming() {
            let conn = conn.expect("W2 std accept");
            conn.set_nodelay(true).expect("W2 std nodelay");
            thread::spawn(move || echo_connection(conn));
        }
    });
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| thread::spawn(move || echo_client(addr, round_trips)))
        .collect();
    for handle in handles {
        handle.join().expect("a W2 client thread panicked");
    }
    let elapsed = start.elapsed();
    let rate = (clients * round_trips) as f64 / elapsed.as_secs_f64();
    vec![("round_trips_per_s", rate)]
}

fn echo_connection(mut conn: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn echo_client(addr: SocketAddr, round_trips: usize) {
    let mut stream = TcpStream::connect(addr).expect("W2 std connect");
    stream.set_nodelay(true).expect("W2 std nodelay");
    let message = crate::workloads::echo_message();
    let mut reply = [0u8; 64];
    for _ in 0..round_trips {
        stream.write_all(&message).expect("W2 std write");
        stream.read_exact(&mut reply).expect("W2 std read");
        assert_eq!(reply, message, "W2: the echo differs from the message");
    }
}
