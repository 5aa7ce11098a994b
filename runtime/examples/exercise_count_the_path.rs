//! The answer to exercise 1 of the guide's chapter 6, "One `write_all`, end to end".
//!
//! The exercise: run the chapter's scene (one task writes 32 MiB to a peer that reads nothing
//! for a while) and count how often the writer had to wait; then let the peer read at once and
//! count again. This program runs the scene twice and prints what `nbio::stats()` saw each
//! time. Run it with `NBIO_EXPLAIN=1` to see each short write, sleep, event and poll narrated:
//!
//! ```text
//! cargo run -p nbio --example exercise_count_the_path
//! NBIO_EXPLAIN=1 cargo run -p nbio --example exercise_count_the_path 2>&1 | grep -E "short write|WouldBlock|woke"
//! ```
//!
//! What to notice: even with a peer that reads at once, the writer waits. Loopback moves bytes
//! as fast as the reader copies them out, and the writer, polled on the same thread, can only
//! run again when the reader's task has had its turn: each wait is a short write (the kernel's
//! buffer was full), then an edge from the poller when the reader made room.

use std::io;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};

/// More than the kernel buffers between two loopback sockets.
const SIZE: usize = 32 << 20;

/// Runs the scene with the peer idle for `idle` first; returns the waits and events it took.
fn scene(idle: Duration) -> io::Result<(u64, u64)> {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let data = vec![0u8; SIZE]; // made here: filling 32 MiB inside a poll would hold the thread
        let before = nbio::stats();
        let writer = nbio::spawn(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            stream.write_all(&data).await
        });
        let (peer, _) = listener.accept().await?;
        nbio::time::sleep(idle).await;
        let mut buf = vec![0u8; 1 << 20];
        let mut received = 0;
        while received < SIZE {
            match peer.read(&mut buf).await? {
                0 => break,
                n => received += n,
            }
        }
        writer.await.map_err(io::Error::other)??;
        assert_eq!(received, SIZE, "every byte arrived");
        let after = nbio::stats();
        let waits =
            (after.would_block + after.short_writes) - (before.would_block + before.short_writes);
        Ok((waits, after.io_events - before.io_events))
    })
}

fn main() -> io::Result<()> {
    for idle in [Duration::from_millis(20), Duration::ZERO] {
        let (waits, events) = scene(idle)?;
        println!(
            "peer idle for {idle:?}: the writer waited {waits} times; the poller delivered {events} events"
        );
        assert!(waits >= 1, "32 MiB never fit in loopback's buffers at once");
    }
    Ok(())
}
