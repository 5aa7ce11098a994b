//! The multi-thread flavour's scheduling: work spreads over the workers, a blocked worker's
//! queue is taken by the other, `spawn_local` never migrates, a `Handle` spawns from anywhere,
//! and a hand-off between two tasks stays on one worker.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use nbio::Runtime;
use nbio_tests::watched;

fn two_workers() -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .slow_poll_threshold(None)
        .build()
        .unwrap()
}

/// Burns `duration` of CPU without sleeping.
fn compute(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

#[test]
fn cpu_bound_tasks_run_on_both_workers() {
    let threads = watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            let seen = Arc::new(Mutex::new(HashSet::new()));
            let tasks: Vec<_> = (0..40)
                .map(|_| {
                    let seen = Arc::clone(&seen);
                    nbio::spawn(async move {
                        compute(Duration::from_millis(2));
                        seen.lock().unwrap().insert(thread::current().id());
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let seen = seen.lock().unwrap().len();
            seen
        })
    });
    assert_eq!(
        threads, 2,
        "40 tasks of 2 ms each ran on {threads} worker(s)"
    );
}

#[test]
fn a_blocked_workers_queue_is_drained_by_the_other_including_what_it_spawned_just_before() {
    watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            let parent = nbio::spawn(async {
                let children: Vec<_> = (0..50).map(|i| nbio::spawn(async move { i })).collect();
                // Blocks its worker: the children must not wait for it.
                thread::sleep(Duration::from_millis(300));
                children
            });
            nbio::time::sleep(Duration::from_millis(100)).await;
            assert!(!parent.is_finished(), "the parent still blocks its worker");
            let children = parent.await.unwrap();
            let done_while_blocked = children.iter().filter(|c| c.is_finished()).count();
            assert_eq!(done_while_blocked, 50, "the other worker ran every child");
            let stats = nbio::stats();
            assert!(stats.workers.iter().any(|w| w.steals > 0), "{stats:?}");
        });
    });
}

#[test]
fn spawn_local_tasks_never_leave_their_thread() {
    watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            // Pinned to a worker: spawn_local from a task running there.
            let on_worker = nbio::spawn(async {
                let here = thread::current().id();
                let threads: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
                let record = Arc::clone(&threads);
                nbio::spawn_local(async move {
                    let _not_send = std::rc::Rc::new(());
                    for _ in 0..200 {
                        record.lock().unwrap().push(thread::current().id());
                        nbio::yield_now().await;
                    }
                })
                .await
                .unwrap();
                let threads = threads.lock().unwrap();
                threads.iter().all(|&t| t == here)
            });
            // Busy work on the other worker meanwhile, so that stealing would have a reason.
            let busy: Vec<_> = (0..20)
                .map(|_| nbio::spawn(async { compute(Duration::from_millis(1)) }))
                .collect();
            assert!(
                on_worker.await.unwrap(),
                "a pinned task moved to another thread"
            );
            for task in busy {
                task.await.unwrap();
            }
            // Pinned to the block_on thread.
            let me = thread::current().id();
            let ran_on = nbio::spawn_local(async { thread::current().id() })
                .await
                .unwrap();
            assert_eq!(ran_on, me);
        });
    });
}

#[test]
fn a_handle_spawns_from_a_plain_thread_on_both_flavours() {
    for workers in [None, Some(2)] {
        watched(move || {
            let builder = Runtime::builder();
            let rt = match workers {
                Some(n) => builder.worker_threads(n).build().unwrap(),
                None => builder.build().unwrap(),
            };
            let handle = rt.handle();
            let tasks = thread::spawn(move || {
                (0..100u64)
                    .map(|i| handle.spawn(async move { i * 2 }))
                    .collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            let sum = rt.block_on(async {
                let mut sum = 0;
                for task in tasks {
                    sum += task.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, 9_900);
            let stats = rt.stats();
            assert_eq!(stats.tasks_spawned, 100, "{stats}");
            assert_eq!(stats.tasks_completed, 100, "{stats}");
        });
    }
}

#[test]
fn handle_current_inside_a_worker_spawns_onto_the_same_runtime() {
    watched(|| {
        let rt = two_workers();
        let spawned = rt.block_on(async {
            nbio::spawn(async {
                let handle = nbio::Handle::current();
                handle.spawn(async { 7 }).await.unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(spawned, 7);
        assert_eq!(rt.stats().tasks_spawned, 2);
    });
}

/// One side of a hand-off: moves the counter on when it is this side's turn (`parity`), wakes
/// the other side, and waits for its own next turn.
///
/// It leaves its waker before it reads the counter: the two sides may run at once on the two
/// workers (under valgrind they did), and a side that read "not my turn", then left its waker
/// after the other side had looked for it, would wait for a wake that nobody sends.
async fn player(turn: Arc<AtomicUsize>, parity: usize, wakers: Arc<Mutex<[Option<Waker>; 2]>>) {
    std::future::poll_fn(|cx| {
        wakers.lock().unwrap()[parity] = Some(cx.waker().clone());
        let n = turn.load(SeqCst);
        if n >= HANDOFFS {
            if let Some(other) = wakers.lock().unwrap()[1 - parity].take() {
                other.wake();
            }
            return Poll::Ready(());
        }
        if n % 2 == parity {
            turn.store(n + 1, SeqCst);
            if let Some(other) = wakers.lock().unwrap()[1 - parity].take() {
                other.wake();
            }
        }
        Poll::Pending
    })
    .await
}

const HANDOFFS: usize = 20_000;

#[test]
fn a_ping_pong_between_two_tasks_stays_on_one_worker() {
    let stats = watched(|| {
        let rt = two_workers();
        rt.block_on(async {
            let turn = Arc::new(AtomicUsize::new(0));
            let wakers: Arc<Mutex<[Option<Waker>; 2]>> = Arc::default();
            let a = nbio::spawn(player(Arc::clone(&turn), 0, Arc::clone(&wakers)));
            let b = nbio::spawn(player(Arc::clone(&turn), 1, wakers));
            a.await.unwrap();
            b.await.unwrap();
            nbio::stats()
        })
    });
    let unparks: u64 = stats.workers.iter().map(|w| w.unparks).sum();
    // A few wake-ups of the second worker at the start are fine; one per hand-off is not.
    assert!(
        unparks < (HANDOFFS / 100) as u64,
        "{unparks} unparks for {HANDOFFS} hand-offs: the workers woke each other: {stats:?}"
    );
}
