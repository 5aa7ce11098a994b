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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tasks spawned so far.
    pub tasks_spawned: u64,
    /// Tasks whose future returned or panicked (aborted ones are not counted).
    pub tasks_completed: u64,
    /// Tasks whose future still exists.
    pub tasks_alive: u64,
    /// Times a task was polled (the `block_on` future itself is not a task).
    pub polls: u64,
    /// Times a waker put a task back in the run queue.
    pub wakes: u64,
    /// The part of `wakes` that came from other threads.
    pub remote_wakes: u64,
    /// Calls into the poller: blocking waits and non-blocking looks.
    pub reactor_waits: u64,
    /// Readiness events the poller delivered.
    pub io_events: u64,
    /// Reads and writes that got `WouldBlock` and waited for readiness before retrying.
    pub would_block: u64,
    /// Sockets (counted once per direction) that a task is waiting on right now.
    pub io_waiters: u64,
    /// Timers that reached their deadline.
    pub timers_fired: u64,
    /// Timers armed and not yet fired or cancelled.
    pub timers_pending: u64,
    /// The longest single poll so far (of a task or of the `block_on` future), measured with
    /// the clock that times every poll: on Linux the kernel's coarse clock, so in steps of the
    /// scheduler tick (1–4 ms; `0` means shorter than a tick).
    pub longest_poll: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tasks: {} spawned, {} completed, {} alive; polls: {}; wakes: {} ({} remote); \
             reactor: {} waits, {} io events, {} would-block, {} waiting; \
             timers: {} fired, {} pending; \
             longest poll: {:?}",
            self.tasks_spawned,
            self.tasks_completed,
            self.tasks_alive,
            self.polls,
            self.wakes,
            self.remote_wakes,
            self.reactor_waits,
            self.io_events,
            self.would_block,
            self.io_waiters,
            self.timers_fired,
            self.timers_pending,
            self.longest_poll,
        )
    }
}
