//! Step 6 of the ladder: the same scene with nbio and async/await.
//!
//! What it shows: the three tasks of step 5 written as `async fn`s, which read like the
//! blocking code of step 2. The compiler turns each `async fn` into a state machine like
//! step 5's `SendData`, and nbio supplies the rest of step 5: the run queue and wakers
//! (`nbio::spawn`, `block_on`), the reactor on `polling` (every socket), and timers, so that
//! the counter can pause 1 ms between counts without stopping the thread as the article's
//! `time.sleep(0.02)` does. The servers are tasks too, on the same thread.
//!
//! `write_all` is the article's whole send loop: send what fits, and on `WouldBlock` wait for
//! writability while other tasks run. `nbio::stats()` shows how often that happened.
//!
//! What comes next: the `demo` binary plays this scene with live progress and a summary
//! (`cargo run --release -p demo`), and the guide in docs/ walks through how nbio does each
//! part.
//!
//! Run it with `cargo run -p nbio --example step6_nbio`. To watch the loop take turns, as the
//! article's prints let you, ask nbio to narrate every poll, wake and `WouldBlock`:
//! `NBIO_EXPLAIN=1 cargo run -p nbio --example step6_nbio`.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::time::{sleep, timeout};

/// How far the counter counts, one count per millisecond.
const COUNT_TO: u32 = 200;

/// Each sender sends its word and a newline this many times: the article's 4 MB.
const REPEAT: usize = 1024 * 1024;

fn main() -> io::Result<()> {
    // One runtime on this thread; every task below runs on it, taking turns.
    nbio::block_on(async {
        // Nothing here may take forever: give up after ten seconds, whatever happens.
        timeout(Duration::from_secs(10), scene()).await?
    })
}

async fn scene() -> io::Result<()> {
    let (addr_foo, server_foo) = start_server("server foo")?;
    let (addr_bar, server_bar) = start_server("server bar")?;

    // tasks = [other_task(), send_data_task(port=1234, data='foo'), send_data_task(...)].
    // spawn_local: these tasks share an `Rc<Cell>`, which is fine because an nbio runtime
    // runs all its tasks on one thread. `nbio::spawn_local(future)` would do; naming the tasks
    // makes the narration (NBIO_EXPLAIN=1) and any slow-poll warning say which is which.
    let count = Rc::new(Cell::new(0));
    let counter = named("counter").spawn_local(other_task(Rc::clone(&count)));
    let sender_foo =
        named("send_data foo").spawn_local(send_data_task(addr_foo, "foo", Rc::clone(&count)));
    let sender_bar =
        named("send_data bar").spawn_local(send_data_task(addr_bar, "bar", Rc::clone(&count)));

    // Awaiting a JoinHandle gives `Err(JoinError)` if the task panicked.
    let sent_foo = sender_foo.await.map_err(io::Error::other)??;
    let sent_bar = sender_bar.await.map_err(io::Error::other)??;
    counter.await.map_err(io::Error::other)?;
    let received_foo = server_foo.await.map_err(io::Error::other)??;
    let received_bar = server_bar.await.map_err(io::Error::other)??;

    assert_eq!((sent_foo, sent_bar), (REPEAT * 4, REPEAT * 4));
    assert_eq!((received_foo, received_bar), (sent_foo, sent_bar));
    println!("both servers received {sent_foo} bytes each");

    let stats = nbio::stats();
    // `would_block` counts every read and write that found its socket not ready and waited:
    // the senders' full buffers and the servers' empty ones alike.
    println!(
        "nbio: {} polls, {} waits for readiness, {} reactor waits, {} timers fired",
        stats.polls, stats.would_block, stats.reactor_waits, stats.timers_fired
    );
    Ok(())
}

/// A task builder with a name; `.spawn(future)` / `.spawn_local(future)` start the task.
fn named(name: &str) -> nbio::task::Builder {
    nbio::task::Builder::new().name(name)
}

/// The article's `other_task`: count to 200, pausing 1 ms between counts.
async fn other_task(count: Rc<Cell<u32>>) {
    let mut i = 0;
    while i < COUNT_TO {
        i += 1;
        count.set(i);
        // Not `std::thread::sleep`: this parks only this task on a timer, and the thread runs
        // the senders and the servers meanwhile.
        sleep(Duration::from_millis(1)).await;
    }
    println!("[counter] counted to {i}");
}

/// The article's `send_data_task`: the send loop, the `EAGAIN` check and the `yield ('w',
/// sock)` are all inside `write_all`.
async fn send_data_task(addr: SocketAddr, word: &str, count: Rc<Cell<u32>>) -> io::Result<usize> {
    let sock = AsyncTcpStream::connect(addr).await?; // connecting does not block the thread
    let data = format!("{word}\n").repeat(REPEAT);
    println!("[{word}] Bytes to send: {}", data.len());
    sock.write_all(data.as_bytes()).await?;
    sock.shutdown(Shutdown::Write)?; // tell the server that was everything
    println!(
        "[{word}] Bytes sent: {}; the counter was at {}",
        data.len(),
        count.get()
    );
    Ok(data.len())
}

/// The article's server as a task: accept one connection, read 1024 bytes at a time, count.
fn start_server(name: &str) -> io::Result<(SocketAddr, nbio::JoinHandle<io::Result<usize>>)> {
    let listener = AsyncTcpListener::bind("127.0.0.1:0")?; // binding never waits
    let addr = listener.local_addr()?;
    let server = named(name).spawn(async move {
        let (conn, _) = listener.accept().await?;
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            match conn.read(&mut buf).await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    });
    Ok((addr, server))
}
