//! The life of a multi-thread runtime: panics stay in their task, timers never fire early on
//! any worker, dropping it drops every future and leaves no thread behind, and its deadlock
//! report fires when nothing can wake `block_on`'s future, and only then.
//!
//! The tests that count threads or expect a panic run in a child process of their own (the
//! test binary re-runs itself for one test), so that other tests' threads do not blur the count.

use std::process::Command;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use nbio::Runtime;
use nbio_tests::{thread_count, watched, DropCounter};

const CHILD: &str = "NBIO_MT_LIFECYCLE_CHILD";

fn playing(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Runs `test` alone in a child process; returns its success and its stderr.
fn run_child(test: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn two_workers() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

#[test]
fn a_panicking_task_on_a_worker_is_a_join_error_and_the_workers_run_on() {
    watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            let panicked = nbio::spawn(async { panic!("on a worker") });
            let err = panicked.await.unwrap_err();
            assert!(err.is_panic());
            assert!(err.to_string().contains("on a worker"), "{err}");
            // Both workers still serve.
            let after: Vec<_> = (0..100).map(|i| nbio::spawn(async move { i })).collect();
            let mut sum = 0;
            for task in after {
                sum += task.await.unwrap();
            }
            assert_eq!(sum, 4_950);
        });
    });
}

#[test]
fn timers_never_fire_early_on_any_worker() {
    watched(|| {
        let rt = two_workers();
        let early = rt.block_on(async {
            let tasks: Vec<_> = (0..200u64)
                .map(|i| {
                    nbio::spawn(async move {
                        let wanted = Duration::from_micros(300 + (i * 7919) % 20_000);
                        let start = Instant::now();
                        nbio::time::sleep(wanted).await;
                        start.elapsed() < wanted
                    })
                })
                .collect();
            let mut early = 0;
            for task in tasks {
                early += usize::from(task.await.unwrap());
            }
            early
        });
        assert_eq!(early, 0, "{early} sleeps ended before their deadline");
    });
}

#[test]
fn dropping_the_runtime_drops_every_future_and_leaves_no_thread() {
    if !playing("dropping_the_runtime_drops_every_future_and_leaves_no_thread") {
        let (ok, stderr) =
            run_child("dropping_the_runtime_drops_every_future_and_leaves_no_thread");
        assert!(ok, "{stderr}");
        return;
    }
    let threads_before = thread_count();
    let drops = DropCounter::new();
    let rt = two_workers();
    // 1,000 tasks that never finish: idle ones on the workers, pinned ones on a worker and on
    // the block_on thread, and some still queued when the runtime goes.
    rt.block_on(async {
        for i in 0..1_000 {
            let guard = drops.guard();
            match i % 4 {
                0 => {
                    nbio::spawn(async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    });
                }
                1 => {
                    nbio::spawn(async move {
                        nbio::spawn_local(async move {
                            let _guard = (guard, Rc::new(()));
                            std::future::pending::<()>().await
                        });
                    });
                }
                2 => {
                    nbio::spawn_local(async move {
                        let _guard = (guard, Rc::new(()));
                        std::future::pending::<()>().await
                    });
                }
                _ => {
                    nbio::spawn(async move {
                        let _guard = guard;
                        nbio::time::sleep(Duration::from_secs(3600)).await
                    });
                }
            }
        }
        nbio::time::sleep(Duration::from_millis(20)).await;
    });
    assert!(thread_count() > threads_before, "the workers are running");
    drop(rt);
    assert_eq!(drops.drops(), 1_000, "every future was dropped once");
    assert_eq!(
        thread_count(),
        threads_before,
        "a thread of the runtime (worker or watchdog) outlived it"
    );
}

#[test]
fn the_deadlock_report_fires_when_nothing_can_wake_block_on_on_two_workers() {
    if playing("the_deadlock_report_fires_when_nothing_can_wake_block_on_on_two_workers") {
        let rt = two_workers();
        rt.block_on(async {
            let _stuck = nbio::spawn(std::future::pending::<()>());
            std::future::pending::<()>().await
        });
        return;
    }
    let (ok, stderr) =
        run_child("the_deadlock_report_fires_when_nothing_can_wake_block_on_on_two_workers");
    assert!(
        !ok,
        "block_on returned from a future that can never complete"
    );
    assert!(stderr.contains("nbio: deadlock"), "{stderr}");
    assert!(
        stderr.contains("1 live task(s)"),
        "the report lists the stuck task: {stderr}"
    );
}

#[test]
fn the_deadlock_report_stays_quiet_while_a_timer_or_a_thread_can_still_wake_block_on() {
    watched(|| {
        let rt = two_workers();
        rt.block_on(nbio::time::sleep(Duration::from_millis(150)));
        let handle = rt.handle();
        let (sender, receiver) = nbio_tests::oneshot::<u32>();
        let feeder = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            drop(handle);
            sender.send(5);
        });
        assert_eq!(rt.block_on(receiver), Some(5));
        feeder.join().unwrap();
    });
}
