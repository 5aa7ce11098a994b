//! Step 2 of the ladder: the article's blocking client.
//!
//! What it shows: one `send` of 70 MB on a blocking socket does not return until the kernel
//! has taken every byte. The kernel copies what fits into the socket's buffer, puts the thread
//! to sleep until the server has read some of it, copies more, and so on. The call "succeeds"
//! (all bytes sent, as the article's `# True` says), but the thread could do nothing else in
//! the meantime.
//!
//! What the next step shows: a non-blocking socket, whose `send` returns at once with only
//! part of the data (step3_partial_send).
//!
//! Run it with `cargo run -p nbio --example step2_blocking_client`.
//!
//! ```python
//! sock.connect(('localhost', 1234))
//! data = 'foobar\n' * 10 * 1024 * 1024  # 70 MB of data
//! assert sock.send(data) == len(data)  # True
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

fn main() -> io::Result<()> {
    // The article's server, in a thread: read 1024 bytes at a time, count them.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> io::Result<usize> {
        let (mut conn, _) = listener.accept()?;
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
    let data = b"foobar\n".repeat(10 * 1024 * 1024); // 73,400,320 bytes: "70 MB of data"
    println!("sending {} bytes with one call to send()", data.len());

    let started = Instant::now();
    // One `send` system call, as the article's `sock.send(data)`. (`write_all` would loop;
    // on a blocking socket Linux's send already waits until everything was taken.)
    let sent = sock.write(&data)?;
    let blocked = started.elapsed();

    println!(
        "send() returned {sent} of {} bytes, after blocking this thread for {:.1} ms",
        data.len(),
        blocked.as_secs_f64() * 1e3
    );
    assert_eq!(sent, data.len(), "a blocking send takes everything"); // the article's `# True`
    println!("for all that time nothing else in this thread could run.");

    drop(sock); // close: the server's read returns 0
    let received = server.join().expect("the server thread panicked")?;
    assert_eq!(received, data.len());
    println!("the server received all {received} bytes");
    Ok(())
}
