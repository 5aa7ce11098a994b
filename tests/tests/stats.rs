//! `nbio::stats()` / `Runtime::stats()`: counters that are exact, checked against workloads
//! whose every poll, wake and timer is known in advance.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_lite::future::poll_once;
use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio_tests::watched;

/// Counts how many times the future it wraps is polled. The future passed to `block_on` is
/// polled once to start and once per wake, so its polls tell how often it was woken.
struct CountPolls<F> {
    future: std::pin::Pin<Box<F>>,
    polls: Arc<std::sync::atomic::AtomicU64>,
}

impl<F: std::future::Future> std::future::Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<F::Output> {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.future.as_mut().poll(cx)
    }
}

#[test]
fn counters_are_exact_for_a_known_workload() {
    watched(|| {
        let main_polls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let polls = Arc::clone(&main_polls);
        let stats = nbio::block_on(CountPolls {
            polls,
            future: Box::pin(async {
                let mut handles = Vec::new();
                // Ten tasks that finish at their first poll: 1 poll each, no wake.
                for i in 0..10 {
                    handles.push(nbio::spawn(async move { i }));
                }
                // Five that yield once: 2 polls and 1 (self) wake each.
                for i in 0..5 {
                    handles.push(nbio::spawn(async move {
                        nbio::yield_now().await;
                        i
                    }));
                }
                // Three that sleep once: 2 polls, 1 wake and 1 fired timer each. The deadline is taken
                // at the first poll, so it cannot have passed before the timer is registered.
                for i in 0..3 {
                    handles.push(nbio::spawn(async move {
                        sleep(Duration::from_millis(20)).await;
                        i
                    }));
                }
                for handle in handles {
                    handle.await.unwrap();
                }
                nbio::stats()
            }),
        });
        // The block_on future is not a task: its polls are not counted, but its wakes are
        // (by the handles it awaits, each time one it waits on finishes).
        let main_wakes = main_polls.load(std::sync::atomic::Ordering::Relaxed) - 1;
        assert!(
            main_wakes >= 2,
            "it waited on at least two handles: {stats}"
        );
        assert_eq!(stats.block_on_wakes, main_wakes, "{stats}");
        assert_eq!(stats.tasks_spawned, 18, "{stats}");
        assert_eq!(stats.tasks_completed, 18, "{stats}");
        assert_eq!(stats.tasks_alive, 0, "{stats}");
        assert_eq!(stats.polls, 10 + 5 * 2 + 3 * 2, "{stats}");
        assert_eq!(stats.wakes, 5 + 3 + main_wakes, "{stats}");
        assert_eq!(stats.remote_wakes, 0, "{stats}");
        assert_eq!(stats.timers_fired, 3, "{stats}");
        assert_eq!(stats.timers_pending, 0, "{stats}");
        assert_eq!(stats.would_block, 0, "{stats}");
        assert_eq!(stats.io_events, 0, "{stats}");
    });
}

#[test]
fn tasks_alive_counts_the_tasks_whose_future_still_exists() {
    watched(|| {
        nbio::block_on(async {
            let handles: Vec<_> = (0..4)
                .map(|_| nbio::spawn(std::future::pending::<()>()))
                .collect();
            assert_eq!(nbio::stats().tasks_alive, 4);
            nbio::yield_now().await;
            assert_eq!(nbio::stats().tasks_alive, 4, "parked tasks are alive");
            for handle in &handles {
                handle.abort();
            }
            for handle in handles {
                assert!(handle.await.unwrap_err().is_cancelled());
            }
            assert_eq!(nbio::stats().tasks_alive, 0);
        });
    });
}

#[test]
fn tasks_completed_does_not_count_aborted_tasks() {
    watched(|| {
        // Stats::tasks_completed is documented as "Tasks whose future returned or panicked
        // (aborted ones are not counted)".
        let stats = nbio::block_on(async {
            let aborted = nbio::spawn(std::future::pending::<()>());
            nbio::yield_now().await;
            aborted.abort();
            assert!(aborted.await.unwrap_err().is_cancelled());
            let panicked = nbio::spawn(async { panic!("counted") });
            assert!(panicked.await.unwrap_err().is_panic());
            nbio::spawn(async {}).await.unwrap();
            nbio::stats()
        });
        assert_eq!(stats.tasks_spawned, 3, "{stats}");
        assert_eq!(stats.tasks_alive, 0, "{stats}");
        assert_eq!(
            stats.tasks_completed, 2,
            "one returned and one panicked; the aborted one must not count: {stats}"
        );
    });
}

#[test]
fn a_wake_from_another_thread_counts_as_one_remote_wake() {
    let stats = watched(|| {
        nbio::block_on(async {
            let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
            let stash = Arc::clone(&slot);
            let mut parked = false;
            let task = nbio::spawn(std::future::poll_fn(move |cx| {
                if parked {
                    return Poll::Ready(());
                }
                parked = true;
                *stash.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }));
            while slot.lock().unwrap().is_none() {
                nbio::yield_now().await;
            }
            let before = nbio::stats();
            let waker = slot.lock().unwrap().take().unwrap();
            thread::spawn(move || waker.wake()).join().unwrap();
            task.await.unwrap();
            let after = nbio::stats();
            (before, after)
        })
    });
    let (before, after) = stats;
    assert_eq!(after.remote_wakes - before.remote_wakes, 1, "{after}");
    // The task's remote wake, then the local wake of block_on's future by the task's handle.
    assert_eq!(after.wakes - before.wakes, 2, "{after}");
    assert_eq!(after.block_on_wakes - before.block_on_wakes, 1, "{after}");
    assert_eq!(after.polls - before.polls, 1, "{after}");
}

#[test]
fn a_block_on_loop_fed_from_another_thread_counts_its_remote_wakes() {
    let (sender, receiver) = nbio_tests::oneshot::<()>();
    let stats = watched(move || {
        nbio::block_on(async move {
            let feeder = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                sender.send(());
            });
            receiver.await;
            feeder.join().unwrap();
            nbio::stats()
        })
    });
    // No task at all: the only wake is the feeding thread's wake of block_on's future.
    assert_eq!(stats.polls, 0, "{stats}");
    assert_eq!(stats.remote_wakes, 1, "{stats}");
    assert_eq!(stats.wakes, 1, "{stats}");
    assert_eq!(stats.block_on_wakes, 1, "{stats}");
}

#[test]
fn a_receive_that_had_to_wait_counts_one_would_block_and_its_event_one_io_event() {
    let stats = watched(|| {
        nbio::block_on(async {
            let receiver = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
            let sender = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
            let to = receiver.local_addr().unwrap();
            let mut buf = [0u8; 8];
            // Nothing sent yet: the receive gets WouldBlock and arms read interest.
            assert!(poll_once(receiver.recv_from(&mut buf)).await.is_none());
            assert_eq!(nbio::stats().would_block, 1);
            sender.send_to(b"x", to).await.unwrap();
            // `readable` completes only once the reactor has delivered the event.
            receiver.readable().await.unwrap();
            let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, 1);
            nbio::stats()
        })
    });
    assert_eq!(stats.would_block, 1, "{stats}");
    assert_eq!(stats.io_events, 1, "{stats}");
    assert!(stats.reactor_waits >= 1, "{stats}");
}

#[test]
fn runtime_stats_work_outside_block_on() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let handle = runtime.spawn(async { 1 });
        let before = runtime.stats();
        assert_eq!(before.tasks_spawned, 1);
        assert_eq!(before.tasks_alive, 1);
        assert_eq!(before.polls, 0);
        runtime.block_on(handle).unwrap();
        let after = runtime.stats();
        assert_eq!(after.tasks_completed, 1);
        assert_eq!(after.polls, 1);
    });
}

#[test]
fn nbio_stats_outside_a_runtime_panics_with_a_message_that_says_so() {
    watched(|| {
        let payload = panic::catch_unwind(AssertUnwindSafe(nbio::stats)).unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap();
        assert!(message.contains("outside"), "unclear message: {message}");
    });
}
