//! `nbio::sync::Mutex` excludes: one holder at a time, across tasks of one runtime and across
//! threads each running its own runtime, even with the guard held over an `.await`. It also
//! says who holds it and where it was made.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nbio::sync::Mutex;
use nbio_tests::watched;

/// What the lock protects: a plain counter, and a count of holders that must never pass one.
struct Shared {
    holders: AtomicUsize,
    most_holders: AtomicUsize,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            holders: AtomicUsize::new(0),
            most_holders: AtomicUsize::new(0),
        })
    }

    fn enter(&self) {
        let now = self.holders.fetch_add(1, SeqCst) + 1;
        self.most_holders.fetch_max(now, SeqCst);
    }

    fn leave(&self) {
        self.holders.fetch_sub(1, SeqCst);
    }
}

const THREADS: usize = 4;
const TASKS: usize = 8;
const ROUNDS: usize = 200;

#[test]
fn the_mutex_excludes_across_threads_each_running_tasks_on_its_own_runtime() {
    watched(|| {
        let mutex = Arc::new(Mutex::new(0u64));
        let shared = Shared::new();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (mutex, shared) = (Arc::clone(&mutex), Arc::clone(&shared));
                thread::spawn(move || {
                    nbio::block_on(async move {
                        let tasks: Vec<_> = (0..TASKS)
                            .map(|_| {
                                let (mutex, shared) = (Arc::clone(&mutex), Arc::clone(&shared));
                                nbio::spawn(async move {
                                    for round in 0..ROUNDS {
                                        let mut count = mutex.lock().await;
                                        shared.enter();
                                        let before = *count;
                                        if round % 4 == 0 {
                                            nbio::yield_now().await; // held across an await
                                        }
                                        *count = before + 1;
                                        shared.leave();
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(shared.most_holders.load(SeqCst), 1, "two holders at once");
        let total = Arc::try_unwrap(mutex).unwrap().into_inner();
        assert_eq!(
            total,
            (THREADS * TASKS * ROUNDS) as u64,
            "an increment was lost"
        );
    });
}

#[test]
fn the_mutex_excludes_tasks_that_run_on_two_worker_threads() {
    watched(|| {
        let runtime = nbio::Runtime::builder().worker_threads(2).build().unwrap();
        let mutex = Arc::new(Mutex::new(0u64));
        let shared = Shared::new();
        let on_workers = runtime.block_on({
            let (mutex, shared) = (Arc::clone(&mutex), Arc::clone(&shared));
            async move {
                let tasks: Vec<_> = (0..THREADS * TASKS)
                    .map(|_| {
                        let (mutex, shared) = (Arc::clone(&mutex), Arc::clone(&shared));
                        nbio::spawn(async move {
                            for round in 0..ROUNDS {
                                let mut count = mutex.lock().await;
                                shared.enter();
                                let before = *count;
                                if round % 4 == 0 {
                                    nbio::yield_now().await; // held across an await
                                }
                                *count = before + 1;
                                shared.leave();
                                drop(count);
                                // Work outside the lock, so that ready lockers pile up and the
                                // idle worker takes some: both threads contend for the mutex.
                                let spin = Instant::now();
                                while spin.elapsed() < Duration::from_micros(20) {
                                    std::hint::spin_loop();
                                }
                                nbio::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                nbio::stats()
            }
        });
        assert!(
            on_workers.workers.iter().all(|worker| worker.polls > 0),
            "both workers ran lockers: {on_workers:?}"
        );
        assert_eq!(shared.most_holders.load(SeqCst), 1, "two holders at once");
        assert_eq!(
            *runtime.block_on(mutex.lock()),
            (THREADS * TASKS * ROUNDS) as u64,
            "an increment was lost"
        );
    });
}

#[test]
fn the_mutex_excludes_plain_threads_that_block_on_each_lock() {
    watched(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..THREADS)
            .map(|id| {
                let mutex = Arc::clone(&mutex);
                thread::spawn(move || {
                    for n in 0..500 {
                        nbio::block_on(async { mutex.lock().await.push((id, n)) });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut all = Arc::try_unwrap(mutex).unwrap().into_inner();
        assert_eq!(all.len(), THREADS * 500);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), THREADS * 500, "every push is there once");
    });
}

#[test]
fn try_lock_fails_while_held_and_get_mut_needs_no_lock() {
    let mut mutex = Mutex::new(String::from("a"));
    {
        let mut guard = mutex.try_lock().unwrap();
        guard.push('b');
        let err = mutex.try_lock().unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
    }
    mutex.get_mut().push('c');
    assert_eq!(mutex.into_inner(), "abc");
}

#[test]
fn the_mutex_knows_which_task_holds_it_and_where_it_was_made() {
    watched(|| {
        nbio::block_on(async {
            let mutex = Arc::new(Mutex::new(()));
            let line = line!() - 1;
            assert!(mutex.made_at().file().ends_with("sync_mutex.rs"));
            assert_eq!(mutex.made_at().line(), line);
            let (locked_tx, locked_rx) = nbio::sync::oneshot::channel();
            let (release_tx, release_rx) = nbio::sync::oneshot::channel::<()>();
            let holder = nbio::spawn({
                let mutex = Arc::clone(&mutex);
                async move {
                    let _guard = mutex.lock().await;
                    locked_tx.send(()).unwrap();
                    release_rx.await.unwrap();
                }
            });
            locked_rx.await.unwrap();
            let held_by = mutex.holder().expect("a task holds it");
            let shown = format!("{mutex:?}");
            assert!(
                shown.contains("<locked>") && shown.contains("sync_mutex.rs"),
                "{shown}"
            );
            assert!(shown.contains(&format!("{}", held_by.as_u64())), "{shown}");
            release_tx.send(()).unwrap();
            holder.await.unwrap();
            assert_eq!(mutex.holder(), None, "nobody holds it now");
            // Locked by the future given to block_on, which is not a task: no holder id.
            let _guard = mutex.lock().await;
            assert_eq!(mutex.holder(), None);
        });
    });
}
