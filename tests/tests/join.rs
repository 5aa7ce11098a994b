//! `JoinHandle` and `JoinError`: output, abort, detach, panic, `is_finished`, and awaiting a
//! handle from another thread or another runtime. Also `spawn` outside a runtime.
//!
//! DESIGN.md: "A task's panic is caught: its JoinHandle returns `JoinError`, every other task
//! runs on"; `JoinHandle<T>: Future<Output = Result<T, JoinError>>; abort(); is_finished();
//! dropping it detaches`.

use std::any::Any;
use std::future::pending;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use nbio::time::sleep;
use nbio_tests::{oneshot, watched, DropCounter};

/// The text of a panic payload: `panic!` makes a `&'static str` or a `String` depending on
/// whether its message needed formatting at run time.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a text panic payload")
}

#[test]
fn awaiting_the_handle_gives_the_tasks_output() {
    watched(|| {
        let output = nbio::block_on(async {
            let handle = nbio::spawn(async {
                sleep(Duration::from_millis(1)).await;
                String::from("forty-two")
            });
            handle.await
        });
        assert_eq!(output.unwrap(), "forty-two");
    });
}

#[test]
fn spawn_local_runs_a_future_that_is_not_send() {
    watched(|| {
        let output = nbio::block_on(async {
            let shared = Rc::new(20);
            let copy = Rc::clone(&shared);
            let handle = nbio::spawn_local(async move {
                nbio::yield_now().await;
                Rc::new(*copy + 1)
            });
            *handle.await.unwrap() + *shared
        });
        assert_eq!(output, 41);
    });
}

#[test]
fn runtime_spawn_before_block_on_runs_the_task_once_the_loop_is_driven() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let polled = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&polled);
        let handle = runtime.spawn(async move {
            seen.fetch_add(1, SeqCst);
            7
        });
        assert_eq!(
            polled.load(SeqCst),
            0,
            "spawn must not run the task by itself"
        );
        assert!(!handle.is_finished());
        assert_eq!(runtime.block_on(handle).unwrap(), 7);
        assert_eq!(polled.load(SeqCst), 1);
    });
}

#[test]
fn abort_drops_the_pending_future_and_the_handle_reports_cancelled() {
    watched(|| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        let err = nbio::block_on(async move {
            let handle = nbio::spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            // Let it run and park first, so that abort has a parked future to drop.
            nbio::yield_now().await;
            assert_eq!(drops.drops(), 0);
            handle.abort();
            let err = handle.await.unwrap_err();
            assert_eq!(drops.drops(), 1, "abort must drop the future exactly once");
            err
        });
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        assert!(err.to_string().contains("cancelled"), "{err}");
    });
}

#[test]
fn abort_before_the_first_poll_never_polls_the_future() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let drops = DropCounter::new();
        let (seen, guard) = (Arc::clone(&polls), drops.guard());
        let handle = runtime.spawn(async move {
            let _guard = guard;
            seen.fetch_add(1, SeqCst);
        });
        handle.abort();
        assert!(runtime.block_on(handle).unwrap_err().is_cancelled());
        assert_eq!(polls.load(SeqCst), 0, "an aborted task was polled");
        assert_eq!(drops.drops(), 1);
    });
}

#[test]
fn abort_of_a_finished_task_keeps_its_output() {
    watched(|| {
        let output = nbio::block_on(async {
            let handle = nbio::spawn(async { vec![1, 2, 3] });
            while !handle.is_finished() {
                nbio::yield_now().await;
            }
            handle.abort();
            handle.await
        });
        assert_eq!(output.unwrap(), [1, 2, 3]);
    });
}

#[test]
fn a_task_can_abort_itself_through_its_own_handle() {
    watched(|| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        let err = nbio::block_on(async move {
            let (tx, rx) = oneshot::<Arc<nbio::JoinHandle<()>>>();
            let handle = Arc::new(nbio::spawn(async move {
                let _guard = guard;
                let own = rx.await.unwrap();
                own.abort();
                // The abort takes effect at the next turn: this await must never complete.
                nbio::yield_now().await;
                unreachable!("polled after its own abort");
            }));
            tx.send(Arc::clone(&handle));
            // Wait until the task has aborted itself, then collect the result.
            while !handle.is_finished() {
                nbio::yield_now().await;
            }
            let handle = Arc::into_inner(handle).expect("the task let go of its handle");
            handle.await.unwrap_err()
        });
        assert!(err.is_cancelled());
        assert_eq!(drops.drops(), 1);
    });
}

#[test]
fn dropping_the_handle_detaches_the_task_which_runs_to_completion() {
    let (done_tx, done_rx) = oneshot();
    let received = watched(|| {
        nbio::block_on(async move {
            drop(nbio::spawn(async move {
                sleep(Duration::from_millis(5)).await;
                nbio::yield_now().await;
                done_tx.send("finished");
            }));
            done_rx.await
        })
    });
    assert_eq!(received, Some("finished"));
}

#[test]
fn a_detached_tasks_output_is_dropped_when_it_finishes() {
    watched(|| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        let stats = nbio::block_on(async move {
            drop(nbio::spawn(async move {
                nbio::yield_now().await;
                guard
            }));
            while nbio::stats().tasks_alive > 0 {
                nbio::yield_now().await;
            }
            nbio::stats()
        });
        assert_eq!(stats.tasks_completed, 1);
        assert_eq!(
            drops.drops(),
            1,
            "an output nobody will collect must be dropped once"
        );
    });
}

#[test]
fn dropping_the_handle_of_a_finished_task_drops_its_output() {
    watched(|| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        nbio::block_on(async move {
            let handle = nbio::spawn(async move { guard });
            while !handle.is_finished() {
                nbio::yield_now().await;
            }
            assert_eq!(
                drops.drops(),
                0,
                "the output belongs to the handle until it is dropped"
            );
            drop(handle);
            assert_eq!(drops.drops(), 1);
        });
    });
}

#[test]
fn a_panicking_task_gives_a_join_error_with_its_payload_and_other_tasks_run_on() {
    watched(|| {
        let (err, others) = nbio::block_on(async {
            let before = nbio::spawn(async {
                sleep(Duration::from_millis(5)).await;
                "before"
            });
            let panicker = nbio::spawn(async {
                nbio::yield_now().await;
                panic!("boom in task {}", 7);
            });
            let after = nbio::spawn(async {
                sleep(Duration::from_millis(5)).await;
                "after"
            });
            let err = panicker.await.unwrap_err();
            let others = (before.await.unwrap(), after.await.unwrap());
            (err, others)
        });
        assert_eq!(others, ("before", "after"));
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(
            err.to_string(),
            format!("task {} panicked: boom in task 7", err.id())
        );
        let payload = err.into_panic();
        assert_eq!(panic_text(&*payload), "boom in task 7");
    });
}

#[test]
fn into_panic_gives_back_a_payload_that_is_not_a_string() {
    watched(|| {
        let err = nbio::block_on(async {
            nbio::spawn(async { panic::panic_any(1234_u32) })
                .await
                .unwrap_err()
        });
        assert!(err.is_panic());
        assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 1234);
    });
}

#[test]
fn a_panicking_task_does_not_stop_the_runtime() {
    watched(|| {
        let answer = nbio::block_on(async {
            for _ in 0..10 {
                assert!(nbio::spawn(async { panic!("again") })
                    .await
                    .unwrap_err()
                    .is_panic());
            }
            nbio::spawn(async { 5 }).await.unwrap()
        });
        assert_eq!(answer, 5);
    });
}

#[test]
fn is_finished_is_false_while_the_task_waits_and_true_once_it_returned() {
    watched(|| {
        nbio::block_on(async {
            let (tx, rx) = oneshot();
            let handle = nbio::spawn(rx);
            nbio::yield_now().await;
            assert!(
                !handle.is_finished(),
                "finished before it was sent anything"
            );
            tx.send(3);
            while !handle.is_finished() {
                nbio::yield_now().await;
            }
            assert_eq!(handle.await.unwrap(), Some(3));
        });
    });
}

#[test]
fn a_handle_can_be_awaited_on_another_runtime_on_another_thread() {
    watched(|| {
        let (handles, handle_rx) = mpsc::channel();
        let (collected_tx, collected_rx) = oneshot();
        let owner = thread::spawn(move || {
            nbio::block_on(async move {
                let handle = nbio::spawn(async {
                    sleep(Duration::from_millis(10)).await;
                    String::from("made on the owner's runtime")
                });
                handles.send(handle).unwrap();
                // Keep this runtime running until the other side has the output.
                collected_rx.await
            })
        });
        let handle = handle_rx.recv().unwrap();
        let output = nbio::block_on(handle).unwrap();
        collected_tx.send(());
        assert_eq!(owner.join().unwrap(), Some(()));
        assert_eq!(output, "made on the owner's runtime");
    });
}

#[test]
fn a_handle_can_be_awaited_by_a_foreign_executor_on_a_plain_thread() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let handle = runtime.spawn(async {
            sleep(Duration::from_millis(5)).await;
            99
        });
        let waiter = thread::spawn(move || futures_lite::future::block_on(handle));
        runtime.block_on(async {
            while nbio::stats().tasks_alive > 0 {
                sleep(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(waiter.join().unwrap().unwrap(), 99);
    });
}

/// The join-waker hand-off between the thread that finishes a task and the thread that awaits
/// its handle, raced many times: every handle must resolve, none may hang.
#[test]
fn handles_awaited_on_another_thread_never_miss_their_tasks_completion() {
    const TASKS: usize = 300;
    watched(|| {
        let (handles, handle_rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot();
        let owner = thread::spawn(move || {
            nbio::block_on(async move {
                for i in 0..TASKS {
                    let handle = nbio::spawn(async move {
                        if i % 3 == 0 {
                            nbio::yield_now().await;
                        }
                        i
                    });
                    handles.send(handle).unwrap();
                    if i % 5 == 0 {
                        nbio::yield_now().await;
                    }
                }
                done_rx.await
            })
        });
        nbio::block_on(async {
            for i in 0..TASKS {
                let handle = handle_rx.recv().unwrap();
                assert_eq!(handle.await.unwrap(), i);
            }
        });
        done_tx.send(());
        owner.join().unwrap();
    });
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_message_that_says_so() {
    watched(|| {
        let result = panic::catch_unwind(AssertUnwindSafe(|| nbio::spawn(async {})));
        let payload = result.expect_err("spawn outside a runtime must panic");
        let message = panic_text(&*payload);
        assert!(message.contains("outside"), "unclear message: {message}");
        assert!(
            message.contains("nbio::spawn"),
            "unclear message: {message}"
        );
    });
}

#[test]
fn join_handle_polled_again_after_a_pending_poll_with_a_new_waker_still_completes() {
    // A handle first polled by one waker (poll_once from the block_on future) and later
    // awaited by another task must wake the second one, not the first.
    let output = watched(|| {
        nbio::block_on(async {
            let (tx, rx) = oneshot();
            let mut handle = nbio::spawn(rx);
            assert!(futures_lite::future::poll_once(&mut handle).await.is_none());
            let waiter = nbio::spawn(async move { handle.await.unwrap() });
            nbio::yield_now().await;
            tx.send("moved");
            waiter.await.unwrap()
        })
    });
    assert_eq!(output, Some("moved"));
}

#[test]
fn join_error_converts_into_an_io_error() {
    watched(|| {
        let err: std::io::Error = nbio::block_on(async {
            let handle = nbio::spawn(pending::<()>());
            handle.abort();
            handle.await.unwrap_err().into()
        });
        assert_eq!(err.kind(), std::io::ErrorKind::Other);
        assert!(err.to_string().contains("cancelled"), "{err}");
    });
}

#[test]
fn a_handle_polled_after_the_task_finished_is_ready_at_the_first_poll() {
    watched(|| {
        nbio::block_on(async {
            let mut handle = nbio::spawn(async { 1 });
            while !handle.is_finished() {
                nbio::yield_now().await;
            }
            let first = futures_lite::future::poll_once(&mut handle).await;
            assert_eq!(first.map(Result::unwrap), Some(1));
        });
    });
}
