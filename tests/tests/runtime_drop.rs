//! Dropping a runtime drops every task's future, whatever the task was waiting on, and the
//! handles of those tasks then report cancellation.
//!
//! DESIGN.md: "Dropping a runtime drops every task's future (their destructors run); nothing
//! leaks." A task waiting on nothing that anyone holds (its waker was dropped) is the hard
//! case: only the runtime's registry of live tasks can still find it.

use std::future::{pending, poll_fn};
use std::net::UdpSocket;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio_tests::{oneshot, watched, DropCounter, DropGuard};

/// A future that parks forever without keeping its waker: nothing can ever wake it.
async fn parked_with_waker_dropped() {
    poll_fn(|_| Poll::<()>::Pending).await
}

#[test]
fn dropping_a_runtime_drops_tasks_that_were_never_polled() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let guard = drops.guard();
                runtime.spawn(async move {
                    let _guard = guard;
                    unreachable!("never polled");
                })
            })
            .collect();
        drop(runtime);
        assert_eq!(
            drops.drops(),
            3,
            "every unpolled future must be dropped once"
        );
        for handle in handles {
            assert!(handle.is_finished());
            let err = futures_lite::future::block_on(handle).unwrap_err();
            assert!(err.is_cancelled(), "{err}");
        }
    });
}

#[test]
fn dropping_a_runtime_drops_tasks_pending_on_a_timer_a_socket_a_channel_a_handle_or_nothing() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        let (sender_keeper, kept_senders) = mpsc::channel();
        let handles = runtime.block_on(async {
            let mut handles = Vec::new();
            let guard = drops.guard();
            handles.push(nbio::spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            }));
            let guard = drops.guard();
            handles.push(nbio::spawn(async move {
                let _guard = guard;
                let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
                let mut buf = [0u8; 8];
                let _ = socket.recv_from(&mut buf).await;
                unreachable!("nobody sends to this socket");
            }));
            let guard = drops.guard();
            let (tx, rx) = oneshot::<()>();
            sender_keeper.send(tx).unwrap();
            handles.push(nbio::spawn(async move {
                let _guard = guard;
                rx.await;
            }));
            let guard = drops.guard();
            handles.push(nbio::spawn(async move {
                let _guard = guard;
                parked_with_waker_dropped().await;
            }));
            let guard = drops.guard();
            let forever = nbio::spawn(pending::<()>());
            handles.push(nbio::spawn(async move {
                let _guard = guard;
                let _ = forever.await;
            }));
            // A detached one: nobody holds its handle.
            let guard = drops.guard();
            drop(nbio::spawn(async move {
                let _guard = guard;
                parked_with_waker_dropped().await;
            }));
            // Let every task run once and park.
            for _ in 0..3 {
                nbio::yield_now().await;
            }
            let stats = nbio::stats();
            assert_eq!(stats.tasks_alive, 7, "{stats}");
            assert_eq!(drops.drops(), 0, "a future was dropped before the runtime");
            handles
        });
        drop(runtime);
        assert_eq!(
            drops.drops(),
            6,
            "every pending future must be dropped exactly once"
        );
        // Their handles, awaited on another runtime on another thread, report cancellation.
        let errors = thread::spawn(move || {
            nbio::block_on(async move {
                let mut errors = Vec::new();
                for handle in handles {
                    errors.push(handle.await.unwrap_err());
                }
                errors
            })
        })
        .join()
        .unwrap();
        assert_eq!(errors.len(), 5);
        assert!(errors.iter().all(|e| e.is_cancelled()), "{errors:?}");
        drop(kept_senders);
    });
}

#[test]
fn a_finished_tasks_output_outlives_its_runtime_until_the_handle_takes_it() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        let guard = drops.guard();
        let handle = runtime.spawn(async move { guard });
        runtime.block_on(async {
            while nbio::stats().tasks_alive > 0 {
                nbio::yield_now().await;
            }
        });
        drop(runtime);
        assert_eq!(
            drops.drops(),
            0,
            "the runtime dropped an output its handle owns"
        );
        let output = futures_lite::future::block_on(handle).unwrap();
        drop(output);
        assert_eq!(drops.drops(), 1);
    });
}

#[test]
fn a_wake_that_arrives_after_the_runtime_was_dropped_is_harmless() {
    watched(|| {
        let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
        let drops = DropCounter::new();
        let guard = drops.guard();
        let runtime = nbio::Runtime::new().unwrap();
        let handle = runtime.spawn(async move {
            let _guard = guard;
            poll_fn(|cx| {
                waker_tx.send(cx.waker().clone()).unwrap();
                Poll::<()>::Pending
            })
            .await;
        });
        runtime.block_on(nbio::yield_now());
        let waker = waker_rx.recv().unwrap();
        drop(runtime);
        assert_eq!(drops.drops(), 1);
        // From another thread and from this one, by reference and by value: all must be no-ops.
        let remote = waker.clone();
        thread::spawn(move || {
            remote.wake_by_ref();
            remote.wake();
        })
        .join()
        .unwrap();
        waker.wake_by_ref();
        waker.wake();
        assert!(futures_lite::future::block_on(handle)
            .unwrap_err()
            .is_cancelled());
    });
}

/// Wakes `waker` (another task's) when dropped, as a guard that notifies a peer would.
struct WakeOnDrop {
    peer: Arc<Mutex<Option<Waker>>>,
    _counted: DropGuard,
}

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(waker) = self.peer.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// Aborts another task when dropped.
struct AbortOnDrop(nbio::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[test]
fn a_destructor_that_wakes_or_aborts_another_task_during_shutdown_is_handled() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        let slot = Arc::new(Mutex::new(None));
        let (store, guard) = (Arc::clone(&slot), drops.guard());
        let woken = runtime.spawn(async move {
            let _guard = guard;
            poll_fn(|cx| {
                *store.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            })
            .await;
        });
        let guard = drops.guard();
        let aborted = runtime.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        });
        let waking = WakeOnDrop {
            peer: Arc::clone(&slot),
            _counted: drops.guard(),
        };
        let guard = drops.guard();
        let waker_task = runtime.spawn(async move {
            let _waking = waking;
            let _guard = guard;
            pending::<()>().await;
        });
        let (aborting, guard) = (AbortOnDrop(aborted), drops.guard());
        let aborter = runtime.spawn(async move {
            let _aborting = aborting;
            let _guard = guard;
            pending::<()>().await;
        });
        runtime.block_on(async {
            for _ in 0..3 {
                nbio::yield_now().await;
            }
        });
        drop(runtime);
        assert_eq!(
            drops.drops(),
            5,
            "every future (and the waking guard) dropped once"
        );
        for handle in [woken, waker_task, aborter] {
            assert!(futures_lite::future::block_on(handle)
                .unwrap_err()
                .is_cancelled());
        }
    });
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a destructor that panics");
    }
}

#[test]
fn a_destructor_that_panics_during_shutdown_does_not_stop_the_others_from_being_dropped() {
    watched(|| {
        let drops = DropCounter::new();
        let runtime = nbio::Runtime::new().unwrap();
        let mut handles = Vec::new();
        for i in 0..4 {
            let guard = drops.guard();
            handles.push(runtime.spawn(async move {
                let _guard = guard;
                let _bomb = (i % 2 == 0).then_some(PanicOnDrop);
                pending::<()>().await;
            }));
        }
        runtime.block_on(nbio::yield_now());
        drop(runtime);
        assert_eq!(
            drops.drops(),
            4,
            "a panicking destructor kept other futures alive"
        );
        for handle in handles {
            // Whether a panicking destructor is reported as a panic or as a cancellation, the
            // handle must resolve to an error and not hang or crash.
            assert!(futures_lite::future::block_on(handle).is_err());
        }
    });
}

#[test]
fn a_socket_of_a_dropped_runtime_reports_an_error_instead_of_waiting_forever() {
    let result = watched(|| {
        let socket = AsyncUdpSocket::from_std(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let first = nbio::Runtime::new().unwrap();
        // Make it wait once on the first runtime, so that it registers there.
        first.block_on(async {
            let mut buf = [0u8; 8];
            let attempt = nbio::time::timeout(Duration::from_millis(5), socket.recv(&mut buf));
            assert!(attempt.await.is_err(), "nothing was sent");
        });
        drop(first);
        nbio::block_on(async {
            let mut buf = [0u8; 8];
            socket.recv(&mut buf).await
        })
    });
    let err = result.expect_err("waiting on a dead runtime's socket must fail");
    assert!(err.to_string().contains("dropped"), "unclear error: {err}");
}
