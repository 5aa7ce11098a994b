//! The answer to the exercise of the guide's chapter 7, "What the article's loop gets wrong".
//!
//! The exercise: make chapter 2's stage 3 loop look at the poller the way the article's loop
//! calls `select(..., 0)`: with a zero timeout every round, even when no task is ready. Count
//! the rounds while the only task waits 50 ms for a socket, and compare with the loop that
//! blocks (no timeout) when nothing is ready.
//!
//! The answer: the spinning loop goes round tens of thousands of times, each a system call
//! that finds nothing, and keeps a core busy for the whole wait; the blocking loop goes round
//! once or twice. nbio blocks the same way when its run queue is empty
//! (`CurrentThread::park`), and only looks without blocking between ready tasks.
//!
//! Run it with `cargo run -p nbio --example exercise_spin`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

/// Waits for `socket` to turn readable, a peer writing after 50 ms; `timeout` is what each
/// round asks the poller for. Returns the rounds it took.
fn rounds_until_readable(timeout: Option<Duration>) -> io::Result<u64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut peer = TcpStream::connect(listener.local_addr()?)?;
    let (socket, _) = listener.accept()?;
    socket.set_nonblocking(true)?;
    let poller = Poller::new()?;
    let key = socket.as_raw_fd() as usize;
    // SAFETY: the socket is deleted from the poller below, before it is dropped, on the path
    // that returns Ok; on an error the poller (declared after it) is dropped first.
    unsafe { poller.add(&socket, Event::readable(key))? };
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        peer.write_all(b"ready").map(|()| peer)
    });
    let mut events = Events::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        events.clear();
        poller.wait(&mut events, timeout)?;
        if events.iter().any(|event| event.key == key) {
            break;
        }
    }
    let _peer = writer.join().expect("the writer thread")?;
    let mut buf = [0u8; 8];
    assert_eq!((&socket).read(&mut buf)?, 5);
    poller.delete(&socket)?;
    Ok(rounds)
}

fn main() -> io::Result<()> {
    let started = Instant::now();
    let spinning = rounds_until_readable(Some(Duration::ZERO))?;
    let spun_for = started.elapsed();
    let blocking = rounds_until_readable(None)?;
    println!("select(..., 0) every round: {spinning} rounds in {spun_for:.0?} of waiting");
    println!("blocking when nothing is ready: {blocking} round(s)");
    assert!(
        blocking <= 2,
        "a blocking wait returns for the event (or a spurious wake)"
    );
    assert!(
        spinning > 10 * blocking,
        "the spinning loop goes round and round"
    );
    Ok(())
}
