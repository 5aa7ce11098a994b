//! `nbio::task::block_in_place`: on a worker, the tasks queued behind the blocked one run on
//! another worker meanwhile; where there is no queue to hand off it just runs the closure; on the
//! current-thread runtime and in the `block_on` future it panics, saying why. Cases ported from
//! tokio's task_blocking.rs and rt_threaded.rs, in nbio's terms.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nbio::task::block_in_place;
use nbio::{Handle, Runtime};
use nbio_tests::watched;

fn two_workers() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

/// The message of a caught panic.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(text) => *text,
        Err(panic) => panic
            .downcast::<&str>()
            .map(|text| text.to_string())
            .unwrap_or_default(),
    }
}

/// The case it is for. The waiting task is woken by the task that then blocks, so it is queued
/// on that task's worker and, its queue having been empty, nobody else is told (a wake into an
/// empty queue runs next, right there). Without the hand-off it would wait the whole 200 ms.
#[test]
fn a_task_queued_behind_one_blocked_in_place_runs_on_another_worker_meanwhile() {
    watched(|| {
        let rt = two_workers();
        let (ran_meanwhile, blocked_on, ran_on) = rt.block_on(async {
            nbio::spawn(async {
                let done = Arc::new(AtomicBool::new(false));
                let (tx, rx) = nbio::sync::oneshot::channel::<()>();
                let waiting = nbio::spawn({
                    let done = Arc::clone(&done);
                    async move {
                        rx.await.unwrap();
                        done.store(true, SeqCst);
                        thread::current().id()
                    }
                });
                // Let it start waiting (and the workers settle) first.
                nbio::time::sleep(Duration::from_millis(20)).await;
                tx.send(()).unwrap(); // queued on this worker, behind this task
                let ran_meanwhile = block_in_place(|| {
                    thread::sleep(Duration::from_millis(200));
                    done.load(SeqCst)
                });
                (
                    ran_meanwhile,
                    thread::current().id(),
                    waiting.await.unwrap(),
                )
            })
            .await
            .unwrap()
        });
        assert!(
            ran_meanwhile,
            "the task queued behind the blocked one waited for it"
        );
        assert_ne!(blocked_on, ran_on);
    });
}

#[test]
fn tasks_spawned_inside_block_in_place_run_on_the_other_workers_meanwhile() {
    watched(|| {
        let rt = two_workers();
        let ran_meanwhile = rt.block_on(rt.spawn(async {
            block_in_place(|| {
                let done = Arc::new(AtomicBool::new(false));
                nbio::spawn({
                    let done = Arc::clone(&done);
                    async move { done.store(true, SeqCst) }
                });
                thread::sleep(Duration::from_millis(200));
                done.load(SeqCst)
            })
        }));
        assert!(ran_meanwhile.unwrap());
    });
}

/// While the closure runs the thread is not a worker: a task it wakes goes where the other
/// workers find it, not into this worker's queue, where it would wait for the closure.
#[test]
fn a_task_woken_inside_block_in_place_runs_on_another_worker_meanwhile() {
    watched(|| {
        let rt = two_workers();
        let ran_meanwhile = rt.block_on(async {
            nbio::spawn(async {
                let done = Arc::new(AtomicBool::new(false));
                let (tx, rx) = nbio::sync::oneshot::channel::<()>();
                let waiting = nbio::spawn({
                    let done = Arc::clone(&done);
                    async move {
                        rx.await.unwrap();
                        done.store(true, SeqCst);
                    }
                });
                nbio::time::sleep(Duration::from_millis(20)).await;
                let ran_meanwhile = block_in_place(|| {
                    tx.send(()).unwrap();
                    thread::sleep(Duration::from_millis(200));
                    done.load(SeqCst)
                });
                waiting.await.unwrap();
                ran_meanwhile
            })
            .await
            .unwrap()
        });
        assert!(ran_meanwhile, "the task woken by the closure waited for it");
    });
}

#[test]
fn the_task_goes_on_after_block_in_place_and_can_yield_and_sleep() {
    watched(|| {
        let rt = two_workers();
        let out = rt.block_on(rt.spawn(async {
            let n = block_in_place(|| 20);
            nbio::yield_now().await;
            nbio::time::sleep(Duration::from_millis(1)).await;
            n + block_in_place(|| 22)
        }));
        assert_eq!(out.unwrap(), 42);
    });
}

#[test]
fn handle_block_on_works_inside_block_in_place_past_the_poll_budget() {
    watched(|| {
        let rt = two_workers();
        let got = rt.block_on(rt.spawn(async {
            let (tx, mut rx) = nbio::sync::mpsc::unbounded_channel();
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            block_in_place(|| {
                Handle::current().block_on(async {
                    let mut sum = 0;
                    for _ in 0..1000 {
                        sum += rx.recv().await.unwrap();
                    }
                    sum
                })
            })
        }));
        assert_eq!(got.unwrap(), (0..1000).sum::<i32>());
    });
}

#[test]
fn a_new_runtime_can_run_inside_block_in_place() {
    watched(|| {
        let rt = two_workers();
        let out = rt.block_on(rt.spawn(async {
            block_in_place(|| {
                let inner = Runtime::new().unwrap();
                inner.block_on(async { nbio::spawn(async { 5 }).await.unwrap() })
            })
        }));
        assert_eq!(out.unwrap(), 5);
    });
}

#[test]
fn a_panic_in_block_in_place_is_its_task_s_panic_and_the_worker_goes_on() {
    watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            let failed = nbio::spawn(async {
                block_in_place(|| panic!("the blocking code failed"));
            })
            .await
            .unwrap_err();
            assert!(failed.is_panic());
            // Every worker is a worker again.
            let handles: Vec<_> = (0..8).map(|i| nbio::spawn(async move { i })).collect();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await.unwrap(), i);
            }
            // And its wakes are a worker's again: a runtime's loop runs here.
            let text = nbio::spawn(async {
                let panic = catch_unwind(AssertUnwindSafe(|| Handle::current().block_on(async {})));
                message(panic.unwrap_err())
            })
            .await
            .unwrap();
            assert!(text.contains("runs an nbio runtime's loop"), "{text}");
        });
    });
}

#[test]
fn in_a_blocking_job_block_in_place_just_runs() {
    watched(|| {
        let rt = two_workers();
        let out = rt.block_on(rt.spawn_blocking(|| block_in_place(|| 3)));
        assert_eq!(out.unwrap(), 3);
    });
}

#[test]
fn outside_any_runtime_block_in_place_just_runs() {
    assert_eq!(block_in_place(|| 4), 4);
}

#[test]
fn nested_block_in_place_just_runs() {
    watched(|| {
        let rt = two_workers();
        let out = rt.block_on(rt.spawn(async { block_in_place(|| block_in_place(|| 9)) }));
        assert_eq!(out.unwrap(), 9);
    });
}

#[test]
fn on_the_current_thread_runtime_block_in_place_panics_and_says_why() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let text = rt.block_on(async {
            let in_task =
                nbio::spawn(async { message(catch_unwind(|| block_in_place(|| ())).unwrap_err()) });
            in_task.await.unwrap()
        });
        assert!(text.contains("current-thread runtime"), "{text}");
        assert!(text.contains("spawn_blocking"), "{text}");
    });
}

#[test]
fn in_the_block_on_future_of_the_multi_thread_runtime_block_in_place_panics_and_says_why() {
    watched(|| {
        let rt = two_workers();
        let text =
            rt.block_on(async { message(catch_unwind(|| block_in_place(|| ())).unwrap_err()) });
        assert!(text.contains("block_on"), "{text}");
        assert!(text.contains("spawned task"), "{text}");
    });
}

#[test]
fn a_local_task_of_the_blocked_worker_waits_for_the_closure() {
    watched(|| {
        let rt = two_workers();
        let (ran_meanwhile, ran_after) = rt
            .block_on(rt.spawn(async {
                let done = Arc::new(AtomicBool::new(false));
                let local = nbio::spawn_local({
                    let done = Arc::clone(&done);
                    async move { done.store(true, SeqCst) }
                });
                let meanwhile = block_in_place(|| {
                    thread::sleep(Duration::from_millis(50));
                    done.load(SeqCst)
                });
                local.await.unwrap();
                (meanwhile, done.load(SeqCst))
            }))
            .unwrap();
        // Pinned to this worker, it can only run once the worker is back.
        assert_eq!((ran_meanwhile, ran_after), (false, true));
    });
}
