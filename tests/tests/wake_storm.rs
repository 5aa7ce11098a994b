//! Wake storms: a million wakes from four threads onto the tasks of a runtime that keeps
//! parking, and tasks that wake themselves while they are polled; everything completes.
//!
//! `wakeups.rs` sweeps single hand-offs across every window of the park protocol. Here the
//! wakes come by the hundred thousand from four threads at once, by reference and by value,
//! racing each other, the runtime's polls and its way into and out of the reactor.
//!
//! Each thread wakes a quarter of the tasks, in rounds: one wake to each of its tasks, then it
//! waits until every one of them has seen that wake. So no other wake can come to rescue a
//! task whose wake was lost: the task waits for good, and with it its thread and the test,
//! which the watchdog turns into a failure naming the test. (A lost *notification* of the
//! parked runtime is another matter: any other thread's next wake ends the runtime's wait and
//! rescues it, so a storm cannot pin that loss down; `wakeups.rs` does, one hand-off at a
//! time.) A task queued twice shows up in the counters: a task cannot be polled more often
//! than it was woken, plus once for its spawn.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use nbio_tests::{watchdog, DropCounter, DropGuard};

/// Threads that wake.
const THREADS: usize = 4;

/// What a task and the threads that wake it share.
#[derive(Default)]
struct Mailbox {
    /// Wakes sent so far; the task completes when it sees the last one.
    sent: AtomicUsize,
    /// What `sent` was when the task last looked, after filing its waker.
    seen: AtomicUsize,
    /// The task's waker, filed at its first poll and kept up to date.
    waker: Mutex<Option<Waker>>,
}

impl Mailbox {
    /// Counts a wake and wakes the task: by reference under the lock, or by value (a clone,
    /// consumed) outside it, two different paths through the runtime's waker. Returns the
    /// count this wake made.
    fn send(&self, by_value: bool) -> usize {
        let count = self.sent.fetch_add(1, SeqCst) + 1;
        let slot = self.waker.lock().unwrap();
        let waker = slot
            .as_ref()
            .expect("the task filed its waker before the storm");
        if by_value {
            let waker = waker.clone();
            drop(slot);
            waker.wake();
        } else {
            waker.wake_by_ref();
        }
        count
    }

    /// Waits (on a plain thread) until the task has looked at the count after wake `count`.
    fn until_seen(&self, count: usize) {
        while self.seen.load(SeqCst) < count {
            thread::sleep(Duration::from_micros(20));
        }
    }
}

/// A task that waits until `expected` wakes were sent to its mailbox, and wakes itself
/// `self_wakes` times along the way (during its own polls). Returns how often it was polled.
struct Storm {
    mailbox: Arc<Mailbox>,
    expected: usize,
    self_wakes: usize,
    polls: usize,
    _guard: DropGuard,
}

impl Future for Storm {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        {
            let mut slot = self.mailbox.waker.lock().unwrap();
            match &mut *slot {
                Some(filed) if filed.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        // Looked at after filing the waker: a wake sent in between is seen now or wakes us.
        let sent = self.mailbox.sent.load(SeqCst);
        self.mailbox.seen.fetch_max(sent, SeqCst);
        let done_waiting = sent >= self.expected;
        // Self-wakes on every other poll, so that the task also parks and waits for the
        // threads in between (and on every poll once no remote wake is left to wait for).
        if self.self_wakes > 0 && (self.polls % 2 == 1 || done_waiting) {
            self.self_wakes -= 1;
            if self.self_wakes.is_multiple_of(2) {
                cx.waker().wake_by_ref();
            } else {
                #[allow(clippy::waker_clone_wake)] // on purpose: the by-value path
                cx.waker().clone().wake();
            }
            return Poll::Pending;
        }
        if done_waiting && self.self_wakes == 0 {
            Poll::Ready(self.polls)
        } else {
            Poll::Pending
        }
    }
}

/// What a storm run measured.
struct Outcome {
    wakes_sent: usize,
    polls_per_task: Vec<usize>,
    stats: nbio::Stats,
    futures_dropped: usize,
    elapsed: Duration,
}

/// Spawns `tasks` storm tasks, lets each file its waker, then has `THREADS` threads send
/// `wakes_per_task` wakes to every task (each thread to its own quarter of the tasks, by
/// reference and by value in turns), and waits for every task to complete.
fn storm(tasks: usize, wakes_per_task: usize, self_wakes: usize) -> Outcome {
    let started = Instant::now();
    let drops = DropCounter::new();
    let mailboxes: Vec<Arc<Mailbox>> = (0..tasks).map(|_| Arc::default()).collect();
    // Four busy threads on two cores can hold up a poll for a scheduler tick: no warnings.
    let runtime = nbio::Runtime::builder()
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let polls_per_task = runtime.block_on(async {
        let handles: Vec<_> = mailboxes
            .iter()
            .map(|mailbox| {
                nbio::spawn(Storm {
                    mailbox: Arc::clone(mailbox),
                    expected: wakes_per_task,
                    self_wakes,
                    polls: 0,
                    _guard: drops.guard(),
                })
            })
            .collect();
        // Until every task has run once and filed its waker (the loop polls up to
        // `event_interval` tasks between two polls of this future).
        while mailboxes.iter().any(|m| m.waker.lock().unwrap().is_none()) {
            nbio::yield_now().await;
        }
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let mine: Vec<Arc<Mailbox>> =
                    mailboxes.iter().skip(t).step_by(THREADS).cloned().collect();
                thread::spawn(move || {
                    let mut sent = 0;
                    for round in 0..wakes_per_task {
                        for mailbox in &mine {
                            mailbox.send(round % 2 == 1);
                            sent += 1;
                        }
                        // Every wake of the round seen: the count is `round + 1` per task.
                        for mailbox in &mine {
                            mailbox.until_seen(round + 1);
                        }
                    }
                    sent
                })
            })
            .collect();
        let mut polls = Vec::with_capacity(tasks);
        for handle in handles {
            polls.push(handle.await.expect("a storm task panicked"));
        }
        let sent: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sent, tasks * wakes_per_task);
        polls
    });
    let stats = runtime.stats();
    Outcome {
        wakes_sent: mailboxes.iter().map(|m| m.sent.load(SeqCst)).sum(),
        polls_per_task,
        stats,
        futures_dropped: drops.drops(),
        elapsed: started.elapsed(),
    }
}

/// The checks every storm must pass: every task completed and was dropped once, and no task
/// was polled more often than it was woken (plus its first poll).
fn check(outcome: &Outcome, tasks: usize) {
    let stats = outcome.stats.clone();
    assert_eq!(outcome.polls_per_task.len(), tasks);
    assert_eq!(stats.tasks_completed as usize, tasks, "{stats}");
    assert_eq!(stats.tasks_alive, 0, "{stats}");
    assert_eq!(outcome.futures_dropped, tasks, "every future dropped once");
    assert!(
        stats.polls <= stats.tasks_spawned + stats.wakes,
        "more polls than wakes: a task was queued twice ({stats})"
    );
    assert_eq!(
        outcome.polls_per_task.iter().sum::<usize>() as u64,
        stats.polls,
        "the runtime's poll count disagrees with the tasks' own ({stats})"
    );
}

#[test]
fn a_million_wakes_from_four_threads_onto_a_parking_runtime_all_arrive() {
    const TASKS: usize = 1_000;
    const WAKES_PER_TASK: usize = 1_000;
    let outcome = watchdog("a million wakes", Duration::from_secs(120), || {
        storm(TASKS, WAKES_PER_TASK, 0)
    });
    let stats = outcome.stats.clone();
    eprintln!(
        "{} wakes from {THREADS} threads onto {TASKS} tasks in {:.1?}: {stats}",
        outcome.wakes_sent, outcome.elapsed
    );
    assert_eq!(outcome.wakes_sent, 1_000_000);
    check(&outcome, TASKS);
    assert!(stats.remote_wakes > 0, "{stats}");
    assert!(
        stats.reactor_waits > 0,
        "the runtime never parked during the storm: {stats}"
    );
}

#[test]
fn tasks_that_wake_themselves_while_polled_during_a_storm_of_remote_wakes_all_complete() {
    const TASKS: usize = 500;
    const WAKES_PER_TASK: usize = 400;
    const SELF_WAKES: usize = 200;
    let outcome = watchdog("self-wakes in a storm", Duration::from_secs(120), || {
        storm(TASKS, WAKES_PER_TASK, SELF_WAKES)
    });
    let stats = outcome.stats.clone();
    eprintln!(
        "{} remote wakes and {} self-wakes onto {TASKS} tasks in {:.1?}: {stats}",
        outcome.wakes_sent,
        TASKS * SELF_WAKES,
        outcome.elapsed
    );
    check(&outcome, TASKS);
    for (task, &polls) in outcome.polls_per_task.iter().enumerate() {
        // Every self-wake must bring one more poll, or the task would never have used them up.
        assert!(
            polls > SELF_WAKES,
            "task {task} was polled {polls} times for {SELF_WAKES} self-wakes"
        );
    }
    assert!(
        stats.wakes - stats.remote_wakes >= (TASKS * SELF_WAKES) as u64,
        "a self-wake during a poll did not re-queue the task: {stats}"
    );
}
