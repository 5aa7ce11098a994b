//! No lost wakeups, and a task is queued at most once and never polled after it finished.
//!
//! DESIGN.md: "a wake that arrives while a task is being polled, or from another thread while
//! the executor is parked in the reactor, is never lost" and "a task is in the run queue at
//! most once and is never polled after it finished". A lost wakeup is a hang, so every test
//! that could lose one runs under a watchdog that turns the hang into a failure.

use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use nbio_tests::{oneshot, shuffled, watched, Sender};

/// How many hand-offs the lost-wakeup tests make: enough to land in every window of the
/// park protocol (before `parked` is set, between setting it and blocking, while blocked).
const ROUNDS: usize = 2_000;

/// How long the waking thread waits before it wakes, cycling through "at once", "a busy
/// moment" and "a real sleep", so that wakes land before, during and after the runtime parks.
fn delay_for(round: usize) -> Option<Duration> {
    match round % 4 {
        0 => None,
        1 => Some(Duration::from_nanos(500)),
        2 => Some(Duration::from_micros(3)),
        _ => Some(Duration::from_micros(20)),
    }
}

fn pause(delay: Option<Duration>) {
    match delay {
        None => {}
        // Below the scheduler's granularity a sleep would always take ~50 µs: spin instead.
        Some(d) if d < Duration::from_micros(5) => {
            let start = Instant::now();
            while start.elapsed() < d {
                std::hint::spin_loop();
            }
        }
        Some(d) => thread::sleep(d),
    }
}

/// A thread that completes each oneshot it is given after that round's delay, standing in for
/// a driver or a worker pool that wakes tasks from outside the runtime.
fn spawn_waking_thread() -> (mpsc::Sender<(Sender<usize>, usize)>, thread::JoinHandle<()>) {
    let (jobs, inbox) = mpsc::channel::<(Sender<usize>, usize)>();
    let thread = thread::spawn(move || {
        for (sender, round) in inbox {
            pause(delay_for(round));
            sender.send(round);
        }
    });
    (jobs, thread)
}

#[test]
fn a_wake_from_another_thread_while_parked_is_never_lost_for_a_spawned_task() {
    let stats = watched(|| {
        let (jobs, waking_thread) = spawn_waking_thread();
        let stats = nbio::block_on(async move {
            for round in 0..ROUNDS {
                let (tx, rx) = oneshot();
                let task = nbio::spawn(rx);
                jobs.send((tx, round)).unwrap();
                assert_eq!(task.await.unwrap(), Some(round), "round {round}");
            }
            nbio::stats()
        });
        waking_thread.join().unwrap();
        stats
    });
    assert_eq!(stats.tasks_completed, ROUNDS as u64);
    // The rounds with a real sleep find the task parked: their wake took the remote path.
    assert!(
        stats.remote_wakes > 0,
        "no wake came from the other thread: {stats}"
    );
}

#[test]
fn a_wake_from_another_thread_while_parked_is_never_lost_for_the_block_on_future() {
    watched(|| {
        let (jobs, waking_thread) = spawn_waking_thread();
        let runtime = nbio::Runtime::new().unwrap();
        for round in 0..ROUNDS {
            let (tx, rx) = oneshot();
            jobs.send((tx, round)).unwrap();
            assert_eq!(runtime.block_on(rx), Some(round), "round {round}");
        }
        drop(jobs);
        waking_thread.join().unwrap();
    });
}

/// What the other thread and the `block_on` future share in the race below.
#[derive(Default)]
struct ParkRace {
    waker: Mutex<Option<Waker>>,
    /// Set by the future just before it returns `Pending`: the runtime is about to park.
    parking: AtomicBool,
    /// Set by the other thread before it wakes: the future may complete.
    woken: AtomicBool,
    delay_ns: AtomicU64,
    stop: AtomicBool,
}

/// The `block_on` future waits; another thread wakes it *by value*, a swept delay after the
/// future returned `Pending`, so that across the rounds the wake lands at every point of the
/// runtime's way into the reactor. The wake is a real one: reporting "deadlock: nothing can
/// ever wake it" (the check `CurrentThread::park` makes before it blocks, `check_before_block`,
/// which asks `diagnose::verdict`) for it is wrong.
#[test]
fn a_wake_by_value_racing_the_park_is_not_reported_as_a_deadlock() {
    const RACE_ROUNDS: u64 = 100_000;
    let race = Arc::new(ParkRace::default());
    let other = Arc::clone(&race);
    let waking_thread = thread::spawn(move || loop {
        while !other.parking.swap(false, SeqCst) {
            if other.stop.load(SeqCst) {
                return;
            }
            std::hint::spin_loop();
        }
        pause(Some(Duration::from_nanos(other.delay_ns.load(SeqCst))));
        let waker = other.waker.lock().unwrap().take().unwrap();
        other.woken.store(true, SeqCst);
        waker.wake();
    });
    let result = watched(move || {
        let runtime = nbio::Runtime::new().unwrap();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            for round in 0..RACE_ROUNDS {
                race.delay_ns.store(round * 7 % 3_000, SeqCst);
                runtime.block_on(poll_fn(|cx| {
                    if race.woken.swap(false, SeqCst) {
                        return Poll::Ready(());
                    }
                    *race.waker.lock().unwrap() = Some(cx.waker().clone());
                    race.parking.store(true, SeqCst);
                    Poll::Pending
                }));
            }
        }));
        race.stop.store(true, SeqCst);
        outcome
    });
    waking_thread.join().unwrap();
    if let Err(payload) = result {
        panic::resume_unwind(payload);
    }
}

#[test]
fn many_tasks_woken_from_another_thread_in_a_burst_all_complete() {
    const TASKS: usize = 64;
    const BURSTS: usize = 50;
    watched(|| {
        nbio::block_on(async {
            for burst in 0..BURSTS {
                let mut senders = Vec::new();
                let mut handles = Vec::new();
                for i in 0..TASKS {
                    let (tx, rx) = oneshot();
                    senders.push((i, tx));
                    handles.push(nbio::spawn(rx));
                }
                // Let every task run once and park on its receiver.
                nbio::yield_now().await;
                let order = shuffled(TASKS, burst as u64 + 1);
                let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
                let senders: Vec<_> = order.iter().map(|&i| senders[i].take().unwrap()).collect();
                let waker = thread::spawn(move || {
                    for (i, tx) in senders {
                        tx.send(i);
                    }
                });
                for (i, handle) in handles.into_iter().enumerate() {
                    assert_eq!(handle.await.unwrap(), Some(i), "burst {burst}");
                }
                waker.join().unwrap();
            }
        })
    });
}

/// Returns `Pending` `times` times, each time waking itself during the poll (by reference, or
/// by an owned clone), then `Ready`. Counts its polls.
struct SelfWaking {
    remaining: usize,
    by_clone: bool,
    polls: Arc<AtomicUsize>,
}

impl Future for SelfWaking {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, SeqCst);
        if self.remaining == 0 {
            return Poll::Ready(());
        }
        self.remaining -= 1;
        if self.by_clone {
            // On purpose: waking an owned waker consumes its reference, a different path in
            // the runtime from `wake_by_ref`.
            #[allow(clippy::waker_clone_wake)]
            cx.waker().clone().wake();
        } else {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

fn self_waking(times: usize, by_clone: bool) -> (SelfWaking, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let future = SelfWaking {
        remaining: times,
        by_clone,
        polls: Arc::clone(&polls),
    };
    (future, polls)
}

#[test]
fn a_self_wake_by_ref_during_poll_requeues_the_task_until_it_completes() {
    let (future, polls) = self_waking(100, false);
    let stats = watched(|| {
        nbio::block_on(async move {
            nbio::spawn(future).await.unwrap();
            nbio::stats()
        })
    });
    assert_eq!(polls.load(SeqCst), 101);
    assert_eq!(
        stats.polls, 101,
        "each self-wake costs exactly one more poll"
    );
    assert_eq!(
        stats.wakes - stats.block_on_wakes,
        100,
        "each self-wake re-queues the task once"
    );
}

#[test]
fn a_self_wake_by_an_owned_clone_during_poll_requeues_the_task_until_it_completes() {
    let (future, polls) = self_waking(100, true);
    watched(|| nbio::block_on(async move { nbio::spawn(future).await.unwrap() }));
    assert_eq!(polls.load(SeqCst), 101);
}

#[test]
fn a_self_wake_during_poll_of_the_block_on_future_polls_it_again() {
    let (future, polls) = self_waking(100, false);
    watched(|| nbio::block_on(future));
    assert_eq!(polls.load(SeqCst), 101);
}

/// Returns `Pending` `times` times; each time, during the poll, another thread wakes it and
/// is joined before the poll returns, so the wake surely lands while the task is running.
struct WokenFromAnotherThreadDuringPoll {
    remaining: usize,
    polls: Arc<AtomicUsize>,
}

impl Future for WokenFromAnotherThreadDuringPoll {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, SeqCst);
        if self.remaining == 0 {
            return Poll::Ready(());
        }
        self.remaining -= 1;
        let waker = cx.waker().clone();
        thread::scope(|s| {
            s.spawn(move || waker.wake());
        });
        Poll::Pending
    }
}

#[test]
fn a_wake_from_another_thread_during_poll_requeues_the_task() {
    let polls = Arc::new(AtomicUsize::new(0));
    let future = WokenFromAnotherThreadDuringPoll {
        remaining: 50,
        polls: Arc::clone(&polls),
    };
    watched(|| nbio::block_on(async move { nbio::spawn(future).await.unwrap() }));
    assert_eq!(polls.load(SeqCst), 51);
}

/// A task that parks once (leaving its waker in `slot`) and completes on its second poll.
fn park_once(
    polls: Arc<AtomicUsize>,
    slot: Arc<Mutex<Option<Waker>>>,
) -> impl Future<Output = ()> + Send {
    poll_fn(move |cx| {
        if polls.fetch_add(1, SeqCst) == 0 {
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

/// Yields until the task has parked and left its waker.
async fn parked_waker(slot: &Mutex<Option<Waker>>) -> Waker {
    loop {
        if let Some(waker) = slot.lock().unwrap().clone() {
            return waker;
        }
        nbio::yield_now().await;
    }
}

#[test]
fn a_task_woken_1000_times_on_its_own_thread_before_it_runs_is_polled_once_more() {
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None));
    let task = park_once(Arc::clone(&polls), Arc::clone(&slot));
    let stats = watched(move || {
        nbio::block_on(async move {
            let handle = nbio::spawn(task);
            let waker = parked_waker(&slot).await;
            for _ in 0..1_000 {
                waker.wake_by_ref();
            }
            handle.await.unwrap();
            nbio::stats()
        })
    });
    assert_eq!(polls.load(SeqCst), 2, "queued once, so polled once more");
    assert_eq!(stats.polls, 2);
    assert_eq!(
        stats.wakes - stats.block_on_wakes,
        1,
        "only the first of 1,000 wakes may queue the task"
    );
}

#[test]
fn a_task_woken_1000_times_from_other_threads_before_it_runs_is_polled_once_more() {
    let polls = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None));
    let task = park_once(Arc::clone(&polls), Arc::clone(&slot));
    let stats = watched(move || {
        nbio::block_on(async move {
            let handle = nbio::spawn(task);
            let waker = parked_waker(&slot).await;
            // Four threads wake it 250 times each, all while the runtime's thread is held
            // here, so none of the wakes can be consumed before the last one is made.
            thread::scope(|s| {
                for _ in 0..4 {
                    let waker = waker.clone();
                    s.spawn(move || {
                        for _ in 0..250 {
                            waker.wake_by_ref();
                        }
                    });
                }
            });
            handle.await.unwrap();
            nbio::stats()
        })
    });
    assert_eq!(polls.load(SeqCst), 2, "queued once, so polled once more");
    assert_eq!(stats.polls, 2);
    assert_eq!(
        stats.remote_wakes, 1,
        "only one of 1,000 wakes may queue the task"
    );
}

#[test]
fn a_finished_task_is_never_polled_again_however_often_it_is_woken() {
    let stats = watched(|| {
        nbio::block_on(async {
            let slot = Arc::new(Mutex::new(None));
            let stash = Arc::clone(&slot);
            // The task keeps a waker of its own, then finishes.
            nbio::spawn(poll_fn(move |cx| {
                *stash.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            }))
            .await
            .unwrap();
            let before = nbio::stats();
            let waker = slot.lock().unwrap().take().unwrap();
            for _ in 0..1_000 {
                waker.wake_by_ref();
            }
            thread::scope(|s| {
                s.spawn(|| waker.wake_by_ref());
            });
            waker.wake();
            for _ in 0..10 {
                nbio::yield_now().await;
            }
            (before, nbio::stats())
        })
    });
    let (before, after) = stats;
    assert_eq!(
        after.polls, before.polls,
        "a finished task was polled again"
    );
    assert_eq!(
        after.wakes - after.block_on_wakes,
        before.wakes - before.block_on_wakes,
        "a finished task was queued again"
    );
}
