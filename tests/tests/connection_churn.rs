//! Load: 20,000 connections opened and closed leave the process's open-descriptor count where
//! it started, and the runtime's memory where it was once warmed up.
//!
//! Every socket nbio makes or accepts must be closed when its owner drops it, registered with
//! the reactor or not, whether its task read, wrote or only connected. One descriptor leaked
//! per connection would show as 20,000 (or 40,000) extra entries in `/proc/self/fd`; one leaked
//! now and then still moves the count. The same goes for what the runtime keeps per socket
//! (its entry in the reactor's table of sources) and per task: the test binary counts
//! allocations, and 20,000 cycles may not leave thousands of blocks behind in a runtime that
//! is still running. The server side closes first, so the `TIME_WAIT` state
//! that TCP keeps after a close stays on the server's port and the client's ephemeral ports do
//! not run out.
//!
//! This file holds a single test: it counts the process's open descriptors, which another test
//! running in parallel in the same process would disturb.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::time::timeout;
use nbio_tests::{open_fds, thread_allocations, watchdog, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Connect/close cycles in all.
const CYCLES: usize = 20_000;
/// Clients cycling at the same time.
const CLIENTS: usize = 16;

/// The server's side: read the client's byte, answer it, close.
async fn answer_and_close(conn: AsyncTcpStream) -> io::Result<()> {
    let mut byte = [0u8; 1];
    conn.read_exact(&mut byte).await?;
    conn.write_all(&byte).await
}

/// One cycle from the client's side: connect, send a byte, get it back, see the server close,
/// close.
async fn cycle(addr: std::net::SocketAddr, n: usize) -> io::Result<()> {
    let stream = AsyncTcpStream::connect(addr).await?;
    let sent = [n as u8];
    stream.write_all(&sent).await?;
    let mut got = [0u8; 1];
    stream.read_exact(&mut got).await?;
    assert_eq!(got, sent, "cycle {n} got another cycle's byte");
    // A server socket whose descriptor leaked (was duplicated, say) never sends its end.
    let end = timeout(Duration::from_secs(10), stream.read(&mut got)).await;
    let end =
        end.map_err(|_| io::Error::other(format!("cycle {n}: the server side never closed")))?;
    assert_eq!(end?, 0, "cycle {n}: bytes after the answer");
    Ok(())
}

/// Fails early, with a message, if descriptors pile up while the cycles run: a leak of one per
/// cycle would otherwise run into the descriptor limit and stall the accept loop.
fn check_not_piling_up(n: usize, baseline: usize) -> io::Result<()> {
    // Each client holds at most two sockets at a time (its own and the server's side), plus
    // the listener and some slack for sockets whose task has not been dropped yet.
    let bound = baseline + 4 * CLIENTS + 16;
    let open = open_fds();
    if open > bound {
        return Err(io::Error::other(format!(
            "{open} descriptors open after cycle {n}, at most {bound} expected: they leak"
        )));
    }
    Ok(())
}

/// Cycles run first, to let the runtime's queues and tables reach their working size before
/// its memory is measured.
const WARM_UP: usize = 1_000;
/// How many more blocks the running runtime may hold after the cycles than after the warm-up:
/// some growth of its queues and tables, never one block per cycle.
const MEMORY_SLACK: isize = 1_000;

/// Runs `cycles` connect/close cycles, numbered from `first`, from `CLIENTS` clients at once,
/// against a server task on `listener`; returns once every task is done.
async fn run_cycles(
    listener: &Arc<AsyncTcpListener>,
    first: usize,
    cycles: usize,
    fds_with_runtime: usize,
) {
    let addr = listener.local_addr().unwrap();
    let server = nbio::spawn({
        let listener = Arc::clone(listener);
        async move {
            for _ in 0..cycles {
                let (conn, _) = listener.accept().await?;
                // Detached: a failure shows up on the client's side.
                drop(nbio::spawn(answer_and_close(conn)));
            }
            io::Result::Ok(())
        }
    });
    let next = Arc::new(AtomicUsize::new(first));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let next = Arc::clone(&next);
            nbio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, SeqCst);
                    if n >= first + cycles {
                        return io::Result::Ok(());
                    }
                    cycle(addr, n).await?;
                    if n.is_multiple_of(1000) {
                        check_not_piling_up(n, fds_with_runtime)?;
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap().unwrap();
    }
    server.await.unwrap().unwrap();
    // Let the server's last answering tasks finish and drop their sockets.
    while nbio::stats().tasks_alive > 0 {
        nbio::yield_now().await;
    }
}

/// What the test measured.
struct Figures {
    fds_with_runtime: usize,
    fds_after_cycles: usize,
    blocks_kept: isize,
    bytes_kept: isize,
    stats: nbio::Stats,
}

#[test]
fn twenty_thousand_connect_close_cycles_leave_no_descriptor_and_no_memory_behind() {
    let fds_before = open_fds();
    let started = Instant::now();
    let figures = watchdog(
        "20,000 connect/close cycles",
        Duration::from_secs(120),
        || {
            let runtime = nbio::Runtime::new().unwrap();
            let fds_with_runtime = open_fds();
            let (warm, cold) = runtime.block_on(async {
                let listener = Arc::new(AsyncTcpListener::bind("127.0.0.1:0").unwrap());
                run_cycles(&listener, 0, WARM_UP, fds_with_runtime).await;
                let warm = thread_allocations();
                run_cycles(&listener, WARM_UP, CYCLES - WARM_UP, fds_with_runtime).await;
                (warm, thread_allocations())
            });
            let figures = Figures {
                fds_with_runtime,
                fds_after_cycles: open_fds(),
                blocks_kept: cold.0 - warm.0,
                bytes_kept: cold.1 - warm.1,
                stats: runtime.stats(),
            };
            drop(runtime);
            figures
        },
    );
    let fds_after = open_fds();
    let Figures {
        fds_with_runtime,
        fds_after_cycles,
        blocks_kept,
        bytes_kept,
        stats,
    } = figures;
    eprintln!(
        "{CYCLES} connect/close cycles in {:.1?}: open descriptors {fds_before} before, \
         {fds_with_runtime} with the runtime, {fds_after_cycles} after the cycles, \
         {fds_after} after the runtime was dropped; {blocks_kept} blocks ({bytes_kept} bytes) \
         more held after the last {} cycles; {stats}",
        started.elapsed(),
        CYCLES - WARM_UP
    );
    assert_eq!(
        stats.tasks_spawned as usize,
        2 * (1 + CLIENTS) + CYCLES,
        "{stats}"
    );
    assert_eq!(
        fds_after_cycles, fds_with_runtime,
        "the cycles left descriptors open"
    );
    assert_eq!(
        fds_after, fds_before,
        "the runtime left descriptors open when dropped"
    );
    assert!(
        blocks_kept < MEMORY_SLACK,
        "the running runtime holds {blocks_kept} more blocks after {} more cycles: something \
         is kept per connection",
        CYCLES - WARM_UP
    );
}
