//! A million wakes from four threads onto the tasks of a multi-thread runtime, and counters
//! that stay exact while several threads write them.
//!
//! Each of four threads wakes its quarter of 1,000 tasks in rounds: one wake to each, then it
//! waits until each has seen that wake before the next round. A lost wake leaves a task waiting
//! for good, and the watchdog turns that hang into a failure.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use nbio::Runtime;
use nbio_tests::watchdog;

const TASKS: usize = 1_000;
const ROUNDS: usize = 1_000;
const THREADS: usize = 4;

#[derive(Default)]
struct Mailbox {
    sent: AtomicUsize,
    seen: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

#[test]
fn a_million_wakes_from_four_threads_all_arrive_on_two_workers() {
    let stats = watchdog("a million wakes", Duration::from_secs(120), || {
        let rt = Runtime::builder()
            .worker_threads(2)
            .slow_poll_threshold(None)
            .build()
            .unwrap();
        let boxes: Arc<Vec<Mailbox>> = Arc::new((0..TASKS).map(|_| Mailbox::default()).collect());
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let boxes = Arc::clone(&boxes);
                rt.spawn(async move {
                    let mailbox = &boxes[i];
                    poll_fn(|cx| {
                        *mailbox.waker.lock().unwrap() = Some(cx.waker().clone());
                        let sent = mailbox.sent.load(SeqCst);
                        mailbox.seen.store(sent, SeqCst);
                        if sent == ROUNDS {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await
                })
            })
            .collect();
        // Every task filed its waker before the storm starts.
        while boxes.iter().any(|b| b.waker.lock().unwrap().is_none()) {
            thread::yield_now();
        }
        let wakers: Vec<_> = (0..THREADS)
            .map(|t| {
                let boxes = Arc::clone(&boxes);
                thread::spawn(move || {
                    let mine: Vec<usize> = (t..TASKS).step_by(THREADS).collect();
                    for round in 1..=ROUNDS {
                        for &i in &mine {
                            boxes[i].sent.store(round, SeqCst);
                            let slot = boxes[i].waker.lock().unwrap();
                            let waker = slot.as_ref().unwrap();
                            if round % 2 == 0 {
                                waker.wake_by_ref();
                            } else {
                                let waker = waker.clone();
                                drop(slot);
                                waker.wake();
                            }
                        }
                        for &i in &mine {
                            while boxes[i].seen.load(SeqCst) < round {
                                thread::yield_now();
                            }
                        }
                    }
                })
            })
            .collect();
        for waker in wakers {
            waker.join().unwrap();
        }
        rt.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        rt.stats()
    });
    let wakes = (TASKS * ROUNDS) as u64;
    assert_eq!(stats.tasks_completed, TASKS as u64, "{stats}");
    // Every wake made its task runnable once (its thread waits until the task saw it before
    // the next): exact counts, summed over threads that wrote them at once. A wake that came
    // while its task was being polled is counted where the task was put back, as a local
    // wake of that worker, so `remote_wakes` may be a little short of the total.
    assert_eq!(stats.wakes - stats.block_on_wakes, wakes, "{stats}");
    assert!(stats.remote_wakes <= wakes, "{stats}");
    assert_eq!(stats.polls, TASKS as u64 + wakes, "{stats}");
    let per_worker: u64 = stats.workers.iter().map(|w| w.polls).sum();
    assert_eq!(per_worker, stats.polls, "{stats:?}");
    assert!(stats.workers.iter().all(|w| w.polls > 0), "{stats:?}");
}

#[test]
fn counters_are_exact_on_two_workers_for_a_known_workload() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let stats = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..100 {
            handles.push(nbio::spawn(async move { i }));
        }
        for i in 0..50 {
            handles.push(nbio::spawn(async move {
                nbio::yield_now().await;
                i
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        nbio::stats()
    });
    assert_eq!(stats.tasks_spawned, 150, "{stats}");
    assert_eq!(stats.tasks_completed, 150, "{stats}");
    assert_eq!(stats.tasks_alive, 0, "{stats}");
    assert_eq!(stats.polls, 100 + 50 * 2, "{stats}");
    assert_eq!(stats.wakes - stats.block_on_wakes, 50, "{stats}");
    assert_eq!(stats.workers.len(), 2);
}
