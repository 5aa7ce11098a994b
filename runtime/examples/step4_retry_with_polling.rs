//! Step 4 of the ladder: send the rest when the socket is writable again.
//!
//! What it shows: the article's retry loop. Send what the kernel takes; on `WouldBlock`
//! (EAGAIN), wait until the socket is writable, then send the rest. The article waits with
//! `select.select([], [sock], [])`; here the `polling` crate does that job, which nbio's
//! reactor is built on (epoll on Linux, kqueue on the BSDs and macOS). Every byte arrives, and
//! the loop never spins on a full buffer: it sleeps in the kernel until there is room.
//!
//! What the next step fixes: while this loop waits in `poller.wait`, the thread still does
//! nothing else, just as in step 2. The article's answer is to let several tasks take turns
//! around a single wait (step5_event_loop).
//!
//! Run it with `cargo run -p nbio --example step4_retry_with_polling`.
//!
//! ```python
//! while len(data):
//!     try:
//!         sent = sock.send(data)
//!         total_sent += sent
//!         data = data[sent:]
//!         print 'Sending data'
//!     except socket.error, e:
//!         if e.errno != errno.EAGAIN:
//!             raise e
//!         print 'Blocking with', len(data), 'remaining'
//!         select.select([], [sock], [])  # This blocks until
//! ```

#![warn(clippy::undocumented_unsafe_blocks)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use polling::{Event, Events, Poller};

/// The key the poller reports our socket's events under (one socket, so any number will do).
const SOCK: usize = 1;

/// How many lines of the article's prints to show before only counting them.
const SHOWN: usize = 4;

fn main() -> io::Result<()> {
    // The article's server, in a thread: reads 1024 bytes at a time, counts them.
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

    let stream = TcpStream::connect(addr)?;
    stream.set_nonblocking(true)?;
    let poller = Poller::new()?;
    let sock = Registered::new(&poller, stream, SOCK)?;

    let data = b"foobar\n".repeat(1024 * 1024); // 7,340,032 bytes, the article's 7 MB
    let data_size = data.len();
    println!("Bytes to send: {data_size}");

    let mut remaining: &[u8] = &data;
    let mut total_sent = 0;
    let (mut sends, mut waits) = (0, 0);
    let mut events = Events::new();
    while !remaining.is_empty() {
        match (&sock.stream).write(remaining) {
            Ok(sent) => {
                total_sent += sent;
                remaining = &remaining[sent..];
                sends += 1;
                if sends <= SHOWN {
                    println!("Sending data ({sent} bytes taken)");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                waits += 1;
                if waits <= SHOWN {
                    println!("Blocking with {} remaining", remaining.len());
                }
                // select.select([], [sock], []): ask to hear when the socket is writable, then
                // sleep in the kernel until it is. `polling` registers interest in oneshot
                // mode: one event, then silence until we ask again, so we ask on every wait.
                // If the socket became writable between the failed send and this call, the
                // kernel notices when the interest is registered and `wait` returns at once.
                poller.modify(&sock.stream, Event::writable(SOCK))?;
                events.clear();
                poller.wait(&mut events, None)?;
            }
            // A signal interrupted the call before it did anything: just try again.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err), // raise e
        }
    }
    println!("... {sends} sends and {waits} waits for writability in all (the first few shown)");

    assert_eq!(total_sent, data_size); // the article's `# True`, this time for real
    drop(sock); // deregisters, then closes: the server's read returns 0
    let received = server.join().expect("the server thread panicked")?;
    assert_eq!(received, data_size);
    println!("Bytes sent: {total_sent}; the server received {received}");
    Ok(())
}

/// A socket registered with a poller, which deletes itself from the poller when dropped.
///
/// # Invariant
/// The stream stays registered exactly as long as this value lives, and is deleted from the
/// poller before it is closed: `Drop::drop` runs before the fields are dropped.
struct Registered<'p> {
    poller: &'p Poller,
    stream: TcpStream,
}

impl<'p> Registered<'p> {
    fn new(poller: &'p Poller, stream: TcpStream, key: usize) -> io::Result<Registered<'p>> {
        // SAFETY: `Poller::add` requires the source to be deleted from the poller before it is
        // closed. The stream moves into the `Registered` returned here, whose `Drop` deletes it
        // from the poller before the stream field is dropped (and closed). If `add` fails,
        // nothing was registered and dropping the stream is fine.
        unsafe { poller.add(&stream, Event::none(key))? };
        Ok(Registered { poller, stream })
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        // An error would mean the fd was not registered; there is nothing left to undo.
        let _ = self.poller.delete(&self.stream);
    }
}
