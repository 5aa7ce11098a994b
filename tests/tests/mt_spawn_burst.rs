//! Bursts of spawns on the multi-thread flavour: more tasks than a worker's run queue holds
//! (256), spawned without an await between them, so that the queue overflows into the
//! injection queue again and again while the other workers steal from both. Every task must
//! run exactly once, and none may wait for the worker that spawned it.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nbio::Runtime;
use nbio_tests::watched;

fn workers(n: usize) -> Runtime {
    Runtime::builder()
        .worker_threads(n)
        .slow_poll_threshold(None)
        .build()
        .unwrap()
}

/// Spawns `count` tasks from a task, each counting its runs and returning its index, then
/// joins them all; returns the sum of the outputs and the runs counted.
fn burst(rt: &Runtime, count: usize) -> (usize, usize) {
    rt.block_on(async move {
        nbio::spawn(async move {
            let runs = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    let runs = Arc::clone(&runs);
                    nbio::spawn(async move {
                        runs.fetch_add(1, SeqCst);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            (sum, runs.load(SeqCst))
        })
        .await
        .unwrap()
    })
}

#[test]
fn a_burst_far_larger_than_a_run_queue_runs_every_task_once() {
    for threads in [2, 4] {
        let (sum, runs, stats) = watched(move || {
            let rt = workers(threads);
            let (sum, runs) = burst(&rt, 20_000);
            (sum, runs, rt.stats())
        });
        assert_eq!(runs, 20_000, "{threads} workers: every task ran once");
        assert_eq!(
            sum,
            20_000 * 19_999 / 2,
            "{threads} workers: every output arrived"
        );
        assert_eq!(stats.tasks_completed, 20_001, "{stats:?}"); // the burst and its parent
        assert_eq!(stats.tasks_alive, 0, "{stats:?}");
    }
}

#[test]
fn a_burst_behind_a_blocked_spawner_is_run_by_the_other_worker() {
    const COUNT: usize = 3_000;
    let ran_while_blocked = watched(|| {
        let rt = workers(2);
        rt.block_on(async {
            nbio::spawn(async {
                let runs = Arc::new(AtomicUsize::new(0));
                let handles: Vec<_> = (0..COUNT)
                    .map(|_| {
                        let runs = Arc::clone(&runs);
                        nbio::spawn(async move {
                            runs.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                // Blocks the spawning worker: what its queue kept and what overflowed into the
                // injection queue must both reach the other worker meanwhile.
                let deadline = Instant::now() + Duration::from_secs(20);
                while runs.load(SeqCst) < COUNT && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                let ran = runs.load(SeqCst);
                for handle in handles {
                    handle.await.unwrap();
                }
                ran
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(
        ran_while_blocked, COUNT,
        "the other worker ran the whole burst while its spawner was blocked"
    );
}

#[test]
fn a_burst_from_outside_the_workers_lands_in_their_queues_once() {
    let (sum, stats) = watched(|| {
        let rt = workers(2);
        let handle = rt.handle();
        let spawner = thread::spawn(move || {
            (0..20_000usize)
                .map(|i| handle.spawn(async move { i }))
                .collect::<Vec<_>>()
        });
        let handles = spawner.join().unwrap();
        let sum = rt.block_on(async move {
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        });
        (sum, rt.stats())
    });
    assert_eq!(sum, 20_000 * 19_999 / 2);
    assert_eq!(stats.tasks_completed, 20_000, "{stats:?}");
}
