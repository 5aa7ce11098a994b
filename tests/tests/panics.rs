//! Panics and abandoned wakers: a task that panics while it holds timers and sockets, a future
//! whose `Drop` panics, an output whose `Drop` panics, a waker dropped without waking. The
//! runtime stays usable and every other task finishes.
//!
//! Already covered elsewhere, and not repeated here: a task that panics gives a `JoinError`
//! with its payload and the others run on (`join.rs`); a destructor that panics while the
//! runtime is being dropped (`runtime_drop.rs`); a panic of the `block_on` future itself
//! (`block_on.rs`).

use std::future::{poll_fn, Future};
use std::net::UdpSocket;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_lite::future::poll_once;
use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio_tests::{until_idle, watched, DropCounter, DropGuard};

/// Panics when dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("on purpose: a destructor panicked");
    }
}

/// A task that sleeps a little and returns its number: the "other tasks" that must finish.
fn bystanders(count: usize) -> Vec<nbio::JoinHandle<usize>> {
    (0..count)
        .map(|i| {
            nbio::spawn(async move {
                sleep(Duration::from_millis(1 + i as u64 % 3)).await;
                nbio::yield_now().await;
                i
            })
        })
        .collect()
}

async fn all_finish(bystanders: Vec<nbio::JoinHandle<usize>>) {
    for (i, handle) in bystanders.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), i);
    }
}

/// Returns 5 at once; dropping it afterwards panics. (An `async` block would drop its locals
/// inside its last poll: a panic there is a panicking poll, which `join.rs` covers.)
struct ReturnsThenPanicsOnDrop(PanicsOnDrop);

impl Future for ReturnsThenPanicsOnDrop {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(5)
    }
}

#[test]
fn a_future_whose_drop_panics_after_it_returned_gives_a_panic_join_error_and_others_finish() {
    watched(|| {
        nbio::block_on(async {
            let others = bystanders(10);
            let handle = nbio::spawn(ReturnsThenPanicsOnDrop(PanicsOnDrop));
            let err = handle
                .await
                .expect_err("the destructor's panic must be reported");
            assert!(err.is_panic(), "{err}");
            all_finish(others).await;
            // Still usable: a new task runs to completion.
            assert_eq!(nbio::spawn(async { 8 }).await.unwrap(), 8);
        });
    });
}

#[test]
fn a_future_whose_drop_panics_when_aborted_reports_the_panic_and_others_finish() {
    watched(|| {
        nbio::block_on(async {
            let others = bystanders(10);
            let handle = nbio::spawn(async {
                let _bomb = PanicsOnDrop;
                std::future::pending::<()>().await;
            });
            nbio::yield_now().await;
            handle.abort();
            let err = handle.await.expect_err("an aborted task has no output");
            // The abort dropped the future, and its destructor panicked: that panic is what
            // the handle reports, so that it is not lost.
            assert!(err.is_panic(), "{err}");
            all_finish(others).await;
            assert_eq!(nbio::stats().tasks_alive, 0);
        });
    });
}

/// An output whose destructor panics, and counts that it ran.
struct PanickyOutput {
    _counted: DropGuard,
}

impl Drop for PanickyOutput {
    fn drop(&mut self) {
        panic!("on purpose: an output's destructor panicked");
    }
}

#[test]
fn an_output_whose_drop_panics_is_contained_when_the_runtime_disposes_of_it() {
    let drops = DropCounter::new();
    let counter = drops.clone();
    watched(move || {
        nbio::block_on(async move {
            let others = bystanders(10);
            // Detached: the runtime drops the output as the task finishes.
            let guard = counter.guard();
            drop(nbio::spawn(
                async move { PanickyOutput { _counted: guard } },
            ));
            // Finished, then its handle dropped: the handle drops the output.
            let guard = counter.guard();
            let finished = nbio::spawn(async move { PanickyOutput { _counted: guard } });
            while !finished.is_finished() {
                nbio::yield_now().await;
            }
            drop(finished);
            all_finish(others).await;
            assert_eq!(nbio::stats().tasks_alive, 0);
        });
    });
    assert_eq!(drops.drops(), 2, "each output dropped exactly once");
}

#[test]
fn a_task_that_panics_while_waiting_on_a_timer_and_a_socket_leaves_neither_behind() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let socket_addr = runtime.block_on(async {
            let others = bystanders(10);
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let handle = nbio::spawn(async move {
                let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
                addr_tx.send(socket.local_addr().unwrap()).unwrap();
                let mut long_sleep = Box::pin(sleep(Duration::from_secs(3600)));
                assert!(poll_once(long_sleep.as_mut()).await.is_none());
                let mut buf = [0u8; 8];
                // Registered with the reactor as a waiter for readability, never completed.
                assert!(poll_once(socket.recv(&mut buf)).await.is_none());
                nbio::yield_now().await;
                panic!("on purpose: a task panicked with a timer and a socket");
            });
            let err = handle.await.unwrap_err();
            assert!(err.is_panic());
            all_finish(others).await;
            assert_eq!(nbio::stats().timers_pending, 0, "the timer was left behind");
            addr_rx.recv().unwrap()
        });
        // The socket was closed by the unwinding: its address is free again.
        UdpSocket::bind(socket_addr).expect("the panicking task's socket is still open");
        // And no waiter is left with the reactor: with nothing able to wake it, a waiting
        // `block_on` future is reported as a deadlock at once. A stale waiter would make the
        // runtime wait for it forever instead (and the watchdog would fail the test).
        let deadlock = panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(poll_fn(|_| Poll::<()>::Pending))
        }));
        let payload = deadlock.expect_err("waiting on nothing must be reported");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("deadlock"), "{message}");
    });
}

/// Parks for good, handing a clone of its waker to `slot` at every poll.
struct Parker {
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Parker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn wakers_cloned_and_dropped_on_other_threads_without_waking_leave_no_reference_behind() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        // The handle comes out of the runtime, to be awaited once the runtime is gone.
        #[allow(clippy::async_yields_async)]
        let parked = runtime.block_on(async {
            let slot = Arc::new(Mutex::new(None));
            let guard = drops.guard();
            let parker = Parker {
                slot: Arc::clone(&slot),
            };
            let handle = nbio::spawn(async move {
                let _guard = guard;
                parker.await;
            });
            until_idle(&[handle.id()]).await;
            let waker: Waker = slot.lock().unwrap().take().unwrap();
            // Four threads each clone the waker a thousand times and drop every clone
            // without waking.
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let waker = waker.clone();
                    thread::spawn(move || {
                        let clones: Vec<Waker> = (0..1000).map(|_| waker.clone()).collect();
                        drop(clones);
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            drop(waker);
            // The task's own reference count is back where it was: nothing outside the runtime
            // holds its waker now, and the dump says it can never run again.
            let dump = nbio::dump();
            let info = dump.tasks().iter().find(|t| t.id == handle.id()).unwrap();
            assert!(!info.waker_held, "a dropped clone left a reference: {info}");
            assert!(info.can_never_run(), "{info}");
            // Other tasks are not disturbed by it.
            all_finish(bystanders(10)).await;
            handle
        });
        assert_eq!(drops.drops(), 0);
        assert_eq!(runtime.stats().tasks_alive, 1);
        // Dropping the runtime still finds and drops the abandoned task's future.
        drop(runtime);
        assert_eq!(drops.drops(), 1);
        assert!(futures_lite::future::block_on(parked)
            .unwrap_err()
            .is_cancelled());
    });
}

#[test]
fn wakes_that_keep_arriving_after_a_task_panicked_are_harmless() {
    watched(|| {
        nbio::block_on(async {
            let slot = Arc::new(Mutex::new(None::<Waker>));
            let handle = nbio::spawn({
                let slot = Arc::clone(&slot);
                async move {
                    for _ in 0..100 {
                        poll_fn(|cx| {
                            *slot.lock().unwrap() = Some(cx.waker().clone());
                            Poll::Ready(())
                        })
                        .await;
                        nbio::yield_now().await;
                    }
                    panic!("on purpose: panicked while being woken");
                }
            });
            // Wait for the task to file its waker.
            while slot.lock().unwrap().is_none() {
                nbio::yield_now().await;
            }
            let waker = slot.lock().unwrap().clone().unwrap();
            let storm = thread::spawn(move || {
                for _ in 0..100_000 {
                    waker.wake_by_ref();
                }
            });
            assert!(handle.await.unwrap_err().is_panic());
            storm.join().unwrap();
            all_finish(bystanders(10)).await;
            let stats = nbio::stats();
            assert_eq!(stats.tasks_alive, 0, "{stats}");
        });
    });
}
