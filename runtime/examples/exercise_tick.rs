//! The answer to the exercise of the guide's chapter 3, "Readiness and the reactor".
//!
//! The exercise: the readiness word clears a direction after `WouldBlock` only if its tick
//! has not moved since the operation read the word. Take that comparison out: which order of
//! events now loses a wakeup, with an edge-triggered poller?
//!
//! The answer, played step by step on a real socket and a real edge-triggered poller, on one
//! thread so that the order is exactly the one that hurts:
//!
//! 1. a read reads the word (ready: a new socket is guessed ready) and tries the syscall;
//! 2. the socket has nothing yet: `WouldBlock`;
//! 3. *now* the peer writes, and the reactor dispatches the poller's edge: the word's bit is
//!    set and its tick moves (nobody is waiting yet, so nobody is woken);
//! 4. the read clears the bit because of its `WouldBlock`, and goes to wait for the next edge.
//!
//! Without the comparison, step 4 wipes out step 3's news, and the read waits for an edge
//! that will never come: the data sits in the socket. With it, step 4 sees the tick moved,
//! keeps the bit, and the read simply retries. The loom model that checks the real code is
//! `loom_a_readiness_event_racing_a_failed_read_is_never_lost` in
//! `runtime/src/reactor/loom_tests.rs`; run it with the comparison removed from
//! `Source::clear_ready` to see loom find the same order among all the others:
//! `RUSTFLAGS="--cfg nbio_loom" CARGO_TARGET_DIR=target/loom cargo test -p nbio --lib --release racing_a_failed_read`.
//!
//! Run this answer with `cargo run -p nbio --example exercise_tick`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

/// The readiness word of one direction: a bit, and a tick that counts the poller's events.
#[derive(Clone, Copy, Debug)]
struct Word {
    ready: bool,
    tick: u64,
}

/// Plays the four steps; true if the read got its data, false if it would wait forever.
fn play(compare_ticks: bool) -> io::Result<bool> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut peer = TcpStream::connect(listener.local_addr()?)?;
    let (socket, _) = listener.accept()?;
    socket.set_nonblocking(true)?;
    let poller = Poller::new()?;
    // SAFETY: `polling` needs the socket deleted from the poller before it is closed: it is
    // deleted below, before `socket` goes out of scope, on every path that returns Ok; an
    // early error return drops the poller first (it is declared after the socket).
    unsafe { poller.add_with_mode(&socket, Event::readable(1), PollMode::Edge)? };
    let mut word = Word {
        ready: true,
        tick: 0,
    }; // a new socket: guessed ready
    let mut events = Events::new();

    // 1 and 2: read the word, try the syscall, get WouldBlock.
    let seen = word;
    let mut buf = [0u8; 16];
    let first = (&socket).read(&mut buf);
    assert_eq!(first.unwrap_err().kind(), io::ErrorKind::WouldBlock);

    // 3: the peer writes; the reactor dispatches the edge into the word.
    peer.write_all(b"news")?;
    poller.wait(&mut events, Some(Duration::from_secs(5)))?;
    assert_eq!(events.len(), 1, "the poller reported the edge");
    word.ready = true;
    word.tick += 1;

    // 4: the read clears the bit because of its WouldBlock.
    if !compare_ticks || word.tick == seen.tick {
        word.ready = false;
    }

    // Then: if the word says ready, retry; else wait for the next edge.
    let got = if word.ready {
        let n = (&socket).read(&mut buf)?;
        &buf[..n] == b"news"
    } else {
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(200)))?;
        !events.is_empty() // no new edge: nothing will ever wake this read
    };
    poller.delete(&socket)?;
    Ok(got)
}

fn main() -> io::Result<()> {
    let with = play(true)?;
    let without = play(false)?;
    println!(
        "with the tick comparison: the read {}",
        if with {
            "got its data"
        } else {
            "waits forever"
        }
    );
    println!(
        "without it: the read {}",
        if without {
            "got its data"
        } else {
            "waits forever for an edge that already came"
        }
    );
    assert!(with, "the comparison keeps the news");
    assert!(!without, "without it, the edge is lost");
    Ok(())
}
