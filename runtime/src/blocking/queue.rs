//! The pool's queue: jobs waiting for a thread, and the handshake between the code that submits
//! a job and the pool threads that sleep while there is none.
//!
//! Everything lives under one lock, with one condition variable that idle threads wait on. A
//! submit queues its job, notifies an idle thread if one is not already promised to an earlier
//! job, and then decides whether the pool must grow (`grow`):
//!
//! - *spare* threads are those that will look at the queue soon without a job of their own:
//!   idle and not yet promised, or just started;
//! - the pool starts a thread (the caller starts it) while the jobs no thread is promised to
//!   outnumber `JOBS_PER_SPARE` per spare thread, up to the cap;
//! - the same decision is made again each time a thread takes a job (it is no longer spare),
//!   so a queue that a long job holds up grows a thread for the next one.
//!
//! With no spare thread, any waiting job starts one: jobs that block for long (64 sleeping
//! jobs) each get a thread, one after the other as each thread takes its job. With spare
//! threads around, short jobs (a file read) wait a moment for one of them instead of each
//! starting a thread of its own; a few threads that go from job to job without sleeping cost
//! far less than many that each sleep and are woken for every job (measured in
//! docs/performance.md, "The blocking pool").
//!
//! `notified` counts the idle threads promised to a job that have not woken yet. Without it,
//! two submits in a row would both count the same idle thread, and the second job would wait
//! for the first instead of getting a thread of its own.
//!
//! An idle thread waits at most its keep-alive, then leaves, but only after one more look at the
//! queue: a job submitted just as the keep-alive ends (promised to this very thread, which was
//! idle) is taken rather than walked away from. That look is the guard the first loom model
//! (`loom_tests.rs`) checks: without it a job can stay queued with no thread left to run it.
//! The second model checks the second look at growth when a thread takes a job: without it,
//! jobs that wait for each other can wait forever on too few threads.

use std::collections::VecDeque;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::loom::{Condvar, Mutex, MutexGuard};

/// How many jobs a spare thread is expected to take before the pool adds another.
const JOBS_PER_SPARE: usize = 4;

/// Jobs (`J`) waiting for a pool thread, and the threads' bookkeeping.
pub(crate) struct Queue<J> {
    state: Mutex<State<J>>,
    /// The pool's cap on threads.
    max_threads: usize,
    /// Idle threads wait here for a job, for shutdown, or for their keep-alive to run out.
    work: Condvar,
    /// Shutdown waits here for the last thread to leave.
    left: Condvar,
}

/// What the lock protects.
pub(crate) struct State<J> {
    /// Jobs no thread has taken yet, oldest first.
    jobs: VecDeque<J>,
    /// Threads started and not yet gone: running a job, idle, or about to be started by a
    /// caller that was told `Pushed::StartThread`.
    threads: usize,
    /// Threads waiting on `work`.
    idle: usize,
    /// Idle threads notified for a job that have not woken yet; never more than `idle`.
    notified: usize,
    /// Threads counted in `threads` that have not yet looked at the queue.
    starting: usize,
    /// No more jobs are taken; threads leave once their current job is done.
    shut_down: bool,
}

/// What `Queue::push` did with a job.
pub(crate) enum Pushed<J> {
    /// Queued; the caller must start this many threads (already counted in `threads`), and
    /// call `Queue::start_failed` for each one that cannot be started.
    Queued { start: usize },
    /// The pool is shut down: the job is handed back, for the caller to cancel.
    Refused(J),
}

/// How many threads and jobs the queue counts now.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) threads: usize,
    pub(crate) queued: usize,
}

impl<J> Queue<J> {
    /// A queue for a pool of at most `max_threads` threads (at least 1).
    pub(crate) fn new(max_threads: usize) -> Queue<J> {
        Queue {
            max_threads: max_threads.max(1),
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                starting: 0,
                shut_down: false,
            }),
            work: Condvar::new(),
            left: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // Every update under this lock is a few field writes and one queue operation, none of
        // which can panic halfway: a poisoned lock holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, notifies an idle thread for it if one is free, and says how many threads
    /// to start (see the module's notes).
    pub(crate) fn push(&self, job: J) -> Pushed<J> {
        let mut state = self.lock();
        if state.shut_down {
            return Pushed::Refused(job);
        }
        state.jobs.push_back(job);
        let notify = state.idle > state.notified;
        if notify {
            state.notified += 1;
        }
        let start = self.grow(&mut state);
        drop(state);
        if notify {
            self.work.notify_one();
        }
        Pushed::Queued { start }
    }

    /// How many threads to add for the jobs waiting now (counting them as started).
    fn grow(&self, state: &mut State<J>) -> usize {
        let mut start = 0;
        while state.threads < self.max_threads {
            let unpromised = state.jobs.len().saturating_sub(state.notified);
            let spare = state.idle - state.notified + state.starting;
            if unpromised <= spare * JOBS_PER_SPARE {
                break;
            }
            state.threads += 1;
            state.starting += 1;
            start += 1;
        }
        start
    }

    /// A thread `push` or `next` asked for could not be started. If no other thread is left to
    /// run the queued jobs, they are handed back to be cancelled; otherwise they wait for one.
    pub(crate) fn start_failed(&self) -> Vec<J> {
        let mut state = self.lock();
        state.threads -= 1;
        state.starting -= 1;
        if state.threads == 0 {
            state.jobs.drain(..).collect()
        } else {
            Vec::new()
        }
    }

    /// A new thread's first look at the queue: it is no longer starting.
    pub(crate) fn arrived(&self) {
        self.lock().starting -= 1;
    }

    /// A pool thread's loop: the next job to run, and how many threads to start now that this
    /// one is busy; or `None` when the thread must leave (the pool shut down, or it sat idle
    /// for `keep_alive`). A thread that gets `None` is no longer counted.
    pub(crate) fn next(&self, keep_alive: Duration) -> Option<(J, usize)> {
        self.next_with(|state| {
            let (state, waited) = self
                .work
                .wait_timeout(state, keep_alive)
                .unwrap_or_else(PoisonError::into_inner);
            (state, waited.timed_out())
        })
    }

    /// `next`, with the wait passed in: `wait` blocks on `work` and says whether it timed out.
    /// The loom model passes a wait whose timeout it controls.
    pub(crate) fn next_with<'a>(
        &'a self,
        mut wait: impl FnMut(MutexGuard<'a, State<J>>) -> (MutexGuard<'a, State<J>>, bool),
    ) -> Option<(J, usize)> {
        let mut state = self.lock();
        let mut timed_out = false;
        loop {
            // The queue first, always: a job that came while this thread waited (or timed out)
            // is taken, not walked away from.
            if let Some(job) = state.jobs.pop_front() {
                // This thread is busy now: the jobs behind may need another.
                let start = self.grow(&mut state);
                return Some((job, start));
            }
            if state.shut_down || timed_out {
                state.threads -= 1;
                if state.threads == 0 {
                    self.left.notify_all();
                }
                return None;
            }
            state.idle += 1;
            let (woken, timed) = wait(state);
            state = woken;
            state.idle -= 1;
            // Whichever idle thread wakes first takes the promise: the job is in the queue,
            // and the look at the queue above comes before any decision to leave.
            state.notified = state.notified.saturating_sub(1);
            timed_out = timed;
        }
    }

    /// Refuses new jobs, wakes every idle thread so that it leaves, and returns the jobs no
    /// thread had taken (for the caller to cancel).
    pub(crate) fn shut_down(&self) -> VecDeque<J> {
        let mut state = self.lock();
        state.shut_down = true;
        let jobs = std::mem::take(&mut state.jobs);
        drop(state);
        self.work.notify_all();
        jobs
    }

    /// Waits until every thread has left or `deadline` passed; returns how many are left.
    pub(crate) fn wait_for_threads(&self, deadline: Instant) -> usize {
        let mut state = self.lock();
        while state.threads > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .left
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.threads
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> Counts {
        let state = self.lock();
        Counts {
            threads: state.threads,
            queued: state.jobs.len(),
        }
    }
}

/// What the loom model needs to stand in for a keep-alive running out: loom's `wait_timeout`
/// never times out, so the model's "timer" thread sets a flag under the lock and wakes the
/// idle threads, and a waiting thread that sees the flag reports a timeout.
#[cfg(all(test, nbio_loom))]
impl<J> Queue<J> {
    /// The wait `next_with` gets in the model.
    pub(crate) fn model_wait<'a>(
        &'a self,
        state: MutexGuard<'a, State<J>>,
        expired: &loom::sync::atomic::AtomicBool,
    ) -> (MutexGuard<'a, State<J>>, bool) {
        use std::sync::atomic::Ordering::SeqCst;
        if expired.load(SeqCst) {
            return (state, true);
        }
        let state = self.work.wait(state).unwrap();
        (state, expired.load(SeqCst))
    }

    /// The keep-alive runs out, for every idle thread.
    pub(crate) fn model_expire(&self, expired: &loom::sync::atomic::AtomicBool) {
        let state = self.lock();
        expired.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(state);
        self.work.notify_all();
    }
}
