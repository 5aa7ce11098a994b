//! What the runtime records: who is running, what woke whom, and the events of the journal.

use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::reactor::Direction;
use crate::task::TaskId;

/// Who holds the thread: a task, the future passed to `block_on`, or nobody (the loop itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Who {
    Nobody,
    Main,
    Task(TaskId),
}

impl Who {
    /// As the watchdog's lane stores it: the task id, or 0 for anything else.
    pub(crate) fn raw(self) -> u64 {
        match self {
            Who::Task(id) => id.0,
            Who::Main | Who::Nobody => 0,
        }
    }
}

/// What made a task runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Not known (a wake outside of any poll, on the runtime's thread).
    Unknown,
    /// It woke itself while it ran (`yield_now` does this).
    Itself,
    /// Another task woke it.
    Task(TaskId),
    /// The future passed to `block_on` woke it.
    Main,
    /// A socket became ready.
    Io { fd: RawFd, dir: Direction },
    /// A timer reached its deadline.
    Timer,
    /// A waker was called on another thread.
    Thread,
}

impl Cause {
    /// The cause of wakes made while `who` is being polled.
    pub(crate) fn of(who: Who) -> Cause {
        match who {
            Who::Nobody => Cause::Unknown,
            Who::Main => Cause::Main,
            Who::Task(id) => Cause::Task(id),
        }
    }

    /// The cause as a three-bit code for the per-task word (`TaskObs`). Code 0, the word's
    /// initial value, means the task was never woken: it runs because it was spawned.
    fn code(self) -> u64 {
        match self {
            Cause::Itself => 1,
            Cause::Task(_) => 2,
            Cause::Main => 3,
            Cause::Io { .. } => 4,
            Cause::Timer => 5,
            Cause::Thread => 6,
            Cause::Unknown => 7,
        }
    }

    /// How a dump says the code.
    fn describe_code(code: u64) -> &'static str {
        match code {
            0 => "spawn",
            1 => "itself",
            2 => "another task",
            3 => "block_on's future",
            4 => "socket readiness",
            5 => "a timer",
            6 => "another thread",
            _ => "unknown",
        }
    }
}

/// How a poll ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollOutcome {
    /// Returned `Pending`.
    Pending,
    /// Returned `Pending` after waking itself: it goes straight back into the queue.
    Yielded,
    /// The future is gone: it returned or panicked.
    Done,
    /// The future was dropped because the task was aborted.
    Cancelled,
}

impl PollOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PollOutcome::Pending => "pending",
            PollOutcome::Yielded => "yielded",
            PollOutcome::Done => "done",
            PollOutcome::Cancelled => "cancelled",
        }
    }
}

/// Why an operation waits for readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StallReason {
    /// The syscall failed with `WouldBlock` (`EAGAIN`).
    WouldBlock,
    /// A write took `took` bytes, less than it was offered: the kernel's buffer is full, and
    /// the next write waits without first failing.
    ShortWrite { took: usize },
}

/// One entry of the journal.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    /// Since the runtime was built.
    pub(crate) at: Duration,
    /// The thread it happened on: the index of that thread's `Observer` (its track in a trace).
    pub(crate) track: u32,
    pub(crate) event: Event,
}

/// What happened.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    Spawn {
        task: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        by: Who,
    },
    /// A poll, recorded when it ends; `at` is when it started.
    Poll {
        who: Who,
        took: Duration,
        outcome: PollOutcome,
        /// What a `Pending` poll said it waits on (the wait word, `diagnose::WaitOn`); 0 if nothing.
        waits: u64,
    },
    Wake {
        task: TaskId,
        cause: Cause,
    },
    /// A look at the reactor, recorded after the wakes it caused; `at` is when it started.
    ReactorWait {
        took: Duration,
        events: usize,
        blocking: bool,
    },
    /// Tasks woken from other threads entered the run queue; `at` is when the move started.
    RemoteWakes {
        took: Duration,
        tasks: usize,
    },
    /// The polled task's socket operation stalled: it must wait for readiness on `fd`, with
    /// `remaining` bytes still to go when it knows. (The journal says "stall" so that "wait"
    /// keeps one meaning in the code: what a `Pending` says it waits on, the wait graph's.)
    Stall {
        who: Who,
        fd: RawFd,
        dir: Direction,
        remaining: Option<usize>,
        why: StallReason,
    },
    SlowPoll {
        who: Who,
        took: Duration,
    },
    /// The recording worker took `tasks` tasks from the queue of worker `victim`.
    Steal {
        victim: usize,
        tasks: usize,
    },
    /// `by` handed a closure to the blocking pool: job `job`, made at `location`.
    JobSpawn {
        job: TaskId,
        location: &'static Location<'static>,
        by: Who,
    },
    /// Job `job` ran on a pool thread (this record's track), recorded when it ends; `at` is
    /// when it started, after `queued_for` in the pool's queue. `awaiter` is the task its end
    /// woke, when a task awaited it.
    Job {
        job: TaskId,
        location: &'static Location<'static>,
        took: Duration,
        queued_for: Duration,
        outcome: PollOutcome,
        awaiter: Option<TaskId>,
    },
}

/// What the runtime remembers about each task for dumps, packed into one word that the task's
/// header keeps for the observer (`Header::notes`): when it was last polled, what last woke
/// it, and how many times it was polled.
///
/// Bits 0–27: the poll clock (in units of 2^20 ns, about a millisecond) at the last poll,
/// wrapping after 3 days; bits 28–31: the worker that last polled it (0: not a worker of a
/// multi-thread runtime, else its index + 1, 15 for any past the 14th); bits 32–34: the last
/// wake's cause; bits 35–63: polls, saturating at 2^29 − 1. Only the thread polling the task
/// writes it; dumps read it from anywhere.
pub(crate) struct TaskNotes<'a>(&'a AtomicU64);

const STAMP_MASK: u64 = (1 << 28) - 1;
const WORKER_SHIFT: u32 = 28;
const WORKER_MASK: u64 = 0b1111 << WORKER_SHIFT;
const CAUSE_SHIFT: u32 = 32;
const CAUSE_MASK: u64 = 0b111 << CAUSE_SHIFT;
const POLLS_SHIFT: u32 = 35;
const POLLS_MAX: u64 = (1 << 29) - 1;
/// The stamp and the worker: what a poll overwrites.
const LOW_HALF: u64 = (1 << 32) - 1;

/// Nanoseconds per unit of the poll stamp, as a shift.
pub(crate) const STAMP_UNIT_SHIFT: u32 = 20;

impl<'a> TaskNotes<'a> {
    /// The notes kept in `word`.
    pub(crate) fn of(word: &'a AtomicU64) -> TaskNotes<'a> {
        TaskNotes(word)
    }

    /// The low half of the notes of a poll starting at `stamp` on `thread` (the worker code
    /// described above): worked out once per turn, so that each poll stores it as it is.
    pub(crate) fn poll_mark(stamp: u32, thread: u8) -> u32 {
        ((u32::from(thread.min(15))) << WORKER_SHIFT) | (stamp & STAMP_MASK as u32)
    }

    /// A poll is starting, marked `mark` (see [`TaskNotes::poll_mark`]): one more poll, and
    /// the mark in the low half; the cause is kept.
    #[inline]
    pub(crate) fn record_poll(&self, mark: u32) {
        let word = self.0.load(Relaxed);
        let counted = if word >> POLLS_SHIFT < POLLS_MAX {
            word + (1 << POLLS_SHIFT)
        } else {
            word
        };
        self.0
            .store((counted & !LOW_HALF) | u64::from(mark), Relaxed);
    }

    /// The task was just woken by code that `who` was running (the common case: one task
    /// waking another, or the `block_on` future waking a task).
    #[inline]
    pub(crate) fn record_wake_by(&self, who: Who) {
        let code = match who {
            Who::Task(_) => 2,
            Who::Main => 3,
            Who::Nobody => 7,
        };
        let word = self.0.load(Relaxed);
        self.0
            .store((word & !CAUSE_MASK) | (code << CAUSE_SHIFT), Relaxed);
    }

    /// The task was just woken by `cause`.
    pub(crate) fn record_wake(&self, cause: Cause) {
        let word = self.0.load(Relaxed);
        self.0.store(
            (word & !CAUSE_MASK) | (cause.code() << CAUSE_SHIFT),
            Relaxed,
        );
    }

    /// What the notes say.
    pub(crate) fn read(&self) -> NotesRead {
        let word = self.0.load(Relaxed);
        let polls = word >> POLLS_SHIFT;
        let cause = (word & CAUSE_MASK) >> CAUSE_SHIFT;
        let worker = ((word & WORKER_MASK) >> WORKER_SHIFT) as usize;
        NotesRead {
            polls,
            stamp: (word & STAMP_MASK) as u32,
            worker: worker.checked_sub(1),
            last_woken_by: Cause::describe_code(cause),
        }
    }
}

/// A task's notes, read.
pub(crate) struct NotesRead {
    /// How many times it was polled (saturating).
    pub(crate) polls: u64,
    /// The coarse clock (in 2^20 ns units, 28 bits) when it was last polled.
    pub(crate) stamp: u32,
    /// The index of the worker that last polled it, on a multi-thread runtime.
    pub(crate) worker: Option<usize>,
    /// What last woke it.
    pub(crate) last_woken_by: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_counts_one_and_overwrites_the_mark_but_keeps_the_cause() {
        let word = AtomicU64::new(0);
        let notes = TaskNotes::of(&word);
        notes.record_poll(TaskNotes::poll_mark(77, 3));
        notes.record_wake(Cause::Timer);
        notes.record_poll(TaskNotes::poll_mark(78, 2));
        let read = notes.read();
        assert_eq!((read.polls, read.stamp, read.worker), (2, 78, Some(1)));
        assert_eq!(read.last_woken_by, "a timer");
    }

    #[test]
    fn the_poll_count_saturates() {
        let word = AtomicU64::new(POLLS_MAX << POLLS_SHIFT);
        TaskNotes::of(&word).record_poll(TaskNotes::poll_mark(STAMP_MASK as u32, 20));
        let read = TaskNotes::of(&word).read();
        assert_eq!(read.polls, POLLS_MAX);
        assert_eq!(read.stamp, STAMP_MASK as u32);
        assert_eq!(read.worker, Some(14), "a worker past the 14th is code 15");
    }
}
