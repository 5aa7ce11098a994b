//! `Stats`: exact counters of one runtime.

use std::fmt;
use std::time::Duration;

/// Counters of one runtime, read with [`nbio::stats`](crate::stats) or
/// [`Runtime::stats`](crate::Runtime::stats). Each is exact: it is read from the scheduler
/// and the reactor themselves, not sampled.
///
/// ```
/// nbio::block_on(async {
///     nbio::time::sleep(std::time::Duration::from_millis(2)).await;
///     let stats = nbio::stats();
///     assert_eq!(stats.timers_fired, 1);
///     assert!(stats.reactor_waits >= 1);
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tasks spawned so far.
    pub tasks_spawned: u64,
    /// Tasks whose future returned or panicked (aborted ones are not counted).
    pub tasks_completed: u64,
    /// Tasks whose future still exists.
    pub tasks_alive: u64,
    /// Times a task was polled (the `block_on` future itself is not a task, and its polls are
    /// not counted).
    pub polls: u64,
    /// Times a waker made something runnable: put a task in a run queue, or made the future
    /// passed to `block_on` due for a poll. A wake of something already runnable (queued,
    /// already woken) changes nothing and is not counted.
    pub wakes: u64,
    /// The part of `wakes` that came from threads other than the runtime's: wakers called from
    /// another thread, for tasks and for the `block_on` future alike.
    pub remote_wakes: u64,
    /// The part of `wakes` that woke the future passed to `block_on` rather than a task (from
    /// this thread or another). `wakes - block_on_wakes` is what tasks got.
    pub block_on_wakes: u64,
    /// Calls into the poller: blocking waits and non-blocking looks.
    pub reactor_waits: u64,
    /// Readiness events the poller delivered.
    pub io_events: u64,
    /// Reads and writes that had to wait for readiness before going on: they got `WouldBlock`,
    /// or (a write) the kernel took only part of what was offered, which says its buffer is
    /// full without the failed syscall that would follow.
    pub would_block: u64,
    /// The part of `would_block` that were short writes: waits that cost no `EAGAIN`.
    pub short_writes: u64,
    /// Sockets (counted once per direction) that a task is waiting on right now.
    pub io_waiters: u64,
    /// Timers that reached their deadline.
    pub timers_fired: u64,
    /// Timers armed and not yet fired or cancelled.
    pub timers_pending: u64,
    /// The longest single poll so far (of a task or of the `block_on` future), as the watchdog
    /// measured it: a lower bound, from its first sight of the poll to the poll's end (the
    /// true length is at most one sampling period more). Only a poll seen at two samples is
    /// measured, so zero means "none lasted twice `poll_sample_period`", not "no time".
    pub longest_poll: Duration,
    /// How often the watchdog samples the threads that poll tasks while they are busy: once
    /// per slow-poll threshold (10 ms by default; every quarter of it while a poll is long),
    /// at least 1 ms. `None` when the warning is off, and then `longest_poll` is not measured.
    pub poll_sample_period: Option<Duration>,
    /// Threads of the blocking pool alive now, running a job or idle (an idle one leaves after
    /// `Builder::blocking_keep_alive`). Zero until the first `spawn_blocking`.
    pub blocking_threads: u64,
    /// Blocking jobs running right now.
    pub blocking_jobs_running: u64,
    /// Blocking jobs waiting in the pool's queue right now: every thread is busy and the pool
    /// is at `Builder::max_blocking_threads`.
    pub blocking_jobs_queued: u64,
    /// Blocking jobs whose closure ran (returned or panicked) so far.
    pub blocking_jobs_run: u64,
    /// The longest time a job waited in the queue before a thread took it.
    pub blocking_longest_queue_wait: Duration,
    /// One entry per worker thread of a multi-thread runtime (`Builder::worker_threads`), in
    /// order; empty on the current-thread runtime. The runtime-wide counters above include
    /// the workers'.
    pub workers: Vec<WorkerStats>,
}

/// What one worker of a multi-thread runtime did; see [`Stats::workers`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Tasks it polled.
    pub polls: u64,
    /// Tasks it took from other workers' queues.
    pub steals: u64,
    /// Wakes made on it that queued the woken task on its own queue.
    pub wakes: u64,
    /// Wakes made on it that had to hand the task to another thread (a task pinned elsewhere,
    /// or one of another runtime).
    pub cross_thread_wakes: u64,
    /// Times it went to sleep with nothing to do.
    pub parks: u64,
    /// Times another thread woke it (to take work, or for its pinned tasks).
    pub unparks: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tasks: {} spawned, {} completed, {} alive; polls: {}; \
             wakes: {} ({} remote, {} of block_on's future); \
             reactor: {} waits, {} io events, {} would-block ({} short writes), {} waiting; \
             timers: {} fired, {} pending; \
             longest poll: {}; \
             blocking pool: {} threads, {} running, {} queued, {} run, longest queue wait {:?}",
            self.tasks_spawned,
            self.tasks_completed,
            self.tasks_alive,
            self.polls,
            self.wakes,
            self.remote_wakes,
            self.block_on_wakes,
            self.reactor_waits,
            self.io_events,
            self.would_block,
            self.short_writes,
            self.io_waiters,
            self.timers_fired,
            self.timers_pending,
            match self.poll_sample_period {
                None => "not measured".to_string(),
                Some(period) if self.longest_poll.is_zero() => format!("under {period:?}"),
                Some(_) => format!("at least {:?}", self.longest_poll),
            },
            self.blocking_threads,
            self.blocking_jobs_running,
            self.blocking_jobs_queued,
            self.blocking_jobs_run,
            self.blocking_longest_queue_wait,
        )
    }
}
