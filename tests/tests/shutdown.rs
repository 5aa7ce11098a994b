//! Shutdown at scale: dropping a runtime with 10,000 pending tasks runs every future's `Drop`,
//! exactly once, and frees every allocation the runtime made for them.
//!
//! `runtime_drop.rs` proves the mechanism on a handful of tasks, one of each kind of wait. Here
//! 10,000 tasks wait in every way at once (on timers, sockets, channels whose senders outlive
//! the runtime, each other's handles, nothing at all, or were never polled), and the test binary
//! counts allocations: every task, waker, timer entry and reactor registration made on this
//! thread must be freed by the time the runtime and the last waker held outside it are gone.
//! A task leaked by a reference-count slip would leave its block behind, a leaked registration
//! its source.

use std::future::{pending, poll_fn};
use std::task::Poll;
use std::time::Duration;

use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio_tests::{oneshot, thread_allocations, watched, CountingAllocator, DropCounter};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const TASKS: usize = 10_000;
/// Tasks waiting on a socket each hold a descriptor: few enough for the default limit of 1,024.
const SOCKETS: usize = 200;

/// Builds a runtime, leaves `TASKS` tasks pending on it in every way there is, and drops it.
/// Returns how many futures were dropped by then, the handles' verdicts, and the tasks alive
/// just before the drop.
fn fill_and_drop_a_runtime() -> (usize, usize, u64) {
    let drops = DropCounter::new();
    let runtime = nbio::Runtime::builder()
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    runtime.block_on(async {
        for i in 0..TASKS - TASKS / 10 {
            let guard = drops.guard();
            let handle = match i % 5 {
                0 => nbio::spawn(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(3600 + i as u64)).await;
                }),
                1 if i / 5 < SOCKETS => nbio::spawn(async move {
                    let _guard = guard;
                    let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
                    let _ = socket.recv(&mut [0u8; 8]).await;
                }),
                1 | 2 => {
                    let (tx, rx) = oneshot::<()>();
                    senders.push(tx);
                    nbio::spawn(async move {
                        let _guard = guard;
                        rx.await;
                    })
                }
                3 => {
                    let forever = nbio::spawn(pending::<()>());
                    nbio::spawn(async move {
                        let _guard = guard;
                        let _ = forever.await;
                    })
                }
                _ => nbio::spawn(async move {
                    let _guard = guard;
                    // Parks without keeping its waker: only the registry can find it.
                    poll_fn(|_| Poll::<()>::Pending).await;
                }),
            };
            handles.push(handle);
        }
        // Let every task run once and park.
        while nbio::dump().tasks().iter().any(|task| task.polls == 0) {
            nbio::yield_now().await;
        }
    });
    // The last tenth is spawned after the loop stopped: never polled.
    for _ in 0..TASKS / 10 {
        let guard = drops.guard();
        handles.push(runtime.spawn(async move {
            let _guard = guard;
            unreachable!("never polled");
        }));
    }
    let alive = runtime.stats().tasks_alive;
    drop(runtime);
    let dropped = drops.drops();
    // The handles report cancellation; the senders wake tasks that are gone. Both must free
    // what they still hold of the tasks.
    let cancelled = handles
        .into_iter()
        .filter(|handle| handle.is_finished())
        .map(|handle| futures_lite::future::block_on(handle).unwrap_err())
        .filter(|err| err.is_cancelled())
        .count();
    for tx in senders {
        tx.send(());
    }
    (dropped, cancelled, alive)
}

#[test]
fn dropping_a_runtime_with_ten_thousand_pending_tasks_drops_every_future_and_frees_everything() {
    let (dropped, cancelled, alive, leaked) = watched(|| {
        // Once to warm up: the first runtime on a thread sets up thread-locals and the
        // process's lazily made statics, which stay allocated for good.
        fill_and_drop_a_runtime();
        let before = thread_allocations();
        let (dropped, cancelled, alive) = fill_and_drop_a_runtime();
        let after = thread_allocations();
        (
            dropped,
            cancelled,
            alive,
            (after.0 - before.0, after.1 - before.1),
        )
    });
    eprintln!(
        "{alive} tasks alive when the runtime was dropped; {dropped} futures dropped, {cancelled} \
         handles cancelled; {} blocks ({} bytes) left allocated afterwards",
        leaked.0, leaked.1
    );
    // The tasks awaiting another task's handle wait on as many more tasks.
    let awaited = (0..TASKS - TASKS / 10).filter(|i| i % 5 == 3).count();
    assert_eq!(alive as usize, TASKS + awaited);
    assert_eq!(dropped, TASKS, "every future dropped, exactly once");
    assert_eq!(cancelled, TASKS, "every handle reports cancellation");
    assert_eq!(leaked, (0, 0), "allocations left behind (blocks, bytes)");
}
